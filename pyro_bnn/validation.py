"""Input checks shared by fitting, prediction and loading.

Every check raises ``ValueError``/``TypeError`` with a message that names the
offending array, row or label and what would be valid.
"""

from __future__ import annotations

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
            raise TypeError(
                f"{name} must hold numbers, found dtype {array.dtype} "
                "(text or mixed values in the data?)"
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
