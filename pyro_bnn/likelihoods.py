"""Observation models: how the network output becomes a distribution of ``y``.

Each likelihood knows

- how many network outputs it needs (:meth:`Likelihood.output_size`),
- its own latent sites (e.g. the noise scale ``"sigma"``),
- the distribution of ``y`` given the network output (:meth:`Likelihood.distribution`),
- its mean and variance (regression) or class probabilities (classification).

Shapes: the network output ``out`` is ``(..., N, output_size)`` where ``...`` are
draw dimensions; a single-output likelihood gives a batch shape ``(..., N)``,
a multi-output regression ``(..., N)`` with event shape ``(D,)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pyro.distributions as dist
import torch
import torch.nn.functional as F

from .priors import LatentSite
from .validation import check_labels

__all__ = [
    "Likelihood",
    "Gaussian",
    "HeteroscedasticGaussian",
    "StudentT",
    "Bernoulli",
    "Categorical",
    "Poisson",
    "likelihood_from_config",
]


_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _positive_or_none(value, name: str, owner: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{owner} {name} must be a positive number or None, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{owner} {name} must be finite, got {value!r}")
    return float(value)


def _gamma_parameters(value, name: str, owner: str) -> tuple[float, float] | None:
    """``None`` or a ``(shape, rate)`` pair of positive finite numbers."""
    if value is None:
        return None
    if isinstance(value, str) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"{owner} {name} must be None or a (shape, rate) pair, got {value!r}")
    shape, rate = (_positive_or_none(v, f"{name} entry", owner) for v in value)
    if shape is None or rate is None:
        raise ValueError(f"{owner} {name} entries must be positive numbers, got {value!r}")
    return (shape, rate)


def _sigma_from_precision(like: torch.Tensor, shape: float, rate: float) -> dist.Distribution:
    """The distribution of ``sigma = precision ** -0.5`` for ``precision ~ Gamma(shape, rate)``."""
    gamma = dist.Gamma(like.new_tensor(shape), like.new_tensor(rate))
    return dist.TransformedDistribution(gamma, [dist.transforms.PowerTransform(-0.5)])


def _align(param: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Append singleton dims to a per-draw parameter ``(...,)`` so it broadcasts with ``target``."""
    return param.reshape(param.shape + (1,) * (target.dim() - param.dim()))


class Likelihood:
    """Base class of observation models."""

    task = "regression"

    def output_size(self, out_features: int) -> int:
        """Number of network outputs needed for ``out_features`` targets (or classes)."""
        return out_features

    def sites(self, out_features: int) -> list[LatentSite]:
        """Latent sites the likelihood adds (e.g. ``"sigma"``); none by default."""
        return []

    def distribution(self, out: torch.Tensor, values: Mapping[str, torch.Tensor]):
        """Distribution of ``y`` given the network output ``out: (..., N, output_size)``."""
        raise NotImplementedError

    def log_prob(self, out: torch.Tensor, values: Mapping[str, torch.Tensor], y: torch.Tensor):
        """``log p(y_n | out_n)``: ``(..., N)`` (summed over outputs of a multi-output target)."""
        return self.distribution(out, values).log_prob(y)

    def mean_var(self, out: torch.Tensor, values: Mapping[str, torch.Tensor]):
        """Mean and variance of ``y`` given one draw: each ``(..., N)`` or ``(..., N, D)``."""
        d = self.distribution(out, values)
        return d.mean, d.variance

    def check_y(self, y: torch.Tensor, out_features: int) -> torch.Tensor:
        """Validate targets ``y`` and bring them to the shape the distribution expects."""
        if out_features == 1:
            if y.dim() == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y.dim() != 1:
                raise ValueError(
                    f"y must have shape (N,) for out_features=1, found {tuple(y.shape)}"
                )
        elif y.dim() != 2 or y.shape[1] != out_features:
            hint = ""
            if y.dim() == 1 and bool((y == y.round()).all()):
                hint = (
                    f"; y looks like class labels: for {out_features} classes use "
                    f"likelihood=pb.Categorical() (this likelihood is {type(self).__name__})"
                )
            raise ValueError(
                f"y must have shape (N, {out_features}) for out_features={out_features}, "
                f"found {tuple(y.shape)}{hint}"
            )
        return y

    def to_config(self) -> dict:
        """A JSON/TOML-serialisable description; :func:`likelihood_from_config` inverts it."""
        return {"type": type(self).__name__} | {
            k: v for k, v in vars(self).items() if not k.startswith("_")
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items() if k != "type")
        return f"{type(self).__name__}({args})"


def _squeeze_single(out: torch.Tensor) -> torch.Tensor:
    return out[..., 0] if out.shape[-1] == 1 else out


def _to_event(d: dist.Distribution, out: torch.Tensor) -> dist.Distribution:
    return d if out.shape[-1] == 1 else d.to_event(1)


class Gaussian(Likelihood):
    """``y ~ Normal(f(x), sigma)``.

    Parameters
    ----------
    sigma : float or None
        Fixed noise standard deviation, or ``None`` to learn it as the latent site
        ``"sigma"`` (one scale shared by all outputs), by default with the prior
        ``HalfNormal(sigma_prior_scale)``.
    sigma_prior_scale : float
        Scale of the HalfNormal prior on a learned ``sigma`` (on standardized
        targets 1.0 is weakly informative).
    precision_prior : (shape, rate) or None
        Instead of the HalfNormal: a Gamma prior on the precision ``1 / sigma**2``
        (PBP, Hernandez-Lobato & Adams 2015, uses ``(6.0, 6.0)`` on standardized
        targets). Unlike the HalfNormal, whose density stays positive at
        ``sigma = 0``, it keeps an over-parameterized network from interpolating the
        training data with a vanishing noise: the posterior precision is at most
        about ``(shape + N / 2) / rate``.

    Examples
    --------
    >>> Gaussian(precision_prior=(6.0, 6.0)).sites(1)[0].name
    'sigma'
    """

    def __init__(
        self,
        sigma: float | None = None,
        sigma_prior_scale: float = 1.0,
        precision_prior: tuple[float, float] | None = None,
    ):
        self.sigma = _positive_or_none(sigma, "sigma", "Gaussian")
        self.sigma_prior_scale = _positive_or_none(
            sigma_prior_scale, "sigma_prior_scale", "Gaussian"
        )
        self.precision_prior = _gamma_parameters(precision_prior, "precision_prior", "Gaussian")

    def to_config(self) -> dict:
        config = super().to_config()
        if config.get("precision_prior", 0) is None:  # configs written before it stay equal
            del config["precision_prior"]
        return config

    def sites(self, out_features):
        if self.sigma is not None:
            return []
        precision_prior = getattr(self, "precision_prior", None)  # StudentT has none
        if precision_prior is not None:
            shape, rate = precision_prior
            return [
                LatentSite(
                    "sigma", (), lambda values, like: _sigma_from_precision(like, shape, rate)
                )
            ]
        scale = self.sigma_prior_scale
        return [
            LatentSite("sigma", (), lambda values, like: dist.HalfNormal(like.new_tensor(scale)))
        ]

    def noise_scale(self, out, values):
        """The noise standard deviation, aligned with ``out`` (without its last dim)."""
        mean = _squeeze_single(out)
        if self.sigma is not None:
            return mean.new_tensor(self.sigma)
        return _align(values["sigma"], mean)

    def distribution(self, out, values):
        return _to_event(dist.Normal(_squeeze_single(out), self.noise_scale(out, values)), out)

    def log_prob(self, out, values, y):
        # Normal log density written out: fewer autograd nodes than a distribution object
        mean = _squeeze_single(out)
        scale = self.noise_scale(out, values)
        log_density = -0.5 * ((y - mean) / scale) ** 2 - torch.log(scale) - _HALF_LOG_2PI
        return log_density if out.shape[-1] == 1 else log_density.sum(-1)

    def mean_var(self, out, values):
        mean = _squeeze_single(out)
        return mean, (self.noise_scale(out, values) ** 2).expand(mean.shape)


class HeteroscedasticGaussian(Likelihood):
    """``y ~ Normal(mu(x), sigma(x))``: the network outputs the mean and the scale.

    The network has ``2 * out_features`` outputs: the first half is the mean, the
    second half goes through ``softplus`` plus ``min_scale`` to give the scale.
    """

    def __init__(self, min_scale: float = 1e-3):
        self.min_scale = _positive_or_none(min_scale, "min_scale", "HeteroscedasticGaussian")

    def output_size(self, out_features):
        return 2 * out_features

    def _loc_scale(self, out):
        half = out.shape[-1] // 2
        loc, raw_scale = out[..., :half], out[..., half:]
        return loc, F.softplus(raw_scale) + self.min_scale

    def distribution(self, out, values):
        loc, scale = self._loc_scale(out)
        return _to_event(dist.Normal(_squeeze_single(loc), _squeeze_single(scale)), loc)

    def mean_var(self, out, values):
        loc, scale = self._loc_scale(out)
        return _squeeze_single(loc), _squeeze_single(scale) ** 2


class StudentT(Likelihood):
    """``y ~ StudentT(df, f(x), sigma)``: robust regression with heavy-tailed noise.

    Parameters
    ----------
    df : float
        Degrees of freedom (fixed). With ``df <= 2`` the noise has no finite
        variance; predictions then refuse variance summaries (use intervals).
    sigma : float or None
        Fixed scale, or ``None`` for a learned ``"sigma" ~ HalfNormal(sigma_prior_scale)``.
    """

    def __init__(self, df: float = 4.0, sigma: float | None = None, sigma_prior_scale: float = 1.0):
        self.df = _positive_or_none(df, "df", "StudentT")
        if self.df is None:
            raise ValueError("StudentT df must be a positive number, got None")
        self.sigma = _positive_or_none(sigma, "sigma", "StudentT")
        self.sigma_prior_scale = _positive_or_none(
            sigma_prior_scale, "sigma_prior_scale", "StudentT"
        )

    sites = Gaussian.sites
    noise_scale = Gaussian.noise_scale

    def distribution(self, out, values):
        loc = _squeeze_single(out)
        scale = self.noise_scale(out, values)
        return _to_event(dist.StudentT(loc.new_tensor(self.df), loc, scale), out)

    def mean_var(self, out, values):
        mean = _squeeze_single(out)
        scale = self.noise_scale(out, values)
        if self.df <= 2:
            var = torch.full_like(mean, math.nan)
        else:
            var = (scale**2 * self.df / (self.df - 2)).expand(mean.shape)
        return mean, var


class Poisson(Likelihood):
    """``y ~ Poisson(exp(f(x)))``: counts with a log link."""

    def distribution(self, out, values):
        return _to_event(dist.Poisson(torch.exp(_squeeze_single(out))), out)

    def mean_var(self, out, values):
        rate = torch.exp(_squeeze_single(out))
        return rate, rate

    def check_y(self, y, out_features):
        y = super().check_y(y, out_features)
        bad = (y < 0) | (y != torch.round(y))
        if bad.any():
            row = int(bad.reshape(bad.shape[0], -1).any(1).nonzero()[0])
            raise ValueError(
                f"Poisson targets must be non-negative integers, found {y[row].tolist()} "
                f"at row {row}"
            )
        return y


class Bernoulli(Likelihood):
    """Binary classification: ``y ~ Bernoulli(logits=f(x))``, labels 0/1, ``out_features=1``."""

    task = "classification"

    def num_classes(self, out_features: int) -> int:
        """Number of classes (always 2)."""
        return 2

    def distribution(self, out, values):
        if out.shape[-1] != 1:
            raise ValueError(f"Bernoulli needs out_features=1, the network has {out.shape[-1]}")
        return dist.Bernoulli(logits=out[..., 0])

    def probs(self, out, values):
        """Class probabilities ``(..., N, 2)``: columns P(y=0), P(y=1)."""
        p1 = torch.sigmoid(out[..., 0])
        return torch.stack([1 - p1, p1], dim=-1)

    def check_y(self, y, out_features):
        if out_features != 1:
            raise ValueError(
                f"Bernoulli likelihood needs out_features=1, got {out_features} "
                "(use Categorical for more classes)"
            )
        if y.dim() == 2 and y.shape[1] == 1:
            y = y[:, 0]
        return check_labels(y, 2)


class Categorical(Likelihood):
    """Multi-class classification: ``y ~ Categorical(logits=f(x))``; ``out_features`` = classes."""

    task = "classification"

    def num_classes(self, out_features: int) -> int:
        """Number of classes (``out_features``)."""
        return out_features

    def distribution(self, out, values):
        return dist.Categorical(logits=out)

    def probs(self, out, values):
        """Class probabilities ``(..., N, K)``."""
        return torch.softmax(out, dim=-1)

    def check_y(self, y, out_features):
        if out_features < 2:
            raise ValueError(f"Categorical likelihood needs out_features >= 2, got {out_features}")
        if y.dim() == 2 and y.shape[1] == 1:
            y = y[:, 0]
        return check_labels(y, out_features)


LIKELIHOODS = {
    cls.__name__: cls
    for cls in (Gaussian, HeteroscedasticGaussian, StudentT, Bernoulli, Categorical, Poisson)
}


def likelihood_from_config(config: dict) -> Likelihood:
    """Rebuild a likelihood from :meth:`Likelihood.to_config` output."""
    config = dict(config)
    kind = config.pop("type", None)
    if kind not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood type {kind!r}; valid: {sorted(LIKELIHOODS)}")
    return LIKELIHOODS[kind](**config)
