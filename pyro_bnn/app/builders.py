"""Library objects from a model file: the prior, likelihood, network and fit settings.

Each builder reads a :class:`~pyro_bnn.app.spec.ModelSpec` and calls the public
modelling API (:mod:`pyro_bnn.priors`, :mod:`pyro_bnn.likelihoods`,
:class:`~pyro_bnn.BayesianMLP`); :class:`ModelSpec` exposes them as methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .. import likelihoods as lk
from ..likelihoods import Likelihood
from ..nets import BayesianMLP, default_weight_scale
from ..priors import HierarchicalNormal, IIDNormal, LayerwiseNormal, Prior
from .schema import NUTS_KEYS, SVI_KEYS, SpecError

if TYPE_CHECKING:
    from .spec import ModelSpec

__all__ = ["build_prior", "build_likelihood", "build_model", "fit_kwargs"]


def build_prior(spec: ModelSpec) -> Prior:
    """The :class:`~pyro_bnn.priors.Prior` of ``[model]``."""
    m = spec.model
    scale = m["prior_scale"]
    if scale is None:  # the library's default for the task (as BayesianMLP(prior=None))
        scale = default_weight_scale(spec.task)
    if m["prior"] == "iid":
        return IIDNormal(scale=scale)
    if m["prior"] == "hierarchical":
        return HierarchicalNormal(scale_prior=scale, bias_scale=m["bias_scale"])
    return LayerwiseNormal(weight_scale=scale, bias_scale=m["bias_scale"])


def build_likelihood(spec: ModelSpec) -> Likelihood:
    """The :class:`~pyro_bnn.likelihoods.Likelihood` of ``[model]``."""
    m = spec.model
    sigma = None if m["sigma"] == "learned" else m["sigma"]
    name = m["likelihood"]
    if name == "gaussian":
        return lk.Gaussian(sigma=sigma, sigma_prior_scale=m["sigma_prior_scale"])
    if name == "studentt":
        return lk.StudentT(df=m["df"], sigma=sigma, sigma_prior_scale=m["sigma_prior_scale"])
    if name == "heteroscedastic":
        return lk.HeteroscedasticGaussian(min_scale=m["min_scale"])
    if name == "poisson":
        return lk.Poisson()
    if name == "bernoulli":
        return lk.Bernoulli()
    return lk.Categorical()


def build_model(spec: ModelSpec, in_features: int, num_classes: int | None = None) -> BayesianMLP:
    """A :class:`~pyro_bnn.BayesianMLP` sized for the data.

    ``in_features`` is the number of input columns; ``num_classes`` the number
    of classes (classification only: ``Categorical`` gets one output per class,
    ``Bernoulli`` needs exactly two classes).
    """
    likelihood = build_likelihood(spec)
    name = spec.model["likelihood"]
    out_features = 1
    if spec.task == "classification":
        if num_classes is None or num_classes < 2:
            raise SpecError(
                f"{spec.where('model', 'task')}: classification needs at least 2 classes "
                f"in the data, found {num_classes}"
            )
        if name == "bernoulli":
            if num_classes != 2:
                raise SpecError(
                    f"{spec.where('model', 'likelihood')}: 'bernoulli' needs 2 classes but "
                    f'the data has {num_classes}; use likelihood = "categorical"'
                )
        else:
            out_features = num_classes
    return BayesianMLP(
        in_features=in_features,
        out_features=out_features,
        hidden=tuple(spec.model["hidden"]),
        activation=spec.model["activation"],
        prior=build_prior(spec),
        likelihood=likelihood,
    )


def fit_kwargs(spec: ModelSpec) -> dict[str, Any]:
    """Keyword arguments of ``fit_svi`` or ``fit_nuts`` (per ``inference.method``)."""
    inf = spec.inference
    common = {
        "seed": inf["seed"],
        "dtype": torch.float64 if inf["dtype"] == "float64" else torch.float32,
    }
    keys = SVI_KEYS if inf["method"] == "svi" else NUTS_KEYS
    return common | {key: inf[key] for key in keys}
