"""pyro_bnn.plots.comparison: point estimate and Bayesian prediction side by side."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from pyro_bnn import plots

from .figures import legend_texts


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
    assert legend_texts(legend) == [
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
