"""Tests for pyro_bnn.plots: every figure on small real fits, its contents and bad input."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

import pyro_bnn as pb
from pyro_bnn import data, metrics, plots
from pyro_bnn.inference.diagnostics import mcmc_summary

ROOT = Path(__file__).resolve().parents[1]


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


# --------------------------------------------------------------------------- fits (module scope)


@pytest.fixture(scope="module")
def regression():
    gap = data.make_gap_regression(num_points=40, seed=0)
    net = lambda: pb.BayesianMLP(1, 1, hidden=(5,))  # noqa: E731
    bayes = _quiet(pb.fit_svi, net(), gap.x, gap.y, guide="mvn", num_steps=200, progress=False)
    point = _quiet(pb.fit_svi, net(), gap.x, gap.y, guide="delta", num_steps=200, progress=False)
    x_grid = np.linspace(-6, 6, 50)[:, None]
    return dict(
        x=gap.x,
        y=gap.y,
        x_grid=x_grid,
        posterior=bayes,
        bayes=pb.predict(bayes, x_grid, num_draws=100),
        point=pb.predict(point, x_grid),
        moments_only=pb.predict(bayes, x_grid, num_draws=100, keep_draws=False),
        on_data=pb.predict(bayes, gap.x, num_draws=100),
    )


@pytest.fixture(scope="module")
def classification():
    blobs = data.make_two_class_ood(num_points=40, seed=0)
    star = blobs.extra["query_points"]
    net = lambda: pb.BayesianMLP(2, 1, hidden=(5,), likelihood=pb.Bernoulli())  # noqa: E731
    bayes = _quiet(pb.fit_svi, net(), blobs.x, blobs.y, guide="mvn", num_steps=200, progress=False)
    point = _quiet(
        pb.fit_svi, net(), blobs.x, blobs.y, guide="delta", num_steps=200, progress=False
    )
    grid = plots.grid_2d(blobs.x, num=20, include=star)
    return dict(
        x=blobs.x,
        y=blobs.y,
        star=star,
        grid=grid,
        posterior=bayes,
        bayes=pb.predict(bayes, grid.points, num_draws=100),
        point=pb.predict(point, grid.points),
        bayes_star=pb.predict(bayes, star, num_draws=100),
        point_star=pb.predict(point, star),
        on_data=pb.predict(bayes, blobs.x, num_draws=100),
    )


@pytest.fixture(scope="module")
def nuts_posterior():
    gap = data.make_gap_regression(num_points=30, seed=1)
    model = pb.BayesianMLP(1, 1, hidden=(3,))
    return _quiet(
        pb.fit_nuts,
        model,
        gap.x,
        gap.y,
        num_samples=20,
        warmup_steps=20,
        num_chains=2,
        max_tree_depth=4,
        progress=False,
    )


def _legend_texts(legend) -> list[str]:
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def _band_range(collection) -> tuple[float, float]:
    ys = np.concatenate([path.vertices[:, 1] for path in collection.get_paths()])
    return float(ys.min()), float(ys.max())


# --------------------------------------------------------------------------- plot_regression


def test_plot_regression_bands_match_the_prediction(regression):
    pred = regression["bayes"]
    fig = plots.plot_regression(
        pred,
        regression["x_grid"],
        regression["x"],
        regression["y"],
        point_prediction=regression["point"],
        num_function_draws=3,
        level=0.9,
    )
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y" and ax.get_title()
    labels = _legend_texts(ax.get_legend())
    assert labels == [
        "90% predictive interval (incl. noise)",
        "90% epistemic interval (mean function)",
        "posterior function draws",
        "predictive mean",
        "MAP (point estimate)",
        "training data",
    ]
    total, epistemic = ax.collections[0], ax.collections[1]
    low, high = pred.interval(0.9)
    e_low, e_high = pred.epistemic_interval(0.9)
    assert _band_range(total) == pytest.approx((float(low.min()), float(high.max())), abs=1e-5)
    assert _band_range(epistemic) == pytest.approx(
        (float(e_low.min()), float(e_high.max())), abs=1e-5
    )
    # 3 function draws + predictive mean + MAP line
    assert len(ax.lines) == 5
    np.testing.assert_allclose(ax.lines[3].get_ydata(), pred.mean, rtol=1e-6)
    np.testing.assert_allclose(ax.lines[4].get_ydata(), regression["point"].mean, rtol=1e-6)


def test_plot_regression_point_estimate_has_no_epistemic_band(regression):
    fig = plots.plot_regression(regression["point"], regression["x_grid"])
    labels = _legend_texts(fig.axes[0].get_legend())
    assert labels == ["95% predictive interval (incl. noise)", "MAP (point estimate)"]
    assert len(fig.axes[0].collections) == 1


def test_plot_regression_without_draws_uses_gaussian_bands_on_given_axes(regression):
    pred = regression["moments_only"]
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot_regression(pred, regression["x_grid"][:, 0], ax=ax, title="T") is fig
    z = 1.959964
    low, high = _band_range(ax.collections[0])
    assert low == pytest.approx(float((pred.mean - z * pred.std).min()), abs=1e-4)
    assert high == pytest.approx(float((pred.mean + z * pred.std).max()), abs=1e-4)
    assert ax.get_title() == "T"


def test_plot_regression_bad_input(regression, classification):
    with pytest.raises(ValueError, match="plot_regression needs a regression prediction"):
        plots.plot_regression(classification["bayes"], regression["x_grid"])
    with pytest.raises(ValueError, match="x_grid has 10 points but the prediction has 50"):
        plots.plot_regression(regression["bayes"], regression["x_grid"][:10])
    with pytest.raises(ValueError, match=r"x_grid must have shape \(N,\) or \(N, 1\)"):
        plots.plot_regression(regression["bayes"], np.zeros((50, 2)))
    with pytest.raises(ValueError, match="pass both x_train and y_train"):
        plots.plot_regression(regression["bayes"], regression["x_grid"], x_train=regression["x"])
    with pytest.raises(ValueError, match="num_function_draws must be >= 0"):
        plots.plot_regression(regression["bayes"], regression["x_grid"], num_function_draws=-1)
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
        plots.plot_regression(regression["bayes"], regression["x_grid"], level=95)


# --------------------------------------------------------------------------- grid and maps


def test_grid_2d_covers_data_and_included_points():
    x = np.array([[0.0, 0.0], [2.0, 1.0]])
    grid = plots.grid_2d(x, num=5, margin=0.5, include=[[4.0, -1.0]])
    assert grid.points.shape == (25, 2) and grid.x1.shape == grid.x2.shape == (5, 5)
    # range x1: [0, 4] +- 0.5 * 4; x2: [-1, 1] +- 0.5 * 2
    assert (grid.x1.min(), grid.x1.max()) == (-2.0, 6.0)
    assert (grid.x2.min(), grid.x2.max()) == (-2.0, 2.0)
    np.testing.assert_array_equal(grid.points[:, 0], grid.x1.ravel())
    np.testing.assert_array_equal(grid.points[:, 1], grid.x2.ravel())
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2\)"):
        plots.grid_2d(np.zeros(5))
    with pytest.raises(ValueError, match="num must be an integer >= 2"):
        plots.grid_2d(x, num=1)


def test_plot_classification_maps_colorbars_and_star(classification):
    c = classification
    grid = c["grid"]
    fig = plots.plot_classification(
        c["bayes"], grid.x1, grid.x2, c["x"], c["y"], c["star"], c["bayes_star"], title="maps"
    )
    panels = fig.axes[:3]
    assert len(fig.axes) == 6  # three maps + three colorbars
    assert [ax.get_title() for ax in panels] == [
        "P(class 1)",
        "Total uncertainty: predictive entropy",
        "Epistemic uncertainty: mutual information",
    ]
    assert [fig.axes[i].get_ylabel() for i in (3, 4, 5)] == [
        "P(class 1)",
        "predictive entropy (nats)",
        "mutual information (nats)",
    ]
    for ax in panels:
        assert ax.get_xlabel() == "$x_1$" and ax.get_ylabel() == "$x_2$"
        assert _legend_texts(ax.get_legend()) == ["class 0", "class 1", "query point"]
    p_star = float(c["bayes_star"].probs[0, 1])
    annotations = [t.get_text() for t in panels[0].texts]
    assert annotations == [f"P(class 1) = {plots.classification._format_probability(p_star)}"]
    mesh = panels[1].collections[0]
    np.testing.assert_allclose(np.asarray(mesh.get_array()).ravel(), c["bayes"].entropy, rtol=1e-6)
    assert fig.get_suptitle() == "maps"


def test_plot_classification_on_given_axes_one_kind(classification):
    c = classification
    fig = Figure()
    ax = fig.add_subplot()
    out = plots.plot_classification(
        c["bayes"],
        c["grid"].x1,
        c["grid"].x2,
        c["x"],
        c["y"],
        kinds="mutual_information",
        axes=[ax],
    )
    assert out is fig and ax.get_title() == "Epistemic uncertainty: mutual information"


def test_plot_classification_bad_input(classification, regression):
    c = classification
    grid = c["grid"]
    with pytest.raises(ValueError, match=r"x_train must have shape \(N, 2\)"):
        plots.plot_classification(c["bayes"], grid.x1, grid.x2, c["x"][:, 0], c["y"])
    with pytest.raises(ValueError, match="plot_classification needs a classification"):
        plots.plot_classification(regression["bayes"], grid.x1, grid.x2, c["x"], c["y"])
    with pytest.raises(ValueError, match="unknown kind 'variance'; valid kinds"):
        plots.plot_classification(c["bayes"], grid.x1, grid.x2, c["x"], c["y"], kinds=["variance"])
    with pytest.raises(ValueError, match="the prediction has 400 points but the grid has 100"):
        plots.plot_classification(c["bayes"], grid.x1[:10, :10], grid.x2[:10, :10], c["x"], c["y"])
    with pytest.raises(ValueError, match="query_prediction needs query_points"):
        plots.plot_classification(
            c["bayes"], grid.x1, grid.x2, c["x"], c["y"], query_prediction=c["bayes_star"]
        )
    with pytest.raises(ValueError, match="needs axes= with 3 matplotlib Axes, got 1"):
        plots.plot_classification(
            c["bayes"], grid.x1, grid.x2, c["x"], c["y"], axes=[Figure().add_subplot()]
        )


# --------------------------------------------------------------------------- point vs Bayes


def test_plot_point_vs_bayes_regression(regression):
    r = regression
    fig = plots.plot_point_vs_bayes(
        r["point"], r["bayes"], r["x_grid"], r["x"], r["y"], labels=("MAP", "NUTS")
    )
    left, right = fig.axes
    assert left.get_title().startswith("MAP\n") and right.get_title().startswith("NUTS\n")
    assert left.get_ylim() == right.get_ylim()
    assert left.get_legend() is None and right.get_legend() is None
    (legend,) = fig.legends
    assert _legend_texts(legend) == [
        "95% predictive interval (incl. noise)",
        "MAP",
        "training data",
        "95% epistemic interval (mean function)",
        "predictive mean",
        "MAP, for comparison",
    ]


def test_plot_point_vs_bayes_classification_annotates_both_models(classification):
    c = classification
    fig = plots.plot_point_vs_bayes(
        c["point"],
        c["bayes"],
        c["grid"],
        c["x"],
        c["y"],
        query_points=c["star"],
        point_query_prediction=c["point_star"],
        bayes_query_prediction=c["bayes_star"],
    )
    assert len(fig.axes) == 3  # two maps + one shared colorbar
    for ax, pred, name in zip(
        fig.axes[:2],
        (c["point_star"], c["bayes_star"]),
        ("MAP (point estimate)", "Bayesian"),
        strict=True,
    ):
        text = f"P(class 1) = {plots.classification._format_probability(float(pred.probs[0, 1]))}"
        assert ax.get_title() == f"{name}\n{text} at the star"
        assert [t.get_text() for t in ax.texts] == [text]
    assert fig.axes[2].get_ylabel() == "P(class 1)"


def test_plot_point_vs_bayes_bad_input(regression, classification):
    c = classification
    with pytest.raises(ValueError, match="both must be of the same task"):
        plots.plot_point_vs_bayes(
            regression["point"], c["bayes"], regression["x_grid"], c["x"], c["y"]
        )
    with pytest.raises(ValueError, match="x_grid must be a Grid2D"):
        plots.plot_point_vs_bayes(c["point"], c["bayes"], c["grid"].points, c["x"], c["y"])
    with pytest.raises(ValueError, match="needs axes= with 2 matplotlib Axes"):
        plots.plot_point_vs_bayes(
            c["point"], c["bayes"], c["grid"], c["x"], c["y"], axes=[Figure().add_subplot()]
        )


def test_format_probability_never_shows_a_flat_certainty():
    assert plots.classification._format_probability(0.61234) == "0.61"
    assert plots.classification._format_probability(0.99981) == "0.9998"
    assert plots.classification._format_probability(0.999999) == ">0.9999"
    assert plots.classification._format_probability(0.0002) == "0.0002"


# --------------------------------------------------------------------------- calibration


def test_plot_reliability_bars_and_ece(classification, regression):
    c = classification
    pred, y = c["on_data"], c["y"]
    fig = plots.plot_reliability(pred, y, num_bins=10)
    ax = fig.axes[0]
    curve = metrics.reliability_curve(pred.probs, y, num_bins=10)
    ece = metrics.expected_calibration_error(pred.probs, y, num_bins=10)
    assert f"ECE {ece:.3f}" in ax.get_title()
    filled = curve.count > 0
    heights = [bar.get_height() for bar in ax.containers[0]]
    np.testing.assert_allclose(heights, curve.accuracy[filled])
    assert ax.get_xlabel() == "confidence (top-class probability)" and ax.get_ylabel() == "accuracy"
    assert _legend_texts(ax.get_legend()) == [
        "perfect calibration",
        "accuracy in bin",
        "gap to mean confidence",
    ]
    with pytest.raises(ValueError, match="plot_reliability needs a classification prediction"):
        plots.plot_reliability(regression["on_data"], regression["y"])


def test_plot_calibration_curve_matches_metrics(regression, classification):
    pred, y = regression["on_data"], regression["y"]
    fig = plots.plot_calibration(pred, y)
    ax = fig.axes[0]
    curve = metrics.calibration_curve(pred.cdf(y))
    diagonal, model = ax.lines
    np.testing.assert_allclose(model.get_xdata(), curve.expected)
    np.testing.assert_allclose(model.get_ydata(), curve.observed)
    assert _legend_texts(ax.get_legend()) == ["perfect calibration", "model"]
    assert ax.get_xlabel() and ax.get_ylabel() and "calibration" in ax.get_title()
    with pytest.raises(ValueError, match="plot_calibration needs a regression prediction"):
        plots.plot_calibration(classification["on_data"], classification["y"])
    with pytest.raises(ValueError, match="y has 3 values but the prediction has 40"):
        plots.plot_calibration(pred, y[:3])


def test_plot_predicted_vs_observed_points_bars_and_coverage(regression, classification):
    pred, y = regression["on_data"], regression["y"]
    fig = plots.plot_predicted_vs_observed(pred, y, level=0.8, target_name="speed", title="t")
    ax = fig.axes[0]
    low, high = pred.interval(0.8)
    inside = np.mean((y >= low) & (y <= high))
    assert ax.get_title() == f"t\n{100 * inside:.0f}% of {len(y)} points inside their 80% interval"
    assert ax.get_xlabel() == "observed speed" and ax.get_ylabel() == "predicted speed"
    points = ax.containers[0].lines[0]
    np.testing.assert_allclose(points.get_xdata(), y)
    np.testing.assert_allclose(points.get_ydata(), pred.mean, rtol=1e-6)
    (bars,) = ax.containers[0].lines[2]
    segments = np.asarray(bars.get_segments())  # one vertical bar per point: low to high
    np.testing.assert_allclose(segments[:, 0, 1], low, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(segments[:, 1, 1], high, rtol=1e-5, atol=1e-6)
    assert _legend_texts(ax.get_legend()) == ["predicted = observed", "mean with 80% interval"]
    with pytest.raises(ValueError, match="plot_predicted_vs_observed needs a regression"):
        plots.plot_predicted_vs_observed(classification["on_data"], classification["y"])
    with pytest.raises(ValueError, match="y has 3 values but the prediction has 40"):
        plots.plot_predicted_vs_observed(pred, y[:3])


def test_plots_take_torch_predictions_as_numpy_ones(regression, classification):
    """predict(..., torch x) returns tensors: every figure draws the same numbers."""
    import torch

    post, x = regression["posterior"], regression["x_grid"]
    from_torch = pb.predict(post, torch.as_tensor(x), num_draws=100)
    assert isinstance(from_torch.mean, torch.Tensor)
    figures = [
        plots.plot_regression(p, x, regression["x"], regression["y"], num_function_draws=2)
        for p in (regression["bayes"], from_torch)
    ]
    for a, b in zip(figures[0].axes[0].lines, figures[1].axes[0].lines, strict=True):
        np.testing.assert_allclose(a.get_ydata(), b.get_ydata(), rtol=1e-6)
    on_data = pb.predict(post, torch.as_tensor(regression["x"]), num_draws=100)
    figures = [
        plots.plot_predicted_vs_observed(p, regression["y"])
        for p in (regression["on_data"], on_data)
    ]
    assert figures[0].axes[0].get_title() == figures[1].axes[0].get_title()
    c = classification
    grid = torch.as_tensor(c["grid"].points)
    probs = pb.predict(c["posterior"], grid, num_draws=100)
    figures = [
        plots.plot_classification(p, c["grid"].x1, c["grid"].x2, c["x"], c["y"])
        for p in (c["bayes"], probs)
    ]
    for a, b in zip(figures[0].axes[:3], figures[1].axes[:3], strict=True):
        np.testing.assert_allclose(
            np.asarray(a.collections[0].get_array()),
            np.asarray(b.collections[0].get_array()),
            rtol=1e-5,
            atol=1e-7,
        )


# --------------------------------------------------------------------------- diagnostics


def test_plot_diagnostics_svi_clips_the_early_transient(regression):
    posterior = regression["posterior"]
    fig = plots.plot_diagnostics(posterior)
    (ax,) = fig.axes
    elbo = np.asarray(posterior.diagnostics["elbo"])
    assert ax.get_ylabel() == "ELBO (nats)" and ax.get_xlabel() == "step"
    assert _legend_texts(ax.get_legend()) == ["ELBO per step", "moving average"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), elbo)
    low, high = ax.get_ylim()
    assert elbo.min() < low < high  # the first steps are far below the settled ELBO
    assert "clipped" in ax.get_title()


def test_plot_diagnostics_nuts_trace_and_rank(nuts_posterior):
    fig = plots.plot_diagnostics(nuts_posterior)
    assert len(fig.axes) == 6  # sigma, first and last weight: trace + rank each
    chains = nuts_posterior.chains()
    sigma = chains["sigma"].double()
    stats = mcmc_summary({"sigma": sigma})["sigma"]
    assert fig.axes[0].get_title() == (
        f"sigma: R-hat {stats['r_hat_max']:.3f}, ESS {stats['ess_min']:.0f}"
    )
    assert fig.axes[2].get_title().startswith("layers.0.weight[0, 0]: R-hat")
    assert fig.axes[4].get_title().startswith("layers.1.weight[0, 0]: R-hat")
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), sigma[1].numpy())
    (legend,) = fig.legends
    assert _legend_texts(legend) == ["chain 0", "chain 1", "uniform (chains agree)"]
    # each chain's rank histogram counts all its draws
    rank_ax = fig.axes[1]
    totals = [patch.get_data().values.sum() for patch in rank_ax.patches]
    assert totals == [20, 20]


def test_plot_diagnostics_bad_input(nuts_posterior, regression):
    with pytest.raises(ValueError, match="unknown site 'nope'"):
        plots.plot_diagnostics(nuts_posterior, sites=["nope"])
    with pytest.raises(ValueError, match=r"needs axes= with 4 matplotlib Axes, got 1"):
        plots.plot_diagnostics(
            nuts_posterior, sites=["sigma", "layers.0.bias"], axes=[Figure().add_subplot()]
        )
    with pytest.raises(ValueError, match="posterior.method must be 'svi' or 'nuts'"):
        plots.plot_diagnostics(regression["bayes"])


# --------------------------------------------------------------------------- saving and script


def test_save_figure_writes_a_png(tmp_path, regression):
    fig = plots.plot_regression(regression["bayes"], regression["x_grid"])
    path = plots.save_figure(fig, tmp_path / "sub" / "bands.png", dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["bands.png"]  # no temp file left
    with pytest.raises(ValueError, match="cannot tell the image format"):
        plots.save_figure(fig, tmp_path / "bands.unknown")


def test_point_vs_bayes_script_fast_mode(tmp_path):
    env = dict(os.environ, PYRO_BNN_FAST="1", PYTHONWARNINGS="ignore")
    script = ROOT / "tutorials" / "point_vs_bayes.py"
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "P(class 1) at the star: MAP" in result.stdout
    for name in ("point_vs_bayes_regression.png", "point_vs_bayes_classification.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert not math.isnan(float(result.stdout.split("Bayesian ")[1].split(";")[0]))
