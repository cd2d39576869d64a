"""The contract every baseline shares: fit_*(model, x, y, *, ...) → a Posterior like any other."""

from __future__ import annotations

import inspect

import matplotlib.pyplot as plt
import numpy as np
import pyro
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.baselines import BaselineFit, fit_ensemble, fit_map, fit_mc_dropout, fit_swag

from .helpers import (
    EVERY_BASELINE,
    FITS,
    GRID,
    TRUTH,
    assert_same_rng_states,
    global_rng_states,
    law_of_total_variance,
    net,
    rmse,
)

MIXTURES = pytest.mark.parametrize("mixture_fit", ["ensemble", "dropout", "swag"], indirect=True)


# --------------------------------------------------------------------------- predictions


@MIXTURES
@pytest.mark.slow
def test_mixture_predictions_fit_the_curve_with_right_shapes(mixture_fit):
    fit = mixture_fit
    assert isinstance(fit, pb.Posterior)
    prediction = pb.predict(fit, GRID)
    assert isinstance(prediction, pb.RegressionPrediction)
    assert isinstance(prediction.mean, np.ndarray)  # numpy in, numpy out
    assert prediction.mean.shape == (25,)
    assert prediction.std.shape == (25,)
    assert prediction.mean_draws.shape == (fit.num_draws, 25)
    assert rmse(prediction.mean, TRUTH) < 0.2
    low, high = prediction.interval(0.9)
    assert (low < prediction.mean).all() and (prediction.mean < high).all()


@MIXTURES
def test_total_variance_is_epistemic_plus_aleatoric(mixture_fit):
    fit = mixture_fit
    prediction = fit.predict(GRID)
    epistemic, total = law_of_total_variance(fit, GRID)
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
    model = net((16,), out_features=3, likelihood=pb.Categorical(), in_features=2)
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
@pytest.mark.slow
def test_raw_targets_of_scale_100_fit_as_well_as_least_squares(method, settings):
    """Priors are meant for standardized data: on a raw table (targets ~150, features on
    [0, 10] and [0, 1000]) every baseline must standardize by itself and beat a least-
    squares line, and come close to the noise floor (std 10) of the known function."""
    x, y, _ = _mixed_scale_table(300, seed=0)
    x_test, y_test, truth_test = _mixed_scale_table(300, seed=1)
    design = np.column_stack([np.ones(len(x)), x])
    coefficients = np.linalg.lstsq(design, y, rcond=None)[0]
    least_squares = rmse(np.column_stack([np.ones(len(x_test)), x_test]) @ coefficients, y_test)
    fit = {
        "map": fit_map,
        "swag": fit_swag,
        "mc-dropout": fit_mc_dropout,
        "ensemble": fit_ensemble,
    }[method](net((20,), in_features=2), x, y, seed=0, progress=False, **settings)
    prediction = pb.predict(fit, x_test)
    error = rmse(prediction.mean, y_test)
    noise_floor = rmse(truth_test, y_test)  # ~10
    assert error < 0.9 * least_squares, (error, least_squares)
    assert error < 1.25 * noise_floor, (error, noise_floor)
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
    plain = pb.predict(FITS[method](net((8,)), x, y, **settings), x_new)
    scaled_fit = FITS[method](net((8,)), a * x + b, c * y + d, **settings)
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
    fit = FITS[method](net((4,)), x, y, standardize=False, progress=False)
    assert fit.scaler is None
    scaled = FITS[method](net((4,)), x, y, progress=False)
    assert scaled.scaler is not None and scaled.scaler.task == "regression"


# --------------------------------------------------------------------------- isolation, save/load


@EVERY_BASELINE
def test_the_callers_model_keeps_its_dtype_and_the_fit_uses_the_one_asked_for(method, sine_data):
    x, y = sine_data
    model = net((4,))
    before = global_rng_states()
    fit = FITS[method](model, x, y, dtype=torch.float64, progress=False)
    assert_same_rng_states(before, global_rng_states())
    assert model._like.dtype == torch.float32  # the caller's model keeps its dtype
    assert fit.model is not model and fit.model._like.dtype == torch.float64
    assert next(iter(fit.draws.values())).dtype == torch.float64
    # dtype=None: the model's own dtype
    default = FITS[method](net((4,)).double(), x, y, progress=False)
    assert next(iter(default.draws.values())).dtype == torch.float64


@EVERY_BASELINE
def test_predict_save_load_predict_is_identical_and_leaves_global_state_alone(
    method, sine_data, tmp_path
):
    x, y = sine_data
    pyro.param("users_own", torch.tensor(5.0))  # the user's store must survive everything
    store_before = set(pyro.get_param_store().keys())
    before = global_rng_states()
    fit = FITS[method](net((4,)), 10 * x + 3, 50 * y + 100, seed=2, progress=False)
    grid = 10 * GRID + 3
    expected = pb.predict(fit, grid)
    fit.save(tmp_path / "fit.pt")
    loaded = pb.Posterior.load(tmp_path / "fit.pt")
    found = pb.predict(loaded, grid)
    assert_same_rng_states(before, global_rng_states())
    assert set(pyro.get_param_store().keys()) == store_before
    assert float(pyro.param("users_own").detach()) == 5.0
    assert loaded.method == fit.method
    assert loaded.scaler.to_dict() == fit.scaler.to_dict()
    assert loaded.model.to_config() == fit.model.to_config()
    for name, value in fit.draws.items():
        assert torch.equal(loaded.draws[name], value)
    for field in ("mean", "std", "epistemic_var", "aleatoric_var"):
        np.testing.assert_array_equal(getattr(found, field), getattr(expected, field))
    np.testing.assert_array_equal(found.interval(0.9), expected.interval(0.9))
    assert isinstance(BaselineFit.load(tmp_path / "fit.pt"), BaselineFit)
    # metrics and plots read it like any other prediction
    y_grid = 50 * np.sin(2 * GRID[:, 0]) + 100
    scores = pb.metrics.evaluate(found, y_grid)
    assert scores == pb.metrics.evaluate(expected, y_grid)
    assert np.isfinite(scores["test_ll"]) and scores["rmse"] > 0
    figure = pb.plots.plot_regression(found, grid, 10 * x + 3, 50 * y + 100)
    plt.close(figure)


# --------------------------------------------------------------------------- calling convention


def test_the_old_calling_form_still_works_and_warns(sine_data):
    x, y = sine_data
    settings = dict(num_members=2, num_epochs=5, seed=0, progress=False)
    with pytest.warns(DeprecationWarning, match=r"pass the network first"):
        old = fit_ensemble(x, y, hidden=(8,), activation="relu", **settings)
    new = fit_ensemble(net((8,)), x, y, **settings)
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
        (lambda x, y: fit_ensemble(net(), x, y, num_members=0), "num_members must be a positive"),
        (lambda x, y: fit_ensemble(net(), x, y, weight_decay=-1.0), "weight_decay must be"),
        (
            lambda x, y: fit_ensemble(net(), x, y, validation_fraction=1.0),
            r"validation_fraction .* \[0, 1\)",
        ),
        (_old_form(lambda x, y: fit_ensemble(x, y, activation="swish")), "unknown activation"),
        (
            _old_form(lambda x, y: fit_ensemble(x, y, num_classes=1)),
            "num_classes must be an integer >= 2",
        ),
        (_old_form(lambda x, y: fit_ensemble(x, y, hidden=(0,))), "hidden must be a sequence"),
        (lambda x, y: fit_ensemble(net(), x, y, hidden=(8,)), r"hidden come\(s\) from the model"),
        (
            lambda x, y: fit_ensemble(net(likelihood=pb.Poisson()), x, y),
            "fit_ensemble needs a model with a Gaussian",
        ),
        (
            lambda x, y: fit_mc_dropout(net(out_features=2), x, y),
            "handles one regression target",
        ),
        (lambda x, y: fit_mc_dropout(net(), x, y, dropout=1.5), r"dropout must be in \(0, 1\)"),
        (lambda x, y: fit_mc_dropout(net(), x, y, tau=(1.0, -2.0)), "tau must be a positive"),
        (lambda x, y: fit_mc_dropout(net(), x, y, tau=()), "tau must be a number or a non-empty"),
        (lambda x, y: fit_mc_dropout(net(), x, y[:10]), "x and y have different lengths"),
        (
            lambda x, y: fit_mc_dropout(net(out_features=3, likelihood=pb.Categorical()), x, y),
            "class labels must be integers",
        ),
        (lambda x, y: fit_map(net(), x, y, num_epochs=0), "num_epochs must be"),
        (lambda x, y: fit_map(net(), x, y, standardize="y"), "standardize must be"),
        (lambda x, y: fit_map(net(), x, y, dtype=torch.int32), "dtype must be torch.float32"),
        (lambda x, y: fit_swag(net(), x, y, swag_epochs=1), "swag_epochs must be at"),
        (lambda x, y: fit_swag(net(), x, y, momentum=1.0), r"momentum must be in"),
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


@pytest.mark.parametrize("fit", [fit_map, fit_swag, fit_ensemble, fit_mc_dropout])
def test_settings_are_keyword_only(sine_data, fit):
    x, y = sine_data
    with pytest.raises(TypeError, match="positional argument"):
        fit(net(), x, y, 10)


def test_missing_targets_are_named(sine_data):
    x, _ = sine_data
    with pytest.raises(TypeError, match="targets y are missing"):
        fit_ensemble(net(), x)


@pytest.mark.parametrize(
    "fit", [fit_map, fit_swag, fit_ensemble, fit_mc_dropout, pb.fit_svi, pb.fit_nuts]
)
def test_every_fit_function_has_one_calling_convention(fit):
    """``fit_*(model, x, y, *, ...)`` with ``seed``, ``progress``, ``device`` and ``dtype``
    of the same names and defaults everywhere."""
    parameters = list(inspect.signature(fit).parameters.values())
    assert [p.name for p in parameters[:3]] == ["model", "x", "y"]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters[:3])
    assert all(p.kind is p.KEYWORD_ONLY for p in parameters[3:])
    defaults = {p.name: p.default for p in parameters}
    assert defaults["seed"] == 0 and defaults["progress"] is True
    assert defaults["device"] is None and defaults["dtype"] is None
    assert defaults["standardize"] is None
