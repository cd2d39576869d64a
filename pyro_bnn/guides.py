"""Variational guides by name: the one place that maps ``guide="normal"`` etc. to Pyro.

``fit_svi(guide=...)`` also takes any Pyro :class:`~pyro.infer.autoguide.AutoGuide`
instance or a guide callable; the names here are shortcuts for the autoguides the
flat fast path of a :class:`~pyro_bnn.BayesianMLP` mirrors.
"""

from __future__ import annotations

from collections.abc import Callable

import pyro
import torch

from .isolation import param_scope

__all__ = ["GUIDES", "make_guide", "initialised_guide", "guide_name"]

GUIDES = ("normal", "lowrank", "mvn", "delta", "laplace")


def _guide_classes() -> dict:
    from pyro.infer import autoguide

    return {
        "normal": autoguide.AutoNormal,
        "lowrank": autoguide.AutoLowRankMultivariateNormal,
        "mvn": autoguide.AutoMultivariateNormal,
        "delta": autoguide.AutoDelta,
        # the Laplace Gaussian is stored as a full-rank Gaussian guide (fitted by
        # pyro_bnn.inference.laplace, not by SVI steps)
        "laplace": autoguide.AutoMultivariateNormal,
    }


def check_guide_name(guide: str) -> str:
    """Return ``guide`` if it is one of :data:`GUIDES`, else a ``ValueError`` listing them."""
    if guide not in GUIDES:
        raise ValueError(
            f"unknown guide {guide!r}; valid names: {', '.join(GUIDES)} "
            "(or pass a Pyro AutoGuide instance or a guide callable)"
        )
    return guide


def make_guide(model: Callable, guide: str, init_loc_fn=None, init_scale: float = 0.05, rank=None):
    """Build the autoguide named ``guide`` for ``model``.

    ``"normal"``: :class:`~pyro.infer.autoguide.AutoNormal` (mean field, Bayes by
    Backprop); ``"lowrank"``: AutoLowRankMultivariateNormal; ``"mvn"``: full-rank
    AutoMultivariateNormal; ``"delta"``: AutoDelta (MAP, a one-draw posterior);
    ``"laplace"``: the AutoMultivariateNormal a Laplace fit is stored in (its
    parameters are set by :mod:`pyro_bnn.inference.laplace`).
    """
    from pyro.infer.autoguide import init_to_sample

    cls = _guide_classes()[check_guide_name(guide)]
    init_loc_fn = init_loc_fn or init_to_sample
    if guide == "delta":
        return cls(model, init_loc_fn=init_loc_fn)
    if guide == "lowrank":
        return cls(model, init_loc_fn=init_loc_fn, init_scale=init_scale, rank=rank)
    return cls(model, init_loc_fn=init_loc_fn, init_scale=init_scale)


def initialised_guide(model, guide: str, **kwargs):
    """A guide for a BayesianMLP ``model`` with its parameters created, ready to load.

    Runs in a private parameter store: the caller's store is not touched.
    """
    auto_guide = make_guide(model, guide, **kwargs)
    with param_scope(), pyro.poutine.block(), torch.no_grad():
        auto_guide(*model.example_data())
    return auto_guide


def guide_name(guide) -> str:
    """A short name for ``guide``: the shortcut name, or the class/function name."""
    if isinstance(guide, str):
        return guide
    return getattr(guide, "__name__", None) or type(guide).__name__
