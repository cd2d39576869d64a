"""Shared pieces of the baseline tests: networks, grids, one short fit per baseline."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.baselines import BaselineFit, fit_ensemble, fit_map, fit_mc_dropout, fit_swag

GRID = np.linspace(-1.9, 1.9, 25)[:, None].astype(np.float32)
TRUTH = np.sin(2 * GRID[:, 0])


def net(hidden=(32,), out_features=1, likelihood=None, in_features=1):
    """A ReLU ``BayesianMLP`` (regression by default)."""
    return pb.BayesianMLP(
        in_features, out_features, hidden=hidden, activation="relu", likelihood=likelihood
    )


def rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def law_of_total_variance(fit: BaselineFit, x) -> tuple[np.ndarray, np.ndarray]:
    """Mixture variances in original units, computed independently from the per-draw
    network outputs and the scaler's statistics (not through predict)."""
    scaler = fit.scaler
    x_model = (np.asarray(x, dtype=np.float64) - scaler.x_mean) / scaler.x_std
    with torch.no_grad():
        out = fit.model.network(fit.draws, torch.as_tensor(x_model, dtype=torch.float32))
        mean, var = fit.model.likelihood.mean_var(out, fit.draws)
    mean = mean.double().numpy() * scaler.y_std + scaler.y_mean
    var = var.double().numpy() * scaler.y_std**2
    total = (var + mean**2).mean(0) - mean.mean(0) ** 2
    return mean.var(0), total


def global_rng_states():
    return torch.get_rng_state().clone(), np.random.get_state()[1].copy(), random.getstate()


def assert_same_rng_states(before, after):
    assert torch.equal(before[0], after[0])
    assert np.array_equal(before[1], after[1])
    assert before[2] == after[2]


#: One short fit per baseline, ``fit(model, x, y, **settings)``.
FITS = {
    "map": lambda model, x, y, **kw: fit_map(model, x, y, num_epochs=20, batch_size=None, **kw),
    "swag": lambda model, x, y, **kw: fit_swag(
        model, x, y, num_epochs=20, swag_epochs=5, num_draws=20, batch_size=None, **kw
    ),
    "mc-dropout": lambda model, x, y, **kw: fit_mc_dropout(
        model, x, y, dropout=0.05, tau=10.0, num_epochs=20, num_passes=20, batch_size=None, **kw
    ),
    "ensemble": lambda model, x, y, **kw: fit_ensemble(
        model, x, y, num_members=2, num_epochs=20, batch_size=None, **kw
    ),
}
EVERY_BASELINE = pytest.mark.parametrize("method", list(FITS))
