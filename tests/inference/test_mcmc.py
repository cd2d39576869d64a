"""fit_nuts against exact posteriors and against the full-rank variational fit."""

import warnings

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.inference.flat import FlatModel
from pyro_bnn.inference.mcmc import SAMPLE_STATS, ConvergenceWarning


@pytest.mark.parametrize("sampler", ["lean", "pyro"])
@pytest.mark.slow
def test_nuts_matches_exact_linear_regression_posterior(linear_oracle, sampler):
    o = linear_oracle
    post = pb.fit_nuts(
        o.model(),
        o.x,
        o.y,
        standardize=False,
        num_samples=1000,
        warmup_steps=300,
        progress=False,
        sampler=sampler,
    )
    assert post.diagnostics["chains"][0]["sampler"] == sampler
    draws = o.stack(post.draws).numpy()
    ess = min(site["ess_min"] for site in post.diagnostics["sites"].values())
    sd = np.sqrt(np.diag(o.cov))
    # 4 Monte Carlo standard errors for the mean, and for the variance (sd of a
    # variance estimate from n effective draws is var * sqrt(2 / n))
    np.testing.assert_array_less(np.abs(draws.mean(0) - o.mean), 4 * sd / np.sqrt(ess))
    np.testing.assert_array_less(np.abs(draws.var(0) / np.diag(o.cov) - 1), 4 * np.sqrt(2 / ess))
    corr = np.corrcoef(draws.T)
    true_corr = o.cov / np.outer(sd, sd)
    np.testing.assert_allclose(corr, true_corr, atol=4 / np.sqrt(ess))
    assert post.diagnostics["divergences"] == 0
    assert post.diagnostics["chains"][0]["mean_tree_depth"] > 0


@pytest.mark.slow
def test_logistic_regression_nuts_and_full_rank_svi_agree():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 2))
    y = (rng.uniform(size=60) < 1 / (1 + np.exp(-(1.5 * x[:, 0] - x[:, 1])))).astype(int)

    def make():
        return pb.BayesianMLP(2, 1, hidden=(), prior=pb.IIDNormal(1.0), likelihood=pb.Bernoulli())

    nuts = pb.fit_nuts(make(), x, y, num_samples=800, warmup_steps=300, progress=False)
    svi = pb.fit_svi(
        make(), x, y, guide="mvn", num_steps=3000, lr=0.02, num_particles=4, progress=False
    )
    x_new = np.array([[0.0, 0.0], [1.0, -1.0], [-2.0, 0.5], [4.0, 4.0]])
    p_nuts = pb.predict(nuts, x_new).probs[:, 1]  # numpy in, numpy out
    p_svi = pb.predict(svi, x_new, num_draws=4000).probs[:, 1]
    # the posterior is nearly Gaussian with 60 points: a full-rank Gaussian agrees closely
    np.testing.assert_allclose(p_nuts, p_svi, atol=0.03)


def test_chains_rhat_and_seeding(linear_oracle):
    o = linear_oracle
    post = pb.fit_nuts(
        o.model(),
        o.x,
        o.y,
        standardize=False,
        num_samples=200,
        warmup_steps=100,
        num_chains=2,
        progress=False,
        seed=3,
    )
    assert post.num_chains == 2
    assert post.chains()["layers.0.weight"].shape == (2, 200, 1, 2)
    assert post.draws["layers.0.weight"].shape == (400, 1, 2)
    for site in post.diagnostics["sites"].values():
        assert site["r_hat_max"] < 1.05
    again = pb.fit_nuts(
        o.model(),
        o.x,
        o.y,
        standardize=False,
        num_samples=200,
        warmup_steps=100,
        num_chains=2,
        progress=False,
        seed=3,
    )
    torch.testing.assert_close(post.draws["layers.0.bias"], again.draws["layers.0.bias"])


def test_flat_potential_equals_pyro_model_potential(gap_data):
    """The fast path's log joint equals the Pyro model's, with Jacobians, at random points."""
    from pyro.infer.mcmc.util import initialize_model

    x, y = (torch.as_tensor(a) for a in gap_data)
    for prior in (pb.LayerwiseNormal(), pb.HierarchicalNormal()):
        model = pb.BayesianMLP(1, 1, hidden=(6,), prior=prior)
        flat = FlatModel(model, x, y)
        _, potential_fn, transforms, _ = initialize_model(model, model_args=(x, y))
        for seed in range(3):
            z = torch.randn(flat.dim, generator=torch.Generator().manual_seed(seed)) * 0.5
            z.requires_grad_(True)
            params = {
                name: chunk.reshape(shape)
                for name, shape, chunk in zip(
                    flat.names, flat.shapes, z.split(flat.sizes), strict=True
                )
            }
            ours = flat.potential({"z": z})
            theirs = potential_fn(params)
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-4)
            grad_ours = torch.autograd.grad(ours, z)[0]
            grad_theirs = torch.autograd.grad(theirs, z)[0]
            torch.testing.assert_close(grad_ours, grad_theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_user_written_model_uses_pyro_nuts():
    def model(x, y=None):
        loc = pyro.sample("loc", dist.Normal(0.0, 10.0))
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("obs", dist.Normal(loc, 1.0), obs=y)

    rng = np.random.default_rng(0)
    y = 2.0 + rng.normal(size=50)
    x = np.zeros((50, 1))
    post = pb.fit_nuts(model, x, y, num_samples=400, warmup_steps=200, progress=False)
    exact_mean = y.sum() / (50 + 1 / 100)
    ess = post.diagnostics["sites"]["loc"]["ess_min"]
    assert abs(float(post.draws["loc"].mean()) - exact_mean) < 4 / np.sqrt(50 * ess)


def test_short_chain_warns_in_plain_words(gap_data):
    x, y = gap_data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        post = pb.fit_nuts(
            pb.BayesianMLP(1, 1, hidden=(5,)),
            x,
            y,
            num_samples=10,
            warmup_steps=5,
            progress=False,
            init="prior",
        )
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    words = ("R-hat", "divergent", "ESS", "E-BFMI")
    assert messages and all(any(word in m for word in words) for m in messages)
    assert any("R-hat of the predictions" in m or "ESS of the predictions" in m for m in messages)
    assert post.diagnostics["warnings"] == messages


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_samples": 0}, "num_samples must be a positive integer"),
        ({"warmup_steps": -1}, "warmup_steps must be a non-negative integer"),
        ({"num_chains": 1.5}, "num_chains must be a positive integer"),
        ({"target_accept_prob": 1.0}, r"target_accept_prob must be in \(0, 1\)"),
        ({"init": "zeros"}, "init must be 'map', 'prior' or a dict"),
        ({"sampler": "hmc"}, "sampler must be 'auto', 'lean' or 'pyro'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pb.fit_nuts(pb.BayesianMLP(1, 1, hidden=()), [[0.0]], [0.0], progress=False, **kwargs)


@pytest.mark.slow
def test_parallel_chains_equal_sequential_chains(linear_oracle):
    """Chains in worker processes give the same draws as in this process (same seeds)."""
    o = linear_oracle
    runs = [
        pb.fit_nuts(
            o.model(),
            o.x,
            o.y,
            standardize=False,
            num_samples=50,
            warmup_steps=50,
            num_chains=2,
            seed=5,
            progress=False,
            parallel_chains=parallel,
        )
        for parallel in (False, True)
    ]
    for name in runs[0].draws:
        torch.testing.assert_close(runs[0].draws[name], runs[1].draws[name])
    assert runs[1].diagnostics["failed_chains"] == []


def test_a_single_draw_is_a_valid_fit(gap_data):
    """One draw per chain has no ESS or R-hat to estimate: reported as unknown (None)."""
    x, y = gap_data
    post = pb.fit_nuts(
        pb.BayesianMLP(1, 1, hidden=(3,)), x, y, num_samples=1, warmup_steps=2, progress=False
    )
    assert post.draws["sigma"].shape == (1,)
    for site in post.diagnostics["sites"].values():
        assert site["ess_min"] is None and site["r_hat_max"] is None  # unknown, not 0 / 1.0


@pytest.mark.filterwarnings("ignore::pyro_bnn.ConvergenceWarning")
def test_sampler_statistics_are_kept_per_draw(tmp_path, linear_oracle):
    o = linear_oracle
    post = pb.fit_nuts(
        o.model(), o.x, o.y, standardize=False, num_samples=200, warmup_steps=150,
        num_chains=2, progress=False,
    )  # fmt: skip
    stats = post.sample_stats
    assert set(stats) == set(SAMPLE_STATS)
    assert all(value.shape == (2, 200) for value in stats.values())
    assert int(stats["diverging"].sum()) == post.diagnostics["divergences"]
    # d completed doublings: 2**d - 1 leapfrog steps, plus part of a rejected last subtree
    depth, steps = stats["tree_depth"], stats["n_steps"]
    assert ((2**depth - 1 <= steps) & (steps <= 2 ** (depth + 1) - 1)).all()
    assert ((stats["acceptance_rate"] >= 0) & (stats["acceptance_rate"] <= 1)).all()
    assert (stats["energy"] >= -stats["lp"]).all()  # H = -log density + kinetic >= -lp
    assert len(post.diagnostics["e_bfmi"]) == 2 and min(post.diagnostics["e_bfmi"]) > 0.3
    assert post.diagnostics["function_space"]["r_hat_max"] < 1.05
    assert len(post.diagnostics["function_space"]["rows"]) == 10
    assert post.training_data is not None and post.training_data[0].shape == o.x.shape


def test_pyro_nuts_of_a_user_model_records_statistics_too():
    def model(x, y=None):
        loc = pyro.sample("loc", dist.Normal(0.0, 10.0))
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("obs", dist.Normal(loc, 1.0), obs=y)

    y = 2.0 + np.random.default_rng(0).normal(size=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        post = pb.fit_nuts(
            model, np.zeros((30, 1)), y, num_samples=40, warmup_steps=30, progress=False
        )
    stats = post.sample_stats
    assert all(stats[name].shape == (1, 40) for name in SAMPLE_STATS)
    assert torch.isfinite(stats["lp"]).all() and torch.isfinite(stats["energy"]).all()
    assert (stats["step_size"] == stats["step_size"][0, 0]).all()  # fixed after warm-up
    assert ((stats["acceptance_rate"] > -1e-9) & (stats["acceptance_rate"] < 1 + 1e-9)).all()
    assert (stats["n_steps"] >= 1).all()
    mean_depth = post.diagnostics["chains"][0]["mean_tree_depth"]
    assert mean_depth == pytest.approx(float(stats["tree_depth"].double().mean()))
    function = post.diagnostics["function_space"]  # the observed site's mean per draw
    assert function["r_hat_max"] is not None and function["ess_bulk_min"] > 0
