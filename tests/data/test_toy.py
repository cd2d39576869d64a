"""Toy sets: determinism by seed, shapes, geometry, argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from pyro_bnn.data import (
    TOY_DATASETS,
    Dataset,
    make_gap_regression,
    make_heteroscedastic,
    make_linear_regression,
    make_two_class_ood,
    make_two_moons,
)


@pytest.mark.parametrize("name", sorted(TOY_DATASETS))
def test_toy_sets_are_deterministic_by_seed(name):
    first, again, other = (TOY_DATASETS[name](seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(first.x, again.x)
    np.testing.assert_array_equal(first.y, again.y)
    assert not np.array_equal(first.x, other.x)


@pytest.mark.parametrize(
    "name, task, num_features",
    [
        ("gap", "regression", 1),
        ("linear", "regression", 1),
        ("heteroscedastic", "regression", 1),
        ("two_class_ood", "classification", 2),
        ("two_moons", "classification", 2),
    ],
)
def test_toy_sets_shapes_and_tasks(name, task, num_features):
    data = TOY_DATASETS[name](num_points=37)
    assert isinstance(data, Dataset)
    assert data.task == task and data.name == name
    assert data.x.shape == (37, num_features) and data.x.dtype == np.float64
    assert data.y.shape == (37,)
    assert len(data.feature_names) == num_features
    assert not data.has_test
    if task == "classification":
        assert data.y.dtype == np.int64
        assert data.num_classes == 2 and set(np.unique(data.y)) == {0, 1}
    else:
        assert data.y.dtype == np.float64 and data.num_classes is None


def test_gap_has_no_points_in_the_gap_and_half_on_each_side():
    data = make_gap_regression(num_points=1000, noise=0.0, seed=1)
    x = data.x[:, 0]
    assert not np.any((x > -1.0) & (x < 1.0))
    assert x.min() >= -4.0 and x.max() <= 4.0
    assert np.sum(x < 0) == 500
    np.testing.assert_allclose(data.y, np.sin(x) + 0.1 * x)
    # the noise has the requested standard deviation
    noisy = make_gap_regression(num_points=4000, noise=0.15, seed=1)
    residual = noisy.y - (np.sin(noisy.x[:, 0]) + 0.1 * noisy.x[:, 0])
    assert abs(residual.std() - 0.15) < 0.01


def test_linear_regression_returns_true_coefficients():
    data = make_linear_regression(num_points=400, in_features=3, noise=0.0, seed=2)
    weights, bias = data.extra["weights"], data.extra["bias"]
    assert weights.shape == (3,)
    np.testing.assert_allclose(data.y, data.x @ weights + bias)
    # two clusters, so the middle of the range is empty
    assert not np.any(np.abs(data.x + 0.5) < 0.1)


def test_heteroscedastic_noise_grows_with_abs_x():
    data = make_heteroscedastic(num_points=4000, seed=0)
    x, residual = data.x[:, 0], data.y - np.sin(data.x[:, 0])
    inner, outer = residual[np.abs(x) < 1], residual[np.abs(x) > 3]
    assert outer.std() > 3 * inner.std()
    np.testing.assert_allclose(data.extra["noise_std"], 0.05 + 0.2 * np.abs(x))


def test_two_class_ood_query_point_is_far_from_both_blobs():
    data = make_two_class_ood(seed=0)
    star = data.extra["query_points"]
    assert star.shape == (1, 2)
    distances = np.linalg.norm(data.x - star, axis=1)
    assert distances.min() > 4.0
    for label in (0, 1):
        np.testing.assert_allclose(
            data.x[data.y == label].mean(axis=0), data.extra["means"][label], atol=0.3
        )
    assert np.sum(data.y == 0) == 100


def test_two_moons_geometry():
    clean = make_two_moons(num_points=101, noise=0.0, seed=0)
    outer, inner = clean.x[clean.y == 0], clean.x[clean.y == 1]
    assert len(outer) == 50 and len(inner) == 51
    # class 0 on the upper unit half circle, class 1 on the lower circle around (1, 0.5)
    np.testing.assert_allclose(np.linalg.norm(outer, axis=1), 1.0)
    assert np.all(outer[:, 1] >= -1e-12)
    np.testing.assert_allclose(np.linalg.norm(inner - [1.0, 0.5], axis=1), 1.0)
    assert np.all(inner[:, 1] <= 0.5 + 1e-12)
    # end points as in sklearn.datasets.make_moons
    assert any(np.allclose(p, [1.0, 0.0]) for p in outer)
    assert any(np.allclose(p, [-1.0, 0.0]) for p in outer)
    assert any(np.allclose(p, [0.0, 0.5]) for p in inner)
    assert any(np.allclose(p, [2.0, 0.5]) for p in inner)
    noisy = make_two_moons(num_points=101, noise=0.1, seed=0)
    assert np.linalg.norm(noisy.x - clean.x, axis=1).mean() == pytest.approx(
        0.1 * np.sqrt(np.pi / 2), rel=0.25
    )


def test_two_moons_matches_sklearn_without_noise():
    datasets = pytest.importorskip("sklearn.datasets")
    ours = make_two_moons(num_points=60, noise=0.0)
    theirs_x, theirs_y = datasets.make_moons(n_samples=60, noise=0.0, shuffle=False)
    for label in (0, 1):
        mine = ours.x[ours.y == label]
        other = theirs_x[theirs_y == label]
        np.testing.assert_allclose(mine[np.lexsort(mine.T)], other[np.lexsort(other.T)])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: make_gap_regression(num_points=1), "num_points must be at least 2"),
        (lambda: make_gap_regression(noise=-1.0), "noise must be a finite number >= 0"),
        (lambda: make_linear_regression(in_features=0), "in_features must be a positive integer"),
        (lambda: make_two_moons(num_points=2.5), "num_points must be a positive integer"),
    ],
)
def test_toy_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
