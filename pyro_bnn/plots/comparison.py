"""A point estimate and the Bayesian prediction side by side."""

from __future__ import annotations

from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

from .classification import (
    Grid2D,
    _check_classification_inputs,
    _class_probabilities,
    _map_values,
    _mark_queries,
    _probability_text,
    _scatter_classes,
)
from .common import _check_axes, _new_figure
from .regression import plot_regression

__all__ = ["plot_point_vs_bayes"]


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
