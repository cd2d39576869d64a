"""Shared pieces of the plots: colours, array conversion, figure and argument checks, saving."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..posterior import atomic_write
from ..validation import check_fraction

__all__ = ["save_figure"]

# Colours (colour-blind-safe Okabe-Ito palette) used consistently across figures.
BAYES_COLOR = "#0072B2"  # blue: Bayesian mean and bands
POINT_COLOR = "#D55E00"  # vermillion: point estimate (MAP)
DATA_COLOR = "0.15"
CLASS_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")
CLASS_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _numpy(values: Any, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be an array of numbers, got {type(values).__name__}"
        ) from None
    return array


def _new_figure(
    nrows: int = 1, ncols: int = 1, figsize=None, **subplots_kwargs
) -> tuple[Figure, Any]:
    figure = Figure(figsize=figsize, layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False, **subplots_kwargs)
    return figure, axes


def _check_task(prediction: Any, task: str, function: str, instead: str) -> None:
    found = getattr(prediction, "task", None)
    if found != task:
        raise ValueError(
            f"{function} needs a {task} prediction (prediction.task == '{task}'), "
            f"got task={found!r}; {instead}"
        )


def _check_axes(axes: Any, expected: int, function: str) -> list[Axes]:
    flat = list(np.ravel(np.asarray(axes, dtype=object)))
    if len(flat) != expected or not all(isinstance(a, Axes) for a in flat):
        raise ValueError(f"{function} needs axes= with {expected} matplotlib Axes, got {len(flat)}")
    return flat


def _one_feature(x: Any, name: str, function: str) -> np.ndarray:
    x = _numpy(x, name)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise ValueError(
            f"{function} plots one input feature: {name} must have shape (N,) or (N, 1), "
            f"found shape {x.shape}"
        )
    return x


def _is_point_estimate(prediction: Any) -> bool:
    return getattr(prediction, "num_draws", None) == 1


def _percent(level: float) -> str:
    return f"{100 * level:g}%"


def _check_level(level: float) -> float:
    return check_fraction(level, "level", allow_zero=False)


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write ``figure`` to ``path`` atomically (format from the suffix, e.g. ``.png``, ``.pdf``).

    Creates the parent folder; an interrupted save never leaves a half-written file.
    Returns the path.
    """
    if not isinstance(figure, Figure):
        raise TypeError(f"figure must be a matplotlib Figure, got {type(figure).__name__}")
    path = Path(path)
    file_format = path.suffix.lstrip(".").lower()
    supported = figure.canvas.get_supported_filetypes()
    if file_format not in supported:
        raise ValueError(
            f"cannot tell the image format of {path}: use a suffix from "
            f"{', '.join('.' + k for k in sorted(supported))}"
        )
    atomic_write(path, lambda tmp: figure.savefig(tmp, format=file_format, dpi=dpi))
    return path
