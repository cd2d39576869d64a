"""train_test_split: partition, determinism, argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from pyro_bnn.data import (
    train_test_split,
)


def test_train_test_split_partitions_rows_deterministically():
    x = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_fraction=0.3, seed=5)
    assert x_train.shape == (7, 2) and x_test.shape == (3, 2)
    assert y_train.dtype == y.dtype
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(10))
    np.testing.assert_array_equal(x_train[:, 0], 2 * y_train)  # rows stay paired
    again = train_test_split(x, y, test_fraction=0.3, seed=5)
    np.testing.assert_array_equal(again[3], y_test)
    other = train_test_split(x, y, test_fraction=0.3, seed=6)
    assert not np.array_equal(other[3], y_test)
    # tiny fractions still leave one test row
    assert train_test_split(x, y, 0.01, 0)[1].shape == (1, 2)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, "0.2"])
def test_train_test_split_bad_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction must be (a number )?in \\(0, 1\\)"):
        train_test_split(np.zeros((5, 1)), np.zeros(5), fraction, 0)


def test_train_test_split_bad_data():
    with pytest.raises(ValueError, match="different lengths"):
        train_test_split(np.zeros((5, 1)), np.zeros(4), 0.2, 0)
    with pytest.raises(ValueError, match="cannot split 1 row"):
        train_test_split(np.zeros((1, 1)), np.zeros(1), 0.5, 0)
