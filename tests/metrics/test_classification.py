"""pyro_bnn.metrics.classification: hand values and scikit-learn's own scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pyro_bnn import metrics
from pyro_bnn.metrics import accuracy, brier, expected_calibration_error, nll

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


@pytest.mark.parametrize("num_classes", [2, 3, 6])
def test_accuracy_nll_brier_match_scikit_learn(num_classes):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(num_classes)
    probs = rng.dirichlet(np.ones(num_classes), size=400)
    labels = rng.integers(0, num_classes, size=400)
    labels[:num_classes] = np.arange(num_classes)  # every class present for scikit-learn
    classes = np.arange(num_classes)
    assert accuracy(probs, labels) == pytest.approx(
        sklearn_metrics.accuracy_score(labels, probs.argmax(1)), abs=1e-12
    )
    assert nll(probs, labels) == pytest.approx(
        sklearn_metrics.log_loss(labels, probs, labels=classes), rel=1e-9
    )
    expected_brier = (
        sklearn_metrics.brier_score_loss(labels, probs[:, 1], scale_by_half=False)
        if num_classes == 2
        else sklearn_metrics.brier_score_loss(labels, probs, labels=classes)
    )
    assert brier(probs, labels) == pytest.approx(expected_brier, rel=1e-9)
