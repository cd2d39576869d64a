"""fit_mc_dropout: dropout masks as weight draws, tau as the noise, the grid search."""

from __future__ import annotations

import numpy as np
import torch

from pyro_bnn.baselines import fit_mc_dropout
from pyro_bnn.baselines.mc_dropout import _dropout_weight_draws

from .helpers import GRID, net


def test_dropout_noise_is_one_over_tau_in_standardized_units(dropout_fit, sine_data):
    _, y = sine_data
    prediction = dropout_fit.predict(GRID)
    # tau is a precision of the standardized targets: noise variance y_std**2 / tau
    expected = np.full(25, np.var(y.astype(np.float64)) / 100.0)
    np.testing.assert_allclose(prediction.aleatoric_var, expected, rtol=1e-5)
    assert dropout_fit.diagnostics["tau"] == 100.0
    assert dropout_fit.num_draws == 400


def test_dropout_grid_search_picks_the_true_noise_precision(sine_data):
    x, y = sine_data
    fit = fit_mc_dropout(
        net(), x, y, dropout=(0.01,), tau=(1.0, 100.0), num_epochs=200, batch_size=None,
        lr=0.02, validation_fraction=0.25, validation_passes=50, num_passes=50, seed=0,
        progress=False,
    )  # fmt: skip
    assert fit.diagnostics["tau"] == 100.0  # true precision ~50 in standardized units
    scores = fit.diagnostics["validation_ll"]
    assert len(scores) == 2 and scores[1] > scores[0]


def test_dropout_masks_are_weight_draws():
    generator = torch.Generator().manual_seed(0)
    params = {"layers.0.weight": torch.ones(3, 4), "layers.0.bias": torch.arange(3.0)}
    draws = _dropout_weight_draws(params, keep=0.8, num_passes=20000, generator=generator)
    weight = draws["layers.0.weight"]
    assert weight.shape == (20000, 3, 4)
    # a dropped input unit zeroes a whole column; kept ones are scaled by 1 / keep
    columns = weight[:, 0, :]
    assert torch.equal(weight, columns.unsqueeze(1).expand(-1, 3, -1))
    assert set(torch.unique(columns).tolist()) == {0.0, 1.25}
    assert abs(float((columns == 0).float().mean()) - 0.2) < 0.01
    assert abs(float(weight.mean()) - 1.0) < 0.02  # unbiased
    assert torch.equal(draws["layers.0.bias"], torch.arange(3.0).expand(20000, 3))
