"""guide="laplace": exact on linear regression, user models, save/load, floored Hessians."""

import warnings

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer.autoguide import AutoLaplaceApproximation, init_to_value

import pyro_bnn as pb
from pyro_bnn.inference.laplace import (
    LaplaceWarning,
    floor_matters,
    gaussian_from_hessian,
    hessian,
    laplace_at_mode,
)


def _gaussian(post) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a Laplace posterior's unconstrained Gaussian (float64)."""
    params = post.params
    loc = params["AutoMultivariateNormal.loc"].double()
    tril = (
        params["AutoMultivariateNormal.scale"].double()[:, None]
        * params["AutoMultivariateNormal.scale_tril"].double()
    )
    return loc.numpy(), (tril @ tril.T).numpy()


def _linear_model(prior_scale, sigma):
    def model(x, y=None):
        w = pyro.sample("w", dist.Normal(0.0, prior_scale).expand([x.shape[1]]).to_event(1))
        b = pyro.sample("b", dist.Normal(0.0, prior_scale))
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("obs", dist.Normal(x @ w + b, sigma), obs=y)

    return model


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bayesian_mlp_laplace_is_the_exact_posterior(linear_oracle, dtype):
    o = linear_oracle  # flat order [w_1, w_2, b] is the oracle's order
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a Newton-polished mode: no convergence warning
        post = pb.fit_svi(
            o.model(), o.x, o.y, standardize=False, guide="laplace", num_steps=200,
            lr=0.02, dtype=dtype, progress=False,
        )  # fmt: skip
    assert post.guide_type == "laplace" and not post.is_point_estimate
    mean, cov = _gaussian(post)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose(mean, o.mean, atol=tol * 10)
    np.testing.assert_allclose(cov, o.cov, atol=tol * np.max(np.diag(o.cov)))
    info = post.diagnostics["laplace"]
    assert info["num_floored"] == 0 and info["newton_steps"] + info["lbfgs_iterations"] >= 1
    # the Laplace log evidence is exact for a Gaussian posterior
    assert info["log_evidence"] == pytest.approx(o.log_evidence, abs=1e-3 if tol > 1e-6 else 1e-8)
    # draws come from that Gaussian
    draws = o.stack(post.sample(4000, seed=1)).numpy()
    np.testing.assert_allclose((draws.mean(0) - o.mean) / np.sqrt(np.diag(o.cov)), 0, atol=0.06)


@pytest.mark.slow
def test_user_model_laplace_is_the_exact_posterior(linear_oracle):
    o = linear_oracle
    model = _linear_model(o.prior_scale, o.sigma)
    post = pb.fit_svi(model, o.x, o.y, guide="laplace", num_steps=200, lr=0.05, progress=False)
    assert post.guide_type == "laplace"
    mean, cov = _gaussian(post)  # AutoLaplaceApproximation order: w then b
    np.testing.assert_allclose(mean, o.mean, atol=1e-4)
    np.testing.assert_allclose(cov, o.cov, atol=1e-5 * np.max(np.diag(o.cov)))
    assert post.diagnostics["laplace"]["log_evidence"] == pytest.approx(o.log_evidence, abs=1e-3)
    # only the Gaussian's parameters are kept, not the MAP guide's
    assert sorted(post.params) == [
        "AutoMultivariateNormal.loc",
        "AutoMultivariateNormal.scale",
        "AutoMultivariateNormal.scale_tril",
    ]
    pred = pb.predict(post, o.x[:4], num_draws=1000, seed=0)
    phi = np.hstack([o.x[:4], np.ones((4, 1))])
    np.testing.assert_allclose(pred.mean, phi @ o.mean, atol=0.05)
    # 1000 draws: the variances' Monte Carlo error is about 4.5%
    np.testing.assert_allclose(pred.epistemic_var, np.einsum("nd,de,ne->n", phi, o.cov, phi),
                               rtol=0.2)  # fmt: skip


def test_pyro_autolaplace_guide_becomes_the_laplace_gaussian(linear_oracle):
    o = linear_oracle
    model = _linear_model(o.prior_scale, o.sigma)
    guide = AutoLaplaceApproximation(model)
    post = pb.fit_svi(model, o.x, o.y, guide=guide, num_steps=200, lr=0.05, progress=False)
    assert post.guide_type == "laplace"
    mean, _ = _gaussian(post)
    np.testing.assert_allclose(mean, o.mean, atol=1e-4)


@pytest.mark.slow
def test_save_load_round_trip(tmp_path, gap_data, linear_oracle):
    x, y = gap_data
    post = pb.fit_svi(
        pb.BayesianMLP(1, 1, hidden=(4,)), x, y, guide="laplace", num_steps=300, progress=False
    )
    post.save(tmp_path / "mlp.pt")
    loaded = pb.Posterior.load(tmp_path / "mlp.pt")
    assert loaded.guide_type == "laplace"
    assert loaded.diagnostics["laplace"] == post.diagnostics["laplace"]
    a, b = (pb.predict(p, x[:7], num_draws=50, seed=2) for p in (post, loaded))
    torch.testing.assert_close(a.mean, b.mean, rtol=0, atol=0)
    torch.testing.assert_close(a.epistemic_var, b.epistemic_var, rtol=0, atol=0)

    o = linear_oracle
    model = _linear_model(o.prior_scale, o.sigma)
    user = pb.fit_svi(model, o.x, o.y, guide="laplace", num_steps=100, lr=0.05, progress=False)
    user.save(tmp_path / "user.pt")
    loaded = pb.Posterior.load(tmp_path / "user.pt", model=model)
    a, b = (pb.predict(p, o.x[:5], num_draws=50, seed=2) for p in (user, loaded))
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.epistemic_var, b.epistemic_var)


def test_saddle_point_hessian_is_floored_with_a_warning():
    # y = w^2 + noise with y = 1: modes at w = +-1, a saddle of the log joint at w = 0,
    # where the MAP search starts and (the gradient being 0) stays
    def model(x, y=None):
        w = pyro.sample("w", dist.Normal(0.0, 1.0))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("obs", dist.Normal(w**2 * torch.ones_like(x[:, 0]), 0.1), obs=y)

    start = init_to_value(values={"w": torch.tensor(0.0)})
    guide = AutoLaplaceApproximation(model, init_loc_fn=start)
    with pytest.warns(LaplaceWarning, match="not positive definite .*1 of 1 eigenvalues"):
        post = pb.fit_svi(
            model, np.zeros((1, 1)), np.ones(1), guide=guide, num_steps=5, progress=False
        )
    info = post.diagnostics["laplace"]
    assert info["num_floored"] == info["num_nonpositive"] == 1 and info["min_eigenvalue"] < 0
    assert info["newton_steps"] == 0
    assert any("not positive definite" in w for w in post.diagnostics["warnings"])


def test_lbfgs_polish_reaches_the_mode_where_the_optimiser_stopped_short():
    def log_joint(z):  # Rosenbrock's valley: mode at (1, 1), Hessian [[802, -400], [-400, 200]]
        return -((1 - z[0]) ** 2) - 100 * (z[1] - z[0] ** 2) ** 2

    start = torch.tensor([-1.2, 1.0], dtype=torch.float64)
    stuck = laplace_at_mode(log_joint, start, newton_steps=0, warn=False)
    assert stuck.info["lbfgs_iterations"] == 0 and stuck.info["gradient_norm"] > 1
    result = laplace_at_mode(log_joint, start, newton_steps=0, polish_iterations=200)
    assert result.info["lbfgs_iterations"] > 0
    np.testing.assert_allclose(result.loc.numpy(), [1.0, 1.0], atol=1e-6)
    exact = np.linalg.inv(np.array([[802.0, -400.0], [-400.0, 200.0]]))
    covariance = (result.scale_tril @ result.scale_tril.T).numpy()
    np.testing.assert_allclose(covariance, exact, rtol=1e-4)


def test_floor_warns_only_when_it_changes_the_gaussian_materially():
    def info(eigenvalues, floor):
        _, _, result = gaussian_from_hessian(
            torch.diag(torch.tensor(eigenvalues, dtype=torch.float64)), prior_precision=floor
        )
        return result

    assert not floor_matters(info([4.0, 2.0], floor=1.0))  # nothing floored
    assert not floor_matters(info([4.0, 0.5], floor=1.0))  # std narrowed by sqrt(2)
    assert floor_matters(info([4.0, 0.2], floor=1.0))  # std narrowed by sqrt(5) > 2
    assert floor_matters(info([4.0, -0.01], floor=1.0))  # not positive definite


def test_gaussian_from_hessian_inverts_and_floors():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    matrix = torch.as_tensor(a @ a.T + np.eye(5))
    tril, log_det, info = gaussian_from_hessian(matrix)
    np.testing.assert_allclose((tril @ tril.T).numpy(), np.linalg.inv(matrix.numpy()), atol=1e-10)
    assert log_det == pytest.approx(np.linalg.slogdet(matrix.numpy())[1])
    assert info["num_floored"] == 0
    indefinite = torch.diag(torch.tensor([4.0, -1.0, 0.0], dtype=torch.float64))
    tril, log_det, info = gaussian_from_hessian(indefinite, min_eigenvalue=0.5)
    np.testing.assert_allclose(torch.diagonal(tril @ tril.T).numpy(), [0.25, 2.0, 2.0])
    assert info["num_floored"] == 2 and info["num_nonpositive"] == 2 and info["floor"] == 0.5
    # the prior's precision as the floor: at least that, at least 1e-6 x the largest
    _, _, info = gaussian_from_hessian(indefinite, prior_precision=0.25)
    assert info["floor"] == 0.25 and info["num_floored"] == 2
    _, _, info = gaussian_from_hessian(indefinite * 1e8, prior_precision=0.25)
    assert info["floor"] == pytest.approx(400.0)
    with pytest.raises(ValueError, match="min_eigenvalue must be positive"):
        gaussian_from_hessian(indefinite, min_eigenvalue=0.0)
    with pytest.raises(FloatingPointError, match="Hessian .* not finite"):
        gaussian_from_hessian(torch.full((2, 2), float("nan")))


def test_newton_steps_reach_the_mode_of_a_quadratic():
    precision = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    centre = torch.tensor([1.0, -2.0], dtype=torch.float64)

    def log_joint(z):
        return -0.5 * (z - centre) @ precision @ (z - centre)

    torch.testing.assert_close(hessian(log_joint, centre), precision)
    result = laplace_at_mode(log_joint, torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(result.loc, centre)
    torch.testing.assert_close(result.covariance, torch.linalg.inv(precision))
    assert result.info["newton_steps"] == 1 and result.info["expected_gain"] < 1e-20
    # without Newton steps the point stays where it was, and the gain says how far off it is
    stuck = laplace_at_mode(log_joint, torch.zeros(2, dtype=torch.float64), newton_steps=0)
    assert stuck.info["expected_gain"] == pytest.approx(0.5 * float(centre @ precision @ centre))


def test_laplace_needs_data_in_memory(linear_oracle):
    o = linear_oracle
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(o.x).float(), torch.tensor(o.y).float()),
        batch_size=10,
    )
    with pytest.raises(ValueError, match="guide='laplace' needs the data in memory"):
        pb.fit_svi(o.model(), guide="laplace", loader=loader, progress=False)


@pytest.mark.filterwarnings("ignore::pyro_bnn.inference.laplace.LaplaceWarning")
def test_linearized_predictive_is_the_first_order_network(gap_data):
    x, y = gap_data
    post = pb.fit_svi(
        pb.BayesianMLP(1, 1, hidden=(5,), activation="tanh"), x, y, guide="laplace",
        num_steps=200, progress=False, check_convergence=False,
    )  # fmt: skip
    from pyro_bnn.predictive.network import _LinearizedForward, guide_centre

    model = post.model
    centre = guide_centre(post)
    draws = post.sample(3, seed=4)
    xs = torch.as_tensor(post.scaler.transform_x(x[:6]), dtype=torch.float32)
    linear = _LinearizedForward(model, draws, centre)(xs)  # (3, 6, 1)
    names = list(centre)
    for s in range(3):
        tangent = tuple(draws[k][s] - centre[k] for k in names)

        def net(*values):
            return model.network(dict(zip(names, values, strict=True)), xs)

        value, jvp = torch.autograd.functional.jvp(net, tuple(centre[k] for k in names), tangent)
        torch.testing.assert_close(linear[s], value + jvp, rtol=1e-5, atol=1e-5)
    # the default for a Laplace posterior; switched off it runs the network at each draw
    default = pb.predict(post, x[:6], num_draws=50, seed=1)
    on = pb.predict(post, x[:6], num_draws=50, seed=1, linearized=True)
    off = pb.predict(post, x[:6], num_draws=50, seed=1, linearized=False)
    np.testing.assert_array_equal(default.mean, on.mean)
    assert not np.allclose(on.epistemic_var, off.epistemic_var)


def test_linearized_equals_sampled_without_hidden_layers(linear_oracle):
    o = linear_oracle
    post = pb.fit_svi(o.model(), o.x, o.y, standardize=False, guide="laplace", num_steps=100,
                      progress=False, check_convergence=False)  # fmt: skip
    on = pb.predict(post, o.x[:5], num_draws=100, seed=3, linearized=True)
    off = pb.predict(post, o.x[:5], num_draws=100, seed=3, linearized=False)
    np.testing.assert_allclose(on.mean, off.mean, atol=1e-5)
    np.testing.assert_allclose(on.epistemic_var, off.epistemic_var, rtol=1e-4)


def test_linearized_needs_an_autoguide_and_a_bayesian_mlp(linear_oracle):
    o = linear_oracle
    nuts_like = pb.Posterior(
        o.model(), "nuts", samples={"layers.0.weight": torch.zeros(4, 1, 2),
                                    "layers.0.bias": torch.zeros(4, 1)},
    )  # fmt: skip
    with pytest.raises(ValueError, match="linearized=True needs an SVI posterior"):
        pb.predict(nuts_like, o.x[:2], linearized=True)
    model = _linear_model(o.prior_scale, o.sigma)
    user = pb.fit_svi(model, o.x, o.y, guide="laplace", num_steps=20, progress=False,
                      check_convergence=False)  # fmt: skip
    with pytest.raises(ValueError, match="linearized=True needs a BayesianMLP"):
        pb.predict(user, o.x[:2], linearized=True)


def test_diagnostics_plot_names_the_map_search(linear_oracle):
    from pyro_bnn import plots

    o = linear_oracle
    post = pb.fit_svi(o.model(), o.x, o.y, standardize=False, guide="laplace", num_steps=60,
                      progress=False, check_convergence=False)  # fmt: skip
    ax = plots.plot_diagnostics(post).axes[0]
    assert ax.get_ylabel() == "log joint (nats)"
    assert ax.get_title().startswith("Laplace (MAP search) log joint")


def test_flat_hessian_equals_pyro_autolaplace_hessian():
    """The fast path's Hessian is that of Pyro's AutoLaplaceApproximation loss (learned sigma).

    (``log |J|`` of sigma's exp transform is linear, so it moves the mode, not the Hessian:
    the next test checks the mode.)
    """
    from pyro.ops.hessian import hessian as pyro_hessian

    from pyro_bnn.inference.flat import FlatModel
    from pyro_bnn.inference.laplace import flat_hessian
    from pyro_bnn.isolation import param_scope

    torch.manual_seed(0)
    model = pb.BayesianMLP(2, 1, hidden=(3,), likelihood=pb.Gaussian(sigma_prior_scale=0.5))
    model.to(dtype=torch.float64)
    x = torch.randn(9, 2, dtype=torch.float64)
    y = torch.randn(9, dtype=torch.float64)
    flat = FlatModel(model, x, y)
    z = 0.5 * torch.randn(flat.dim, dtype=torch.float64)
    with param_scope(), pyro.poutine.block():
        guide = AutoLaplaceApproximation(model)
        guide(x, y)
        with torch.no_grad():
            guide.loc.copy_(z)
        guide_trace = pyro.poutine.trace(guide).get_trace(x, y)
        model_trace = pyro.poutine.trace(pyro.poutine.replay(model, trace=guide_trace)).get_trace(
            x, y
        )
        loss = guide_trace.log_prob_sum() - model_trace.log_prob_sum()
        expected = pyro_hessian(loss, guide.loc)
        assert [n for n, _ in guide.prototype_trace.iter_stochastic_nodes()] == flat.names
    torch.testing.assert_close(flat_hessian(flat, z), expected, rtol=1e-8, atol=1e-8)
    # in row chunks (here one row at a time), or one direction per call, the same matrix
    torch.testing.assert_close(flat_hessian(flat, z, max_elements=1), expected)
    torch.testing.assert_close(flat_hessian(flat, z, batch_elements=1), expected)


@pytest.mark.parametrize(
    "likelihood, labels",
    [
        (pb.Gaussian(sigma_prior_scale=0.5), None),
        (pb.HeteroscedasticGaussian(), None),
        (pb.StudentT(), None),
        (pb.Poisson(), "counts"),
        (pb.Bernoulli(), "binary"),
        (pb.Categorical(), "classes"),
    ],
)
def test_flat_hessian_is_torch_hessian_of_the_log_joint_for_every_likelihood(likelihood, labels):
    """Hessian-vector products in direction blocks give the dense Hessian of the log joint."""
    from pyro_bnn.inference.flat import FlatModel
    from pyro_bnn.inference.laplace import flat_hessian

    torch.manual_seed(1)
    model = pb.BayesianMLP(2, 3 if labels == "classes" else 1, hidden=(4,), likelihood=likelihood)
    model.to(dtype=torch.float64)
    x = torch.randn(11, 2, dtype=torch.float64)
    y = {
        None: torch.randn(11, dtype=torch.float64),
        "counts": torch.poisson(torch.full((11,), 2.0, dtype=torch.float64)),
        "binary": torch.randint(0, 2, (11,)).double(),
        "classes": torch.randint(0, 3, (11,)),
    }[labels]
    flat = FlatModel(model, x, y)
    z = 0.3 * torch.randn(flat.dim, dtype=torch.float64)
    with pyro.validation_enabled(False):
        dense = torch.autograd.functional.hessian(lambda point: -flat.log_joint(point), z)
    expected = 0.5 * (dense + dense.T)
    for chunks in ({}, {"batch_elements": 1}, {"max_elements": 4, "batch_elements": 10}):
        torch.testing.assert_close(flat_hessian(flat, z, **chunks), expected)


def test_fitted_laplace_is_pyro_autolaplace_at_its_mode(linear_oracle):
    """With a learned (constrained) noise: the mode and the precision are Pyro's definition's."""
    from pyro.ops.hessian import hessian as pyro_hessian

    from pyro_bnn.isolation import param_scope

    o = linear_oracle
    model = pb.BayesianMLP(2, 1, hidden=(), prior=pb.IIDNormal(1.0),
                           likelihood=pb.Gaussian(sigma_prior_scale=1.0))  # fmt: skip
    post = pb.fit_svi(model, o.x, o.y, standardize=False, guide="laplace", num_steps=400,
                      lr=0.02, dtype=torch.float64, progress=False)  # fmt: skip
    loc, cov = _gaussian(post)
    x, y = torch.as_tensor(o.x), torch.as_tensor(o.y)
    with param_scope(), pyro.poutine.block():
        guide = AutoLaplaceApproximation(post.model)
        guide(x, y)
        with torch.no_grad():
            guide.loc.copy_(torch.as_tensor(loc))
        guide_trace = pyro.poutine.trace(guide).get_trace(x, y)
        replayed = pyro.poutine.replay(post.model, trace=guide_trace)
        loss = (
            guide_trace.log_prob_sum() - pyro.poutine.trace(replayed).get_trace(x, y).log_prob_sum()
        )
        (gradient,) = torch.autograd.grad(loss, guide.loc, retain_graph=True)
        precision = pyro_hessian(loss, guide.loc)
    assert float(gradient.abs().max()) < 1e-6  # the mode of Pyro's objective (log|J| included)
    np.testing.assert_allclose(cov, np.linalg.inv(precision.detach().numpy()), rtol=1e-6)


def test_minibatch_map_is_polished_to_the_exact_mode(linear_oracle):
    o = linear_oracle  # Adam on minibatches of 10 rows, then full-batch Newton steps
    post = pb.fit_svi(o.model(), o.x, o.y, standardize=False, guide="laplace", num_steps=300,
                      batch_size=10, lr=0.02, progress=False, check_convergence=False)  # fmt: skip
    mean, cov = _gaussian(post)
    np.testing.assert_allclose(mean, o.mean, atol=1e-4)
    np.testing.assert_allclose(cov, o.cov, atol=1e-5 * np.max(np.diag(o.cov)))


@pytest.mark.filterwarnings("ignore::pyro_bnn.inference.laplace.LaplaceWarning")
def test_classifier_laplace_predicts_probabilities():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    y = (x[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(np.int64) + (x[:, 1] > 1)
    model = pb.BayesianMLP(2, 3, hidden=(4,), likelihood=pb.Categorical())
    post = pb.fit_svi(model, x, y, guide="laplace", num_steps=300, progress=False,
                      check_convergence=False)  # fmt: skip
    pred = pb.predict(post, x[:5], num_draws=100)
    assert pred.probs.shape == (5, 3)
    np.testing.assert_allclose(pred.probs.sum(1), 1, atol=1e-6)
    assert (pred.mutual_information >= 0).all()
