import warnings

import numpy as np
import pytest
import torch

import pyro_bnn as pb


@pytest.mark.parametrize("guide", ["normal", "lowrank", "mvn", "delta"])
@pytest.mark.slow
def test_svi_save_load_predict_identical(tmp_path, gap_data, guide):
    x, y = gap_data
    post = pb.fit_svi(
        pb.BayesianMLP(1, 1, hidden=(4,)), x, y, guide=guide, num_steps=30, progress=False
    )
    path = tmp_path / "post.pt"
    post.save(path)
    loaded = pb.Posterior.load(path)
    assert loaded.method == "svi" and loaded.guide_type == guide
    assert loaded.diagnostics["elbo"] == post.diagnostics["elbo"]
    a, b = (
        pb.predict(post, x[:7], num_draws=50, seed=2),
        pb.predict(loaded, x[:7], num_draws=50, seed=2),
    )
    torch.testing.assert_close(a.mean, b.mean, rtol=0, atol=0)
    torch.testing.assert_close(a.epistemic_var, b.epistemic_var, rtol=0, atol=0)


def test_mcmc_save_load_keeps_draws_and_chains(tmp_path, linear_oracle):
    o = linear_oracle
    post = pb.fit_nuts(
        o.model(),
        o.x,
        o.y,
        standardize=False,
        num_samples=20,
        warmup_steps=20,
        num_chains=2,
        progress=False,
    )
    post.save(tmp_path / "nuts.pt")
    loaded = pb.Posterior.load(tmp_path / "nuts.pt")
    for name, value in post.draws.items():
        torch.testing.assert_close(loaded.draws[name], value, rtol=0, atol=0)
    assert loaded.chains()["layers.0.bias"].shape == (2, 20, 1)
    assert loaded.sample(10)["layers.0.bias"].shape == (10, 1)  # thinning


@pytest.mark.slow
def test_svi_draw_counts_and_seeds(gap_data):
    x, y = gap_data
    post = pb.fit_svi(pb.BayesianMLP(1, 1, hidden=(3,)), x, y, num_steps=10, progress=False)
    assert post.num_draws == 1000
    assert post.sample(37)["sigma"].shape == (37,)
    torch.testing.assert_close(post.sample(5, seed=1)["sigma"], post.sample(5, seed=1)["sigma"])
    assert not torch.equal(post.sample(5, seed=1)["sigma"], post.sample(5, seed=2)["sigma"])


@pytest.mark.slow
def test_corrupt_and_foreign_files_give_clear_errors(tmp_path, gap_data):
    x, y = gap_data
    post = pb.fit_svi(pb.BayesianMLP(1, 1, hidden=(3,)), x, y, num_steps=5, progress=False)
    good = tmp_path / "good.pt"
    post.save(good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(ValueError, match="truncated.pt is not a readable pyro_bnn posterior file"):
        pb.Posterior.load(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="foreign.pt is not a pyro_bnn posterior file"):
        pb.Posterior.load(foreign)
    with pytest.raises(ValueError, match="does not exist"):
        pb.Posterior.load(tmp_path / "missing.pt")


def test_save_is_atomic(tmp_path, gap_data, monkeypatch):
    x, y = gap_data
    post = pb.fit_svi(pb.BayesianMLP(1, 1, hidden=(3,)), x, y, num_steps=5, progress=False)
    path = tmp_path / "post.pt"
    post.save(path)
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        post.save(path)
    assert path.read_bytes() == before  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["post.pt"]  # no temp file left


def test_user_model_posterior_needs_the_model_to_load(tmp_path):
    import pyro
    import pyro.distributions as dist

    def model(x, y=None):
        loc = pyro.sample("loc", dist.Normal(0.0, 1.0))
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("obs", dist.Normal(loc, 1.0), obs=y)

    post = pb.fit_svi(model, np.zeros((5, 1)), np.ones(5), num_steps=5, progress=False)
    post.save(tmp_path / "user.pt")
    with pytest.raises(ValueError, match="pass it: Posterior.load"):
        pb.Posterior.load(tmp_path / "user.pt")
    loaded = pb.Posterior.load(tmp_path / "user.pt", model=model)
    assert loaded.draws["loc"].shape == (1000,)


def test_arviz_dict_groups_chains(linear_oracle):
    o = linear_oracle
    post = pb.fit_nuts(
        o.model(),
        o.x,
        o.y,
        standardize=False,
        num_samples=10,
        warmup_steps=10,
        num_chains=2,
        progress=False,
    )
    data = post.to_arviz_dict()["posterior"]
    assert data["layers.0.weight"].shape == (2, 10, 1, 2)


def test_saved_file_has_the_usual_permissions(tmp_path, gap_data):
    import os

    x, y = gap_data
    post = pb.fit_svi(pb.BayesianMLP(1, 1, hidden=(3,)), x, y, num_steps=5, progress=False)
    post.save(tmp_path / "post.pt")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "post.pt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_fixed_draws_keep_their_method_name(tmp_path):
    """A baseline's draws are held under its own name, survive save/load, and predict."""
    model = pb.BayesianMLP(1, 1, hidden=(3,))
    with warnings.catch_warnings():  # 5 draws: convergence warnings are expected
        warnings.simplefilter("ignore", pb.ConvergenceWarning)
        nuts = pb.fit_nuts(
            model, [[0.0], [1.0]], [0.0, 1.0], num_samples=5, warmup_steps=5, progress=False
        )
    draws = nuts.draws  # in standardized units: the scaler goes with them
    swag = pb.Posterior(model, "swag", samples=draws, scaler=nuts.scaler)
    assert swag.method == "swag" and "swag, 5 draws" in repr(swag)
    swag.save(tmp_path / "swag.pt")
    loaded = pb.Posterior.load(tmp_path / "swag.pt")
    assert loaded.method == "swag"
    torch.testing.assert_close(pb.predict(loaded, [[0.5]]).mean, pb.predict(swag, [[0.5]]).mean)
    with pytest.raises(ValueError, match="holds fixed draws: pass samples"):
        pb.Posterior(model, "swag", guide=object())
    with pytest.raises(ValueError, match="method must be a non-empty string"):
        pb.Posterior(model, "", samples=draws)
