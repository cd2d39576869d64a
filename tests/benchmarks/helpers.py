"""Helpers of the benchmark tests: a synthetic UCI folder and a fit that takes no time."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from pyro_bnn import BayesianMLP, Gaussian, Posterior
from pyro_bnn.benchmarks import PRESETS, Fitted

SHARED_UCI = Path(__file__).resolve().parents[3] / "shared" / "data" / "uci"
needs_shared = pytest.mark.skipif(
    not (SHARED_UCI / "yacht").is_dir(),
    reason=f"the UCI data folder {SHARED_UCI} is not present (shared workspace only)",
)
TINY = PRESETS["tiny"]


def write_uci_folder(folder: Path, num_rows=60, num_splits=3, y_scale=1000.0, seed=0) -> Path:
    """A synthetic dataset in the UCI split format: 3 features (one constant), target last."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    x = rng.normal(size=(num_rows, 3))
    x[:, 1] = 7.0  # constant column: the std-0 guard must handle it
    y = y_scale * (x[:, 0] + 0.1 * rng.normal(size=num_rows)) + 5 * y_scale
    np.savetxt(folder / "data.txt", np.column_stack([x, y]))
    np.savetxt(folder / "index_features.txt", [0, 1, 2], fmt="%d")
    np.savetxt(folder / "index_target.txt", [3], fmt="%d")
    (folder / "n_splits.txt").write_text(f"{num_splits}\n")
    for split in range(num_splits):
        order = np.random.default_rng(split).permutation(num_rows)
        np.savetxt(folder / f"index_train_{split}.txt", order[:50], fmt="%d")
        np.savetxt(folder / f"index_test_{split}.txt", order[50:], fmt="%d")
    return folder


def fake_fit(setup, x, y, settings) -> Fitted:
    """Predict the training mean with unit noise (a MAP 'fit' in no time)."""
    model = BayesianMLP(setup.in_features, 1, hidden=(), likelihood=Gaussian(sigma=1.0))
    draws = {
        "layers.0.weight": torch.zeros(1, 1, setup.in_features),
        "layers.0.bias": torch.full((1, 1), float(np.mean(y))),
    }
    return Fitted(Posterior(model, "map", samples=draws), {"note": "fake"})


def csv_header(path: Path) -> list[str]:
    """The first line of a CSV file, split into column names."""
    with open(path, newline="") as handle:
        return next(csv.reader(handle))
