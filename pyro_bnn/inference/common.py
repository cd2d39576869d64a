"""Pieces shared by the SVI and MCMC engines: input preparation and seeding."""

from __future__ import annotations

from collections.abc import Callable

import pyro
import torch

from ..nets import BayesianMLP
from ..validation import check_x, check_xy


def resolve_device(device) -> torch.device:
    """``"auto"`` → CUDA, else MPS, else CPU (whichever exists); otherwise ``torch.device``."""
    if device is None:
        return torch.device("cpu")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"invalid device {device!r}: {error}; use 'cpu', 'cuda', 'cuda:1', 'mps' or 'auto'"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} requested but CUDA is not available on this machine")
    return device


def prepare(model: Callable, x, y, dtype=None, device=None):
    """Validate data against the model and move model and data to ``dtype``/``device``.

    Returns ``(model, x, y)``; a :class:`BayesianMLP` is moved in place.
    """
    if not callable(model):
        raise TypeError(f"model must be a Pyro model (callable), got {type(model).__name__}")
    device = resolve_device(device)
    if dtype is not None and dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if isinstance(model, BayesianMLP):
        model.to(device=device, dtype=dtype or model._like.dtype)
        x, y = model.check_inputs(x, y)
    else:
        dtype = dtype or torch.get_default_dtype()
        if y is None:
            x = check_x(x, None, dtype=dtype, device=device)
        else:
            x, y = check_xy(x, y, None, dtype=dtype, device=device)
    return model, x, y


def seed_everything(seed: int) -> None:
    """Seed Pyro, torch and numpy from one integer."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    pyro.set_rng_seed(seed)


def check_positive_int(value, name: str) -> int:
    """Raise ``ValueError`` unless ``value`` is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value
