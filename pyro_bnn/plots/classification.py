"""Classification maps over 2-D inputs: class probability, predictive entropy and MI."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .common import (
    CLASS_COLORS,
    CLASS_MARKERS,
    _check_axes,
    _check_task,
    _new_figure,
    _numpy,
)

__all__ = ["Grid2D", "grid_2d", "plot_classification", "CLASSIFICATION_KINDS"]

CLASSIFICATION_KINDS = ("probability", "entropy", "mutual_information")


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
