"""Tests for pyro_bnn.baselines: MAP, MC dropout, deep ensembles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.baselines import (
    BaselineFit,
    _dropout_weight_draws,
    fit_ensemble,
    fit_map,
    fit_mc_dropout,
    fit_swag,
)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny networks: one thread is fastest and immune to CPU contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sine_data():
    """80 points on [-2, 2]: y = sin(2x) + 0.1 eps (noise precision 100)."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, size=(80, 1))
    y = np.sin(2 * x[:, 0]) + 0.1 * rng.standard_normal(80)
    return x.astype(np.float32), y.astype(np.float32)


@pytest.fixture(scope="module")
def ensemble_fit(sine_data):
    x, y = sine_data
    return fit_ensemble(
        x, y, hidden=(32,), num_members=5, num_epochs=300, lr=0.02, batch_size=None, seed=0
    )


@pytest.fixture(scope="module")
def dropout_fit(sine_data):
    x, y = sine_data
    return fit_mc_dropout(
        x, y, hidden=(32,), dropout=0.05, tau=100.0, num_epochs=200, batch_size=None, lr=0.02,
        num_passes=400, seed=0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def swag_fit(sine_data):
    x, y = sine_data
    model = pb.BayesianMLP(1, 1, hidden=(32,), activation="relu")
    return fit_swag(
        model, x, y, num_epochs=100, lr=0.02, batch_size=16, swag_epochs=30, num_draws=200
    )


@pytest.fixture
def mixture_fit(request, ensemble_fit, dropout_fit, swag_fit):
    return {"ensemble": ensemble_fit, "dropout": dropout_fit, "swag": swag_fit}[request.param]


MIXTURES = pytest.mark.parametrize("mixture_fit", ["ensemble", "dropout", "swag"], indirect=True)


GRID = np.linspace(-1.9, 1.9, 25)[:, None].astype(np.float32)
TRUTH = np.sin(2 * GRID[:, 0])


def _law_of_total_variance(fit: BaselineFit, x) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixture variance computed independently from the per-draw network outputs."""
    out = fit.model.network(fit.draws, torch.as_tensor(x))
    mean, var = fit.model.likelihood.mean_var(out, fit.draws)
    total = (var + mean**2).mean(0) - mean.mean(0) ** 2
    return mean.var(0, unbiased=False), total


# --------------------------------------------------------------------------- shapes & fit


@MIXTURES
def test_mixture_predictions_fit_the_curve_with_right_shapes(mixture_fit):
    fit = mixture_fit
    prediction = fit.predict(GRID)
    assert isinstance(prediction, pb.RegressionPrediction)
    assert prediction.mean.shape == (25,)
    assert prediction.std.shape == (25,)
    assert prediction.mean_draws.shape == (fit.num_draws, 25)
    assert float(np.sqrt(np.mean((prediction.mean.numpy() - TRUTH) ** 2))) < 0.2
    low, high = prediction.interval(0.9)
    assert (low < prediction.mean).all() and (prediction.mean < high).all()


@MIXTURES
def test_total_variance_is_epistemic_plus_aleatoric(mixture_fit):
    fit = mixture_fit
    prediction = fit.predict(GRID)
    epistemic, total = _law_of_total_variance(fit, GRID)
    torch.testing.assert_close(prediction.epistemic_var, epistemic, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(prediction.total_var, total, rtol=1e-3, atol=1e-6)
    assert (prediction.epistemic_var > 0).all()
    # and the mixture's own samples agree (Monte Carlo, 20k draws: ~1% relative error)
    samples = prediction.sample(20000, seed=3)
    np.testing.assert_allclose(samples.var(0).numpy(), total.numpy(), rtol=0.08)


@MIXTURES
def test_epistemic_std_grows_far_from_the_data(mixture_fit):
    fit = mixture_fit
    near = fit.predict(GRID).epistemic_std.mean()
    far = fit.predict(np.array([[-8.0], [8.0]], dtype=np.float32)).epistemic_std.min()
    assert far > 2 * near


def test_dropout_noise_is_one_over_tau(dropout_fit):
    prediction = dropout_fit.predict(GRID)
    torch.testing.assert_close(prediction.aleatoric_var, torch.full((25,), 0.01))
    assert dropout_fit.diagnostics["tau"] == 100.0
    assert dropout_fit.num_draws == 400


def test_dropout_grid_search_picks_the_true_noise_precision(sine_data):
    x, y = sine_data
    fit = fit_mc_dropout(
        x, y, hidden=(32,), dropout=(0.01,), tau=(1.0, 100.0), num_epochs=200, batch_size=None,
        lr=0.02, validation_fraction=0.25, validation_passes=50, num_passes=50, seed=0,
    )  # fmt: skip
    assert fit.diagnostics["tau"] == 100.0
    scores = fit.diagnostics["validation_ll"]
    assert len(scores) == 2 and scores[1] > scores[0]


def test_dropout_masks_are_weight_draws():
    generator = torch.Generator().manual_seed(0)
    params = {"layers.0.weight": torch.ones(3, 4), "layers.0.bias": torch.arange(3.0)}
    draws = _dropout_weight_draws(params, keep=0.8, num_passes=20000, generator=generator)
    weight = draws["layers.0.weight"]
    assert weight.shape == (20000, 3, 4)
    # a dropped input unit zeroes a whole column; kept ones are scaled by 1 / keep
    columns = weight[:, 0, :]
    assert torch.equal(weight, columns.unsqueeze(1).expand(-1, 3, -1))
    assert set(torch.unique(columns).tolist()) == {0.0, 1.25}
    assert abs(float((columns == 0).float().mean()) - 0.2) < 0.01
    assert abs(float(weight.mean()) - 1.0) < 0.02  # unbiased
    assert torch.equal(draws["layers.0.bias"], torch.arange(3.0).expand(20000, 3))


def test_ensemble_learns_heteroscedastic_noise():
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, size=(300, 1)).astype(np.float32)
    scale = np.where(x[:, 0] < 0, 0.05, 0.5)
    y = (x[:, 0] + scale * rng.standard_normal(300)).astype(np.float32)
    fit = fit_ensemble(x, y, hidden=(16,), num_members=3, num_epochs=100, batch_size=100, seed=0)
    aleatoric = fit.predict(np.array([[-1.0], [1.0]], dtype=np.float32)).aleatoric_std
    assert float(aleatoric[0]) < 0.15 and 0.3 < float(aleatoric[1]) < 0.8


def test_ensemble_early_stopping_chooses_an_epoch(sine_data):
    x, y = sine_data
    fit = fit_ensemble(
        x, y, hidden=(8,), num_members=2, num_epochs=20, batch_size=40, validation_fraction=0.25
    )
    assert fit.diagnostics["num_epochs"] in fit.diagnostics["validation_ll"]
    assert len(fit.diagnostics["loss"]) == fit.diagnostics["num_epochs"]


# --------------------------------------------------------------------------- MAP


def test_map_of_linear_model_is_the_exact_posterior_mode(linear_oracle):
    fit = fit_map(
        linear_oracle.model(), linear_oracle.x, linear_oracle.y, num_epochs=500, lr=5e-2,
        batch_size=None, dtype=torch.float64,
    )  # fmt: skip
    assert fit.num_draws == 1
    found = linear_oracle.stack(fit.draws)[0].numpy()
    np.testing.assert_allclose(found, linear_oracle.mean, atol=2e-4)


def test_map_is_a_point_prediction_with_learned_noise(sine_data):
    x, y = sine_data
    model = pb.BayesianMLP(1, 1, hidden=(32,), activation="relu")
    fit = fit_map(model, x, y, num_epochs=150, batch_size=40, seed=0)
    prediction = fit.predict(GRID)
    assert torch.equal(prediction.epistemic_var, torch.zeros(25))
    assert float(np.sqrt(np.mean((prediction.mean.numpy() - TRUTH) ** 2))) < 0.2
    assert 0.05 < float(fit.draws["sigma"][0]) < 0.2  # true noise 0.1


def test_map_validation_picks_a_checked_epoch(sine_data):
    x, y = sine_data
    model = pb.BayesianMLP(1, 1, hidden=(8,), activation="relu")
    fit = fit_map(model, x, y, num_epochs=10, batch_size=40, validation_fraction=0.25)
    assert fit.diagnostics["num_epochs"] in fit.diagnostics["validation_ll"]


# --------------------------------------------------------------------------- classification


def _two_blobs(num_points=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, num_points)
    centers = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])
    x = centers[y] + 0.5 * rng.standard_normal((num_points, 2))
    return x.astype(np.float32), y


@pytest.mark.parametrize("method", ["map", "ensemble", "dropout"])
def test_classification_baselines(method):
    x, y = _two_blobs()
    if method == "map":
        model = pb.BayesianMLP(2, 3, hidden=(16,), likelihood=pb.Categorical())
        fit = fit_map(model, x, y, num_epochs=60, batch_size=40)
    elif method == "ensemble":
        fit = fit_ensemble(x, y, hidden=(16,), num_classes=3, num_members=3, num_epochs=60)
    else:
        fit = fit_mc_dropout(
            x, y, hidden=(16,), num_classes=3, dropout=0.1, num_epochs=60, lr=1e-2,
            num_passes=100,
        )  # fmt: skip
    prediction = fit.predict(x)
    assert isinstance(prediction, pb.ClassificationPrediction)
    assert prediction.probs.shape == (120, 3)
    torch.testing.assert_close(prediction.probs.sum(-1), torch.ones(120))
    assert float((prediction.predicted_class.numpy() == y).mean()) > 0.9
    mutual_information = prediction.mutual_information
    assert (mutual_information >= 0).all() and (
        mutual_information <= prediction.entropy + 1e-6
    ).all()
    if method == "map":
        assert torch.equal(mutual_information, torch.zeros(120))
    else:
        assert float(mutual_information.max()) > 1e-3  # the members / masks disagree somewhere


# --------------------------------------------------------------------------- seeds and errors


def test_same_seed_same_prediction(sine_data):
    x, y = sine_data
    first = fit_ensemble(x, y, hidden=(8,), num_members=2, num_epochs=5, seed=3).predict(GRID)
    second = fit_ensemble(x, y, hidden=(8,), num_members=2, num_epochs=5, seed=3).predict(GRID)
    other = fit_ensemble(x, y, hidden=(8,), num_members=2, num_epochs=5, seed=4).predict(GRID)
    assert torch.equal(first.mean, second.mean)
    assert not torch.equal(first.mean, other.mean)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x, y: fit_ensemble(x, y, num_members=0), "num_members must be a positive"),
        (lambda x, y: fit_ensemble(x, y, weight_decay=-1.0), "weight_decay must be"),
        (
            lambda x, y: fit_ensemble(x, y, validation_fraction=1.0),
            r"validation_fraction .* \[0, 1\)",
        ),
        (lambda x, y: fit_ensemble(x, y, activation="swish"), "unknown activation 'swish'"),
        (lambda x, y: fit_ensemble(x, y, num_classes=1), "num_classes must be an integer >= 2"),
        (lambda x, y: fit_ensemble(x, y, hidden=(0,)), "hidden must be a sequence"),
        (lambda x, y: fit_mc_dropout(x, y, dropout=1.5), r"dropout must be in \(0, 1\)"),
        (lambda x, y: fit_mc_dropout(x, y, tau=(1.0, -2.0)), "tau must be a positive number"),
        (lambda x, y: fit_mc_dropout(x, y, tau=()), "tau must be a number or a non-empty"),
        (lambda x, y: fit_mc_dropout(x, y[:10]), "x and y have different lengths"),
        (lambda x, y: fit_mc_dropout(x, y, num_classes=3), "class labels must be integers"),
        (lambda x, y: fit_map(pb.BayesianMLP(1), x, y, num_epochs=0), "num_epochs must be"),
        (lambda x, y: fit_swag(pb.BayesianMLP(1), x, y, swag_epochs=1), "swag_epochs must be at"),
        (lambda x, y: fit_swag(pb.BayesianMLP(1), x, y, momentum=1.0), r"momentum must be in"),
    ],
)
def test_bad_arguments_raise_clear_errors(sine_data, call, match):
    x, y = sine_data
    with pytest.raises(ValueError, match=match):
        call(x, y)


def test_fit_map_needs_a_bayesian_mlp(sine_data):
    x, y = sine_data
    with pytest.raises(TypeError, match="model must be a pyro_bnn BayesianMLP"):
        fit_map(lambda x, y=None: None, x, y)
