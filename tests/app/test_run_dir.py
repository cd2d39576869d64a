"""Run directories: loading a run back, its predictions in original units, errors."""

from __future__ import annotations

import copy
import csv
import json
import shutil

import numpy as np
import pytest

import pyro_bnn as pb
from pyro_bnn.app.fit import fit_run
from pyro_bnn.app.run_dir import load_run

from .helpers import TINY_REGRESSION, tiny


def test_load_run_reproduces_the_predictions(regression_run):
    loaded = load_run(regression_run.path)
    assert loaded.spec.inference["num_steps"] == 40
    assert loaded.metrics == json.loads((regression_run.path / "metrics.json").read_text())
    np.testing.assert_array_equal(loaded.data.x_test, regression_run.data.x_test)
    with open(regression_run.path / "predictions.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10
    assert list(rows[0]) == [
        "x",
        "y",
        "mean",
        "std",
        "epistemic_std",
        "aleatoric_std",
        "lower_90",
        "upper_90",
    ]
    table = loaded.prediction_table(loaded.data.x_test)
    np.testing.assert_allclose(
        [float(r["mean"]) for r in rows], table["mean"], rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose([float(r["y"]) for r in rows], loaded.data.y_test, rtol=1e-7)


def test_prediction_table_is_in_original_units(regression_run):
    run = regression_run
    x = np.array([[-3.0], [0.0], [3.0]])
    pred = run.predict(x)  # original units in and out: the posterior keeps the scaler
    table = run.prediction_table(x, prediction=pred)
    np.testing.assert_array_equal(table["mean"], pred.mean)
    # the model's own prediction in standardized units, mapped back by hand
    standardized = copy.copy(run.posterior)
    standardized.scaler = None
    z = pb.predict(
        standardized,
        run.standardizer.transform_x(x),
        num_draws=run.spec.predict["num_draws"],
        seed=run.spec.inference["seed"],
    )
    y_mean, y_std = float(run.standardizer.y_mean), float(run.standardizer.y_std)
    assert y_std != pytest.approx(1.0)  # the check below would be vacuous otherwise
    np.testing.assert_allclose(table["mean"], z.mean * y_std + y_mean, rtol=1e-5)
    np.testing.assert_allclose(table["std"], z.std * y_std, rtol=1e-5)
    np.testing.assert_allclose(
        table["std"] ** 2, table["epistemic_std"] ** 2 + table["aleatoric_std"] ** 2, rtol=1e-4
    )
    low, high = z.interval(0.9)
    np.testing.assert_allclose(table["lower_90"], low * y_std + y_mean, rtol=1e-5)
    np.testing.assert_allclose(table["upper_90"], high * y_std + y_mean, rtol=1e-5)


def test_existing_run_is_kept_without_force(regression_run):
    before = (regression_run.path / "metrics.json").read_text()
    with pytest.raises(ValueError, match=r"already exists; pass --force"):
        fit_run(tiny(TINY_REGRESSION), regression_run.path, quiet=True)
    assert (regression_run.path / "metrics.json").read_text() == before


def test_load_run_errors_name_the_file(tmp_path, regression_run):
    with pytest.raises(ValueError, match=r"run directory '.*nowhere' not found"):
        load_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        ValueError, match=r"not a complete pyro-bnn run directory: missing spec\.toml"
    ):
        load_run(tmp_path / "empty")
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(regression_run.path, copy)
    (copy / "posterior.pt").write_bytes(b"definitely not a torch file")
    with pytest.raises(ValueError, match=r"posterior\.pt is not a readable pyro_bnn posterior"):
        load_run(copy)
    (copy / "data.json").write_text("{broken")
    with pytest.raises(ValueError, match=r"cannot read '.*data\.json'"):
        load_run(copy)


def test_a_run_without_an_encoding_in_data_json_reads_plain_number_columns(regression_run):
    info = json.loads((regression_run.path / "data.json").read_text())
    assert info["encoding"] == {"columns": ["x"], "categories": {}}
    del info["encoding"]
    old = regression_run.path.parent / "old"
    shutil.copytree(regression_run.path, old)
    (old / "data.json").write_text(json.dumps(info))
    assert load_run(old).data.encoding.feature_names == ("x",)
