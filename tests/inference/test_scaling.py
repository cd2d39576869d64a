"""The library standardizes a BayesianMLP's raw data and answers in the data's units."""

import numpy as np
import pytest

import pyro_bnn as pb


@pytest.fixture
def raw_table():
    """Targets around 150 (sd ~50), features on scales 1, 100 and 1000, linear truth."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3)) * np.array([1.0, 100.0, 1000.0]) + np.array([0, 500, 0])
    y = 150 + 30 * x[:, 0] + 0.3 * (x[:, 1] - 500) - 0.01 * x[:, 2] + 10 * rng.normal(size=400)
    return x[:300], y[:300], x[300:], y[300:]


def _least_squares_rmse(x, y, x_test, y_test):
    design = np.hstack([x, np.ones((len(x), 1))])
    coefficients = np.linalg.lstsq(design, y, rcond=None)[0]
    prediction = np.hstack([x_test, np.ones((len(x_test), 1))]) @ coefficients
    return float(np.sqrt(np.mean((prediction - y_test) ** 2)))


@pytest.mark.parametrize("fit", ["svi", "nuts"])
@pytest.mark.slow
def test_raw_data_fit_is_as_good_as_least_squares(raw_table, fit):
    x, y, x_test, y_test = raw_table
    model = pb.BayesianMLP(3, 1, hidden=(10,))
    if fit == "svi":
        post = pb.fit_svi(model, x, y, num_steps=3000, progress=False)
    else:
        post = pb.fit_nuts(model, x, y, num_samples=200, warmup_steps=200, progress=False)
    pred = pb.predict(post, x_test)
    rmse = float(np.sqrt(np.mean((pred.mean - y_test) ** 2)))
    # the noise sd is 10: least squares gets ~10; predicting the mean would give ~50
    assert rmse < 1.15 * _least_squares_rmse(x, y, x_test, y_test)
    low, high = pred.interval(0.9)
    assert 0.8 < np.mean((y_test >= low) & (y_test <= high)) <= 1.0
    assert np.median(pred.aleatoric_std) == pytest.approx(10, rel=0.25)  # noise, in y's units


@pytest.mark.slow
def test_without_standardizing_the_same_network_fails_on_raw_data(raw_table):
    """The reason the library scales: the prior is meant for standardized data."""
    x, y, x_test, y_test = raw_table
    model = pb.BayesianMLP(3, 1, hidden=(10,))
    post = pb.fit_svi(model, x, y, num_steps=3000, progress=False, standardize=False)
    pred = pb.predict(post, x_test)
    rmse = float(np.sqrt(np.mean((pred.mean - y_test) ** 2)))
    assert rmse > 2 * _least_squares_rmse(x, y, x_test, y_test)


@pytest.mark.slow
def test_scaler_is_saved_and_loaded(raw_table, tmp_path):
    x, y, x_test, _ = raw_table
    post = pb.fit_svi(pb.BayesianMLP(3, 1, hidden=(4,)), x, y, num_steps=200, progress=False)
    post.save(tmp_path / "post.pt")
    loaded = pb.Posterior.load(tmp_path / "post.pt")
    np.testing.assert_allclose(loaded.scaler.y_mean, post.scaler.y_mean)
    np.testing.assert_array_equal(pb.predict(loaded, x_test).mean, pb.predict(post, x_test).mean)


def test_labels_and_counts_are_not_scaled():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 2)) * 100
    labels = (x[:, 0] > 0).astype(int)
    post = pb.fit_svi(
        pb.BayesianMLP(2, 2, hidden=(), likelihood=pb.Categorical()),
        x,
        labels,
        num_steps=300,
        progress=False,
    )
    assert post.scaler.task == "classification"  # x standardized, labels untouched
    np.testing.assert_allclose(post.scaler.x_std, x.std(0), rtol=1e-6)
    counts = rng.poisson(3.0, size=50)
    post = pb.fit_svi(
        pb.BayesianMLP(2, 1, hidden=(), likelihood=pb.Poisson()),
        x,
        counts,
        num_steps=300,
        progress=False,
    )
    np.testing.assert_array_equal(post.scaler.y_std, 1.0)
