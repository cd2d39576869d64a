"""The flat SVI fast path optimises exactly Pyro's ``Trace_ELBO`` of the equivalent autoguide.

Every guide kind, at random (not initial) guide parameters, on models with constrained
sites (a learned noise scale, hierarchical layer scales) and without (a fixed-noise
linear model). The comparisons are exact where the quantity is deterministic (entropy,
the ELBO integrand at one draw, the delta objective and its gradient) and use common
random numbers otherwise, so a +0.25-nat offset, a dropped low-rank log-det or a
dropped (or wrongly added) log|J| fails a test. All Pyro calls run in a scoped param
store: nothing here depends on, or leaves anything in, the global one.
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO

import pyro_bnn as pb
from pyro_bnn.inference.flat import FlatModel
from pyro_bnn.inference.flat_guides import FlatGuide, inverse_softplus

KINDS = ("normal", "lowrank", "mvn", "delta")
GAUSSIAN_KINDS = ("normal", "lowrank", "mvn")


def _model(name: str) -> pb.BayesianMLP:
    if name == "learned_sigma":  # sigma ~ HalfNormal(1), constrained to (0, inf)
        model = pb.BayesianMLP(2, 1, hidden=(3,))
    elif name == "hierarchical":  # layers.{i}.scale ~ HalfNormal(1), weights depend on them
        model = pb.BayesianMLP(
            2, 1, hidden=(3,), prior=pb.HierarchicalNormal(), likelihood=pb.Gaussian(sigma=0.4)
        )
    else:  # fixed-noise linear regression: no constrained site
        model = pb.BayesianMLP(2, 1, hidden=(), likelihood=pb.Gaussian(sigma=0.5))
    return model.to(torch.float64)


MODELS = ("learned_sigma", "hierarchical", "linear")


def _data(num_points: int = 20):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(num_points, 2, generator=generator, dtype=torch.float64)
    noise = torch.randn(num_points, generator=generator, dtype=torch.float64)
    return x, torch.sin(x[:, 0]) + 0.5 * x[:, 1] + 0.3 * noise


def _random_guide(model_name: str, kind: str, seed: int = 1):
    """A FlatGuide whose every parameter is set to a random value (not the init)."""
    model = _model(model_name)
    x, y = _data()
    flat = FlatModel(model, x, y)
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    family = FlatGuide(flat, kind, torch.zeros(flat.dim, dtype=torch.float64), 0.05)
    with torch.no_grad():
        family.loc.copy_(0.5 * randn(flat.dim))
        # constrained sites away from 0 in unconstrained space, so log|J| = z there is large
        position = 0
        for size, constrained in zip(flat.sizes, flat.constrained, strict=True):
            if constrained:
                family.loc[position : position + size] = -1.0 + 0.3 * randn(size)
            position += size
        if kind != "delta":
            scale = 0.1 + 0.3 * torch.rand(flat.dim, generator=generator, dtype=torch.float64)
            family.raw_scale.copy_(inverse_softplus(scale))
        if kind == "lowrank":
            family.cov_factor.copy_(0.4 * randn(*family.cov_factor.shape))
        if kind == "mvn":
            family.tril.copy_(0.4 * randn(flat.dim, flat.dim))  # diagonal/upper part unused
    return model, x, y, flat, family


def _pyro_entropy(guide, kind: str, flat: FlatModel) -> torch.Tensor:
    """Entropy of the Pyro guide's distribution of the unconstrained latent vector."""
    if kind == "normal":  # AutoNormal: independent Normal(loc, scale) per site
        return sum(
            dist.Normal(*guide._get_loc_and_scale(name)).entropy().sum() for name in flat.names
        ).detach()
    return guide.get_posterior().entropy().detach()


def _pyro_covariance(guide, kind: str, flat: FlatModel) -> tuple[torch.Tensor, torch.Tensor]:
    if kind == "normal":
        locs, scales = zip(*(guide._get_loc_and_scale(name) for name in flat.names), strict=True)
        loc = torch.cat([v.reshape(-1) for v in locs])
        return loc, torch.diag(torch.cat([v.reshape(-1) for v in scales]) ** 2)
    posterior = guide.get_posterior()
    return posterior.mean, posterior.covariance_matrix


def _auxiliary_log_prob(guide_trace) -> torch.Tensor:
    """``log q`` of the guide's unconstrained draw (its auxiliary sites; 0 for AutoDelta)."""
    guide_trace.compute_log_prob()
    total = torch.zeros((), dtype=torch.float64)
    for site in guide_trace.nodes.values():
        if site["type"] == "sample" and site["infer"].get("is_auxiliary"):
            total = total + site["log_prob_sum"]
    return total


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("kind", GAUSSIAN_KINDS)
def test_entropy_equals_the_pyro_guides_entropy(model_name, kind):
    """Closed-form entropy (the low-rank log-det included) = Pyro's distribution's entropy."""
    _, _, _, flat, family = _random_guide(model_name, kind)
    with pyro.get_param_store().scope():
        guide = family.to_pyro()
        expected = _pyro_entropy(guide, kind, flat)
    assert float(family.entropy().detach()) == pytest.approx(float(expected), rel=1e-12, abs=1e-10)


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("kind", KINDS)
def test_elbo_integrand_at_a_pyro_guide_draw_equals_pyros(model_name, kind):
    """At the same draw, flat model term - log q(z) = Pyro's model log p - guide log q.

    Pyro's guide log density includes ``-log|J|`` of the constrained sites for the
    Gaussian guides and nothing for AutoDelta, so this pins down where log|J| belongs.
    """
    model, x, y, flat, family = _random_guide(model_name, kind)
    with pyro.get_param_store().scope(), torch.random.fork_rng(), torch.no_grad():
        pyro.set_rng_seed(3)
        guide = family.to_pyro()
        for _ in range(3):
            guide_trace = poutine.trace(guide).get_trace(x, y)
            model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x, y)
            pyro_integrand = model_trace.log_prob_sum() - guide_trace.log_prob_sum()
            log_q = _auxiliary_log_prob(guide_trace)
            z = flat.flatten({name: guide_trace.nodes[name]["value"] for name in flat.names})
            ours = family.log_joint(z) - log_q
            assert float(ours) == pytest.approx(float(pyro_integrand), rel=1e-10, abs=1e-8)


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("kind", KINDS)
def test_flat_elbo_equals_pyro_trace_elbo_on_common_draws(model_name, kind, monkeypatch):
    """``FlatGuide.elbo`` at Pyro's own draws = ``-Trace_ELBO().loss`` within Monte Carlo error.

    Pyro draws ``num_particles`` latents (vectorized) and averages ``log p - log q``;
    the flat ELBO averages its model term over the same draws and adds the closed-form
    entropy. The two differ only by the mean of ``-log q(z) - entropy``, which for a
    Gaussian is ``(|eps|^2 - dim) / 2``: standard error ``sqrt(dim / (2 S))``.
    """
    model, x, y, flat, family = _random_guide(model_name, kind)
    num_particles = 20000
    draws = []
    with pyro.get_param_store().scope(), torch.random.fork_rng():
        pyro.set_rng_seed(4)
        guide = family.to_pyro()

        def recording_guide(*args):
            values = guide(*args)
            draws.append(values)
            return values

        elbo = Trace_ELBO(
            num_particles=num_particles, vectorize_particles=True, max_plate_nesting=1
        )
        pyro_elbo = -elbo.loss(model, recording_guide, x, y)
    (values,) = draws
    z = flat.flatten({name: values[name].detach() for name in flat.names}).reshape(-1, flat.dim)
    assert z.shape[0] in (1, num_particles)  # AutoDelta's point need not be expanded
    monkeypatch.setattr(family, "rsample", lambda num: z)
    with torch.no_grad():
        ours = float(family.elbo(num_particles, None))
    dim = 0 if kind == "delta" else flat.dim
    tolerance = 4 * math.sqrt(dim / (2 * num_particles)) + 1e-8
    assert tolerance < 0.1  # tight enough to catch a 0.25-nat error with room to spare
    assert ours == pytest.approx(pyro_elbo, abs=tolerance)


@pytest.mark.parametrize("kind", GAUSSIAN_KINDS)
def test_flat_draws_follow_the_pyro_guides_distribution(kind):
    """The flat reparameterised draws have the Pyro guide's mean and covariance."""
    _, _, _, flat, family = _random_guide("learned_sigma", kind)
    num_draws = 40000
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(5)
        z = family.rsample(num_draws)
    with pyro.get_param_store().scope():
        loc, cov = _pyro_covariance(family.to_pyro(), kind, flat)
    loc, cov = loc.detach(), cov.detach()
    sd = cov.diagonal().sqrt()
    assert torch.all((z.mean(0) - loc).abs() < 4.5 * sd / math.sqrt(num_draws))
    # standard error of a sample covariance entry: sqrt((S_ii S_jj + S_ij^2) / n)
    cov_se = ((torch.outer(cov.diagonal(), cov.diagonal()) + cov**2) / num_draws).sqrt()
    assert torch.all((torch.cov(z.T) - cov).abs() < 5 * cov_se)


def _delta_loss_and_grad(model, guide, x, y, flat):
    """Pyro's AutoDelta loss and its gradient in the flat vector's layout."""
    named = dict(guide.named_parameters())
    params = [named[f"{name}_unconstrained"] for name in flat.names]
    loss = Trace_ELBO().differentiable_loss(model, guide, x, y)
    grads = torch.autograd.grad(loss, params)
    return loss.detach(), torch.cat([g.reshape(-1) for g in grads])


@pytest.mark.parametrize("model_name", ("learned_sigma", "hierarchical"))
def test_delta_objective_and_gradient_equal_autodeltas(model_name):
    """No log|J|: the flat delta objective and its gradient are AutoDelta's, exactly."""
    model, x, y, flat, family = _random_guide(model_name, "delta")
    assert any(flat.constrained)
    flat_loss = -family.elbo(1, None)
    (flat_grad,) = torch.autograd.grad(flat_loss, family.loc)
    with pyro.get_param_store().scope():
        guide = family.to_pyro()
        pyro_loss, pyro_grad = _delta_loss_and_grad(model, guide, x, y, flat)
    assert float(flat_loss.detach()) == pytest.approx(float(pyro_loss), rel=1e-12)
    torch.testing.assert_close(flat_grad, pyro_grad, rtol=1e-10, atol=1e-10)


def _lbfgs(params, loss_fn, steps: int = 3):
    optimizer = torch.optim.LBFGS(
        params,
        lr=1,
        max_iter=100,
        tolerance_grad=1e-12,
        tolerance_change=1e-14,
        line_search_fn="strong_wolfe",
    )

    def closure():
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    for _ in range(steps):
        optimizer.step(closure)


def test_delta_fit_reaches_autodeltas_optimum():
    """Optimised to convergence, the flat delta fit and Pyro's AutoDelta agree on sigma.

    Pyro's AutoDelta is optimised on its own (Trace_ELBO, same start), the flat one on
    its own; the optimum of one is a stationary point of the other. Adding log|J| (the
    old bug) moves sigma from 0.1294 to 0.1342 on this data and leaves a gradient of ~1
    (d log|J| / dz for sigma = exp(z)) in Pyro's objective at the flat optimum.
    """
    model, x, y, flat, family = _random_guide("learned_sigma", "delta")
    sigma_position = flat.names.index("sigma")
    with pyro.get_param_store().scope():
        guide = family.to_pyro()
        _lbfgs(
            list(guide.parameters()), lambda: Trace_ELBO().differentiable_loss(model, guide, x, y)
        )
        with torch.no_grad():
            pyro_sigma = float(guide(x, y)["sigma"])
    _lbfgs([family.loc], lambda: -family.elbo(1, None))
    flat_sigma = float(flat.unflatten(family.loc.detach())["sigma"])
    assert flat_sigma == pytest.approx(pyro_sigma, abs=1e-6)
    with pyro.get_param_store().scope():
        _, pyro_grad = _delta_loss_and_grad(model, family.to_pyro(), x, y, flat)
    assert float(pyro_grad.abs().max()) < 1e-5
    assert abs(float(pyro_grad[sigma_position])) < 1e-5
