"""Tests for pyro_bnn.benchmarks.results: CSV rows and the resumable loop."""

from __future__ import annotations

import math

from pyro_bnn.benchmarks import Skipped
from pyro_bnn.benchmarks.results import read_rows, run_plan, write_rows

from .helpers import csv_header

COLUMNS = ("dataset", "method", "split", "score")


def test_rows_round_trip_exactly_with_nan(tmp_path):
    rows = [
        {"dataset": "a", "method": "svi", "split": 0, "score": 0.1 + 0.2},
        {"dataset": "a", "method": "svi", "split": 1, "score": math.nan},
    ]
    write_rows(tmp_path / "r.csv", COLUMNS, rows)
    assert csv_header(tmp_path / "r.csv") == list(COLUMNS)
    back = read_rows(tmp_path / "r.csv")
    assert back[0] == rows[0]  # repr keeps every digit
    assert back[1]["split"] == 1 and math.isnan(back[1]["score"])


def test_run_plan_skips_records_failures_and_resumes(tmp_path):
    out = tmp_path / "r.csv"
    plan = [("a", 0, "good"), ("a", 0, "skip"), ("a", 0, "bad"), ("a", 1, "good")]
    calls = []

    def run_one(name, split, method, tag, log):
        calls.append((split, method))
        if method == "skip":
            raise Skipped("not on this data")
        if method == "bad":
            raise RuntimeError("boom")
        return {"dataset": name, "method": method, "split": split, "score": float(split)}

    rows, failures = run_plan(plan, out, COLUMNS, run_one, quiet=True)
    assert [(r["method"], r["split"]) for r in rows] == [("good", 0), ("good", 1)]
    assert failures == ["[3/4] a split 0 bad FAILED: RuntimeError: boom"]
    assert read_rows(out) == rows
    calls.clear()
    rows, failures = run_plan(plan, out, COLUMNS, run_one, resume=True, quiet=True)
    assert calls == [(0, "skip"), (0, "bad")]  # the finished rows are not run again
    assert len(rows) == 2 and len(failures) == 1
