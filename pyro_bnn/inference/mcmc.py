"""NUTS for Bayesian networks: the gold standard the variational fits are checked against."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable

import pyro
import torch
from pyro.infer import MCMC, NUTS

from ..nets import BayesianMLP
from ..posterior import Posterior
from .analytic import AnalyticGradient
from .chains import run_chains
from .common import check_positive_int, prepare, seed_everything
from .diagnostics import mcmc_summary
from .flat import FlatModel
from .nuts import sample_nuts

__all__ = ["fit_nuts", "ConvergenceWarning"]


class ConvergenceWarning(UserWarning):
    """MCMC diagnostics suggest the chains have not converged (R-hat, divergences)."""


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
    with torch.no_grad(), pyro.poutine.block():
        pyro.set_rng_seed(seed)
        z0 = flat.flatten(_latent_values(pyro.poutine.trace(flat.model).get_trace(flat.x[:1])))
    if init == "map":
        if analytic is None:
            return flat.map_estimate(z0)

        def value_and_grad(z):
            value, grad = analytic(analytic.pack(z))
            return value, analytic.unpack(grad)

        z0 = flat.map_estimate(z0, value_and_grad_fn=value_and_grad)
    return z0


def _latent_values(trace) -> dict[str, torch.Tensor]:
    """Values of the unobserved sample sites of a trace."""
    return {
        name: node["value"]
        for name, node in trace.nodes.items()
        if node["type"] == "sample" and not node["is_observed"]
    }


def _pyro_flat_chain(
    flat, z0, num_samples, warmup_steps, target_accept_prob, max_tree_depth, progress
):
    """One chain of Pyro's NUTS on the flat potential."""
    potential = _CountingPotential(flat.potential)
    kernel = NUTS(
        potential_fn=potential,
        target_accept_prob=target_accept_prob,
        max_tree_depth=max_tree_depth,
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
    return draws, _pyro_chain_info(mcmc, kernel, math.log2(max(potential.calls / steps, 1.0)))


def _pyro_model_chain(
    model, x, y, num_samples, warmup_steps, target_accept_prob, max_tree_depth, progress
):
    """One chain of Pyro's NUTS on a user-written model (Pyro traces it every step)."""
    kernel = NUTS(model, target_accept_prob=target_accept_prob, max_tree_depth=max_tree_depth)
    mcmc = MCMC(
        kernel, num_samples=num_samples, warmup_steps=warmup_steps, disable_progbar=not progress
    )
    mcmc.run(x, y)
    return mcmc.get_samples(), _pyro_chain_info(mcmc, kernel, None)


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


def _lean_flat_chain(
    flat,
    z0,
    analytic,
    seed,
    num_samples,
    warmup_steps,
    target_accept_prob,
    max_tree_depth,
    progress,
):
    """One chain of pyro_bnn's lean NUTS on the flat log joint (``analytic`` gradient or None)."""
    with pyro.validation_enabled(False):
        result = sample_nuts(
            None if analytic else flat.log_joint,
            analytic.pack(z0) if analytic else z0,
            num_samples,
            warmup_steps,
            seed=seed,
            target_accept_prob=target_accept_prob,
            max_tree_depth=max_tree_depth,
            progress=progress,
            value_and_grad_fn=analytic,
        )
    samples = analytic.unpack(result.samples) if analytic else result.samples
    with torch.no_grad():
        draws = flat.unflatten(samples)
    return draws, {
        "sampler": "lean",
        "gradient": "analytic" if analytic else "autograd",
        "divergences": result.num_divergences,
        "warmup_divergences": result.num_warmup_divergences,
        "step_size": result.step_size,
        "mean_tree_depth": float(result.tree_depths.double().mean()),
        "acceptance_rate": result.accept_prob,
        "gradient_evaluations": result.num_grad_evals,
    }


def _flat_chain(chain, chain_seed, model_config, x, y, init, sampler, settings) -> dict:
    """One NUTS chain of a BayesianMLP (top-level and picklable for worker processes)."""
    model = BayesianMLP.from_config(model_config).to(device=x.device, dtype=x.dtype)
    flat = FlatModel(model, x, y)
    # tanh/ReLU nets with Normal priors and a Gaussian, Poisson, Bernoulli or Categorical
    # likelihood: hand-written gradient (AnalyticGradient.supports says when)
    analytic = None
    if sampler != "pyro" and AnalyticGradient.supports(flat):
        analytic = AnalyticGradient(flat)
    z0 = _initial_z(flat, init, chain_seed, analytic)
    if sampler == "pyro":
        draws, info = _pyro_flat_chain(flat, z0, **settings)
    else:
        draws, info = _lean_flat_chain(flat, z0, analytic, seed=chain_seed, **settings)
    return {"draws": draws, "info": info}


def _rhat_sites(model, summary: dict) -> dict:
    """Sites whose R-hat is meaningful for the convergence warning.

    Hidden units of a network can swap places between chains (and within a long
    chain) without changing the function, so the R-hat of individual weights
    stays high on a perfectly good fit. For a network with hidden layers the
    warning looks at the sites that do not depend on the units' order: the noise,
    hierarchical scales and the output bias (all sites stay in ``diagnostics``).
    """
    if not isinstance(model, BayesianMLP) or not model.hidden:
        return summary
    output_bias = f"layers.{len(model.hidden)}.bias"
    invariant = {
        name: value
        for name, value in summary.items()
        if not name.startswith("layers.") or name.endswith(".scale") or name == output_bias
    }
    return invariant or summary


def fit_nuts(
    model: Callable,
    x,
    y,
    num_samples: int = 500,
    warmup_steps: int = 500,
    num_chains: int = 1,
    seed: int = 0,
    progress: bool = True,
    target_accept_prob: float = 0.8,
    max_tree_depth: int = 10,
    init: str | dict = "map",
    sampler: str = "auto",
    parallel_chains: bool | str = False,
    dtype: torch.dtype | None = None,
    device=None,
) -> Posterior:
    """Sample the posterior of a Bayesian network with NUTS.

    For a :class:`~pyro_bnn.BayesianMLP` the sampler runs on one flat parameter
    vector (no Pyro tracing per leapfrog step); tanh/ReLU networks with fixed Normal
    priors and a Gaussian, Poisson, Bernoulli or Categorical likelihood on the CPU get a
    hand-written gradient (``diagnostics["chains"][i]["gradient"]`` says which).
    Any other Pyro model is sampled with Pyro's NUTS through its generic model path.

    Parameters
    ----------
    model : BayesianMLP or Pyro model
    x : array (N, D); y : array (N,) or (N, K)
    num_samples, warmup_steps : int
        Draws kept and adaptation steps, per chain.
    num_chains : int
        Independent chains, seeded ``seed, seed + 1, ...``; draws are merged.
    target_accept_prob, max_tree_depth
        NUTS settings (raise ``target_accept_prob`` when there are divergences).
    init : ``"map"``, ``"prior"`` or dict
        Start each chain at a MAP fit from a prior draw (default, shortens
        warm-up), at a prior draw, or at given site values (BayesianMLP only).
    sampler : ``"auto"``, ``"lean"`` or ``"pyro"``
        For a BayesianMLP: ``"lean"`` (the default under ``"auto"``) runs
        :func:`~pyro_bnn.inference.nuts.sample_nuts`, a multinomial NUTS with Stan's
        warm-up on the flat vector; ``"pyro"`` runs Pyro's ``NUTS(potential_fn=...)``
        on the same potential. User-written models always use Pyro's NUTS.
    parallel_chains : bool or ``"auto"``
        Run the chains of a BayesianMLP in separate processes
        (:func:`~pyro_bnn.inference.chains.run_chains`; ``"auto"``: when there are
        several chains and cores). A chain that fails is reported in
        ``diagnostics["failed_chains"]`` and a warning; the others' draws are kept.

    Returns
    -------
    Posterior
        ``method="nuts"``; ``diagnostics`` holds per-site R-hat/ESS, divergences,
        step size, mean tree depth and fit time. Warns with
        :class:`ConvergenceWarning` when R-hat > 1.01 (for a network: of the sites that
        do not depend on the order of hidden units) or there were divergences.

    Example
    -------
    >>> post = fit_nuts(model, x, y, num_samples=500, warmup_steps=500)  # doctest: +SKIP
    """
    check_positive_int(num_samples, "num_samples")
    check_positive_int(num_chains, "num_chains")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be a non-negative integer, got {warmup_steps!r}")
    if not 0 < target_accept_prob < 1:
        raise ValueError(f"target_accept_prob must be in (0, 1), got {target_accept_prob!r}")
    if sampler not in ("auto", "lean", "pyro"):
        raise ValueError(f"sampler must be 'auto', 'lean' or 'pyro', got {sampler!r}")
    if not (isinstance(init, dict) or init in ("map", "prior")):
        raise ValueError(f"init must be 'map', 'prior' or a dict of site values, got {init!r}")
    seed_everything(seed)
    model, x, y = prepare(model, x, y, dtype=dtype, device=device)

    settings = dict(
        num_samples=num_samples,
        warmup_steps=warmup_steps,
        target_accept_prob=target_accept_prob,
        max_tree_depth=max_tree_depth,
        progress=progress and parallel_chains is not True,
    )
    start = time.perf_counter()
    if not isinstance(
        model, BayesianMLP
    ):  # a user-written model: Pyro's NUTS, chains one after another
        results, failures = [], []
        for chain in range(num_chains):
            seed_everything(seed + chain)
            draws, info = _pyro_model_chain(model, x, y, **settings)
            results.append({"draws": draws, "info": info})
    else:
        results, failures = run_chains(
            _flat_chain,
            num_chains,
            seed,
            parallel=parallel_chains if num_chains > 1 else False,
            args=(model.to_config(), x, y, init, sampler, settings),
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
    divergences = sum(c["divergences"] for c in chain_info)
    posterior = Posterior(
        model,
        "nuts",
        samples=samples,
        num_chains=num_chains,
        diagnostics={
            "sites": summary,
            "chains": chain_info,
            "divergences": divergences,
            "num_samples": num_samples,
            "warmup_steps": warmup_steps,
            "failed_chains": [str(failure) for failure in failures],
            "fit_seconds": seconds,
            "seed": seed,
            "warnings": [],
        },
    )
    problems = [f"chain failed and was left out: {failure}" for failure in failures]
    rated = [
        (name, site["r_hat_max"])
        for name, site in _rhat_sites(model, summary).items()
        if site["r_hat_max"] is not None  # unknown with fewer than 4 draws per chain
    ]
    worst = max(rated, key=lambda item: item[1], default=None)
    if worst is not None and worst[1] > 1.01:
        problems.append(
            f"R-hat of {worst[0]!r} is {worst[1]:.3f} (> 1.01): the chains have "
            "not mixed; run longer (warmup_steps, num_samples) or more chains"
        )
    if divergences:
        problems.append(
            f"{divergences} divergent transition(s): the sampler missed parts of the posterior; "
            "raise target_accept_prob (e.g. 0.95) or use a tighter prior"
        )
    for message in problems:
        posterior.diagnostics["warnings"].append(message)
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    return posterior
