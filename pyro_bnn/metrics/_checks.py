"""Shared input checks of the metrics: float64 tensors, shapes, probabilities and labels."""

from __future__ import annotations

from typing import Any

import torch

from ..validation import as_tensor, check_labels

#: Rows of class probabilities must sum to one within this absolute tolerance.
PROB_SUM_TOLERANCE = 1e-4

_DTYPE = torch.float64


def _array(values: Any, name: str, ndim: int | None = None) -> torch.Tensor:
    """Convert to a finite, non-empty float64 tensor with ``ndim`` dims (if given)."""
    tensor = as_tensor(values, name, dtype=_DTYPE)
    if ndim is not None and tensor.dim() != ndim:
        expected = {1: "(N,)", 2: "(S, N)"}.get(ndim, f"{ndim} dims")
        raise ValueError(f"{name} must have shape {expected}, found shape {tuple(tensor.shape)}")
    if tensor.dim() == 0:
        raise ValueError(f"{name} must be an array with one value per data point, found a scalar")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)}); need at least one value")
    _check_finite(tensor, name)
    return tensor


def _check_finite(tensor: torch.Tensor, name: str) -> None:
    bad = ~torch.isfinite(tensor)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        kind = "NaN" if torch.isnan(tensor[index]) else "inf"
        where = index[0] if len(index) == 1 else index
        raise ValueError(f"{name} contains {kind} at index {where}")


def _check_same_shape(**arrays: torch.Tensor) -> None:
    (first_name, first), *rest = arrays.items()
    for name, tensor in rest:
        if tensor.shape != first.shape:
            raise ValueError(
                f"{first_name} and {name} have different shapes: {first_name} has shape "
                f"{tuple(first.shape)}, {name} has shape {tuple(tensor.shape)}"
            )


def _check_length(
    n: int, name: str, tensor: torch.Tensor, dim: int = 0, reference: str = "y"
) -> None:
    if tensor.shape[dim] != n:
        raise ValueError(
            f"{name} has {tensor.shape[dim]} data points along dim {dim} "
            f"(shape {tuple(tensor.shape)}), expected {n} to match {reference}"
        )


def _check_unit_interval(tensor: torch.Tensor, name: str, closed: bool = True) -> None:
    bad = (tensor < 0) | (tensor > 1) if closed else (tensor <= 0) | (tensor >= 1)
    if bad.any():
        index = int(bad.flatten().nonzero()[0])
        interval = "[0, 1]" if closed else "(0, 1)"
        raise ValueError(
            f"{name} must lie in {interval}, found {float(tensor.flatten()[index])} "
            f"at index {index}"
        )


def _probs_and_labels(probs: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``probs: (N, K)`` (or ``(N,)`` = P(class 1) of a binary problem) and labels."""
    probs = _array(probs, "probs")
    if probs.dim() == 1:
        _check_unit_interval(probs, "probs")
        probs = torch.stack([1 - probs, probs], dim=-1)
    if probs.dim() != 2:
        raise ValueError(
            f"probs must have shape (N, K) (or (N,) for binary P(class 1)), "
            f"found shape {tuple(probs.shape)}"
        )
    _check_unit_interval(probs, "probs")
    row_sums = probs.sum(-1)
    off = (row_sums - 1).abs() > PROB_SUM_TOLERANCE
    if off.any():
        row = int(off.nonzero()[0])
        raise ValueError(
            f"probs rows must sum to 1 (tolerance {PROB_SUM_TOLERANCE}), row {row} sums to "
            f"{float(row_sums[row]):.6g}; pass probabilities, not logits"
        )
    labels = _array(y, "y", ndim=1)
    _check_length(probs.shape[0], "y", labels, reference="the rows of probs")
    check_labels(labels, probs.shape[1])
    return probs, labels.long()
