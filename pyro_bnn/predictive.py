"""Posterior-predictive summaries: predictions with uncertainty.

:func:`predict` evaluates the network for all posterior draws at once (no
Python loop over draws) in chunks of inputs, so memory stays bounded, and
returns a :class:`Prediction`:

- :class:`RegressionPrediction`: mean, total / epistemic / aleatoric variance,
  intervals, quantiles, predictive samples, CDF and log densities;
- :class:`ClassificationPrediction`: class probabilities, predictive entropy,
  expected entropy (aleatoric), mutual information (epistemic, BALD);

A user-written Pyro model gets the same two classes, from the distribution of its
observed site per draw. Results are numpy arrays when ``x`` was numpy.

The decomposition follows the law of total variance over the posterior draws
``theta_s``: ``Var[y] = Var_s(E[y | theta_s]) + E_s(Var[y | theta_s])``, i.e.
``total_var = epistemic_var + aleatoric_var`` on the same draws.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np
import pyro
import torch
from pyro.ops.stats import hpdi as _hpdi
from pyro.poutine.util import site_is_subsample

from .inference.common import resolve_device
from .isolation import check_seed, local_rng
from .nets import BayesianMLP
from .posterior import Posterior
from .validation import as_tensor, check_x

__all__ = [
    "predict",
    "Prediction",
    "RegressionPrediction",
    "ClassificationPrediction",
    "PerDraw",
]

# Elements of the widest activation tensor (draws x inputs x width) evaluated at once:
# 2**21 float32 = 8 MiB, within a shared L3 cache. Chosen from a sweep of 2**18 ... 2**24
# on the bench_predict problem (2**18 clearly slower, 2**20 to 2**23 alike): the cost is
# the activation itself, not the chunking.
_CHUNK_ELEMENTS = 2**21


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
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
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


def _check_positive_int_or_none(value, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def predict(
    posterior: Posterior,
    x,
    *,
    num_draws: int | None = None,
    seed: int = 0,
    chunk_size: int | None = None,
    keep_draws: bool = True,
    return_sites: Sequence[str] = (),
    device=None,
) -> Prediction:
    """Posterior-predictive distribution at new inputs, in the units of the training data.

    Parameters
    ----------
    posterior : Posterior
        From :func:`~pyro_bnn.fit_svi`, :func:`~pyro_bnn.fit_nuts` or a baseline.
    x : array (N, D)
        Inputs in your units (a 1-D array is one feature). The posterior's scaler,
        if any, is applied here and undone on the outputs.
    num_draws : int, optional
        Posterior draws to use (SVI default 1000; MCMC: all, or evenly thinned).
    seed : int
        Seeds the guide draws and any Monte Carlo summaries (global random streams
        are not touched).
    chunk_size : int, optional
        BayesianMLP: inputs evaluated at once; default keeps draws × chunk × width ≤
        2**21 (cache-sized).
    keep_draws : bool
        Keep the per-draw outputs (needed by intervals, quantiles, samples and log
        densities). ``False`` keeps only the moments (BayesianMLP).
    return_sites : sequence of str
        Latent or ``pyro.deterministic`` sites whose draws ``(S, ...)`` to keep in
        ``prediction.sites``.
    device
        Where to compute (default: the model's device).

    Returns
    -------
    RegressionPrediction or ClassificationPrediction
        Numpy arrays out when ``x`` is numpy, tensors when ``x`` is a tensor.

    Notes
    -----
    For a user-written model the predictive distribution comes from its observed
    site (``posterior.obs_site``): a discrete one with class probabilities
    (``Categorical``, ``Bernoulli``) gives a :class:`ClassificationPrediction`, any
    other one a :class:`RegressionPrediction`. The epistemic/aleatoric split uses the
    observed distribution's ``mean`` and ``variance`` per draw (law of total
    variance); plates with ``subsample_size`` are evaluated on all rows.

    Example
    -------
    >>> pred = predict(post, x_new, num_draws=1000)  # doctest: +SKIP
    >>> low, high = pred.interval(0.9)  # doctest: +SKIP
    """
    if not isinstance(posterior, Posterior):
        raise TypeError(f"posterior must be a pyro_bnn Posterior, got {type(posterior).__name__}")
    _check_positive_int_or_none(chunk_size, "chunk_size")
    _check_positive_int_or_none(num_draws, "num_draws")
    check_seed(seed)
    if isinstance(return_sites, str):
        return_sites = (return_sites,)
    as_numpy = not isinstance(x, torch.Tensor)
    if posterior.scaler is not None:
        x = posterior.scaler.transform_x(_check_features(x, posterior.scaler.num_features))
    model = posterior.model
    if isinstance(model, BayesianMLP):
        if device is not None:
            model.to(resolve_device(device))
        unknown = [name for name in return_sites if name not in posterior.latent_shapes]
        if unknown:
            raise ValueError(
                f"return_sites {unknown} are not sites of this BayesianMLP; its latent sites: "
                f"{', '.join(posterior.latent_shapes)}"
            )
        prediction = _predict_network(
            posterior, x, num_draws, seed, chunk_size, keep_draws, tuple(return_sites)
        )
    else:
        prediction = _predict_user_model(posterior, x, num_draws, seed, tuple(return_sites))
    prediction.as_numpy = as_numpy
    return prediction


def _check_features(x, num_features: int):
    """``x`` as a 2-D array (a 1-D array is one feature) with a clear error on width."""
    array = x if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[1] != num_features:
        raise ValueError(
            f"x must have shape (N, {num_features}) (the training data's columns), "
            f"found shape {tuple(array.shape)}"
        )
    return array


def _y_transform(posterior: Posterior, like: torch.Tensor):
    scaler = posterior.scaler
    if scaler is None or scaler.task != "regression":
        return 0.0, 1.0
    return (
        torch.as_tensor(scaler.y_mean, dtype=like.dtype, device=like.device),
        torch.as_tensor(scaler.y_std, dtype=like.dtype, device=like.device),
    )


def _predict_network(
    posterior, x, num_draws, seed, chunk_size, keep_draws, return_sites=()
) -> Prediction:
    """Prediction of a BayesianMLP: all draws at once, chunked over inputs."""
    model = posterior.model
    like = model._like
    x = check_x(x, model.in_features, dtype=like.dtype, device=like.device)
    draws = {k: v.to(like) for k, v in posterior.sample(num_draws, seed=seed).items()}
    num_samples = next(iter(draws.values())).shape[0]
    num_inputs = x.shape[0]
    width = max(w for sizes in model.layer_sizes for w in sizes)
    chunk_size = min(
        chunk_size or max(1, _CHUNK_ELEMENTS // (num_samples * width)), max(1, num_inputs)
    )
    likelihood = model.likelihood
    forward = _ChunkedForward(model, draws, chunk_size)
    out_size = model.layer_sizes[-1][1]
    # every result is written into tensors allocated once: no per-chunk lists and no
    # concatenation at the end (which would briefly hold all pieces twice)
    outputs = like.new_empty((num_samples, num_inputs, out_size)) if keep_draws else None
    summaries: list[torch.Tensor] | None = None
    with torch.no_grad():
        for start in range(0, num_inputs, chunk_size):
            stop = min(start + chunk_size, num_inputs)
            out = forward(x[start:stop])
            if likelihood.task == "classification":
                probs = likelihood.probs(out, draws)
                pieces = (probs.mean(0), _entropy(probs).mean(0))
            else:
                mean, var = likelihood.mean_var(out, draws)
                pieces = (*_mean_and_var_over_draws(mean), var.mean(0))
            if summaries is None:
                summaries = [p.new_empty((num_inputs,) + p.shape[1:]) for p in pieces]
            for summary, piece in zip(summaries, pieces, strict=True):
                summary[start:stop] = piece
            if outputs is not None:
                outputs[:, start:stop] = out
    values = {k: v for k, v in draws.items() if not k.startswith("layers.")}
    per_draw = None
    if outputs is not None:
        per_draw = PerDraw(
            distribution=lambda: likelihood.distribution(outputs, values),
            mean=lambda: likelihood.mean_var(outputs, values)[0],
            probs=lambda: likelihood.probs(outputs, values),
        )
    if likelihood.task == "classification":
        prediction = ClassificationPrediction(*summaries, per_draw, num_samples)
    else:
        y_loc, y_scale = _y_transform(posterior, like)
        prediction = RegressionPrediction(
            *summaries, per_draw, seed, num_samples, y_loc=y_loc, y_scale=y_scale
        )
    prediction._outputs = outputs  # (S, N, out) network outputs in model units, or None
    prediction._sites = {name: draws[name] for name in return_sites}  # the draws used above
    return prediction


def _mean_and_var_over_draws(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population variance over dim 0 in two passes (centred, so stable).

    ``torch.var_mean(t, 0)`` is a strided Welford reduction, much slower on ``(S, n)``.
    """
    mean = t.sum(0).div_(t.shape[0])
    deviation = t - mean
    return mean, deviation.mul_(deviation).sum(0).div_(t.shape[0])


def _gelu_(t: torch.Tensor) -> torch.Tensor:
    """GELU written back into ``t`` (torch has no public in-place GELU)."""
    return t.copy_(torch.nn.functional.gelu(t))


# In-place versions of nets.ACTIVATIONS (the same kernels, so the same numbers).
_ACTIVATIONS_INPLACE = {
    "tanh": torch.tanh_,
    "relu": torch.relu_,
    "gelu": _gelu_,
    "silu": lambda t: torch.nn.functional.silu(t, inplace=True),
    "sigmoid": torch.sigmoid_,
}


class _ChunkedForward:
    """``model.network(draws, x_chunk)`` for chunks of at most ``chunk_size`` inputs.

    Each layer is one ``baddbmm`` over all draws writing into a buffer allocated once
    (sized for ``chunk_size`` inputs) and the activation is applied in place. Fresh
    activation tensors per chunk cost more than the arithmetic: large blocks go back to
    the operating system when freed and their pages fault in again on the next chunk.
    Returns ``(S, n, output_size)``, a view of a buffer that the next call overwrites.
    Draws that are not ``(S, out, in)`` / ``(S, out)`` use :meth:`BayesianMLP.network`.
    """

    def __init__(self, model: BayesianMLP, draws: dict, chunk_size: int):
        num_samples = next(iter(draws.values())).shape[0]
        self.num_samples = num_samples
        self.layers = []
        for i, (fan_in, fan_out) in enumerate(model.layer_sizes):
            weight, bias = draws[f"layers.{i}.weight"], draws[f"layers.{i}.bias"]
            if weight.shape != (num_samples, fan_out, fan_in) or bias.shape != (
                num_samples,
                fan_out,
            ):
                self.layers = None
                break
            self.layers.append((weight.transpose(1, 2), bias.unsqueeze(1), fan_out))
        self.model, self.draws = model, draws
        self.activation = _ACTIVATIONS_INPLACE[model.activation]
        like = model._like
        # two buffers used alternately: a layer's input is the previous layer's output
        sizes = [num_samples * chunk_size * w for _, w in model.layer_sizes]
        self.buffers = (
            [like.new_empty(max(sizes[0::2])), like.new_empty(max(sizes[1::2], default=0))]
            if self.layers is not None
            else None
        )

    def __call__(self, xc: torch.Tensor) -> torch.Tensor:
        if self.layers is None:
            return self.model.network(self.draws, xc)
        s, n = self.num_samples, xc.shape[0]
        h = xc.unsqueeze(0).expand(s, n, xc.shape[1])
        last = len(self.layers) - 1
        for i, (weight_t, bias, fan_out) in enumerate(self.layers):
            result = self.buffers[i % 2][: s * n * fan_out].view(s, n, fan_out)
            torch.baddbmm(bias, h, weight_t, out=result)
            if i < last:
                self.activation(result)
            h = result
        return h


def _predict_user_model(posterior: Posterior, x, num_draws, seed, return_sites) -> Prediction:
    """Prediction of a user-written Pyro model from its observed site's distribution per draw."""
    model, obs_site = posterior.model, posterior.obs_site
    like = posterior.example_data[0] if posterior.example_data else None
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    x = as_tensor(x, "x", dtype=dtype, device=None if like is None else like.device)
    draws = posterior.sample(num_draws, seed=seed)
    num_samples = next(iter(draws.values())).shape[0] if draws else 1
    with posterior.param_scope(), local_rng(seed), torch.no_grad(), pyro.poutine.block():
        base = pyro.poutine.trace(model).get_trace(x)  # one prior run: plates and sites
        if obs_site not in base.nodes:
            sites = [n for n, s in base.nodes.items() if s["type"] == "sample"]
            raise ValueError(
                f"the model has no site {obs_site!r} when called as model(x); its sample "
                f"sites: {sites}. Fit with obs_site='<name>'"
            )
        chunks, plate_dim = _row_chunks(base, obs_site)
        runs = []
        for rows in chunks:  # a plate with subsample_size: every row, a subsample at a time
            runs.append(_vectorized_run(model, x, draws, rows, num_samples, base, obs_site))
            if runs[-1][0] is None:  # the model does not broadcast over draws
                runs[-1] = _draw_by_draw(model, x, draws, rows, num_samples, obs_site)
    fn, values = _join_row_chunks(runs, chunks, plate_dim, obs_site, base)
    sites = _collect_sites(return_sites, draws, values, base)
    probs_draws = _class_probs(fn)
    if probs_draws is not None:
        return ClassificationPrediction(
            probs_draws.mean(0),
            _entropy(probs_draws).mean(0),
            PerDraw(distribution=lambda: fn, probs=lambda: probs_draws),
            num_samples,
            sites=sites,
        )
    hint = (
        f"the observed site {obs_site!r} has a {type(fn).__name__} without a mean and variance "
        "per draw, so the epistemic/aleatoric split is unavailable; observe y with a "
        "distribution that has them (Normal, StudentT with df > 2, Poisson, ...)"
    )
    try:
        mean_draws, var_draws = fn.mean.to(dtype), fn.variance.to(dtype)
    except NotImplementedError:
        mean_draws, var_draws = values[obs_site].to(dtype), None
    mean, epistemic = _mean_and_var_over_draws(mean_draws)
    y_loc, y_scale = _y_transform(posterior, mean)
    return RegressionPrediction(
        mean,
        epistemic if var_draws is not None else None,
        var_draws.mean(0) if var_draws is not None else None,
        PerDraw(distribution=lambda: fn, mean=lambda: mean_draws),
        seed,
        num_samples,
        y_loc=y_loc,
        y_scale=y_scale,
        sites=sites,
        no_variance_hint=hint,
    )


def _row_chunks(base, obs_site: str) -> tuple[list[dict], int | None]:
    """Subsample indices that cover every row of a subsampled plate, a subsample at a time.

    Returns ``([{plate: indices}, ...], the plate's dim)``; ``([{}], None)`` without
    subsampling. The last chunk is filled up with rows from the start (dropped later).
    """
    subsampled = [
        site
        for site in base.nodes.values()
        if site_is_subsample(site)
        and (site["fn"].subsample_size or site["fn"].size) < site["fn"].size
    ]
    if not subsampled:
        return [{}], None
    if len(subsampled) > 1:
        names = [site["name"] for site in subsampled]
        raise ValueError(f"predict supports one subsampled plate, the model has {names}")
    site = subsampled[0]
    name, size = site["name"], site["fn"].size
    batch = site["fn"].subsample_size
    frames = [f for f in base.nodes[obs_site]["cond_indep_stack"] if f.name == name]
    if not frames:
        raise ValueError(
            f"the observed site {obs_site!r} is not inside the subsampled plate {name!r}"
        )
    rows = torch.arange(size + (-size) % batch) % size
    return [{name: chunk} for chunk in rows.split(batch)], frames[0].dim


def _join_row_chunks(runs: list, chunks: list[dict], plate_dim, obs_site: str, base):
    """One distribution and value of the observed site over all rows, from per-chunk runs."""
    if len(runs) == 1 and plate_dim is None:
        return runs[0]
    (plate_name,) = chunks[0]
    size = int(max(chunk[plate_name].max() for chunk in chunks)) + 1
    values = {}
    for name, first in runs[0][1].items():
        site = base.nodes.get(name)
        in_plate = site is not None and any(f.name == plate_name for f in site["cond_indep_stack"])
        if not in_plate:
            values[name] = first
            continue
        event_dims = len(site["fn"].event_shape)
        values[name] = _cat_rows([v[name] for _, v in runs], plate_dim - event_dims, size)
    fns = [fn for fn, _ in runs]
    return _combine_distributions(fns, obs_site, plate_dim, size), values


def _cat_rows(parts: list[torch.Tensor], dim: int, size: int) -> torch.Tensor:
    return torch.cat(parts, dim=dim).narrow(dim, 0, size)


def _max_plate_nesting(trace) -> int:
    dims = [
        -frame.dim
        for site in trace.nodes.values()
        if site["type"] == "sample"
        for frame in site["cond_indep_stack"]
        if frame.vectorized and frame.dim is not None
    ]
    return max(dims, default=0)


def _vectorized_run(model, x, draws, full_rows, num_samples, base, obs_site):
    """All draws in one run under a plate left of the model's plates; ``(None, None)`` if
    the model does not broadcast over them."""
    nesting = _max_plate_nesting(base)
    reshaped = {
        name: value.reshape((num_samples,) + (1,) * (nesting - value.dim() + 1) + value.shape[1:])
        for name, value in draws.items()
    }
    expected = (num_samples, *base.nodes[obs_site]["value"].shape)
    try:
        with pyro.plate("_posterior_draws", num_samples, dim=-nesting - 1):
            trace = pyro.poutine.trace(
                pyro.poutine.condition(model, data={**reshaped, **full_rows})
            ).get_trace(x)
    except (RuntimeError, ValueError, IndexError):
        return None, None
    site = trace.nodes[obs_site]
    if tuple(site["value"].shape) != expected or tuple(site["fn"].batch_shape)[:1] != (
        num_samples,
    ):
        return None, None
    values = {name: s["value"] for name, s in trace.nodes.items() if s["type"] == "sample"}
    return site["fn"], values


def _draw_by_draw(model, x, draws, full_rows, num_samples, obs_site):
    """One run per draw; the observed distributions are stacked into one batched one."""
    fns, runs = [], []
    for s in range(num_samples):
        data = {name: value[s] for name, value in draws.items()}
        trace = pyro.poutine.trace(
            pyro.poutine.condition(model, data={**data, **full_rows})
        ).get_trace(x)
        fns.append(trace.nodes[obs_site]["fn"])
        runs.append(
            {n: site["value"] for n, site in trace.nodes.items() if site["type"] == "sample"}
        )
    values = {name: torch.stack([run[name] for run in runs]) for name in runs[0]}
    return _combine_distributions(fns, obs_site), values


def _combine_distributions(fns: list, obs_site: str, plate_dim=None, size=None):
    """Distributions of one class → one: stacked on a new leading draw dim (``plate_dim``
    None) or joined along the plate's batch dim (and cut to ``size`` rows)."""
    first = fns[0]
    if isinstance(first, torch.distributions.Independent):
        base = _combine_distributions([fn.base_dist for fn in fns], obs_site, plate_dim, size)
        return torch.distributions.Independent(base, first.reinterpreted_batch_ndims)
    names = [name for name in first.arg_constraints if name in first.__dict__]
    if "logits" in names and "probs" in names:
        names.remove("probs")
    batch_dims = len(first.batch_shape)

    def join(values: list[torch.Tensor]) -> torch.Tensor:
        if plate_dim is None:
            return torch.stack(values)
        values = [
            v.expand(fn.batch_shape + v.shape[batch_dims:])
            for v, fn in zip(values, fns, strict=True)
        ]
        return _cat_rows(values, plate_dim - (values[0].dim() - batch_dims), size)

    try:
        return type(first)(**{name: join([getattr(fn, name) for fn in fns]) for name in names})
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"cannot combine the draws of the observed site {obs_site!r} "
            f"({type(first).__name__}): {error}. Write the model so that it broadcasts over "
            "a leading draw dimension (see DESIGN 'Models that vectorize')"
        ) from None


def _class_probs(fn) -> torch.Tensor | None:
    """Class probabilities ``(S, N, K)`` of a Categorical/Bernoulli observation, else None."""
    if isinstance(fn, torch.distributions.Categorical | torch.distributions.OneHotCategorical):
        return fn.probs
    if isinstance(fn, torch.distributions.Bernoulli):
        return torch.stack([1 - fn.probs, fn.probs], dim=-1)
    return None


def _collect_sites(return_sites, draws, values, base) -> dict:
    sites = {}
    for name in return_sites:
        if name in draws:
            sites[name] = draws[name]
        elif name in values:
            sites[name] = values[name]
        else:
            available = [n for n, s in base.nodes.items() if s["type"] == "sample"]
            raise ValueError(f"return_sites: the model has no site {name!r}; it has {available}")
    return sites
