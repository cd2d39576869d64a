"""Tests for pyro_bnn.benchmarks.classification: metrics and the held-out-class OOD task."""

from __future__ import annotations

import pytest

from pyro_bnn.benchmarks import CLASSIFICATION_COLUMNS, read_rows, run_classification
from pyro_bnn.benchmarks.classification import _classification_data

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
    with pytest.raises(ValueError, match="method must be one of .*got 'svi-lowrank'"):
        run_classification(methods=("svi-lowrank",), out=tmp_path / "r.csv")
    with pytest.raises(ValueError, match="splits must be a positive integer"):
        run_classification(splits=0, out=tmp_path / "r.csv")
