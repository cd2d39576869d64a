import math
import warnings

import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.inference.analytic import AnalyticGradient
from pyro_bnn.inference.flat import FlatModel


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("hidden", [(), (7,), (5, 4)])
@pytest.mark.parametrize(
    "likelihood, out_features",
    [
        (pb.Gaussian(), 1),
        (pb.Gaussian(sigma=0.3), 1),
        (pb.HeteroscedasticGaussian(), 1),
        (pb.HeteroscedasticGaussian(min_scale=0.2), 1),
        (pb.Poisson(), 1),
        (pb.Bernoulli(), 1),
        (pb.Categorical(), 4),
    ],
)
def test_value_and_gradient_equal_autograd(activation, hidden, likelihood, out_features):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=generator, dtype=torch.float64)
    if likelihood.task == "classification":
        y = torch.randint(0, max(out_features, 2), (40,), generator=generator).double()
    elif isinstance(likelihood, pb.Poisson):
        y = torch.poisson(torch.full((40,), 3.0, dtype=torch.float64), generator=generator)
    else:
        y = torch.randn(40, generator=generator, dtype=torch.float64)
    model = pb.BayesianMLP(
        3, out_features, hidden=hidden, activation=activation, likelihood=likelihood
    )
    model.to(torch.float64)
    flat = FlatModel(model, x, y)
    assert AnalyticGradient.supports(flat)
    analytic = AnalyticGradient(flat)
    for _ in range(3):
        z = (0.7 * torch.randn(flat.dim, generator=generator, dtype=torch.float64)).requires_grad_()
        expected = flat.log_joint(z)
        expected_grad = torch.autograd.grad(expected, z)[0]
        value, grad = analytic(analytic.pack(z.detach()))
        assert value == pytest.approx(float(expected.detach()), rel=1e-10)
        torch.testing.assert_close(analytic.unpack(grad), expected_grad, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(analytic.unpack(analytic.pack(z)), z)


@pytest.mark.parametrize(
    "model",
    [
        pb.BayesianMLP(1, 1, hidden=(3,), prior=pb.HierarchicalNormal()),
        pb.BayesianMLP(1, 1, hidden=(3,), activation="gelu"),
        pb.BayesianMLP(1, 1, hidden=(3,), likelihood=pb.StudentT()),
        pb.BayesianMLP(1, 2, hidden=(3,), likelihood=pb.Poisson()),
        pb.BayesianMLP(1, 2, hidden=(3,), likelihood=pb.HeteroscedasticGaussian()),
    ],
)
def test_other_models_keep_autograd(model):
    flat = FlatModel(model, torch.zeros(4, 1), torch.zeros(4))
    assert not AnalyticGradient.supports(flat)
    with pytest.raises(ValueError, match="AnalyticGradient needs"):
        AnalyticGradient(flat)


def test_extreme_noise_gives_zero_density_not_an_error():
    model = pb.BayesianMLP(1, 1, hidden=(3,))
    flat = FlatModel(model, torch.zeros(5, 1), torch.ones(5))
    z = torch.zeros(flat.dim)
    z[-1] = -1000.0  # log sigma: sigma underflows to 0
    value, grad = AnalyticGradient(flat)(z)
    assert value == -float("inf") and torch.all(grad == 0)


def test_float32_overflow_far_in_the_tails_is_zero_density_without_warnings():
    """A huge output weight overflows float32: the density is exactly 0 (-inf), silently.

    The float64 reference is finite but below float32's range (about -2.5e51), so -inf is
    the correctly rounded float32 answer; a finite value would be wrong.
    """
    model = pb.BayesianMLP(1, 1, hidden=(3,))
    flat = FlatModel(model, torch.ones(5, 1), torch.ones(5))
    analytic = AnalyticGradient(flat)
    z = torch.zeros(flat.dim)
    z[6:9] = 1e25  # output weights (packed layout: hidden block is 3 x 2)
    z[0:6] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grad = analytic(z)
    model64 = pb.BayesianMLP(1, 1, hidden=(3,)).to(torch.float64)
    ones = torch.ones(5, dtype=torch.float64)
    flat64 = FlatModel(model64, ones[:, None], ones)
    reference = float(flat64.log_joint(analytic.unpack(z).double()))
    assert math.isfinite(reference) and reference < -torch.finfo(torch.float32).max
    assert value == -float("inf")
    # the output-weight gradient is finite and matches float64 autograd to float32 precision
    z64 = analytic.unpack(z).double().requires_grad_()
    flat64.log_joint(z64).backward()
    expected = analytic.pack(z64.grad)
    torch.testing.assert_close(grad[6:10].double(), expected[6:10], rtol=1e-5, atol=0.0)


@pytest.mark.parametrize("likelihood, out_features", [(pb.Bernoulli(), 1), (pb.Categorical(), 3)])
def test_classification_is_stable_for_huge_logits(likelihood, out_features):
    """Logits of +-1000: log-sum-exp and the sigmoid stay finite and exact."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(30, 2, generator=generator, dtype=torch.float64)
    y = torch.randint(0, max(out_features, 2), (30,), generator=generator).double()
    model = pb.BayesianMLP(2, out_features, hidden=(4,), likelihood=likelihood)
    model.to(torch.float64)
    flat = FlatModel(model, x, y)
    analytic = AnalyticGradient(flat)
    z = torch.randn(flat.dim, generator=generator, dtype=torch.float64) * 300.0
    z.requires_grad_()
    expected = flat.log_joint(z)
    expected_grad = torch.autograd.grad(expected, z)[0]
    value, grad = analytic(analytic.pack(z.detach()))
    assert math.isfinite(value)
    assert value == pytest.approx(float(expected.detach()), rel=1e-10)
    torch.testing.assert_close(analytic.unpack(grad), expected_grad, rtol=1e-9, atol=1e-9)
