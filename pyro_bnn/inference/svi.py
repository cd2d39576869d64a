"""Stochastic variational inference for Bayesian networks (Bayes by Backprop and friends)."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable

import pyro
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import ClippedAdam
from tqdm.auto import tqdm

from ..nets import BayesianMLP
from ..posterior import GUIDES, Posterior, make_guide
from .common import check_positive_int, prepare, seed_everything

__all__ = ["fit_svi", "MeanFieldCollapseWarning"]


class MeanFieldCollapseWarning(UserWarning):
    """The variational posterior stayed at the prior: the fit ignores the data."""


def _batches(num_rows: int, batch_size: int | None, generator: torch.Generator, device):
    """Yield index tensors covering a shuffled epoch (or ``None`` for full batch)."""
    if batch_size is None or batch_size >= num_rows:
        yield None
        return
    order = torch.randperm(num_rows, generator=generator).to(device)
    for start in range(0, num_rows, batch_size):
        yield order[start : start + batch_size]


def fit_svi(
    model: Callable,
    x,
    y,
    guide: str = "normal",
    num_steps: int = 3000,
    lr: float = 1e-2,
    batch_size: int | None = None,
    num_particles: int = 1,
    seed: int = 0,
    progress: bool = True,
    lr_decay: float = 0.1,
    init_scale: float = 0.05,
    rank: int | None = None,
    dtype: torch.dtype | None = None,
    device=None,
    check_collapse: bool = True,
) -> Posterior:
    """Fit a Bayesian network with stochastic variational inference.

    Parameters
    ----------
    model : BayesianMLP or Pyro model
        ``model(x, y=None)`` with an ``"obs"`` site in ``pyro.plate("data", N)``.
        A :class:`BayesianMLP` also supports ``batch_size``.
    x : array (N, D); y : array (N,) or (N, K)
        Training data (numpy or torch).
    guide : str
        ``"normal"`` (AutoNormal, mean field: Bayes by Backprop), ``"lowrank"``,
        ``"mvn"`` (full-rank Gaussian) or ``"delta"`` (MAP point estimate).
    num_steps : int
        Optimisation steps (one step = one minibatch).
    lr : float
        Initial Adam learning rate; it decays geometrically to ``lr * lr_decay``.
    batch_size : int, optional
        Minibatch size (default full batch). Batches sweep shuffled epochs; the
        likelihood is scaled by ``N / batch`` so the ELBO stays unbiased.
    num_particles : int
        Monte Carlo samples per ELBO estimate (vectorized when > 1).
    seed : int
        Seeds initialisation, ELBO noise and batch order.
    progress : bool
        Show a progress bar with the running ELBO.
    init_scale : float
        Initial standard deviation of the Gaussian guides.
    rank : int, optional
        Rank of the ``"lowrank"`` guide (Pyro's default: about sqrt(#params)).
    dtype, device
        Where to fit (``device="auto"`` picks a GPU when there is one).
    check_collapse : bool
        Warn (:class:`MeanFieldCollapseWarning`) when the guide stayed at the prior.

    Returns
    -------
    Posterior
        ``method="svi"``, holding the fitted guide; ``diagnostics["elbo"]`` is the
        ELBO per step (the negative loss).

    Raises
    ------
    FloatingPointError
        When the loss becomes NaN or inf (the message names the step).

    Example
    -------
    >>> post = fit_svi(model, x, y, guide="normal", num_steps=3000, lr=1e-2)  # doctest: +SKIP
    """
    if guide not in GUIDES:
        raise ValueError(f"unknown guide {guide!r}; valid: {', '.join(GUIDES)}")
    check_positive_int(num_steps, "num_steps")
    check_positive_int(num_particles, "num_particles")
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    if not (isinstance(lr, int | float) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not (0 < lr_decay <= 1):
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay!r}")
    seed_everything(seed)
    model, x, y = prepare(model, x, y, dtype=dtype, device=device)
    if batch_size is not None and not isinstance(model, BayesianMLP):
        raise ValueError(
            "batch_size needs a BayesianMLP; a user-written model subsamples in its own plate"
        )
    pyro.clear_param_store()
    auto_guide = make_guide(model, guide, init_scale=init_scale, rank=rank)
    optimizer = ClippedAdam({"lr": lr, "lrd": lr_decay ** (1.0 / num_steps), "clip_norm": 10.0})
    loss = Trace_ELBO(
        num_particles=num_particles,
        vectorize_particles=num_particles > 1,
        max_plate_nesting=1,
    )
    svi = SVI(model, auto_guide, optimizer, loss=loss)
    generator = torch.Generator().manual_seed(seed)

    elbo_history: list[float] = []
    start = time.perf_counter()
    bar = tqdm(total=num_steps, disable=not progress, desc=f"SVI ({guide})", leave=False)
    step = 0
    try:
        while step < num_steps:
            for index in _batches(x.shape[0], batch_size, generator, x.device):
                kwargs = {} if index is None else {"subsample": index}
                value = svi.step(x, y, **kwargs)
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"the ELBO became {value} at step {step + 1} of {num_steps}; "
                        f"try a smaller learning rate (lr={lr} now), standardized data, "
                        "or a smaller init_scale"
                    )
                elbo_history.append(-value)
                step += 1
                if progress and (step % 50 == 0 or step == num_steps):
                    bar.set_postfix(elbo=f"{sum(elbo_history[-50:]) / len(elbo_history[-50:]):.4g}")
                bar.update(1)
                if step >= num_steps:
                    break
    finally:
        bar.close()
    seconds = time.perf_counter() - start

    posterior = Posterior(
        model,
        "svi",
        guide=auto_guide,
        guide_type=guide,
        diagnostics={
            "elbo": elbo_history,
            "num_steps": num_steps,
            "lr": lr,
            "batch_size": batch_size,
            "num_particles": num_particles,
            "fit_seconds": seconds,
            "seed": seed,
            "warnings": [],
        },
    )
    if check_collapse and guide in ("normal", "lowrank") and isinstance(model, BayesianMLP):
        message = collapse_message(posterior)
        if message:
            posterior.diagnostics["warnings"].append(message)
            warnings.warn(message, MeanFieldCollapseWarning, stacklevel=2)
    return posterior


def collapse_message(posterior: Posterior) -> str | None:
    """Plain-words warning when a Gaussian guide on hidden weights stayed at the prior.

    The symptom of mean-field collapse (Coker et al. 2022) is a guide whose
    weight distributions are the prior's: the KL from the guide to the prior of
    the hidden-layer weights is then a tiny fraction of a nat per weight.
    Returns ``None`` when the fit looks healthy.
    """
    from .diagnostics import kl_per_weight

    model = posterior.model
    if not model.hidden:
        return None
    kl = kl_per_weight(posterior)
    if kl is None or kl >= 0.05:
        return None
    return (
        f"mean-field collapse: the variational posterior of the hidden weights is almost the "
        f"prior (KL {kl:.3f} nats per weight), so the network barely uses the data and the "
        f"noise/uncertainty it reports is inflated. Remedies: fewer hidden units "
        f"(hidden={model.hidden}), guide='lowrank', or fit_nuts(...)."
    )
