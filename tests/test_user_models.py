"""A user's own Pyro model (function or PyroModule, own guide): fit, predict, save, load."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import JitTrace_ELBO, Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.autoguide import AutoDelta, AutoLowRankMultivariateNormal, AutoNormal
from pyro.nn import PyroModule, PyroSample

import pyro_bnn as pb

NOISE = 0.5


def slope_model(x, y=None):
    """y = slope * x + N(0, 0.5^2), slope ~ N(0, 1): a closed-form posterior."""
    slope = pyro.sample("slope", dist.Normal(0.0, 1.0))
    with pyro.plate("data", x.shape[0]):
        return pyro.sample("obs", dist.Normal(slope * x[:, 0], NOISE), obs=y)


@pytest.fixture
def slope_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 1))
    y = 0.8 * x[:, 0] + NOISE * rng.normal(size=40)
    precision = (x[:, 0] ** 2).sum() / NOISE**2 + 1
    return x, y, (x[:, 0] @ y / NOISE**2) / precision, 1 / precision


class TutorialBNN(PyroModule):
    """A BNN written the way Pyro's tutorials write one (F.linear layers, PyroSample)."""

    def __init__(self, hidden=5):
        super().__init__()
        self.fc1 = PyroModule[torch.nn.Linear](1, hidden)
        self.fc1.weight = PyroSample(dist.Normal(0.0, 1.0).expand([hidden, 1]).to_event(2))
        self.fc1.bias = PyroSample(dist.Normal(0.0, 1.0).expand([hidden]).to_event(1))
        self.fc2 = PyroModule[torch.nn.Linear](hidden, 1)
        self.fc2.weight = PyroSample(dist.Normal(0.0, 1.0).expand([1, hidden]).to_event(2))
        self.fc2.bias = PyroSample(dist.Normal(0.0, 1.0).expand([1]).to_event(1))
        self.shift = torch.nn.Parameter(torch.tensor(0.0))  # a plain parameter, learned too

    def forward(self, x, y=None):
        mean = self.fc2(torch.tanh(self.fc1(x))).squeeze(-1) + self.shift
        noise = pyro.param("noise", torch.tensor(1.0), constraint=dist.constraints.positive)
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("obs", dist.Normal(mean, noise), obs=y)


@pytest.fixture
def wave():
    x = torch.linspace(-2, 2, 60)[:, None]
    y = torch.sin(2 * x[:, 0]) + 0.2 * torch.randn(60, generator=torch.Generator().manual_seed(0))
    return x, y


@pytest.mark.slow
def test_nuts_on_a_function_model_matches_the_exact_posterior_and_the_split(slope_data):
    x, y, mean, var = slope_data
    post = pb.fit_nuts(slope_model, x, y, num_samples=1500, warmup_steps=300, progress=False)
    slope = post.draws["slope"].double()
    # Monte Carlo error with an effective sample size of at least ~300 draws
    assert float(slope.mean()) == pytest.approx(mean, abs=4 * math.sqrt(var / 300))
    assert float(slope.var()) == pytest.approx(var, rel=0.3)
    x_new = np.array([[1.0], [-2.0], [3.0]])
    pred = pb.predict(post, x_new)
    assert isinstance(pred, pb.RegressionPrediction) and isinstance(pred.mean, np.ndarray)
    # the split from the observed Normal per draw, against the draws computed by hand
    slope = slope.numpy()
    np.testing.assert_allclose(pred.epistemic_var, x_new[:, 0] ** 2 * slope.var(), rtol=1e-4)
    np.testing.assert_allclose(pred.aleatoric_var, NOISE**2, rtol=1e-5)
    np.testing.assert_allclose(pred.mean, x_new[:, 0] * slope.mean(), rtol=1e-4, atol=1e-5)
    low, high = pred.interval(0.9)
    assert np.all(low < pred.mean) and np.all(pred.mean < high)


@pytest.mark.slow
def test_autoguide_instance_plain_params_and_save_load(wave, tmp_path):
    x, y = wave
    model = TutorialBNN()
    guide = AutoLowRankMultivariateNormal(model, rank=2)
    post = pb.fit_svi(model, x, y, guide=guide, num_steps=400, progress=False, lr=0.02)
    assert set(post.draws) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert post.draws["fc1.weight"].shape == (1000, 5, 1)
    assert "noise" in post.params and float(post.params["noise"]) < 0.8  # learned
    assert float(post.model.shift) != 0.0  # the plain parameter was trained
    assert float(model.shift) == 0.0  # ... in the posterior's copy, not in the user's model
    pred = pb.predict(post, x[:7], return_sites=["fc1.bias"])
    assert pred.sites["fc1.bias"].shape == (1000, 5)
    torch.testing.assert_close(pred.aleatoric_std, torch.full((7,), float(post.params["noise"])))
    post.save(tmp_path / "post.pt")
    loaded = pb.Posterior.load(
        tmp_path / "post.pt",
        model=TutorialBNN(),
        guide=AutoLowRankMultivariateNormal(model, rank=2),
    )
    again = pb.predict(loaded, x[:7])
    torch.testing.assert_close(again.mean, pred.mean)
    torch.testing.assert_close(again.std, pred.std)
    with pytest.raises(ValueError, match="fitted with your own guide"):
        pb.Posterior.load(tmp_path / "post.pt", model=TutorialBNN())
    with pytest.raises(ValueError, match="does not fit the"):
        pb.Posterior.load(
            tmp_path / "post.pt",
            model=TutorialBNN(hidden=3),
            guide=AutoLowRankMultivariateNormal(TutorialBNN(hidden=3), rank=2),
        )


@pytest.mark.slow
def test_loss_optim_and_guide_function_pass_through(slope_data):
    x, y, mean, var = slope_data

    def guide(x, y=None):
        loc = pyro.param("loc", torch.tensor(0.0))
        scale = pyro.param("scale", torch.tensor(1.0), constraint=dist.constraints.positive)
        pyro.sample("slope", dist.Normal(loc, scale))

    post = pb.fit_svi(
        slope_model,
        x,
        y,
        guide=guide,
        optim=pyro.optim.Adam({"lr": 0.05}),
        loss=TraceMeanField_ELBO(num_particles=4),
        num_steps=1500,
        progress=False,
    )
    assert float(post.params["loc"]) == pytest.approx(mean, abs=0.05)
    assert float(post.params["scale"]) == pytest.approx(math.sqrt(var), rel=0.25)
    with pytest.raises(ValueError, match="with optim=... leave them"):
        pb.fit_svi(slope_model, x, y, optim=pyro.optim.Adam({"lr": 0.05}), lr=0.1)
    with pytest.raises(ValueError, match="set the particles in the loss"):
        pb.fit_svi(slope_model, x, y, loss=Trace_ELBO(), num_particles=4)
    with pytest.raises(TypeError, match="optim must be a pyro.optim optimiser"):
        pb.fit_svi(slope_model, x, y, optim=torch.optim.Adam)
    with pytest.raises(TypeError, match="guide must be one of"):
        pb.fit_svi(slope_model, x, y, guide=42)


@pytest.mark.filterwarnings("ignore:`torch.jit.trace` is deprecated:DeprecationWarning")
def test_jit_compiled_elbo_on_a_user_model_matches_the_exact_posterior(slope_data):
    x, y, mean, var = slope_data
    loss = JitTrace_ELBO(ignore_jit_warnings=True)
    post = pb.fit_svi(slope_model, x, y, loss=loss, num_steps=1500, lr=0.05, progress=False)
    slope = post.draws["slope"].double()
    assert float(slope.mean()) == pytest.approx(mean, abs=0.05)
    assert float(slope.std()) == pytest.approx(math.sqrt(var), rel=0.25)


def negated_slope_model(x, y=None):
    """``slope_model`` with the sign of the slope flipped: posterior mean ``-mean``."""
    slope = pyro.sample("slope", dist.Normal(0.0, 1.0))
    with pyro.plate("data", x.shape[0]):
        return pyro.sample("obs", dist.Normal(-slope * x[:, 0], NOISE), obs=y)


def test_one_compiled_loss_object_for_two_models_fits_each_its_own(slope_data):
    """Pyro's JitTrace_ELBO keeps a closure over the first model and guide it compiled:
    passed to a second fit_svi it used to fit the first model again (and train the first
    posterior's guide in place). Each fit now compiles its own copy."""
    x, y, mean, _ = slope_data
    loss = JitTrace_ELBO(ignore_jit_warnings=True)
    settings = dict(num_steps=600, lr=0.05, progress=False, seed=0)
    first = pb.fit_svi(slope_model, x, y, loss=loss, **settings)
    first_slope = float(first.draws["slope"].mean())
    second = pb.fit_svi(negated_slope_model, x, y, loss=loss, **settings)
    assert float(second.draws["slope"].mean()) == pytest.approx(-mean, abs=0.05)
    assert float(first.draws["slope"].mean()) == first_slope  # the first fit is untouched
    assert getattr(loss, "_loss_and_surrogate_loss", None) is None  # the user's object too


def test_draws_hold_latent_sites_only(slope_data):
    x, y, _, _ = slope_data

    def model(x, y=None):
        scale = pyro.sample("scale", dist.HalfNormal(1.0))
        slope = pyro.sample("slope", dist.Normal(0.0, scale))
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("obs", dist.Normal(slope * x[:, 0], NOISE), obs=y)

    for guide in ("mvn", AutoNormal(model), AutoDelta(model)):
        post = pb.fit_svi(model, x, y, guide=guide, num_steps=50, progress=False)
        assert set(post.draws) == {"scale", "slope"}


@pytest.mark.slow
def test_classification_with_subsampling_plate_and_own_obs_name():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(150, 2, generator=generator)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()

    def model(x, y=None):
        w = pyro.sample("w", dist.Normal(torch.zeros(2, 3), 3.0).to_event(2))
        b = pyro.sample("b", dist.Normal(torch.zeros(3), 3.0).to_event(1))
        with pyro.plate("rows", x.shape[0], subsample_size=32) as rows:
            logits = pyro.deterministic("logits", x[rows] @ w + b.unsqueeze(-2), event_dim=1)
            label = None if y is None else y[rows]
            pyro.sample("label", dist.Categorical(logits=logits), obs=label)

    with pytest.raises(ValueError, match="no observed site 'obs'.*'label'"):
        pb.fit_svi(model, x, y, num_steps=5, progress=False)
    post = pb.fit_svi(model, x, y, obs_site="label", num_steps=1500, progress=False, lr=0.05)
    pred = pb.predict(post, x, num_draws=200, return_sites=["logits"])
    assert isinstance(pred, pb.ClassificationPrediction)
    assert pred.probs.shape == (150, 3)  # every row, although the plate subsamples 32
    torch.testing.assert_close(pred.probs.sum(-1), torch.ones(150))
    assert pred.sites["logits"].shape == (200, 150, 3)
    # the per-draw probabilities agree with the logits returned for the same rows
    torch.testing.assert_close(pred.probs_draws, torch.softmax(pred.sites["logits"], -1))
    assert float((pred.predicted_class == y).double().mean()) > 0.85
    mi = pred.mutual_information
    assert torch.all(mi >= 0) and torch.all(mi <= pred.entropy + 1e-6)


def test_bernoulli_and_a_plate_at_dim_minus_two():
    x = torch.linspace(-3, 3, 40)[:, None]
    y = (x[:, 0] > 0).double().expand(2, 40)

    def model(x, y=None):
        w = pyro.sample("w", dist.Normal(0.0, 3.0))
        with pyro.plate("repeats", 2, dim=-2), pyro.plate("data", x.shape[0], dim=-1):
            return pyro.sample("obs", dist.Bernoulli(logits=w * x[:, 0]), obs=y)

    post = pb.fit_svi(model, x, y, num_steps=500, progress=False)
    pred = pb.predict(post, x)
    assert pred.probs.shape == (2, 40, 2)
    assert float(pred.probs[0, -1, 1]) > 0.9 and float(pred.probs[0, 0, 1]) < 0.1


@pytest.mark.slow
def test_fit_nuts_options_for_user_models(slope_data):
    x, y, mean, _ = slope_data
    with pytest.raises(ValueError, match="dense_mass=True needs sampler='pyro'"):
        pb.fit_nuts(pb.BayesianMLP(1, 1, hidden=()), x, y, sampler="lean", dense_mass=True)
    post = pb.fit_nuts(
        slope_model,
        x,
        y,
        num_samples=100,
        warmup_steps=100,
        num_chains=2,
        init={"slope": torch.tensor(0.7)},
        dense_mass=True,
        max_tree_depth=4,
        target_accept_prob=0.9,
        progress=False,
    )
    assert post.num_chains == 2 and post.draws["slope"].shape == (200,)
    assert float(post.draws["slope"].mean()) == pytest.approx(mean, abs=0.05)


@pytest.mark.parametrize("sampler", ["auto", "pyro"])
def test_jit_compiled_nuts_on_a_user_model_matches_the_exact_posterior(
    slope_data, monkeypatch, sampler
):
    from pyro.infer.mcmc import util

    from pyro_bnn.inference import mcmc

    compiled = []
    pyro_init, initialize_model = mcmc._RecordingNUTS.__init__, util.initialize_model

    def recording_init(self, *args, **kwargs):
        compiled.append(("pyro", kwargs.get("jit_compile")))
        pyro_init(self, *args, **kwargs)

    def recording_initialize_model(*args, **kwargs):
        compiled.append(("lean", kwargs.get("jit_compile")))
        return initialize_model(*args, **kwargs)

    monkeypatch.setattr(mcmc._RecordingNUTS, "__init__", recording_init)
    monkeypatch.setattr(util, "initialize_model", recording_initialize_model)
    x, y, mean, var = slope_data
    post = pb.fit_nuts(
        slope_model, x, y, num_samples=400, warmup_steps=200, jit_compile=True, progress=False,
        sampler=sampler,
    )  # fmt: skip
    expected = "pyro" if sampler == "pyro" else "lean"
    assert compiled == [(expected, True)]
    assert post.diagnostics["chains"][0]["sampler"] == expected
    slope = post.draws["slope"].double()
    # Monte Carlo error with an effective sample size of at least ~100 draws
    assert float(slope.mean()) == pytest.approx(mean, abs=4 * math.sqrt(var / 100))
    assert float(slope.var()) == pytest.approx(var, rel=0.4)


def test_fit_nuts_on_a_model_without_latent_sites_is_a_clear_error():
    def model(x, y=None):
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("obs", dist.Normal(x[:, 0], 1.0), obs=y)

    with pytest.raises(ValueError, match="no latent sample site"):
        pb.fit_nuts(model, torch.randn(10, 1), torch.randn(10), progress=False)


def test_lean_nuts_on_a_constrained_site_matches_the_conjugate_posterior():
    """v ~ InverseGamma(a, b), y ~ N(0, v): v | y ~ InverseGamma(a + n/2, b + sum y^2 / 2).

    v lives on (0, inf): the lean sampler works on log v with the log Jacobian, as Pyro's
    NUTS does, and returns draws of v itself.
    """
    a, b = 3.0, 2.0
    y = torch.tensor(np.random.default_rng(1).normal(0.0, 1.5, size=30), dtype=torch.float32)

    def model(x, y=None):
        v = pyro.sample("v", dist.InverseGamma(a, b))
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("obs", dist.Normal(0.0, v.sqrt()), obs=y)

    post = pb.fit_nuts(
        model, torch.zeros(30, 1), y, num_samples=2000, warmup_steps=300, progress=False, seed=0
    )
    assert post.diagnostics["chains"][0]["sampler"] == "lean"
    shape, rate = a + len(y) / 2, b + float((y.double() ** 2).sum()) / 2
    exact_mean, exact_sd = rate / (shape - 1), rate / ((shape - 1) * math.sqrt(shape - 2))
    v = post.draws["v"].double()
    assert bool((v > 0).all())
    ess = post.diagnostics["sites"]["v"]["ess_min"]
    assert ess > 200
    # Monte Carlo error of the mean: sd / sqrt(ESS), four of them
    assert float(v.mean()) == pytest.approx(exact_mean, abs=4 * exact_sd / math.sqrt(ess))
    assert float(v.std()) == pytest.approx(exact_sd, rel=0.15)


@pytest.mark.slow
def test_standardize_true_on_a_user_model_predicts_in_original_units(slope_data):
    x, y, _, _ = slope_data
    big_y = 100 + 50 * y
    post = pb.fit_svi(slope_model, x, big_y, standardize=True, num_steps=1000, progress=False)
    assert post.scaler is not None
    pred = pb.predict(post, x)
    assert abs(float(np.mean(pred.mean)) - float(big_y.mean())) < 5


def test_observation_without_a_variance_gives_mean_and_intervals_and_a_clear_error(slope_data):
    x, y, _, _ = slope_data

    def model(x, y=None):
        slope = pyro.sample("slope", dist.Normal(0.0, 1.0))
        with pyro.plate("data", x.shape[0]):
            noise = dist.TransformedDistribution(
                dist.Normal(slope * x[:, 0], 1.0), [dist.transforms.AffineTransform(0.0, 0.5)]
            )
            return pyro.sample("obs", noise, obs=y)

    post = pb.fit_svi(model, x, y, num_steps=300, progress=False)
    pred = pb.predict(post, x[:4])
    assert pred.mean.shape == (4,)
    low, high = pred.interval(0.9)
    assert np.all(low < high)
    with pytest.raises(ValueError, match="epistemic/aleatoric split is unavailable"):
        _ = pred.epistemic_var
    with pytest.raises(ValueError, match="without a mean and variance"):
        _ = pred.aleatoric_std


def test_default_learning_rate_schedule_is_adam_with_exponential_decay():
    """With a constant gradient Adam moves lr_t per step: the path adds up the schedule
    lr * lr_decay ** (t / num_steps), the same one the flat fast path uses."""
    x = torch.zeros(3, 1)

    def model(x, y=None):
        a = pyro.sample("a", dist.Normal(0.0, 1e6))
        pyro.factor("slope", 1000.0 * a)  # d log p / da = 1000 (the prior's part is ~0)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("obs", dist.Normal(0.0, 1.0), obs=y)

    def guide(x, y=None):
        pyro.sample("a", dist.Delta(pyro.param("a_loc", torch.tensor(0.0))))

    num_steps, lr, lr_decay = 200, 0.01, 0.1
    post = pb.fit_svi(
        model, x, torch.zeros(3), guide=guide, num_steps=num_steps, lr=lr, lr_decay=lr_decay,
        progress=False, check_convergence=False,
    )  # fmt: skip
    gamma = lr_decay ** (1 / num_steps)
    expected = lr * sum(gamma**t for t in range(num_steps))
    assert float(post.params["a_loc"]) == pytest.approx(expected, rel=1e-3)
