"""NUTS for Bayesian networks: the gold standard the variational fits are checked against."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable

import pyro
import torch
from pyro.infer import MCMC, NUTS

from ..isolation import check_seed, local_rng, new_param_state, own_copies, param_scope
from ..nets import BayesianMLP
from ..posterior import Posterior, latent_site_shapes
from ..validation import check_fraction, check_positive_int
from .analytic import AnalyticGradient
from .chains import run_chains
from .common import check_obs_site, prepare, standardize_data
from .convergence import ConvergenceWarning
from .diagnostics import e_bfmi, mcmc_summary
from .flat import FlatModel
from .map import map_estimate
from .mcmc_checks import WeightSymmetryNote, convergence_problems, function_space_diagnostics
from .native import NativeBNN, native_problem
from .nuts import sample_nuts

__all__ = ["fit_nuts", "ConvergenceWarning", "WeightSymmetryNote", "SAMPLE_STATS"]

# Per-draw sampler statistics a NUTS posterior keeps (ArviZ's sample_stats names)
SAMPLE_STATS = (
    "diverging", "tree_depth", "n_steps", "energy", "step_size", "lp", "acceptance_rate",
)  # fmt: skip


class _RecordingNUTS(NUTS):
    """Pyro's NUTS that also keeps per-draw statistics after warm-up.

    Pyro only reports divergences and the mean acceptance rate. This records, per draw:
    divergence, leapfrog steps (``tree_depth`` is ``floor(log2(n_steps + 1))``, exact for
    trajectories of whole subtrees), the acceptance statistic (from Pyro's running mean),
    the log density at the draw and the Hamiltonian at the start of the transition.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.draw_stats = {name: [] for name in SAMPLE_STATS}
        self._leapfrogs = 0
        self._momentum = None

    def _sample_r(self, name):
        r, r_unscaled = super()._sample_r(name)
        self._momentum = r_unscaled
        return r, r_unscaled

    def _build_basetree(self, *args, **kwargs):
        self._leapfrogs += 1
        return super()._build_basetree(*args, **kwargs)

    def sample(self, params):
        self._leapfrogs, self._momentum = 0, None
        divergences, mean_accept = len(self._divergences), self._mean_accept_prob
        potential_before = self._fetch_from_cache()[1]
        result = super().sample(params)
        if self._t <= self._warmup_steps:
            return result
        draw = self._t - self._warmup_steps
        potential = self._fetch_from_cache()[1]
        energy = math.nan
        if potential_before is not None and self._momentum is not None:
            energy = float(potential_before) + float(self._kinetic_energy(self._momentum))
        stats = self.draw_stats
        stats["diverging"].append(len(self._divergences) > divergences)
        stats["n_steps"].append(self._leapfrogs)
        stats["tree_depth"].append(int(math.log2(self._leapfrogs + 1)))
        stats["acceptance_rate"].append(draw * self._mean_accept_prob - (draw - 1) * mean_accept)
        stats["lp"].append(math.nan if potential is None else -float(potential))
        stats["energy"].append(energy)
        stats["step_size"].append(float(self.step_size))
        return result

    def stats_tensors(self) -> dict[str, torch.Tensor]:
        """The recorded statistics as ``(num_samples,)`` tensors."""
        dtypes = {"diverging": torch.bool, "n_steps": torch.long, "tree_depth": torch.long}
        return {
            name: torch.tensor(values, dtype=dtypes.get(name, torch.float64))
            for name, values in self.draw_stats.items()
        }


class _CountingPotential:
    """Wraps a potential function and counts its calls (to report NUTS tree depth)."""

    def __init__(self, potential):
        self.potential, self.calls = potential, 0

    def __call__(self, params):
        self.calls += 1
        return self.potential(params)


def _initial_z(flat: FlatModel, init, seed: int, analytic: AnalyticGradient | None) -> torch.Tensor:
    if isinstance(init, dict):
        return flat.flatten(init)
    with torch.no_grad(), pyro.poutine.block(), local_rng(seed):
        z0 = flat.flatten(_latent_values(pyro.poutine.trace(flat.model).get_trace(flat.x[:1])))
    if init == "map":
        if analytic is None:
            return map_estimate(flat, z0)[0]

        z0 = map_estimate(flat, z0, value_and_grad_fn=analytic.in_flat_layout)[0]
    return z0


def _latent_values(trace) -> dict[str, torch.Tensor]:
    """Values of the unobserved sample sites of a trace."""
    return {
        name: node["value"]
        for name, node in trace.nodes.items()
        if node["type"] == "sample" and not node["is_observed"]
    }


def _pyro_flat_chain(
    flat,
    z0,
    num_samples,
    warmup_steps,
    target_accept_prob,
    max_tree_depth,
    dense_mass,
    progress,
):
    """One chain of Pyro's NUTS on the flat potential."""
    potential = _CountingPotential(flat.potential)
    kernel = _RecordingNUTS(
        potential_fn=potential,
        target_accept_prob=target_accept_prob,
        max_tree_depth=max_tree_depth,
        full_mass=dense_mass,
    )
    mcmc = MCMC(
        kernel,
        num_samples=num_samples,
        warmup_steps=warmup_steps,
        initial_params={"z": z0},
        disable_progbar=not progress,
    )
    with pyro.validation_enabled(False):
        mcmc.run()
    with torch.no_grad():
        draws = flat.unflatten(mcmc.get_samples()["z"])
    steps = num_samples + warmup_steps
    info = _pyro_chain_info(mcmc, kernel, math.log2(max(potential.calls / steps, 1.0)))
    return draws, info, kernel.stats_tensors()


def _model_chain(chain, chain_seed, model, x, y, param_state, init_values, settings) -> dict:
    """One NUTS chain on a user-written model: the lean sampler on Pyro's potential
    (``settings["sampler"] == "lean"``) or Pyro's NUTS."""
    from pyro.infer.autoguide import init_to_sample, init_to_value

    init_strategy = init_to_sample if init_values is None else init_to_value(values=init_values)
    settings = dict(settings)
    if settings.pop("sampler") == "lean":
        return _lean_model_chain(model, x, y, param_state, init_strategy, chain_seed, settings)
    kernel = _RecordingNUTS(
        model,
        target_accept_prob=settings["target_accept_prob"],
        max_tree_depth=settings["max_tree_depth"],
        full_mass=settings["dense_mass"],
        init_strategy=init_strategy,
        jit_compile=settings["jit_compile"],
        ignore_jit_warnings=True,
    )
    mcmc = MCMC(
        kernel,
        num_samples=settings["num_samples"],
        warmup_steps=settings["warmup_steps"],
        disable_progbar=not settings["progress"],
    )
    with param_scope(param_state), warnings.catch_warnings():
        # Pyro's jit_compile calls torch.jit.trace, which recent torch marks deprecated.
        warnings.filterwarnings("ignore", "`torch.jit.trace` is deprecated", DeprecationWarning)
        mcmc.run(x, y)
    stats = kernel.stats_tensors()
    return {
        "draws": mcmc.get_samples(),
        "info": _pyro_chain_info(mcmc, kernel, float(stats["tree_depth"].double().mean())),
        "stats": stats,
    }


def _lean_model_chain(model, x, y, param_state, init_strategy, seed, settings) -> dict:
    """The lean sampler on a user-written model's potential (Pyro's ``initialize_model``).

    The latent sites, each mapped to the real line as Pyro's NUTS does, are laid end to end
    in one vector; each leapfrog step evaluates Pyro's potential energy (the model traced,
    or compiled once with ``jit_compile``) and its gradient by autograd, and the tree
    building, warm-up and statistics are those a BayesianMLP gets.
    """
    from pyro.infer.mcmc.util import initialize_model

    jit_compile = settings.pop("jit_compile")
    with param_scope(param_state), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.trace` is deprecated", DeprecationWarning)
        initial, potential_fn, transforms, _ = initialize_model(
            model, (x, y), jit_compile=jit_compile, skip_jit_warnings=True,
            init_strategy=init_strategy,
        )  # fmt: skip
        names = list(initial)
        shapes = [initial[name].shape for name in names]
        sizes = [initial[name].numel() for name in names]

        def unflatten(z: torch.Tensor) -> dict[str, torch.Tensor]:
            parts = z.split(sizes, dim=-1)
            return {
                name: part.reshape(z.shape[:-1] + shape)
                for name, part, shape in zip(names, parts, shapes, strict=True)
            }

        def log_density(z: torch.Tensor) -> torch.Tensor:
            return -potential_fn(unflatten(z))

        z0 = torch.cat([initial[name].detach().reshape(-1) for name in names])
        samples, info, stats = _lean_chain(log_density, z0, None, seed, **settings)
    with torch.no_grad():
        draws = {name: transforms[name].inv(value) for name, value in unflatten(samples).items()}
    return {"draws": draws, "info": info, "stats": stats}


def _map_init(model, x, y, seed: int) -> dict:
    """Site values of a short MAP fit (AutoDelta) of a user-written model."""
    from .svi import fit_svi

    point = fit_svi(
        model, x, y, guide="delta", num_steps=500, seed=seed, progress=False,
        standardize=False, check_convergence=False, check_collapse=False, distributed=False,
    )  # fmt: skip
    return {name: value[0] for name, value in point.sample(1).items()}


def _pyro_chain_info(mcmc, kernel, mean_tree_depth) -> dict:
    diagnostics = mcmc.diagnostics()
    acceptance = diagnostics.get("acceptance rate", {0: float("nan")})
    return {
        "sampler": "pyro",
        "divergences": sum(len(v) for v in diagnostics.get("divergences", {}).values()),
        "step_size": float(kernel.step_size),
        "mean_tree_depth": mean_tree_depth,
        "acceptance_rate": float(next(iter(acceptance.values()))),
    }


def _lean_chain(
    log_density_fn,
    z0,
    value_and_grad_fn,
    seed,
    num_samples,
    warmup_steps,
    target_accept_prob,
    max_tree_depth,
    dense_mass,
    progress,
):
    """One chain of pyro_bnn's lean NUTS on a flat vector -> (samples, info, stats)."""
    assert not dense_mass, "the lean sampler adapts a diagonal mass matrix"
    with pyro.validation_enabled(False):
        result = sample_nuts(
            log_density_fn,
            z0,
            num_samples,
            warmup_steps,
            seed=seed,
            target_accept_prob=target_accept_prob,
            max_tree_depth=max_tree_depth,
            progress=progress,
            value_and_grad_fn=value_and_grad_fn,
        )
    info = {
        "sampler": "lean",
        "gradient": "analytic" if value_and_grad_fn else "autograd",
        "divergences": result.num_divergences,
        "warmup_divergences": result.num_warmup_divergences,
        "step_size": result.step_size,
        "mean_tree_depth": float(result.tree_depths.double().mean()),
        "acceptance_rate": result.accept_prob,
        "gradient_evaluations": result.num_grad_evals,
    }
    stats = {
        "diverging": result.divergent,
        "tree_depth": result.tree_depths,
        "n_steps": result.num_steps,
        "energy": result.energy,
        "step_size": torch.full((num_samples,), float(result.step_size), dtype=torch.float64),
        "lp": result.log_density,
        "acceptance_rate": result.accept_probs,
    }
    return result.samples, info, stats


def _lean_flat_chain(flat, z0, analytic, seed, **settings):
    """One lean NUTS chain on a BayesianMLP's flat log joint (``analytic`` gradient: an
    AnalyticGradient, a NativeBNN, or None for autograd)."""
    if analytic is None:
        samples, info, stats = _lean_chain(flat.log_joint, z0, None, seed, **settings)
    else:
        samples, info, stats = _lean_chain(None, analytic.pack(z0), analytic, seed, **settings)
        samples = analytic.unpack(samples)
        if isinstance(analytic, NativeBNN):
            info["gradient"] = "compiled"
    with torch.no_grad():
        return flat.unflatten(samples), info, stats


def _flat_chain(
    chain, chain_seed, model_config, x, y, init, sampler, settings, compiled=False
) -> dict:
    """One NUTS chain of a BayesianMLP (top-level and picklable for worker processes);
    ``compiled``: the whole transition in compiled code (fit_nuts checked it can)."""
    model = BayesianMLP.from_config(model_config).to(device=x.device, dtype=x.dtype)
    flat = FlatModel(model, x, y)
    # tanh/ReLU nets with Normal priors and a Gaussian, heteroscedastic, Poisson, Bernoulli
    # or Categorical likelihood: hand-written gradient (AnalyticGradient.supports says when)
    analytic = None
    if sampler != "pyro" and AnalyticGradient.supports(flat):
        analytic = AnalyticGradient(flat)
        if compiled:
            analytic = NativeBNN(analytic)
    z0 = _initial_z(flat, init, chain_seed, analytic)
    if sampler == "pyro":
        draws, info, stats = _pyro_flat_chain(flat, z0, **settings)
    else:
        draws, info, stats = _lean_flat_chain(flat, z0, analytic, seed=chain_seed, **settings)
    return {"draws": draws, "info": info, "stats": stats}


def _check_nuts_settings(
    num_samples, num_chains, max_tree_depth, seed, warmup_steps,
    target_accept_prob, sampler, init, dense_mass,
) -> str:  # fmt: skip
    """Validate fit_nuts's settings; returns the sampler to use."""
    check_positive_int(num_samples, "num_samples")
    check_positive_int(num_chains, "num_chains")
    check_positive_int(max_tree_depth, "max_tree_depth")
    check_seed(seed)
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be a non-negative integer, got {warmup_steps!r}")
    check_fraction(target_accept_prob, "target_accept_prob", allow_zero=False)
    if sampler not in ("auto", "lean", "pyro"):
        raise ValueError(f"sampler must be 'auto', 'lean' or 'pyro', got {sampler!r}")
    if not (isinstance(init, dict) or init in ("map", "prior")):
        raise ValueError(f"init must be 'map', 'prior' or a dict of site values, got {init!r}")
    if dense_mass and sampler == "lean":
        raise ValueError("dense_mass=True needs sampler='pyro' (the lean sampler is diagonal)")
    return "pyro" if dense_mass else sampler


def _compiled_sampler_runs(model: BayesianMLP, x, y) -> bool:
    """Whether ``jit_compile=True`` can compile this network's NUTS here (built now, once
    per machine, so worker processes only load it); warns why not."""
    flat = FlatModel(model, x, y)
    problem = native_problem(AnalyticGradient(flat) if AnalyticGradient.supports(flat) else None)
    if problem is not None:
        warnings.warn(
            f"fit_nuts(jit_compile=True): the compiled sampler cannot run this network "
            f"({problem}); sampling with the default sampler instead",
            RuntimeWarning,
            stacklevel=3,
        )
    return problem is None


def fit_nuts(
    model: Callable,
    x,
    y,
    *,
    num_samples: int = 500,
    warmup_steps: int = 500,
    num_chains: int = 1,
    target_accept_prob: float = 0.8,
    max_tree_depth: int = 10,
    dense_mass: bool = False,
    jit_compile: bool = False,
    init: str | dict = "map",
    sampler: str = "auto",
    parallel_chains: bool | str = False,
    standardize: bool | str | None = None,
    obs_site: str = "obs",
    seed: int = 0,
    progress: bool = True,
    dtype: torch.dtype | None = None,
    device=None,
) -> Posterior:
    """Sample the posterior of a Bayesian network (or any Pyro model) with NUTS.

    For a :class:`~pyro_bnn.BayesianMLP` the sampler runs on one flat parameter
    vector (no Pyro tracing per leapfrog step); tanh/ReLU networks with fixed Normal
    priors and a Gaussian, Poisson, Bernoulli or Categorical likelihood on the CPU get a
    hand-written gradient (``diagnostics["chains"][i]["gradient"]`` says which).
    Any other Pyro model (a function or ``PyroModule``, ``model(x, y=None)``) is
    sampled by the same lean sampler on Pyro's potential energy of the model (its latent
    sites mapped to the real line as Pyro's ``NUTS`` maps them, the gradient by
    autograd), or with Pyro's ``NUTS`` itself (``sampler="pyro"``, or ``dense_mass``).

    Parameters
    ----------
    model : BayesianMLP or Pyro model
        The posterior keeps its own copy: ``model`` is not changed.
    x : array (N, D); y : array (N,) or (N, K)
        Training data in your own units.
    num_samples, warmup_steps : int
        Draws kept and adaptation steps, per chain.
    num_chains : int
        Independent chains, seeded ``seed, seed + 1, ...``; draws are merged.
    target_accept_prob, max_tree_depth
        NUTS settings (raise ``target_accept_prob`` when there are divergences).
    dense_mass : bool
        Adapt a dense mass matrix (Pyro's ``full_mass``); this runs Pyro's sampler
        (``sampler="pyro"``): the lean one adapts a diagonal one.
    jit_compile : bool
        For a BayesianMLP with the hand-written gradient (tanh/ReLU, Normal priors, the
        likelihoods above, on the CPU): run each NUTS transition in compiled code
        (:class:`~pyro_bnn.inference.native.NativeBNN`; built with the system C compiler
        once per machine, cached in ``~/.cache/pyro_bnn``), faster per leapfrog step
        (``bench/bench_nuts.py``; the README's Speed section). Its draws are as exact but not
        the same as the default sampler's; without a C compiler it warns and samples as
        by default. For a user-written model: compile its potential with ``torch.jit``
        once (as Pyro's ``NUTS(jit_compile=True)``), faster on
        ``bench/bench_user_models.py``; the model must run the same tensor operations
        every call (no Python branches on values).
    init : ``"map"``, ``"prior"`` or dict
        Start each chain at a MAP fit from a prior draw (default, shortens
        warm-up), at a prior draw, or at given site values.
    sampler : ``"auto"``, ``"lean"`` or ``"pyro"``
        ``"lean"`` (the default under ``"auto"``) runs
        :func:`~pyro_bnn.inference.nuts.sample_nuts`, a multinomial NUTS with Stan's
        warm-up on one flat vector (a BayesianMLP's weights, or a user model's latent
        sites in unconstrained space); ``"pyro"`` runs Pyro's NUTS on the same
        posterior (``NUTS(potential_fn=...)`` for a BayesianMLP, ``NUTS(model)``
        otherwise).
    parallel_chains : bool or ``"auto"``
        Run the chains in separate processes
        (:func:`~pyro_bnn.inference.chains.run_chains`; ``"auto"``: when there are
        several chains and cores and worker processes can get the model: it pickles,
        and its class is not defined in a notebook). A chain that fails is
        reported in ``diagnostics["failed_chains"]`` and a warning.
    standardize : bool, ``"x"`` or None
        As in :func:`~pyro_bnn.fit_svi`: by default a BayesianMLP is fitted on
        standardized data and predicts in your units; a user model keeps its units.
    obs_site : str
        Name of a user-written model's observed site (default ``"obs"``).
    seed : int
        Seeds the chains; the global random streams are left as they were.
    progress : bool
        Show a progress bar per chain.
    dtype, device
        Where and in which precision to sample: default (``None``) the model's own
        (``device="auto"`` picks a GPU when there is one).

    Returns
    -------
    Posterior
        ``method="nuts"``; ``diagnostics`` holds per-site rank-normalised R-hat and
        bulk/tail ESS (``"sites"``), the same for the predictions at 10 training inputs
        (``"function_space"``, see :func:`function_space_diagnostics`), E-BFMI per
        chain, divergences, step size, mean tree depth and fit time;
        ``posterior.sample_stats`` the per-draw sampler statistics. Warns with
        :class:`ConvergenceWarning` when R-hat > 1.01 (of the predictions, and for a
        network of the sites that do not depend on the order of hidden units), bulk or
        tail ESS < 100 per chain, E-BFMI < 0.3 or there were divergences; with
        :class:`WeightSymmetryNote` when only the weights' R-hat is high (the
        network's symmetries, not a problem).

    Example
    -------
    >>> post = fit_nuts(model, x, y, num_samples=500, warmup_steps=500)  # doctest: +SKIP
    >>> post = fit_nuts(my_pyro_model, x, y, num_chains=2, dense_mass=True)  # doctest: +SKIP
    """
    sampler = _check_nuts_settings(
        num_samples, num_chains, max_tree_depth, seed, warmup_steps,
        target_accept_prob, sampler, init, dense_mass,
    )  # fmt: skip
    is_mlp = isinstance(model, BayesianMLP)
    model, _ = own_copies(model)  # the posterior owns its model
    model, x, y = prepare(model, x, y, dtype=dtype, device=device)
    training_data = (x, y)  # in your units: kept in memory for to_inference_data / compare
    scaler, x, y = standardize_data(model, x, y, standardize)
    settings = dict(
        num_samples=num_samples,
        warmup_steps=warmup_steps,
        target_accept_prob=target_accept_prob,
        max_tree_depth=max_tree_depth,
        dense_mass=bool(dense_mass),
        progress=progress and parallel_chains is not True,
    )
    parallel = parallel_chains if num_chains > 1 else False
    param_state = new_param_state()
    start = time.perf_counter()
    with local_rng(seed):
        if is_mlp:
            # (inside local_rng: checking builds the flat model, which draws from the prior)
            compiled = bool(jit_compile) and sampler != "pyro"
            compiled = compiled and _compiled_sampler_runs(model, x, y)
            results, failures = run_chains(
                _flat_chain,
                num_chains,
                seed,
                parallel=parallel,
                args=(model.to_config(), x, y, init, sampler, settings, compiled),
            )
        else:
            trace = check_obs_site(model, x, y, obs_site)
            if not latent_site_shapes(trace):
                raise ValueError(
                    f"fit_nuts: the model has no latent sample site (every pyro.sample but "
                    f"'{obs_site}' is observed or absent), so there is nothing to sample"
                )
            init_values = {"map": lambda: _map_init(model, x, y, seed), "prior": lambda: None}
            init_values = init if isinstance(init, dict) else init_values[init]()
            user_sampler = "pyro" if sampler == "pyro" else "lean"
            user_settings = dict(settings, jit_compile=bool(jit_compile), sampler=user_sampler)
            results, failures = run_chains(
                _model_chain,
                num_chains,
                seed,
                parallel=parallel,
                args=(model, x, y, param_state, init_values, user_settings),
            )
    seconds = time.perf_counter() - start
    if not results:
        raise RuntimeError(
            "every NUTS chain failed: " + "; ".join(str(failure) for failure in failures)
        )
    per_chain = [{k: v.detach() for k, v in r["draws"].items()} for r in results]
    chain_info = [r["info"] for r in results]
    num_chains = len(per_chain)

    samples = {k: torch.cat([c[k] for c in per_chain]) for k in per_chain[0]}
    grouped = {k: torch.stack([c[k] for c in per_chain]) for k in per_chain[0]}
    summary = mcmc_summary(grouped)
    sample_stats = {k: torch.stack([r["stats"][k] for r in results]) for k in SAMPLE_STATS}
    energy_fraction = [float(v) for v in e_bfmi(sample_stats["energy"])] if num_samples > 1 else []
    divergences = sum(c["divergences"] for c in chain_info)
    if not is_mlp:  # the model's state after the chains: its pyro.params, if any
        with param_scope(param_state):
            check_obs_site(model, x, y, obs_site)
    posterior = Posterior(
        model,
        "nuts",
        samples=samples,
        num_chains=num_chains,
        param_state=param_state,
        scaler=scaler,
        example_data=None if is_mlp else (x[:2], y[:2]),
        latent_shapes=None if is_mlp else latent_site_shapes(trace),
        obs_site=obs_site,
        sample_stats=sample_stats,
        diagnostics={
            "sites": summary,
            "chains": chain_info,
            "divergences": divergences,
            "e_bfmi": energy_fraction,
            "num_samples": num_samples,
            "warmup_steps": warmup_steps,
            "failed_chains": [str(failure) for failure in failures],
            "fit_seconds": seconds,
            "seed": seed,
            "warnings": [],
            "notes": [],
        },
    )
    posterior.training_data = training_data
    posterior.diagnostics["function_space"] = function_space_diagnostics(posterior, *training_data)
    problems = [f"chain failed and was left out: {failure}" for failure in failures]
    problems += convergence_problems(posterior, model, num_chains)
    for message in problems:
        posterior.diagnostics["warnings"].append(message)
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    for message in posterior.diagnostics["notes"]:
        warnings.warn(message, WeightSymmetryNote, stacklevel=2)
    return posterior
