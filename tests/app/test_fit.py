"""fit_run: the whole pipeline from a model file to a complete run directory."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

import pyro_bnn.app.run_dir as run_module
from pyro_bnn.app import figures
from pyro_bnn.app.fit import fit_run
from pyro_bnn.app.run_dir import load_run
from pyro_bnn.app.spec import load_spec

from ..csv_tables import write_diabetes_csv
from .helpers import REPO, TINY_CLASSIFICATION, TINY_REGRESSION, leftovers, tiny


def test_fit_run_writes_every_file(regression_run):
    for name in run_module.RUN_FILES:
        assert (regression_run.path / name).is_file(), name
    metrics = json.loads((regression_run.path / "metrics.json").read_text())
    assert metrics["task"] == "regression" and metrics["method"] == "svi"
    assert set(metrics["test"]) >= {"rmse", "test_ll", "crps", "coverage_90"}
    assert metrics["data"]["num_train"] == 30 and metrics["data"]["num_test"] == 10
    assert metrics["versions"]["torch"] == torch.__version__
    assert metrics["diagnostics"]["num_steps"] == 40 and metrics["fit_seconds"] > 0
    log = (regression_run.path / "fit.log").read_text()
    assert "test metrics: rmse" in log and "run directory complete" in log
    spec_text = (regression_run.path / "spec.toml").read_text()
    assert "num_steps = 40" in spec_text and "num_samples" not in spec_text


def test_metrics_are_in_original_units(regression_run):
    run = regression_run
    metrics = run.evaluate(run.data.x_test, run.data.y_test)
    mean = run.prediction_table(run.data.x_test)["mean"]
    rmse = float(np.sqrt(np.mean((mean - run.data.y_test) ** 2)))
    assert metrics["rmse"] == pytest.approx(rmse, rel=1e-4)
    assert run.metrics["test"]["rmse"] == pytest.approx(metrics["rmse"], rel=1e-6)


def test_classification_run_reports_query_points(tmp_path):
    run = fit_run(tiny(TINY_CLASSIFICATION), tmp_path / "ood", quiet=True)
    query = run.metrics["query_points"]
    assert len(query) == 1 and query[0]["x"] == [5.0, 7.0]
    assert query[0]["prob_0"] + query[0]["prob_1"] == pytest.approx(1.0, abs=1e-5)
    assert 0 <= query[0]["mutual_information"] <= query[0]["entropy"] + 1e-6
    with open(run.path / "predictions.csv") as handle:
        header = next(csv.reader(handle))
    assert header == [
        "x0",
        "x1",
        "class",
        "prob_0",
        "prob_1",
        "predicted_class",
        "confidence",
        "entropy",
        "expected_entropy",
        "mutual_information",
    ]
    assert set(run.metrics["test"]) == {"accuracy", "nll", "brier", "ece"}


def test_force_replaces_only_after_success(tmp_path, monkeypatch):
    out = tmp_path / "runs" / "demo"
    fit_run(tiny(TINY_REGRESSION), out, quiet=True)
    original = (out / "metrics.json").read_text()

    def broken_fit(*args, **kwargs):
        raise RuntimeError("simulated crash in the middle of the fit")

    monkeypatch.setattr("pyro_bnn.app.fit.fit_svi", broken_fit)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit_run(tiny(TINY_REGRESSION), out, force=True, quiet=True)
    assert (out / "metrics.json").read_text() == original  # old run untouched
    assert leftovers(out.parent) == []
    monkeypatch.undo()
    fit_run(tiny(TINY_REGRESSION, **{"inference.seed": 1}), out, force=True, quiet=True)
    assert json.loads((out / "metrics.json").read_text())["seed"] == 1
    assert leftovers(out.parent) == []


def test_failed_fit_leaves_nothing(tmp_path, monkeypatch):
    def broken_fit(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("pyro_bnn.app.fit.fit_svi", broken_fit)
    out = tmp_path / "new" / "deeper" / "run"
    with pytest.raises(KeyboardInterrupt):
        fit_run(tiny(TINY_REGRESSION), out, quiet=True)
    assert list(tmp_path.iterdir()) == []  # not even the parent folders it made


def test_bad_data_fails_before_writing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n2,oops\n")
    spec = tiny(TINY_REGRESSION).with_data(str(bad), target="y")
    with pytest.raises(
        ValueError, match=r"line 3 \(data row 2\), column 'y': 'oops' is not a number"
    ):
        fit_run(spec, tmp_path / "run", quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_force_refuses_to_replace_a_folder_that_is_not_a_run(tmp_path):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    with pytest.raises(ValueError, match=r"does not look like a run directory"):
        fit_run(tiny(TINY_REGRESSION), folder, force=True, quiet=True)
    assert (folder / "thesis.tex").read_text() == "years of work"


@pytest.mark.slow
def test_a_csv_run_keeps_its_text_columns_and_is_described_by_its_data(tmp_path):
    table = write_diabetes_csv(tmp_path / "diabetes.csv", rows=slice(0, 120))
    fast = ["inference.num_steps=30", "predict.num_draws=20", "plots.enabled=false"]
    spec = load_spec(REPO / "models" / "csv_regression.toml", [*fast, 'data.exclude=["id"]'])
    spec = spec.with_data(str(table), target="target")
    run = fit_run(spec, tmp_path / "run", quiet=True)
    described = "diabetes.csv: regression of 'target' (model file csv_regression.toml)"
    assert run.metrics["description"] == described
    figure = figures._plot_uncertainty(run)  # 10 inputs: predicted against observed
    assert figure.axes[0].get_title().startswith(described)
    info = json.loads((run.path / "data.json").read_text())
    assert info["encoding"]["categories"] == {"sex": ["F", "M"]}
    assert info["encoding"]["columns"][:3] == ["age", "sex", "bmi"]
    assert info["feature_names"][:4] == ["age", "sex=F", "sex=M", "bmi"]
    with open(run.path / "predictions.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:4] == ["age", "sex", "bmi", "bp"]  # the table's own columns
    assert {row["sex"] for row in rows} == {"F", "M"}
    loaded = load_run(run.path)
    assert loaded.spec.description == described
    assert loaded.data.encoding.categories == {"sex": ("F", "M")}
    assert loaded.data.encoding.columns == run.data.encoding.columns
    info["encoding"]["categories"]["sex"] = ["F"]  # disagrees with feature_names
    (run.path / "data.json").write_text(json.dumps(info))
    with pytest.raises(
        ValueError, match="data.json' is incomplete or corrupt: its encoding gives feature names"
    ):
        load_run(run.path)


def test_data_warnings_go_to_fit_log_and_metrics(tmp_path):
    table = tmp_path / "binary.csv"
    table.write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    spec = tiny(TINY_REGRESSION).with_data(str(table), target="y")
    run = fit_run(spec, tmp_path / "run", quiet=True)
    expected = "holds only the values 0 and 1, fitted as a regression; for class labels fit "
    assert any(expected + "models/csv_classification.toml" in w for w in run.metrics["warnings"])
    assert expected in (run.path / "fit.log").read_text()
