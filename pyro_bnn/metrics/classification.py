"""Classification scores: accuracy, negative log-likelihood, Brier score."""

from __future__ import annotations

from typing import Any

import torch

from ._checks import _DTYPE, _probs_and_labels

__all__ = ["PROB_FLOOR", "accuracy", "nll", "brier"]

#: Probabilities are clamped to at least this before taking logs in :func:`nll`,
#: so a confidently wrong prediction costs ``-log(1e-12) ~= 27.6`` nats, not ``inf``.
PROB_FLOOR = 1e-12


def accuracy(probs: Any, y: Any) -> float:
    """Fraction of points whose most probable class (first on ties) is the label.

    Parameters
    ----------
    probs : (N, K) or (N,)
        Predictive class probabilities (rows sum to 1); a 1-D array is P(class 1)
        of a binary problem.
    y : (N,)
        Integer labels in ``[0, K-1]``.
    """
    probs, labels = _probs_and_labels(probs, y)
    return float((probs.argmax(-1) == labels).to(_DTYPE).mean())


def nll(probs: Any, y: Any) -> float:
    """Mean negative log probability of the true class, ``-(1/N) sum_n log p_n[y_n]``.

    Probabilities are clamped to at least ``PROB_FLOOR = 1e-12`` to avoid ``log 0``.

    Parameters
    ----------
    probs : (N, K) or (N,)
        Predictive class probabilities (see :func:`accuracy`).
    y : (N,)
        Integer labels in ``[0, K-1]``.
    """
    probs, labels = _probs_and_labels(probs, y)
    true_class = probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return float(-true_class.clamp_min(PROB_FLOOR).log().mean())


def brier(probs: Any, y: Any) -> float:
    """Multi-class Brier score ``(1/N) sum_n sum_k (p_nk - 1[y_n = k])^2`` (Brier 1950).

    Summed over classes, averaged over points, so it lies in [0, 2]. For a binary
    problem this is twice the common one-column form ``mean((p_n - y_n)^2)``.

    Parameters
    ----------
    probs : (N, K) or (N,)
        Predictive class probabilities (see :func:`accuracy`).
    y : (N,)
        Integer labels in ``[0, K-1]``.
    """
    probs, labels = _probs_and_labels(probs, y)
    one_hot = torch.nn.functional.one_hot(labels, probs.shape[-1]).to(_DTYPE)
    return float((probs - one_hot).pow(2).sum(-1).mean())
