"""Proper scoring rules and calibration metrics for posterior-predictive distributions.

Low-level functions take arrays (``torch.Tensor``, ``numpy.ndarray`` or nested lists),
compute in float64 torch and return Python floats. :func:`evaluate` takes a
``Prediction`` from :mod:`pyro_bnn.predictive` and returns every metric for its task
as a ``dict[str, float]``.

Regression: :func:`rmse`, :func:`mae`, :func:`log_likelihood`, :func:`crps_empirical`,
:func:`crps_gaussian`, :func:`interval_coverage`, :func:`quantile_calibration_error`,
:func:`calibration_curve`.

Classification: :func:`accuracy`, :func:`nll`, :func:`brier`,
:func:`expected_calibration_error`, :func:`reliability_curve`.

Out-of-distribution detection: :func:`auroc`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pyro.ops.stats
import torch

from pyro_bnn.validation import as_tensor

__all__ = [
    "CalibrationCurve",
    "ReliabilityCurve",
    "accuracy",
    "auroc",
    "brier",
    "calibration_curve",
    "crps_empirical",
    "crps_gaussian",
    "default_calibration_levels",
    "evaluate",
    "expected_calibration_error",
    "interval_coverage",
    "log_likelihood",
    "mae",
    "nll",
    "quantile_calibration_error",
    "reliability_curve",
    "rmse",
]

#: Probabilities are clamped to at least this before taking logs in :func:`nll`,
#: so a confidently wrong prediction costs ``-log(1e-12) ~= 27.6`` nats, not ``inf``.
PROB_FLOOR = 1e-12

#: Rows of class probabilities must sum to one within this absolute tolerance.
PROB_SUM_TOLERANCE = 1e-4

_DTYPE = torch.float64


# --------------------------------------------------------------------------- checks


def _array(values: Any, name: str, ndim: int | None = None) -> torch.Tensor:
    """Convert to a finite, non-empty float64 tensor with ``ndim`` dims (if given)."""
    tensor = as_tensor(values, name, dtype=_DTYPE)
    if ndim is not None and tensor.dim() != ndim:
        expected = {1: "(N,)", 2: "(S, N)"}.get(ndim, f"{ndim} dims")
        raise ValueError(f"{name} must have shape {expected}, found shape {tuple(tensor.shape)}")
    if tensor.dim() == 0:
        raise ValueError(f"{name} must be an array with one value per data point, found a scalar")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)}); need at least one value")
    _check_finite(tensor, name)
    return tensor


def _check_finite(tensor: torch.Tensor, name: str) -> None:
    bad = ~torch.isfinite(tensor)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        kind = "NaN" if torch.isnan(tensor[index]) else "inf"
        where = index[0] if len(index) == 1 else index
        raise ValueError(f"{name} contains {kind} at index {where}")


def _check_same_shape(**arrays: torch.Tensor) -> None:
    (first_name, first), *rest = arrays.items()
    for name, tensor in rest:
        if tensor.shape != first.shape:
            raise ValueError(
                f"{first_name} and {name} have different shapes: {first_name} has shape "
                f"{tuple(first.shape)}, {name} has shape {tuple(tensor.shape)}"
            )


def _check_length(
    n: int, name: str, tensor: torch.Tensor, dim: int = 0, reference: str = "y"
) -> None:
    if tensor.shape[dim] != n:
        raise ValueError(
            f"{name} has {tensor.shape[dim]} data points along dim {dim} "
            f"(shape {tuple(tensor.shape)}), expected {n} to match {reference}"
        )


def _check_unit_interval(tensor: torch.Tensor, name: str, closed: bool = True) -> None:
    bad = (tensor < 0) | (tensor > 1) if closed else (tensor <= 0) | (tensor >= 1)
    if bad.any():
        index = int(bad.flatten().nonzero()[0])
        interval = "[0, 1]" if closed else "(0, 1)"
        raise ValueError(
            f"{name} must lie in {interval}, found {float(tensor.flatten()[index])} "
            f"at index {index}"
        )


def _check_positive_scalar(value: float, name: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, found {value}")
    return value


def _probs_and_labels(probs: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``probs: (N, K)`` (or ``(N,)`` = P(class 1) of a binary problem) and labels."""
    probs = _array(probs, "probs")
    if probs.dim() == 1:
        _check_unit_interval(probs, "probs")
        probs = torch.stack([1 - probs, probs], dim=-1)
    if probs.dim() != 2:
        raise ValueError(
            f"probs must have shape (N, K) (or (N,) for binary P(class 1)), "
            f"found shape {tuple(probs.shape)}"
        )
    _check_unit_interval(probs, "probs")
    row_sums = probs.sum(-1)
    off = (row_sums - 1).abs() > PROB_SUM_TOLERANCE
    if off.any():
        row = int(off.nonzero()[0])
        raise ValueError(
            f"probs rows must sum to 1 (tolerance {PROB_SUM_TOLERANCE}), row {row} sums to "
            f"{float(row_sums[row]):.6g}; pass probabilities, not logits"
        )
    labels = _array(y, "y", ndim=1)
    _check_length(probs.shape[0], "y", labels, reference="the rows of probs")
    num_classes = probs.shape[1]
    not_integer = labels != torch.round(labels)
    if not_integer.any():
        row = int(not_integer.nonzero()[0])
        raise ValueError(
            f"class labels y must be integers, found {float(labels[row])} at row {row}"
        )
    out_of_range = (labels < 0) | (labels > num_classes - 1)
    if out_of_range.any():
        row = int(out_of_range.nonzero()[0])
        raise ValueError(
            f"y has labels out of range: probs has {num_classes} classes, labels in "
            f"[0, {num_classes - 1}] expected, found label {int(labels[row])} at row {row}"
        )
    return probs, labels.long()


# --------------------------------------------------------------------------- regression


def rmse(y: Any, mean: Any) -> float:
    """Root mean squared error ``sqrt(mean((y - mean)^2))``.

    Parameters
    ----------
    y, mean : (N,) or (N, D)
        Observations and point predictions (same shape).
    """
    y, mean = _array(y, "y"), _array(mean, "mean")
    _check_same_shape(y=y, mean=mean)
    return float((y - mean).pow(2).mean().sqrt())


def mae(y: Any, mean: Any) -> float:
    """Mean absolute error ``mean(|y - mean|)``.

    Parameters
    ----------
    y, mean : (N,) or (N, D)
        Observations and point predictions (same shape).
    """
    y, mean = _array(y, "y"), _array(mean, "mean")
    _check_same_shape(y=y, mean=mean)
    return float((y - mean).abs().mean())


def log_likelihood(log_prob_draws: Any, y_scale: float = 1.0) -> float:
    """Test log-likelihood of the posterior predictive, averaged over points.

    ``(1/N) sum_n log((1/S) sum_s p(y_n | theta_s)) - log(y_scale)``, computed with
    log-sum-exp so very negative log-densities do not underflow. This is the "test
    log-likelihood" reported in the UCI BNN literature (Hernandez-Lobato & Adams 2015).

    Parameters
    ----------
    log_prob_draws : (S, N)
        ``log p(y_n | theta_s)`` for posterior draw ``s`` and test point ``n``.
        ``-inf`` entries are allowed (a draw that gives the point zero density).
    y_scale : float
        If the model was fit to standardized targets ``(y - loc) / y_scale``, the
        densities are per standardized unit; subtracting ``log(y_scale)`` per point
        (change of variables) reports the log-likelihood in the original units of y.

    Returns
    -------
    float
        Mean log predictive density per point (higher is better).
    """
    y_scale = _check_positive_scalar(y_scale, "y_scale")
    log_prob = as_tensor(log_prob_draws, "log_prob_draws", dtype=_DTYPE)
    if log_prob.dim() != 2:
        raise ValueError(
            f"log_prob_draws must have shape (S, N) (draws x points), "
            f"found shape {tuple(log_prob.shape)}"
        )
    if log_prob.numel() == 0:
        raise ValueError(f"log_prob_draws is empty (shape {tuple(log_prob.shape)})")
    bad = torch.isnan(log_prob) | (log_prob == math.inf)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        kind = "NaN" if torch.isnan(log_prob[index]) else "+inf"
        raise ValueError(f"log_prob_draws contains {kind} at index {index}")
    num_draws = log_prob.shape[0]
    per_point = torch.logsumexp(log_prob, dim=0) - math.log(num_draws)
    return float(per_point.mean()) - math.log(y_scale)


def crps_empirical(samples: Any, y: Any) -> float:
    """Mean continuous ranked probability score from predictive samples (lower is better).

    ``CRPS_n = E|X - y_n| - 1/2 E|X - X'|`` with ``X, X'`` drawn from the ``S`` samples
    (all ``S^2`` pairs, Gneiting & Raftery 2007); wraps :func:`pyro.ops.stats.crps_empirical`
    and averages over points. With one sample it is the absolute error.

    Parameters
    ----------
    samples : (S, N)
        Draws from the predictive distribution of each point (noise included).
    y : (N,)
        Observations.
    """
    y = _array(y, "y", ndim=1)
    samples = _array(samples, "samples", ndim=2)
    _check_length(y.shape[0], "samples", samples, dim=1)
    return float(pyro.ops.stats.crps_empirical(samples, y).mean())


def crps_gaussian(mean: Any, std: Any, y: Any) -> float:
    """Mean CRPS of Gaussian predictives ``N(mean_n, std_n^2)`` in closed form.

    ``CRPS = std * (z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi))`` with
    ``z = (y - mean) / std`` (Gneiting & Raftery 2007, eq. 21).

    Parameters
    ----------
    mean, std : (N,)
        Predictive mean and standard deviation (``std > 0``).
    y : (N,)
        Observations.
    """
    y = _array(y, "y", ndim=1)
    mean, std = _array(mean, "mean", ndim=1), _array(std, "std", ndim=1)
    _check_same_shape(y=y, mean=mean, std=std)
    if (std <= 0).any():
        row = int((std <= 0).nonzero()[0])
        raise ValueError(f"std must be positive, found {float(std[row])} at index {row}")
    z = (y - mean) / std
    pdf = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    cdf = torch.special.ndtr(z)
    crps = std * (z * (2 * cdf - 1) + 2 * pdf - 1 / math.sqrt(math.pi))
    return float(crps.mean())


def interval_coverage(y: Any, low: Any, high: Any) -> float:
    """Fraction of observations inside their interval, ``mean(low <= y <= high)``.

    Parameters
    ----------
    y, low, high : (N,) or (N, D)
        Observations and interval ends (same shape, ``low <= high``).
    """
    y, low, high = _array(y, "y"), _array(low, "low"), _array(high, "high")
    _check_same_shape(y=y, low=low, high=high)
    if (low > high).any():
        index = int((low > high).flatten().nonzero()[0])
        raise ValueError(
            f"low must be <= high, found low={float(low.flatten()[index])} > "
            f"high={float(high.flatten()[index])} at flat index {index}"
        )
    return float(((low <= y) & (y <= high)).to(_DTYPE).mean())


def default_calibration_levels() -> torch.Tensor:
    """The 19 levels ``0.05, 0.10, ..., 0.95`` used when ``levels=None``."""
    return torch.linspace(0.05, 0.95, 19, dtype=_DTYPE)


class CalibrationCurve(NamedTuple):
    """Regression calibration curve: ``observed[j]`` fraction of PIT values ``<= expected[j]``."""

    expected: np.ndarray
    observed: np.ndarray


def _pit_and_levels(pit: Any, levels: Any) -> tuple[torch.Tensor, torch.Tensor]:
    pit = _array(pit, "pit", ndim=1)
    _check_unit_interval(pit, "pit")
    levels = default_calibration_levels() if levels is None else _array(levels, "levels", ndim=1)
    _check_unit_interval(levels, "levels")
    return pit, levels


def calibration_curve(pit: Any, levels: Any = None) -> CalibrationCurve:
    """Expected vs observed frequency of ``F_n(y_n) <= p`` for each level ``p``.

    A calibrated regressor has ``observed ~= expected`` (the diagonal).

    Parameters
    ----------
    pit : (N,)
        Probability integral transform values ``F_n(y_n)`` in [0, 1] (predictive CDF
        evaluated at the observation).
    levels : (L,), optional
        Levels ``p_j`` in [0, 1]; default :func:`default_calibration_levels`.

    Returns
    -------
    CalibrationCurve
        ``(expected, observed)`` numpy arrays of shape ``(L,)``.
    """
    pit, levels = _pit_and_levels(pit, levels)
    observed = (pit.unsqueeze(0) <= levels.unsqueeze(1)).to(_DTYPE).mean(1)
    return CalibrationCurve(levels.numpy().copy(), observed.numpy())


def quantile_calibration_error(pit: Any, levels: Any = None) -> float:
    """Quantile calibration error of a regressor (Kuleshov et al. 2018), lower is better.

    ``(1/L) sum_j (p_j - phat_j)^2`` with ``phat_j = (1/N) #{n : F_n(y_n) <= p_j}``:
    the *mean* (not the sum) over levels of the squared gap between expected and
    observed frequency, i.e. Kuleshov et al.'s eq. (9) with weights ``w_j = 1/L``.
    Zero for perfect calibration; for uniform PIT values its expectation is
    ``(1/L) sum_j p_j (1 - p_j) / N``.

    Parameters
    ----------
    pit : (N,)
        PIT values ``F_n(y_n)`` in [0, 1].
    levels : (L,), optional
        Levels ``p_j``; default ``0.05, 0.10, ..., 0.95`` (19 levels).
    """
    expected, observed = calibration_curve(pit, levels)
    return float(np.mean((expected - observed) ** 2))


# --------------------------------------------------------------------------- classification


def accuracy(probs: Any, y: Any) -> float:
    """Fraction of points whose most probable class (first on ties) is the label.

    Parameters
    ----------
    probs : (N, K) or (N,)
        Predictive class probabilities (rows sum to 1); a 1-D array is P(class 1)
        of a binary problem.
    y : (N,)
        Integer labels in ``[0, K-1]``.
    """
    probs, labels = _probs_and_labels(probs, y)
    return float((probs.argmax(-1) == labels).to(_DTYPE).mean())


def nll(probs: Any, y: Any) -> float:
    """Mean negative log probability of the true class, ``-(1/N) sum_n log p_n[y_n]``.

    Probabilities are clamped to at least ``PROB_FLOOR = 1e-12`` to avoid ``log 0``.

    Parameters
    ----------
    probs : (N, K) or (N,)
        Predictive class probabilities (see :func:`accuracy`).
    y : (N,)
        Integer labels in ``[0, K-1]``.
    """
    probs, labels = _probs_and_labels(probs, y)
    true_class = probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return float(-true_class.clamp_min(PROB_FLOOR).log().mean())


def brier(probs: Any, y: Any) -> float:
    """Multi-class Brier score ``(1/N) sum_n sum_k (p_nk - 1[y_n = k])^2`` (Brier 1950).

    Summed over classes, averaged over points, so it lies in [0, 2]. For a binary
    problem this is twice the common one-column form ``mean((p_n - y_n)^2)``.

    Parameters
    ----------
    probs : (N, K) or (N,)
        Predictive class probabilities (see :func:`accuracy`).
    y : (N,)
        Integer labels in ``[0, K-1]``.
    """
    probs, labels = _probs_and_labels(probs, y)
    one_hot = torch.nn.functional.one_hot(labels, probs.shape[-1]).to(_DTYPE)
    return float((probs - one_hot).pow(2).sum(-1).mean())


class ReliabilityCurve(NamedTuple):
    """Per-bin mean confidence, accuracy (NaN for empty bins) and point count."""

    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray


def _confidence_bins(
    probs: Any, y: Any, num_bins: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-bin (sum of confidence, sum of correct, count), plus N."""
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
        raise ValueError(f"num_bins must be a positive integer, found {num_bins!r}")
    probs, labels = _probs_and_labels(probs, y)
    confidence, predicted = probs.max(-1)
    correct = (predicted == labels).to(_DTYPE)
    # Bin b holds confidences in (b/B, (b+1)/B]; the first bin also holds 0.
    bin_index = (torch.ceil(confidence * num_bins).long() - 1).clamp(0, num_bins - 1)
    count = torch.zeros(num_bins, dtype=_DTYPE).index_add_(0, bin_index, torch.ones_like(correct))
    confidence_sum = torch.zeros(num_bins, dtype=_DTYPE).index_add_(0, bin_index, confidence)
    correct_sum = torch.zeros(num_bins, dtype=_DTYPE).index_add_(0, bin_index, correct)
    return confidence_sum, correct_sum, count, torch.tensor(float(labels.shape[0]))


def reliability_curve(probs: Any, y: Any, num_bins: int = 15) -> ReliabilityCurve:
    """Reliability diagram data: mean confidence and accuracy per confidence bin.

    Confidence is the top-class probability ``max_k p_nk``; bins are ``num_bins``
    equal-width intervals ``(b/B, (b+1)/B]`` of [0, 1].

    Parameters
    ----------
    probs : (N, K) or (N,)
        Predictive class probabilities (see :func:`accuracy`).
    y : (N,)
        Integer labels in ``[0, K-1]``.
    num_bins : int
        Number of equal-width bins ``B``.

    Returns
    -------
    ReliabilityCurve
        ``(confidence, accuracy, count)`` numpy arrays of shape ``(B,)``; confidence
        and accuracy are NaN in empty bins.
    """
    confidence_sum, correct_sum, count, _ = _confidence_bins(probs, y, num_bins)
    mean_confidence = (confidence_sum / count).numpy()  # 0/0 = NaN for empty bins
    mean_accuracy = (correct_sum / count).numpy()
    return ReliabilityCurve(mean_confidence, mean_accuracy, count.long().numpy())


def expected_calibration_error(probs: Any, y: Any, num_bins: int = 15) -> float:
    """Expected calibration error with equal-width confidence bins (Guo et al. 2017).

    ``ECE = sum_b (n_b / N) |acc_b - conf_b|`` over non-empty bins, where ``conf_b`` and
    ``acc_b`` are the mean top-class probability and accuracy of the ``n_b`` points in
    bin ``b`` (bins as in :func:`reliability_curve`).

    Parameters
    ----------
    probs : (N, K) or (N,)
        Predictive class probabilities (see :func:`accuracy`).
    y : (N,)
        Integer labels in ``[0, K-1]``.
    num_bins : int
        Number of equal-width bins.
    """
    confidence_sum, correct_sum, _, num_points = _confidence_bins(probs, y, num_bins)
    # n_b/N * |acc_b - conf_b| = |correct_sum_b - confidence_sum_b| / N
    return float((correct_sum - confidence_sum).abs().sum() / num_points)


# --------------------------------------------------------------------------- OOD detection


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks with ties given the average of the ranks they span."""
    _, inverse, counts = torch.unique(values, sorted=True, return_inverse=True, return_counts=True)
    counts = counts.to(_DTYPE)
    first_rank = torch.cumsum(counts, 0) - counts + 1
    return (first_rank + (counts - 1) / 2)[inverse]


def auroc(scores_in: Any, scores_out: Any) -> float:
    """Area under the ROC curve for flagging out-of-distribution inputs by a score.

    Out-of-distribution points are the positives (a higher score should mean "more
    OOD", e.g. predictive entropy or mutual information). Computed exactly as the
    Mann-Whitney statistic ``P(s_out > s_in) + 1/2 P(s_out = s_in)`` over all pairs,
    via tie-averaged ranks in ``O(N log N)``. 1 is perfect separation, 0.5 chance.

    Parameters
    ----------
    scores_in : (N_in,)
        Scores of in-distribution inputs.
    scores_out : (N_out,)
        Scores of out-of-distribution inputs.
    """
    scores_in = _array(scores_in, "scores_in", ndim=1)
    scores_out = _array(scores_out, "scores_out", ndim=1)
    num_in, num_out = scores_in.shape[0], scores_out.shape[0]
    ranks = _average_ranks(torch.cat([scores_out, scores_in]))
    rank_sum_out = ranks[:num_out].sum()
    u_statistic = rank_sum_out - num_out * (num_out + 1) / 2
    return float(u_statistic / (num_in * num_out))


# --------------------------------------------------------------------------- Prediction


def _level_key(level: float) -> str:
    percent = round(level * 100, 6)
    return f"coverage_{int(percent)}" if percent == int(percent) else f"coverage_{percent:g}"


def _single_output(values: Any, name: str, num_points: int, leading: int = 0) -> torch.Tensor:
    """Accept ``(..., N)`` or ``(..., N, 1)``; reject multi-output arrays."""
    tensor = as_tensor(values, name, dtype=_DTYPE)
    expected_dims = leading + 1
    if tensor.dim() == expected_dims + 1 and tensor.shape[-1] == 1:
        tensor = tensor.squeeze(-1)
    if tensor.dim() != expected_dims or tensor.shape[-1] != num_points:
        shape = "(S, N)" if leading else "(N,)"
        raise ValueError(
            f"evaluate supports single-output regression only: {name} must have shape "
            f"{shape} with N={num_points}, found shape {tuple(tensor.shape)}"
        )
    return tensor


def evaluate(
    prediction: Any,
    y: Any,
    levels: Sequence[float] = (0.5, 0.9, 0.95),
    y_scale: float = 1.0,
    num_samples: int = 1000,
    num_bins: int = 15,
) -> dict[str, float]:
    """All metrics of a ``Prediction`` against observations, as plain floats.

    Regression (``prediction.task == "regression"``, single output): ``rmse``, ``mae``,
    ``test_ll`` (:func:`log_likelihood` of ``prediction.log_prob_draws(y)``), ``crps``
    (:func:`crps_empirical` of ``prediction.sample(num_samples, seed=0)``, or
    :func:`crps_gaussian` of ``mean``/``std`` if the prediction cannot sample),
    ``coverage_<100*level>`` for each level (:func:`interval_coverage` of
    ``prediction.interval(level)``) and ``calibration_error``
    (:func:`quantile_calibration_error` of ``prediction.cdf(y)``).

    Classification (``"classification"``): ``accuracy``, ``nll``, ``brier``, ``ece``
    from ``prediction.probs``.

    Parameters
    ----------
    prediction : Prediction
        From :func:`pyro_bnn.predictive.predict` (or a baseline).
    y : (N,)
        Observations in the prediction's units (labels for classification). A
        prediction from :func:`~pyro_bnn.predictive.predict` is in the data's own
        units, also when the fit standardized the data (``posterior.scaler``).
    levels : sequence of float
        Central interval levels in (0, 1) for the coverage metrics.
    y_scale : float
        Only for a prediction in standardized units (e.g. a fit with
        ``standardize=False`` on targets you standardized yourself): the standard
        deviation used. When not 1, metrics are reported in original units: ``rmse``,
        ``mae`` and ``crps`` are multiplied by ``y_scale`` and ``test_ll`` has
        ``log(y_scale)`` subtracted; coverage and calibration are scale-free. Leave it
        at 1 for a posterior that keeps its scaler, or the scale is applied twice.
        Regression only.
    num_samples : int
        Predictive draws used for the CRPS.
    num_bins : int
        Confidence bins for the ECE.
    """
    task = getattr(prediction, "task", None)
    if task == "regression":
        return _evaluate_regression(prediction, y, levels, y_scale, num_samples)
    if task == "classification":
        if float(y_scale) != 1.0:
            raise ValueError(
                f"y_scale applies to regression only, found y_scale={y_scale} "
                "for a classification prediction"
            )
        probs = prediction.probs
        return {
            "accuracy": accuracy(probs, y),
            "nll": nll(probs, y),
            "brier": brier(probs, y),
            "ece": expected_calibration_error(probs, y, num_bins=num_bins),
        }
    raise ValueError(f"prediction.task must be 'regression' or 'classification', found {task!r}")


def _evaluate_regression(
    prediction: Any, y: Any, levels: Sequence[float], y_scale: float, num_samples: int
) -> dict[str, float]:
    y_scale = _check_positive_scalar(y_scale, "y_scale")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, found {num_samples!r}")
    levels = [float(level) for level in levels]
    for level in levels:
        if not 0 < level < 1:
            raise ValueError(f"coverage levels must lie in (0, 1), found {level}")

    mean_tensor = torch.as_tensor(prediction.mean)
    y_flat = _array(y, "y")
    if y_flat.dim() == 2 and y_flat.shape[1] == 1:
        y_flat = y_flat.squeeze(-1)
    if y_flat.dim() != 1:
        raise ValueError(
            f"evaluate supports single-output regression only: y must have shape (N,), "
            f"found shape {tuple(y_flat.shape)}"
        )
    num_points = y_flat.shape[0]
    mean = _single_output(mean_tensor, "prediction.mean", num_points)
    # Hand y to the prediction in the shape and dtype of its own mean.
    y_for_prediction = y_flat.to(mean_tensor.dtype).reshape(mean_tensor.shape)

    log_prob = _single_output(
        prediction.log_prob_draws(y_for_prediction), "log_prob_draws", num_points, leading=1
    )
    sample = getattr(prediction, "sample", None)
    if callable(sample):
        draws = _single_output(sample(num_samples, seed=0), "sample", num_points, leading=1)
        crps = crps_empirical(draws, y_flat)
    else:
        std = _single_output(prediction.std, "prediction.std", num_points)
        crps = crps_gaussian(mean, std, y_flat)

    results = {
        "rmse": rmse(y_flat, mean) * y_scale,
        "mae": mae(y_flat, mean) * y_scale,
        "test_ll": log_likelihood(log_prob, y_scale=y_scale),
        "crps": crps * y_scale,
    }
    for level in levels:
        low, high = prediction.interval(level)
        results[_level_key(level)] = interval_coverage(
            y_flat,
            _single_output(low, "interval low", num_points),
            _single_output(high, "interval high", num_points),
        )
    pit = _single_output(prediction.cdf(y_for_prediction), "cdf", num_points)
    results["calibration_error"] = quantile_calibration_error(pit)
    return results
