"""Calibration: PIT calibration curve and quantile calibration error (regression),
reliability curve and expected calibration error (classification)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from ..validation import check_positive_int
from ._checks import _DTYPE, _array, _check_unit_interval, _probs_and_labels

__all__ = [
    "CalibrationCurve",
    "ReliabilityCurve",
    "calibration_curve",
    "default_calibration_levels",
    "expected_calibration_error",
    "quantile_calibration_error",
    "reliability_curve",
]


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


class ReliabilityCurve(NamedTuple):
    """Per-bin mean confidence, accuracy (NaN for empty bins) and point count."""

    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray


def _confidence_bins(
    probs: Any, y: Any, num_bins: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-bin (sum of confidence, sum of correct, count), plus N."""
    check_positive_int(num_bins, "num_bins")
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
