"""Stochastic variational inference for Bayesian networks (Bayes by Backprop and friends)."""

from __future__ import annotations

import copy
import itertools
import math
import time
import warnings
from collections.abc import Callable

import pyro
import torch
from pyro.infer import SVI, Trace_ELBO
from tqdm.auto import tqdm

from .. import distributed as dist_tools
from ..guides import GUIDES, check_guide_name, guide_name, make_guide
from ..isolation import check_seed, local_rng, new_param_state, own_copies, param_scope
from ..nets import BayesianMLP
from ..posterior import Posterior, latent_site_shapes
from ..validation import check_positive_float, check_positive_int
from .collapse import MeanFieldCollapseWarning, collapse_message
from .common import check_obs_site, model_device, prepare, standardize_data
from .convergence import ConvergenceWarning, elbo_still_improving
from .flat import FlatModel
from .flat_guides import FlatGuide
from .laplace import (
    LaplaceWarning,
    fit_flat_laplace,
    floor_matters,
    floor_message,
    is_at_mode,
    user_laplace,
)
from .svi_streaming import check_loader_arguments, epoch_means, loader_batches

__all__ = [
    "fit_svi",
    "MeanFieldCollapseWarning",
    "LaplaceWarning",
    "DEFAULT_LR",
    "DEFAULT_LR_DECAY",
]

#: Newton steps that polish the MAP of a Laplace fit (each kept only if it helps).
LAPLACE_NEWTON_STEPS = 2
#: L-BFGS iterations on the full data between Adam and Newton in a Laplace fit of a
#: BayesianMLP held in memory (kept only if they raise the log joint).
LAPLACE_LBFGS_ITERATIONS = 2000


def _epochs(num_rows: int, batch_size: int | None, generator: torch.Generator, device, num_steps):
    """Yield ``num_steps`` row-index batches sweeping shuffled epochs (``None``: full batch)."""
    step = 0
    while step < num_steps:
        if batch_size is None or batch_size >= num_rows:
            yield None
            step += 1
            continue
        order = torch.randperm(num_rows, generator=generator).to(device)
        for start in range(0, num_rows, batch_size):
            if step == num_steps:
                return
            yield order[start : start + batch_size]
            step += 1


class FullDataFlatModel(FlatModel):
    """A :class:`FlatModel` over part of the data whose likelihood counts ``num_data`` rows.

    Used for a process's shard (distributed SVI) and for streamed batches: the log
    likelihood of the rows at hand is scaled by ``num_data / rows``, so the log
    joint (and the ELBO) estimates the full-data value. ``x``/``y`` may be swapped
    for the next streamed batch between steps.
    """

    def __init__(self, model: BayesianMLP, x: torch.Tensor, y: torch.Tensor, num_data: int):
        super().__init__(model, x, y)
        self.num_data = num_data

    def log_joint(self, z: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        x, y = (self.x, self.y) if index is None else (self.x[index], self.y[index])
        values = self.unflatten(z)
        log_likelihood = self.model.log_likelihood(values, x, y) * (self.num_data / x.shape[0])
        return self.log_prior(z, values) + log_likelihood + self.log_jacobian(z)


def _record(history: list[float], elbo: float, step: int, num_steps: int, lr: float, bar) -> None:
    """Append the ELBO of ``step``; stop with a clear error when it is not finite."""
    if not math.isfinite(elbo):
        raise FloatingPointError(
            f"the ELBO became {elbo} at step {step + 1} of {num_steps}; try a smaller "
            f"learning rate (lr={lr} now), standardized data, or a smaller init_scale"
        )
    history.append(elbo)
    if bar.disable:
        return
    if (step + 1) % 50 == 0 or step + 1 == num_steps:
        recent = history[-50:]
        bar.set_postfix(elbo=f"{sum(recent) / len(recent):.4g}")
    bar.update(1)


def _fit_flat(
    model,
    x,
    y,
    guide,
    batches,
    *,
    lr,
    lr_decay,
    num_steps,
    num_particles,
    init_scale,
    rank,
    bar,
    num_data=None,
    context=None,
    seed=0,
    history=None,
):
    """SVI on the flat parameter vector in plain torch (Bayes by Backprop for ``"normal"``).

    The objective is Pyro's ``Trace_ELBO`` for the same autoguide, with the entropy
    in closed form; returns the equivalent fitted Pyro guide and the ELBO history.
    ``batches`` yields row indices (or ``None`` for the full batch) into ``x``, or
    ``(x, y)`` batches of a stream. ``num_data`` (default ``len(x)``) is the data
    size the likelihood is scaled to; with a distributed ``context`` the gradients
    are averaged over processes every step. ``history`` (a list) receives the ELBOs.
    """
    # The inputs were validated once; distribution argument checks in the hot loop only cost.
    with pyro.validation_enabled(False):
        if num_data is None:
            flat = FlatModel(model, x, y)
        else:
            flat = FullDataFlatModel(model, x, y, num_data)
        with torch.no_grad(), pyro.poutine.block():
            prior_draw = pyro.poutine.trace(model).get_trace(*model.example_data())
            loc = flat.flatten({name: prior_draw.nodes[name]["value"] for name in flat.names})
        family = FlatGuide(flat, guide, loc, init_scale, rank)
        if context is not None:
            # equal start everywhere, then each process draws its own guide noise (the
            # global seed is set inside fit_svi's local_rng scope, which restores it)
            dist_tools.broadcast_parameters(family.params)
            torch.manual_seed(dist_tools.rank_seed(seed, context.rank))
        optimizer = torch.optim.Adam(family.params, lr=lr)
        decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, lr_decay ** (1.0 / num_steps))
        history = [] if history is None else history
        for step, batch in enumerate(batches):
            if isinstance(batch, tuple):  # a streamed (x, y) batch
                flat.x, flat.y = batch
                batch = None
            optimizer.zero_grad(set_to_none=True)
            elbo = family.elbo(num_particles, batch)
            (-elbo).backward()
            if context is not None:
                value = dist_tools.average_gradients(family.params, elbo)
            else:
                value = float(elbo.detach())
            optimizer.step()
            decay.step()
            _record(history, value, step, num_steps, lr, bar)
    return family.to_pyro(), history


#: The learning rate and its decay that `fit_svi(lr=None, lr_decay=None)` use.
DEFAULT_LR, DEFAULT_LR_DECAY = 1e-2, 0.1


def fit_svi(
    model: Callable,
    x=None,
    y=None,
    *,
    guide: str | Callable = "normal",
    num_steps: int = 3000,
    lr: float | None = None,
    lr_decay: float | None = None,
    optim=None,
    loss=None,
    num_particles: int = 1,
    batch_size: int | None = None,
    standardize: bool | str | None = None,
    obs_site: str = "obs",
    seed: int = 0,
    progress: bool = True,
    init_scale: float = 0.05,
    rank: int | None = None,
    check_collapse: bool = True,
    check_convergence: bool = True,
    dtype: torch.dtype | None = None,
    device=None,
    loader=None,
    num_data: int | None = None,
    num_epochs: int | None = None,
    distributed: bool | str = "auto",
) -> Posterior:
    """Fit a Bayesian network (or any Pyro model) with stochastic variational inference.

    Parameters
    ----------
    model : BayesianMLP or Pyro model
        ``model(x, y=None)``: a :class:`BayesianMLP`, a ``PyroModule`` or a function,
        with its observed site (``obs_site``) in plates of any nesting (subsampling
        plates included). The posterior keeps its own copy: ``model`` is not changed.
    x : array (N, D); y : array (N,) or (N, K)
        Training data in your own units (numpy or torch). Leave out when streaming
        from ``loader``.
    guide : str, AutoGuide or callable
        ``"normal"`` (AutoNormal, mean field: Bayes by Backprop), ``"lowrank"``,
        ``"mvn"`` (full-rank Gaussian), ``"delta"`` (MAP point estimate), ``"laplace"``
        (a Gaussian at the MAP with the inverse Hessian of the negative log joint as
        covariance, in unconstrained space: see Notes), or your own guide: any Pyro
        ``AutoGuide`` instance (e.g. ``AutoLowRankMultivariateNormal(model, rank=2)``;
        an ``AutoLaplaceApproximation`` is turned into its Laplace Gaussian as
        ``"laplace"`` is) or a guide function.
    num_steps : int
        Optimisation steps (one step = one minibatch).
    lr, lr_decay : float
        Adam's initial learning rate (default 0.01), decayed geometrically to
        ``lr * lr_decay`` (default 0.1) at the last step: the same schedule on the
        fast path and on Pyro's path. Not with ``optim``.
    optim : pyro.optim.PyroOptim, optional
        Your own Pyro optimiser (a ``PyroLRScheduler`` is stepped after every SVI step).
        Fits through ``pyro.infer.SVI``.
    loss : pyro.infer.ELBO, optional
        Your own ELBO (e.g. ``TraceMeanField_ELBO()``); fits through ``pyro.infer.SVI``.
        Set particles in it, not with ``num_particles``. Each fit uses its own copy, so
        one loss object can serve several fits (Pyro's compiled ELBOs would otherwise
        re-trace the first model they saw). For a user-written model,
        ``JitTrace_ELBO(ignore_jit_warnings=True)`` compiles the ELBO with
        ``torch.jit``: 2.2-2.7x faster per step on bench_user_models (but Pyro's
        ``JitTraceMeanField_ELBO`` was several times slower than ``TraceMeanField_ELBO``:
        ``bench/bench_user_models.py``).
    num_particles : int
        Monte Carlo samples per ELBO estimate (vectorized).
    batch_size : int, optional
        Minibatch size of a :class:`BayesianMLP` (default full batch; per process in
        a distributed run). A user-written model subsamples in its own plate.
    standardize : bool, ``"x"`` or None
        Fit on standardized data (statistics of the training data only); the
        posterior keeps the scaler and :func:`~pyro_bnn.predict` takes and returns
        your units. Default (``None``): a :class:`BayesianMLP`, whose priors are
        defined on standardized data, standardizes ``x`` and, for a continuous
        likelihood, ``y``; a user-written model keeps its own units. ``True`` on a
        user model: ``x``, and ``y`` when it is floating point; ``"x"``: inputs only.
    obs_site : str
        Name of the model's observed sample site (default ``"obs"``).
    seed : int
        Seeds initialisation, ELBO noise and batch order. The global torch, numpy,
        ``random`` and Pyro random streams are left as they were.
    progress : bool
        Show a progress bar with the running ELBO (and a line per epoch when streaming).
    init_scale : float
        Initial standard deviation of the Gaussian guides named by a string.
    rank : int, optional
        Rank of the ``"lowrank"`` guide (Pyro's default: about sqrt(#params)).
    check_collapse : bool
        Warn (:class:`MeanFieldCollapseWarning`) when the guide stayed at the prior
        (factorised guides ``"normal"``/``"lowrank"`` of a BayesianMLP with hidden layers).
    check_convergence : bool
        Warn (:class:`~pyro_bnn.ConvergenceWarning`) when the ELBO was still clearly
        improving at the last step, with what to change.
    dtype, device
        Where and in which precision to fit: default (``None``) the model's own
        (``device="auto"`` picks a GPU when there is one).
    loader, num_data, num_epochs
        Stream minibatches ``(x, y)`` from a ``DataLoader`` instead of ``x, y``
        (BayesianMLP only, used as given: no standardization; see
        :mod:`pyro_bnn.streaming`). ``num_data`` is the full data size (default
        ``len(loader.dataset)``); ``num_epochs`` replaces ``num_steps``.
    distributed : ``"auto"``, True or False
        Data-parallel fit over the processes of a ``torchrun`` launch
        (:mod:`pyro_bnn.distributed`): ``"auto"`` joins when ``WORLD_SIZE > 1``.

    Returns
    -------
    Posterior
        ``method="svi"``, owning the fitted guide, its parameters and the scaler;
        ``diagnostics["elbo"]`` is the ELBO estimate per step.

    Raises
    ------
    FloatingPointError
        When the ELBO becomes NaN or inf (the message names the step).

    Notes
    -----
    For a :class:`BayesianMLP` with a guide named by a string (and no ``optim`` or
    ``loss``) the optimisation runs on one flat parameter vector in plain torch
    (:mod:`pyro_bnn.inference.flat_guides`): Pyro's ``Trace_ELBO`` for the same
    autoguide, with the guide's entropy in closed form, without a Pyro trace per
    step. Everything else goes through ``pyro.infer.SVI``.

    ``guide="laplace"`` spends ``num_steps`` (with ``lr``, ``lr_decay``,
    ``batch_size``) on the MAP of the unconstrained latent vector, polishes it with
    up to two Newton steps, and takes the full-data Hessian there
    (:mod:`pyro_bnn.inference.laplace`; a ``BayesianMLP`` on the flat vector, a user
    model through Pyro's ``AutoLaplaceApproximation``). ``diagnostics["elbo"]`` is then
    the log joint per step and ``diagnostics["laplace"]`` has the Hessian's extreme
    eigenvalues and the Laplace log evidence. A Hessian that is not positive
    definite has its small eigenvalues floored, with a :class:`LaplaceWarning`. The
    cost is a ``dim x dim`` matrix, as for ``"mvn"``. Exact for a Gaussian posterior.

    Example
    -------
    >>> post = fit_svi(model, x, y, guide="normal", num_steps=3000)  # doctest: +SKIP
    >>> guide = AutoLowRankMultivariateNormal(my_model, rank=2)  # doctest: +SKIP
    >>> post = fit_svi(my_model, x, y, guide=guide, loss=TraceMeanField_ELBO())  # doctest: +SKIP
    """
    named_guide = isinstance(guide, str)
    lr, lr_decay = _check_settings(
        guide, num_steps, num_particles, batch_size, seed, obs_site, optim, loss, lr, lr_decay
    )
    streaming = loader is not None
    num_steps, num_data = _check_data_source(
        model, x, y, loader, batch_size, num_data, num_epochs, num_steps, standardize
    )
    is_mlp = isinstance(model, BayesianMLP)
    laplace = _is_laplace(guide)
    if laplace and (loader is not None or distributed is True):
        raise ValueError(
            "guide='laplace' needs the data in memory in one process (its Hessian is over "
            "all rows): pass x, y without loader=, and distributed=False"
        )
    if batch_size is not None and not is_mlp:
        raise ValueError(
            "batch_size needs a BayesianMLP; a user-written model subsamples in its own plate "
            "(pyro.plate(..., subsample_size=...))"
        )
    context = dist_tools.setup(False if laplace else distributed, device)
    if context is not None:
        device = context.device
        if not is_mlp:
            raise ValueError(
                "distributed SVI needs a BayesianMLP (a user-written model cannot be sharded "
                "with its plate kept at the full size); run it in one process "
                "(distributed=False)"
            )
    model, guide = own_copies(model, guide)  # the posterior owns its model and guide
    scaler = training_data = None
    if streaming:
        if dtype is not None and dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        model.to(device=model_device(model, device), dtype=dtype or model._like.dtype)
    else:
        model, x, y = prepare(model, x, y, dtype=dtype, device=device)
        training_data = (x, y)  # in your units, in memory only: LOO and to_inference_data
        scaler, x, y = standardize_data(model, x, y, standardize)
    user_trace = None if is_mlp else check_obs_site(model, x, y, obs_site)
    if context is not None and not streaming:
        num_data = x.shape[0]
        x, y = dist_tools.shard(x, y, context.rank, context.world_size)
    main = context is None or context.is_main
    name = guide_name(guide)
    progress_bar = tqdm(
        total=num_steps, disable=not (progress and main), desc=f"SVI ({name})", leave=False
    )
    stream_state = {"epoch_ends": [], "first_rows": [], "history": [], "seed": seed}
    start = time.perf_counter()
    flat_path = is_mlp and named_guide and optim is None and loss is None
    param_state = new_param_state()
    try:
        with local_rng(seed), param_scope(param_state):
            if streaming:
                batches = loader_batches(loader, model, num_steps, stream_state, progress_bar)
            else:
                generator = torch.Generator().manual_seed(seed)
                batches = _epochs(x.shape[0], batch_size, generator, x.device, num_steps)
            laplace_result = None
            if flat_path and laplace:
                fitted_guide, elbo_history, laplace_result = fit_flat_laplace(
                    model, x, y, batches, lr=lr, lr_decay=lr_decay, num_steps=num_steps,
                    bar=progress_bar, newton_steps=LAPLACE_NEWTON_STEPS,
                    polish_iterations=0 if streaming else LAPLACE_LBFGS_ITERATIONS,
                )  # fmt: skip
            elif flat_path:
                if streaming:  # the first batch stands in for x, y until the stream takes over
                    first = next(batches)
                    batches = itertools.chain([first], batches)
                    x, y = first
                fitted_guide, elbo_history = _fit_flat(
                    model,
                    x,
                    y,
                    guide,
                    batches,
                    lr=lr,
                    lr_decay=lr_decay,
                    num_steps=num_steps,
                    num_particles=num_particles,
                    init_scale=init_scale,
                    rank=rank,
                    bar=progress_bar,
                    num_data=num_data,
                    context=context,
                    seed=seed,
                    history=stream_state["history"],
                )
            else:
                if laplace and named_guide:
                    from pyro.infer.autoguide import AutoLaplaceApproximation, init_to_sample

                    guide = AutoLaplaceApproximation(model, init_loc_fn=init_to_sample)
                elif named_guide:
                    guide = make_guide(model, guide, init_scale=init_scale, rank=rank)
                fitted_guide, elbo_history = _fit_pyro(
                    model, x, y, guide, batches, optim, loss, lr, lr_decay, num_steps,
                    num_particles, progress_bar,
                )  # fmt: skip
                if laplace:
                    fitted_guide, laplace_result = user_laplace(
                        model, fitted_guide, (x, y), LAPLACE_NEWTON_STEPS
                    )
    finally:
        progress_bar.close()
    seconds = time.perf_counter() - start
    if laplace:
        name = "laplace"

    posterior = _svi_posterior(
        model, fitted_guide, name, elbo_history, param_state=None if flat_path else param_state,
        scaler=scaler, obs_site=obs_site, user_trace=user_trace,
        example=None if is_mlp else (x[:2], y[:2]),
        settings={"num_steps": num_steps, "lr": lr, "lr_decay": lr_decay,
                  "batch_size": batch_size, "num_particles": num_particles,
                  "fit_seconds": seconds, "seed": seed},
        context=context, streaming=streaming, num_data=num_data,
        epoch_ends=stream_state["epoch_ends"],
    )  # fmt: skip
    posterior.training_data = training_data
    if laplace_result is not None:
        posterior.diagnostics["laplace"] = dict(laplace_result.info)
        if floor_matters(laplace_result.info):
            dim = laplace_result.loc.shape[0]
            _warn(posterior, floor_message(laplace_result.info, dim), LaplaceWarning)
    if main and check_convergence:
        shown_lr = None if optim is not None else lr  # your optimiser's rate is yours
        message = elbo_still_improving(elbo_history, num_steps=num_steps, lr=shown_lr, guide=name)
        if laplace_result is not None and is_at_mode(laplace_result.info):
            message = None  # the Newton-polished point is a mode, whatever Adam's history says
        _warn(posterior, message)
    if check_collapse and main and name in ("normal", "lowrank") and is_mlp:
        if streaming:  # rows of the first epoch stand in for the data
            x = torch.cat([b[0] for b in stream_state["first_rows"]])
            y = torch.cat([b[1] for b in stream_state["first_rows"]])
        _warn(posterior, collapse_message(posterior, x, y), MeanFieldCollapseWarning)
    return posterior


def _svi_posterior(
    model, fitted_guide, name, elbo_history, *, param_state, scaler, obs_site, user_trace,
    example, settings, context, streaming, num_data, epoch_ends,
) -> Posterior:  # fmt: skip
    """The :class:`Posterior` of an SVI fit, with its diagnostics."""
    diagnostics = {"elbo": elbo_history, **settings, "warnings": []}
    if context is not None:
        diagnostics["world_size"] = context.world_size
        diagnostics["backend"] = context.backend
    if streaming:
        diagnostics["num_data"] = num_data
        diagnostics["epoch_elbo"] = epoch_means(elbo_history, epoch_ends)
    rank_used = getattr(fitted_guide, "rank", None) if name == "lowrank" else None
    is_mlp = isinstance(model, BayesianMLP)
    return Posterior(
        model,
        "svi",
        guide=fitted_guide,
        guide_type=name,
        guide_options={"rank": rank_used} if rank_used else None,
        diagnostics=diagnostics,
        param_state=param_state,
        scaler=scaler,
        example_data=None if is_mlp else example,
        latent_shapes=None if is_mlp else latent_site_shapes(user_trace),
        obs_site=obs_site,
    )


def _is_laplace(guide) -> bool:
    """Whether ``guide`` asks for the Laplace approximation (the name or Pyro's autoguide)."""
    from pyro.infer.autoguide import AutoLaplaceApproximation

    return (
        guide == "laplace"
        if isinstance(guide, str)
        else isinstance(guide, AutoLaplaceApproximation)
    )


def _check_settings(
    guide, num_steps, num_particles, batch_size, seed, obs_site, optim, loss, lr, lr_decay
) -> tuple[float, float]:
    """Validate fit_svi's settings; returns ``(lr, lr_decay)`` with the defaults filled in."""
    if isinstance(guide, str):
        check_guide_name(guide)
    elif not callable(guide):
        raise TypeError(
            f"guide must be one of {', '.join(GUIDES)}, a Pyro AutoGuide instance or a guide "
            f"function, got {type(guide).__name__}"
        )
    check_positive_int(num_steps, "num_steps")
    check_positive_int(num_particles, "num_particles")
    check_positive_int(batch_size, "batch_size", allow_none=True)
    check_seed(seed)
    if not isinstance(obs_site, str) or not obs_site:
        raise ValueError(f"obs_site must be a site name, got {obs_site!r}")
    _check_optim_and_loss(optim, loss, lr, lr_decay, num_particles, isinstance(guide, str))
    lr = check_positive_float(DEFAULT_LR if lr is None else lr, "lr")
    lr_decay = DEFAULT_LR_DECAY if lr_decay is None else lr_decay
    if not (isinstance(lr_decay, int | float) and 0 < lr_decay <= 1):
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay!r}")
    return lr, lr_decay


def _check_data_source(
    model, x, y, loader, batch_size, num_data, num_epochs, num_steps, standardize
):
    """In-memory ``x, y`` or a streamed ``loader``; returns ``(num_steps, num_data)``."""
    if loader is not None:
        num_steps, num_data = check_loader_arguments(
            model, x, y, loader, batch_size, num_data, num_epochs, num_steps
        )
        if standardize:
            raise ValueError(
                "standardize=True needs x, y; a streamed loader is used as given "
                "(standardize its batches yourself, or pass x, y)"
            )
    elif x is None or y is None:
        raise TypeError("fit_svi needs training data: x and y, or loader=DataLoader(...)")
    elif num_data is not None or num_epochs is not None:
        raise ValueError("num_data and num_epochs go with loader=...; for x, y use num_steps")
    return num_steps, num_data


def _warn(posterior: Posterior, message: str | None, category=ConvergenceWarning) -> None:
    """Record ``message`` in the posterior's diagnostics and issue it as a warning."""
    if message:
        posterior.diagnostics["warnings"].append(message)
        warnings.warn(message, category, stacklevel=3)


def _check_optim_and_loss(optim, loss, lr, lr_decay, num_particles, named_guide) -> None:
    """Options that do not apply together are errors, not silently ignored."""
    from pyro.infer import ELBO
    from pyro.optim import PyroOptim

    if optim is not None:
        if not isinstance(optim, PyroOptim):
            raise TypeError(
                f"optim must be a pyro.optim optimiser (e.g. pyro.optim.Adam({{'lr': 0.01}})), "
                f"got {type(optim).__name__}"
            )
        if lr is not None or lr_decay is not None:
            raise ValueError("lr and lr_decay set the default optimiser; with optim=... leave them")
    if loss is not None:
        if not isinstance(loss, ELBO):
            raise TypeError(
                f"loss must be a pyro.infer ELBO (e.g. TraceMeanField_ELBO()), got "
                f"{type(loss).__name__}"
            )
        if num_particles != 1:
            raise ValueError(
                "with loss=... set the particles in the loss: Trace_ELBO(num_particles=8)"
            )


#: Where Pyro's compiled ELBOs (``JitTrace_ELBO``, ``JitTraceMeanField_ELBO``,
#: ``JitTraceGraph_ELBO``, ``JitTraceEnum_ELBO``) keep the function they compiled.
_COMPILED_LOSS_ATTRIBUTES = (
    "_loss_and_surrogate_loss",
    "_jit_loss_and_surrogate_loss",
    "_differentiable_loss",
)


def _own_loss(loss):
    """A copy of ``loss`` for one fit, without anything a previous fit compiled into it.

    Pyro's compiled ELBOs keep a closure over the first model and guide they were called
    with and trace *those* again for any other model: a loss object passed to a second
    ``fit_svi`` would silently fit the first model. The copy also leaves the user's
    object untouched.
    """
    own = copy.copy(loss)
    for name in _COMPILED_LOSS_ATTRIBUTES:
        own.__dict__.pop(name, None)
    return own


def _fit_pyro(
    model, x, y, guide, batches, optim, loss, lr, lr_decay, num_steps, num_particles, bar
):
    """SVI through ``pyro.infer.SVI``; returns the fitted guide and the ELBO history.

    The default optimiser is Adam with the learning rate decayed by
    ``lr_decay ** (1 / num_steps)`` per step, as on the flat path.
    """
    if optim is None:
        optim = pyro.optim.ExponentialLR(
            {
                "optimizer": torch.optim.Adam,
                "optim_args": {"lr": lr},
                "gamma": lr_decay ** (1.0 / num_steps),
            }
        )
    if loss is None:
        loss = Trace_ELBO(num_particles=num_particles, vectorize_particles=num_particles > 1)
    svi = SVI(model, guide, optim, loss=_own_loss(loss))
    history: list[float] = []
    scheduled = isinstance(optim, pyro.optim.lr_scheduler.PyroLRScheduler)
    for step, index in enumerate(batches):
        value = -svi.step(x, y, **({} if index is None else {"subsample": index}))
        if scheduled:
            optim.step()
        _record(history, value, step, num_steps, lr, bar)
    return guide, history
