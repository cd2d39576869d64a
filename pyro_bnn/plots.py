"""Uncertainty plots: predictive bands, probability maps, point-vs-Bayes, calibration, diagnostics.

Every function returns a :class:`matplotlib.figure.Figure` and draws into the
axes you pass (``ax=`` or ``axes=``); without them it makes its own figure
(a plain ``Figure`` with constrained layout, not registered with pyplot, so
nothing is shown twice in a notebook and nothing leaks in a loop). Save with
``fig.savefig("name.png")``.

- :func:`plot_regression`: data, predictive mean, epistemic band (mean function)
  and total band (noise included), function draws, an optional MAP overlay.
- :func:`plot_classification`: maps of class probability, predictive entropy and
  mutual information over a 2-D grid (see :func:`grid_2d`), with query points.
- :func:`plot_point_vs_bayes`: point estimate and Bayesian prediction side by side.
- :func:`plot_reliability`, :func:`plot_calibration`: calibration of classifiers and
  regressors.
- :func:`plot_diagnostics`: ELBO curve (SVI) or trace and rank plots (NUTS).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

from . import metrics
from .inference.diagnostics import mcmc_summary
from .posterior import atomic_write

__all__ = [
    "Grid2D",
    "grid_2d",
    "plot_regression",
    "plot_classification",
    "plot_point_vs_bayes",
    "plot_reliability",
    "plot_calibration",
    "plot_predicted_vs_observed",
    "plot_diagnostics",
    "save_figure",
]

# Colours (colour-blind-safe Okabe-Ito palette) used consistently across figures.
BAYES_COLOR = "#0072B2"  # blue: Bayesian mean and bands
POINT_COLOR = "#D55E00"  # vermillion: point estimate (MAP)
DATA_COLOR = "0.15"
CLASS_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")
CLASS_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
CLASSIFICATION_KINDS = ("probability", "entropy", "mutual_information")


# --------------------------------------------------------------------------- helpers


def _numpy(values: Any, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be an array of numbers, got {type(values).__name__}"
        ) from None
    return array


def _new_figure(
    nrows: int = 1, ncols: int = 1, figsize=None, **subplots_kwargs
) -> tuple[Figure, Any]:
    figure = Figure(figsize=figsize, layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False, **subplots_kwargs)
    return figure, axes


def _check_task(prediction: Any, task: str, function: str, instead: str) -> None:
    found = getattr(prediction, "task", None)
    if found != task:
        raise ValueError(
            f"{function} needs a {task} prediction (prediction.task == '{task}'), "
            f"got task={found!r}; {instead}"
        )


def _check_axes(axes: Any, expected: int, function: str) -> list[Axes]:
    flat = list(np.ravel(np.asarray(axes, dtype=object)))
    if len(flat) != expected or not all(isinstance(a, Axes) for a in flat):
        raise ValueError(f"{function} needs axes= with {expected} matplotlib Axes, got {len(flat)}")
    return flat


def _one_feature(x: Any, name: str, function: str) -> np.ndarray:
    x = _numpy(x, name)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise ValueError(
            f"{function} plots one input feature: {name} must have shape (N,) or (N, 1), "
            f"found shape {x.shape}"
        )
    return x


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
    try:
        low, high = (_numpy(b, "interval").reshape(mean.shape) for b in prediction.interval(level))
        e_low, e_high = (
            _numpy(b, "epistemic interval").reshape(mean.shape)
            for b in prediction.epistemic_interval(level)
        )
    except ValueError as error:
        if "keep_draws" not in str(error):
            raise
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


def _is_point_estimate(prediction: Any) -> bool:
    return getattr(prediction, "num_draws", None) == 1


def _percent(level: float) -> str:
    return f"{100 * level:g}%"


def _check_level(level: float) -> float:
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return float(level)


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write ``figure`` to ``path`` atomically (format from the suffix, e.g. ``.png``, ``.pdf``).

    Creates the parent folder; an interrupted save never leaves a half-written file.
    Returns the path.
    """
    if not isinstance(figure, Figure):
        raise TypeError(f"figure must be a matplotlib Figure, got {type(figure).__name__}")
    path = Path(path)
    file_format = path.suffix.lstrip(".").lower()
    supported = figure.canvas.get_supported_filetypes()
    if file_format not in supported:
        raise ValueError(
            f"cannot tell the image format of {path}: use a suffix from "
            f"{', '.join('.' + k for k in sorted(supported))}"
        )
    atomic_write(path, lambda tmp: figure.savefig(tmp, format=file_format, dpi=dpi))
    return path


# --------------------------------------------------------------------------- regression


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
    if summary["mean"].shape[0] != x.shape[0]:
        raise ValueError(
            f"x_grid has {x.shape[0]} points but the prediction has {summary['mean'].shape[0]}; "
            "predict on x_grid"
        )
    if ax is None:
        figure, axes = _new_figure(figsize=(7, 4.5))
        ax = axes[0, 0]
    else:
        figure = ax.figure
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


# --------------------------------------------------------------------------- classification


class Grid2D(NamedTuple):
    """A regular grid over a 2-D input space (see :func:`grid_2d`).

    ``points: (num * num, 2)`` to predict on; ``x1, x2: (num, num)`` meshes for
    ``contourf``/``pcolormesh`` (``points[:, 0] == x1.ravel()``).
    """

    points: np.ndarray
    x1: np.ndarray
    x2: np.ndarray


def grid_2d(x: Any, num: int = 100, margin: float = 0.25, include: Any = None) -> Grid2D:
    """Regular ``num x num`` grid covering 2-D inputs with a margin.

    Parameters
    ----------
    x : (N, 2)
        Points the grid must cover (e.g. the training inputs).
    num : int
        Grid points per axis.
    margin : float
        Extra room on each side, as a fraction of the data range per axis.
    include : (Q, 2), optional
        Further points to cover (e.g. far query points).

    Returns
    -------
    Grid2D
        ``(points (num*num, 2), x1 (num, num), x2 (num, num))``.

    Example
    -------
    >>> grid = grid_2d(x_train, num=80, include=star)  # doctest: +SKIP
    >>> pred = predict(posterior, grid.points)  # doctest: +SKIP
    >>> fig = plot_classification(pred, grid.x1, grid.x2, x_train, y_train)  # doctest: +SKIP
    """
    x = _numpy(x, "x")
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"grid_2d needs 2-D inputs: x must have shape (N, 2), found {x.shape}")
    if include is not None:
        extra = _numpy(include, "include").reshape(-1, 2)
        x = np.concatenate([x, extra])
    if isinstance(num, bool) or not isinstance(num, int) or num < 2:
        raise ValueError(f"num must be an integer >= 2, got {num!r}")
    if not (isinstance(margin, int | float) and margin >= 0):
        raise ValueError(f"margin must be a non-negative number, got {margin!r}")
    if not np.isfinite(x).all():
        raise ValueError("x (or include) contains NaN or inf")
    low, high = x.min(0), x.max(0)
    span = np.where(high > low, high - low, 1.0)
    low, high = low - margin * span, high + margin * span
    x1, x2 = np.meshgrid(np.linspace(low[0], high[0], num), np.linspace(low[1], high[1], num))
    return Grid2D(np.stack([x1.ravel(), x2.ravel()], axis=1), x1, x2)


def _class_probabilities(prediction: Any) -> np.ndarray:
    probs = _numpy(prediction.probs, "prediction.probs")
    return probs.reshape(-1, probs.shape[-1])


def _map_values(prediction: Any, kind: str, class_index: int | None) -> tuple[np.ndarray, dict]:
    """Values per grid point and their display settings."""
    probs = _class_probabilities(prediction)
    num_classes = probs.shape[1]
    if kind == "probability":
        if class_index is None and num_classes > 2:
            return probs.max(1), dict(
                cmap="viridis", vmin=1.0 / num_classes, vmax=1.0, label="confidence (max_k p_k)"
            )
        k = 1 if class_index is None else class_index
        return probs[:, k], dict(cmap="RdBu_r", vmin=0.0, vmax=1.0, label=f"P(class {k})")
    if kind == "entropy":
        values = _numpy(prediction.entropy, "prediction.entropy").reshape(-1)
        return values, dict(
            cmap="viridis", vmin=0.0, vmax=math.log(num_classes), label="predictive entropy (nats)"
        )
    values = _numpy(prediction.mutual_information, "mutual_information").reshape(-1)
    top = float(values.max()) if values.size and values.max() > 0 else 1e-3
    return values, dict(cmap="magma", vmin=0.0, vmax=top, label="mutual information (nats)")


_KIND_TITLES = {
    "probability": "Predicted probability",
    "entropy": "Total uncertainty: predictive entropy",
    "mutual_information": "Epistemic uncertainty: mutual information",
}


def _check_classification_inputs(x_train, y_train, grid_x1, grid_x2, prediction, function):
    x_train = _numpy(x_train, "x_train")
    if x_train.ndim != 2 or x_train.shape[1] != 2:
        raise ValueError(
            f"{function} draws maps over 2-D inputs: x_train must have shape (N, 2), "
            f"found shape {x_train.shape}"
        )
    y_train = _numpy(y_train, "y_train").reshape(-1).astype(int)
    if y_train.shape[0] != x_train.shape[0]:
        raise ValueError(f"x_train has {x_train.shape[0]} rows but y_train has {y_train.shape[0]}")
    grid_x1, grid_x2 = _numpy(grid_x1, "grid_x1"), _numpy(grid_x2, "grid_x2")
    if grid_x1.ndim != 2 or grid_x1.shape != grid_x2.shape:
        raise ValueError(
            f"grid_x1 and grid_x2 must be 2-D meshes of the same shape (from grid_2d), found "
            f"{grid_x1.shape} and {grid_x2.shape}"
        )
    num_points = _class_probabilities(prediction).shape[0]
    if num_points != grid_x1.size:
        raise ValueError(
            f"the prediction has {num_points} points but the grid has {grid_x1.size} "
            f"({grid_x1.shape[0]}x{grid_x1.shape[1]}); predict on grid_2d(...).points"
        )
    return x_train, y_train, grid_x1, grid_x2


def _scatter_classes(ax: Axes, x_train: np.ndarray, y_train: np.ndarray) -> None:
    for k in np.unique(y_train):
        chosen = y_train == k
        ax.scatter(
            x_train[chosen, 0],
            x_train[chosen, 1],
            s=16,
            marker=CLASS_MARKERS[int(k) % len(CLASS_MARKERS)],
            color=CLASS_COLORS[int(k) % len(CLASS_COLORS)],
            edgecolor="black",
            linewidth=0.6,
            label=f"class {int(k)}",
            zorder=3,
        )


def _format_probability(p: float) -> str:
    """Two decimals, without rounding a near-certain probability to a flat 1.00 or 0.00."""
    if p > 0.995:
        return f"{p:.4f}" if p < 0.99995 else ">0.9999"
    if p < 0.005:
        return f"{p:.4f}" if p > 0.00005 else "<0.0001"
    return f"{p:.2f}"


def _probability_text(probs: np.ndarray) -> str:
    if probs.shape[0] == 2:
        return f"P(class 1) = {_format_probability(float(probs[1]))}"
    return "P = (" + ", ".join(_format_probability(float(p)) for p in probs) + ")"


def _mark_queries(ax: Axes, query_points, query_probs, prefix: str = "") -> None:
    if query_points is None:
        return
    points = _numpy(query_points, "query_points").reshape(-1, 2)
    if query_probs is not None and query_probs.shape[0] != points.shape[0]:
        raise ValueError(
            f"query_points has {points.shape[0]} rows but the query prediction has "
            f"{query_probs.shape[0]}"
        )
    ax.scatter(
        points[:, 0],
        points[:, 1],
        marker="*",
        s=260,
        color="gold",
        edgecolor="black",
        linewidth=1.0,
        zorder=5,
        label="query point",
    )
    if query_probs is None:
        return
    x_low, x_high = ax.get_xlim()
    for point, probs in zip(points, query_probs, strict=True):
        right_half = point[0] > (x_low + x_high) / 2
        ax.annotate(
            prefix + _probability_text(probs),
            xy=(point[0], point[1]),
            xytext=(-12 if right_half else 12, -18),
            textcoords="offset points",
            ha="right" if right_half else "left",
            va="top",
            fontsize="small",
            bbox=dict(boxstyle="round,pad=0.25", facecolor="white", alpha=0.9, edgecolor="0.5"),
            zorder=6,
        )


def plot_classification(
    prediction_on_grid: Any,
    grid_x1: Any,
    grid_x2: Any,
    x_train: Any,
    y_train: Any,
    query_points: Any = None,
    query_prediction: Any = None,
    kinds: Sequence[str] = CLASSIFICATION_KINDS,
    axes: Any = None,
    class_index: int | None = None,
    title: str | None = None,
) -> Figure:
    """Maps of class probability, predictive entropy and mutual information over 2-D inputs.

    Parameters
    ----------
    prediction_on_grid : ClassificationPrediction
        ``predict(posterior, grid.points)`` with ``grid = grid_2d(x_train, ...)``.
    grid_x1, grid_x2 : (H, W)
        The grid meshes (``grid.x1``, ``grid.x2``).
    x_train : (N, 2); y_train : (N,)
        Training inputs and integer labels, drawn as points.
    query_points : (Q, 2), optional
        Points to mark with a star (e.g. a far out-of-distribution input).
    query_prediction : ClassificationPrediction, optional
        ``predict(posterior, query_points)``; its class probabilities are annotated.
    kinds : sequence of str
        Panels, from ``"probability"``, ``"entropy"``, ``"mutual_information"``.
    axes : sequence of Axes, optional
        One per kind (default: a new figure with one row).
    class_index : int, optional
        Class whose probability the ``"probability"`` map shows (default class 1 of
        a binary problem; for more classes the top-class probability).
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    _check_task(prediction_on_grid, "classification", "plot_classification", "use plot_regression")
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds:
        raise ValueError(f"kinds must name at least one of {', '.join(CLASSIFICATION_KINDS)}")
    for kind in kinds:
        if kind not in CLASSIFICATION_KINDS:
            raise ValueError(
                f"unknown kind {kind!r}; valid kinds: {', '.join(CLASSIFICATION_KINDS)}"
            )
    x_train, y_train, grid_x1, grid_x2 = _check_classification_inputs(
        x_train, y_train, grid_x1, grid_x2, prediction_on_grid, "plot_classification"
    )
    num_classes = _class_probabilities(prediction_on_grid).shape[1]
    if class_index is not None and not 0 <= class_index < num_classes:
        raise ValueError(f"class_index must be in [0, {num_classes - 1}], got {class_index}")
    query_probs = None
    if query_prediction is not None:
        if query_points is None:
            raise ValueError("query_prediction needs query_points (the inputs it was made at)")
        _check_task(query_prediction, "classification", "plot_classification", "")
        query_probs = _class_probabilities(query_prediction)
    if axes is None:
        figure, grid_axes = _new_figure(1, len(kinds), figsize=(4.6 * len(kinds) + 0.6, 4.3))
        axes = list(grid_axes[0])
    else:
        axes = _check_axes(axes, len(kinds), "plot_classification")
        figure = axes[0].figure
    for ax, kind in zip(axes, kinds, strict=True):
        values, style = _map_values(prediction_on_grid, kind, class_index)
        mesh = ax.pcolormesh(
            grid_x1,
            grid_x2,
            values.reshape(grid_x1.shape),
            cmap=style["cmap"],
            vmin=style["vmin"],
            vmax=style["vmax"],
            shading="auto",
            rasterized=True,
        )
        if kind == "probability" and num_classes == 2:
            ax.contour(
                grid_x1,
                grid_x2,
                values.reshape(grid_x1.shape),
                levels=[0.5],
                colors="black",
                linewidths=1,
                linestyles="dotted",
            )
        figure.colorbar(mesh, ax=ax, label=style["label"], shrink=0.9)
        _scatter_classes(ax, x_train, y_train)
        ax.set_xlim(grid_x1.min(), grid_x1.max())
        ax.set_ylim(grid_x2.min(), grid_x2.max())
        _mark_queries(ax, query_points, query_probs if kind == "probability" else None)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_title(_KIND_TITLES[kind] if kind != "probability" else style["label"])
        ax.legend(loc="upper left", fontsize="x-small", framealpha=0.85, markerscale=0.8)
    if title:
        figure.suptitle(title)
    return figure


# --------------------------------------------------------------------------- point vs Bayes


def plot_point_vs_bayes(
    point_prediction: Any,
    bayes_prediction: Any,
    x_grid: Any,
    x_train: Any,
    y_train: Any,
    *,
    query_points: Any = None,
    point_query_prediction: Any = None,
    bayes_query_prediction: Any = None,
    labels: tuple[str, str] = ("MAP (point estimate)", "Bayesian"),
    level: float = 0.95,
    axes: Any = None,
    title: str | None = None,
) -> Figure:
    """Point estimate and Bayesian prediction side by side (two panels, shared axes).

    Parameters
    ----------
    point_prediction, bayes_prediction : Prediction
        Predictions of the same task on the same ``x_grid``: a point estimate
        (``fit_svi(guide="delta")``) and a Bayesian fit (NUTS or SVI).
    x_grid : (M,) or (M, 1) for regression; Grid2D or (grid_x1, grid_x2) for classification
        Where both predictions were made.
    x_train, y_train : training data.
    query_points : (Q, 2), optional
        Classification: points to mark with a star (e.g. far out-of-distribution).
    point_query_prediction, bayes_query_prediction : ClassificationPrediction, optional
        Predictions at ``query_points``; each panel annotates its model's probabilities.
    labels : (str, str)
        Panel names of the point estimate and the Bayesian model.
    level : float
        Regression: mass of the bands.
    axes : two Axes, optional
    title : str, optional
        Figure title.

    Returns
    -------
    Figure

    Regression: left the point estimate with its noise band (equally wide
    everywhere), right the Bayesian mean with epistemic and total bands (wider
    where data is sparse) and the point estimate dashed for reference.
    Classification: maps of P(class 1) (or top-class probability) of both models
    on one colour scale, the query stars annotated with each model's probabilities.
    """
    task = getattr(point_prediction, "task", None)
    if task not in ("regression", "classification"):
        raise ValueError(
            f"point_prediction.task must be 'regression' or 'classification', got {task!r}"
        )
    if getattr(bayes_prediction, "task", None) != task:
        raise ValueError(
            f"point_prediction is a {task} prediction but bayes_prediction has task "
            f"{getattr(bayes_prediction, 'task', None)!r}; both must be of the same task"
        )
    if axes is None:
        size = (12, 4.6) if task == "regression" else (11.5, 4.8)
        figure, grid_axes = _new_figure(1, 2, figsize=size, sharex=True, sharey=True)
        axes = list(grid_axes[0])
    else:
        axes = _check_axes(axes, 2, "plot_point_vs_bayes")
        figure = axes[0].figure
    if task == "regression":
        point_label, bayes_label = labels
        plot_regression(
            point_prediction,
            x_grid,
            x_train,
            y_train,
            ax=axes[0],
            level=level,
            point_label=point_label,
            title=f"{point_label}\nonly the noise band: equally sure everywhere",
        )
        plot_regression(
            bayes_prediction,
            x_grid,
            x_train,
            y_train,
            ax=axes[1],
            level=level,
            point_prediction=point_prediction,
            point_label=f"{point_label}, for comparison",
            title=f"{bayes_label}\nbands widen where there is no data",
        )
        _match_y_limits(axes)
        _shared_legend(figure, axes)
    else:
        _plot_point_vs_bayes_classification(
            point_prediction,
            bayes_prediction,
            x_grid,
            x_train,
            y_train,
            query_points,
            point_query_prediction,
            bayes_query_prediction,
            labels,
            axes,
            figure,
        )
    if title:
        figure.suptitle(title)
    return figure


def _shared_legend(figure: Figure, axes: list[Axes]) -> None:
    """One legend for all panels: below them (constrained layout) or in the last panel."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if isinstance(figure.get_layout_engine(), ConstrainedLayoutEngine):
        figure.legend(
            entries.values(),
            entries.keys(),
            loc="outside lower center",
            ncols=min(len(entries), 3),
            fontsize="small",
        )
    else:
        axes[-1].legend(entries.values(), entries.keys(), loc="best", fontsize="small")


def _match_y_limits(axes: list[Axes]) -> None:
    lows, highs = zip(*(ax.get_ylim() for ax in axes), strict=True)
    for ax in axes:
        ax.set_ylim(min(lows), max(highs))


def _plot_point_vs_bayes_classification(
    point_prediction,
    bayes_prediction,
    x_grid,
    x_train,
    y_train,
    query_points,
    point_query_prediction,
    bayes_query_prediction,
    labels,
    axes,
    figure,
) -> None:
    if isinstance(x_grid, Grid2D):
        grid_x1, grid_x2 = x_grid.x1, x_grid.x2
    elif isinstance(x_grid, tuple | list) and len(x_grid) == 2:
        grid_x1, grid_x2 = x_grid
    else:
        raise ValueError(
            "for classification x_grid must be a Grid2D from grid_2d(...) or a pair "
            "(grid_x1, grid_x2) of meshes"
        )
    mesh = None
    for ax, prediction, query_prediction, label in zip(
        axes,
        (point_prediction, bayes_prediction),
        (point_query_prediction, bayes_query_prediction),
        labels,
        strict=True,
    ):
        xt, yt, gx1, gx2 = _check_classification_inputs(
            x_train, y_train, grid_x1, grid_x2, prediction, "plot_point_vs_bayes"
        )
        values, style = _map_values(prediction, "probability", None)
        mesh = ax.pcolormesh(
            gx1,
            gx2,
            values.reshape(gx1.shape),
            cmap=style["cmap"],
            vmin=style["vmin"],
            vmax=style["vmax"],
            shading="auto",
            rasterized=True,
        )
        if _class_probabilities(prediction).shape[1] == 2:
            ax.contour(
                gx1,
                gx2,
                values.reshape(gx1.shape),
                levels=[0.5],
                colors="black",
                linewidths=1,
                linestyles="dotted",
            )
        _scatter_classes(ax, xt, yt)
        ax.set_xlim(gx1.min(), gx1.max())
        ax.set_ylim(gx2.min(), gx2.max())
        query_probs = None
        if query_prediction is not None:
            if query_points is None:
                raise ValueError(
                    "query predictions need query_points (the inputs they were made at)"
                )
            query_probs = _class_probabilities(query_prediction)
        _mark_queries(ax, query_points, query_probs)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        if query_probs is not None and query_probs.shape[0] == 1:
            ax.set_title(f"{label}\n{_probability_text(query_probs[0])} at the star")
        else:
            ax.set_title(label)
        ax.legend(loc="upper left", fontsize="x-small", framealpha=0.85, markerscale=0.8)
    figure.colorbar(mesh, ax=list(axes), label=style["label"], shrink=0.9)


# --------------------------------------------------------------------------- calibration


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

    Bars show the accuracy of the points in each confidence bin; the red part is
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
        color=POINT_COLOR,
        alpha=0.35,
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


# --------------------------------------------------------------------------- diagnostics


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(window, values.shape[0]))
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    averaged = (cumulative[window:] - cumulative[:-window]) / window
    head = cumulative[1:window] / np.arange(1, window)
    return np.concatenate([head, averaged])


def _plot_elbo(posterior: Any, ax: Axes) -> None:
    elbo = np.asarray(posterior.diagnostics.get("elbo") or [], dtype=float)
    if elbo.size == 0:
        raise ValueError("posterior.diagnostics has no 'elbo' history to plot")
    steps = np.arange(1, elbo.size + 1)
    smooth = _moving_average(elbo, max(1, elbo.size // 50))
    ax.plot(steps, elbo, color=BAYES_COLOR, alpha=0.3, linewidth=0.7, label="ELBO per step")
    ax.plot(steps, smooth, color=BAYES_COLOR, linewidth=2, label="moving average")
    # Clip the y-axis to the settled part so the early transient does not flatten the curve.
    settled = elbo[elbo.size // 10 :] if elbo.size >= 20 else elbo
    low, high = np.percentile(settled, [1, 100])
    pad = 0.1 * (high - low) if high > low else 1.0
    ax.set_ylim(low - pad, high + pad)
    clipped = (elbo < low - pad).any()
    ax.set_xlabel("step")
    ax.set_ylabel("ELBO (nats)")
    guide = posterior.guide_type or "svi"
    final = float(smooth[-1])
    note = " (y-axis clipped: early steps lower)" if clipped else ""
    ax.set_title(f"SVI ({guide}) ELBO, final ≈ {final:.4g}{note}", fontsize="medium")
    ax.legend(loc="lower right", fontsize="small")


def _diagnostic_sites(chains: dict[str, torch.Tensor], sites: Sequence[str] | None):
    """(label, (C, S) draws) of a few scalars: sigma and a couple of weights by default."""
    if sites is None:
        weight_names = sorted(k for k in chains if k.endswith(".weight"))
        chosen = [k for k in ("sigma",) if k in chains] + weight_names[:1] + weight_names[-1:]
        chosen = list(dict.fromkeys(chosen)) or list(chains)[:3]
    else:
        chosen = list(sites)
        for name in chosen:
            if name not in chains:
                raise ValueError(f"unknown site {name!r}; sites: {', '.join(chains)}")
    picked = []
    for name in chosen:
        value = chains[name]
        flat = value.reshape(value.shape[:2] + (-1,))
        label = (
            name if flat.shape[-1] == 1 and value.dim() == 2 else f"{name}[{_first_index(value)}]"
        )
        picked.append((label, flat[..., 0].double()))
    return picked


def _first_index(value: torch.Tensor) -> str:
    return ", ".join("0" for _ in value.shape[2:])


def _stat(value: float | None, spec: str) -> str:
    """A diagnostic for a title: formatted, or "n/a" when it is unknown (too few draws)."""
    return "n/a" if value is None else format(value, spec)


def _rank_histograms(values: np.ndarray, num_bins: int) -> np.ndarray:
    """Rank plot counts: ranks over all chains, histogram per chain: (C, num_bins)."""
    ranks = values.ravel().argsort().argsort().reshape(values.shape)
    edges = np.linspace(0, ranks.size, num_bins + 1)
    return np.stack([np.histogram(r, bins=edges)[0] for r in ranks])


def plot_diagnostics(
    posterior: Any, axes: Any = None, sites: Sequence[str] | None = None
) -> Figure:
    """Fit diagnostics: the ELBO curve (SVI) or trace and rank plots (NUTS).

    Parameters
    ----------
    posterior : Posterior
        From :func:`~pyro_bnn.fit_svi` or :func:`~pyro_bnn.fit_nuts`.
    axes : Axes or array of Axes, optional
        SVI: one Axes. NUTS: ``(len(sites), 2)`` Axes (trace, rank per site).
    sites : sequence of str, optional
        NUTS: sites to show (first element of each); default ``sigma`` (if learned),
        the first and the last weight matrix.

    Returns
    -------
    Figure

    SVI: the ELBO per step with a moving average; the y-axis is clipped to the
    settled part so early steps do not flatten the curve. NUTS: per site, a
    trace per chain and a rank plot (histograms of the ranks of each chain's
    draws among all draws: flat and alike when the chains mix), titled with
    the split R-hat and effective sample size.
    """
    method = getattr(posterior, "method", None)
    if method == "svi":
        if axes is None:
            figure, grid_axes = _new_figure(figsize=(6.5, 4))
            ax = grid_axes[0, 0]
        else:
            ax = _check_axes(axes, 1, "plot_diagnostics (SVI)")[0]
            figure = ax.figure
        _plot_elbo(posterior, ax)
        return figure
    if method != "nuts":
        raise ValueError(f"posterior.method must be 'svi' or 'nuts', got {method!r}")
    picked = _diagnostic_sites(posterior.chains(), sites)
    if axes is None:
        figure, grid_axes = _new_figure(
            len(picked), 2, figsize=(10, 2.4 * len(picked) + 0.6), width_ratios=(2, 1)
        )
    else:
        grid_axes = np.asarray(_check_axes(axes, 2 * len(picked), "plot_diagnostics (NUTS)"))
        grid_axes = grid_axes.reshape(len(picked), 2)
        figure = grid_axes[0, 0].figure
    for (label, values), (trace_ax, rank_ax) in zip(picked, grid_axes, strict=True):
        stats = mcmc_summary({label: values})[label]
        data = values.numpy()
        num_chains, num_draws = data.shape
        for c in range(num_chains):
            color = CLASS_COLORS[c % len(CLASS_COLORS)]
            trace_ax.plot(
                np.arange(num_draws),
                data[c],
                linewidth=0.6,
                alpha=0.8,
                color=color,
                label=f"chain {c}",
            )
        trace_ax.set_ylabel(label)
        trace_ax.set_title(
            f"{label}: R-hat {_stat(stats['r_hat_max'], '.3f')}, "
            f"ESS {_stat(stats['ess_min'], '.0f')}",
            fontsize="medium",
        )
        num_bins = max(4, min(20, num_draws // 10))
        counts = _rank_histograms(data, num_bins)
        edges = np.linspace(0, data.size, num_bins + 1)
        for c in range(num_chains):
            rank_ax.stairs(
                counts[c],
                edges,
                baseline=None,
                linewidth=1.4,
                color=CLASS_COLORS[c % len(CLASS_COLORS)],
            )
        rank_ax.axhline(
            num_draws / num_bins,
            color="0.4",
            linestyle="--",
            linewidth=1,
            label="uniform (chains agree)",
        )
        rank_ax.set_xlim(0, data.size)
        rank_ax.set_ylim(0, max(counts.max() * 1.15, 1))
        rank_ax.set_ylabel("draws per bin")
        rank_ax.set_title("rank plot: flat when mixed", fontsize="medium")
    handles, labels = grid_axes[0, 0].get_legend_handles_labels()
    uniform = grid_axes[0, 1].get_legend_handles_labels()
    handles, labels = handles + uniform[0], labels + uniform[1]
    if isinstance(figure.get_layout_engine(), ConstrainedLayoutEngine):
        figure.legend(
            handles, labels, loc="outside lower center", ncols=min(len(labels), 6), fontsize="small"
        )
    else:
        grid_axes[0, 0].legend(handles, labels, loc="upper right", fontsize="x-small")
    grid_axes[-1, 0].set_xlabel("draw")
    grid_axes[-1, 1].set_xlabel("rank among all chains")
    divergences = posterior.diagnostics.get("divergences")
    divergence_text = f", {divergences} divergent transitions" if divergences is not None else ""
    figure.suptitle(f"NUTS diagnostics: first element of {len(picked)} sites{divergence_text}")
    return figure
