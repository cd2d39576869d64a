"""Tests for pyro_bnn.benchmarks.methods: the registry, the network, fit_predict."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

from pyro_bnn import Categorical, Gaussian, LayerwiseNormal, RegressionPrediction
from pyro_bnn.benchmarks import (
    METHODS,
    REGRESSION_METHODS,
    Setup,
    Skipped,
    fit_predict,
    format_table,
    methods_for,
    read_rows,
    register,
    run_uci,
)

from .helpers import TINY, fake_fit


@pytest.fixture
def regression_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    y = x[:, 0] + 0.3 * rng.normal(size=40)
    return x, (y - y.mean()) / y.std()


def test_the_registry_names_every_method_once_per_task():
    assert REGRESSION_METHODS == (
        "svi", "svi-lowrank", "laplace", "nuts", "map", "mc-dropout", "ensemble", "swag",
    )  # fmt: skip
    assert methods_for("classification") == REGRESSION_METHODS  # every method does both
    assert all(METHODS[name].fit.__doc__ for name in METHODS)
    with pytest.raises(ValueError, match="task must be one of 'regression', 'classification'"):
        methods_for("ranking")


def test_setup_builds_the_benchmark_network():
    settings = replace(TINY, noise_prior_scale=0.5)
    regression = Setup("regression", 3, 1, (7,))
    learned = regression.network(settings)
    assert (learned.in_features, learned.out_features, learned.hidden) == (3, 1, (7,))
    assert learned.activation == "relu" and isinstance(learned.prior, LayerwiseNormal)
    assert isinstance(learned.likelihood, Gaussian) and learned.likelihood.sigma is None
    assert learned.likelihood.sigma_prior_scale == 0.5
    assert learned.likelihood.precision_prior is None
    gamma = regression.network(replace(settings, noise_precision_prior=(6.0, 6.0)))
    assert gamma.likelihood.precision_prior == (6.0, 6.0)
    assert regression.network(settings, sigma=0.2).likelihood.sigma == 0.2
    classifier = Setup("classification", 3, 4, (7,)).network(settings)
    assert isinstance(classifier.likelihood, Categorical) and classifier.out_features == 4
    # the library's default priors: weight scale 1 for regression, 3 for classification
    assert learned.prior.weight_scale == 1.0 and classifier.prior.weight_scale == 3.0


def test_adding_a_method_is_one_registry_entry(synthetic_dir, tmp_path):
    """A new method registered once runs in the protocol and shows in the tables."""
    try:
        register("training-mean", tasks=("regression",))(fake_fit)
        assert "training-mean" in methods_for("regression")
        assert "training-mean" not in methods_for("classification")
        out = tmp_path / "r.csv"
        rows, failures = run_uci(
            synthetic_dir, methods=("map", "training-mean"), splits=1, out=out, quiet=True,
            fitters={"map": fake_fit},
        )  # fmt: skip
        assert failures == []
        assert [r["method"] for r in read_rows(out)] == ["map", "training-mean"]
        assert "| map (ours) | training-mean (ours) |" in format_table(rows, "rmse")
    finally:
        METHODS.pop("training-mean", None)


def test_fit_predict_predicts_every_input_set_and_collects_warnings(regression_data):
    x, y = regression_data

    def warns(setup, x, y, settings):
        warnings.warn("a fit warning", UserWarning, stacklevel=1)
        return fake_fit(setup, x, y, settings)

    setup = Setup("regression", 2, 1, (8,), seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing escapes fit_predict
        predictions, info = fit_predict(
            "map", setup, x, y, [x[:5], x[:7]], TINY, fitters={"map": warns}
        )
    assert [p.mean.shape for p in predictions] == [(5,), (7,)]
    np.testing.assert_allclose(predictions[0].mean, y.mean(), atol=1e-6)
    assert info == {"note": "fake", "warnings": ["a fit warning"]}
    with pytest.raises(ValueError, match="method must be one of .*got 'hmc'"):
        fit_predict("hmc", replace(setup, task="classification"), x, y, [x], TINY)


@pytest.mark.parametrize("method", ["svi-lowrank", "laplace", "nuts"])
def test_bayesian_methods_run_on_tiny_budgets(method, regression_data):
    x, y = regression_data
    setup = Setup("regression", 2, 1, (8,), seed=0)
    (prediction,), info = fit_predict(method, setup, x, y, [x[:6]], TINY)
    assert isinstance(prediction, RegressionPrediction)
    assert np.isfinite(prediction.mean).all() and prediction.mean.shape == (6,)
    assert info["sigma"] > 0
    if method == "laplace":
        assert {"hessian_floored", "log_evidence"} <= set(info)
    if method == "nuts":  # learned noise, 2 chains each from its own MAP fit
        assert TINY.nuts_noise == "learned" and TINY.nuts_chains == 2
        assert "divergences" in info and "mean_tree_depth" in info
        assert len(info["sigma_per_chain"].split("/")) == 2
        assert info["rhat_pred"] >= 0.9  # R-hat of the predictive mean across the chains


def test_nuts_with_the_plug_in_noise_fixes_sigma(regression_data):
    x, y = regression_data
    setup = Setup("regression", 2, 1, (8,), seed=0)
    _, info = fit_predict("nuts", setup, x, y, [x[:6]], replace(TINY, nuts_noise="validation"))
    assert "sigma_per_chain" not in info and info["sigma"] > 0


def test_nuts_skips_large_training_sets(regression_data):
    x, y = regression_data
    setup = Setup("regression", 2, 1, (8,))
    with pytest.raises(Skipped, match="up to 10 points; this one has 40"):
        fit_predict("nuts", setup, x, y, [x], replace(TINY, nuts_max_points=10))


def test_an_unknown_noise_mode_is_named(regression_data):
    x, y = regression_data
    setup = Setup("regression", 2, 1, (8,))
    with pytest.raises(ValueError, match="noise mode must be one of 'learned', 'validation'"):
        fit_predict("svi", setup, x, y, [x], replace(TINY, svi_noise="fixed"))
