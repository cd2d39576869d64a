"""pyro_bnn.metrics.ood: AUROC against brute force and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from pyro_bnn.metrics import auroc


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


def test_auroc_matches_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    scores_in = rng.normal(0, 1, size=300)
    scores_out = rng.normal(0.8, 1.3, size=120)
    scores_out[:10] = scores_in[:10]  # some ties across the two groups
    labels = np.r_[np.zeros(300), np.ones(120)]  # out-of-distribution = positive
    expected = sklearn_metrics.roc_auc_score(labels, np.r_[scores_in, scores_out])
    assert auroc(scores_in, scores_out) == pytest.approx(expected, abs=1e-12)
