"""Mean-field collapse: a Gaussian guide on a hidden-layer network that ignores the data.

Symptoms (Coker et al. 2022): with a learned Gaussian noise, the noise is far above the
training residual of a MAP fit of the same model; otherwise, the hidden weights'
posterior is the prior. :func:`collapse_message` turns them into a plain-words warning.
"""

from __future__ import annotations

import torch

from ..likelihoods import Bernoulli, Categorical, Gaussian
from ..nets import BayesianMLP
from ..posterior import Posterior
from .analytic import AnalyticGradient
from .diagnostics import kl_per_weight
from .flat import FlatModel
from .map import map_estimate

__all__ = ["MeanFieldCollapseWarning", "collapse_message"]


class MeanFieldCollapseWarning(UserWarning):
    """The variational posterior stayed at the prior: the fit ignores the data."""


def collapse_message(posterior: Posterior, x: torch.Tensor, y: torch.Tensor) -> str | None:
    """Plain-words warning when a Gaussian guide on a hidden-layer network ignores the data.

    Symptoms of mean-field collapse (Coker et al. 2022): with a learned Gaussian noise,
    the noise is far (> 2x) above the training residual of a MAP fit of the same model;
    otherwise, the hidden weights' posterior is the prior (KL < 0.1 nat per weight) and,
    for a classifier, its training NLL is not clearly (20%) below that of the class
    frequencies.
    Returns ``None`` when the fit looks healthy.

    The MAP fit starts at the guide's mean, where a healthy fit already is close to a
    mode: 200 Adam steps, then up to four more stages of 200 only while the ratio is
    undecided (between 1.5 and 2) and the residual still falls by more than 1% a stage.
    A longer search can only lower the residual, so a warning after a short search is
    never a false alarm of its shortness.
    """
    model = posterior.model
    if not model.hidden:
        return None
    remedies = (
        f"Remedies: fewer hidden units than hidden={model.hidden} with guide='mvn' or "
        "'lowrank', or fit_nuts(...); if the fit stopped early, more num_steps."
    )
    likelihood = model.likelihood
    if isinstance(likelihood, Gaussian) and likelihood.sigma is None and model.out_features == 1:
        draws = posterior.draws
        sigma = float(draws["sigma"].median())
        start = {name: value.mean(0) for name, value in draws.items()}
        residual = float("inf")
        for num_steps in MAP_STEPS:
            previous = residual
            start, residual = _map_residual(model, x, y, start, num_steps)
            undecided = UNDECIDED[0] <= sigma / residual <= UNDECIDED[1]
            if not undecided or residual > (1 - MIN_GAIN) * previous:
                break  # decided, or the search has levelled off
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
    if isinstance(likelihood, Bernoulli | Categorical) and _beats_base_rate(posterior, x, y):
        return None  # many weights near their prior, but the predictions use the data
    return (
        f"mean-field collapse: the variational posterior of the hidden weights is almost the "
        f"prior (KL {kl:.3f} nats per weight), so the network barely uses the data and the "
        f"uncertainty it reports is inflated. {remedies}"
    )


#: Adam steps of the collapse check's MAP search: the first stage, then polishing stages
#: that run only while sigma / residual is in :data:`UNDECIDED` and the residual still
#: falls by more than :data:`MIN_GAIN` (relative) per stage.
MAP_STEPS = (200, 200, 200, 200, 200)
UNDECIDED = (1.5, 2.0)
MIN_GAIN = 0.01


def _beats_base_rate(posterior: Posterior, x, y, margin: float = 0.8) -> bool:
    """Is the training NLL of the posterior predictive below ``margin`` x that of the class
    frequencies? A classifier that ignores the data predicts the frequencies; one whose
    weights mostly sit near the prior (a wide first layer on many inputs) can still
    separate the classes well."""
    draws = {name: value[:100] for name, value in posterior.draws.items()}
    with torch.no_grad():
        logits = posterior.model.network(draws, x).double()  # (S, N, K), or (S, N, 1)
    if logits.shape[-1] == 1:  # Bernoulli: the logit of class 1
        logits = torch.cat([torch.zeros_like(logits), logits], dim=-1)
    probs = logits.softmax(-1).mean(0).cpu().clamp_min(1e-12)  # the predictive, (N, K)
    labels = torch.as_tensor(y).reshape(-1).long().cpu()
    nll = -probs[torch.arange(len(labels)), labels].log().mean()
    frequencies = torch.bincount(labels, minlength=probs.shape[-1]).double() / len(labels)
    base_rate = -(frequencies[labels].log()).mean()
    return bool(nll < margin * base_rate)


def _map_residual(
    model: BayesianMLP, x: torch.Tensor, y: torch.Tensor, start: dict, num_steps: int
) -> tuple[dict, float]:
    """``num_steps`` of MAP search from ``start`` (site -> value).

    The mode of the density of the unconstrained vector (the NUTS start's objective),
    with the hand-written gradient where :class:`AnalyticGradient` supports the model
    (3-4x faster than autograd on small networks); its ``log sigma`` Jacobian term moves
    the noise, not the residual. Returns the point reached (site -> value) and its
    training RMSE (the residual).
    """
    flat = FlatModel(model, x, y)
    z0 = flat.flatten({name: start[name] for name in flat.names})
    gradient = AnalyticGradient(flat).in_flat_layout if AnalyticGradient.supports(flat) else None
    z, _ = map_estimate(
        flat, z0, num_steps=num_steps, lr=1e-2, lr_decay=0.1, value_and_grad_fn=gradient
    )
    point = flat.unflatten(z.unsqueeze(0))
    with torch.no_grad():
        residual = float((model.network(point, x)[0, :, 0] - y).pow(2).mean().sqrt())
    return {name: value[0] for name, value in point.items()}, residual
