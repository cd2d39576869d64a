"""Dataset: validation of its arrays, train_test_split, repr."""

from __future__ import annotations

import numpy as np
import pytest

from pyro_bnn.data import (
    Dataset,
    make_gap_regression,
)


def test_dataset_validates_its_arrays():
    with pytest.raises(ValueError, match="training part: x contains NaN at row 1"):
        Dataset(np.array([[0.0], [np.nan]]), np.zeros(2), "regression", "d", ("a",), "y")
    with pytest.raises(ValueError, match="different lengths"):
        Dataset(np.zeros((3, 1)), np.zeros(2), "regression", "d", ("a",), "y")
    with pytest.raises(ValueError, match="feature_names has 2 name"):
        Dataset(np.zeros((3, 1)), np.zeros(3), "regression", "d", ("a", "b"), "y")
    with pytest.raises(
        ValueError, match="task must be one of 'regression', 'classification', got 'regresion'"
    ):
        Dataset(np.zeros((3, 1)), np.zeros(3), "regresion", "d", ("a",), "y")
    with pytest.raises(ValueError, match="class labels must be integers, found 0.5"):
        Dataset(np.zeros((2, 1)), np.array([0, 0.5]), "classification", "d", ("a",), "y")
    with pytest.raises(ValueError, match="found label 2"):
        Dataset(
            np.zeros((2, 1)),
            np.array([0, 2]),
            "classification",
            "d",
            ("a",),
            "y",
            class_names=("a", "b"),
        )
    with pytest.raises(ValueError, match="test part: x contains inf"):
        Dataset(
            np.zeros((2, 1)), np.zeros(2), "regression", "d", ("a",), "y",
            x_test=np.array([[np.inf]]), y_test=np.zeros(1),
        )  # fmt: skip
    with pytest.raises(ValueError, match="both be given"):
        Dataset(
            np.zeros((2, 1)), np.zeros(2), "regression", "d", ("a",), "y", x_test=np.zeros((1, 1))
        )


def test_dataset_train_test_split_and_repr():
    data = make_gap_regression(num_points=50).train_test_split(0.2, seed=0)
    assert data.x.shape == (40, 1) and data.x_test.shape == (10, 1)
    assert "x_test=(10, 1)" in repr(data)
    with pytest.raises(ValueError, match="already has a test part"):
        data.train_test_split(0.2)
