"""ArviZ InferenceData, the summary table and LOO comparison (pyro_bnn.workflow).

Most posteriors here are built from known draws (no sampling), so the tests are fast and
the expected numbers are computed independently (a Normal log density, ArviZ's summary).
"""

import sys
import warnings

import numpy as np
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.data import Standardizer
from pyro_bnn.workflow import ParetoKWarning, _pareto_note

az = pytest.importorskip("arviz")

NUM_CHAINS, NUM_DRAWS, NUM_POINTS = 2, 60, 25


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(NUM_POINTS, 2))
    y = 10.0 + 3.0 * (x @ np.array([1.0, -0.5])) + 0.6 * rng.normal(size=NUM_POINTS)
    return x, y


def _linear_posterior(x, y, weight=(1.0, -0.5), spread=0.05, seed=0, stats=True):
    """A NUTS-like posterior of a linear BayesianMLP on standardized data, from known draws."""
    rng = np.random.default_rng(seed)
    scaler = Standardizer.fit(x, y, task="regression", standardize_y=True)
    total = NUM_CHAINS * NUM_DRAWS
    noise = lambda *shape: torch.tensor(rng.normal(size=shape) * spread, dtype=torch.float32)  # noqa: E731
    samples = {
        "layers.0.weight": torch.tensor([[weight]], dtype=torch.float32) + noise(total, 1, 2),
        "layers.0.bias": noise(total, 1),
        "sigma": (0.2 + noise(total).abs()),
    }
    sample_stats = None
    if stats:
        sample_stats = {
            "diverging": torch.zeros(NUM_CHAINS, NUM_DRAWS, dtype=torch.bool),
            "tree_depth": torch.full((NUM_CHAINS, NUM_DRAWS), 3),
            "n_steps": torch.full((NUM_CHAINS, NUM_DRAWS), 7),
            "energy": torch.randn(NUM_CHAINS, NUM_DRAWS, dtype=torch.float64),
            "step_size": torch.full((NUM_CHAINS, NUM_DRAWS), 0.1, dtype=torch.float64),
            "lp": torch.randn(NUM_CHAINS, NUM_DRAWS, dtype=torch.float64),
            "acceptance_rate": torch.rand(NUM_CHAINS, NUM_DRAWS, dtype=torch.float64),
        }
    post = pb.Posterior(
        pb.BayesianMLP(2, 1, hidden=()),
        "nuts",
        samples=samples,
        num_chains=NUM_CHAINS,
        scaler=scaler,
        sample_stats=sample_stats,
    )
    post.training_data = (x, y)
    return post


def test_inference_data_has_every_group_with_chain_and_draw_dims():
    x, y = _data()
    idata = _linear_posterior(x, y).to_inference_data(posterior_predictive=True)
    assert set(idata.groups()) == {
        "posterior",
        "sample_stats",
        "log_likelihood",
        "observed_data",
        "constant_data",
        "posterior_predictive",
    }
    assert idata.posterior["layers.0.weight"].shape == (NUM_CHAINS, NUM_DRAWS, 1, 2)
    assert idata.posterior["sigma"].dims[:2] == ("chain", "draw")
    assert idata.log_likelihood["obs"].shape == (NUM_CHAINS, NUM_DRAWS, NUM_POINTS)
    assert idata.posterior_predictive["obs"].shape == (NUM_CHAINS, NUM_DRAWS, NUM_POINTS)
    np.testing.assert_allclose(idata.observed_data["obs"].values, y)
    np.testing.assert_allclose(idata.constant_data["x"].values, x)
    for name in pb.inference.mcmc.SAMPLE_STATS:
        assert idata.sample_stats[name].shape == (NUM_CHAINS, NUM_DRAWS)
    # replicates are in the data's units (around 10, spread ~3), not standardized ones
    replicated = idata.posterior_predictive["obs"].values
    assert abs(replicated.mean() - y.mean()) < 1.0 and replicated.std() > 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's Pareto-k note on these made-up draws
        assert az.loo(idata).elpd_loo < 0  # ArviZ finds the log-likelihood


def test_log_likelihood_is_pointwise_and_in_the_datas_units():
    x, y = _data()
    post = _linear_posterior(x, y)
    log_likelihood = post.to_inference_data().log_likelihood["obs"].values.reshape(-1, NUM_POINTS)
    scaler = post.scaler
    xs = (x - scaler.x_mean) / scaler.x_std
    draws = {k: v.double().numpy() for k, v in post.draws.items()}
    mean_std = np.einsum("nd,sd->sn", xs, draws["layers.0.weight"][:, 0]) + draws["layers.0.bias"]
    mean = mean_std * scaler.y_std + scaler.y_mean
    scale = draws["sigma"][:, None] * scaler.y_std
    expected = -0.5 * ((y - mean) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(log_likelihood, expected, rtol=1e-4, atol=1e-4)


def test_data_defaults_to_the_fits_and_a_loaded_posterior_asks_for_it(tmp_path):
    x, y = _data()
    post = _linear_posterior(x, y)
    post.save(tmp_path / "p.pt")
    loaded = pb.Posterior.load(tmp_path / "p.pt")
    assert loaded.training_data is None  # data is not written into the file
    for name, value in post.sample_stats.items():  # the sampler statistics are
        torch.testing.assert_close(loaded.sample_stats[name], value)
    with pytest.raises(ValueError, match=r"does not know its data.*pass it"):
        loaded.to_inference_data()
    with pytest.raises(ValueError, match="pass both x and y"):
        loaded.to_inference_data(x)
    given = loaded.to_inference_data(x, y).log_likelihood["obs"].values
    np.testing.assert_allclose(given, post.to_inference_data().log_likelihood["obs"].values)


def test_an_svi_posterior_is_one_chain_of_guide_draws(gap_data):
    x, y = gap_data
    post = pb.fit_svi(
        pb.BayesianMLP(1, 1, hidden=(3,)), x, y, num_steps=20, progress=False,
        check_collapse=False, check_convergence=False,
    )  # fmt: skip
    idata = post.to_inference_data()  # the data the fit saw, kept in memory
    assert idata.posterior["sigma"].shape == (1, post.default_num_draws)
    assert idata.log_likelihood["obs"].shape == (1, post.default_num_draws, len(x))
    assert "sample_stats" not in idata.groups()
    np.testing.assert_allclose(idata.observed_data["obs"].values, np.asarray(y).reshape(-1))


@pytest.mark.parametrize("fit", ["fit_map", "fit_swag", "fit_mc_dropout", "fit_ensemble"])
def test_every_baseline_keeps_its_training_data_for_loo(fit, gap_data):
    from pyro_bnn import baselines

    x, y = gap_data
    kwargs = {"fit_map": {}, "fit_swag": {"num_draws": 5}, "fit_mc_dropout": {},
              "fit_ensemble": {"num_members": 2}}[fit]  # fmt: skip
    post = getattr(baselines, fit)(
        pb.BayesianMLP(1, 1, hidden=(3,)), x, y, num_epochs=2, progress=False, **kwargs
    )
    kept_x, kept_y = post.training_data
    np.testing.assert_allclose(kept_x.numpy(), np.asarray(x, dtype=np.float32).reshape(len(x), -1))
    np.testing.assert_allclose(kept_y.numpy(), np.asarray(y, dtype=np.float32))


def test_without_arviz_the_error_says_how_to_install_it(monkeypatch):
    x, y = _data()
    post = _linear_posterior(x, y)
    monkeypatch.setitem(sys.modules, "arviz", None)  # import arviz now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "pyro-bnn\[arviz\]"'):
        post.to_inference_data()
    with pytest.raises(ImportError, match=r'pip install "pyro-bnn\[arviz\]"'):
        pb.compare({"a": post, "b": post})
    assert list(post.summary().columns)[0] == "mean"  # the summary needs no ArviZ


@pytest.mark.parametrize("num_chains", [1, 4])
def test_summary_equals_arvizs_on_the_same_draws(num_chains):
    rng = np.random.default_rng(num_chains)
    walk = rng.normal(size=(num_chains * 150, 3, 2)).cumsum(0) * 0.05
    samples = {
        "layers.0.weight": torch.tensor(walk + rng.normal(size=walk.shape)),
        "layers.0.bias": torch.tensor(rng.normal(size=(num_chains * 150, 3))),
        "layers.1.weight": torch.tensor(rng.normal(size=(num_chains * 150, 1, 3))),
        "layers.1.bias": torch.tensor(rng.normal(size=(num_chains * 150, 1))),
        "sigma": torch.tensor(rng.gamma(2.0, size=num_chains * 150)),
    }
    model = pb.BayesianMLP(2, 1, hidden=(3,))
    post = pb.Posterior(model, "nuts", samples=samples, num_chains=num_chains)
    ours = post.summary()
    theirs = az.summary(az.from_dict(**post.to_arviz_dict()), round_to="none")
    assert list(ours.index) == list(theirs.index)
    assert "sigma" in ours.index and "layers.0.weight[0, 1]" in ours.index
    assert list(ours.columns) == [
        "mean", "sd", "hdi_3%", "hdi_97%", "mcse_mean", "ess_bulk", "ess_tail", "r_hat",
    ]  # fmt: skip
    theirs = theirs[ours.columns]
    np.testing.assert_allclose(
        ours[["ess_bulk", "ess_tail"]], theirs[["ess_bulk", "ess_tail"]], atol=1
    )
    np.testing.assert_allclose(ours["r_hat"], theirs["r_hat"], atol=1e-3)  # NaN for 1 chain
    columns = ["mean", "sd", "hdi_3%", "hdi_97%", "mcse_mean"]
    np.testing.assert_allclose(ours[columns], theirs[columns], rtol=1e-6, atol=1e-9)
    if num_chains == 4:
        assert ours.loc["layers.0.weight[0, 0]", "r_hat"] > 1.01  # the random walk


def test_compare_ranks_the_better_model_first_and_explains_pareto_k():
    x, y = _data()
    good = _linear_posterior(x, y)
    wrong = _linear_posterior(x, y, weight=(0.2, 0.3), seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParetoKWarning)
        table = pb.compare({"wrong": wrong, "good": good})
    assert list(table.index) == ["good", "wrong"]
    assert (
        table.loc["good", "rank"] == 0
        and table.loc["good", "elpd_loo"] > table.loc["wrong", "elpd_loo"]
    )
    assert set(table.attrs["pareto_k"]) == {"good", "wrong"}
    assert {"n", "bad", "very_bad", "limit", "points"} <= set(table.attrs["pareto_k"]["good"])
    assert table.attrs["pareto_k"]["good"]["n"] == NUM_POINTS
    assert isinstance(table.attrs["note"], str) and "Pareto k" in table.attrs["note"]


def test_pareto_note_says_how_many_what_it_means_and_what_to_do():
    counts = {"n": 40, "bad": 3, "very_bad": 1, "limit": 0.7, "points": [1, 5, 9]}
    note = _pareto_note({"wide": counts, "small": {**counts, "bad": 0, "very_bad": 0}})
    assert "'wide': 3 of 40 points have Pareto k > 0.70 (1 above 1)" in note
    assert "unreliable" in note and "K-fold" in note and "'small'" not in note
    assert "reliable for every model" in _pareto_note({"small": {**counts, "bad": 0}})


def test_compare_warns_when_some_pareto_k_are_high():
    x, y = _data()
    y = y.copy()
    y[3] += 40.0  # an outlier that the narrow-noise draws cannot explain
    post = _linear_posterior(x, y, spread=0.3)
    with pytest.warns(ParetoKWarning, match="Pareto k"):
        table = pb.compare({"a": post, "b": _linear_posterior(x, y, spread=0.3, seed=2)})
    assert 3 in table.attrs["pareto_k"]["a"]["points"]


def test_compare_refuses_fits_of_different_data():
    x, y = _data()
    other_x, other_y = _data(seed=1)
    with pytest.raises(ValueError, match="different data.*compare\\(posteriors, x, y\\)"):
        pb.compare({"a": _linear_posterior(x, y), "b": _linear_posterior(other_x, other_y)})
    with pytest.raises(ValueError, match="at least two posteriors"):
        pb.compare({"a": _linear_posterior(x, y)})
