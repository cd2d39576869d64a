"""Tests for pyro_bnn.benchmarks.report: summaries, tables next to the published numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyro_bnn.benchmarks import (
    estimate_protocol_seconds,
    format_calibration_table,
    format_classification_table,
    format_table,
    format_time_table,
    goal_report,
    plot_published_comparison,
    summarize,
)


def test_summary_mean_and_standard_error():
    rows = [
        {"dataset": "concrete", "method": "svi", "split": s, "rmse": v, "test_ll": -v}
        for s, v in enumerate([1.0, 2.0, 6.0])
    ]
    (entry,) = summarize(rows)
    assert entry["num_splits"] == 3
    assert entry["rmse_mean"] == pytest.approx(3.0)
    assert entry["rmse_se"] == pytest.approx(np.std([1, 2, 6], ddof=1) / np.sqrt(3))
    assert math.isnan(summarize(rows[:1])[0]["rmse_se"])  # one split: no standard error
    table = format_table(rows, "test_ll")
    assert "-3.00 ± 1.53 (n=3)" in table
    assert "-3.16 ± 0.02" in table  # PBP on concrete, published
    assert goal_report(rows) == (  # -3.00 beats PBP (-3.16) and MC dropout (-3.04)
        "svi: test LL ≥ PBP on 1/1 (concrete); > MC dropout (GG16) on 1/1 (concrete)"
    )
    with pytest.raises(ValueError, match="metric must be 'test_ll' or 'rmse'"):
        format_table(rows, "crps")


def test_goal_report_counts_wins():
    rows = [
        {"dataset": "yacht", "method": "nuts", "split": 0, "rmse": 0.5, "test_ll": -1.0},
        {"dataset": "concrete", "method": "nuts", "split": 0, "rmse": 6.0, "test_ll": -3.10},
    ]
    assert goal_report(rows) == (
        "nuts: test LL ≥ PBP on 2/2 (yacht, concrete); > MC dropout (GG16) on 1/2 (yacht)"
    )


def test_goal_report_compares_with_our_ensemble():
    rows = [
        {"dataset": d, "method": m, "split": 0, "rmse": 1.0, "test_ll": ll}
        for d, m, ll in (
            ("yacht", "nuts", 0.4), ("yacht", "ensemble", 0.1),
            ("energy", "nuts", -0.9), ("energy", "ensemble", -0.8),
        )
    ]  # fmt: skip
    # a split the ensemble ran but NUTS did not is left out of the comparison
    rows.append({"dataset": "yacht", "method": "ensemble", "split": 1, "rmse": 1.0, "test_ll": 9.0})
    assert goal_report(rows).splitlines()[0] == (
        "nuts: test LL ≥ PBP on 2/2 (yacht, energy); > MC dropout (GG16) on 2/2 "
        "(yacht, energy); ≥ our ensemble on 1/2 (yacht)"
    )


def test_fit_times_and_the_projected_protocol():
    rows = [
        {"dataset": d, "method": m, "split": s, "fit_seconds": t + s}
        for d, m, t in (("yacht", "map", 9.0), ("yacht", "nuts", 59.0), ("energy", "map", 19.0))
        for s in (0, 2)
    ]
    table = format_time_table(rows).splitlines()
    assert table[0] == "| dataset | nuts | map |"
    assert table[2] == "| yacht | 60.0 (n=2) | 10.0 (n=2) |"
    assert table[3] == "| energy | — | 20.0 (n=2) |"
    seconds, unmeasured = estimate_protocol_seconds(rows, splits={"yacht": 20, "energy": 20})
    assert seconds == pytest.approx(20 * (60 + 10 + 20))
    assert unmeasured == ["energy/nuts"]


def test_tables_order_methods_as_registered_and_mark_missing_cells():
    rows = [
        {"dataset": d, "method": m, "split": 0, "rmse": 1.0, "test_ll": -1.0,
         "coverage_90": 0.9, "crps": 0.5}
        for d, m in (("yacht", "map"), ("yacht", "svi"), ("wine-quality-red", "map"))
    ]  # fmt: skip
    lines = format_table(rows, "rmse").splitlines()
    assert lines[0].startswith("| dataset | svi (ours) | map (ours) | PBP (published)")
    assert lines[3].startswith("| wine-quality-red | — | 1.000 (n=1) | 0.640 ± 0.010")
    calibration = format_calibration_table(rows).splitlines()
    assert calibration[2] == "| yacht | 0.90 / 0.50 | 0.90 / 0.50 |"


def test_classification_table():
    rows = [
        {"dataset": "digits", "method": "map", "split": s, "accuracy": a, "nll": 0.2,
         "brier": 0.1, "ece": 0.05, "ood_auroc_mi": math.nan, "ood_auroc_entropy": 0.9}
        for s, a in enumerate([0.9, 1.0])
    ]  # fmt: skip
    last = format_classification_table(rows).splitlines()[-1]
    assert last == (
        "| digits | map | 2 | 0.950 ± 0.050 | 0.200 ± 0.000 | 0.100 ± 0.000 | "
        "0.050 ± 0.000 | — | 0.900 ± 0.000 |"
    )


def test_figure_is_written(tmp_path):
    rows = [
        {"dataset": d, "method": m, "split": s, "rmse": 1.0, "test_ll": ll + 0.01 * s}
        for d in ("yacht", "energy")
        for m, ll in (("svi", -1.5), ("nuts", -9.0))
        for s in range(2)
    ]
    figure = plot_published_comparison(rows, tmp_path / "figure.png")
    assert (tmp_path / "figure.png").stat().st_size > 10_000
    # nuts at -9 is below the clipping floor (lowest published minus 1.5): marked, not drawn
    notes = [t.get_text() for t in figure.axes[0].texts]
    assert notes == ["← -9.0"]
