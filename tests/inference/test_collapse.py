"""The mean-field collapse check: a short MAP search from the guide mean, longer if undecided."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.inference import collapse


@pytest.fixture
def healthy_fit(gap_data):
    x, y = gap_data
    post = pb.fit_svi(
        pb.BayesianMLP(1, 1, hidden=(4,)), x, y, num_steps=300, progress=False,
        standardize=False, check_collapse=False, check_convergence=False,
    )  # fmt: skip
    return post, torch.as_tensor(x), torch.as_tensor(y)


@pytest.mark.parametrize(
    "residuals, expected_stages, warns",
    [
        ((0.5,), 1, False),  # sigma / residual = 0.2 x: decided after 200 steps
        ((0.01,), 1, True),  # 10x: collapse, decided after 200 steps
        ((0.06, 0.0599), 2, False),  # 1.7x: undecided; the polish levels off below 2x
        ((0.06, 0.04), 2, True),  # 1.7x, then 2.5x after one polishing stage
        ((0.065, 0.062, 0.059, 0.056, 0.054), 5, False),  # undecided to the end: 1.85x
        ((0.065, 0.062, 0.059, 0.056, 0.045), 5, True),  # 2.2x at the last stage
    ],
)
def test_the_map_search_is_polished_only_when_the_ratio_is_undecided(
    healthy_fit, monkeypatch, residuals, expected_stages, warns
):
    post, x, y = healthy_fit
    post.draws["sigma"][:] = 0.1  # sigma / residual is set by the residuals above
    calls = []

    def fake_search(model, x, y, start, num_steps):
        calls.append(num_steps)
        return start, residuals[len(calls) - 1]

    monkeypatch.setattr(collapse, "_map_residual", fake_search)
    message = collapse.collapse_message(post, x, y)
    assert calls == [200] * expected_stages
    assert (message is not None) == warns


def test_the_map_search_starts_at_the_guide_mean_and_only_improves_it(healthy_fit):
    post, x, y = healthy_fit
    start = {name: value.mean(0) for name, value in post.draws.items()}
    with torch.no_grad():
        from pyro_bnn.inference.flat import FlatModel

        flat = FlatModel(post.model, x, y)
        at_start = flat.unflatten(flat.flatten(start).unsqueeze(0))
        start_rmse = float((post.model.network(at_start, x)[0, :, 0] - y).pow(2).mean().sqrt())
    _, residual = collapse._map_residual(post.model, x, y, start, 200)
    assert residual < start_rmse
    assert np.isfinite(residual)


def _classifier_posterior(output_weight: float):
    """A 1-4-2 network whose output layer scales a hidden unit that tracks x by
    ``output_weight``: 0 predicts 50/50 everywhere, 5 separates the two classes."""
    model = pb.BayesianMLP(1, 2, hidden=(4,), likelihood=pb.Categorical())
    draws = 50
    out = torch.zeros(draws, 2, 4)
    out[:, 1, 0] = output_weight
    samples = {
        "layers.0.weight": torch.full((draws, 4, 1), 3.0),
        "layers.0.bias": torch.zeros(draws, 4),
        "layers.1.weight": out,
        "layers.1.bias": torch.zeros(draws, 2),
    }
    return pb.Posterior(model, "nuts", samples=samples)


def test_a_classifier_that_separates_the_classes_beats_the_base_rate():
    x = torch.linspace(-2, 2, 40)[:, None]
    y = (x[:, 0] > 0).long()
    assert collapse._beats_base_rate(_classifier_posterior(5.0), x, y)
    assert not collapse._beats_base_rate(_classifier_posterior(0.0), x, y)
