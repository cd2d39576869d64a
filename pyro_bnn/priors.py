"""Prior families for the weights and biases of a Bayesian network.

A prior turns the layer sizes of a network into an ordered list of latent sites
(:class:`LatentSite`). Each site knows how to build its prior distribution from
the values of the sites before it, which is what makes hierarchical priors work
both inside the Pyro model and in the plain-torch fast paths.

Site names (stable, relied on by saved posteriors): ``layers.{i}.weight`` with
shape ``(out, in)``, ``layers.{i}.bias`` with shape ``(out,)`` and, for
:class:`HierarchicalNormal`, ``layers.{i}.scale`` (a scalar).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pyro.distributions as dist
import torch

__all__ = [
    "LatentSite",
    "Prior",
    "IIDNormal",
    "LayerwiseNormal",
    "HierarchicalNormal",
    "PerLayerPrior",
    "prior_from_config",
]


@dataclass(frozen=True)
class LatentSite:
    """One latent variable of a model.

    Attributes
    ----------
    name : str
        Pyro sample-site name, e.g. ``"layers.0.weight"``.
    shape : tuple of int
        Event shape of one draw.
    prior : callable
        ``prior(values, like) -> Distribution`` with event shape ``shape``;
        ``values`` holds the sites before this one (possibly with leading draw
        dimensions) and the tensor ``like`` sets dtype and device.
    """

    name: str
    shape: tuple[int, ...]
    prior: Callable[[Mapping[str, torch.Tensor], torch.Tensor], dist.Distribution]


def _normal(scale, shape: tuple[int, ...], like: torch.Tensor) -> dist.Distribution:
    """``Normal(0, scale)`` with event shape ``shape``; ``scale`` may carry draw dims."""
    scale = like.new_tensor(scale) if not torch.is_tensor(scale) else scale
    if scale.dim() > 0:  # one scale per draw: (..., ) -> (..., 1, ..., 1)
        scale = scale.reshape(scale.shape + (1,) * len(shape))
    base = dist.Normal(like.new_zeros(shape), scale)
    return base.expand(torch.broadcast_shapes(base.batch_shape, shape)).to_event(len(shape))


class Prior:
    """Base class: maps the layer sizes ``[(fan_in, fan_out), ...]`` to latent sites."""

    def sites(self, layer_sizes: list[tuple[int, int]]) -> list[LatentSite]:
        """Latent sites of every layer, in sampling order."""
        sites: list[LatentSite] = []
        for index, (fan_in, fan_out) in enumerate(layer_sizes):
            sites.extend(self.layer_sites(index, fan_in, fan_out))
        return sites

    def layer_sites(self, index: int, fan_in: int, fan_out: int) -> list[LatentSite]:
        """Latent sites of layer ``index`` (weights ``(fan_out, fan_in)``, bias ``(fan_out,)``)."""
        raise NotImplementedError

    def to_config(self) -> dict:
        """A JSON/TOML-serialisable description; :func:`prior_from_config` inverts it."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items() if k != "type")
        return f"{type(self).__name__}({args})"


class IIDNormal(Prior):
    """Every weight and bias ``~ Normal(0, scale)`` independently.

    Parameters
    ----------
    scale : float
        Prior standard deviation (positive).
    """

    def __init__(self, scale: float = 1.0):
        if not (isinstance(scale, int | float) and scale > 0 and math.isfinite(scale)):
            raise ValueError(f"IIDNormal scale must be a positive number, got {scale!r}")
        self.scale = float(scale)

    def layer_sites(self, index, fan_in, fan_out):
        return [
            LatentSite(
                f"layers.{index}.weight",
                (fan_out, fan_in),
                lambda values, like, s=(fan_out, fan_in): _normal(self.scale, s, like),
            ),
            LatentSite(
                f"layers.{index}.bias",
                (fan_out,),
                lambda values, like, s=(fan_out,): _normal(self.scale, s, like),
            ),
        ]

    def to_config(self):
        return {"type": "IIDNormal", "scale": self.scale}


class LayerwiseNormal(Prior):
    """Weights ``~ Normal(0, weight_scale / sqrt(fan_in))``, biases ``~ Normal(0, bias_scale)``.

    The default prior: it keeps the variance of pre-activations independent of
    the width, so wide networks do not have wildly growing prior functions.
    """

    def __init__(self, weight_scale: float = 1.0, bias_scale: float = 1.0):
        for name, value in (("weight_scale", weight_scale), ("bias_scale", bias_scale)):
            if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
                raise ValueError(f"LayerwiseNormal {name} must be a positive number, got {value!r}")
        self.weight_scale = float(weight_scale)
        self.bias_scale = float(bias_scale)

    def layer_sites(self, index, fan_in, fan_out):
        weight_std = self.weight_scale / math.sqrt(fan_in)
        return [
            LatentSite(
                f"layers.{index}.weight",
                (fan_out, fan_in),
                lambda values, like, s=(fan_out, fan_in): _normal(weight_std, s, like),
            ),
            LatentSite(
                f"layers.{index}.bias",
                (fan_out,),
                lambda values, like, s=(fan_out,): _normal(self.bias_scale, s, like),
            ),
        ]

    def to_config(self):
        return {
            "type": "LayerwiseNormal",
            "weight_scale": self.weight_scale,
            "bias_scale": self.bias_scale,
        }


class HierarchicalNormal(Prior):
    """A learned scale per layer: ``scale_i ~ HalfNormal(scale_prior)``,
    weights ``~ Normal(0, scale_i / sqrt(fan_in))``, biases ``~ Normal(0, bias_scale)``.

    The per-layer scale (site ``layers.{i}.scale``) lets the data decide how
    large the weights of each layer should be (automatic relevance at layer level).
    """

    def __init__(self, scale_prior: float = 1.0, bias_scale: float = 1.0):
        for name, value in (("scale_prior", scale_prior), ("bias_scale", bias_scale)):
            if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
                raise ValueError(
                    f"HierarchicalNormal {name} must be a positive number, got {value!r}"
                )
        self.scale_prior = float(scale_prior)
        self.bias_scale = float(bias_scale)

    def layer_sites(self, index, fan_in, fan_out):
        scale_name = f"layers.{index}.scale"
        return [
            LatentSite(
                scale_name,
                (),
                lambda values, like: dist.HalfNormal(like.new_tensor(self.scale_prior)),
            ),
            LatentSite(
                f"layers.{index}.weight",
                (fan_out, fan_in),
                lambda values, like, s=(fan_out, fan_in): _normal(
                    values[scale_name] / math.sqrt(fan_in), s, like
                ),
            ),
            LatentSite(
                f"layers.{index}.bias",
                (fan_out,),
                lambda values, like, s=(fan_out,): _normal(self.bias_scale, s, like),
            ),
        ]

    def to_config(self):
        return {
            "type": "HierarchicalNormal",
            "scale_prior": self.scale_prior,
            "bias_scale": self.bias_scale,
        }


_SERIALISABLE_DISTRIBUTIONS = {
    "Normal": ("loc", "scale"),
    "Laplace": ("loc", "scale"),
    "StudentT": ("df", "loc", "scale"),
    "Cauchy": ("loc", "scale"),
    "Uniform": ("low", "high"),
}


class PerLayerPrior(Prior):
    """Any scalar Pyro distribution per layer, applied iid to its weights and bias.

    Parameters
    ----------
    weights : dict[int, Distribution] or Distribution
        Prior of every weight of layer ``i`` (a single distribution: all layers).
        Its batch shape must be ``()``; it is expanded to the weight shape.
    biases : dict[int, Distribution] or Distribution, optional
        The same for the biases; default ``Normal(0, 1)``.

    Example
    -------
    >>> prior = PerLayerPrior({0: dist.Laplace(0.0, 0.5), 1: dist.Normal(0.0, 0.1)})
    """

    def __init__(self, weights, biases=None):
        self.weights = weights
        self.biases = biases if biases is not None else dist.Normal(0.0, 1.0)
        for role, value in (("weights", self.weights), ("biases", self.biases)):
            items = value.values() if isinstance(value, Mapping) else [value]
            for item in items:
                if not isinstance(item, torch.distributions.Distribution):
                    raise TypeError(
                        f"PerLayerPrior {role} must be Pyro distributions, got {type(item)}"
                    )
                if item.batch_shape != () or item.event_shape != ():
                    raise ValueError(
                        f"PerLayerPrior {role} must be scalar distributions "
                        f"(batch and event shape ()), got {item}"
                    )

    @staticmethod
    def _for_layer(value, index: int, role: str) -> dist.Distribution:
        if not isinstance(value, Mapping):
            return value
        if index not in value:
            raise ValueError(
                f"PerLayerPrior has no {role} prior for layer {index}; "
                f"layers given: {sorted(value)}"
            )
        return value[index]

    def layer_sites(self, index, fan_in, fan_out):
        weight = self._for_layer(self.weights, index, "weight")
        bias = self._for_layer(self.biases, index, "bias")
        return [
            LatentSite(
                f"layers.{index}.weight",
                (fan_out, fan_in),
                lambda values, like, d=weight, s=(fan_out, fan_in): (
                    _cast(d, like).expand(s).to_event(2)
                ),
            ),
            LatentSite(
                f"layers.{index}.bias",
                (fan_out,),
                lambda values, like, d=bias, s=(fan_out,): _cast(d, like).expand(s).to_event(1),
            ),
        ]

    @staticmethod
    def _dist_config(d: dist.Distribution) -> dict:
        name = type(d).__name__
        if name not in _SERIALISABLE_DISTRIBUTIONS:
            raise ValueError(
                f"cannot save a PerLayerPrior with a {name} distribution; "
                f"saveable: {sorted(_SERIALISABLE_DISTRIBUTIONS)}"
            )
        return {"dist": name} | {
            arg: float(getattr(d, arg)) for arg in _SERIALISABLE_DISTRIBUTIONS[name]
        }

    @staticmethod
    def _dist_from_config(config: dict) -> dist.Distribution:
        config = dict(config)
        name = config.pop("dist")
        if name not in _SERIALISABLE_DISTRIBUTIONS:
            raise ValueError(
                f"unknown prior distribution {name!r}; valid: {sorted(_SERIALISABLE_DISTRIBUTIONS)}"
            )
        return getattr(dist, name)(**config)

    def to_config(self):
        def encode(value):
            if isinstance(value, Mapping):
                return {str(k): self._dist_config(v) for k, v in value.items()}
            return self._dist_config(value)

        return {
            "type": "PerLayerPrior",
            "weights": encode(self.weights),
            "biases": encode(self.biases),
        }

    @classmethod
    def from_config(cls, config: dict) -> PerLayerPrior:
        """Inverse of :meth:`to_config`."""

        def decode(value):
            if "dist" in value:
                return cls._dist_from_config(value)
            return {int(k): cls._dist_from_config(v) for k, v in value.items()}

        return cls(decode(config["weights"]), decode(config["biases"]))


def _cast(d: dist.Distribution, like: torch.Tensor) -> dist.Distribution:
    """The same distribution with parameters on ``like``'s dtype and device (when known)."""
    name = type(d).__name__
    if name not in _SERIALISABLE_DISTRIBUTIONS:
        return d
    args = {arg: getattr(d, arg).to(like) for arg in _SERIALISABLE_DISTRIBUTIONS[name]}
    return type(d)(**args)


PRIORS = {
    "IIDNormal": IIDNormal,
    "LayerwiseNormal": LayerwiseNormal,
    "HierarchicalNormal": HierarchicalNormal,
    "PerLayerPrior": PerLayerPrior,
}


def prior_from_config(config: dict) -> Prior:
    """Rebuild a prior from :meth:`Prior.to_config` output."""
    config = dict(config)
    kind = config.pop("type", None)
    if kind not in PRIORS:
        raise ValueError(f"unknown prior type {kind!r}; valid: {sorted(PRIORS)}")
    if kind == "PerLayerPrior":
        return PerLayerPrior.from_config(config)
    return PRIORS[kind](**config)
