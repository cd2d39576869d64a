"""Tests for pyro_bnn.benchmark: the UCI protocol, CSV rows, crash handling, tables, CLI."""

from __future__ import annotations

import csv
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pyro_bnn import benchmark
from pyro_bnn.benchmark import (
    CLASSIFICATION_COLUMNS,
    PRESETS,
    PUBLISHED,
    REGRESSION_COLUMNS,
    format_table,
    goal_report,
    main,
    read_rows,
    run_classification,
    run_uci,
    summarize,
)

SHARED_UCI = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci"
needs_shared = pytest.mark.skipif(
    not (SHARED_UCI / "yacht").is_dir(),
    reason=f"the UCI data folder {SHARED_UCI} is not present (shared workspace only)",
)
TINY = PRESETS["tiny"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _write_uci_folder(folder: Path, num_rows=60, num_splits=3, y_scale=1000.0, seed=0) -> Path:
    """A synthetic dataset in the UCI split format: 3 features (one constant), target last."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    x = rng.normal(size=(num_rows, 3))
    x[:, 1] = 7.0  # constant column: the std-0 guard must handle it
    y = y_scale * (x[:, 0] + 0.1 * rng.normal(size=num_rows)) + 5 * y_scale
    np.savetxt(folder / "data.txt", np.column_stack([x, y]))
    np.savetxt(folder / "index_features.txt", [0, 1, 2], fmt="%d")
    np.savetxt(folder / "index_target.txt", [3], fmt="%d")
    (folder / "n_splits.txt").write_text(f"{num_splits}\n")
    for split in range(num_splits):
        order = np.random.default_rng(split).permutation(num_rows)
        np.savetxt(folder / f"index_train_{split}.txt", order[:50], fmt="%d")
        np.savetxt(folder / f"index_test_{split}.txt", order[50:], fmt="%d")
    return folder


@pytest.fixture
def synthetic_dir(tmp_path):
    _write_uci_folder(tmp_path / "data" / "toyset")
    return tmp_path / "data"


def _csv_header(path: Path) -> list[str]:
    with open(path, newline="") as handle:
        return next(csv.reader(handle))


# --------------------------------------------------------------------------- UCI protocol


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
    assert _csv_header(out) == list(REGRESSION_COLUMNS)
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
    assert _csv_header(out) == list(REGRESSION_COLUMNS)
    assert [(r["dataset"], r["split"]) for r in rows] == [("yacht", 0), ("yacht", 0)]
    assert all(0 < r["rmse"] < 30 for r in rows)  # yacht's target std is about 15


def _fake_fit(method, x, y, x_test, hidden, settings, seed, progress):
    """Predict the training mean with unit noise (a MAP 'fit' in no time)."""
    from pyro_bnn.baselines import BaselineFit
    from pyro_bnn.likelihoods import Gaussian
    from pyro_bnn.nets import BayesianMLP

    model = BayesianMLP(x.shape[1], 1, hidden=(), likelihood=Gaussian(sigma=1.0))
    draws = {
        "layers.0.weight": torch.zeros(1, 1, x.shape[1]),
        "layers.0.bias": torch.full((1, 1), float(np.mean(y))),
    }
    return BaselineFit(model, "map", samples=draws).predict(x_test), {}


def test_a_crash_in_one_split_keeps_the_other_rows(synthetic_dir, tmp_path):
    def crash_on_split_one(method, x, y, x_test, hidden, settings, seed, progress):
        if seed == 1:
            raise RuntimeError("simulated failure")
        return _fake_fit(method, x, y, x_test, hidden, settings, seed, progress)

    out = tmp_path / "results.csv"
    rows, failures = run_uci(
        synthetic_dir,
        methods=("map", "ensemble"),
        splits=3,
        out=out,
        quiet=True,
        fitters={"map": crash_on_split_one, "ensemble": _fake_fit},
    )
    assert len(failures) == 1
    assert "toyset split 1 map FAILED: RuntimeError: simulated failure" in failures[0]
    done = [(r["method"], r["split"]) for r in read_rows(out)]
    assert done == [("map", 0), ("ensemble", 0), ("ensemble", 1), ("map", 2), ("ensemble", 2)]


def test_resume_only_fits_missing_rows(synthetic_dir, tmp_path):
    out = tmp_path / "results.csv"
    run_uci(synthetic_dir, methods=("map",), splits=1, out=out, quiet=True,
            fitters={"map": _fake_fit})  # fmt: skip
    calls = []

    def counting(method, x, y, x_test, hidden, settings, seed, progress):
        calls.append((method, seed))
        return _fake_fit(method, x, y, x_test, hidden, settings, seed, progress)

    rows, _ = run_uci(
        synthetic_dir, methods=("map",), splits=2, out=out, quiet=True, resume=True,
        fitters={"map": counting},
    )  # fmt: skip
    assert calls == [("map", 1)]
    assert [r["split"] for r in rows] == [0, 1]
    assert len(read_rows(out)) == 2


def test_the_standardization_uses_training_statistics(synthetic_dir, tmp_path):
    seen = {}

    def spy(method, x, y, x_test, hidden, settings, seed, progress):
        seen.update(x=x, y=y, x_test=x_test, hidden=hidden)
        return _fake_fit(method, x, y, x_test, hidden, settings, seed, progress)

    run_uci(synthetic_dir, methods=("map",), splits=1, out=tmp_path / "r.csv", quiet=True,
            fitters={"map": spy})  # fmt: skip
    np.testing.assert_allclose(seen["x"].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(seen["x"].std(0), [1, 0, 1], atol=1e-12)  # constant column: 0
    np.testing.assert_allclose([seen["y"].mean(), seen["y"].std()], [0, 1], atol=1e-12)
    assert np.isfinite(seen["x_test"]).all()
    assert seen["hidden"] == (50,)


def test_bad_arguments(synthetic_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown method 'hmc'; valid: svi, svi-lowrank, nuts"):
        run_uci(synthetic_dir, methods=("hmc",), out=tmp_path / "r.csv")
    with pytest.raises(ValueError, match="dataset 'yacht' not found .* available: toyset"):
        run_uci(synthetic_dir, datasets=["yacht"], out=tmp_path / "r.csv")
    with pytest.raises(ValueError, match="splits must be a positive integer"):
        run_uci(synthetic_dir, splits=0, out=tmp_path / "r.csv")
    with pytest.raises(ValueError, match="is not a folder"):
        run_uci(tmp_path / "missing", out=tmp_path / "r.csv")


def test_nuts_is_skipped_on_large_training_sets(synthetic_dir, tmp_path):
    from dataclasses import replace

    rows, failures = run_uci(
        synthetic_dir, methods=("nuts",), splits=1, out=tmp_path / "r.csv", quiet=True,
        settings=replace(TINY, nuts_max_points=10),
    )  # fmt: skip
    assert rows == [] and failures == []


# --------------------------------------------------------------------------- summaries


def test_summary_mean_and_standard_error():
    rows = [
        {"dataset": "concrete", "method": "svi", "split": s, "rmse": v, "test_ll": -v}
        for s, v in enumerate([1.0, 2.0, 6.0])
    ]
    (entry,) = summarize(rows)
    assert entry["num_splits"] == 3
    assert entry["rmse_mean"] == pytest.approx(3.0)
    assert entry["rmse_se"] == pytest.approx(np.std([1, 2, 6], ddof=1) / np.sqrt(3))
    table = format_table(rows, "test_ll")
    assert "-3.00 ± 1.53 (n=3)" in table
    assert "-3.16 ± 0.02" in table  # PBP on concrete, published
    assert goal_report(rows) == (  # -3.00 beats PBP (-3.16) and MC dropout (-3.04)
        "svi: test LL ≥ PBP on 1/1 (concrete); > MC dropout (GG16) on 1/1 (concrete)"
    )


def test_goal_report_counts_wins():
    rows = [
        {"dataset": "yacht", "method": "nuts", "split": 0, "rmse": 0.5, "test_ll": -1.0},
        {"dataset": "concrete", "method": "nuts", "split": 0, "rmse": 6.0, "test_ll": -3.10},
    ]
    assert goal_report(rows) == (
        "nuts: test LL ≥ PBP on 2/2 (yacht, concrete); > MC dropout (GG16) on 1/2 (yacht)"
    )


@needs_shared
def test_embedded_published_numbers_match_published_md():
    """The PBP and MC-dropout (as s.e.) columns of Table B in PUBLISHED.md."""
    text = (SHARED_UCI / "PUBLISHED.md").read_text()
    table_b = text.split("## Table B")[1].split("\n\n")[1]
    names = {"power": "power-plant", "protein": "protein-tertiary-structure",
             "wine-red": "wine-quality-red"}  # fmt: skip
    number = r"(−?[\d.]+) ± ([\d.]+)"
    checked = 0
    for line in table_b.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        dataset = names.get(cells[0], cells[0])
        for column, name in ((2, "PBP"), (4, "MC dropout"), (7, "Deep Ensembles")):
            mean, se = re.match(number, cells[column]).groups()
            assert PUBLISHED[dataset][name]["test_ll"] == (
                float(mean.replace("−", "-")),
                float(se),
            ), (dataset, name)
            checked += 1
    assert checked == 18


def test_figure_is_written(tmp_path):
    rows = [
        {"dataset": d, "method": m, "split": s, "rmse": 1.0, "test_ll": ll + 0.01 * s}
        for d in ("yacht", "energy")
        for m, ll in (("svi", -1.5), ("nuts", -9.0))
        for s in range(2)
    ]
    benchmark.plot_published_comparison(rows, tmp_path / "figure.png")
    assert (tmp_path / "figure.png").stat().st_size > 10_000


# --------------------------------------------------------------------------- classification


def test_classification_run_on_digits_with_held_out_classes(tmp_path):
    out = tmp_path / "classification.csv"
    rows, failures = run_classification(
        datasets=("digits",), methods=("map", "ensemble"), splits=1, out=out, settings=TINY,
        hidden=16, quiet=True,
    )  # fmt: skip
    assert failures == []
    assert _csv_header(out) == list(CLASSIFICATION_COLUMNS)
    by_method = {r["method"]: r for r in read_rows(out)}
    assert set(by_method) == {"map", "ensemble"}
    for row in by_method.values():
        assert 0 <= row["accuracy"] <= 1 and row["nll"] > 0 and 0 <= row["ece"] <= 1
        assert 0 <= row["ood_auroc_entropy"] <= 1
    # a point estimate has zero mutual information everywhere: AUROC exactly 0.5 (all ties)
    assert by_method["map"]["ood_auroc_mi"] == 0.5
    assert by_method["ensemble"]["ood_auroc_mi"] != 0.5


# --------------------------------------------------------------------------- command line


def test_cli_main_runs_and_writes_table(synthetic_dir, tmp_path, capsys):
    out, table = tmp_path / "r.csv", tmp_path / "table.md"
    code = main(
        [
            "uci", "--data-dir", str(synthetic_dir), "--methods", "map,mc-dropout",
            "--splits", "1", "--preset", "tiny", "--out", str(out), "--table", str(table),
            "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    assert len(read_rows(out)) == 2
    printed = capsys.readouterr().out
    assert "| toyset |" in printed and "2 rows in" in printed
    assert table.read_text().startswith("Test log-likelihood per point")


def test_cli_report_only_fits_nothing(synthetic_dir, tmp_path, capsys):
    out = tmp_path / "r.csv"
    run_uci(synthetic_dir, methods=("map",), splits=2, out=out, quiet=True,
            fitters={"map": _fake_fit})  # fmt: skip
    before = out.read_text()
    figure = str(tmp_path / "f.png")
    code = main(["uci", "--data-dir", str(synthetic_dir), "--methods", "svi,nuts",
                 "--out", str(out), "--report-only", "--figure", figure])  # fmt: skip
    assert code == 0
    assert out.read_text() == before
    printed = capsys.readouterr().out
    assert "map (ours)" in printed and "svi (ours)" not in printed
    assert "coverage_90 / crps" in printed
    assert (tmp_path / "f.png").is_file()


def test_cli_reports_bad_arguments(synthetic_dir, tmp_path, capsys):
    code = main(["uci", "--data-dir", str(synthetic_dir), "--methods", "svi,foo",
                 "--out", str(tmp_path / "r.csv")])  # fmt: skip
    assert code == 2
    assert "unknown method 'foo'" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "pyro_bnn.benchmark", "uci", "--help"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0
    assert "--data-dir" in result.stdout and "--methods" in result.stdout
