"""The compiled NUTS transition (``NativeBNN``, ``fit_nuts(jit_compile=True)``).

Log joint and gradient against float64 autograd on ``FlatModel.log_joint``; one NUTS
transition against a direct leapfrog computation; whole chains against the exact
linear-regression posterior and against the numpy sampler, within Monte Carlo error
(4 standard errors from the effective sample size, as in ``test_nuts.py``); overflow far
in the tails; seeding; the fallbacks of ``fit_nuts`` and the build cache.

Tests that need the compiled library skip, with the reason, where it cannot be built
(no C compiler, Windows); those that simulate a missing or broken compiler run anywhere.
"""

from __future__ import annotations

import math
import os
import random
import stat
import warnings

import numpy as np
import pyro.distributions as dist
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.inference import native
from pyro_bnn.inference.analytic import AnalyticGradient
from pyro_bnn.inference.flat import FlatModel
from pyro_bnn.inference.native import NativeBNN, native_problem
from pyro_bnn.inference.nuts import sample_nuts
from tests.inference.test_nuts import _assert_gaussian_moments, _assert_mean_within_mc_error, _ess

FLOAT32_EPS = float(torch.finfo(torch.float32).eps)  # 2^-23
# float32 products and gradient sums (partial sums in float32, the value's sums in
# double), through a tanh up to 8 ulp from tanh and a few layers: a few tens of eps
# relative to the scale of the result at most (seen: about 1 eps)
FLOAT32_RTOL = 64 * FLOAT32_EPS

quiet_fit = pytest.mark.filterwarnings(
    "ignore::pyro_bnn.ConvergenceWarning", "ignore::pyro_bnn.WeightSymmetryNote"
)


def _analytic(model: pb.BayesianMLP, x: torch.Tensor, y: torch.Tensor) -> AnalyticGradient:
    return AnalyticGradient(FlatModel(model.to(x.dtype), x, y))


@pytest.fixture(scope="module")
def compiled():
    """Skip when the compiled library cannot be built here (in either precision)."""
    x, y = torch.zeros(2, 1), torch.zeros(2)
    for dtype in (torch.float32, torch.float64):
        problem = native_problem(
            _analytic(pb.BayesianMLP(1, 1, hidden=()), x.to(dtype), y.to(dtype))
        )
        if problem is not None:
            pytest.skip(f"the compiled sampler cannot be built here: {problem}")


@pytest.fixture
def fresh_library():
    """Clear the cached library before and after the test (whatever it patched)."""
    native._library.cache_clear()
    yield
    native._library.cache_clear()


def _data(likelihood, num_points=40, in_features=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(num_points, in_features, generator=generator, dtype=torch.float64)
    if likelihood.task == "classification":
        classes = 3 if isinstance(likelihood, pb.Categorical) else 2
        y = torch.randint(0, classes, (num_points,), generator=generator).double()
    elif isinstance(likelihood, pb.Poisson):
        y = torch.poisson(torch.full((num_points,), 3.0, dtype=torch.float64), generator=generator)
    else:
        y = torch.randn(num_points, generator=generator, dtype=torch.float64)
    return x, y, generator


def _outputs(likelihood) -> int:
    """The network's out_features for a likelihood (3 classes for a Categorical)."""
    return 3 if isinstance(likelihood, pb.Categorical) else 1


def _regression_data(num_points=30, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, size=(num_points, 1))
    y = np.sin(x[:, 0]) + 0.2 * rng.standard_normal(num_points)
    return x.astype(np.float32), y.astype(np.float32)


# ------------------------------------------------------------------ log joint and gradient

LIKELIHOODS = [
    pb.Gaussian(),
    pb.Gaussian(sigma=0.3),
    pb.Gaussian(sigma_prior_scale=0.4),
    pb.HeteroscedasticGaussian(),
    pb.HeteroscedasticGaussian(min_scale=0.2),
    pb.Poisson(),
    pb.Bernoulli(),
    pb.Categorical(),
]
LIKELIHOOD_IDS = [
    "gaussian",
    "gaussian-fixed",
    "gaussian-prior-0.4",
    "heteroscedastic",
    "heteroscedastic-min-0.2",
    "poisson",
    "bernoulli",
    "categorical",
]


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("hidden", [(), (7,), (5, 4)])
@pytest.mark.parametrize("likelihood", LIKELIHOODS, ids=LIKELIHOOD_IDS)
def test_float64_value_and_gradient_equal_autograd(compiled, activation, hidden, likelihood):
    """The double build sums in double like autograd: equal to ~1e-10 relative."""
    x, y, generator = _data(likelihood)
    model = pb.BayesianMLP(
        3, _outputs(likelihood), hidden=hidden, activation=activation, likelihood=likelihood
    )
    flat = FlatModel(model.to(torch.float64), x, y)
    compiled_bnn = NativeBNN(AnalyticGradient(flat))
    assert compiled_bnn.dim == flat.dim
    for _ in range(3):
        z = (0.7 * torch.randn(flat.dim, generator=generator, dtype=torch.float64)).requires_grad_()
        expected = flat.log_joint(z)
        expected_grad = torch.autograd.grad(expected, z)[0]
        value, grad = compiled_bnn(compiled_bnn.pack(z.detach()))
        assert isinstance(value, float) and grad.dtype == torch.float64
        assert value == pytest.approx(float(expected.detach()), rel=1e-10)
        torch.testing.assert_close(compiled_bnn.unpack(grad), expected_grad, rtol=1e-9, atol=1e-9)
        # the FlatModel-layout entry point (map_estimate's) is the same in the other layout
        value_flat, grad_flat = compiled_bnn.in_flat_layout(z.detach())
        assert value_flat == value
        torch.testing.assert_close(grad_flat, compiled_bnn.unpack(grad), rtol=0, atol=0)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("hidden", [(), (7,), (5, 4)])
@pytest.mark.parametrize("likelihood", LIKELIHOODS, ids=LIKELIHOOD_IDS)
def test_float32_value_and_gradient_equal_float64_autograd(
    compiled, activation, hidden, likelihood
):
    """The float build against float64 autograd at the same (float32-rounded) data and
    point, so only its arithmetic is measured: within FLOAT32_RTOL of the value, and of
    the gradient's largest entry (single entries can cancel)."""
    x, y, generator = _data(likelihood)
    x32, y32 = x.float(), y.float()
    model64 = pb.BayesianMLP(
        3, _outputs(likelihood), hidden=hidden, activation=activation, likelihood=likelihood
    )
    flat64 = FlatModel(model64.to(torch.float64), x32.double(), y32.double())
    model32 = pb.BayesianMLP(
        3, _outputs(likelihood), hidden=hidden, activation=activation, likelihood=likelihood
    )
    compiled_bnn = NativeBNN(_analytic(model32, x32, y32))
    assert compiled_bnn.dtype is np.float32
    for _ in range(3):
        z32 = 0.7 * torch.randn(flat64.dim, generator=generator, dtype=torch.float64).float()
        z = z32.double().requires_grad_()
        expected = flat64.log_joint(z)
        expected_grad = torch.autograd.grad(expected, z)[0]
        value, grad = compiled_bnn(compiled_bnn.pack(z32))
        assert grad.dtype == torch.float32
        assert value == pytest.approx(float(expected.detach()), rel=FLOAT32_RTOL)
        scale = float(expected_grad.abs().max())
        torch.testing.assert_close(
            compiled_bnn.unpack(grad).double(),
            expected_grad,
            rtol=FLOAT32_RTOL,
            atol=FLOAT32_RTOL * scale,
        )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "prior",
    [
        pb.LayerwiseNormal(weight_scale=0.5, bias_scale=2.0),
        pb.PerLayerPrior(
            {0: dist.Normal(0.5, 0.7), 1: dist.Normal(-0.2, 1.3)}, biases=dist.Normal(0.1, 2.0)
        ),
    ],
    ids=["layerwise", "centred-per-layer"],
)
def test_priors_with_scales_and_locations_equal_autograd(compiled, dtype, prior):
    """Per-weight prior scales, and non-zero prior means (the C code's centred branch)."""
    x, y, generator = _data(pb.Gaussian())
    model = pb.BayesianMLP(3, 1, hidden=(6,), prior=prior, likelihood=pb.Gaussian(sigma=0.5))
    flat = FlatModel(model.to(torch.float64), x.to(dtype).double(), y.to(dtype).double())
    analytic = _analytic(model, x.to(dtype), y.to(dtype))
    assert analytic.prior_centred == isinstance(prior, pb.PerLayerPrior)
    compiled_bnn = NativeBNN(analytic)
    rtol = 1e-10 if dtype == torch.float64 else FLOAT32_RTOL
    for _ in range(3):
        z_low = torch.randn(flat.dim, generator=generator, dtype=torch.float64).to(dtype)
        z = z_low.double().requires_grad_()
        expected = flat.log_joint(z)
        expected_grad = torch.autograd.grad(expected, z)[0]
        value, grad = compiled_bnn.in_flat_layout(z_low)
        assert value == pytest.approx(float(expected.detach()), rel=rtol)
        scale = float(expected_grad.abs().max())
        torch.testing.assert_close(grad.double(), expected_grad, rtol=rtol, atol=rtol * scale)


def test_float32_tanh_is_within_a_few_ulp_of_tanh(compiled):
    """The float build's rational tanh, read off pointwise: with one input 1, hidden
    weight w, output weight 1, biases 0 and a fixed-noise Gaussian (sigma 1, y = 0),
    the output bias's gradient is exactly -tanh(w). Over [-20, 20] (the clamp at 7.9
    included) and tiny |w| (returned exactly): at most 8 float32 ulp from tanh, never
    beyond [-1, 1], odd."""
    compiled_bnn = NativeBNN(
        _analytic(
            pb.BayesianMLP(1, 1, hidden=(1,), likelihood=pb.Gaussian(sigma=1.0)),
            torch.ones(1, 1),
            torch.zeros(1),
        )
    )
    tiny = np.geomspace(1e-30, 1e-2, 200)
    w = np.concatenate(
        [np.linspace(-20, 20, 4001), tiny, -tiny, [0.0, 4e-4, 7.9, 7.905311, 7.91]]
    ).astype(np.float32)
    got = np.empty_like(w)
    for i, wi in enumerate(w):
        z = np.array([wi, 0.0, 1.0, 0.0], dtype=np.float32)  # packed: [w, b1], [v, b2]
        _, grad = compiled_bnn.value_and_grad_numpy(z)
        got[i] = -grad[3]
    reference = np.tanh(w.astype(np.float64))
    ulp = np.spacing(np.abs(reference).astype(np.float32)).astype(np.float64)
    error_ulp = np.abs(got - reference) / ulp
    assert error_ulp.max() <= 8, (error_ulp.max(), w[error_ulp.argmax()])
    assert np.abs(got).max() <= 1.0
    small = np.abs(w) < 4e-4
    assert np.array_equal(got[small], w[small])
    grid = got[:4001]  # symmetric about 0
    assert np.array_equal(grid[::-1], -grid)


# ------------------------------------------------------------------ what is compiled


def test_no_hand_written_gradient_is_a_reason_too():
    assert "not hand-written" in native_problem(None)


def test_supported_networks_have_no_problem(compiled):
    """Every likelihood with a hand-written gradient is compiled."""
    for likelihood in LIKELIHOODS:
        analytic = _analytic(
            pb.BayesianMLP(2, _outputs(likelihood), hidden=(3,), likelihood=likelihood),
            torch.zeros(4, 2),
            torch.ones(4),
        )
        assert NativeBNN.supports(analytic)
        assert native_problem(analytic) is None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("log_sigma", [-1000.0, -35.0, 35.0, 1000.0])
def test_extreme_noise_gives_zero_density_not_an_error(compiled, dtype, log_sigma):
    """sigma^2 outside (1e-30, 1e30): -inf and a zero gradient, as AnalyticGradient."""
    analytic = _analytic(pb.BayesianMLP(1, 1, hidden=(3,)), torch.zeros(5, 1, dtype=dtype),
                         torch.ones(5, dtype=dtype))  # fmt: skip
    z = torch.zeros(analytic.num_weights + 1, dtype=dtype)
    z[-1] = log_sigma
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grad = NativeBNN(analytic)(z)
    assert value == -math.inf
    assert torch.all(grad == 0)
    assert analytic(z)[0] == -math.inf


@pytest.mark.parametrize("log_sigma", [-34.0, 34.0])
def test_noise_just_inside_the_range_is_finite_and_exact(compiled, log_sigma):
    x, y, _ = _data(pb.Gaussian(), num_points=5, in_features=1)
    model = pb.BayesianMLP(1, 1, hidden=(3,)).to(torch.float64)
    flat = FlatModel(model, x, y)
    z = torch.full((flat.dim,), 0.3, dtype=torch.float64)
    z[-1] = log_sigma
    z.requires_grad_()
    expected = flat.log_joint(z)
    expected_grad = torch.autograd.grad(expected, z)[0]
    value, grad = NativeBNN(AnalyticGradient(flat)).in_flat_layout(z.detach())
    assert math.isfinite(value)
    assert value == pytest.approx(float(expected.detach()), rel=1e-10)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------ one transition


def _leapfrog(value_and_grad, z, r, grad, step, inverse_mass):
    """One float64 leapfrog step -> (z, r, log density)."""
    r = r + 0.5 * step * grad
    z = z + step * (inverse_mass * r)
    log_density, grad = value_and_grad(z)
    return z, r + 0.5 * step * grad, log_density


def test_a_depth_one_transition_is_one_leapfrog_step_accepted_with_the_right_probability(
    compiled,
):
    """max_tree_depth=1: one leapfrog step forward or backward (a fair coin), moved to with
    probability min(1, exp(H0 - H1)), else the start is kept. Each of 4000 seeds ends at
    one of the three points (to float64 rounding), reports the acceptance statistic of
    its direction, and the frequencies match (4 binomial standard errors)."""
    x, y, generator = _data(pb.Gaussian(), num_points=10, in_features=2)
    model = pb.BayesianMLP(2, 1, hidden=(3,), likelihood=pb.Gaussian(sigma=1.0))
    compiled_bnn = NativeBNN(_analytic(model, x, y))
    dim = compiled_bnn.dim
    z0 = 0.5 * torch.randn(dim, generator=generator, dtype=torch.float64).numpy()
    r0 = np.random.default_rng(0).standard_normal(dim)
    inverse_mass = np.linspace(0.5, 1.5, dim)
    step = 0.25  # here: acceptance about 0.5 forward and 0.65 backward
    log_density0, grad0 = compiled_bnn.value_and_grad_numpy(z0)
    energy0 = -log_density0 + 0.5 * r0 @ (inverse_mass * r0)
    ends, accept = {}, {}
    for direction in (1, -1):
        z, r, log_density = _leapfrog(
            compiled_bnn.value_and_grad_numpy, z0, r0, grad0, direction * step, inverse_mass
        )
        ends[direction] = z
        accept[direction] = min(1.0, math.exp(energy0 + log_density - 0.5 * r @ (inverse_mass * r)))
    assert 0.2 < accept[1] < 0.9 and 0.2 < accept[-1] < 0.9, accept
    counts = {1: 0, -1: 0, 0: 0}
    num_seeds = 4000
    for seed in range(num_seeds):
        z, log_density, grad, stats = compiled_bnn.native_transition(
            z0, log_density0, grad0, r0, inverse_mass, step, 1, seed
        )
        depth, num_leapfrog, sum_accept, divergent, energy = stats
        assert (num_leapfrog, divergent) == (1, 0)
        where = [d for d, end in ends.items() if np.allclose(z, end, rtol=1e-12, atol=1e-14)]
        if where:
            (direction,) = where
            assert sum_accept == pytest.approx(accept[direction], rel=1e-9)
        else:
            np.testing.assert_array_equal(z, z0)
            direction = 0
            assert any(sum_accept == pytest.approx(a, rel=1e-9) for a in accept.values())
        counts[direction] += 1
        # the state returned is the chosen point's own
        expected_log_density, expected_grad = compiled_bnn.value_and_grad_numpy(z)
        assert log_density == pytest.approx(expected_log_density, rel=1e-12)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-12)
        assert depth == 1  # the one doubling completes (no divergence)
        assert energy >= -log_density
    for direction in (1, -1):
        p = 0.5 * accept[direction]
        error = 4 * math.sqrt(p * (1 - p) / num_seeds)
        assert abs(counts[direction] / num_seeds - p) < error, (direction, counts, accept)


def test_transition_is_deterministic_and_leaves_its_inputs_alone(compiled):
    """Same inputs and seed: the same result, also after a deeper tree grew the workspace
    of the same instance; the caller's arrays are not written to; another seed differs."""
    x, y, generator = _data(pb.Bernoulli(), num_points=30, in_features=2)
    model = pb.BayesianMLP(2, 1, hidden=(4,), likelihood=pb.Bernoulli())
    analytic = _analytic(model, x.float(), y.float())
    first, second = NativeBNN(analytic), NativeBNN(analytic)
    z0 = (0.5 * torch.randn(first.dim, generator=generator)).numpy()
    r0 = torch.randn(first.dim, generator=generator).numpy()
    inverse_mass = np.ones(first.dim, dtype=np.float32)
    log_density0, grad0 = first.value_and_grad_numpy(z0)
    copies = [a.copy() for a in (z0, grad0, r0, inverse_mass)]
    fresh = first.native_transition(z0, log_density0, grad0, r0, inverse_mass, 0.1, 6, 11)
    second.native_transition(z0, log_density0, grad0, r0, inverse_mass, 0.1, 2, 11)  # small first
    regrown = second.native_transition(z0, log_density0, grad0, r0, inverse_mass, 0.1, 6, 11)
    for original, now in zip(copies, (z0, grad0, r0, inverse_mass), strict=True):
        np.testing.assert_array_equal(original, now)
    np.testing.assert_array_equal(fresh[0], regrown[0])
    np.testing.assert_array_equal(fresh[2], regrown[2])
    assert fresh[1] == regrown[1] and fresh[3] == regrown[3]
    assert fresh[3][0] >= 3  # a tree deep enough to use the grown workspace
    others = [
        first.native_transition(z0, log_density0, grad0, r0, inverse_mass, 0.1, 6, seed)[0]
        for seed in range(12, 16)
    ]
    assert any(not np.array_equal(other, fresh[0]) for other in others)


def test_overflow_in_a_trajectory_is_a_divergence_that_keeps_the_start(compiled):
    """float32 ReLU net, momentum 1e20: the first step's output is inf - inf = NaN. The
    transition stops there as divergent and returns the start with its log density and
    gradient; the energy is that of the start."""
    x, y, _ = _data(pb.Gaussian(), num_points=20, in_features=1)
    model = pb.BayesianMLP(1, 1, hidden=(3,), activation="relu", likelihood=pb.Gaussian(sigma=0.5))
    compiled_bnn = NativeBNN(_analytic(model, x.float(), y.float()))
    z0 = np.full(compiled_bnn.dim, 0.5, dtype=np.float32)
    log_density0, grad0 = compiled_bnn.value_and_grad_numpy(z0)
    r0 = np.zeros(compiled_bnn.dim, dtype=np.float32)
    r0[[0, 2, 4, 6, 7]] = 1e20  # hidden weights and two output weights
    r0[8] = -1e20  # the third output weight: +inf and -inf summed
    inverse_mass = np.ones(compiled_bnn.dim, dtype=np.float32)
    assert math.isnan(compiled_bnn.value_and_grad_numpy(z0 + r0)[0])
    z, log_density, grad, stats = compiled_bnn.native_transition(
        z0, log_density0, grad0, r0, inverse_mass, 1.0, 5, 0
    )
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(grad, grad0)
    assert log_density == log_density0
    depth, num_leapfrog, sum_accept, divergent, energy = stats
    assert (depth, num_leapfrog, sum_accept, divergent) == (0, 1, 0.0, 1)
    kinetic = 0.5 * float(np.dot(r0.astype(np.float64), r0.astype(np.float64)))
    assert energy == pytest.approx(-log_density0 + kinetic, rel=1e-6)


# ------------------------------------------------------------------ whole chains


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_linear_regression_matches_exact_posterior(compiled, linear_oracle, dtype):
    """The compiled chain in the packed layout (pack the start, unpack the draws) has the
    closed-form posterior's mean and covariance, and its recorded statistics are
    consistent: each draw's log density is its own, and the kinetic energy of the draws
    (energy + log density) averages dim / 2."""
    model = linear_oracle.model()
    x = torch.as_tensor(linear_oracle.x, dtype=dtype)
    y = torch.as_tensor(linear_oracle.y, dtype=dtype)
    flat = FlatModel(model.to(dtype), x, y)
    compiled_bnn = NativeBNN(AnalyticGradient(flat))
    initial = compiled_bnn.pack(torch.zeros(flat.dim, dtype=dtype))
    result = sample_nuts(None, initial, 4000, 300, seed=0, value_and_grad_fn=compiled_bnn)
    assert result.samples.dtype == dtype and result.num_divergences == 0
    stacked = linear_oracle.stack(flat.unflatten(compiled_bnn.unpack(result.samples)))
    _assert_gaussian_moments(
        stacked, torch.as_tensor(linear_oracle.mean), torch.as_tensor(linear_oracle.cov)
    )
    for i in range(0, 4000, 97):
        value, _ = compiled_bnn.value_and_grad_numpy(result.samples[i].numpy())
        assert float(result.log_density[i]) == pytest.approx(value, rel=1e-12)
    kinetic = (result.energy + result.log_density)[:, None]
    assert (kinetic >= 0).all()
    _assert_mean_within_mc_error(kinetic, torch.tensor([flat.dim / 2]), "kinetic energy")
    depth, steps = result.tree_depths, result.num_steps
    assert ((2**depth - 1 <= steps) & (steps <= 2 ** (depth + 1) - 1)).all()
    assert ((result.accept_probs >= 0) & (result.accept_probs <= 1)).all()
    assert result.num_grad_evals > int(steps.sum())


@pytest.mark.parametrize(
    "likelihood",
    [pb.Bernoulli(), pb.Poisson(), pb.Gaussian(), pb.Categorical(), pb.HeteroscedasticGaussian()],
    ids=["bernoulli", "poisson", "learned-noise", "categorical", "heteroscedastic"],
)
def test_agrees_with_the_numpy_sampler_on_non_gaussian_posteriors(compiled, likelihood):
    """Generalised linear models (no hidden layer: one mode) and a learned noise scale:
    the compiled and the numpy sampler (AnalyticGradient) agree on means and second
    moments within 4 standard errors of their difference."""
    x, y, _ = _data(likelihood, num_points=50, in_features=2, seed=3)
    if isinstance(likelihood, pb.Poisson):
        y = torch.poisson(
            torch.exp(0.5 * x[:, 0] + 0.3), generator=torch.Generator().manual_seed(4)
        )
    model = pb.BayesianMLP(2, _outputs(likelihood), hidden=(), likelihood=likelihood)
    analytic = _analytic(model, x, y)
    compiled_bnn = NativeBNN(analytic)
    initial = torch.zeros(compiled_bnn.dim, dtype=torch.float64)
    runs = [
        sample_nuts(None, initial, 3000, 300, seed=seed, value_and_grad_fn=fn).samples
        for seed, fn in ((1, compiled_bnn), (2, analytic))
    ]
    moments = [torch.cat([s, s**2], dim=1) for s in runs]
    standard_error = sum(m.var(0) / _ess(m).clamp(min=1.0) for m in moments).sqrt()
    difference = (moments[0].mean(0) - moments[1].mean(0)).abs()
    assert (difference < 4 * standard_error).all(), (difference, standard_error)


def test_same_seed_same_draws(compiled):
    x, y, _ = _data(pb.Gaussian(), num_points=30, in_features=2)
    model = pb.BayesianMLP(2, 1, hidden=(4,))
    compiled_bnn = NativeBNN(_analytic(model, x.float(), y.float()))
    initial = torch.zeros(compiled_bnn.dim)
    torch.manual_seed(0)
    np.random.seed(0)
    first = sample_nuts(None, initial, 100, 100, seed=7, value_and_grad_fn=compiled_bnn)
    torch.manual_seed(123)  # the global generators must not matter
    np.random.seed(123)
    second = sample_nuts(None, initial, 100, 100, seed=7, value_and_grad_fn=compiled_bnn)
    other = sample_nuts(None, initial, 100, 100, seed=8, value_and_grad_fn=compiled_bnn)
    assert torch.equal(first.samples, second.samples)
    assert torch.equal(first.num_steps, second.num_steps)
    assert first.step_size == second.step_size
    assert not torch.equal(first.samples, other.samples)


def test_far_in_the_tails_start_diverges_and_recovers(compiled):
    """A float32 Poisson net started with log rate 40 (rates ~ 2e17, gradients ~ 5e18):
    the first steps overflow (-inf density, non-finite gradient) and warm-up trajectories
    diverge; divergences are counted and rejected, no draw or log density is NaN, and the
    chain reaches the posterior (log rate near log(mean y), not 40)."""
    evaluations = []

    class Recording(NativeBNN):  # the step-size search's evaluations (in Python)
        def value_and_grad_numpy(self, z):
            value, grad = super().value_and_grad_numpy(z)
            evaluations.append(math.isfinite(value) and bool(np.isfinite(grad).all()))
            return value, grad

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(20, 1, generator=generator)
    y = torch.poisson(torch.full((20,), 2.0), generator=generator)
    model = pb.BayesianMLP(1, 1, hidden=(3,), likelihood=pb.Poisson())
    compiled_bnn = Recording(_analytic(model, x, y))
    initial = torch.zeros(compiled_bnn.dim)
    initial[:6] = 0.5  # hidden layer
    initial[9] = 40.0  # output bias (packed: [v | c] last)
    log_density, grad = compiled_bnn(initial)
    assert math.isfinite(log_density) and torch.isfinite(grad).all()
    result = sample_nuts(None, initial, 200, 200, seed=0, value_and_grad_fn=compiled_bnn)
    assert not all(evaluations)  # overflow met ...
    assert result.num_warmup_divergences > 0  # ... and survived
    assert result.num_divergences == int(result.divergent.sum())
    assert torch.isfinite(result.samples).all()
    assert torch.isfinite(result.log_density).all()
    # the log rate at the data over the last 100 draws: near log(mean y), far from 40
    draws = result.samples[-100:].double()
    weights, biases, outputs = draws[:, 0:6:2], draws[:, 1:6:2], draws[:, 6:9]
    hidden = torch.tanh(x.double()[None, :, :] * weights[:, None, :] + biases[:, None, :])
    log_rate = (hidden * outputs[:, None, :]).sum(-1) + draws[:, 9:10]
    assert abs(float(log_rate.mean()) - math.log(float(y.mean()))) < 1.0


# ------------------------------------------------------------------ fit_nuts


@quiet_fit
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fit_nuts_jit_compile_runs_the_compiled_sampler(compiled, dtype):
    x, y = _regression_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        post = pb.fit_nuts(
            pb.BayesianMLP(1, 1, hidden=(4,)), x, y, num_samples=40, warmup_steps=40,
            jit_compile=True, progress=False, dtype=dtype,
        )  # fmt: skip
    (chain,) = post.diagnostics["chains"]
    assert chain["sampler"] == "lean" and chain["gradient"] == "compiled"
    assert post.draws["layers.0.weight"].shape == (40, 4, 1)
    assert post.draws["layers.0.weight"].dtype == dtype
    assert all(torch.isfinite(value).all() for value in post.draws.values())
    assert (post.draws["sigma"] > 0).all()
    default = pb.fit_nuts(
        pb.BayesianMLP(1, 1, hidden=(4,)), x, y, num_samples=5, warmup_steps=5, progress=False
    )
    assert default.diagnostics["chains"][0]["gradient"] == "analytic"


def test_fit_nuts_jit_compile_matches_exact_linear_regression(compiled, linear_oracle):
    o = linear_oracle
    post = pb.fit_nuts(
        o.model(), o.x, o.y, standardize=False, num_samples=2000, warmup_steps=300,
        jit_compile=True, progress=False,
    )  # fmt: skip
    assert post.diagnostics["chains"][0]["gradient"] == "compiled"
    assert post.diagnostics["divergences"] == 0
    _assert_gaussian_moments(o.stack(post.draws), torch.as_tensor(o.mean), torch.as_tensor(o.cov))


def _small_compiled_fit(seed):
    x, y = _regression_data()
    return pb.fit_nuts(
        pb.BayesianMLP(1, 1, hidden=(3,)), x, y, num_samples=30, warmup_steps=30,
        jit_compile=True, progress=False, seed=seed,
    )  # fmt: skip


@quiet_fit
def test_fit_nuts_jit_compile_same_seed_same_draws(compiled):
    torch.manual_seed(0)
    first = _small_compiled_fit(3)
    torch.manual_seed(99)  # the global generators must not matter
    np.random.seed(99)
    second, other = _small_compiled_fit(3), _small_compiled_fit(4)
    assert first.diagnostics["chains"][0]["gradient"] == "compiled"
    for name in first.draws:
        assert torch.equal(first.draws[name], second.draws[name])
    assert not torch.equal(first.draws["sigma"], other.draws["sigma"])


@quiet_fit
def test_fit_nuts_jit_compile_leaves_the_global_rng_streams_alone(compiled):
    """fit_nuts's promise ("the global random streams are left as they were") holds
    with jit_compile=True too: Python's, numpy's and torch's generator states are
    unchanged by the fit."""
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    python_state, numpy_state, torch_state = (
        random.getstate(), np.random.get_state(), torch.get_rng_state()
    )  # fmt: skip
    post = _small_compiled_fit(3)
    assert post.diagnostics["chains"][0]["gradient"] == "compiled"
    assert random.getstate() == python_state
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]
    assert torch.equal(torch.get_rng_state(), torch_state)


@quiet_fit
def test_fit_nuts_jit_compile_runs_a_categorical_network(compiled):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2)).astype(np.float32)
    y = rng.integers(0, 3, size=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        post = pb.fit_nuts(
            pb.BayesianMLP(2, 3, hidden=(3,), likelihood=pb.Categorical()), x, y,
            num_samples=20, warmup_steps=20, jit_compile=True, progress=False,
        )  # fmt: skip
    assert post.diagnostics["chains"][0]["gradient"] == "compiled"
    assert all(torch.isfinite(value).all() for value in post.draws.values())


@quiet_fit
def test_fit_nuts_jit_compile_warns_and_uses_autograd_without_a_hand_written_gradient():
    x, y = _regression_data()
    with pytest.warns(RuntimeWarning, match="compiled sampler cannot run this network"):
        post = pb.fit_nuts(
            pb.BayesianMLP(1, 1, hidden=(3,), likelihood=pb.StudentT()), x, y,
            num_samples=20, warmup_steps=20, jit_compile=True, progress=False,
        )  # fmt: skip
    assert post.diagnostics["chains"][0]["gradient"] == "autograd"
    assert all(torch.isfinite(value).all() for value in post.draws.values())


@quiet_fit
def test_fit_nuts_jit_compile_without_a_compiler_warns_and_samples(monkeypatch, fresh_library):
    monkeypatch.setattr(native, "_compiler", lambda: None)
    x, y = _regression_data()
    with pytest.warns(RuntimeWarning, match="no C compiler"):
        post = pb.fit_nuts(
            pb.BayesianMLP(1, 1, hidden=(3,)), x, y, num_samples=20, warmup_steps=20,
            jit_compile=True, progress=False,
        )  # fmt: skip
    assert post.diagnostics["chains"][0]["gradient"] == "analytic"
    assert post.draws["sigma"].shape == (20,)
    assert all(torch.isfinite(value).all() for value in post.draws.values())
    analytic = _analytic(pb.BayesianMLP(1, 1, hidden=()), torch.zeros(2, 1), torch.zeros(2))
    with pytest.raises(native.NativeUnavailable, match="no C compiler"):
        NativeBNN(analytic)


@quiet_fit
def test_a_compiler_that_fails_is_reported(tmp_path, monkeypatch, fresh_library):
    """$CC that exits with an error: the reason quotes its message, no temporary file is
    left in the cache, and fit_nuts warns and samples with the numpy sampler."""
    if os.name == "nt":
        pytest.skip("a shell script as the compiler")
    broken = tmp_path / "broken-cc"
    broken.write_text("#!/bin/sh\necho 'broken-cc: cannot compile today' >&2\nexit 1\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("CC", str(broken))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    analytic = _analytic(pb.BayesianMLP(1, 1, hidden=()), torch.zeros(2, 1), torch.zeros(2))
    problem = native_problem(analytic)
    assert problem is not None
    assert "failed" in problem and "cannot compile today" in problem
    assert list((tmp_path / "cache" / "pyro_bnn").iterdir()) == []
    x, y = _regression_data()
    with pytest.warns(RuntimeWarning, match="cannot compile today"):
        post = pb.fit_nuts(
            pb.BayesianMLP(1, 1, hidden=(3,)), x, y, num_samples=10, warmup_steps=10,
            jit_compile=True, progress=False,
        )  # fmt: skip
    assert post.diagnostics["chains"][0]["gradient"] == "analytic"


# ------------------------------------------------------------------ the build cache


def test_library_is_built_once_into_the_cache(tmp_path, monkeypatch, fresh_library):
    if native._compiler() is None:
        pytest.skip("no C compiler to build with")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    builds = []
    build = native._build
    monkeypatch.setattr(native, "_build", lambda *args: builds.append(args) or build(*args))
    library = native._library("float")
    (built,) = (tmp_path / "pyro_bnn").iterdir()  # the library, no temporary file left
    assert built.name.startswith("native_nuts_float_") and built.suffix == ".so"
    assert len(builds) == 1 and library.bnn_nuts_transition is not None
    modified = built.stat().st_mtime_ns
    native._library.cache_clear()  # a new process, as it were
    assert native._library("float") is not library
    assert len(builds) == 1 and built.stat().st_mtime_ns == modified
    assert list((tmp_path / "pyro_bnn").iterdir()) == [built]


def test_unwritable_cache_builds_in_a_private_folder(tmp_path, monkeypatch, fresh_library):
    if native._compiler() is None:
        pytest.skip("no C compiler to build with")
    not_a_folder = tmp_path / "cache-is-a-file"
    not_a_folder.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_folder))
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(native.tempfile, "tempdir", str(private))
    library = native._library("double")
    (folder,) = private.iterdir()
    assert folder.name.startswith("pyro_bnn_native_")
    (built,) = folder.iterdir()
    assert built.name.startswith("native_nuts_double_")
    assert library._name == str(built)


@pytest.mark.slow
@quiet_fit
def test_parallel_chains_equal_sequential_chains(compiled):
    """Worker processes load the cached library and give the same draws as this process."""
    x, y = _regression_data()
    runs = [
        pb.fit_nuts(
            pb.BayesianMLP(1, 1, hidden=(3,)),
            x,
            y,
            num_samples=50,
            warmup_steps=50,
            num_chains=2,
            seed=5,
            jit_compile=True,
            progress=False,
            parallel_chains=parallel,
        )  # fmt: skip
        for parallel in (False, True)
    ]
    assert runs[1].diagnostics["failed_chains"] == []
    assert [c["gradient"] for c in runs[1].diagnostics["chains"]] == ["compiled", "compiled"]
    for name in runs[0].draws:
        assert torch.equal(runs[0].draws[name], runs[1].draws[name])


def test_dense_mass_runs_the_python_tree_on_the_compiled_gradient(compiled):
    """The compiled transition has a diagonal mass matrix: with ``dense_mass`` the Python
    tree runs, on the compiled log joint, and still finds the exact posterior moments."""
    x, y, _ = _data(pb.Gaussian(sigma=0.5), num_points=30, in_features=2)
    model = pb.BayesianMLP(2, 1, hidden=(), likelihood=pb.Gaussian(sigma=0.5))
    compiled_bnn = NativeBNN(_analytic(model, x, y))
    calls = []
    transition = compiled_bnn.native_transition
    compiled_bnn.native_transition = lambda *args: calls.append(1) or transition(*args)
    initial = torch.zeros(compiled_bnn.dim, dtype=torch.float64)
    dense = sample_nuts(
        None, initial, 2000, 300, seed=0, dense_mass=True, value_and_grad_fn=compiled_bnn
    )
    assert calls == [] and dense.inverse_mass_matrix.shape == (3, 3)
    diagonal = sample_nuts(None, initial, 2000, 300, seed=0, value_and_grad_fn=compiled_bnn)
    assert len(calls) == 2300
    for run in (dense, diagonal):
        assert torch.isfinite(run.samples).all()
    moments = [torch.cat([r.samples, r.samples**2], dim=1) for r in (dense, diagonal)]
    standard_error = sum(m.var(0) / _ess(m).clamp(min=1.0) for m in moments).sqrt()
    difference = (moments[0].mean(0) - moments[1].mean(0)).abs()
    assert (difference < 4 * standard_error).all(), (difference, standard_error)
