"""pyro_bnn.metrics.evaluation: evaluate() equals the low-level metrics, on fakes and a fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pyro_bnn.metrics import (
    crps_empirical,
    crps_gaussian,
    evaluate,
    expected_calibration_error,
    interval_coverage,
    log_likelihood,
    mae,
    nll,
    quantile_calibration_error,
    rmse,
)

PROBS = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4], [0.3, 0.3, 0.4]])
LABELS = torch.tensor([0, 2, 1])


class FakeRegressionPrediction:
    """Gaussian predictive: mean-function draws f_s ~ N(mean, epistemic_std^2), noise sd."""

    task = "regression"

    def __init__(self, mean, epistemic_std, noise_std, num_draws=400, with_sample=True):
        generator = torch.Generator().manual_seed(10)
        self.mean = mean
        self.std = torch.full_like(mean, math.sqrt(epistemic_std**2 + noise_std**2))
        self.noise_std = noise_std
        self.function_draws = mean + epistemic_std * torch.randn(
            num_draws, *mean.shape, generator=generator
        )
        if not with_sample:
            self.sample = None

    def _normal(self):
        return torch.distributions.Normal(self.mean, self.std)

    def interval(self, level):
        tail = (1 - level) / 2
        return self._normal().icdf(torch.tensor(tail)), self._normal().icdf(torch.tensor(1 - tail))

    def log_prob_draws(self, y):
        assert y.shape == self.mean.shape and y.dtype == self.mean.dtype
        return torch.distributions.Normal(self.function_draws, self.noise_std).log_prob(y)

    def cdf(self, y):
        return self._normal().cdf(y)

    def sample(self, num_samples, seed=0):
        generator = torch.Generator().manual_seed(seed)
        return self.mean + self.std * torch.randn(
            num_samples, *self.mean.shape, generator=generator
        )


class FakeClassificationPrediction:
    task = "classification"

    def __init__(self, probs):
        self.probs = probs


def make_regression_case(num_points=2000, **kwargs):
    generator = torch.Generator().manual_seed(4)
    mean = torch.linspace(-2, 2, num_points)
    prediction = FakeRegressionPrediction(mean, epistemic_std=0.1, noise_std=0.3, **kwargs)
    y = mean + prediction.std * torch.randn(num_points, generator=generator)
    return prediction, y


def test_evaluate_regression_equals_low_level_metrics():
    prediction, y = make_regression_case()
    results = evaluate(prediction, y)
    assert set(results) == {
        "rmse",
        "mae",
        "test_ll",
        "crps",
        "coverage_50",
        "coverage_90",
        "coverage_95",
        "calibration_error",
    }
    assert all(isinstance(value, float) for value in results.values())
    assert results["rmse"] == pytest.approx(rmse(y, prediction.mean))
    assert results["mae"] == pytest.approx(mae(y, prediction.mean))
    assert results["test_ll"] == pytest.approx(log_likelihood(prediction.log_prob_draws(y)))
    assert results["crps"] == pytest.approx(crps_empirical(prediction.sample(1000, seed=0), y))
    assert results["coverage_90"] == pytest.approx(interval_coverage(y, *prediction.interval(0.9)))
    assert results["calibration_error"] == pytest.approx(
        quantile_calibration_error(prediction.cdf(y))
    )


def test_evaluate_regression_of_a_calibrated_prediction():
    prediction, y = make_regression_case()
    results = evaluate(prediction, y, levels=(0.5, 0.9, 0.975))
    for level in (0.5, 0.9, 0.975):
        key = "coverage_97.5" if level == 0.975 else f"coverage_{round(level * 100)}"
        binomial_sd = math.sqrt(level * (1 - level) / len(y))
        assert results[key] == pytest.approx(level, abs=4 * binomial_sd)
    assert results["calibration_error"] < 1e-3
    # The predictive is N(mean, std^2) with std ~ 0.316: its expected log density and CRPS.
    std = float(prediction.std[0])
    assert results["test_ll"] == pytest.approx(-0.5 * math.log(2 * math.pi * std**2) - 0.5, abs=0.1)
    assert results["crps"] == pytest.approx(
        crps_gaussian(prediction.mean, prediction.std, y), rel=0.05
    )


def test_evaluate_regression_y_scale_reports_original_units():
    prediction, y = make_regression_case(num_points=200)
    standardized = evaluate(prediction, y)
    original = evaluate(prediction, y, y_scale=2.5)
    for key in ("rmse", "mae", "crps"):
        assert original[key] == pytest.approx(2.5 * standardized[key])
    assert original["test_ll"] == pytest.approx(standardized["test_ll"] - math.log(2.5))
    for key in ("coverage_50", "coverage_90", "coverage_95", "calibration_error"):
        assert original[key] == standardized[key]


def test_evaluate_regression_without_sample_uses_gaussian_crps():
    prediction, y = make_regression_case(num_points=200, with_sample=False)
    expected = crps_gaussian(prediction.mean, prediction.std, y)
    assert evaluate(prediction, y)["crps"] == pytest.approx(expected)


def test_evaluate_regression_rejects_multi_output():
    prediction, _ = make_regression_case(num_points=10)
    prediction.mean = torch.zeros(5, 2)
    with pytest.raises(ValueError, match="single-output regression only: y must have shape"):
        evaluate(prediction, torch.zeros(5, 2))
    with pytest.raises(ValueError, match=r"single-output.*prediction.mean must have shape"):
        evaluate(prediction, torch.zeros(5))


def test_evaluate_classification_equals_low_level_metrics():
    results = evaluate(FakeClassificationPrediction(PROBS), LABELS)
    assert results == {
        "accuracy": pytest.approx(1 / 3),
        "nll": pytest.approx(nll(PROBS, LABELS)),
        "brier": pytest.approx(0.5),
        "ece": pytest.approx(expected_calibration_error(PROBS, LABELS)),
    }


def test_evaluate_rejects_unknown_task_and_bad_levels():
    fake = FakeClassificationPrediction(PROBS)
    fake.task = "ranking"
    with pytest.raises(ValueError, match="'regression' or 'classification', found 'ranking'"):
        evaluate(fake, LABELS)
    prediction, y = make_regression_case(num_points=10)
    with pytest.raises(ValueError, match=r"coverage levels must lie in \(0, 1\), found 95"):
        evaluate(prediction, y, levels=(95,))
    with pytest.raises(ValueError, match="y_scale applies to regression only"):
        evaluate(FakeClassificationPrediction(PROBS), LABELS, y_scale=2.0)


def test_evaluate_a_real_prediction_in_original_units_numpy_or_torch():
    """A standardized fit predicts in the data's units: evaluate needs no y_scale, and
    numpy and torch predictions give the same numbers as hand-computed metrics."""
    import warnings

    import pyro_bnn as pb

    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(40, 1))
    y = 150 + 40 * x[:, 0] + 10 * rng.normal(size=40)  # targets of scale ~100
    with warnings.catch_warnings():  # a short fit: convergence is not what is tested
        warnings.simplefilter("ignore")
        post = pb.fit_svi(pb.BayesianMLP(1, 1, hidden=()), x, y, num_steps=300, progress=False)
    assert post.scaler is not None and float(post.scaler.y_std) > 20
    from_numpy = pb.predict(post, x, num_draws=200, seed=1)
    from_torch = pb.predict(post, torch.as_tensor(x), num_draws=200, seed=1)
    assert isinstance(from_numpy.mean, np.ndarray) and isinstance(from_torch.mean, torch.Tensor)
    results = evaluate(from_numpy, y)
    assert results == pytest.approx(evaluate(from_torch, torch.as_tensor(y)), rel=1e-5)
    # by hand, in the data's units: the mean, and log N(y | mean_s, sigma_s) of every draw
    mean = np.asarray(from_numpy.mean, dtype=np.float64)
    assert results["rmse"] == pytest.approx(np.sqrt(np.mean((y - mean) ** 2)), rel=1e-5)
    assert results["mae"] == pytest.approx(np.mean(np.abs(y - mean)), rel=1e-5)
    sigma = post.sample(200, seed=1)["sigma"].double().numpy() * float(post.scaler.y_std)
    mean_draws = np.asarray(from_numpy.mean_draws, dtype=np.float64)
    log_density = (
        -0.5 * ((y - mean_draws) / sigma[:, None]) ** 2
        - np.log(sigma[:, None])
        - 0.5 * math.log(2 * math.pi)
    )
    expected_ll = np.mean(np.logaddexp.reduce(log_density, axis=0) - math.log(200))
    assert results["test_ll"] == pytest.approx(expected_ll, abs=1e-4)
    assert results["rmse"] < 15  # the noise sd is 10: a fit in the data's units, not ~y_std
