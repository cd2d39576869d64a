"""Out-of-distribution detection: AUROC of an uncertainty score."""

from __future__ import annotations

from typing import Any

import torch

from ._checks import _DTYPE, _array

__all__ = ["auroc"]


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks with ties given the average of the ranks they span."""
    _, inverse, counts = torch.unique(values, sorted=True, return_inverse=True, return_counts=True)
    counts = counts.to(_DTYPE)
    first_rank = torch.cumsum(counts, 0) - counts + 1
    return (first_rank + (counts - 1) / 2)[inverse]


def auroc(scores_in: Any, scores_out: Any) -> float:
    """Area under the ROC curve for flagging out-of-distribution inputs by a score.

    Out-of-distribution points are the positives (a higher score should mean "more
    OOD", e.g. predictive entropy or mutual information). Computed exactly as the
    Mann-Whitney statistic ``P(s_out > s_in) + 1/2 P(s_out = s_in)`` over all pairs,
    via tie-averaged ranks in ``O(N log N)``. 1 is perfect separation, 0.5 chance.

    Parameters
    ----------
    scores_in : (N_in,)
        Scores of in-distribution inputs.
    scores_out : (N_out,)
        Scores of out-of-distribution inputs.
    """
    scores_in = _array(scores_in, "scores_in", ndim=1)
    scores_out = _array(scores_out, "scores_out", ndim=1)
    num_in, num_out = scores_in.shape[0], scores_out.shape[0]
    ranks = _average_ranks(torch.cat([scores_out, scores_in]))
    rank_sum_out = ranks[:num_out].sum()
    u_statistic = rank_sum_out - num_out * (num_out + 1) / 2
    return float(u_statistic / (num_in * num_out))
