"""The plots of a run directory, drawn with :mod:`pyro_bnn.plots`.

matplotlib is imported on the first plot: the CLI and ``fit_run`` without plots do not need it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..plots.kinds import RUN_PLOT_KINDS
from ..posterior import atomic_write
from ..validation import check_choice
from .files import as_numpy

if TYPE_CHECKING:
    from .run_dir import Run

__all__ = ["make_plots"]


def _grid_1d(x: np.ndarray, margin: float, num: int) -> np.ndarray:
    low, high = float(x.min()), float(x.max())
    span = high - low or 1.0
    return np.linspace(low - margin * span, high + margin * span, num)


def make_plots(
    run: Run,
    kinds: Sequence[str] | None = None,
    out_dir: str | os.PathLike | None = None,
    log: Any = None,
) -> list[Path]:
    """Draw the run's plots as PNG files (default ``<run>/plots/``), each written atomically.

    Kinds: the names of :data:`pyro_bnn.plots.kinds.RUN_PLOT_KINDS` (``"uncertainty"``,
    ``"diagnostics"``, ``"calibration"`` drawn on the test part, the training part if
    there is none; ``"ppc"`` and ``"prior_predictive"`` on the training part).

    A plot that fails is reported through ``log`` (or raised when ``log`` is None).
    Returns the written paths.
    """
    kinds = list(run.spec.plots["kinds"] if kinds is None else kinds)
    for kind in kinds:
        check_choice(kind, "plot kind", RUN_PLOT_KINDS)
    out_dir = Path(out_dir) if out_dir is not None else Path(run.path) / "plots"
    out_dir.mkdir(parents=True, exist_ok=True)
    dpi = run.spec.plots["dpi"]
    written = []
    for kind in kinds:
        try:
            figure = _PLOT_DRAWERS[kind](run)
            if figure is None:
                continue
            path = out_dir / f"{kind}.png"

            def save(tmp: str, figure=figure) -> None:
                figure.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")

            atomic_write(path, save)
            written.append(path)
        except Exception as error:
            if log is None:
                raise
            log.warning(f"the {kind} plot failed: {type(error).__name__}: {error}")
    return written


def _evaluation_part(run: Run):
    data = run.data
    if data.x_test is not None:
        return data.x_test, data.y_test, "test"
    return data.x_train, data.y_train, "training"


def _plot_uncertainty(run: Run):
    from .. import plots

    data = run.data
    spec = run.spec
    title = spec.description or spec.name
    if data.task == "regression" and data.num_features == 1:
        x_all = data.x_train[:, 0]
        if data.x_test is not None:
            x_all = np.concatenate([x_all, data.x_test[:, 0]])
        x_grid = _grid_1d(x_all, spec.predict["margin"], spec.predict["grid"])
        from matplotlib.figure import Figure

        pred = run.predict(x_grid[:, None])
        point = run.posterior.is_point_estimate
        figure = Figure(figsize=(7, 4.5 if point else 6.8), layout="constrained")
        if point:
            top, bottom = figure.subplots(1, 1), None
        else:
            top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[2.2, 1])
        plots.plot_regression(
            pred,
            x_grid,
            x_train=data.x_train[:, 0],
            y_train=data.y_train,
            ax=top,
            level=spec.predict["level"],
            num_function_draws=spec.plots["function_draws"],
            title=title,
        )
        top.set_ylabel(data.target_name)
        # the legend above the bands, not on them ("best" still lands on the data or
        # on a band edge when both fill the panel); the title moves above the legend
        top.get_legend().remove()
        top.set_title("")
        figure.suptitle(title)
        top.legend(
            loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize="small", frameon=False
        )
        if bottom is None:
            top.set_xlabel(data.feature_names[0])
            return figure
        # the claim of a Bayesian fit: epistemic std grows where there is no data
        plots.plot_epistemic_std(pred, x_grid, x_train=data.x_train[:, 0], ax=bottom)
        top.set_xlabel("")
        bottom.set_xlabel(data.feature_names[0])
        return figure
    if data.task == "classification" and data.num_features == 2:
        grid = plots.grid_2d(
            data.x_train,
            num=min(spec.predict["grid"], 150),
            margin=spec.predict["margin"],
            include=data.query_points,
        )
        pred = run.predict(grid.points)
        query_pred = run.predict(data.query_points) if data.query_points is not None else None
        figure = plots.plot_classification(
            pred,
            grid.x1,
            grid.x2,
            data.x_train,
            data.y_train,
            query_points=data.query_points,
            query_prediction=query_pred,
            title=title,
        )
        for ax in figure.axes:
            if ax.get_label() != "<colorbar>":
                ax.set_xlabel(data.feature_names[0])
                ax.set_ylabel(data.feature_names[1])
        return figure
    x, y, part = _evaluation_part(run)
    pred = run.predict(x)
    return _plot_generic_uncertainty(run, pred, y, part)


def _plot_generic_uncertainty(run: Run, pred, y, part: str):
    """Fallback for inputs that cannot be drawn as a map: predicted vs observed with
    intervals (regression) or uncertainty histograms of right vs wrong (classification)."""
    from matplotlib.figure import Figure

    title = run.spec.description or run.spec.name
    if run.task == "regression":
        from .. import plots

        return plots.plot_predicted_vs_observed(
            pred,
            y,
            level=run.spec.predict["level"],
            target_name=run.data.target_name,
            title=f"{title} ({part} part)",
        )
    probs = as_numpy(pred.probs)
    correct = probs.argmax(1) == np.asarray(y)
    figure = Figure(figsize=(10, 4))
    axes = figure.subplots(1, 2)
    for ax, values, label in (
        (axes[0], as_numpy(pred.entropy), "predictive entropy (total, nats)"),
        (axes[1], as_numpy(pred.mutual_information), "mutual information (epistemic, nats)"),
    ):
        bins = np.linspace(0, max(values.max(), 1e-6), 30)
        ax.hist(values[correct], bins=bins, alpha=0.6, density=True, label="correct")
        ax.hist(values[~correct], bins=bins, alpha=0.6, density=True, label="misclassified")
        ax.set_xlabel(label)
        ax.set_ylabel("density")
        ax.legend()
    figure.suptitle(
        f"{title}\n{part} part: accuracy {100 * correct.mean():.1f}%; "
        "misclassified inputs should carry more uncertainty",
        fontsize=10,
    )
    figure.tight_layout()
    return figure


def _plot_diagnostics(run: Run):
    from .. import plots

    return plots.plot_diagnostics(run.posterior)


def _plot_calibration(run: Run):
    from .. import plots

    x, y, _ = _evaluation_part(run)
    pred = run.predict(x)
    if run.task == "classification":
        return plots.plot_reliability(pred, y)
    return plots.plot_calibration(pred, y)


def _plot_ppc(run: Run):
    from .. import plots

    data = run.data
    return plots.plot_ppc(
        run.posterior, data.x_train, data.y_train, seed=run.spec.inference.get("seed", 0),
        title=f"{run.spec.description or run.spec.name} (training part)",
    )  # fmt: skip


def _plot_prior_predictive(run: Run):
    from .. import plots

    data = run.data
    scaler = run.posterior.scaler  # the prior on the scale the fit used
    standardize = False if scaler is None else (True if scaler.task == "regression" else "x")
    return plots.plot_prior_predictive(
        run.posterior.model, data.x_train, data.y_train, standardize=standardize,
        obs_site=run.posterior.obs_site, seed=run.spec.inference.get("seed", 0),
        title=f"{run.spec.description or run.spec.name}: the prior, with the training data",
    )  # fmt: skip


# One drawer per kind of pyro_bnn.plots.kinds.RUN_PLOT_KINDS (which names and describes them).
_PLOT_DRAWERS: dict[str, Callable[[Run], Any]] = {
    "uncertainty": _plot_uncertainty,
    "diagnostics": _plot_diagnostics,
    "calibration": _plot_calibration,
    "ppc": _plot_ppc,
    "prior_predictive": _plot_prior_predictive,
}
