"""fit_map: the MAP weights of a BayesianMLP, and early stopping on a validation part."""

from __future__ import annotations

import math

import numpy as np
import torch

from pyro_bnn.baselines import fit_map
from pyro_bnn.baselines.common import validation_split

from .helpers import GRID, TRUTH, net, rmse


def test_map_of_linear_model_is_the_exact_posterior_mode(linear_oracle):
    fit = fit_map(
        linear_oracle.model(), linear_oracle.x, linear_oracle.y, num_epochs=500, lr=5e-2,
        batch_size=None, dtype=torch.float64, standardize=False, progress=False,
    )  # fmt: skip
    assert fit.num_draws == 1 and fit.scaler is None
    found = linear_oracle.stack(fit.draws)[0].numpy()
    np.testing.assert_allclose(found, linear_oracle.mean, atol=2e-4)


def test_map_is_a_point_prediction_with_learned_noise(sine_data):
    x, y = sine_data
    fit = fit_map(net(), x, y, num_epochs=400, batch_size=40, seed=0, progress=False)
    prediction = fit.predict(GRID)
    np.testing.assert_array_equal(prediction.epistemic_var, np.zeros(25))
    assert rmse(prediction.mean, TRUTH) < 0.2
    assert 0.05 < float(prediction.aleatoric_std[0]) < 0.2  # true noise 0.1 (original units)
    # the draw itself is in standardized units
    np.testing.assert_allclose(
        float(fit.draws["sigma"][0]) * fit.scaler.y_std, prediction.aleatoric_std[0], rtol=1e-5
    )


def _gaussian_log_likelihood(y, mean, std) -> float:
    """Mean Gaussian log density, by hand in float64."""
    y, mean, std = (np.asarray(v, dtype=np.float64) for v in (y, mean, std))
    log_density = -0.5 * ((y - mean) / std) ** 2 - np.log(std) - 0.5 * math.log(2 * math.pi)
    return float(np.mean(log_density))


def test_early_stopping_chooses_the_epoch_with_the_best_validation_score(sine_data):
    """The validation score of every epoch is recomputed from scratch: a fit of the
    training part for exactly that many epochs (same seed, hence the same path),
    scored on the held-out rows by hand. The chosen epoch must be the best of them."""
    x, y = sine_data
    settings = dict(batch_size=20, lr=0.05, standardize=False, seed=0, progress=False)
    num_epochs = 12  # few enough that every epoch is a checked one
    fit = fit_map(net((8,)), x, y, num_epochs=num_epochs, validation_fraction=0.25, **settings)
    train, held_out = (index.numpy() for index in validation_split(len(x), 0.25, seed=0))
    assert len(held_out) == 20 and not set(train) & set(held_out)
    scores = []
    for epochs in range(1, num_epochs + 1):
        part = fit_map(net((8,)), x[train], y[train], num_epochs=epochs, **settings)
        prediction = part.predict(x[held_out])
        scores.append(_gaussian_log_likelihood(y[held_out], prediction.mean, prediction.std))
    best = int(np.argmax(scores)) + 1
    assert fit.diagnostics["num_epochs"] == best
    assert 1 < best < num_epochs  # not an end point: the search decided something
    np.testing.assert_allclose(fit.diagnostics["validation_ll"], scores, rtol=1e-4, atol=1e-5)
    assert len(fit.diagnostics["loss"]) == best  # then refitted on all rows for that long
