"""fit_swag: a Gaussian over the weights from SGD snapshots around the MAP fit."""

from __future__ import annotations

import torch


def test_swag_draws_move_the_weights_and_keep_the_map_noise(swag_fit):
    fit = swag_fit
    assert fit.method == "swag" and fit.num_draws == 200
    assert fit.diagnostics["rank"] == 20  # min(rank, swag_epochs)
    assert len(fit.diagnostics["swag_loss"]) == 30
    # the noise stays at its MAP value in every draw; the weights vary between draws
    sigma = fit.draws["sigma"]
    assert torch.equal(sigma, sigma[:1].expand_as(sigma))
    weights = fit.draws["layers.0.weight"]
    assert float(weights.std(0).min()) > 0
