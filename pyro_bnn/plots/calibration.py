"""Calibration plots: reliability diagram (classification), PIT calibration curve (regression)."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import metrics
from .classification import _class_probabilities
from .common import BAYES_COLOR, POINT_COLOR, _check_task, _new_figure, _numpy

__all__ = ["plot_reliability", "plot_calibration"]


def plot_reliability(
    prediction: Any, y: Any, num_bins: int = 15, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """Reliability diagram of a classifier: accuracy vs confidence per bin, with the ECE.

    Parameters
    ----------
    prediction : ClassificationPrediction
        Prediction at the inputs of ``y``.
    y : (N,)
        Integer labels.
    num_bins : int
        Equal-width confidence bins (as :func:`metrics.expected_calibration_error`).
    ax : Axes, optional
    title : str, optional

    Bars show the accuracy of the points in each confidence bin; the hatched part is
    the gap to the bin's mean confidence. Bars below the diagonal mean
    overconfidence. Empty bins have no bar.
    """
    _check_task(prediction, "classification", "plot_reliability", "use plot_calibration")
    probs = _class_probabilities(prediction)
    curve = metrics.reliability_curve(probs, y, num_bins=num_bins)
    ece = metrics.expected_calibration_error(probs, y, num_bins=num_bins)
    if ax is None:
        figure, axes = _new_figure(figsize=(4.8, 4.5))
        ax = axes[0, 0]
    else:
        figure = ax.figure
    edges = np.linspace(0, 1, num_bins + 1)
    centers, width = (edges[:-1] + edges[1:]) / 2, 1.0 / num_bins
    filled = curve.count > 0
    ax.bar(
        centers[filled],
        curve.accuracy[filled],
        width=width,
        color=BAYES_COLOR,
        edgecolor="white",
        alpha=0.85,
        label="accuracy in bin",
    )
    gap_bottom = np.minimum(curve.accuracy, curve.confidence)[filled]
    gap_height = np.abs(curve.confidence - curve.accuracy)[filled]
    ax.bar(
        centers[filled],
        gap_height,
        bottom=gap_bottom,
        width=width,
        # Hatch only (no fill): the legend's patch then looks like the bars, whether the
        # gap lies over the blue bar (under-confident) or above it (over-confident).
        facecolor="none",
        edgecolor=POINT_COLOR,
        hatch="//",
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], "--", color="0.4", linewidth=1, label="perfect calibration")
    num_classes = probs.shape[1]
    ax.set_xlim(1.0 / num_classes - 0.02 if num_classes <= 10 else 0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(title or f"Reliability diagram (ECE {ece:.3f}, {num_bins} bins, N={len(probs)})")
    ax.legend(loc="upper left", fontsize="small")
    return figure


def plot_calibration(
    prediction: Any, y: Any, ax: Axes | None = None, levels: Any = None, title: str | None = None
) -> Figure:
    """Regression calibration curve: observed vs expected frequency of ``F(y) <= p``.

    Parameters
    ----------
    prediction : RegressionPrediction
        Prediction at the inputs of ``y`` (single output).
    y : (N,)
        Observations.
    ax : Axes, optional
    levels : (L,), optional
        Levels ``p``; default 0.05, ..., 0.95 (:func:`metrics.default_calibration_levels`).
    title : str, optional

    The curve uses the probability integral transform ``prediction.cdf(y)``
    (:func:`metrics.calibration_curve`); a calibrated model lies on the diagonal,
    a curve flatter than the diagonal means overconfident (too narrow) predictions.
    The title reports the quantile calibration error (Kuleshov et al. 2018).
    """
    _check_task(prediction, "regression", "plot_calibration", "use plot_reliability")
    y = _numpy(y, "y").reshape(-1)
    mean = _numpy(prediction.mean, "prediction.mean").reshape(-1)
    if y.shape[0] != mean.shape[0]:
        raise ValueError(f"y has {y.shape[0]} values but the prediction has {mean.shape[0]}")
    pit = _numpy(prediction.cdf(y), "prediction.cdf").reshape(-1)
    curve = metrics.calibration_curve(pit, levels)
    error = metrics.quantile_calibration_error(pit, levels)
    if ax is None:
        figure, axes = _new_figure(figsize=(4.8, 4.5))
        ax = axes[0, 0]
    else:
        figure = ax.figure
    ax.plot([0, 1], [0, 1], "--", color="0.5", linewidth=1, label="perfect calibration")
    ax.plot(curve.expected, curve.observed, "o-", color=BAYES_COLOR, markersize=4, label="model")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("expected fraction p")
    ax.set_ylabel("observed fraction with F(y) ≤ p")
    ax.set_title(title or f"Regression calibration (error {error:.4f}, N={y.shape[0]})")
    ax.legend(loc="upper left", fontsize="small")
    return figure
