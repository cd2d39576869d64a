"""Tests for pyro_bnn.metrics: each metric against a hand value, a closed form or brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pyro_bnn import metrics
from pyro_bnn.metrics import (
    accuracy,
    auroc,
    brier,
    calibration_curve,
    crps_empirical,
    crps_gaussian,
    evaluate,
    expected_calibration_error,
    interval_coverage,
    log_likelihood,
    mae,
    nll,
    quantile_calibration_error,
    reliability_curve,
    rmse,
)

# ----------------------------------------------------------------------------- regression


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


def test_calibration_curve_and_error_hand_values():
    pit = [0.1, 0.3, 0.6, 0.9]
    expected, observed = calibration_curve(pit, [0.25, 0.5, 0.75])
    np.testing.assert_allclose(expected, [0.25, 0.5, 0.75])
    np.testing.assert_allclose(observed, [0.25, 0.5, 0.75])
    assert quantile_calibration_error(pit, [0.25, 0.5, 0.75]) == pytest.approx(0.0, abs=1e-15)
    # Levels 0.2 and 0.95: observed 0.25 and 1.0, mean squared gap (0.05^2 + 0.05^2) / 2.
    assert quantile_calibration_error(pit, [0.2, 0.95]) == pytest.approx(0.0025)


def test_calibration_curve_counts_pit_equal_to_level():
    # phat_j counts F_n(y_n) <= p_j, so a PIT value equal to a level is counted.
    _, observed = calibration_curve([0.25, 0.5, 0.75, 1.0], [0.25, 0.5])
    np.testing.assert_allclose(observed, [0.25, 0.5])


def test_calibration_default_levels():
    expected, observed = calibration_curve(
        torch.rand(10, generator=torch.Generator().manual_seed(0))
    )
    np.testing.assert_allclose(expected, np.arange(1, 20) * 0.05, atol=1e-12)
    assert observed.shape == (19,)


def test_calibration_error_of_uniform_pit_is_near_zero():
    num_points = 4000
    pit = torch.rand(num_points, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    levels = metrics.default_calibration_levels()
    expected_error = float((levels * (1 - levels)).mean()) / num_points  # ~4e-5
    error = quantile_calibration_error(pit)
    assert 0 < error < 5 * expected_error


def test_calibration_error_of_degenerate_pit_is_large():
    # Every PIT value 0.52 (an overdispersed predictive): observed 0 below it, 1 above it.
    levels = np.arange(1, 20) * 0.05
    expected = np.mean((levels - (levels >= 0.52)) ** 2)
    assert quantile_calibration_error(torch.full((50,), 0.52)) == pytest.approx(expected)
    assert expected > 0.08


# ----------------------------------------------------------------------------- classification

PROBS = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4], [0.3, 0.3, 0.4]])
LABELS = torch.tensor([0, 2, 1])


def test_accuracy_nll_brier_hand_values():
    assert accuracy(PROBS, LABELS) == pytest.approx(1 / 3)
    assert nll(PROBS, LABELS) == pytest.approx(-(math.log(0.7) + math.log(0.4) + math.log(0.3)) / 3)
    # Row errors: 0.09+0.04+0.01, 0.01+0.25+0.36, 0.09+0.49+0.16 -> 0.14, 0.62, 0.74.
    assert brier(PROBS, LABELS) == pytest.approx(0.5)


def test_binary_probs_as_one_column_equal_two_columns():
    p1 = np.array([0.8, 0.3, 0.6])
    y = np.array([1, 0, 0])
    two_columns = np.stack([1 - p1, p1], axis=1)
    for metric in (accuracy, nll, brier, expected_calibration_error):
        assert metric(p1, y) == pytest.approx(metric(two_columns, y))
    # Binary Brier convention: twice mean((p - y)^2).
    assert brier(p1, y) == pytest.approx(2 * np.mean((p1 - y) ** 2))


def test_nll_clamps_zero_probability_of_true_class():
    value = nll([[1.0, 0.0]], [1])
    assert value == pytest.approx(-math.log(metrics.PROB_FLOOR))


ECE_PROBS = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7], [0.45, 0.55]])
ECE_LABELS = torch.tensor([0, 1, 1, 0])


def test_expected_calibration_error_hand_value():
    # 5 bins: (0.8, 1]: conf 0.9, acc 1/2, 2 points; (0.6, 0.8]: conf 0.7, acc 1;
    # (0.4, 0.6]: conf 0.55, acc 0. ECE = 2/4*0.4 + 1/4*0.3 + 1/4*0.55.
    ece = expected_calibration_error(ECE_PROBS, ECE_LABELS, num_bins=5)
    assert ece == pytest.approx(0.5 * 0.4 + 0.25 * 0.3 + 0.25 * 0.55)


def test_reliability_curve_hand_values():
    confidence, bin_accuracy, count = reliability_curve(ECE_PROBS, ECE_LABELS, num_bins=5)
    np.testing.assert_allclose(confidence, [np.nan, np.nan, 0.55, 0.7, 0.9])
    np.testing.assert_allclose(bin_accuracy, [np.nan, np.nan, 0.0, 1.0, 0.5])
    np.testing.assert_array_equal(count, [0, 0, 1, 1, 2])


def test_ece_bins_are_right_closed_and_one_goes_to_last_bin():
    # Confidence exactly 0.75 with 4 bins belongs to (0.5, 0.75], confidence 1.0 to the last.
    probs = torch.tensor([[0.75, 0.25], [1.0, 0.0]])
    _, _, count = reliability_curve(probs, [0, 0], num_bins=4)
    np.testing.assert_array_equal(count, [0, 0, 1, 1])


def test_ece_of_calibrated_predictions_is_small_and_of_overconfident_large():
    generator = torch.Generator().manual_seed(2)
    num_points = 20_000
    p1 = torch.rand(num_points, generator=generator, dtype=torch.float64)
    labels = (torch.rand(num_points, generator=generator, dtype=torch.float64) < p1).long()
    calibrated = expected_calibration_error(p1, labels, num_bins=10)
    # Each bin's accuracy has sd <= 0.5 / sqrt(n_b) with n_b ~ 2000; ECE is a weighted mean.
    assert calibrated < 3 * 0.5 / math.sqrt(num_points / 10)
    overconfident = (p1 > 0.5).to(torch.float64) * 0.999 + (p1 <= 0.5).to(torch.float64) * 0.001
    assert expected_calibration_error(overconfident, labels, num_bins=10) > 0.2


# ----------------------------------------------------------------------------- AUROC


def brute_force_auroc(scores_in, scores_out) -> float:
    scores_in = np.asarray(scores_in, dtype=float)[None, :]
    scores_out = np.asarray(scores_out, dtype=float)[:, None]
    return float(np.mean((scores_out > scores_in) + 0.5 * (scores_out == scores_in)))


def test_auroc_perfect_reversed_and_all_tied():
    assert auroc([0.1, 0.2, 0.3], [0.5, 0.9]) == 1.0
    assert auroc([0.5, 0.9], [0.1, 0.2, 0.3]) == 0.0
    assert auroc([1.0, 1.0], [1.0, 1.0, 1.0]) == 0.5


def test_auroc_ties_count_one_half():
    # Pairs (out, in): (1, 0) win, (1, 1) tie, (2, 0) win, (2, 1) win -> 3.5 / 4.
    assert auroc([0.0, 1.0], [1.0, 2.0]) == pytest.approx(0.875)


def test_auroc_matches_brute_force_pairwise_count_with_many_ties():
    rng = np.random.default_rng(3)
    scores_in = rng.integers(0, 6, size=37)
    scores_out = rng.integers(2, 9, size=23)
    assert auroc(scores_in, scores_out) == pytest.approx(
        brute_force_auroc(scores_in, scores_out), abs=1e-12
    )
    continuous_in, continuous_out = rng.normal(size=50), rng.normal(0.7, size=40)
    assert auroc(continuous_in, continuous_out) == pytest.approx(
        brute_force_auroc(continuous_in, continuous_out), abs=1e-12
    )


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: rmse([1.0, 2.0], [1.0, 2.0, 3.0]), "y and mean have different shapes"),
        (lambda: mae([], []), "y is empty"),
        (lambda: rmse([1.0, float("nan")], [1.0, 2.0]), "y contains NaN at index 1"),
        (lambda: log_likelihood([1.0, 2.0]), r"log_prob_draws must have shape \(S, N\)"),
        (lambda: log_likelihood([[float("nan")]]), "log_prob_draws contains NaN"),
        (lambda: log_likelihood([[0.0]], y_scale=0.0), "y_scale must be a positive"),
        (lambda: crps_empirical([[1.0, 2.0]], [1.0]), "samples has 2 data points"),
        (lambda: crps_gaussian([0.0], [0.0], [1.0]), "std must be positive"),
        (lambda: interval_coverage([0.0], [1.0], [0.0]), "low must be <= high"),
        (lambda: interval_coverage([0.0, 1.0], [0.0], [1.0]), "y and low have different"),
        (lambda: quantile_calibration_error([0.5, 1.2]), r"pit must lie in \[0, 1\]"),
        (lambda: calibration_curve([0.5], [0.5, 2.0]), r"levels must lie in \[0, 1\]"),
        (lambda: accuracy([[0.5, 0.6]], [0]), "probs rows must sum to 1.*row 0 sums to 1.1"),
        (lambda: nll([[0.5, 0.5]], [2]), r"2 classes, labels in range \[0, 1\].*label 2 at row 0"),
        (lambda: brier([[0.5, 0.5]], [0.5]), "class labels must be integers"),
        (
            lambda: brier([[0.5, 0.5]], [0, 1]),
            "y has 2 data points.*expected 1 to match the rows of probs",
        ),
        (lambda: brier(torch.ones(2, 2, 2) / 2, [0, 1]), r"probs must have shape \(N, K\)"),
        (lambda: expected_calibration_error(PROBS, LABELS, num_bins=0), "num_bins must be"),
        (lambda: auroc([], [1.0]), "scores_in is empty"),
        (lambda: auroc([1.0], [[1.0]]), r"scores_out must have shape \(N,\)"),
    ],
)
def test_bad_input_raises_value_error_naming_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_text_input_raises_type_error():
    with pytest.raises(TypeError, match="y must hold numbers"):
        rmse(["a", "b"], [1.0, 2.0])


# ----------------------------------------------------------------------------- evaluate


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
