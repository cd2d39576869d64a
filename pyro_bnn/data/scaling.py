"""Per-column standardization fit on training data, with the inverse for predictions.

:class:`Standardizer` keeps what is needed to map predictions back to original
units and can be saved as plain JSON via ``to_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pyro_bnn.validation import check_x, check_xy

from .dataset import check_task

__all__ = ["Standardizer"]


def _safe_std(values: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Per-column std (ddof 0); std < 1e-12 * max(1, |mean|) (a constant column) -> 1."""
    std = values.std(axis=0)
    tiny = std < 1e-12 * np.maximum(1.0, np.abs(mean))
    return np.where(tiny, 1.0, std)


def _convert_like(values, parameter: np.ndarray):
    """Return ``parameter`` as a tensor matching ``values`` if it is a tensor, else as is."""
    if isinstance(values, torch.Tensor):
        dtype = values.dtype if values.is_floating_point() else torch.float64
        return torch.as_tensor(parameter, dtype=dtype, device=values.device)
    return parameter


def _as_float(values):
    if isinstance(values, torch.Tensor):
        return values if values.is_floating_point() else values.double()
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Standardizer:
    """Per-column standardization fit on training data, with the inverse for predictions.

    ``x_std = (x - x_mean) / x_std`` and, for regression, ``y_std = (y - y_mean) / y_std``.
    Scales come from the training data (population std, ``ddof=0``). A column whose
    std is below ``1e-12 * max(1, |mean|)`` (constant, e.g. in some UCI splits) gets
    scale 1, as the UCI reference code does, so it is only centred, never divided by
    ~0. For classification only ``x`` is standardized: ``y_mean = 0`` and
    ``y_std = 1``, so the ``y`` methods are the identity.

    Methods accept numpy arrays or torch tensors and return the same kind.

    Attributes
    ----------
    x_mean, x_std : np.ndarray
        ``(D,)``.
    y_mean, y_std : np.ndarray
        ``()`` for ``y: (N,)``, ``(K,)`` for ``y: (N, K)``.
    task : str
        ``"regression"`` or ``"classification"``.
    """

    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: np.ndarray
    y_std: np.ndarray
    task: str = "regression"

    def __post_init__(self) -> None:
        check_task(self.task)
        for name in ("x_mean", "x_std", "y_mean", "y_std"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        if self.x_mean.ndim != 1 or self.x_mean.shape != self.x_std.shape:
            raise ValueError(
                f"x_mean and x_std must both have shape (D,), found {self.x_mean.shape} "
                f"and {self.x_std.shape}"
            )
        if self.y_mean.shape != self.y_std.shape or self.y_mean.ndim > 1:
            raise ValueError(
                f"y_mean and y_std must both have shape () or (K,), found "
                f"{self.y_mean.shape} and {self.y_std.shape}"
            )
        for name in ("x_mean", "x_std", "y_mean", "y_std"):
            if not np.isfinite(getattr(self, name)).all():
                raise ValueError(f"{name} must be finite")
        if (self.x_std <= 0).any() or (self.y_std <= 0).any():
            raise ValueError("x_std and y_std must be > 0")

    @classmethod
    def fit(
        cls,
        x,
        y=None,
        task: str = "regression",
        standardize_x: bool = True,
        standardize_y: bool = True,
    ) -> Standardizer:
        """Fit on training data.

        Parameters
        ----------
        x : array-like
            Training inputs ``(N, D)``.
        y : array-like, optional
            Training targets ``(N,)`` or ``(N, K)`` (regression). Ignored for
            classification; if ``None`` the ``y`` transform is the identity.
        task : str
            ``"regression"`` or ``"classification"``.
        standardize_x, standardize_y : bool
            Set ``False`` to keep that side unchanged (mean 0, scale 1).
        """
        check_task(task)
        if y is not None and task == "regression":
            x_tensor, y_tensor = check_xy(x, y, in_features=None, dtype=torch.float64)
            y_array = y_tensor.numpy()
        else:
            x_tensor, y_array = check_x(x, None, dtype=torch.float64), None
        x_array = x_tensor.numpy()
        if standardize_x:
            x_mean = x_array.mean(axis=0)
            x_std = _safe_std(x_array, x_mean)
        else:
            x_mean, x_std = np.zeros(x_array.shape[1]), np.ones(x_array.shape[1])
        y_shape = () if y_array is None else y_array.shape[1:]
        if y_array is not None and standardize_y:
            y_mean = y_array.mean(axis=0)
            y_std = _safe_std(y_array, y_mean)
        else:
            y_mean, y_std = np.zeros(y_shape), np.ones(y_shape)
        return cls(x_mean=x_mean, x_std=x_std, y_mean=y_mean, y_std=y_std, task=task)

    @classmethod
    def identity(cls, num_features: int, task: str = "regression") -> Standardizer:
        """A standardizer that changes nothing (for ``standardize = false``)."""
        return cls(np.zeros(num_features), np.ones(num_features), np.zeros(()), np.ones(()), task)

    @property
    def num_features(self) -> int:
        """Number of input columns ``D``."""
        return int(self.x_mean.shape[0])

    def transform_x(self, x):
        """``x: (N, D)`` (or ``(..., N, D)``) -> standardized, same shape."""
        x = _as_float(x)
        if x.ndim < 2 or x.shape[-1] != self.num_features:
            raise ValueError(
                f"x of shape {tuple(x.shape)} does not match the standardizer, which was fit "
                f"on x of shape (N, {self.num_features})"
            )
        return (x - _convert_like(x, self.x_mean)) / _convert_like(x, self.x_std)

    def inverse_x(self, x_standardized):
        """Standardized ``(N, D)`` -> original units."""
        x = _as_float(x_standardized)
        return x * _convert_like(x, self.x_std) + _convert_like(x, self.x_mean)

    def transform_y(self, y):
        """Targets in original units -> standardized (identity for classification labels)."""
        if self.task == "classification":
            return y
        y = _as_float(y)
        return (y - _convert_like(y, self.y_mean)) / _convert_like(y, self.y_std)

    def inverse_y_mean(self, mean):
        """Predictive means (or draws, or interval bounds) back to original units:
        ``mean * y_std + y_mean``."""
        if self.task == "classification":
            return mean
        mean = _as_float(mean)
        return mean * _convert_like(mean, self.y_std) + _convert_like(mean, self.y_mean)

    def inverse_y_var(self, var):
        """Predictive variances back to original units: ``var * y_std**2``."""
        if self.task == "classification":
            return var
        var = _as_float(var)
        return var * _convert_like(var, self.y_std**2)

    def inverse_y_std(self, std):
        """Predictive standard deviations back to original units: ``std * y_std``."""
        if self.task == "classification":
            return std
        std = _as_float(std)
        return std * _convert_like(std, self.y_std)

    def inverse_y_log_prob(self, log_prob):
        """Log densities of standardized ``y`` -> log densities in original units:
        ``log_prob - sum(log y_std)`` (change of variables)."""
        if self.task == "classification":
            return log_prob
        log_prob = _as_float(log_prob)
        return log_prob - float(np.log(self.y_std).sum())

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable dict (floats and lists); see :meth:`from_dict`."""
        return {
            "task": self.task,
            "x_mean": self.x_mean.tolist(),
            "x_std": self.x_std.tolist(),
            "y_mean": self.y_mean.tolist(),
            "y_std": self.y_std.tolist(),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Standardizer:
        """Rebuild from :meth:`to_dict` output, with a clear error for missing keys."""
        if not isinstance(values, dict):
            raise TypeError(f"expected a dict from Standardizer.to_dict, found {type(values)}")
        keys = ("task", "x_mean", "x_std", "y_mean", "y_std")
        missing = [key for key in keys if key not in values]
        if missing:
            raise ValueError(f"standardizer dict is missing key(s): {', '.join(missing)}")
        unknown = [key for key in values if key not in keys]
        if unknown:
            raise ValueError(
                f"standardizer dict has unknown key(s): {', '.join(unknown)}; "
                f"expected {', '.join(keys)}"
            )
        return cls(**{key: values[key] for key in keys})
