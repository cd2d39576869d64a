"""tutorials/check_outputs.py: the number extraction and comparison (no notebook runs)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "tutorials" / "check_outputs.py"
_spec = importlib.util.spec_from_file_location("check_outputs", _PATH)
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


def test_parse_masks_numbers_and_records_their_printed_precision():
    lines, numbers = check.parse("RMSE 0.605, test LL -1.27, 1e-3 and 4,000 steps\n[200 200]")
    assert lines == ["RMSE #, test LL #, # and # steps", "[# #]"]
    values = [v for v, _ in numbers]
    places = [p for _, p in numbers]
    assert values == [0.605, -1.27, 1e-3, 4000.0, 200.0, 200.0]
    assert places == pytest.approx([0.001, 0.01, 0.001, 1.0, 1.0, 1.0])


def test_wall_clock_times_are_not_compared():
    lines, numbers = check.parse("150 fits in 169 s\nfit took 8.2 seconds\n5 seeds")
    assert lines == ["# fits in # s", "fit took # seconds", "# seeds"]
    assert [v for v, _ in numbers] == [150.0, 5.0]  # 169 s and 8.2 seconds are times
    assert check.parse("run time: 12.5 (wall)")[0] == []  # a line naming time is left out
    assert check.compare_text("3.4 times wider", "5.0 times wider") is not None  # not a time
    assert check.compare_text("150 fits in 169 s", "150 fits in 97 s") is None
    assert check.compare_text("a 1\n\nb 2\n", "a 1\nb 2") is None  # blank lines: ignored


def test_a_rounding_flip_matches_but_a_moved_number_does_not():
    assert check.compare_text("sigma 0.605", "sigma 0.606") is None  # one unit, last place
    assert check.compare_text("sigma 0.605", "sigma 0.608") == "number 0.605 -> 0.608"
    assert check.compare_text("ELBO -1000.0", "ELBO -1000.9", rtol=1e-3) is None
    assert check.compare_text("ELBO -1000.0", "ELBO -1002.0", rtol=1e-3) is not None
    assert check.compare_text("n = 140", "n = 141") is None  # integers: one unit
    assert check.compare_text("n = 140", "n = 138") is not None
    assert check.compare_text("a 1.0 b 2.0 c 3.0", "a 1.5 b 2.0 c 3.9") == (
        "number 1 -> 1.5 (and 1 more)"
    )


def test_changed_text_or_a_new_warning_is_a_mismatch():
    committed = "ConvergenceWarning: R-hat 6.754\nscore 0.49"
    assert check.compare_text(committed, "score 0.49") is not None
    assert "text differs" in check.compare_text("MAP 0.52", "NUTS 0.52")


def test_compare_notebooks_reports_the_cell_index_and_both_snippets():
    def notebook(text):
        return {
            "cells": [
                {"cell_type": "markdown", "source": "# title"},
                {
                    "cell_type": "code",
                    "outputs": [
                        {"output_type": "stream", "name": "stdout", "text": text},
                        {"output_type": "display_data", "data": {"image/png": "..."}},
                    ],
                },
                {
                    "cell_type": "code",
                    "outputs": [{"output_type": "execute_result", "data": {"text/plain": "3"}}],
                },
            ]
        }

    same = check.compare_notebooks(notebook("acc 0.897"), notebook("acc 0.897"))
    assert same == {"cells_compared": 2, "mismatches": []}
    moved = check.compare_notebooks(notebook("acc 0.897"), notebook("acc 0.850"))
    assert moved["mismatches"] == [
        {"cell": 1, "reason": "number 0.897 -> 0.85", "committed": "acc 0.897", "new": "acc 0.850"}
    ]


def test_stdout_and_stderr_are_compared_apart_and_padding_is_ignored():
    def cell(*outputs):
        return {"cell_type": "code", "outputs": list(outputs)}

    out = {"output_type": "stream", "name": "stdout", "text": "sigma 0.88\n"}
    err = {"output_type": "stream", "name": "stderr", "text": "Warning: R-hat 1.2\n"}
    # the kernel flushed the warning before the print in one run and after it in the other
    assert check.output_text(cell(out, err)) == check.output_text(cell(err, out))
    # ... and cut the same line into chunks differently
    halves = [{"output_type": "stream", "name": "stdout", "text": t} for t in ("sig", "ma 0.88\n")]
    assert check.output_text(cell(out)) == check.output_text(cell(*halves))
    assert check.compare_text("NUTS  0.16    9 s", "NUTS  0.16   10 s") is None
    assert check.compare_text("NUTS 0.16", "NUTS0.16") is not None  # spacing, not padding
    # a warning that moves to the other stream, or disappears, still mismatches
    moved = {"output_type": "stream", "name": "stdout", "text": "Warning: R-hat 1.2\n"}
    assert (
        check.compare_text(check.output_text(cell(out, err)), check.output_text(cell(moved, out)))
        is not None
    )


def test_this_machine_names_the_cpu_and_its_simd_level():
    machine = check.this_machine()
    assert set(machine) == {"cpu", "simd"}
    assert machine["cpu"]
    assert machine["simd"] in ("X86_V2", "X86_V3", "X86_V4", "unknown")
