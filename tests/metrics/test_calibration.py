"""pyro_bnn.metrics.calibration: PIT curves, ECE and reliability against hand values and a
numpy reference written out bin by bin."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pyro_bnn import metrics
from pyro_bnn.metrics import (
    calibration_curve,
    expected_calibration_error,
    quantile_calibration_error,
    reliability_curve,
)


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


def numpy_ece(probs, labels, num_bins):
    """ECE written out bin by bin: sum_b n_b/N |acc_b - conf_b| over right-closed bins
    (b/B, (b+1)/B], confidence 0 in the first bin."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    confidence, predicted = probs.max(1), probs.argmax(1)
    total = 0.0
    for b in range(num_bins):
        low, high = b / num_bins, (b + 1) / num_bins
        inside = (confidence > low) & (confidence <= high)
        if b == 0:
            inside |= confidence == 0
        if inside.any():
            accuracy = np.mean(predicted[inside] == labels[inside])
            total += inside.mean() * abs(accuracy - confidence[inside].mean())
    return total


@pytest.mark.parametrize("num_classes, num_bins", [(2, 10), (3, 15), (5, 7)])
def test_expected_calibration_error_matches_a_numpy_reference(num_classes, num_bins):
    rng = np.random.default_rng(num_classes)
    probs = rng.dirichlet(np.full(num_classes, 0.7), size=500)
    # right more often than random: some bins over-, some underconfident
    labels = np.where(
        rng.uniform(size=500) < 0.6, probs.argmax(1), rng.integers(0, num_classes, size=500)
    )
    assert expected_calibration_error(probs, labels, num_bins=num_bins) == pytest.approx(
        numpy_ece(probs, labels, num_bins), abs=1e-12
    )
    curve = reliability_curve(probs, labels, num_bins=num_bins)
    assert curve.count.sum() == 500


def test_calibration_curve_is_the_empirical_cdf_of_the_pit():
    """observed[j] is the fraction of PIT values <= p_j: a numpy count."""
    rng = np.random.default_rng(5)
    pit = rng.uniform(size=300)
    levels = np.array([0.1, 0.25, 0.5, 0.9])
    expected, observed = calibration_curve(pit, levels)
    np.testing.assert_allclose(expected, levels)
    np.testing.assert_allclose(observed, [(pit <= p).mean() for p in levels])
