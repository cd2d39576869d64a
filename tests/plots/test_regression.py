"""pyro_bnn.plots.regression: bands over one input, predicted vs observed."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from pyro_bnn import plots

from .figures import band_range, legend_texts


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
    labels = legend_texts(ax.get_legend())
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
    assert band_range(total) == pytest.approx((float(low.min()), float(high.max())), abs=1e-5)
    assert band_range(epistemic) == pytest.approx(
        (float(e_low.min()), float(e_high.max())), abs=1e-5
    )
    # 3 function draws + predictive mean + MAP line
    assert len(ax.lines) == 5
    np.testing.assert_allclose(ax.lines[3].get_ydata(), pred.mean, rtol=1e-6)
    np.testing.assert_allclose(ax.lines[4].get_ydata(), regression["point"].mean, rtol=1e-6)


def test_plot_regression_point_estimate_has_no_epistemic_band(regression):
    fig = plots.plot_regression(regression["point"], regression["x_grid"])
    labels = legend_texts(fig.axes[0].get_legend())
    assert labels == ["95% predictive interval (incl. noise)", "MAP (point estimate)"]
    assert len(fig.axes[0].collections) == 1


def test_plot_regression_without_draws_uses_gaussian_bands_on_given_axes(regression):
    pred = regression["moments_only"]
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot_regression(pred, regression["x_grid"][:, 0], ax=ax, title="T") is fig
    z = 1.959964
    low, high = band_range(ax.collections[0])
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
    assert legend_texts(ax.get_legend()) == ["predicted = observed", "mean with 80% interval"]
    with pytest.raises(ValueError, match="plot_predicted_vs_observed needs a regression"):
        plots.plot_predicted_vs_observed(classification["on_data"], classification["y"])
    with pytest.raises(ValueError, match="y has 3 values but the prediction has 40"):
        plots.plot_predicted_vs_observed(pred, y[:3])


def test_data_gaps_finds_the_hole_and_the_ends():
    x_train = np.concatenate([np.linspace(-4, -1, 30), np.linspace(1, 4, 30)])
    gaps = plots.data_gaps(x_train, -6.0, 6.0)
    assert gaps == [(-6.0, -4.0), (-1.0, 1.0), (4.0, 6.0)]
    # a grid inside the data range: only the hole; a narrow spacing is not a gap
    assert plots.data_gaps(x_train, -4.0, 4.0) == [(-1.0, 1.0)]
    assert plots.data_gaps(np.linspace(0, 1, 11), 0.0, 1.0) == []
    with pytest.raises(ValueError, match="min_width"):
        plots.data_gaps(x_train, -6.0, 6.0, min_width=0)


def test_epistemic_std_ratio_is_the_mean_std_off_over_on_the_data(regression):
    pred, x_grid, x_train = regression["bayes"], regression["x_grid"], regression["x"]
    ratio, std_gap, std_data = plots.epistemic_std_ratio(pred, x_grid, x_train)
    x = x_grid[:, 0]
    std = np.asarray(pred.epistemic_std).reshape(-1)
    in_gap = np.zeros(x.shape, dtype=bool)
    for start, end in plots.data_gaps(x_train, x.min(), x.max()):
        in_gap |= (x > start) & (x < end)
    assert 0 < in_gap.sum() < x.size
    assert std_gap == pytest.approx(std[in_gap].mean(), rel=1e-6)
    assert std_data == pytest.approx(std[~in_gap].mean(), rel=1e-6)
    assert ratio == pytest.approx(std_gap / std_data)


def test_plot_epistemic_std_draws_the_std_and_shades_the_gaps(regression):
    pred, x_grid = regression["bayes"], regression["x_grid"]
    fig = plots.plot_epistemic_std(pred, x_grid, x_train=regression["x"])
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), pred.epistemic_std.reshape(-1), rtol=1e-6)
    gaps = plots.data_gaps(regression["x"], float(x_grid.min()), float(x_grid.max()))
    assert len(ax.patches) == len(gaps) > 0
    ratio = plots.epistemic_std_ratio(pred, x_grid, regression["x"])[0]
    labels = legend_texts(ax.get_legend())
    assert labels[0] == "no training data" and f"{ratio:.1f}x larger off the data" in labels[1]
    with pytest.raises(ValueError, match="point estimate has no epistemic"):
        plots.plot_epistemic_std(regression["point"], x_grid)
    with pytest.raises(ValueError, match="predict on x_grid"):
        plots.plot_epistemic_std(pred, x_grid[:10])
