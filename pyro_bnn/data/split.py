"""Random train/test split of rows."""

from __future__ import annotations

import numpy as np
import torch

from pyro_bnn.validation import check_fraction, check_xy

__all__ = ["train_test_split"]


def train_test_split(
    x, y, test_fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Randomly split rows into a training and a test part (not stratified).

    Parameters
    ----------
    x : array-like
        Inputs ``(N, D)`` (a 1-D array is read as ``(N, 1)``).
    y : array-like
        Targets ``(N,)`` or ``(N, K)``; the dtype is kept (integer labels stay integers).
    test_fraction : float
        Fraction in ``(0, 1)`` of rows for the test part; ``round(test_fraction * N)``
        rows, at least 1 and at most ``N - 1``.
    seed : int
        Seed of the permutation.

    Returns
    -------
    x_train, x_test, y_train, y_test : np.ndarray
        ``x`` parts as float64 ``(N_train, D)``, ``(N_test, D)``.
    """
    x_tensor, _ = check_xy(x, y, in_features=None, dtype=torch.float64)
    x_array = x_tensor.numpy()
    y_array = y.numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    check_fraction(test_fraction, "test_fraction", allow_zero=False)
    num_points = x_array.shape[0]
    if num_points < 2:
        raise ValueError(f"cannot split {num_points} row(s) into a training and a test part")
    num_test = min(max(int(round(test_fraction * num_points)), 1), num_points - 1)
    order = np.random.default_rng(seed).permutation(num_points)
    test, train = np.sort(order[:num_test]), np.sort(order[num_test:])
    return x_array[train], x_array[test], y_array[train], y_array[test]
