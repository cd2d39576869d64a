"""Tests for pyro_bnn.benchmarks.uci: the UCI protocol, crash handling, resume, arguments."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from pyro_bnn.benchmarks import REGRESSION_COLUMNS, read_rows, run_uci

from .helpers import SHARED_UCI, TINY, csv_header, fake_fit, needs_shared


@pytest.mark.slow
def test_uci_run_writes_rows_in_original_units(synthetic_dir, tmp_path):
    out = tmp_path / "results.csv"
    rows, failures = run_uci(
        synthetic_dir,
        methods=("svi", "map", "mc-dropout", "ensemble", "swag"),
        splits=1,
        out=out,
        settings=TINY,
        quiet=True,
    )
    assert failures == []
    assert csv_header(out) == list(REGRESSION_COLUMNS)
    written = read_rows(out)
    assert [(r["dataset"], r["method"], r["split"]) for r in written] == [
        ("toyset", m, 0) for m in ("svi", "map", "mc-dropout", "ensemble", "swag")
    ]
    for row in written:
        assert all(math.isfinite(row[c]) for c in REGRESSION_COLUMNS[3:])
        # y has std ~1000: errors in original units are hundreds, not ~1; the log density
        # per point carries -log(1000) ~ -6.9
        assert 10 < row["rmse"] < 5000
        assert row["test_ll"] < -3
        assert 0 <= row["coverage_90"] <= 1
        assert row["fit_seconds"] > 0


@needs_shared
def test_uci_run_on_yacht(tmp_path):
    out = tmp_path / "yacht.csv"
    rows, failures = run_uci(
        SHARED_UCI, datasets=["yacht"], methods=("map", "ensemble"), splits=1, out=out,
        settings=TINY, quiet=True,
    )  # fmt: skip
    assert failures == []
    assert csv_header(out) == list(REGRESSION_COLUMNS)
    assert [(r["dataset"], r["split"]) for r in rows] == [("yacht", 0), ("yacht", 0)]
    assert all(0 < r["rmse"] < 30 for r in rows)  # yacht's target std is about 15


def test_a_crash_in_one_split_keeps_the_other_rows(synthetic_dir, tmp_path):
    def crash_on_split_one(setup, x, y, settings):
        if setup.seed == 1:
            raise RuntimeError("simulated failure")
        return fake_fit(setup, x, y, settings)

    out = tmp_path / "results.csv"
    rows, failures = run_uci(
        synthetic_dir,
        methods=("map", "ensemble"),
        splits=3,
        out=out,
        quiet=True,
        fitters={"map": crash_on_split_one, "ensemble": fake_fit},
    )
    assert len(failures) == 1
    assert "toyset split 1 map FAILED: RuntimeError: simulated failure" in failures[0]
    done = [(r["method"], r["split"]) for r in read_rows(out)]
    assert done == [("map", 0), ("ensemble", 0), ("ensemble", 1), ("map", 2), ("ensemble", 2)]


def test_resume_only_fits_missing_rows(synthetic_dir, tmp_path):
    out = tmp_path / "results.csv"
    run_uci(synthetic_dir, methods=("map",), splits=1, out=out, quiet=True,
            fitters={"map": fake_fit})  # fmt: skip
    calls = []

    def counting(setup, x, y, settings):
        calls.append(setup.seed)
        return fake_fit(setup, x, y, settings)

    rows, _ = run_uci(
        synthetic_dir, methods=("map",), splits=2, out=out, quiet=True, resume=True,
        fitters={"map": counting},
    )  # fmt: skip
    assert calls == [1]
    assert [r["split"] for r in rows] == [0, 1]
    assert len(read_rows(out)) == 2


def test_the_standardization_uses_training_statistics(synthetic_dir, tmp_path):
    seen = {}

    def spy(setup, x, y, settings):
        seen.update(x=x, y=y, setup=setup)
        return fake_fit(setup, x, y, settings)

    rows, _ = run_uci(synthetic_dir, methods=("map",), splits=1, out=tmp_path / "r.csv",
                      quiet=True, fitters={"map": spy})  # fmt: skip
    np.testing.assert_allclose(seen["x"].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(seen["x"].std(0), [1, 0, 1], atol=1e-12)  # constant column: 0
    np.testing.assert_allclose([seen["y"].mean(), seen["y"].std()], [0, 1], atol=1e-12)
    setup = seen["setup"]
    assert (setup.task, setup.in_features, setup.out_features) == ("regression", 3, 1)
    assert setup.hidden == (50,) and setup.seed == 0
    # the fake predicts the training mean with sigma 1 (standardized): in original units the
    # RMSE is the test targets' spread around the training mean
    dataset = __import__("pyro_bnn").load_uci(synthetic_dir / "toyset", 0)
    expected = np.sqrt(np.mean((dataset.y_test - dataset.y.mean()) ** 2))
    assert rows[0]["rmse"] == pytest.approx(expected, rel=1e-5)


def test_bad_arguments(synthetic_dir, tmp_path):
    with pytest.raises(
        ValueError, match="method must be one of 'svi', 'svi-lowrank', 'laplace', 'nuts'"
    ):
        run_uci(synthetic_dir, methods=("hmc",), out=tmp_path / "r.csv")
    with pytest.raises(ValueError, match="dataset 'yacht' not found .* available: toyset"):
        run_uci(synthetic_dir, datasets=["yacht"], out=tmp_path / "r.csv")
    with pytest.raises(ValueError, match="did you mean 'toyset'"):
        run_uci(synthetic_dir, datasets=["toyst"], out=tmp_path / "r.csv")
    with pytest.raises(ValueError, match="splits must be a positive integer"):
        run_uci(synthetic_dir, splits=0, out=tmp_path / "r.csv")
    with pytest.raises(ValueError, match="is not a folder"):
        run_uci(tmp_path / "missing", out=tmp_path / "r.csv")


def test_nuts_is_skipped_on_large_training_sets(synthetic_dir, tmp_path):
    rows, failures = run_uci(
        synthetic_dir, methods=("nuts",), splits=1, out=tmp_path / "r.csv", quiet=True,
        settings=replace(TINY, nuts_max_points=10),
    )  # fmt: skip
    assert rows == [] and failures == []


def test_the_protocol_runs_5_splits_of_power_plant_and_all_of_the_small_sets(tmp_path):
    from pyro_bnn.benchmarks.uci import PROTOCOL_SPLITS, _plan

    from .helpers import write_uci_folder

    assert PROTOCOL_SPLITS["yacht"] == 20 and PROTOCOL_SPLITS["protein-tertiary-structure"] == 5
    for name in ("power-plant", "yacht", "mine"):
        write_uci_folder(tmp_path / name, num_splits=7 if name != "yacht" else 3)
    plan = _plan(tmp_path, ["power-plant", "yacht", "mine"], ["map"], None, None)
    counts = {
        name: sum(1 for d, _, _ in plan if d == name) for name in ("power-plant", "yacht", "mine")
    }
    assert counts == {"power-plant": 5, "yacht": 3, "mine": 7}  # unknown sets: all splits
    capped = _plan(tmp_path, ["power-plant"], ["map"], 2, None)
    assert [split for _, split, _ in capped] == [0, 1]
    for limit, expected in ((3, 3), (7, 7), (50, 7)):  # --max-splits replaces the protocol's 5
        assert (
            len(_plan(tmp_path, ["power-plant"], ["map"], None, {"power-plant": limit})) == expected
        )
