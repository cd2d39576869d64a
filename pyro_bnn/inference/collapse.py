"""Mean-field collapse: a Gaussian guide on a hidden-layer network that ignores the data.

Symptoms (Coker et al. 2022): with a learned Gaussian noise, the noise is far above the
training residual of a MAP fit of the same model; otherwise, the hidden weights'
posterior is the prior. :func:`collapse_message` turns them into a plain-words warning.
"""

from __future__ import annotations

import pyro
import torch

from ..isolation import local_rng
from ..likelihoods import Gaussian
from ..nets import BayesianMLP
from ..posterior import Posterior
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
    otherwise, the hidden weights' posterior is the prior (KL < 0.1 nat per weight).
    Returns ``None`` when the fit looks healthy.
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
        sigma = float(posterior.draws["sigma"].median())
        point = _map_point(model, x, y, posterior.diagnostics["seed"])
        with torch.no_grad():
            residual = float((model.network(point, x)[0, :, 0] - y).pow(2).mean().sqrt())
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


def _map_point(model: BayesianMLP, x: torch.Tensor, y: torch.Tensor, seed: int) -> dict:
    """MAP weights of ``model`` on prepared data (site -> ``(1, *shape)``), for the collapse check.

    What ``fit_svi(model, x, y, guide="delta", num_steps=1000, seed=seed)`` finds on its
    flat path (same start, same schedule), through the one MAP routine.
    """
    with local_rng(seed):
        flat = FlatModel(model, x, y)
        with torch.no_grad(), pyro.poutine.block():
            prior_draw = pyro.poutine.trace(model).get_trace(*model.example_data())
        z0 = flat.flatten({name: prior_draw.nodes[name]["value"] for name in flat.names})
        z, _ = map_estimate(flat, z0, num_steps=1000, lr=1e-2, lr_decay=0.1, jacobian=False)
    return flat.unflatten(z.unsqueeze(0))
