import math

import numpy as np
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.likelihoods import likelihood_from_config

S, N = 4, 6


@pytest.mark.parametrize(
    "likelihood, out_features, support",
    [
        (pb.Gaussian(), 1, "real"),
        (pb.Gaussian(sigma=0.3), 2, "real"),
        (pb.HeteroscedasticGaussian(), 1, "real"),
        (pb.StudentT(df=5.0), 1, "real"),
        (pb.Poisson(), 1, "count"),
        (pb.Bernoulli(), 1, "binary"),
        (pb.Categorical(), 3, "class"),
    ],
)
def test_shapes_support_and_config(likelihood, out_features, support):
    out = torch.randn(S, N, likelihood.output_size(out_features))
    values = {"sigma": torch.rand(S) + 0.1}
    d = likelihood.distribution(out, values)
    y = d.sample()
    expected = (S, N) if out_features == 1 or likelihood.task == "classification" else (S, N, 2)
    assert tuple(y.shape) == expected
    assert d.log_prob(y).shape == (S, N)
    if support == "count":
        assert (y >= 0).all() and (y == y.round()).all()
    if support in ("binary", "class"):
        assert set(y.unique().tolist()) <= set(range(3))
        probs = likelihood.probs(out, values)
        torch.testing.assert_close(probs.sum(-1), torch.ones(S, N))
    else:
        mean, var = likelihood.mean_var(out, values)
        assert mean.shape == var.shape == y.shape[:2] + y.shape[2:]
        assert (var > 0).all()
    assert likelihood_from_config(likelihood.to_config()).to_config() == likelihood.to_config()


@pytest.mark.parametrize(
    "likelihood, reference",
    [
        (pb.Gaussian(), lambda out, sigma: torch.distributions.Normal(out[..., 0], sigma[:, None])),
        (
            pb.Gaussian(sigma=0.3),
            lambda out, sigma: torch.distributions.Normal(out[..., 0], 0.3),
        ),
        (
            pb.StudentT(df=5.0),
            lambda out, sigma: torch.distributions.StudentT(5.0, out[..., 0], sigma[:, None]),
        ),
        (
            pb.HeteroscedasticGaussian(min_scale=0.01),
            lambda out, sigma: torch.distributions.Normal(
                out[..., 0], torch.log1p(torch.exp(out[..., 1])) + 0.01
            ),
        ),
        (pb.Poisson(), lambda out, sigma: torch.distributions.Poisson(torch.exp(out[..., 0]))),
    ],
)
def test_mean_var_are_the_moments_of_the_distribution(likelihood, reference):
    """mean_var against torch.distributions' own mean and variance of the same model,
    built here by hand (softplus written out), and of the likelihood's distribution."""
    generator = torch.Generator().manual_seed(0)
    out = torch.randn(S, N, likelihood.output_size(1), generator=generator, dtype=torch.float64)
    sigma = torch.rand(S, generator=generator, dtype=torch.float64) + 0.1
    mean, var = likelihood.mean_var(out, {"sigma": sigma})
    expected = reference(out, sigma)
    torch.testing.assert_close(mean, expected.mean.expand(S, N))
    torch.testing.assert_close(var, expected.variance.expand(S, N))
    own = likelihood.distribution(out, {"sigma": sigma})
    torch.testing.assert_close(mean, own.mean.expand(S, N))
    torch.testing.assert_close(var, own.variance.expand(S, N))


def test_gaussian_moments_are_the_distributions():
    out = torch.randn(S, N, 1)
    sigma = torch.rand(S) + 0.1
    mean, var = pb.Gaussian().mean_var(out, {"sigma": sigma})
    torch.testing.assert_close(mean, out[..., 0])
    torch.testing.assert_close(var, (sigma[:, None] ** 2).expand(S, N))


def test_student_t_without_variance_says_so():
    mean, var = pb.StudentT(df=2.0, sigma=1.0).mean_var(torch.zeros(2, 3, 1), {})
    assert torch.isnan(var).all()


def _fit_linear(likelihood, x, y, out_features=1, steps=1500):
    # the oracles are raw-unit coefficients and noise: fit without standardization
    model = pb.BayesianMLP(
        x.shape[1], out_features, hidden=(), prior=pb.IIDNormal(3.0), likelihood=likelihood
    )
    return pb.fit_svi(
        model,
        x,
        y,
        guide="delta",
        num_steps=steps,
        lr=0.05,
        progress=False,
        seed=1,
        standardize=False,
    )


@pytest.mark.slow
def test_gaussian_recovers_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 1))
    y = 2 * x[:, 0] + 0.7 * rng.normal(size=400)
    post = _fit_linear(pb.Gaussian(), x, y)
    # MAP of sigma with n=400: sd ~ 0.7 / sqrt(800) = 0.025; allow 4 sd
    assert abs(float(post.draws["sigma"][0]) - 0.7) < 0.1


@pytest.mark.slow
def test_student_t_recovers_slope_despite_outliers():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 1))
    y = 1.5 * x[:, 0] + 0.3 * rng.standard_t(3, size=300)
    y[:10] += 30.0  # gross outliers
    post = _fit_linear(pb.StudentT(df=3.0), x, y)
    assert abs(float(post.draws["layers.0.weight"][0, 0, 0]) - 1.5) < 0.1


@pytest.mark.slow
def test_heteroscedastic_recovers_growing_noise():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(2000, 1))
    y = x[:, 0] + np.exp(0.5 * x[:, 0]) * 0.3 * rng.normal(size=2000)
    model = pb.BayesianMLP(1, 1, hidden=(16,), likelihood=pb.HeteroscedasticGaussian())
    post = pb.fit_svi(model, x, y, guide="delta", num_steps=1500, lr=0.02, progress=False)
    pred = pb.predict(post, np.array([[-1.5], [1.5]]))
    true = 0.3 * np.exp(0.5 * np.array([-1.5, 1.5]))
    np.testing.assert_allclose(pred.aleatoric_std, true, rtol=0.25)


def test_poisson_recovers_rate():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 1))
    y = rng.poisson(np.exp(0.5 + 0.8 * x[:, 0]))
    post = _fit_linear(pb.Poisson(), x, y)
    assert abs(float(post.draws["layers.0.weight"][0, 0, 0]) - 0.8) < 0.1
    assert abs(float(post.draws["layers.0.bias"][0, 0]) - 0.5) < 0.1


@pytest.mark.slow
def test_bernoulli_and_categorical_recover_logits():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 1))
    y = (rng.uniform(size=1000) < 1 / (1 + np.exp(-2.0 * x[:, 0]))).astype(int)
    post = _fit_linear(pb.Bernoulli(), x, y)
    assert abs(float(post.draws["layers.0.weight"][0, 0, 0]) - 2.0) < 0.4
    # three classes with logits (0, 2x, -2x): class 1 dominates for x>0, class 2 for x<0
    logits = np.stack([0 * x[:, 0], 2 * x[:, 0], -2 * x[:, 0]], 1)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    post = _fit_linear(pb.Categorical(), x, y, out_features=3)
    pred = pb.predict(post, np.array([[1.0]]))
    np.testing.assert_allclose(pred.probs[0], p[np.argmin(abs(x[:, 0] - 1.0))], atol=0.15)
    expected = np.exp([0, 2, -2]) / np.exp([0, 2, -2]).sum()
    np.testing.assert_allclose(pred.probs[0], expected, atol=0.08)


@pytest.mark.parametrize(
    "likelihood, y, out_features, message",
    [
        (
            pb.Bernoulli(),
            [0, 1, 2],
            1,
            r"labels in range \[0, 1\] expected, found label 2 at row 2",
        ),
        (pb.Categorical(), [0, 1.5, 2], 3, "class labels must be integers, found 1.5 at row 1"),
        (pb.Categorical(), [0, 1, 2], 1, "needs out_features >= 2"),
        (pb.Poisson(), [1, -1, 2], 1, "non-negative integers"),
        (pb.Gaussian(), [[1, 2], [3, 4], [5, 6]], 1, r"y must have shape \(N,\)"),
        (
            pb.Gaussian(),  # labels with out_features=K but the default likelihood
            [0, 1, 1],
            2,
            r"y looks like class labels: for 2 classes use likelihood=pb.Categorical\(\)",
        ),
    ],
)
def test_bad_targets(likelihood, y, out_features, message):
    model = pb.BayesianMLP(1, out_features, hidden=(), likelihood=likelihood)
    with pytest.raises(ValueError, match=message):
        pb.fit_svi(model, [[0.0], [1.0], [2.0]], y, num_steps=1, progress=False)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: pb.Gaussian(sigma=-1), "Gaussian sigma must be a positive number"),
        (lambda: pb.StudentT(df=math.inf), "StudentT df must be finite"),
        (lambda: likelihood_from_config({"type": "Normal"}), "unknown likelihood type 'Normal'"),
        (lambda: pb.Gaussian(precision_prior=6.0), "precision_prior must be None or a"),
        (lambda: pb.Gaussian(precision_prior=(6.0, 0.0)), "precision_prior entry must be a"),
    ],
)
def test_bad_likelihood_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_gaussian_precision_prior_is_a_gamma_on_one_over_sigma_squared():
    from scipy import stats

    likelihood = pb.Gaussian(precision_prior=(6.0, 6.0))  # PBP's prior
    (site,) = likelihood.sites(1)
    prior = site.prior({}, torch.zeros((), dtype=torch.float64))
    # density of sigma = Gamma density of tau = sigma^-2 times |d tau / d sigma| = 2 sigma^-3
    for sigma in (0.1, 0.5, 2.0):
        expected = stats.gamma(6.0, scale=1 / 6.0).logpdf(sigma**-2) + math.log(2 * sigma**-3)
        got = float(prior.log_prob(torch.tensor(sigma, dtype=torch.float64)))
        assert got == pytest.approx(expected, rel=1e-9)
    precision = prior.sample((20000,)) ** -2
    assert float(precision.mean()) == pytest.approx(1.0, abs=0.03)  # shape / rate
    # the config round trip keeps it; a config without it (older files) stays equal
    assert likelihood_from_config(likelihood.to_config()).precision_prior == (6.0, 6.0)
    assert "precision_prior" not in pb.Gaussian().to_config()


def test_gaussian_precision_prior_keeps_the_noise_of_an_interpolating_fit():
    # 10 points, 1 x 10 tanh network: MAP can interpolate. HalfNormal lets sigma go to ~0;
    # Gamma(6, 6) on the precision bounds it by about sqrt(rate / (shape + N / 2)).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 1))
    y = np.sin(3 * x[:, 0]) + 0.3 * rng.normal(size=10)
    sigmas = {}
    for name, likelihood in (
        ("halfnormal", pb.Gaussian()),
        ("gamma", pb.Gaussian(precision_prior=(6.0, 6.0))),
    ):
        model = pb.BayesianMLP(1, 1, hidden=(10,), prior=pb.IIDNormal(3.0), likelihood=likelihood)
        post = pb.fit_svi(
            model, x, y, guide="delta", num_steps=1000, lr=5e-2, seed=0, progress=False,
            check_convergence=False, check_collapse=False,
        )  # fmt: skip
        sigmas[name] = float(post.sample(1)["sigma"][0])
    assert sigmas["gamma"] > 0.5 > 5 * sigmas["halfnormal"]
