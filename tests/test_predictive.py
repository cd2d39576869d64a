"""Laws every prediction must obey, vectorized = looped, and the summaries' definitions."""

import math

import numpy as np
import pytest
import torch

import pyro_bnn as pb

# --- an independent reference: the network written out in numpy, one draw at a time -------

_NUMPY_ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda h: np.maximum(h, 0.0),
    "sigmoid": lambda h: 1.0 / (1.0 + np.exp(-h)),
    "silu": lambda h: h / (1.0 + np.exp(-h)),
    "gelu": lambda h: 0.5 * h * (1.0 + np.vectorize(math.erf)(h / math.sqrt(2.0))),
}


def numpy_forward(draws, x, activation="tanh"):
    """Outputs ``(S, N, out)`` of an MLP, in float64, by a loop over draws.

    Layer ``i`` is ``h @ W_i.T + b_i`` with the draw's ``layers.{i}.weight`` and
    ``layers.{i}.bias``; every layer but the last is followed by the activation.
    """
    act = _NUMPY_ACTIVATIONS[activation]
    num_layers = sum(1 for name in draws if name.endswith(".weight"))
    num_draws = len(draws["layers.0.weight"])
    x = np.asarray(x, dtype=np.float64)
    outputs = []
    for s in range(num_draws):
        h = x
        for i in range(num_layers):
            weight = np.asarray(draws[f"layers.{i}.weight"][s], dtype=np.float64)
            bias = np.asarray(draws[f"layers.{i}.bias"][s], dtype=np.float64)
            h = h @ weight.T + bias
            if i < num_layers - 1:
                h = act(h)
        outputs.append(h)
    return np.stack(outputs)


def numpy_entropy(probs):
    """Entropy in nats along the last axis, 0 log 0 = 0."""
    probs = np.asarray(probs, dtype=np.float64)
    logs = np.log(np.where(probs > 0, probs, 1.0))
    return -(probs * logs).sum(-1)


def numpy_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return np.exp(shifted) / np.exp(shifted).sum(-1, keepdims=True)


def assert_variance_matches_samples(samples, variance, num_se=5.0):
    """Sample variance of ``samples: (M, N)`` equals ``variance: (N,)`` within ``num_se``
    Monte-Carlo standard errors, ``se = sqrt((m4 - var^2) / M)`` per column."""
    samples = np.asarray(samples, dtype=np.float64)
    centred = samples - samples.mean(0)
    sample_var = (centred**2).mean(0)
    fourth = (centred**4).mean(0)
    se = np.sqrt((fourth - sample_var**2) / samples.shape[0])
    gap = np.abs(sample_var - np.asarray(variance, dtype=np.float64))
    assert np.all(gap < num_se * se), (sample_var, variance, se)


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


@pytest.mark.slow
def test_vectorized_prediction_equals_a_numpy_loop_over_draws(regression_fit):
    """predict (vectorized, chunked, float32) = the network written out in numpy per draw."""
    post, x, _ = regression_fit
    grid = np.linspace(-6, 6, 25)[:, None]
    pred = pb.predict(post, grid, num_draws=64, seed=3, chunk_size=7)
    draws = {k: v.numpy() for k, v in post.sample(64, seed=3).items()}  # the draws predict used
    # the fit standardized x and y: the network sees standardized inputs, and predict
    # returns original units (mean * y_std + y_mean, variances * y_std**2)
    scaler = post.scaler
    y_std, y_mean = float(scaler.y_std), float(scaler.y_mean)
    means = numpy_forward(draws, (grid - scaler.x_mean) / scaler.x_std)[..., 0]  # (S, N)
    noise_var = draws["sigma"].astype(np.float64) ** 2  # (S,): Gaussian noise per draw
    assert isinstance(pred.mean, np.ndarray)  # numpy in, numpy out
    np.testing.assert_allclose(pred.mean, means.mean(0) * y_std + y_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pred.epistemic_var, means.var(0) * y_std**2, rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(
        pred.aleatoric_var, np.full(25, noise_var.mean() * y_std**2), rtol=1e-4
    )


def test_chunking_does_not_change_numbers(regression_fit):
    post, _, _ = regression_fit
    grid = np.linspace(-6, 6, 50)[:, None]
    a = pb.predict(post, grid, num_draws=100, chunk_size=3)
    b = pb.predict(post, grid, num_draws=100, chunk_size=1000)
    c = pb.predict(post, grid, num_draws=100, keep_draws=False)
    for other in (b, c):
        torch.testing.assert_close(a.mean, other.mean)
        torch.testing.assert_close(a.total_var, other.total_var)
    assert a.has_draws and not c.has_draws
    with pytest.raises(ValueError, match="keep_draws=True"):
        c.interval(0.9)


def test_total_variance_is_the_variance_of_the_predictive_mixture(regression_fit):
    """total_var against the empirical variance of draws from the mixture, sampled in numpy:
    pick a posterior draw s uniformly, then y ~ Normal(f_s(x), sigma_s)."""
    post, _, _ = regression_fit
    x = np.array([[-5.0], [0.0], [2.0]])
    pred = pb.predict(post, x, num_draws=500, seed=4)
    draws = {k: v.numpy() for k, v in post.sample(500, seed=4).items()}
    scaler = post.scaler
    y_std, y_mean = float(scaler.y_std), float(scaler.y_mean)
    means = numpy_forward(draws, (x - scaler.x_mean) / scaler.x_std)[..., 0] * y_std + y_mean
    sigmas = draws["sigma"].astype(np.float64) * y_std
    rng = np.random.default_rng(11)
    num_samples = 400_000
    pick = rng.integers(0, 500, size=num_samples)
    samples = means[pick] + sigmas[pick, None] * rng.standard_normal((num_samples, 3))
    assert_variance_matches_samples(samples, pred.total_var)
    mean_se = samples.std(0) / math.sqrt(num_samples)
    assert np.all(np.abs(samples.mean(0) - pred.mean) < 5 * mean_se)
    # the library's own sampler draws from the same mixture
    assert_variance_matches_samples(pred.sample(200_000, seed=1), pred.total_var)


def test_intervals_quantiles_and_cdf_agree(regression_fit):
    post, _, _ = regression_fit
    pred = pb.predict(post, torch.tensor([[-5.0], [0.0], [2.0]]), num_draws=500)
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
    pred = pb.predict(post, torch.as_tensor(x[:10]))
    assert pred.num_draws == 1
    assert torch.all(pred.epistemic_var == 0)
    torch.testing.assert_close(pred.total_var, pred.aleatoric_var)


def test_classification_laws(classification_fit):
    post, x, _ = classification_fit
    x_new = torch.as_tensor(np.vstack([x[:20], [[10.0, -10.0]]]), dtype=torch.float32)
    pred = pb.predict(post, x_new, num_draws=300)
    torch.testing.assert_close(pred.probs.sum(-1), torch.ones(21))
    assert torch.all(pred.entropy <= np.log(3) + 1e-6)
    probs = pred.probs_draws.double().numpy()
    expected_entropy = numpy_entropy(probs).mean(0)
    entropy = numpy_entropy(probs.mean(0))
    np.testing.assert_allclose(pred.expected_entropy, expected_entropy, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred.entropy, entropy, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        pred.mutual_information, entropy - expected_entropy, rtol=1e-4, atol=1e-6
    )
    torch.testing.assert_close(pred.confidence, pred.probs.amax(-1))
    assert pred.predicted_class.dtype == torch.int64
    assert pred.log_prob_draws(np.zeros(21)).shape == (300, 21)


def _linear_classifier_posterior(biases):
    """A Categorical net without hidden layers whose draws have zero weights and the given
    biases: every input gets class probabilities softmax(bias_s) under draw s."""
    biases = torch.as_tensor(biases, dtype=torch.float32)
    num_draws, num_classes = biases.shape
    model = pb.BayesianMLP(1, num_classes, hidden=(), likelihood=pb.Categorical())
    draws = {
        "layers.0.weight": torch.zeros(num_draws, num_classes, 1),
        "layers.0.bias": biases,
    }
    assert set(draws) == {site.name for site in model.latent_sites}
    return pb.Posterior(model, "nuts", samples=draws)


def test_mutual_information_of_known_cases():
    """MI = H(mean of probs) - mean of H(probs), computed by hand."""
    x = np.zeros((3, 1))
    # every draw says the same: nothing to learn, MI is zero (and entropy = expected entropy)
    same = _linear_classifier_posterior(np.log([[0.7, 0.2, 0.1]] * 4))
    pred = pb.predict(same, x)
    np.testing.assert_allclose(pred.mutual_information, 0.0, atol=1e-6)
    np.testing.assert_allclose(pred.entropy, numpy_entropy([0.7, 0.2, 0.1]), rtol=1e-5)
    # two draws that disagree: probs (0.9, 0.1) and (0.1, 0.9); their mean is (0.5, 0.5)
    split = _linear_classifier_posterior(np.log([[0.9, 0.1], [0.1, 0.9]]))
    pred = pb.predict(split, x)
    mi = math.log(2) - (-(0.9 * math.log(0.9) + 0.1 * math.log(0.1)))  # 0.3681 nats
    np.testing.assert_allclose(pred.mutual_information, mi, rtol=1e-5)
    np.testing.assert_allclose(pred.entropy, math.log(2), rtol=1e-6)


def test_classification_summaries_equal_a_numpy_loop_over_draws():
    model = pb.BayesianMLP(2, 3, hidden=(4,), likelihood=pb.Categorical())
    post, draws = _fixed_draws_posterior(model, 9, seed=8)
    x = np.random.default_rng(9).normal(size=(12, 2))
    probs = numpy_softmax(numpy_forward({k: v.numpy() for k, v in draws.items()}, x))
    pred = pb.predict(post, x, chunk_size=5)
    np.testing.assert_allclose(pred.probs, probs.mean(0), rtol=1e-5, atol=1e-6)
    mi = numpy_entropy(probs.mean(0)) - numpy_entropy(probs).mean(0)
    assert np.all(mi > 1e-3)  # random draws disagree: a strictly positive MI to match
    np.testing.assert_allclose(pred.mutual_information, mi, rtol=1e-4, atol=1e-6)


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
    [(pb.StudentT(df=10.0), None), (pb.HeteroscedasticGaussian(), None), (pb.Poisson(), "counts")],
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
    pred = pb.predict(post, torch.as_tensor(x[:5]), num_draws=200)
    # total_var (from each likelihood's mean_var) against draws of its distributions
    # (df=10 above: a Student-t needs finite fourth moments for the Monte-Carlo error)
    assert_variance_matches_samples(pred.sample(200_000, seed=5), pred.total_var)
    low, high = pred.interval(0.8)
    assert torch.all(low < pred.mean) and torch.all(pred.mean < high)
    pit = pred.cdf(torch.as_tensor(target[:5]))
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
    pred = pb.predict(post, torch.as_tensor(x[:3]))
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
    # the posterior keeps the scaler, which checks the width against the training data
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1\).*found shape \(3, 2\)"):
        pb.predict(post, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="x contains NaN at row 1"):
        pb.predict(post, [[0.0], [np.nan]])
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        pb.predict(post, [[0.0]], chunk_size=0)
    with pytest.raises(TypeError, match="posterior must be a pyro_bnn Posterior"):
        pb.predict("post.pt", [[0.0]])


# --- the chunked forward pass of predict ----------------------------------------------------


def _fixed_draws_posterior(model, num_draws, seed=0):
    """A Posterior holding random draws of every latent site (as after NUTS)."""
    generator = torch.Generator().manual_seed(seed)
    draws = {
        site.name: torch.randn((num_draws, *site.shape), generator=generator)
        for site in model.latent_sites
    }
    if "sigma" in draws:
        draws["sigma"] = draws["sigma"].abs()
    return pb.Posterior(model, "nuts", samples=draws), draws


@pytest.mark.parametrize("hidden", [(), (5,), (4, 3), (3, 4, 2)])
@pytest.mark.parametrize("activation", sorted(pb.nets.ACTIVATIONS))
def test_predict_outputs_equal_the_network_for_every_activation_and_depth(activation, hidden):
    model = pb.BayesianMLP(2, 1, hidden=hidden, activation=activation)
    post, draws = _fixed_draws_posterior(model, 7, seed=1)
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(2))
    pred = pb.predict(post, x, chunk_size=3)  # chunks of 3, 3, 3 and 1 inputs
    expected = numpy_forward({k: v.numpy() for k, v in draws.items()}, x.numpy(), activation)
    np.testing.assert_allclose(pred._outputs.numpy(), expected, rtol=1e-4, atol=1e-5)
    mean = expected[..., 0]
    np.testing.assert_allclose(pred.mean, mean.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pred.epistemic_var, mean.var(0), rtol=1e-3, atol=1e-6)
    sigma = draws["sigma"].double().numpy()
    np.testing.assert_allclose(pred.aleatoric_var, np.full(10, (sigma**2).mean()), rtol=1e-5)


@pytest.mark.parametrize(
    "likelihood, out_features",
    [
        (pb.Gaussian(), 2),
        (pb.Gaussian(sigma=0.3), 1),
        (pb.HeteroscedasticGaussian(), 1),
        (pb.Poisson(), 1),
        (pb.Categorical(), 3),
        (pb.Bernoulli(), 1),
    ],
)
def test_chunked_summaries_equal_summaries_of_all_outputs_at_once(likelihood, out_features):
    model = pb.BayesianMLP(1, out_features, hidden=(6,), likelihood=likelihood)
    post, draws = _fixed_draws_posterior(model, 9, seed=3)
    x = torch.linspace(-2, 2, 11)[:, None]
    full = model.network(draws, x)
    for chunk_size, keep_draws in ((4, True), (4, False), (100, True), (1, False)):
        pred = pb.predict(post, x, chunk_size=chunk_size, keep_draws=keep_draws)
        if likelihood.task == "classification":
            probs = likelihood.probs(full, draws)
            torch.testing.assert_close(pred.probs, probs.mean(0))
            expected_entropy = -(probs * probs.log()).sum(-1).mean(0)
            torch.testing.assert_close(pred.expected_entropy, expected_entropy)
        else:
            mean, var = likelihood.mean_var(full, draws)
            torch.testing.assert_close(pred.mean, mean.mean(0))
            torch.testing.assert_close(pred.epistemic_var, mean.var(0, unbiased=False))
            torch.testing.assert_close(pred.aleatoric_var, var.mean(0))
        if keep_draws:
            torch.testing.assert_close(pred._outputs, full)
        else:
            assert pred._outputs is None


def test_float64_model_predicts_in_float64():
    model = pb.BayesianMLP(1, 1, hidden=(5,)).to(torch.float64)
    post, draws = _fixed_draws_posterior(model, 4, seed=4)  # float32 draws, converted
    x = np.linspace(-1, 1, 7)[:, None]
    pred = pb.predict(post, x, chunk_size=2)
    assert pred.mean.dtype == np.float64 and pred._outputs.dtype == torch.float64
    expected = model.network(
        {k: v.double() for k, v in draws.items()}, torch.as_tensor(x, dtype=torch.float64)
    )
    torch.testing.assert_close(pred._outputs, expected)
    # a float32 tensor in: the model's dtype decides, and tensors come back
    pred = pb.predict(post, torch.as_tensor(x, dtype=torch.float32), chunk_size=2)
    assert pred.mean.dtype == torch.float64 and pred._outputs.dtype == torch.float64


def test_chunked_forward_falls_back_to_the_network_for_other_draw_shapes():
    from pyro_bnn.predictive.network import _ChunkedForward

    model = pb.BayesianMLP(1, 1, hidden=(3,))
    _, draws = _fixed_draws_posterior(model, 6, seed=5)
    draws = {k: v.reshape(2, 3, *v.shape[1:]) for k, v in draws.items()}  # two draw dims
    forward = _ChunkedForward(model, draws, chunk_size=4)
    x = torch.randn(4, 1, generator=torch.Generator().manual_seed(6))
    assert forward(x).shape == (2, 3, 4, 1)
    torch.testing.assert_close(forward(x), model.network(draws, x))


@pytest.mark.slow
def test_keep_draws_false_never_allocates_draws_times_inputs():
    from torch.profiler import ProfilerActivity, profile

    model = pb.BayesianMLP(1, 1, hidden=(8,))
    post, _ = _fixed_draws_posterior(model, 200, seed=7)
    x = torch.linspace(-3, 3, 5000)[:, None]
    bytes_per_chunk = 200 * 10 * 8 * 4  # draws x chunk x width float32: 64 kB
    bytes_all_draws = 200 * 5000 * 4  # draws x inputs: 4 MB
    largest = {}
    for keep_draws in (False, True):
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            pb.predict(post, x, chunk_size=10, keep_draws=keep_draws)
        largest[keep_draws] = max(event.self_cpu_memory_usage for event in prof.events())
    assert largest[False] <= bytes_per_chunk
    assert largest[True] == bytes_all_draws  # the kept outputs, allocated once


def test_return_sites_of_a_network_are_the_draws_predict_used(gap_data):
    x, y = gap_data
    post = pb.fit_svi(pb.BayesianMLP(1, 1, hidden=(3,)), x, y, num_steps=20, progress=False)
    pred = pb.predict(post, x[:4], num_draws=50, seed=2, return_sites=["sigma"])
    np.testing.assert_array_equal(pred.sites["sigma"], post.sample(50, seed=2)["sigma"].numpy())
    with pytest.raises(ValueError, match="not sites of this BayesianMLP"):
        pb.predict(post, x[:4], return_sites=["noise"])
