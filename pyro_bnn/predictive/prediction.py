"""The :class:`Prediction` classes: summaries of posterior-predictive draws."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import pyro
import torch
from pyro.ops.stats import hpdi as _hpdi

from ..isolation import local_rng
from ..posterior import Posterior
from ..validation import as_tensor, check_positive_int


def _check_level(level: float) -> float:
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return float(level)


def _check_quantile(q) -> torch.Tensor:
    q = torch.as_tensor(q, dtype=torch.float64)
    if ((q <= 0) | (q >= 1)).any():
        raise ValueError(f"quantile levels must be in (0, 1), got {q.tolist()}")
    return q


def _public(method):
    """Convert a public result to numpy when the prediction was asked for with numpy inputs.

    Only the outermost call converts: public methods call each other on tensors.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        self._depth += 1
        try:
            result = method(self, *args, **kwargs)
        finally:
            self._depth -= 1
        return self._export(result) if self._depth == 0 else result

    return wrapper


class Prediction:
    """Base class of predictions: ``task``, the number of posterior draws used, extra sites.

    Results are numpy arrays when :func:`predict` got a numpy ``x``, torch tensors
    when it got a tensor (``as_numpy`` says which).

    Attributes
    ----------
    sites : dict
        Draws ``(S, ...)`` of the sites asked for with ``predict(..., return_sites=...)``.
    """

    task: str
    num_draws: int
    as_numpy: bool = False
    _depth = 0

    def _export(self, result):
        if not self.as_numpy:
            return result
        if isinstance(result, torch.Tensor):
            return result.detach().cpu().numpy()
        if isinstance(result, tuple):
            return tuple(self._export(r) for r in result)
        return result

    @property
    def sites(self) -> dict:
        """Draws of the sites named in ``predict(..., return_sites=...)``."""
        return {name: self._export(value) for name, value in self._sites.items()}

    @property
    def has_draws(self) -> bool:
        """Whether the per-draw outputs were kept (``predict(..., keep_draws=True)``)."""
        return self._per_draw is not None

    def _require_draws(self, what: str):
        if not self.has_draws:
            raise ValueError(
                f"{what} needs the per-draw outputs; call predict(..., keep_draws=True)"
            )


class PerDraw:
    """The predictive distribution of every posterior draw, built on demand.

    ``distribution()`` has batch shape ``(S, N)`` (``Independent`` over several
    outputs), ``mean()`` ``(S, N[, K])``, ``probs()`` ``(S, N, K)`` (classification).
    """

    def __init__(self, distribution: Callable, mean: Callable | None = None, probs=None):
        self.distribution = distribution
        self._mean = mean
        self._probs = probs

    def mean(self) -> torch.Tensor:
        return self._mean() if self._mean is not None else self.distribution().mean

    def probs(self) -> torch.Tensor:
        return self._probs()


class RegressionPrediction(Prediction):
    """Predictive distribution of a regression network at ``N`` inputs, in the data's units.

    Summaries have shape ``(N,)`` for one output, ``(N, D)`` for several. When the
    posterior was fitted on standardized targets, every summary, interval, sample and
    density is converted back to the original units.

    Attributes
    ----------
    mean : predictive mean ``E[y]``
    epistemic_var : variance over draws of the likelihood mean (what more data would fix)
    aleatoric_var : mean over draws of the likelihood variance (the noise)
    """

    task = "regression"

    def __init__(
        self,
        mean,
        epistemic_var,
        aleatoric_var,
        per_draw: PerDraw | None,
        seed: int,
        num_draws: int,
        *,
        y_loc=0.0,
        y_scale=1.0,
        as_numpy: bool = False,
        sites: dict | None = None,
        no_variance_hint: str = "",
    ):
        self._y_loc = torch.as_tensor(y_loc, dtype=mean.dtype, device=mean.device)
        self._y_scale = torch.as_tensor(y_scale, dtype=mean.dtype, device=mean.device)
        self._mean = mean * self._y_scale + self._y_loc
        # None: the likelihood has no mean/variance per draw (the split is unavailable)
        self._epistemic_var = None if epistemic_var is None else epistemic_var * self._y_scale**2
        self._aleatoric = None if aleatoric_var is None else aleatoric_var * self._y_scale**2
        self._per_draw = per_draw
        self._seed = seed
        self.num_draws = num_draws
        self.as_numpy = as_numpy
        self._sites = dict(sites or {})
        self._no_variance_hint = no_variance_hint

    # --- moments ----------------------------------------------------------------------------
    @property
    @_public
    def mean(self):
        """Predictive mean ``E[y]``."""
        return self._mean

    @property
    @_public
    def epistemic_var(self):
        """Variance over draws of the likelihood mean (what more data would fix)."""
        if self._epistemic_var is None:
            raise ValueError(self._no_variance_hint)
        return self._epistemic_var

    @property
    @_public
    def aleatoric_var(self):
        """Mean over draws of the noise variance."""
        if self._aleatoric is None or torch.isnan(self._aleatoric).any():
            raise ValueError(
                self._no_variance_hint
                or "the likelihood has no finite variance (Student-t needs df > 2); "
                "use interval(), quantile() or hpdi() instead"
            )
        return self._aleatoric

    @property
    @_public
    def total_var(self):
        """Predictive variance: ``epistemic_var + aleatoric_var``."""
        return self.epistemic_var + self.aleatoric_var

    @property
    @_public
    def std(self):
        """Predictive standard deviation (noise included)."""
        return self.total_var.sqrt()

    @property
    @_public
    def epistemic_std(self):
        """Standard deviation of the mean function over draws."""
        return self.epistemic_var.sqrt()

    @property
    @_public
    def aleatoric_std(self):
        """Root mean noise variance."""
        return self.aleatoric_var.sqrt()

    # --- per-draw pieces ---------------------------------------------------------------------
    def _distribution(self):
        """Per-draw distribution in model (standardized) units, outputs not summed."""
        self._require_draws("this summary")
        d = self._per_draw.distribution()
        return d.base_dist if isinstance(d, torch.distributions.Independent) else d

    def _to_model_units(self, y) -> torch.Tensor:
        y = as_tensor(y, "y", dtype=self._mean.dtype, device=self._mean.device)
        return ((y.reshape(self._mean.shape)) - self._y_loc) / self._y_scale

    @property
    @_public
    def mean_draws(self):
        """Likelihood mean per draw (function draws): ``(S, N)`` or ``(S, N, D)``."""
        self._require_draws("mean_draws")
        return self._per_draw.mean() * self._y_scale + self._y_loc

    @_public
    def log_prob_draws(self, y):
        """``log p(y_n | x_n, theta_s)``: ``(S, N)`` (summed over outputs), in y's units."""
        self._require_draws("log_prob_draws")
        z = self._to_model_units(y)
        log_jacobian = torch.log(self._y_scale).expand(self._mean.shape[1:]).sum()
        return self._per_draw.distribution().log_prob(z) - log_jacobian

    @_public
    def sample(self, num_samples: int = 1000, seed: int | None = None):
        """Predictive draws with noise: ``(num_samples, N)`` (or ``(num_samples, N, D)``)."""
        num_samples = check_positive_int(num_samples, "num_samples")
        d = self._distribution()
        with pyro.poutine.block(), local_rng(self._seed if seed is None else seed):
            index = torch.randint(0, self.num_draws, (num_samples,), device=self._mean.device)
            samples = d.sample()  # one noise draw per posterior draw: (S, N)
            reps = math.ceil(num_samples / self.num_draws)
            if reps > 1:
                samples = d.sample((reps,)).reshape((-1,) + samples.shape[1:])
                index = torch.randperm(samples.shape[0])[:num_samples]
        return samples[index].to(self._mean.dtype) * self._y_scale + self._y_loc

    def _has_cdf(self, d) -> bool:
        try:
            d.cdf(d.mean[:1] if d.mean.dim() else d.mean)
            return True
        except NotImplementedError:
            return False

    @_public
    def cdf(self, y):
        """Predictive CDF at ``y`` (probability integral transform): ``(N,)``."""
        d = self._distribution()
        if self._has_cdf(d):
            return d.cdf(self._to_model_units(y)).mean(0)
        y = as_tensor(y, "y", dtype=self._mean.dtype, device=self._mean.device)
        return (self.sample(4000) <= y.reshape(self._mean.shape)).to(self._mean.dtype).mean(0)

    @_public
    def quantile(self, q):
        """Quantiles of the full predictive (mixture over draws, noise included).

        ``q`` a float → shape of :attr:`mean`; a sequence → ``(len(q), *mean.shape)``.
        Exact (bisection on the mixture CDF) when the likelihood has a CDF,
        otherwise from 4,000 predictive samples.
        """
        levels = _check_quantile(q)
        scalar = levels.dim() == 0
        levels = levels.reshape(-1).to(self._mean)
        d = self._distribution()
        if self._has_cdf(d):
            # bisection in model units, on the standardized mixture
            mean_draws = self._per_draw.mean()
            center = mean_draws.mean(0)
            spread = (mean_draws - center).abs().amax(0) + 10 * _scale_bound(d, mean_draws)
            low = (center - spread).expand((len(levels),) + center.shape).clone()
            high = (center + spread).expand((len(levels),) + center.shape).clone()
            target = levels.reshape((-1,) + (1,) * center.dim())
            for _ in range(60):
                middle = (low + high) / 2
                below = d.cdf(middle.unsqueeze(1)).mean(1) < target
                low = torch.where(below, middle, low)
                high = torch.where(below, high, middle)
            result = (low + high) / 2 * self._y_scale + self._y_loc
        else:
            result = torch.quantile(self.sample(4000), levels, dim=0)
        return result[0] if scalar else result

    @_public
    def interval(self, level: float = 0.9):
        """Central interval holding ``level`` of the full predictive mass: ``(low, high)``."""
        level = _check_level(level)
        bounds = self.quantile([(1 - level) / 2, (1 + level) / 2])
        return bounds[0], bounds[1]

    @_public
    def hpdi(self, level: float = 0.9, num_samples: int = 4000):
        """Highest posterior density interval of the full predictive, from predictive samples."""
        level = _check_level(level)
        bounds = _hpdi(self.sample(num_samples), level, dim=0)
        return bounds[0], bounds[1]

    @_public
    def epistemic_interval(self, level: float = 0.9):
        """Central interval of the mean function over draws (no noise): ``(low, high)``."""
        level = _check_level(level)
        q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=self._mean.dtype)
        bounds = torch.quantile(self.mean_draws, q.to(self._mean.device), dim=0)
        return bounds[0], bounds[1]


class ClassificationPrediction(Prediction):
    """Predictive class probabilities at ``N`` inputs with uncertainty in nats.

    Attributes
    ----------
    probs : (N, K) posterior-predictive class probabilities
    entropy : (N,) entropy of ``probs`` (total uncertainty)
    expected_entropy : (N,) mean over draws of each draw's entropy (aleatoric)
    mutual_information : (N,) ``entropy - expected_entropy`` (epistemic, BALD), ≥ 0
    """

    task = "classification"

    def __init__(
        self,
        probs,
        expected_entropy,
        per_draw: PerDraw | None,
        num_draws: int,
        *,
        as_numpy: bool = False,
        sites: dict | None = None,
    ):
        self._probs = probs
        self._expected_entropy = expected_entropy
        self._per_draw = per_draw
        self.num_draws = num_draws
        self.as_numpy = as_numpy
        self._sites = dict(sites or {})

    @property
    @_public
    def probs(self):
        """Posterior-predictive class probabilities ``(N, K)`` (rows sum to 1)."""
        return self._probs

    @property
    @_public
    def expected_entropy(self):
        """Mean over draws of each draw's entropy ``(N,)`` (aleatoric), in nats."""
        return self._expected_entropy

    @property
    @_public
    def entropy(self):
        """Predictive entropy ``H[E_s p_s]`` in nats."""
        return _entropy(self._probs)

    @property
    @_public
    def mutual_information(self):
        """Mutual information between label and weights, ``H[E p] - E H[p]`` (≥ 0)."""
        return (_entropy(self._probs) - self._expected_entropy).clamp_min(0.0)

    @property
    @_public
    def predicted_class(self):
        """Most probable class per input: ``(N,)`` int64."""
        return self._probs.argmax(-1)

    @property
    @_public
    def confidence(self):
        """Probability of the predicted class: ``(N,)``."""
        return self._probs.amax(-1)

    @property
    @_public
    def probs_draws(self):
        """Class probabilities per draw: ``(S, N, K)``."""
        self._require_draws("probs_draws")
        return self._per_draw.probs()

    @_public
    def log_prob_draws(self, y):
        """``log p(y_n | x_n, theta_s)``: ``(S, N)``."""
        self._require_draws("log_prob_draws")
        y = as_tensor(y, "y", dtype=self._probs.dtype, device=self._probs.device).reshape(-1)
        return self._per_draw.distribution().log_prob(y)


def _scale_bound(d, mean_draws: torch.Tensor) -> torch.Tensor:
    """Largest per-draw standard deviation (the spread of the means when there is none)."""
    try:
        return d.stddev.amax(0)
    except NotImplementedError:
        return mean_draws.std(0) + 1.0


def _entropy(probs: torch.Tensor) -> torch.Tensor:
    return -(probs * torch.log(probs.clamp_min(1e-30))).sum(-1)


def y_transform(posterior: Posterior, like: torch.Tensor):
    scaler = posterior.scaler
    if scaler is None or scaler.task != "regression":
        return 0.0, 1.0
    return (
        torch.as_tensor(scaler.y_mean, dtype=like.dtype, device=like.device),
        torch.as_tensor(scaler.y_std, dtype=like.dtype, device=like.device),
    )
