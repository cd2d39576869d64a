"""pyro_bnn.metrics.regression: each score against a hand value, a closed form or brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pyro_bnn.metrics import (
    crps_empirical,
    crps_gaussian,
    interval_coverage,
    log_likelihood,
    mae,
    rmse,
)


def test_rmse_mae_hand_values_and_input_types():
    y = [1.0, 2.0, 3.0]
    mean = np.array([1.0, 3.0, 5.0])  # errors 0, 1, 2
    assert rmse(y, mean) == pytest.approx(math.sqrt(5 / 3))
    assert mae(torch.tensor(y), mean) == pytest.approx(1.0)
    assert isinstance(rmse(torch.tensor(y), torch.tensor(mean)), float)


def test_rmse_refuses_broadcasting_n_against_n_by_1():
    with pytest.raises(ValueError, match=r"y and mean have different shapes.*\(3,\).*\(3, 1\)"):
        rmse(torch.zeros(3), torch.zeros(3, 1))


def test_log_likelihood_matches_direct_computation():
    log_prob = np.log(np.array([[0.2, 0.5, 0.1], [0.4, 0.1, 0.3]]))  # (S=2, N=3)
    expected = np.mean(np.log(np.exp(log_prob).mean(axis=0)))
    assert log_likelihood(log_prob) == pytest.approx(expected, rel=1e-12)


def test_log_likelihood_is_stable_for_very_negative_log_densities():
    log_prob = torch.tensor([[-1000.0, -2000.0], [-1001.0, -2000.0]])
    expected = np.mean([-1000.0 + math.log((1 + math.exp(-1.0)) / 2), -2000.0])
    assert log_likelihood(log_prob) == pytest.approx(expected, rel=1e-12)


def test_log_likelihood_allows_minus_inf_draws():
    log_prob = torch.tensor([[-float("inf")], [math.log(0.5)]])
    assert log_likelihood(log_prob) == pytest.approx(math.log(0.25))


def test_log_likelihood_y_scale_is_change_of_variables():
    # N(0, 1) density of standardized y equals scale * N(0, scale^2) density of original y.
    scale = 3.0
    y_standardized = torch.tensor([-0.3, 1.2, 0.5])
    log_prob_standardized = torch.distributions.Normal(0.0, 1.0).log_prob(y_standardized)
    log_prob_original = torch.distributions.Normal(0.0, scale).log_prob(y_standardized * scale)
    shifted = log_likelihood(log_prob_standardized.unsqueeze(0), y_scale=scale)
    assert shifted == pytest.approx(float(log_prob_original.mean()), rel=1e-6)
    assert shifted == pytest.approx(
        log_likelihood(log_prob_standardized.unsqueeze(0)) - math.log(scale), rel=1e-12
    )


def test_crps_empirical_hand_values():
    # Samples {0, 2}, y = 1: E|X - y| = 1, E|X - X'| over all 4 pairs = 1, CRPS = 1 - 1/2.
    assert crps_empirical(torch.tensor([[0.0], [2.0]]), torch.tensor([1.0])) == pytest.approx(0.5)
    # One sample: absolute error, averaged over points.
    assert crps_empirical([[1.0, 5.0]], [0.0, 2.0]) == pytest.approx(2.0)


def test_crps_gaussian_at_the_mean_is_closed_form():
    std = torch.tensor([0.5, 2.0])
    expected = float(std.mean()) * (math.sqrt(2) - 1) / math.sqrt(math.pi)
    assert crps_gaussian(torch.zeros(2), std, torch.zeros(2)) == pytest.approx(expected, rel=1e-12)


def test_crps_gaussian_matches_integral_definition():
    # CRPS = integral (F(x) - 1[x >= y])^2 dx, by the trapezoid rule on a fine grid.
    mean, std, y = 0.7, 1.3, -0.4
    grid = np.linspace(mean - 12 * std, mean + 12 * std, 400_001)
    cdf = 0.5 * (1 + np.vectorize(math.erf)((grid - mean) / (std * math.sqrt(2))))
    integrand = (cdf - (grid >= y)) ** 2
    integral = np.sum((integrand[1:] + integrand[:-1]) / 2 * np.diff(grid))
    assert crps_gaussian([mean], [std], [y]) == pytest.approx(integral, abs=1e-4)


def test_crps_empirical_converges_to_gaussian_closed_form():
    generator = torch.Generator().manual_seed(0)
    mean = torch.tensor([0.0, 1.0, -2.0, 0.5])
    std = torch.tensor([1.0, 0.5, 2.0, 1.5])
    y = torch.tensor([0.3, 2.0, -1.0, 0.5])
    num_samples = 100_000
    samples = mean + std * torch.randn(num_samples, 4, generator=generator, dtype=torch.float64)
    # Per point sd of the estimator is below sd(|X - y|) / sqrt(S) <= sqrt(std^2 + (y-mean)^2)
    # / sqrt(S); the V-statistic adds a bias std / (sqrt(pi) S). Average of 4 points: 4 sd.
    per_point_sd = torch.sqrt(std**2 + (y - mean) ** 2) / math.sqrt(num_samples)
    tolerance = 4 * float(per_point_sd.mean()) + float(std.mean()) / num_samples
    assert crps_empirical(samples, y) == pytest.approx(crps_gaussian(mean, std, y), abs=tolerance)
    assert tolerance < 0.02  # the check is tight enough to catch a wrong factor


def test_interval_coverage_hand_value_with_closed_ends():
    y = [0.0, 1.0, 2.0, 3.0]
    low = [-1.0, 1.5, 2.0, 0.0]
    high = [1.0, 2.0, 2.0, 2.0]  # inside, below, on both ends, above
    assert interval_coverage(y, low, high) == pytest.approx(0.5)


def test_rmse_mae_and_log_likelihood_match_scikit_learn_and_scipy():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    scipy_special = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(3)
    y, mean = rng.normal(size=200), rng.normal(size=200)
    assert rmse(y, mean) == pytest.approx(
        math.sqrt(sklearn_metrics.mean_squared_error(y, mean)), rel=1e-12
    )
    assert mae(y, mean) == pytest.approx(sklearn_metrics.mean_absolute_error(y, mean), rel=1e-12)
    log_prob = rng.normal(-3, 4, size=(50, 200))
    expected = np.mean(scipy_special.logsumexp(log_prob, axis=0) - math.log(50))
    assert log_likelihood(log_prob) == pytest.approx(expected, rel=1e-12)
