"""Tests for pyro_bnn.baselines: MAP, MC dropout, deep ensembles, SWAG."""

from __future__ import annotations

import random

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


def _net(hidden=(32,), out_features=1, likelihood=None, in_features=1):
    return pb.BayesianMLP(
        in_features, out_features, hidden=hidden, activation="relu", likelihood=likelihood
    )


@pytest.fixture(scope="module")
def ensemble_fit(sine_data):
    x, y = sine_data
    return fit_ensemble(
        _net(), x, y, num_members=5, num_epochs=300, lr=0.02, batch_size=None, seed=0,
        progress=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def dropout_fit(sine_data):
    x, y = sine_data
    return fit_mc_dropout(
        _net(), x, y, dropout=0.05, tau=100.0, num_epochs=200, batch_size=None, lr=0.02,
        num_passes=400, seed=0, progress=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def swag_fit(sine_data):
    x, y = sine_data
    return fit_swag(
        _net(), x, y, num_epochs=300, lr=0.02, batch_size=16, swag_epochs=30, num_draws=200,
        progress=False,
    )  # fmt: skip


@pytest.fixture
def mixture_fit(request, ensemble_fit, dropout_fit, swag_fit):
    return {"ensemble": ensemble_fit, "dropout": dropout_fit, "swag": swag_fit}[request.param]


MIXTURES = pytest.mark.parametrize("mixture_fit", ["ensemble", "dropout", "swag"], indirect=True)


GRID = np.linspace(-1.9, 1.9, 25)[:, None].astype(np.float32)
TRUTH = np.sin(2 * GRID[:, 0])


def _law_of_total_variance(fit: BaselineFit, x) -> tuple[np.ndarray, np.ndarray]:
    """Mixture variances in original units, computed independently from the per-draw
    network outputs and the scaler's statistics (not through predict)."""
    scaler = fit.scaler
    x_model = (np.asarray(x, dtype=np.float64) - scaler.x_mean) / scaler.x_std
    with torch.no_grad():
        out = fit.model.network(fit.draws, torch.as_tensor(x_model, dtype=torch.float32))
        mean, var = fit.model.likelihood.mean_var(out, fit.draws)
    mean = mean.double().numpy() * scaler.y_std + scaler.y_mean
    var = var.double().numpy() * scaler.y_std**2
    total = (var + mean**2).mean(0) - mean.mean(0) ** 2
    return mean.var(0), total


def _rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


# --------------------------------------------------------------------------- shapes & fit


@MIXTURES
def test_mixture_predictions_fit_the_curve_with_right_shapes(mixture_fit):
    fit = mixture_fit
    assert isinstance(fit, pb.Posterior)
    prediction = pb.predict(fit, GRID)
    assert isinstance(prediction, pb.RegressionPrediction)
    assert isinstance(prediction.mean, np.ndarray)  # numpy in, numpy out
    assert prediction.mean.shape == (25,)
    assert prediction.std.shape == (25,)
    assert prediction.mean_draws.shape == (fit.num_draws, 25)
    assert _rmse(prediction.mean, TRUTH) < 0.2
    low, high = prediction.interval(0.9)
    assert (low < prediction.mean).all() and (prediction.mean < high).all()


@MIXTURES
def test_total_variance_is_epistemic_plus_aleatoric(mixture_fit):
    fit = mixture_fit
    prediction = fit.predict(GRID)
    epistemic, total = _law_of_total_variance(fit, GRID)
    np.testing.assert_allclose(prediction.epistemic_var, epistemic, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(prediction.total_var, total, rtol=1e-3, atol=1e-6)
    assert (prediction.epistemic_var > 0).all()
    # and the mixture's own samples agree (Monte Carlo, 20k draws: ~1% relative error)
    samples = np.asarray(prediction.sample(20000, seed=3))
    np.testing.assert_allclose(samples.var(0), total, rtol=0.08)


@MIXTURES
def test_epistemic_std_grows_far_from_the_data(mixture_fit):
    fit = mixture_fit
    near = fit.predict(GRID).epistemic_std.mean()
    far = fit.predict(np.array([[-8.0], [8.0]], dtype=np.float32)).epistemic_std.min()
    assert far > 2 * near


def test_dropout_noise_is_one_over_tau_in_standardized_units(dropout_fit, sine_data):
    _, y = sine_data
    prediction = dropout_fit.predict(GRID)
    # tau is a precision of the standardized targets: noise variance y_std**2 / tau
    expected = np.full(25, np.var(y.astype(np.float64)) / 100.0)
    np.testing.assert_allclose(prediction.aleatoric_var, expected, rtol=1e-5)
    assert dropout_fit.diagnostics["tau"] == 100.0
    assert dropout_fit.num_draws == 400


def test_dropout_grid_search_picks_the_true_noise_precision(sine_data):
    x, y = sine_data
    fit = fit_mc_dropout(
        _net(), x, y, dropout=(0.01,), tau=(1.0, 100.0), num_epochs=200, batch_size=None,
        lr=0.02, validation_fraction=0.25, validation_passes=50, num_passes=50, seed=0,
        progress=False,
    )  # fmt: skip
    assert fit.diagnostics["tau"] == 100.0  # true precision ~50 in standardized units
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
    fit = fit_ensemble(
        _net((16,)), x, y, num_members=3, num_epochs=100, batch_size=100, seed=0, progress=False
    )
    aleatoric = fit.predict(np.array([[-1.0], [1.0]], dtype=np.float32)).aleatoric_std
    assert float(aleatoric[0]) < 0.15 and 0.3 < float(aleatoric[1]) < 0.8


def _check_early_stopping(diagnostics):
    epochs, scores = diagnostics["validation_epochs"], diagnostics["validation_ll"]
    assert len(epochs) == len(scores) >= 2
    assert diagnostics["num_epochs"] == epochs[int(np.argmax(scores))]  # the best, not any
    assert len(diagnostics["loss"]) == diagnostics["num_epochs"]


def test_ensemble_early_stopping_chooses_the_best_epoch(sine_data):
    x, y = sine_data
    fit = fit_ensemble(
        _net((8,)), x, y, num_members=2, num_epochs=20, batch_size=40, validation_fraction=0.25,
        progress=False,
    )  # fmt: skip
    _check_early_stopping(fit.diagnostics)


# --------------------------------------------------------------------------- MAP


def test_map_of_linear_model_is_the_exact_posterior_mode(linear_oracle):
    fit = fit_map(
        linear_oracle.model(), linear_oracle.x, linear_oracle.y, num_epochs=500, lr=5e-2,
        batch_size=None, dtype=torch.float64, standardize=False, progress=False,
    )  # fmt: skip
    assert fit.num_draws == 1 and fit.scaler is None
    found = linear_oracle.stack(fit.draws)[0].numpy()
    np.testing.assert_allclose(found, linear_oracle.mean, atol=2e-4)


def test_map_is_a_point_prediction_with_learned_noise(sine_data):
    x, y = sine_data
    fit = fit_map(_net(), x, y, num_epochs=400, batch_size=40, seed=0, progress=False)
    prediction = fit.predict(GRID)
    np.testing.assert_array_equal(prediction.epistemic_var, np.zeros(25))
    assert _rmse(prediction.mean, TRUTH) < 0.2
    assert 0.05 < float(prediction.aleatoric_std[0]) < 0.2  # true noise 0.1 (original units)
    # the draw itself is in standardized units
    np.testing.assert_allclose(
        float(fit.draws["sigma"][0]) * fit.scaler.y_std, prediction.aleatoric_std[0], rtol=1e-5
    )


def test_map_validation_picks_the_best_checked_epoch(sine_data):
    x, y = sine_data
    fit = fit_map(
        _net((8,)), x, y, num_epochs=10, batch_size=40, validation_fraction=0.25, progress=False
    )
    _check_early_stopping(fit.diagnostics)


# --------------------------------------------------------------------------- classification


def _two_blobs(num_points=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, num_points)
    centers = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])
    x = centers[y] + 0.5 * rng.standard_normal((num_points, 2))
    return x.astype(np.float32), y


@pytest.mark.parametrize("method", ["map", "ensemble", "dropout", "swag"])
def test_classification_baselines(method):
    x, y = _two_blobs()
    x = 100 + 30 * x  # raw units: the baselines standardize the inputs, never the labels
    model = _net((16,), out_features=3, likelihood=pb.Categorical(), in_features=2)
    settings = dict(num_epochs=60, progress=False)
    if method == "map":
        fit = fit_map(model, x, y, batch_size=40, **settings)
    elif method == "swag":
        fit = fit_swag(model, x, y, batch_size=40, swag_epochs=10, num_draws=50, **settings)
    elif method == "ensemble":
        fit = fit_ensemble(model, x, y, num_members=3, **settings)
    else:
        fit = fit_mc_dropout(model, x, y, dropout=0.1, lr=1e-2, num_passes=100, **settings)
    assert fit.scaler.task == "classification"
    prediction = pb.predict(fit, x)
    assert isinstance(prediction, pb.ClassificationPrediction)
    assert prediction.probs.shape == (120, 3)
    np.testing.assert_allclose(prediction.probs.sum(-1), np.ones(120), rtol=1e-5)
    assert float((prediction.predicted_class == y).mean()) > 0.9
    mutual_information = prediction.mutual_information
    assert (mutual_information >= 0).all() and (
        mutual_information <= prediction.entropy + 1e-6
    ).all()
    if method == "map":
        np.testing.assert_array_equal(mutual_information, np.zeros(120))
    else:  # the members / masks / SWAG draws disagree somewhere
        assert float(mutual_information.max()) > (1e-5 if method == "swag" else 1e-3)


# --------------------------------------------------------------------------- units and scaling

FITS = {
    "map": lambda model, x, y, **kw: fit_map(model, x, y, num_epochs=20, batch_size=None, **kw),
    "swag": lambda model, x, y, **kw: fit_swag(
        model, x, y, num_epochs=20, swag_epochs=5, num_draws=20, batch_size=None, **kw
    ),
    "mc-dropout": lambda model, x, y, **kw: fit_mc_dropout(
        model, x, y, dropout=0.05, tau=10.0, num_epochs=20, num_passes=20, batch_size=None, **kw
    ),
    "ensemble": lambda model, x, y, **kw: fit_ensemble(
        model, x, y, num_members=2, num_epochs=20, batch_size=None, **kw
    ),
}
EVERY_BASELINE = pytest.mark.parametrize("method", list(FITS))


def _mixed_scale_table(num_rows, seed):
    """A raw table: features of very different scales, targets ~150 +- 60, noise std 10."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.uniform(0, 10, num_rows), rng.uniform(0, 1000, num_rows)])
    truth = 150 + 10 * (x[:, 0] - 5) + 0.05 * (x[:, 1] - 500) + 20 * np.sin(x[:, 0])
    return x, truth + 10 * rng.standard_normal(num_rows), truth


@pytest.mark.parametrize(
    "method, settings",
    [
        ("map", dict(num_epochs=400, batch_size=None)),
        ("swag", dict(num_epochs=400, batch_size=None, swag_epochs=20, num_draws=50)),
        (
            "mc-dropout",
            dict(
                dropout=0.01,
                tau=(10.0, 50.0),
                num_epochs=1000,
                lr=1e-2,
                batch_size=None,
                num_passes=100,
                validation_passes=20,
            ),
        ),
        ("ensemble", dict(num_members=3, num_epochs=400, batch_size=None)),
    ],
)
def test_raw_targets_of_scale_100_fit_as_well_as_least_squares(method, settings):
    """Priors are meant for standardized data: on a raw table (targets ~150, features on
    [0, 10] and [0, 1000]) every baseline must standardize by itself and beat a least-
    squares line, and come close to the noise floor (std 10) of the known function."""
    x, y, _ = _mixed_scale_table(300, seed=0)
    x_test, y_test, truth_test = _mixed_scale_table(300, seed=1)
    design = np.column_stack([np.ones(len(x)), x])
    coefficients = np.linalg.lstsq(design, y, rcond=None)[0]
    least_squares = _rmse(np.column_stack([np.ones(len(x_test)), x_test]) @ coefficients, y_test)
    fit = {
        "map": fit_map,
        "swag": fit_swag,
        "mc-dropout": fit_mc_dropout,
        "ensemble": fit_ensemble,
    }[method](_net((20,), in_features=2), x, y, seed=0, progress=False, **settings)
    prediction = pb.predict(fit, x_test)
    rmse = _rmse(prediction.mean, y_test)
    noise_floor = _rmse(truth_test, y_test)  # ~10
    assert rmse < 0.9 * least_squares, (rmse, least_squares)
    assert rmse < 1.25 * noise_floor, (rmse, noise_floor)
    # intervals in original units: the 90% interval covers about 90% of the test rows
    low, high = prediction.interval(0.9)
    assert 0.75 < float(np.mean((low <= y_test) & (y_test <= high))) <= 1.0


@EVERY_BASELINE
def test_predictions_come_back_in_original_units(method):
    """Standardizing makes a fit equivariant: fitting (a x + b, c y + d), c > 0, predicts
    c * mean + d, c * std and the mapped intervals at a x_new + b."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-2, 2, size=(60, 1))
    y = np.sin(2 * x[:, 0]) + 0.1 * rng.standard_normal(60)
    x_new = np.array([[-1.5], [0.0], [0.7], [3.0]])
    a, b, c, d = 40.0, 7.0, 250.0, 1000.0
    settings = dict(dtype=torch.float64, seed=1, progress=False)
    plain = pb.predict(FITS[method](_net((8,)), x, y, **settings), x_new)
    scaled_fit = FITS[method](_net((8,)), a * x + b, c * y + d, **settings)
    scaled = pb.predict(scaled_fit, a * x_new + b)
    assert isinstance(scaled.mean, np.ndarray)
    np.testing.assert_allclose(scaled.mean, c * plain.mean + d, rtol=1e-6, atol=1e-6 * c)
    np.testing.assert_allclose(scaled.std, c * plain.std, rtol=1e-5)
    np.testing.assert_allclose(scaled.aleatoric_var, c**2 * plain.aleatoric_var, rtol=1e-5)
    np.testing.assert_allclose(
        scaled.epistemic_var, c**2 * plain.epistemic_var, rtol=1e-4, atol=1e-9
    )
    low, high = scaled.interval(0.8)
    plain_low, plain_high = plain.interval(0.8)
    np.testing.assert_allclose(low, c * plain_low + d, rtol=1e-5)
    np.testing.assert_allclose(high, c * plain_high + d, rtol=1e-5)
    # and the draws are in standardized units, the scaler from the training data only
    np.testing.assert_allclose(scaled_fit.scaler.y_mean, np.mean(c * y + d))
    np.testing.assert_allclose(scaled_fit.scaler.x_std, np.std(a * x + b, axis=0))


@EVERY_BASELINE
def test_standardize_false_fits_the_data_as_given(method):
    rng = np.random.default_rng(4)
    x = rng.uniform(-2, 2, size=(40, 1))
    y = x[:, 0] + 0.1 * rng.standard_normal(40)
    fit = FITS[method](_net((4,)), x, y, standardize=False, progress=False)
    assert fit.scaler is None
    scaled = FITS[method](_net((4,)), x, y, progress=False)
    assert scaled.scaler is not None and scaled.scaler.task == "regression"


def _global_rng_states():
    return torch.get_rng_state().clone(), np.random.get_state()[1].copy(), random.getstate()


@EVERY_BASELINE
def test_no_global_state_is_touched_and_the_callers_model_is_not_changed(method, sine_data):
    x, y = sine_data
    model = _net((4,))
    before = _global_rng_states()
    fit = FITS[method](model, x, y, dtype=torch.float64, progress=False)
    after = _global_rng_states()
    assert torch.equal(before[0], after[0])
    assert np.array_equal(before[1], after[1])
    assert before[2] == after[2]
    assert model._like.dtype == torch.float32  # the caller's model keeps its dtype
    assert fit.model is not model and fit.model._like.dtype == torch.float64
    assert next(iter(fit.draws.values())).dtype == torch.float64


@EVERY_BASELINE
def test_save_and_load_keep_draws_scaler_and_predictions(method, sine_data, tmp_path):
    x, y = sine_data
    fit = FITS[method](_net((4,)), 10 * x + 3, 50 * y + 100, progress=False)
    fit.save(tmp_path / "fit.pt")
    loaded = pb.Posterior.load(tmp_path / "fit.pt")
    assert loaded.method == fit.method
    assert loaded.scaler.to_dict() == fit.scaler.to_dict()
    assert loaded.model.to_config() == fit.model.to_config()
    for name, value in fit.draws.items():
        torch.testing.assert_close(loaded.draws[name], value)
    grid = 10 * GRID + 3
    expected, found = pb.predict(fit, grid), pb.predict(loaded, grid)
    np.testing.assert_allclose(found.mean, expected.mean, rtol=1e-6)
    np.testing.assert_allclose(found.std, expected.std, rtol=1e-6)
    assert isinstance(BaselineFit.load(tmp_path / "fit.pt"), BaselineFit)


# --------------------------------------------------------------------------- seeds and errors


def test_same_seed_same_prediction(sine_data):
    x, y = sine_data

    def fit(seed):
        return fit_ensemble(
            _net((8,)), x, y, num_members=2, num_epochs=5, seed=seed, progress=False
        ).predict(GRID)

    first, second, other = fit(3), fit(3), fit(4)
    np.testing.assert_array_equal(first.mean, second.mean)
    assert not np.array_equal(first.mean, other.mean)


def test_the_old_calling_form_still_works_and_warns(sine_data):
    x, y = sine_data
    settings = dict(num_members=2, num_epochs=5, seed=0, progress=False)
    with pytest.warns(DeprecationWarning, match=r"pass the network first"):
        old = fit_ensemble(x, y, hidden=(8,), activation="relu", **settings)
    new = fit_ensemble(_net((8,)), x, y, **settings)
    np.testing.assert_array_equal(old.predict(GRID).mean, new.predict(GRID).mean)
    with pytest.warns(DeprecationWarning):
        old = fit_mc_dropout(
            x, y, dropout=0.1, tau=10.0, num_epochs=3, num_passes=5, progress=False
        )
    assert old.model.hidden == (50,) and old.model.activation == "relu"


def _old_form(call):
    """The deprecated form's argument errors (it still validates like before)."""

    def run(x, y):
        with pytest.warns(DeprecationWarning):
            call(x, y)

    return run


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x, y: fit_ensemble(_net(), x, y, num_members=0), "num_members must be a positive"),
        (lambda x, y: fit_ensemble(_net(), x, y, weight_decay=-1.0), "weight_decay must be"),
        (
            lambda x, y: fit_ensemble(_net(), x, y, validation_fraction=1.0),
            r"validation_fraction .* \[0, 1\)",
        ),
        (_old_form(lambda x, y: fit_ensemble(x, y, activation="swish")), "unknown activation"),
        (
            _old_form(lambda x, y: fit_ensemble(x, y, num_classes=1)),
            "num_classes must be an integer >= 2",
        ),
        (_old_form(lambda x, y: fit_ensemble(x, y, hidden=(0,))), "hidden must be a sequence"),
        (lambda x, y: fit_ensemble(_net(), x, y, hidden=(8,)), r"hidden come\(s\) from the model"),
        (
            lambda x, y: fit_ensemble(_net(likelihood=pb.Poisson()), x, y),
            "fit_ensemble needs a model with a Gaussian",
        ),
        (
            lambda x, y: fit_mc_dropout(_net(out_features=2), x, y),
            "handles one regression target",
        ),
        (lambda x, y: fit_mc_dropout(_net(), x, y, dropout=1.5), r"dropout must be in \(0, 1\)"),
        (
            lambda x, y: fit_mc_dropout(_net(), x, y, tau=(1.0, -2.0)),
            "tau must be a positive number",
        ),
        (lambda x, y: fit_mc_dropout(_net(), x, y, tau=()), "tau must be a number or a non-empty"),
        (lambda x, y: fit_mc_dropout(_net(), x, y[:10]), "x and y have different lengths"),
        (
            lambda x, y: fit_mc_dropout(_net(out_features=3, likelihood=pb.Categorical()), x, y),
            "class labels must be integers",
        ),
        (lambda x, y: fit_map(_net(), x, y, num_epochs=0), "num_epochs must be"),
        (lambda x, y: fit_map(_net(), x, y, standardize="y"), "standardize must be"),
        (lambda x, y: fit_map(_net(), x, y, dtype=torch.int32), "dtype must be torch.float32"),
        (lambda x, y: fit_swag(_net(), x, y, swag_epochs=1), "swag_epochs must be at"),
        (lambda x, y: fit_swag(_net(), x, y, momentum=1.0), r"momentum must be in"),
    ],
)
def test_bad_arguments_raise_clear_errors(sine_data, call, match):
    x, y = sine_data
    with pytest.raises(ValueError, match=match):
        call(x, y)


@pytest.mark.parametrize("fit", [fit_map, fit_swag, fit_ensemble, fit_mc_dropout])
def test_baselines_need_a_bayesian_mlp(sine_data, fit):
    x, y = sine_data
    with pytest.raises(TypeError, match="model must be a pyro_bnn BayesianMLP"):
        fit(lambda x, y=None: None, x, y)


def test_settings_are_keyword_only(sine_data):
    x, y = sine_data
    with pytest.raises(TypeError, match="positional argument"):
        fit_map(_net(), x, y, 10)
    with pytest.raises(TypeError, match="targets y are missing"):
        fit_ensemble(_net(), x)
