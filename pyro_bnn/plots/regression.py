"""Regression plots: predictive bands over one input, predicted against observed."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .common import (
    BAYES_COLOR,
    DATA_COLOR,
    POINT_COLOR,
    _check_level,
    _check_task,
    _is_point_estimate,
    _new_figure,
    _numpy,
    _one_feature,
    _percent,
)

__all__ = [
    "plot_regression",
    "plot_epistemic_std",
    "epistemic_std_ratio",
    "data_gaps",
    "plot_predicted_vs_observed",
]


def _regression_summaries(prediction: Any, level: float) -> dict[str, np.ndarray]:
    """Mean, central total interval and epistemic interval as (N,) numpy arrays.

    Uses exact quantiles when the prediction kept its draws, else a Gaussian
    approximation ``mean ± z * std``.
    """
    mean = _numpy(prediction.mean, "prediction.mean")
    if mean.ndim == 2 and mean.shape[1] == 1:
        mean = mean[:, 0]
    if mean.ndim != 1:
        raise ValueError(
            f"regression plots show one output; prediction.mean has shape {mean.shape}. "
            "Predict one output at a time"
        )
    if prediction.has_draws:
        low, high = (_numpy(b, "interval").reshape(mean.shape) for b in prediction.interval(level))
        e_low, e_high = (
            _numpy(b, "epistemic interval").reshape(mean.shape)
            for b in prediction.epistemic_interval(level)
        )
    else:
        # predict(..., keep_draws=False) kept only moments: Gaussian bands mean ± z std.
        z = math.sqrt(2) * float(torch.erfinv(torch.tensor(level)))
        std = _numpy(prediction.std, "prediction.std").reshape(mean.shape)
        e_std = _numpy(prediction.epistemic_std, "prediction.epistemic_std").reshape(mean.shape)
        low, high, e_low, e_high = (
            mean - z * std,
            mean + z * std,
            mean - z * e_std,
            mean + z * e_std,
        )
    return {"mean": mean, "low": low, "high": high, "e_low": e_low, "e_high": e_high}


def _check_on_grid(x: np.ndarray, num_predicted: int) -> None:
    if num_predicted != x.shape[0]:
        raise ValueError(
            f"x_grid has {x.shape[0]} points but the prediction has {num_predicted}; "
            "predict on x_grid"
        )


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new figure of ``figsize`` with one axes."""
    if ax is not None:
        return ax.figure, ax
    figure, axes = _new_figure(figsize=figsize)
    return figure, axes[0, 0]


def plot_regression(
    prediction: Any,
    x_grid: Any,
    x_train: Any = None,
    y_train: Any = None,
    ax: Axes | None = None,
    point_prediction: Any = None,
    num_function_draws: int = 0,
    title: str | None = None,
    level: float = 0.95,
    point_label: str = "MAP (point estimate)",
) -> Figure:
    """Predictive mean with an epistemic band and a total (noise-included) band.

    Parameters
    ----------
    prediction : RegressionPrediction
        ``predict(posterior, x_grid)`` (single output).
    x_grid : (M,) or (M, 1)
        Inputs of the prediction (one feature); plotted sorted.
    x_train, y_train : (N,) or (N, 1), (N,), optional
        Training data, drawn as points.
    ax : Axes, optional
        Draw here (default: a new figure).
    point_prediction : RegressionPrediction, optional
        A point estimate on the same ``x_grid`` (e.g. ``fit_svi(guide="delta")``),
        drawn as a dashed line.
    num_function_draws : int
        How many posterior function draws (``prediction.mean_draws``) to draw thinly.
    title : str, optional
        Axes title (default describes the bands).
    level : float
        Probability mass of both bands (default 0.95).
    point_label : str
        Legend label of ``point_prediction``.

    Returns
    -------
    Figure

    The *total* band is the central ``level`` interval of the full predictive
    (function uncertainty and noise); the *epistemic* band is the central
    interval of the mean function over posterior draws (what more data would
    shrink). For a point estimate the epistemic band has zero width and is omitted.
    """
    _check_task(prediction, "regression", "plot_regression", "use plot_classification")
    level = _check_level(level)
    if isinstance(num_function_draws, bool) or not isinstance(num_function_draws, int):
        raise TypeError(f"num_function_draws must be an int, got {num_function_draws!r}")
    if num_function_draws < 0:
        raise ValueError(f"num_function_draws must be >= 0, got {num_function_draws}")
    x = _one_feature(x_grid, "x_grid", "plot_regression")
    summary = _regression_summaries(prediction, level)
    _check_on_grid(x, summary["mean"].shape[0])
    figure, ax = _figure_and_axes(ax, figsize=(7, 4.5))
    order = np.argsort(x)
    xs = x[order]
    is_point = _is_point_estimate(prediction)
    color = POINT_COLOR if is_point else BAYES_COLOR
    ax.fill_between(
        xs,
        summary["low"][order],
        summary["high"][order],
        color=color,
        alpha=0.18,
        linewidth=0,
        label=f"{_percent(level)} predictive interval (incl. noise)",
    )
    if not is_point:
        ax.fill_between(
            xs,
            summary["e_low"][order],
            summary["e_high"][order],
            color=BAYES_COLOR,
            alpha=0.45,
            linewidth=0,
            label=f"{_percent(level)} epistemic interval (mean function)",
        )
    if num_function_draws:
        draws = _numpy(prediction.mean_draws, "mean_draws").reshape(-1, x.shape[0])
        count = min(num_function_draws, draws.shape[0])
        pick = np.linspace(0, draws.shape[0] - 1, count).round().astype(int)
        for i, index in enumerate(pick):
            ax.plot(
                xs,
                draws[index][order],
                color=BAYES_COLOR,
                linewidth=0.6,
                alpha=0.5,
                label="posterior function draws" if i == 0 else None,
            )
    mean_label = point_label if is_point else "predictive mean"
    ax.plot(xs, summary["mean"][order], color=color, linewidth=2, label=mean_label)
    if point_prediction is not None:
        _check_task(point_prediction, "regression", "plot_regression", "pass a regression fit")
        point_mean = _regression_summaries(point_prediction, level)["mean"]
        if point_mean.shape[0] != x.shape[0]:
            raise ValueError(
                f"point_prediction has {point_mean.shape[0]} points, x_grid has {x.shape[0]}"
            )
        ax.plot(xs, point_mean[order], "--", color=POINT_COLOR, linewidth=1.8, label=point_label)
    _scatter_regression_data(ax, x_train, y_train)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or "Posterior predictive: mean, epistemic and total uncertainty")
    ax.legend(loc="best", fontsize="small", framealpha=0.85)
    return figure


def data_gaps(x_train: Any, x_min: float, x_max: float, min_width: float = 0.1) -> list:
    """Stretches of ``[x_min, x_max]`` with no training input, as ``(start, end)`` pairs.

    A stretch counts when it is wider than ``min_width`` times the training inputs'
    range and three times their median spacing: the space between two neighbouring
    training inputs, and the space beyond the first and the last one. Used to shade
    "no data" regions in 1-D plots.
    """
    x = np.sort(_one_feature(x_train, "x_train", "data_gaps"))
    if x.size == 0:
        raise ValueError("data_gaps needs at least one training input")
    if not 0 < min_width < 1:
        raise ValueError(f"min_width must be in (0, 1), got {min_width}")
    spacing = float(np.median(np.diff(x))) if x.size > 1 else 0.0
    width = max(min_width * float(x[-1] - x[0]), 3 * spacing, 1e-12)
    edges = np.concatenate([[min(x_min, x[0])], x, [max(x_max, x[-1])]])
    gaps = []
    for start, end in zip(edges[:-1], edges[1:], strict=True):
        start, end = max(float(start), x_min), min(float(end), x_max)
        if end - start > width:
            gaps.append((start, end))
    return gaps


def epistemic_std_ratio(prediction: Any, x_grid: Any, x_train: Any, min_width: float = 0.1):
    """Mean epistemic std where there is no training data over the mean where there is.

    ``(ratio, std_gap, std_data)`` on the inputs of ``prediction`` (``x_grid``), with
    the gaps of :func:`data_gaps`; ``None`` when the grid has no point in a gap.
    """
    x = _one_feature(x_grid, "x_grid", "epistemic_std_ratio")
    std = _numpy(prediction.epistemic_std, "prediction.epistemic_std").reshape(x.shape)
    in_gap = np.zeros(x.shape, dtype=bool)
    for start, end in data_gaps(x_train, float(x.min()), float(x.max()), min_width):
        in_gap |= (x > start) & (x < end)
    if not in_gap.any() or in_gap.all():
        return None
    std_gap, std_data = float(std[in_gap].mean()), float(std[~in_gap].mean())
    return std_gap / std_data, std_gap, std_data


def plot_epistemic_std(
    prediction: Any,
    x_grid: Any,
    x_train: Any = None,
    ax: Axes | None = None,
    point_std: bool = False,
    title: str | None = None,
    min_gap_width: float = 0.1,
) -> Figure:
    """Epistemic standard deviation against one input, regions with no training data shaded.

    The std of the mean function over posterior draws: what more data would shrink.
    With ``x_train`` the stretches without training inputs (:func:`data_gaps`, wider
    than ``min_gap_width`` of the data's range) are shaded and the legend gives the
    ratio of the mean epistemic std there to the mean on the data. ``point_std`` is
    accepted for point estimates and draws the (zero) line instead of refusing.
    """
    _check_task(prediction, "regression", "plot_epistemic_std", "use plot_classification")
    x = _one_feature(x_grid, "x_grid", "plot_epistemic_std")
    if _is_point_estimate(prediction) and not point_std:
        raise ValueError(
            "a point estimate has no epistemic uncertainty (its std is 0 everywhere); "
            "plot a posterior, or pass point_std=True to draw the zero line"
        )
    std = _numpy(prediction.epistemic_std, "prediction.epistemic_std").reshape(-1)
    _check_on_grid(x, std.shape[0])
    figure, ax = _figure_and_axes(ax, figsize=(7, 2.8))
    order = np.argsort(x)
    label = "epistemic std (mean function)"
    if x_train is not None:
        for i, (start, end) in enumerate(data_gaps(x_train, float(x.min()), float(x.max()))):
            ax.axvspan(
                start, end, color="0.85", linewidth=0, label="no training data" if i == 0 else None
            )
        ratio = epistemic_std_ratio(prediction, x, x_train, min_gap_width)
        if ratio is not None:
            label += f": {ratio[0]:.1f}x larger off the data ({ratio[1]:.3g} vs {ratio[2]:.3g})"
    ax.plot(x[order], std[order], color=BAYES_COLOR, linewidth=2, label=label)
    # headroom for the legend above the curve (it is often highest at the plot's edges)
    ax.set_ylim(0, 1.7 * float(np.nanmax(std)) if np.nanmax(std) > 0 else None)
    ax.set_xlabel("x")
    ax.set_ylabel("epistemic std")
    ax.set_title(title or "Epistemic uncertainty: what more data would shrink")
    ax.legend(loc="upper left", fontsize="small", framealpha=0.85)
    return figure


def _scatter_regression_data(ax: Axes, x_train: Any, y_train: Any) -> None:
    if x_train is None and y_train is None:
        return
    if x_train is None or y_train is None:
        raise ValueError("pass both x_train and y_train (or neither)")
    xt = _one_feature(x_train, "x_train", "plot_regression")
    yt = _numpy(y_train, "y_train").reshape(-1)
    if yt.shape[0] != xt.shape[0]:
        raise ValueError(f"x_train has {xt.shape[0]} rows but y_train has {yt.shape[0]}")
    ax.scatter(xt, yt, s=10, color=DATA_COLOR, alpha=0.7, zorder=3, label="training data")


def plot_predicted_vs_observed(
    prediction: Any,
    y: Any,
    level: float = 0.9,
    ax: Axes | None = None,
    target_name: str = "y",
    title: str | None = None,
) -> Figure:
    """Predicted mean with its central ``level`` interval against the observed value.

    For tables with many inputs, where the bands of :func:`plot_regression` cannot
    be drawn. Points whose interval misses the diagonal are the misses; the title
    gives the fraction of observations inside their interval (``level`` when calibrated).

    Parameters
    ----------
    prediction : RegressionPrediction
        Prediction at the inputs of ``y`` (single output).
    y : (N,)
        Observations, in the prediction's units.
    level : float
        Interval probability.
    ax : Axes, optional
    target_name : str
        Axis label.
    title : str, optional
        First title line (the coverage follows).

    Example
    -------
    >>> fig = plot_predicted_vs_observed(pb.predict(post, x_test), y_test)  # doctest: +SKIP
    >>> save_figure(fig, "predicted_vs_observed.png")  # doctest: +SKIP
    """
    _check_task(prediction, "regression", "plot_predicted_vs_observed", "use plot_reliability")
    level = _check_level(level)
    summary = _regression_summaries(prediction, level)
    mean, low, high = summary["mean"], summary["low"], summary["high"]
    y = _numpy(y, "y").reshape(-1)
    if y.shape[0] != mean.shape[0]:
        raise ValueError(f"y has {y.shape[0]} values but the prediction has {mean.shape[0]}")
    inside = float(((y >= low) & (y <= high)).mean())
    if ax is None:
        figure, axes = _new_figure(figsize=(5.5, 5))
        ax = axes[0, 0]
    else:
        figure = ax.figure
    ax.errorbar(
        y,
        mean,
        yerr=[mean - low, high - mean],
        fmt="o",
        ms=3,
        alpha=0.6,
        elinewidth=0.8,
        color=BAYES_COLOR,
        label=f"mean with {_percent(level)} interval",
    )
    limits = [min(y.min(), low.min()), max(y.max(), high.max())]
    ax.plot(limits, limits, "--", color="0.3", linewidth=1, label="predicted = observed")
    ax.set_xlabel(f"observed {target_name}")
    ax.set_ylabel(f"predicted {target_name}")
    coverage = f"{100 * inside:.0f}% of {y.shape[0]} points inside their {_percent(level)} interval"
    ax.set_title(f"{title}\n{coverage}" if title else coverage, fontsize=10)
    ax.legend(loc="upper left", fontsize="small")
    return figure
