"""pyro_bnn.plots.calibration: reliability diagram and PIT calibration curve."""

from __future__ import annotations

import numpy as np
import pytest

from pyro_bnn import metrics, plots

from .figures import legend_texts


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
    assert legend_texts(ax.get_legend()) == [
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
    assert legend_texts(ax.get_legend()) == ["perfect calibration", "model"]
    assert ax.get_xlabel() and ax.get_ylabel() and "calibration" in ax.get_title()
    with pytest.raises(ValueError, match="plot_calibration needs a regression prediction"):
        plots.plot_calibration(classification["on_data"], classification["y"])
    with pytest.raises(ValueError, match="y has 3 values but the prediction has 40"):
        plots.plot_calibration(pred, y[:3])
