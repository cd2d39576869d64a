"""Tests for pyro_bnn.benchmarks.classification: metrics and the held-out-class OOD task."""

from __future__ import annotations

import numpy as np
import pytest

from pyro_bnn.benchmarks import (
    CLASSIFICATION_COLUMNS,
    Setup,
    fit_predict,
    read_rows,
    run_classification,
)
from pyro_bnn.benchmarks.classification import OOD_CLASSES, _classification_data, ood_aurocs

from .helpers import TINY, csv_header


def test_classification_run_on_digits_with_held_out_classes(tmp_path):
    out = tmp_path / "classification.csv"
    rows, failures = run_classification(
        datasets=("digits",), methods=("map", "ensemble"), splits=1, out=out, settings=TINY,
        hidden=16, quiet=True,
    )  # fmt: skip
    assert failures == []
    assert csv_header(out) == list(CLASSIFICATION_COLUMNS)
    by_method = {r["method"]: r for r in read_rows(out)}
    assert set(by_method) == {"map", "ensemble"}
    for row in by_method.values():
        assert 0 <= row["accuracy"] <= 1 and row["nll"] > 0 and 0 <= row["ece"] <= 1
        assert 0 <= row["ood_auroc_entropy"] <= 1
    # a point estimate has zero mutual information everywhere: AUROC exactly 0.5 (all ties)
    assert by_method["map"]["ood_auroc_mi"] == 0.5
    assert by_method["ensemble"]["ood_auroc_mi"] != 0.5


def test_held_out_classes_leave_training_and_are_relabelled():
    data = _classification_data("digits", 0, (8, 9))
    assert data["num_classes"] == 8
    assert set(data["y"].tolist()) == set(range(8))
    assert set(data["y_test"].tolist()) <= set(range(8))
    # 360 test images (20% of 1797), about a fifth of them of the two held-out classes
    assert len(data["y_test"]) + len(data["x_ood"]) == 359
    assert 40 < len(data["x_ood"]) < 100


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="classification dataset must be one of 'digits'"):
        run_classification(datasets=("mnist",), out=tmp_path / "r.csv")
    with pytest.raises(ValueError, match="method must be one of .*got 'hmc'"):
        run_classification(methods=("hmc",), out=tmp_path / "r.csv")
    with pytest.raises(ValueError, match="splits must be a positive integer"):
        run_classification(splits=0, out=tmp_path / "r.csv")


def test_the_default_ood_task_trains_on_digits_0_to_4():
    assert OOD_CLASSES == (5, 6, 7, 8, 9)
    data = _classification_data("digits", 0, OOD_CLASSES)
    assert data["num_classes"] == 5
    assert set(data["y"].tolist()) == set(range(5)) == set(data["y_test"].tolist())
    # about half of the 359 test images are of the held-out digits 5-9; none in training
    assert len(data["y_test"]) + len(data["x_ood"]) == 359
    assert 150 < len(data["x_ood"]) < 210
    assert len(data["y"]) + len(data["y_test"]) + len(data["x_ood"]) < 1797


def test_ood_aurocs_match_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    data = _classification_data("digits", 0, OOD_CLASSES)
    setup = Setup("classification", data["x"].shape[1], data["num_classes"], (16,), seed=0)
    (inside, outside), _ = fit_predict(
        "ensemble", setup, data["x"], data["y"], [data["x_test"], data["x_ood"]], TINY
    )
    auroc_mi, auroc_entropy = ood_aurocs(inside, outside)
    labels = np.r_[np.zeros(len(data["x_test"])), np.ones(len(data["x_ood"]))]
    for got, score in ((auroc_mi, "mutual_information"), (auroc_entropy, "entropy")):
        values = np.r_[getattr(inside, score), getattr(outside, score)]
        assert got == pytest.approx(sklearn_metrics.roc_auc_score(labels, values), abs=1e-12)
    assert 0.5 < auroc_entropy <= 1.0
