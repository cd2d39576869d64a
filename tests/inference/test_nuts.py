"""The lean flat-vector NUTS: exact targets within Monte Carlo error, agreement with
Pyro's NUTS, divergences counted, determinism, adaptation, argument checks.

Tolerances are 4 Monte Carlo standard errors, each from the effective sample size of
the statistic itself (``pyro.ops.stats.effective_sample_size``): for a mean,
``sd / sqrt(ess)``; for a variance or covariance, the sd of the centred products over
the square root of *their* ESS.
"""

from __future__ import annotations

import itertools
import math

import pyro
import pytest
import torch
from pyro.infer import MCMC, NUTS
from pyro.ops.stats import effective_sample_size

from pyro_bnn.inference import nuts
from pyro_bnn.inference.flat import FlatModel
from pyro_bnn.inference.nuts import NUTSResult, adaptation_windows, sample_nuts
from pyro_bnn.inference.nuts_arrays import TorchTensors

NUM_SE = 4.0


def _ess(values: torch.Tensor) -> torch.Tensor:
    """ESS per column of ``values: (S, k)`` (one chain)."""
    return effective_sample_size(values.double().unsqueeze(0), chain_dim=0, sample_dim=1)


def _assert_mean_within_mc_error(values: torch.Tensor, expected: torch.Tensor, what: str):
    """Column means of ``values (S, k)`` equal ``expected (k,)`` within NUM_SE standard errors."""
    values = values.double()
    standard_error = values.std(0) / _ess(values).clamp(min=1.0).sqrt()
    error = (values.mean(0) - expected.double()).abs()
    bad = error > NUM_SE * standard_error
    assert not bad.any(), (
        f"{what}: |estimate - truth| {error[bad].tolist()} > {NUM_SE} x MC standard error "
        f"{standard_error[bad].tolist()} at columns {bad.nonzero().flatten().tolist()}"
    )


def _assert_gaussian_moments(samples: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor):
    """Samples ``(S, d)`` have the given mean and covariance within MC error.

    Whitens with the true Cholesky factor, ``u = L^-1 (z - mean)``, then checks that
    every ``u_i`` has mean 0 and every product ``u_i u_j`` has mean ``delta_ij``.
    """
    samples, mean, cov = samples.double(), mean.double(), cov.double()
    cholesky = torch.linalg.cholesky(cov)
    whitened = torch.linalg.solve_triangular(cholesky, (samples - mean).T, upper=False).T
    _assert_mean_within_mc_error(whitened, torch.zeros(len(mean)), "whitened mean")
    rows, cols = torch.triu_indices(len(mean), len(mean))
    products = whitened[:, rows] * whitened[:, cols]
    _assert_mean_within_mc_error(products, (rows == cols).double(), "whitened second moments")


def _correlated_gaussian(dim: int, seed: int = 0):
    """A badly scaled, correlated Gaussian: mean, covariance, log density."""
    generator = torch.Generator().manual_seed(seed)
    factor = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    correlation_ish = factor @ factor.T / dim + 0.2 * torch.eye(dim, dtype=torch.float64)
    scales = torch.logspace(-1, 1, dim, dtype=torch.float64)  # 0.1 ... 10
    cov = scales[:, None] * correlation_ish * scales
    mean = torch.linspace(-2.0, 3.0, dim, dtype=torch.float64)
    precision = torch.linalg.inv(cov)

    def log_density(z: torch.Tensor) -> torch.Tensor:
        centred = z - mean
        return -0.5 * centred @ precision @ centred

    return mean, cov, log_density


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dim, dense_mass", [(2, True), (5, False)])
@pytest.mark.slow
def test_correlated_gaussian_moments(dim, dense_mass, backend, monkeypatch):
    """On the CPU the chain runs on numpy arrays; the torch path (other devices) is
    forced here to check it on the same target."""
    if backend == "torch":
        monkeypatch.setattr(
            nuts,
            "arrays_for",
            lambda initial, seed: TorchTensors(seed, initial.dtype, initial.device),
        )
    mean, cov, log_density = _correlated_gaussian(dim)
    result = sample_nuts(
        log_density, torch.zeros(dim, dtype=torch.float64), 800, 400, seed=1, dense_mass=dense_mass
    )
    assert isinstance(result, NUTSResult)
    assert result.samples.shape == (800, dim)
    assert result.samples.dtype == torch.float64
    assert result.num_divergences == 0
    _assert_gaussian_moments(result.samples, mean, cov)
    # the adapted metric has learnt the scales (variances span four orders of magnitude)
    learnt = result.inverse_mass_matrix
    target = cov if dense_mass else cov.diagonal()
    assert learnt.shape == target.shape
    relative = (learnt.diagonal() if dense_mass else learnt) / cov.diagonal()
    assert ((relative > 0.5) & (relative < 2.0)).all(), relative
    assert 0.6 < result.accept_prob < 1.0
    assert result.num_grad_evals > int(result.num_steps.sum())


def test_skewed_target_log_gamma():
    """log of a Gamma(3, 1) variable: skewed, with known mean digamma(3) and CDF.

    The shape is checked through the CDF at five points (``P(Gamma(3) < x) = 1 -
    e^-x (1 + x + x^2 / 2)``): indicators are bounded, so their ESS-based standard
    errors hold, unlike those of squared deviations, whose long left tail makes
    4-standard-error misses common on this target.
    """
    shape = 3.0

    def log_density(z: torch.Tensor) -> torch.Tensor:
        return (shape * z - z.exp()).sum()

    result = sample_nuts(log_density, torch.zeros(1, dtype=torch.float64), 2000, 300, seed=3)
    z = result.samples[:, 0]
    expected_mean = torch.digamma(torch.tensor(shape, dtype=torch.float64))
    _assert_mean_within_mc_error(z[:, None], expected_mean.reshape(1), "log-gamma mean")
    points = torch.tensor([-0.2, 0.5, 0.9, 1.3, 1.8], dtype=torch.float64)  # log of x
    x = points.exp()
    expected_cdf = 1 - torch.exp(-x) * (1 + x + x**2 / 2)
    below = (z[:, None] < points).double()
    _assert_mean_within_mc_error(below, expected_cdf, "log-gamma CDF")


@pytest.mark.slow
def test_standard_normal_long_chain_radius():
    """8000 draws of a 2-D standard normal: E|z|^2 = 2 to within ~0.06.

    Long enough to catch a biased trajectory sampler (e.g. always moving to the new
    subtree instead of the biased-progressive choice inflates E|z|^2 by ~0.15).
    """
    result = sample_nuts(
        lambda z: -0.5 * (z**2).sum(), torch.zeros(2, dtype=torch.float64), 8000, 200, seed=0
    )
    radius_squared = (result.samples**2).sum(-1, keepdim=True)
    _assert_mean_within_mc_error(radius_squared, torch.tensor([2.0]), "E|z|^2")
    _assert_mean_within_mc_error(result.samples, torch.zeros(2), "mean")


def test_leapfrog_is_reversible_and_nearly_conserves_energy():
    from pyro_bnn.inference.nuts import _Chain
    from pyro_bnn.inference.nuts_arrays import arrays_for

    precision = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)

    def log_density(z):
        return -0.5 * z @ precision @ z

    backends = (
        arrays_for(torch.zeros(2, dtype=torch.float64), 0),  # numpy on the CPU
        TorchTensors(0, torch.float64, torch.device("cpu")),
    )
    for arrays, dense in itertools.product(backends, (False, True)):
        chain = _Chain(log_density, None, 10, dense, arrays, 2)
        chain.set_inverse_mass_matrix(
            torch.tensor([[0.7, 0.2], [0.2, 1.3]], dtype=torch.float64)
            if dense
            else torch.tensor([0.7, 1.3], dtype=torch.float64)
        )
        z0 = arrays.from_torch(torch.tensor([0.3, -1.2], dtype=torch.float64))
        r0 = chain.sample_momentum()
        log_density0, grad0 = chain.value_and_grad(z0)
        z1, r1, log_density1, grad1, v1 = chain.leapfrog(z0, r0, grad0, 0.1)
        z2, r2, _, _, _ = chain.leapfrog(z1, r1, grad1, -0.1)
        torch.testing.assert_close(arrays.to_torch(z2), arrays.to_torch(z0))
        torch.testing.assert_close(arrays.to_torch(r2), arrays.to_torch(r0))
        energy0 = chain.energy(log_density0, r0, chain.velocity(r0))
        energy1 = chain.energy(log_density1, r1, v1)
        assert abs(energy1 - energy0) < 1e-2  # O(step^3) per step
        # the energy is -log density + r . M^-1 r / 2, whatever the arrays
        r = arrays.to_torch(r0)
        mass_inverse = chain.inverse_mass_matrix
        kinetic = 0.5 * float(r @ (mass_inverse @ r if dense else mass_inverse * r))
        assert energy0 == pytest.approx(-log_density0 + kinetic, rel=1e-12)


@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.slow
def test_momentum_has_covariance_mass_matrix(dense):
    """Momenta are N(0, M) with M the inverse of the adapted inverse mass matrix."""
    from pyro_bnn.inference.nuts import _Chain
    from pyro_bnn.inference.nuts_arrays import arrays_for

    arrays = arrays_for(torch.zeros(2, dtype=torch.float64), 3)
    chain = _Chain(lambda z: -0.5 * (z**2).sum(), None, 10, dense, arrays, 2)
    inverse_mass = torch.tensor([[0.7, 0.2], [0.2, 1.3]], dtype=torch.float64)
    chain.set_inverse_mass_matrix(inverse_mass if dense else inverse_mass.diagonal())
    momenta = torch.stack([arrays.to_torch(chain.sample_momentum()) for _ in range(20000)])
    mass = torch.linalg.inv(inverse_mass if dense else inverse_mass.diagonal().diag())
    _assert_gaussian_moments(momenta, torch.zeros(2, dtype=torch.float64), mass)


@pytest.mark.slow
def test_linear_regression_matches_exact_posterior(linear_oracle):
    model = linear_oracle.model()
    x = torch.as_tensor(linear_oracle.x, dtype=torch.float32)
    y = torch.as_tensor(linear_oracle.y, dtype=torch.float32)
    flat = FlatModel(model, x, y)
    assert flat.dim == len(linear_oracle.mean)  # [w_1 .. w_D, b], sigma is fixed
    result = sample_nuts(flat.log_joint, torch.zeros(flat.dim), 1000, 300, seed=0)
    assert result.samples.dtype == torch.float32
    draws = flat.unflatten(result.samples)
    stacked = linear_oracle.stack(draws)
    _assert_gaussian_moments(
        stacked, torch.as_tensor(linear_oracle.mean), torch.as_tensor(linear_oracle.cov)
    )


@pytest.mark.slow
def test_agrees_with_pyro_nuts_on_same_target():
    mean, cov, log_density = _correlated_gaussian(5, seed=2)
    num_samples, warmup = 600, 300
    ours = sample_nuts(
        log_density, torch.zeros(5, dtype=torch.float64), num_samples, warmup, seed=4
    )

    pyro.set_rng_seed(4)
    kernel = NUTS(potential_fn=lambda params: -log_density(params["z"]), adapt_mass_matrix=True)
    mcmc = MCMC(
        kernel,
        num_samples=num_samples,
        warmup_steps=warmup,
        initial_params={"z": torch.zeros(5, dtype=torch.float64)},
        disable_progbar=True,
    )
    mcmc.run()
    theirs = mcmc.get_samples()["z"].double()

    def moments(samples):
        centred = samples - mean  # second moments about the (known) mean
        return torch.cat([samples, centred**2], dim=1)

    ours_m, theirs_m = moments(ours.samples), moments(theirs)
    standard_error = (
        ours_m.var(0) / _ess(ours_m).clamp(min=1.0)
        + theirs_m.var(0) / _ess(theirs_m).clamp(min=1.0)
    ).sqrt()
    difference = (ours_m.mean(0) - theirs_m.mean(0)).abs()
    assert (difference < NUM_SE * standard_error).all(), (difference, standard_error)
    # both samplers also tune to a similar step size on this target
    ratio = ours.step_size / kernel.step_size
    assert 0.33 < ratio < 3.0, (ours.step_size, kernel.step_size)


def test_funnel_divergences_are_counted_not_fatal():
    """Neal's funnel, centred: a step size tuned in the mouth diverges in the neck.

    A short warm-up started in the wide mouth (log scale 3) leaves a step size far
    too large for the narrow neck; the divergent trajectories are counted and
    rejected, and the chain goes on.
    """

    def log_density(z: torch.Tensor) -> torch.Tensor:
        log_scale, rest = z[0], z[1:]
        return (
            -0.5 * (log_scale / 3.0) ** 2
            - 0.5 * (rest**2).sum() * torch.exp(-log_scale)
            - 0.5 * len(rest) * log_scale
        )

    initial = torch.ones(10, dtype=torch.float64)
    initial[0] = 3.0
    result = sample_nuts(log_density, initial, 100, 20, seed=0)
    assert result.num_divergences > 0
    assert result.num_divergences == int(result.divergent.sum())
    assert torch.isfinite(result.samples).all()
    assert torch.isfinite(result.log_density).all()
    assert result.samples[:, 0].std() > 0  # the chain still moves


def test_hard_boundary_nan_and_inf_are_rejected_as_divergent():
    """Log density -inf (or NaN) outside the unit box: never sampled, counted as divergent."""

    def log_density(z: torch.Tensor) -> torch.Tensor:
        inside = -0.5 * (z**2).sum()
        outside = z.abs().max() > 1.0
        if outside:
            return inside * float("nan") if z[0] > 0 else inside - float("inf")
        return inside

    result = sample_nuts(log_density, torch.zeros(3, dtype=torch.float64), 300, 100, seed=0)
    assert result.samples.abs().max() <= 1.0
    assert result.num_divergences + result.num_warmup_divergences > 0


def test_same_seed_same_draws_global_rng_untouched():
    _, _, log_density = _correlated_gaussian(3)
    initial = torch.zeros(3, dtype=torch.float64)
    rng_state = torch.get_rng_state()
    first = sample_nuts(log_density, initial, 50, 30, seed=7)
    assert torch.equal(torch.get_rng_state(), rng_state)
    torch.manual_seed(123)  # the global RNG must not matter
    second = sample_nuts(log_density, initial, 50, 30, seed=7)
    other = sample_nuts(log_density, initial, 50, 30, seed=8)
    assert torch.equal(first.samples, second.samples)
    assert torch.equal(first.tree_depths, second.tree_depths)
    assert first.step_size == second.step_size
    assert not torch.equal(first.samples, other.samples)


def test_validation_flags_restored_and_initial_not_modified():
    before_torch = torch.distributions.Distribution._validate_args
    before_pyro = pyro.infer.util.is_validation_enabled()
    seen = []

    def log_density(z: torch.Tensor) -> torch.Tensor:
        seen.append(torch.distributions.Distribution._validate_args)
        return torch.distributions.Normal(0.0, 1.0).log_prob(z).sum()

    initial = torch.full((2,), 0.5, dtype=torch.float64)
    sample_nuts(log_density, initial, 5, 5, seed=0)
    assert not any(seen)  # validation is off inside the loop
    assert torch.distributions.Distribution._validate_args == before_torch
    assert pyro.infer.util.is_validation_enabled() == before_pyro
    assert torch.equal(initial, torch.full((2,), 0.5, dtype=torch.float64))


def test_value_and_grad_fn_replaces_autograd():
    _, _, log_density = _correlated_gaussian(3)
    precision = torch.eye(3, dtype=torch.float64)

    def value_and_grad(z):
        return float(-0.5 * z @ precision @ z), -(precision @ z)

    initial = torch.zeros(3, dtype=torch.float64)
    analytic = sample_nuts(None, initial, 40, 20, seed=5, value_and_grad_fn=value_and_grad)
    autograd = sample_nuts(lambda z: -0.5 * z @ precision @ z, initial, 40, 20, seed=5)
    torch.testing.assert_close(analytic.samples, autograd.samples)


def test_tree_depth_is_capped():
    result = sample_nuts(
        lambda z: -0.5 * (z**2).sum(), torch.zeros(2), 30, 0, seed=0, max_tree_depth=1
    )
    assert int(result.tree_depths.max()) <= 1
    assert int(result.num_steps.max()) <= 2 ** (1 + 1) - 1


def test_adaptation_windows_follow_stan():
    # Stan's documented schedule for 1000 warm-up iterations: metric updates after
    # iterations 100, 150, 250, 450, 950 (1-based), i.e. windows ending at 99 ... 949.
    assert adaptation_windows(1000) == [(75, 99), (100, 149), (150, 249), (250, 449), (450, 949)]
    assert adaptation_windows(150) == [(75, 99)]  # 75 + 25 + 50 just fit
    assert adaptation_windows(100) == [(15, 89)]  # buffers shrink to 15% / 10%
    assert adaptation_windows(19) == []
    windows = adaptation_windows(500)
    assert windows[0][0] == 75 and windows[-1][1] == 500 - 50 - 1
    assert all(a[1] + 1 == b[0] for a, b in zip(windows, windows[1:], strict=False))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"initial": torch.zeros(2, 2)}, "initial must be a 1-D tensor"),
        ({"num_samples": 0}, "num_samples must be an integer >= 1"),
        ({"warmup_steps": -1}, "warmup_steps must be an integer >= 0"),
        ({"max_tree_depth": 0}, "max_tree_depth must be an integer >= 1"),
        ({"target_accept_prob": 1.0}, r"target_accept_prob must be in \(0, 1\)"),
        ({"initial": torch.full((2,), 5.0)}, "log_density_fn\\(initial\\) must be finite"),
        ({"log_density_fn": None}, "needs log_density_fn or value_and_grad_fn"),
    ],
)
def test_bad_arguments(kwargs, match):
    def log_density(z):
        return torch.where(z.abs().max() < 1, -(z**2).sum(), -math.inf)

    arguments = {
        "log_density_fn": log_density,
        "initial": torch.zeros(2),
        "num_samples": 5,
        "warmup_steps": 5,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sample_nuts(**arguments)


def test_integer_initial_is_a_type_error():
    with pytest.raises(TypeError, match="initial must be a floating-point tensor"):
        sample_nuts(lambda z: -(z**2).sum(), torch.zeros(2, dtype=torch.long), 5, 5)


def test_progress_bar_is_shown_on_request(capsys):
    sample_nuts(lambda z: -0.5 * (z**2).sum(), torch.zeros(2), 5, 5, progress=True)
    assert "NUTS" in capsys.readouterr().err
    sample_nuts(lambda z: -0.5 * (z**2).sum(), torch.zeros(2), 5, 5)
    assert capsys.readouterr().err == ""


def test_cpu_sampler_calls_the_numpy_hook_directly():
    """An object with ``value_and_grad_numpy`` is evaluated on numpy arrays, never via torch."""
    import numpy as np

    class NumpyOnly:
        calls = 0

        def __call__(self, z):
            raise AssertionError("the torch entry point should not be used on the CPU")

        def value_and_grad_numpy(self, z):
            assert isinstance(z, np.ndarray)
            NumpyOnly.calls += 1
            return -0.5 * float(z @ z), -z

    result = sample_nuts(None, torch.zeros(3), 50, 20, seed=0, value_and_grad_fn=NumpyOnly())
    assert NumpyOnly.calls == result.num_grad_evals > 0
    _assert_mean_within_mc_error(result.samples, torch.zeros(3), "mean")


def test_per_draw_energy_and_acceptance_are_recorded():
    """Energy = -log density + kinetic energy; E[kinetic] = dim / 2 at stationarity."""
    dim = 6
    result = sample_nuts(lambda z: -0.5 * (z**2).sum(), torch.zeros(dim), 1000, 200, seed=1)
    assert result.energy.shape == result.accept_probs.shape == (1000,)
    kinetic = result.energy + result.log_density
    assert (kinetic >= 0).all()
    assert (
        abs(float(kinetic.mean()) - dim / 2) < 0.3
    )  # kinetic energy sd sqrt(3): the mean's sd ~0.06
    assert math.isclose(float(result.accept_probs.mean()), result.accept_prob, rel_tol=1e-9)
    # a standard normal: the energy moves freely (E-BFMI near 1, well above 0.3)
    from pyro_bnn.inference.diagnostics import e_bfmi

    assert e_bfmi(result.energy)[0] > 0.6
