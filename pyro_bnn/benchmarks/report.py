"""Summaries of benchmark rows: mean ± s.e. tables next to the published numbers, a figure."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..posterior import atomic_write
from .methods import methods_for
from .published import FIGURE_REFERENCES, TABLE_REFERENCES, published
from .uci import PROTOCOL_SPLITS

__all__ = [
    "summarize",
    "format_table",
    "format_calibration_table",
    "format_classification_table",
    "format_uci_report",
    "goal_report",
    "format_time_table",
    "estimate_protocol_seconds",
    "plot_published_comparison",
]


def summarize(rows: Sequence[dict], columns: Sequence[str] = ("rmse", "test_ll")) -> list[dict]:
    """Mean and standard error over splits per (dataset, method).

    Returns dicts with ``dataset``, ``method``, ``num_splits`` and, per column,
    ``<column>_mean`` and ``<column>_se`` (std over splits / sqrt(n); NaN for one split).
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["method"]), []).append(row)
    summary = []
    for (dataset, method), group in groups.items():
        entry = {"dataset": dataset, "method": method, "num_splits": len(group)}
        for column in columns:
            values = np.array([float(r[column]) for r in group], dtype=float)
            entry[f"{column}_mean"] = float(values.mean())
            entry[f"{column}_se"] = (
                float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan
            )
        summary.append(entry)
    return summary


def _mean_se(mean: float, se: float, digits: int) -> str:
    if math.isnan(se):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def _digits(dataset: str) -> int:
    return 3 if "wine" in dataset else 2


def _regression_methods(rows: Sequence[dict]) -> list[str]:
    """The registered regression methods present in ``rows``, in registration order."""
    return [m for m in methods_for("regression") if any(r["method"] == m for r in rows)]


def _markdown(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in body])


def format_table(rows: Sequence[dict], metric: str = "test_ll") -> str:
    """Markdown table: ours (mean ± s.e. over splits, n) next to the published numbers.

    ``metric`` is ``"test_ll"`` (higher is better) or ``"rmse"`` (lower is better).
    """
    if metric not in ("test_ll", "rmse"):
        raise ValueError(f"metric must be 'test_ll' or 'rmse', got {metric!r}")
    lookup = {(s["dataset"], s["method"]): s for s in summarize(rows, (metric,))}
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = _regression_methods(rows)
    methods += sorted({r["method"] for r in rows} - set(methods))
    header = (
        ["dataset"]
        + [f"{m} (ours)" for m in methods]
        + [f"{r} (published)" for r in TABLE_REFERENCES]
    )
    body = []
    for dataset in datasets:
        digits = _digits(dataset)
        cells = [dataset]
        for method in methods:
            entry = lookup.get((dataset, method))
            if entry is None:
                cells.append("—")
            else:
                text = _mean_se(entry[f"{metric}_mean"], entry[f"{metric}_se"], digits)
                cells.append(f"{text} (n={entry['num_splits']})")
        reference = published(dataset)
        for name in TABLE_REFERENCES:
            value = reference.get(name, {}).get(metric)
            cells.append("—" if value is None else _mean_se(value[0], value[1], digits))
        body.append(cells)
    return _markdown(header, body)


def format_calibration_table(rows: Sequence[dict]) -> str:
    """Markdown table of 90% interval coverage and CRPS (original units), mean ± s.e."""
    summary = {(s["dataset"], s["method"]): s for s in summarize(rows, ("coverage_90", "crps"))}
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = _regression_methods(rows)
    header = ["dataset"] + [f"{m}: coverage_90 / crps" for m in methods]
    body = []
    for dataset in datasets:
        cells = [dataset]
        for method in methods:
            entry = summary.get((dataset, method))
            if entry is None:
                cells.append("—")
                continue
            coverage = _mean_se(entry["coverage_90_mean"], entry["coverage_90_se"], 2)
            crps = _mean_se(entry["crps_mean"], entry["crps_se"], _digits(dataset))
            cells.append(f"{coverage} / {crps}")
        body.append(cells)
    return _markdown(header, body)


def format_classification_table(rows: Sequence[dict]) -> str:
    """Markdown table of mean ± s.e. over splits of every classification metric.

    With a ``fit_seconds`` column in every row, the mean fit time comes last.
    """
    columns = ("accuracy", "nll", "brier", "ece", "ood_auroc_mi", "ood_auroc_entropy")
    timed = bool(rows) and all("fit_seconds" in r for r in rows)
    body = []
    for entry in summarize(rows, columns + (("fit_seconds",) if timed else ())):
        cells = [entry["dataset"], entry["method"], str(entry["num_splits"])]
        for column in columns:
            mean = entry[f"{column}_mean"]
            cells.append("—" if math.isnan(mean) else _mean_se(mean, entry[f"{column}_se"], 3))
        if timed:
            cells.append(f"{entry['fit_seconds_mean']:.0f}")
        body.append(cells)
    return _markdown(["dataset", "method", "n", *columns] + (["fit s"] if timed else []), body)


def _matched_means(rows, dataset: str, method: str, other: str) -> tuple[float, float] | None:
    """Mean test LL of ``method`` and ``other`` over the splits of ``dataset`` both ran."""
    values: dict[str, dict[int, float]] = {method: {}, other: {}}
    for row in rows:
        if row["dataset"] == dataset and row["method"] in values:
            values[row["method"]][int(row["split"])] = float(row["test_ll"])
    common = sorted(set(values[method]) & set(values[other]))
    if not common:
        return None
    return tuple(float(np.mean([values[m][s] for s in common])) for m in (method, other))


def goal_report(rows: Sequence[dict], methods: Sequence[str] | None = None) -> str:
    """Plain-words check of the goals: test LL ≥ PBP's, > published MC dropout's, ≥ our ensemble's.

    Compares means only (our standard errors are printed in the table); the ensemble
    comparison uses the means over the splits both methods ran.
    """
    summary = {(s["dataset"], s["method"]): s for s in summarize(rows, ("test_ll",))}
    methods = _regression_methods(rows) if methods is None else methods
    lines = []
    for method in methods:
        pbp_wins, dropout_wins, compared = [], [], 0
        ensemble_wins, ensemble_compared = [], 0
        for dataset in [d for (d, m) in summary if m == method]:
            ours = summary[(dataset, method)]["test_ll_mean"]
            matched = _matched_means(rows, dataset, method, "ensemble")
            if matched is not None and method != "ensemble":
                ensemble_compared += 1
                if matched[0] >= matched[1]:
                    ensemble_wins.append(dataset)
            reference = published(dataset)
            if not reference:
                continue
            compared += 1
            if ours >= reference["PBP"]["test_ll"][0]:
                pbp_wins.append(dataset)
            if ours > reference["MC dropout"]["test_ll"][0]:
                dropout_wins.append(dataset)
        if compared:
            line = (
                f"{method}: test LL ≥ PBP on {len(pbp_wins)}/{compared} "
                f"({', '.join(pbp_wins) or 'none'}); > MC dropout (GG16) on "
                f"{len(dropout_wins)}/{compared} ({', '.join(dropout_wins) or 'none'})"
            )
            if ensemble_compared:
                line += (
                    f"; ≥ our ensemble on {len(ensemble_wins)}/{ensemble_compared} "
                    f"({', '.join(ensemble_wins) or 'none'})"
                )
            lines.append(line)
    return "\n".join(lines)


def format_time_table(rows: Sequence[dict]) -> str:
    """Markdown table: mean fit time in seconds per dataset and method (``n`` splits)."""
    summary = {(s["dataset"], s["method"]): s for s in summarize(rows, ("fit_seconds",))}
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = _regression_methods(rows)
    methods += sorted({r["method"] for r in rows} - set(methods))
    body = []
    for dataset in datasets:
        cells = [dataset]
        for method in methods:
            entry = summary.get((dataset, method))
            cells.append(
                "—"
                if entry is None
                else f"{entry['fit_seconds_mean']:.1f} (n={entry['num_splits']})"
            )
        body.append(cells)
    return _markdown(["dataset", *methods], body)


def estimate_protocol_seconds(
    rows: Sequence[dict],
    methods: Sequence[str] | None = None,
    splits: dict[str, int] | None = None,
) -> tuple[float, list[str]]:
    """Projected run time of the full protocol from the measured fit times in ``rows``.

    For every dataset of ``splits`` (default :data:`~pyro_bnn.benchmarks.uci.PROTOCOL_SPLITS`)
    and method (default: those in ``rows``): mean measured fit time × number of splits.

    Returns
    -------
    seconds, unmeasured : float, list of str
        The projected total and the ``dataset/method`` pairs without a measured fit
        (not counted).
    """
    splits = PROTOCOL_SPLITS if splits is None else splits
    methods = list(methods) if methods is not None else _regression_methods(rows)
    summary = {(s["dataset"], s["method"]): s for s in summarize(rows, ("fit_seconds",))}
    total, unmeasured = 0.0, []
    for dataset, count in splits.items():
        for method in methods:
            entry = summary.get((dataset, method))
            if entry is None:
                unmeasured.append(f"{dataset}/{method}")
            else:
                total += entry["fit_seconds_mean"] * count
    return total, unmeasured


def _projection(rows: Sequence[dict]) -> str:
    seconds, unmeasured = estimate_protocol_seconds(rows)
    splits = ", ".join(f"{d} {n}" for d, n in PROTOCOL_SPLITS.items())
    text = (
        f"Projected full protocol ({splits} splits) for the methods above, from the "
        f"mean fit times: {seconds / 3600:.1f} h of fitting"
    )
    if unmeasured:
        shown = ", ".join(unmeasured[:6]) + (", ..." if len(unmeasured) > 6 else "")
        text += f" (not counted: {len(unmeasured)} dataset/method pairs never measured: {shown})"
    return text + "."


def format_uci_report(rows: Sequence[dict]) -> str:
    """The UCI summary: test-LL, RMSE and calibration tables, then :func:`goal_report`."""
    return "\n\n".join(
        [
            "Test log-likelihood per point (original units; mean ± s.e. over splits)",
            format_table(rows, "test_ll"),
            "Test RMSE (original units)",
            format_table(rows, "rmse"),
            "Coverage of the central 90% interval (ideal 0.90) / CRPS (original units)",
            format_calibration_table(rows),
            "Fit time per split in seconds (mean over splits; fit and prediction)",
            format_time_table(rows),
            _projection(rows),
            goal_report(rows),
        ]
    )


# --------------------------------------------------------------------------- figure


def _panel(ax, dataset: str, summary: dict, methods: Sequence[str], metric: str) -> None:
    """One dataset: our methods (blue, mean ± s.e.) and the published numbers (gray)."""
    labels, means, errors, colors = [], [], [], []
    for method in methods:
        entry = summary.get((dataset, method))
        if entry is None:
            continue
        labels.append(f"{method} (n={entry['num_splits']})")
        means.append(entry[f"{metric}_mean"])
        errors.append(0.0 if math.isnan(entry[f"{metric}_se"]) else entry[f"{metric}_se"])
        colors.append("tab:blue")
    reference = published(dataset)
    for name in FIGURE_REFERENCES:
        if name in reference:
            labels.append(name)
            means.append(reference[name][metric][0])
            errors.append(reference[name][metric][1])
            colors.append("tab:gray")
    positions = np.arange(len(labels))
    ax.errorbar(means, positions, xerr=errors, fmt="none", ecolor="black", elinewidth=1, capsize=2)
    ax.scatter(means, positions, c=colors, zorder=3)
    if reference:
        ax.axvline(reference["PBP"][metric][0], color="tab:orange", lw=1, ls="--", label="PBP")
    ax.set_yticks(positions, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(dataset, fontsize=10)
    ax.set_xlabel("test log-likelihood (higher is better)" if metric == "test_ll" else "test RMSE")
    # Keep catastrophic values from squashing the rest: clip the axis, mark clipped points.
    if metric == "test_ll" and reference:
        floor = min(v[metric][0] for v in reference.values()) - 1.5
        high = max(means)
        if min(means) < floor:
            ax.set_xlim(floor, high + 0.1 * (high - floor) + 0.05)
            for position, mean in zip(positions, means, strict=True):
                if mean < floor:
                    ax.annotate(
                        f"← {mean:.1f}", (floor, position), fontsize=7, va="center",
                        xytext=(2, 0), textcoords="offset points", color="tab:red",
                    )  # fmt: skip
    ax.grid(axis="x", alpha=0.3)


def plot_published_comparison(
    rows: Sequence[dict], path: str | os.PathLike, metric: str = "test_ll"
):
    """Figure: per dataset, our methods (mean ± s.e.) against the published numbers.

    Returns the matplotlib figure (also saved to ``path``).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    summary = {(s["dataset"], s["method"]): s for s in summarize(rows, (metric,))}
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = _regression_methods(rows)
    columns = min(3, len(datasets))
    num_rows = math.ceil(len(datasets) / columns)
    fig, axes = plt.subplots(
        num_rows, columns, figsize=(4.6 * columns, 3.4 * num_rows), squeeze=False
    )
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        _panel(ax, dataset, summary, methods, metric)
    for ax in list(axes.flat)[len(datasets) :]:
        ax.axis("off")
    title = "UCI test log-likelihood: ours (blue, mean ± s.e.) vs published (gray); dashed: PBP"
    fig.suptitle(title if columns > 1 else title.replace(": ", ":\n"), fontsize=10)
    fig.tight_layout()
    path = Path(path)

    def write(tmp: str) -> None:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")

    atomic_write(path, write)
    return fig
