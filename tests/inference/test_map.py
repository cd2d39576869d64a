"""The one MAP routine: exact on a linear model, the right objective, the collapse check's fit."""

import numpy as np
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.inference.flat import FlatModel
from pyro_bnn.inference.map import map_estimate


def _flat(model, x, y):
    x, y = model.check_inputs(x, y)
    return FlatModel(model, x, y)


def test_finds_the_exact_posterior_mode_of_linear_regression(linear_oracle):
    o = linear_oracle
    model = o.model().double()
    flat = _flat(model, o.x, o.y)
    z, values = map_estimate(flat, torch.zeros(flat.dim, dtype=torch.float64), num_steps=2000)
    np.testing.assert_allclose(z.numpy(), o.mean, atol=1e-4)  # [w, b], the flat order
    assert len(values) == 2000 and values[-1] > values[0]


@pytest.mark.parametrize("jacobian", [True, False])
@pytest.mark.slow
def test_the_optimum_is_a_stationary_point_of_the_chosen_objective(jacobian):
    """With a learned noise the two MAPs differ by the log |J| of sigma's transform: each
    is a stationary point of its own objective, not of the other."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 1))
    y = 0.8 * x[:, 0] + 0.4 * rng.normal(size=50)
    model = pb.BayesianMLP(1, 1, hidden=()).double()
    flat = _flat(model, x, y)
    start = torch.zeros(flat.dim, dtype=torch.float64)
    z, _ = map_estimate(flat, start, num_steps=3000, lr=0.05, lr_decay=0.01, jacobian=jacobian)
    gradients = {}
    for name, objective in (("joint", flat.log_joint), ("density", flat.log_density)):
        point = z.clone().requires_grad_(True)
        objective(point).backward()
        gradients[name] = point.grad.abs().max().item()
    own, other = ("joint", "density") if jacobian else ("density", "joint")
    assert gradients[own] < 1e-3
    assert gradients[other] > 0.5  # d log|J| / d z of sigma = exp transform: 1


def test_minibatches_and_callback_and_a_clear_error_for_nan():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 1)), rng.normal(size=40)
    model = pb.BayesianMLP(1, 1, hidden=())
    flat = _flat(model, x, y)
    seen = []
    batches = (torch.arange(i % 4 * 10, i % 4 * 10 + 10) for i in range(8))
    map_estimate(
        flat, torch.zeros(flat.dim), num_steps=8, jacobian=False, batches=batches,
        callback=lambda step, z: seen.append((step, z.requires_grad)),
    )  # fmt: skip
    assert seen == [(step, False) for step in range(8)]
    with pytest.raises(FloatingPointError, match=r"at step 1 of 5; try a smaller lr"):
        map_estimate(flat, torch.full((flat.dim,), float("nan")), num_steps=5)
