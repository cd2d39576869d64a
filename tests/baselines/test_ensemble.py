"""fit_ensemble: deep ensembles with learned noise, early stopping, seeds."""

from __future__ import annotations

import numpy as np
import torch

from pyro_bnn.baselines import fit_ensemble
from pyro_bnn.baselines.common import validation_split

from .helpers import GRID, net


def test_ensemble_learns_heteroscedastic_noise():
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, size=(300, 1)).astype(np.float32)
    scale = np.where(x[:, 0] < 0, 0.05, 0.5)
    y = (x[:, 0] + scale * rng.standard_normal(300)).astype(np.float32)
    fit = fit_ensemble(
        net((16,)), x, y, num_members=3, num_epochs=100, batch_size=100, seed=0, progress=False
    )
    aleatoric = fit.predict(np.array([[-1.0], [1.0]], dtype=np.float32)).aleatoric_std
    assert float(aleatoric[0]) < 0.15 and 0.3 < float(aleatoric[1]) < 0.8


def _mixture_log_likelihood(prediction, y) -> float:
    """Mean log density of the uniform mixture of the members, in float64."""
    log_prob = prediction.log_prob_draws(y).double().numpy()  # (members, N)
    peak = log_prob.max(0)
    return float(np.mean(peak + np.log(np.exp(log_prob - peak).mean(0))))


def test_ensemble_early_stopping_chooses_the_epoch_with_the_best_validation_score(sine_data):
    """Every epoch's validation score is recomputed by refitting the training part for
    that many epochs (the validation run is seeded with ``seed``, the final one with
    ``seed + 1``: ``fit_ensemble(seed=seed - 1)`` without validation repeats it)."""
    x, y = sine_data
    settings = dict(num_members=2, batch_size=10, lr=0.1, standardize=False, progress=False)
    num_epochs = 20  # few enough that every epoch is a checked one
    fit = fit_ensemble(
        net(), x, y, num_epochs=num_epochs, validation_fraction=0.25, seed=1, **settings
    )
    train, held_out = (index.numpy() for index in validation_split(len(x), 0.25, seed=1))
    scores = []
    for epochs in range(1, num_epochs + 1):
        part = fit_ensemble(net(), x[train], y[train], num_epochs=epochs, seed=0, **settings)
        prediction = part.predict(torch.as_tensor(x[held_out]))
        scores.append(_mixture_log_likelihood(prediction, torch.as_tensor(y[held_out])))
    best = int(np.argmax(scores)) + 1
    assert fit.diagnostics["num_epochs"] == best
    assert 1 < best < num_epochs  # not an end point: the search decided something
    np.testing.assert_allclose(fit.diagnostics["validation_ll"], scores, rtol=1e-4, atol=1e-5)
    assert len(fit.diagnostics["loss"]) == best


def test_same_seed_same_prediction(sine_data):
    x, y = sine_data

    def fit(seed):
        return fit_ensemble(
            net((8,)), x, y, num_members=2, num_epochs=5, seed=seed, progress=False
        ).predict(GRID)

    first, second, other = fit(3), fit(3), fit(4)
    np.testing.assert_array_equal(first.mean, second.mean)
    assert not np.array_equal(first.mean, other.mean)
