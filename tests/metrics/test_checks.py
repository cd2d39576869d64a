"""Bad input to any metric: a ValueError/TypeError naming the offending array."""

from __future__ import annotations

import pytest
import torch

from pyro_bnn.metrics import (
    accuracy,
    auroc,
    brier,
    calibration_curve,
    crps_empirical,
    crps_gaussian,
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
