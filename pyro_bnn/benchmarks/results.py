"""Benchmark rows: the CSV columns, atomic writing, reading back, and the resumable loop."""

from __future__ import annotations

import csv
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from ..posterior import atomic_write
from .methods import Skipped

__all__ = [
    "REGRESSION_COLUMNS",
    "CLASSIFICATION_COLUMNS",
    "read_rows",
    "write_rows",
    "ProgressLog",
    "run_plan",
]

REGRESSION_COLUMNS = (
    "dataset",
    "method",
    "split",
    "rmse",
    "test_ll",
    "coverage_90",
    "crps",
    "fit_seconds",
)
CLASSIFICATION_COLUMNS = (
    "dataset",
    "method",
    "split",
    "accuracy",
    "nll",
    "brier",
    "ece",
    "ood_auroc_mi",
    "ood_auroc_entropy",
    "fit_seconds",
)


def _format_value(value) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def write_rows(path: str | os.PathLike, columns: Sequence[str], rows: Sequence[dict]) -> None:
    """Rewrite the whole CSV atomically (small files): a crash never leaves half a row."""

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns))
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _format_value(row[k]) for k in columns})

    atomic_write(path, write)


def read_rows(path: str | os.PathLike) -> list[dict]:
    """Rows of a benchmark CSV: text columns as strings, numbers as floats (``split`` int)."""
    rows = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            parsed = {}
            for key, value in row.items():
                if key in ("dataset", "method"):
                    parsed[key] = value
                elif key == "split":
                    parsed[key] = int(value)
                else:
                    parsed[key] = float(value) if value not in ("", None) else math.nan
            rows.append(parsed)
    return rows


class ProgressLog:
    """Progress lines on stderr with the elapsed time (silenced with ``quiet``)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        """Print ``message`` unless quiet."""
        if not self.quiet:
            elapsed = time.perf_counter() - self.start
            print(f"[{elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)


def run_plan(
    plan: Sequence[tuple[str, int, str]],
    out: str | os.PathLike,
    columns: Sequence[str],
    run_one: Callable[[str, int, str, str, ProgressLog], dict],
    resume: bool = False,
    quiet: bool = False,
) -> tuple[list[dict], list[str]]:
    """Run every ``(dataset, split, method)`` of ``plan``; rewrite ``out`` after each row.

    ``run_one(dataset, split, method, tag, log)`` returns the row (it may log details
    with ``log``, ``tag`` being the step's ``[i/n] dataset split s method``). A
    :class:`~pyro_bnn.benchmarks.methods.Skipped` step is logged and leaves no row; any
    other exception is a failure: logged with its traceback, the other steps still run.
    With ``resume``, rows already in ``out`` are kept and their steps skipped.

    Returns
    -------
    rows, failures : list of dict, list of str
        All rows in ``out`` and a message per step that raised.
    """
    out = Path(out)
    rows: list[dict] = read_rows(out) if resume and out.is_file() else []
    done = {(r["dataset"], r["method"], r["split"]) for r in rows}
    failures: list[str] = []
    log = ProgressLog(quiet)
    write_rows(out, columns, rows)
    for position, (name, split, method) in enumerate(plan, 1):
        tag = f"[{position}/{len(plan)}] {name} split {split} {method}"
        if (name, method, split) in done:
            log(f"{tag}: already in {out}, skipped")
            continue
        try:
            row = run_one(name, split, method, tag, log)
        except Skipped as reason:
            log(f"{tag}: skipped ({reason})")
            continue
        except Exception as error:  # one failed fit must not lose the others
            message = f"{tag} FAILED: {type(error).__name__}: {error}"
            failures.append(message)
            log(message)
            if not quiet:
                traceback.print_exc(file=sys.stderr)
            continue
        rows.append(row)
        write_rows(out, columns, rows)
    return rows, failures
