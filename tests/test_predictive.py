"""Laws every prediction must obey, vectorized = looped, and the summaries' definitions."""

import numpy as np
import pytest
import torch

import pyro_bnn as pb


@pytest.fixture(scope="module")
def regression_fit():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-4, -1, 60), rng.uniform(1, 4, 60)])[:, None]
    y = np.sin(x[:, 0]) + 0.1 * x[:, 0] + 0.15 * rng.normal(size=120)
    post = pb.fit_svi(pb.BayesianMLP(1, 1, hidden=(10,)), x, y, num_steps=3000, progress=False)
    return post, x, y


@pytest.fixture(scope="module")
def classification_fit():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 0.8, (50, 2)), rng.normal(2, 0.8, (50, 2))])
    y = np.repeat([0, 1, 2, 0], 25)
    post = pb.fit_svi(
        pb.BayesianMLP(2, 3, hidden=(8,), likelihood=pb.Categorical()),
        x,
        y,
        num_steps=500,
        progress=False,
    )
    return post, x, y


def test_vectorized_prediction_equals_loop_over_draws(regression_fit):
    post, x, _ = regression_fit
    grid = np.linspace(-6, 6, 25)[:, None]
    pred = pb.predict(post, grid, num_draws=64, seed=3, chunk_size=7)
    draws = post.sample(64, seed=3)
    grid_t = torch.as_tensor(grid, dtype=torch.float32)
    means, variances = [], []
    for s in range(64):
        single = {k: v[s] for k, v in draws.items()}
        out = post.model.network(single, grid_t)
        mean, var = post.model.likelihood.mean_var(out, single)
        means.append(mean)
        variances.append(var)
    means, variances = torch.stack(means), torch.stack(variances)
    torch.testing.assert_close(pred.mean, means.mean(0))
    torch.testing.assert_close(pred.epistemic_var, means.var(0, unbiased=False))
    torch.testing.assert_close(pred.aleatoric_var, variances.mean(0))


def test_chunking_does_not_change_numbers(regression_fit):
    post, _, _ = regression_fit
    grid = np.linspace(-6, 6, 50)[:, None]
    a = pb.predict(post, grid, num_draws=100, chunk_size=3)
    b = pb.predict(post, grid, num_draws=100, chunk_size=1000)
    c = pb.predict(post, grid, num_draws=100, keep_draws=False)
    for other in (b, c):
        torch.testing.assert_close(a.mean, other.mean)
        torch.testing.assert_close(a.total_var, other.total_var)
    with pytest.raises(ValueError, match="keep_draws=True"):
        c.interval(0.9)


def test_law_of_total_variance_against_predictive_samples(regression_fit):
    post, _, _ = regression_fit
    pred = pb.predict(post, np.array([[-5.0], [0.0], [2.0]]), num_draws=500)
    torch.testing.assert_close(pred.total_var, pred.epistemic_var + pred.aleatoric_var)
    samples = pred.sample(200_000, seed=1)
    # sample variance of 200k draws: relative s.e. ~ sqrt(2/200k) ~ 0.3%
    torch.testing.assert_close(samples.var(0), pred.total_var, rtol=0.03, atol=0)
    torch.testing.assert_close(samples.mean(0), pred.mean, rtol=0, atol=0.01)


def test_intervals_quantiles_and_cdf_agree(regression_fit):
    post, _, _ = regression_fit
    pred = pb.predict(post, np.array([[-5.0], [0.0], [2.0]]), num_draws=500)
    low, high = pred.interval(0.9)
    torch.testing.assert_close(pred.cdf(low), torch.full((3,), 0.05), atol=1e-4, rtol=0)
    torch.testing.assert_close(pred.cdf(high), torch.full((3,), 0.95), atol=1e-4, rtol=0)
    quantiles = pred.quantile([0.05, 0.5, 0.95])
    torch.testing.assert_close(quantiles[0], low)
    samples = pred.sample(100_000, seed=2)
    inside = ((samples >= low) & (samples <= high)).float().mean(0)
    torch.testing.assert_close(inside, torch.full((3,), 0.9), atol=0.006, rtol=0)  # 4 s.e.
    h_low, h_high = pred.hpdi(0.9)
    assert torch.all(h_high - h_low <= (high - low) * 1.02)  # HPDI is the shortest interval
    e_low, e_high = pred.epistemic_interval(0.9)
    assert torch.all((e_high - e_low) < (high - low))  # noise widens the full interval


def test_uncertainty_grows_away_from_data(regression_fit):
    post, _, _ = regression_fit
    pred = pb.predict(post, np.array([[-2.5], [2.5], [0.0]]))
    # in the middle of the gap the network is less sure than where the data are
    assert pred.epistemic_std[2] > 1.5 * max(pred.epistemic_std[0], pred.epistemic_std[1])


def test_map_has_zero_epistemic_part(regression_fit):
    _, x, y = regression_fit
    post = pb.fit_svi(
        pb.BayesianMLP(1, 1, hidden=(10,)), x, y, guide="delta", num_steps=200, progress=False
    )
    pred = pb.predict(post, x[:10])
    assert pred.num_draws == 1
    assert torch.all(pred.epistemic_var == 0)
    torch.testing.assert_close(pred.total_var, pred.aleatoric_var)


def test_classification_laws(classification_fit):
    post, x, _ = classification_fit
    pred = pb.predict(post, np.vstack([x[:20], [[10.0, -10.0]]]), num_draws=300)
    torch.testing.assert_close(pred.probs.sum(-1), torch.ones(21))
    assert torch.all(pred.mutual_information >= 0)
    assert torch.all(pred.mutual_information <= pred.entropy + 1e-6)
    assert torch.all(pred.entropy <= np.log(3) + 1e-6)
    probs = pred.probs_draws
    expected_entropy = -(probs * probs.clamp_min(1e-30).log()).sum(-1).mean(0)
    torch.testing.assert_close(pred.expected_entropy, expected_entropy)
    mean = probs.mean(0)
    torch.testing.assert_close(pred.entropy, -(mean * mean.log()).sum(-1))
    torch.testing.assert_close(pred.confidence, pred.probs.amax(-1))
    assert pred.predicted_class.dtype == torch.int64
    assert pred.log_prob_draws(np.zeros(21)).shape == (300, 21)


def test_bernoulli_probs_have_two_columns():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 1))
    y = (x[:, 0] > 0).astype(int)
    post = pb.fit_svi(
        pb.BayesianMLP(1, 1, hidden=(), likelihood=pb.Bernoulli()),
        x,
        y,
        num_steps=1000,
        lr=0.05,
        progress=False,
    )
    pred = pb.predict(post, [[0.0], [3.0]])
    assert pred.probs.shape == (2, 2)
    assert pred.probs[1, 1] > 0.8


@pytest.mark.parametrize(
    "likelihood, y",
    [(pb.StudentT(df=4.0), None), (pb.HeteroscedasticGaussian(), None), (pb.Poisson(), "counts")],
)
def test_other_regression_likelihoods(likelihood, y):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 1))
    target = rng.poisson(2.0, size=50) if y == "counts" else x[:, 0] + 0.3 * rng.normal(size=50)
    post = pb.fit_svi(
        pb.BayesianMLP(1, 1, hidden=(4,), likelihood=likelihood),
        x,
        target,
        num_steps=200,
        progress=False,
    )
    pred = pb.predict(post, x[:5], num_draws=200)
    torch.testing.assert_close(pred.total_var, pred.epistemic_var + pred.aleatoric_var)
    low, high = pred.interval(0.8)
    assert torch.all(low < pred.mean) and torch.all(pred.mean < high)
    pit = pred.cdf(target[:5])
    assert torch.all((pit >= 0) & (pit <= 1))


def test_student_t_without_variance_refuses_variance_summaries():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 1))
    post = pb.fit_svi(
        pb.BayesianMLP(1, 1, hidden=(), likelihood=pb.StudentT(df=1.5)),
        x,
        x[:, 0],
        num_steps=50,
        progress=False,
    )
    pred = pb.predict(post, x[:3])
    with pytest.raises(ValueError, match="no finite variance.*use interval"):
        _ = pred.total_var
    low, high = pred.interval(0.5)
    assert torch.all(high > low)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: p.interval(1.5), r"level must be in \(0, 1\)"),
        (lambda p: p.quantile([0.5, 1.0]), r"quantile levels must be in \(0, 1\)"),
        (lambda p: p.sample(0), "num_samples must be a positive integer"),
    ],
)
def test_bad_summary_arguments(regression_fit, call, message):
    post, _, _ = regression_fit
    pred = pb.predict(post, [[0.0]], num_draws=10)
    with pytest.raises(ValueError, match=message):
        call(pred)


def test_bad_predict_input(regression_fit):
    post, _, _ = regression_fit
    with pytest.raises(ValueError, match="x has 2 feature column"):
        pb.predict(post, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="x contains NaN at row 1"):
        pb.predict(post, [[0.0], [np.nan]])
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        pb.predict(post, [[0.0]], chunk_size=0)
    with pytest.raises(TypeError, match="posterior must be a pyro_bnn Posterior"):
        pb.predict("post.pt", [[0.0]])
