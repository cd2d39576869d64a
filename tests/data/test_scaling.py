"""Standardizer: round trip, inverse scaling, JSON, constant columns, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pyro_bnn.data import (
    Standardizer,
    make_linear_regression,
    make_two_class_ood,
)


def test_standardizer_round_trip_and_inverse_scaling():
    rng = np.random.default_rng(0)
    x = rng.normal([3.0, -200.0], [2.0, 50.0], size=(500, 2))
    y = rng.normal(40.0, 7.0, size=500)
    scaler = Standardizer.fit(x, y)
    x_standard, y_standard = scaler.transform_x(x), scaler.transform_y(y)
    np.testing.assert_allclose(x_standard.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(x_standard.std(axis=0), 1.0)
    np.testing.assert_allclose(y_standard.std(), 1.0)
    np.testing.assert_allclose(scaler.inverse_x(x_standard), x)
    np.testing.assert_allclose(scaler.inverse_y_mean(y_standard), y)
    y_std = y.std()
    np.testing.assert_allclose(scaler.inverse_y_var(np.array([1.0, 4.0])), [y_std**2, 4 * y_std**2])
    np.testing.assert_allclose(scaler.inverse_y_std(np.array([2.0])), [2 * y_std])
    np.testing.assert_allclose(scaler.inverse_y_log_prob(np.array([0.0])), [-np.log(y_std)])
    # torch tensors in, tensors of the same dtype out
    mean = scaler.inverse_y_mean(torch.zeros(3, dtype=torch.float32))
    assert isinstance(mean, torch.Tensor) and mean.dtype == torch.float32
    assert torch.allclose(mean, torch.full((3,), float(y.mean())))


def test_standardizer_to_dict_is_json_and_round_trips():
    data = make_linear_regression(num_points=30, in_features=3)
    scaler = Standardizer.fit(data.x, data.y)
    restored = Standardizer.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(restored.transform_x(data.x), scaler.transform_x(data.x))
    np.testing.assert_array_equal(restored.transform_y(data.y), scaler.transform_y(data.y))
    assert restored.task == "regression"
    with pytest.raises(ValueError, match="missing key\\(s\\): y_std"):
        Standardizer.from_dict({k: v for k, v in scaler.to_dict().items() if k != "y_std"})


def test_standardizer_constant_column_guard():
    x = np.column_stack([np.full(10, 3.7), np.arange(10.0), np.full(10, 1e9)])
    y = np.full(10, 5.0)
    scaler = Standardizer.fit(x, y)
    np.testing.assert_array_equal(scaler.x_std[[0, 2]], [1.0, 1.0])
    assert scaler.x_std[1] == pytest.approx(np.arange(10.0).std())
    assert float(scaler.y_std) == 1.0
    transformed = scaler.transform_x(x)
    assert np.isfinite(transformed).all()
    np.testing.assert_allclose(transformed[:, [0, 2]], 0.0, atol=1e-6)
    # a genuinely small (non-constant) scale is still standardized
    small = Standardizer.fit(np.zeros((4, 1)), np.array([0.0, 1e-6, 2e-6, 3e-6]))
    assert float(small.y_std) == pytest.approx(np.array([0.0, 1e-6, 2e-6, 3e-6]).std())


def test_standardizer_classification_standardizes_x_only():
    data = make_two_class_ood()
    scaler = Standardizer.fit(data.x, data.y, task="classification")
    assert scaler.task == "classification"
    np.testing.assert_array_equal(scaler.transform_y(data.y), data.y)
    np.testing.assert_allclose(scaler.transform_x(data.x).mean(axis=0), 0.0, atol=1e-12)
    probs = np.array([[0.2, 0.8]])
    np.testing.assert_array_equal(scaler.inverse_y_mean(probs), probs)


def test_standardizer_errors():
    scaler = Standardizer.fit(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="x of shape \\(2, 3\\) does not match .* \\(N, 2\\)"):
        scaler.transform_x(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="x of shape \\(4,\\) does not match"):
        scaler.transform_x(np.zeros(4))
    with pytest.raises(ValueError, match="x contains NaN at row 0"):
        Standardizer.fit(np.array([[np.nan]]), np.zeros(1))
    identity = Standardizer.identity(2)
    np.testing.assert_array_equal(identity.transform_x(np.ones((1, 2))), np.ones((1, 2)))
