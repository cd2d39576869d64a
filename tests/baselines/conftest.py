"""Fixtures of the baseline tests: the sine data and one fit of each mixture baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyro_bnn.baselines import fit_ensemble, fit_mc_dropout, fit_swag

from .helpers import net


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny networks: one thread is fastest and immune to CPU contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def sine_data():
    """80 points on [-2, 2]: y = sin(2x) + 0.1 eps (noise precision 100)."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, size=(80, 1))
    y = np.sin(2 * x[:, 0]) + 0.1 * rng.standard_normal(80)
    return x.astype(np.float32), y.astype(np.float32)


@pytest.fixture(scope="session")
def ensemble_fit(sine_data):
    x, y = sine_data
    return fit_ensemble(
        net(), x, y, num_members=5, num_epochs=300, lr=0.02, batch_size=None, seed=0,
        progress=False,
    )  # fmt: skip


@pytest.fixture(scope="session")
def dropout_fit(sine_data):
    x, y = sine_data
    return fit_mc_dropout(
        net(), x, y, dropout=0.05, tau=100.0, num_epochs=200, batch_size=None, lr=0.02,
        num_passes=400, seed=0, progress=False,
    )  # fmt: skip


@pytest.fixture(scope="session")
def swag_fit(sine_data):
    x, y = sine_data
    return fit_swag(
        net(), x, y, num_epochs=300, lr=0.02, batch_size=16, swag_epochs=30, num_draws=200,
        progress=False,
    )  # fmt: skip


@pytest.fixture
def mixture_fit(request):
    """The fit named by the parameter: ``"ensemble"``, ``"dropout"`` or ``"swag"``."""
    return request.getfixturevalue(f"{request.param}_fit")
