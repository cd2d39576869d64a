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

from ..likelihoods import Gaussian
from ..nets import BayesianMLP
from ..posterior import GUIDES, Posterior, make_guide
from .common import check_positive_int, prepare, seed_everything
from .diagnostics import kl_per_weight
from .flat import FlatModel
from .flat_guides import FlatGuide

__all__ = ["fit_svi", "MeanFieldCollapseWarning"]


class MeanFieldCollapseWarning(UserWarning):
    """The variational posterior stayed at the prior: the fit ignores the data."""


# Guides fitted on the flat parameter vector in plain torch (no Pyro trace per step).
FLAT_GUIDES = ("normal", "lowrank", "mvn", "delta")


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
    model, x, y, guide, batches, lr, lr_decay, num_steps, num_particles, init_scale, rank, bar
):
    """SVI on the flat parameter vector in plain torch (Bayes by Backprop for ``"normal"``).

    The objective is Pyro's ``Trace_ELBO`` for the same autoguide, with the entropy
    in closed form; returns the equivalent fitted Pyro guide and the ELBO history.
    """
    # The inputs were validated once; distribution argument checks in the hot loop only cost.
    with pyro.validation_enabled(False):
        flat = FlatModel(model, x, y)
        with torch.no_grad(), pyro.poutine.block():
            prior_draw = pyro.poutine.trace(model).get_trace(*model.example_data())
            loc = flat.flatten({name: prior_draw.nodes[name]["value"] for name in flat.names})
        family = FlatGuide(flat, guide, loc, init_scale, rank)
        optimizer = torch.optim.Adam(family.params, lr=lr)
        decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, lr_decay ** (1.0 / num_steps))
        history: list[float] = []
        for step, index in enumerate(batches):
            optimizer.zero_grad(set_to_none=True)
            elbo = family.elbo(num_particles, index)
            (-elbo).backward()
            optimizer.step()
            decay.step()
            _record(history, float(elbo.detach()), step, num_steps, lr, bar)
    return family.to_pyro(), history


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
        Monte Carlo samples per ELBO estimate (vectorized).
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
        ``method="svi"``, holding the fitted Pyro autoguide; ``diagnostics["elbo"]``
        is the ELBO estimate per step.

    Raises
    ------
    FloatingPointError
        When the ELBO becomes NaN or inf (the message names the step).

    Notes
    -----
    For a :class:`BayesianMLP` the optimisation runs on one flat parameter vector in
    plain torch (:mod:`pyro_bnn.inference.flat_guides`): the same objective as Pyro's
    ``Trace_ELBO`` with the guide's entropy in closed form, without a Pyro trace per
    step. Other models go through ``pyro.infer.SVI``.

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
    generator = torch.Generator().manual_seed(seed)
    batches = _epochs(x.shape[0], batch_size, generator, x.device, num_steps)
    progress_bar = tqdm(total=num_steps, disable=not progress, desc=f"SVI ({guide})", leave=False)
    start = time.perf_counter()
    try:
        if isinstance(model, BayesianMLP) and guide in FLAT_GUIDES:
            auto_guide, elbo_history = _fit_flat(
                model,
                x,
                y,
                guide,
                batches,
                lr,
                lr_decay,
                num_steps,
                num_particles,
                init_scale,
                rank,
                progress_bar,
            )
        else:
            auto_guide = make_guide(model, guide, init_scale=init_scale, rank=rank)
            optimizer = ClippedAdam(
                {"lr": lr, "lrd": lr_decay ** (1.0 / num_steps), "clip_norm": 10.0}
            )
            loss = Trace_ELBO(
                num_particles=num_particles,
                vectorize_particles=num_particles > 1,
                max_plate_nesting=1,
            )
            svi = SVI(model, auto_guide, optimizer, loss=loss)
            elbo_history = []
            for step, index in enumerate(batches):
                value = -svi.step(x, y, **({} if index is None else {"subsample": index}))
                _record(elbo_history, value, step, num_steps, lr, progress_bar)
    finally:
        progress_bar.close()
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
        message = collapse_message(posterior, x, y)
        if message:
            posterior.diagnostics["warnings"].append(message)
            warnings.warn(message, MeanFieldCollapseWarning, stacklevel=2)
    return posterior


def collapse_message(posterior: Posterior, x: torch.Tensor, y: torch.Tensor) -> str | None:
    """Plain-words warning when a Gaussian guide on a hidden-layer network ignores the data.

    Symptoms of mean-field collapse (Coker et al. 2022): with a learned Gaussian noise,
    the noise is far (> 2x) above the training residual of a MAP fit of the same model;
    otherwise, the hidden weights' posterior is the prior (KL < 0.1 nat per weight).
    Returns ``None`` when the fit looks healthy.
    """
    model = posterior.model
    if not model.hidden:
        return None
    remedies = (
        f"Remedies: fewer hidden units (hidden={model.hidden}), guide='lowrank', or fit_nuts(...)."
    )
    likelihood = model.likelihood
    if isinstance(likelihood, Gaussian) and likelihood.sigma is None and model.out_features == 1:
        sigma = float(posterior.draws["sigma"].median())
        point = fit_svi(
            model,
            x,
            y,
            guide="delta",
            num_steps=1000,
            lr=1e-2,
            progress=False,
            seed=posterior.diagnostics["seed"],
        )
        with torch.no_grad():
            residual = float((model.network(point.sample(1), x)[0, :, 0] - y).pow(2).mean().sqrt())
        if sigma > 2 * residual:
            return (
                f"mean-field collapse: the learned noise sigma={sigma:.3g} is "
                f"{sigma / residual:.1f}x the training residual of a MAP fit ({residual:.3g}): "
                "the variational posterior stays near the prior, so the network barely uses "
                f"the data and its uncertainty is inflated. {remedies}"
            )
        return None
    kl = kl_per_weight(posterior)
    if kl is None or kl >= 0.1:
        return None
    return (
        f"mean-field collapse: the variational posterior of the hidden weights is almost the "
        f"prior (KL {kl:.3f} nats per weight), so the network barely uses the data and the "
        f"uncertainty it reports is inflated. {remedies}"
    )
