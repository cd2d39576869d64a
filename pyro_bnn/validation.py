"""Input checks shared by fitting, prediction and loading.

Every check raises ``ValueError``/``TypeError`` with a message that names the
offending array, row or label and what would be valid.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable

import numpy as np
import torch


def as_tensor(values, name: str, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Convert a numpy array, tensor or nested list to a tensor, with a clear error.

    Parameters
    ----------
    values : array-like
        The data.
    name : str
        Name used in error messages (``"x"``, ``"y"``).
    dtype, device
        Target dtype and device.
    """
    if values is None:
        raise TypeError(f"{name} is None; expected an array or tensor")
    if isinstance(values, torch.Tensor):
        tensor = values.detach()
    else:
        try:
            array = np.asarray(values)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} cannot be converted to an array: {error}") from None
        if array.dtype == object or not (
            np.issubdtype(array.dtype, np.number) or array.dtype == bool
        ):
            hint = (
                "for text class labels, pb.load_table(table, target=..., "
                'task="classification") (a DataFrame or a dict of columns) or '
                "pb.load_csv(path, ...) maps them to 0..K-1 and keeps their names"
                if name == "y"
                else "for a table with text columns, pb.load_table(table, target=...) (a "
                "DataFrame or a dict of columns) or pb.load_csv(path, target=...) one-hot "
                "encodes them"
            )
            raise TypeError(
                f"{name} must hold numbers, found dtype {array.dtype} (text or mixed values "
                f"in the data?); {hint}"
            )
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.is_complex():
        raise TypeError(f"{name} must be real-valued, found {tensor.dtype}")
    return tensor.to(dtype=dtype, device=device)


def check_finite(tensor: torch.Tensor, name: str) -> None:
    """Raise ``ValueError`` naming the first row that holds NaN or inf."""
    bad = ~torch.isfinite(tensor)
    if bad.any():
        rows = bad.reshape(bad.shape[0], -1).any(dim=1).nonzero().flatten()
        kind = "NaN" if torch.isnan(tensor).any() else "inf"
        raise ValueError(
            f"{name} contains {kind} at row {int(rows[0])} "
            f"({len(rows)} row(s) affected); remove or impute them before fitting"
        )


def check_x(x, in_features: int | None, dtype=torch.float32, device=None) -> torch.Tensor:
    """Validate inputs ``x: (N, D)`` (a 1-D array is read as ``(N, 1)``)."""
    x = as_tensor(x, "x", dtype=dtype, device=device)
    if x.dim() == 1:
        x = x.unsqueeze(-1)
    if x.dim() != 2:
        raise ValueError(f"x must have shape (N, D), found shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("x is empty (0 rows); need at least one data point")
    if in_features is not None and x.shape[1] != in_features:
        raise ValueError(
            f"x has {x.shape[1]} feature column(s) but the model expects in_features={in_features}"
        )
    check_finite(x, "x")
    return x


def check_xy(
    x, y, in_features: int | None, dtype=torch.float32, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``x: (N, D)`` and ``y: (N,)`` or ``(N, K)`` together."""
    x = check_x(x, in_features, dtype=dtype, device=device)
    y = as_tensor(y, "y", dtype=dtype, device=device)
    if y.dim() == 0:
        raise ValueError("y must have one value per row of x, found a scalar")
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"x and y have different lengths: x has {x.shape[0]} rows, y has {y.shape[0]}"
        )
    check_finite(y, "y")
    return x, y


def check_labels(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Check that ``y`` holds integer class labels in ``[0, num_classes - 1]``."""
    if y.dim() != 1:
        raise ValueError(f"class labels y must be 1-D, found shape {tuple(y.shape)}")
    not_integer = y != torch.round(y)
    if not_integer.any():
        row = int(not_integer.nonzero()[0])
        raise ValueError(f"class labels must be integers, found {float(y[row])} at row {row}")
    bad = (y < 0) | (y > num_classes - 1)
    if bad.any():
        row = int(bad.nonzero()[0])
        raise ValueError(
            f"y has {num_classes} classes, labels in range [0, {num_classes - 1}] "
            f"expected, found label {int(y[row])} at row {row}"
        )
    return y


# --------------------------------------------------------------------------- settings


def did_you_mean(name, choices: Iterable) -> str:
    """``" (did you mean 'x'?)"`` for the closest choice (case-insensitive first), or ``""``."""
    choices = [str(c) for c in choices]
    same = [c for c in choices if c.lower() == str(name).lower()]
    if same:
        return f" (did you mean '{same[0]}'?)"
    close = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_choice(value, name: str, choices: Iterable) -> str:
    """Raise ``ValueError`` unless ``value`` is one of ``choices`` (with a did-you-mean hint)."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}"
            f"{did_you_mean(value, choices)}"
        )
    return value


def check_positive_int(value, name: str, *, allow_none: bool = False) -> int | None:
    """Raise ``ValueError`` unless ``value`` is a positive integer (or None if allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_positive_float(value, name: str, *, allow_none: bool = False) -> float | None:
    """Raise ``ValueError`` unless ``value`` is a positive finite number (or None if allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_fraction(value, name: str, *, allow_zero: bool = True) -> float:
    """Raise ``ValueError`` unless ``value`` is in [0, 1) (or (0, 1) without ``allow_zero``)."""
    bound = "[0, 1)" if allow_zero else "(0, 1)"
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name} must be a number in {bound}, got {value!r}")
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        raise ValueError(f"{name} must be in {bound}, got {value!r}")
    return float(value)


def check_nonnegative_float(value, name: str, *, allow_none: bool = False) -> float | None:
    """Raise ``ValueError`` unless ``value`` is a finite number >= 0 (or None if allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)
