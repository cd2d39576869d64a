"""pyro_bnn.plots.classification: grids and maps over 2-D inputs."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from pyro_bnn import plots

from .figures import legend_texts


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
        assert legend_texts(ax.get_legend()) == ["class 0", "class 1", "query point"]
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


def test_format_probability_never_shows_a_flat_certainty():
    assert plots.classification._format_probability(0.61234) == "0.61"
    assert plots.classification._format_probability(0.99981) == "0.9998"
    assert plots.classification._format_probability(0.999999) == ">0.9999"
    assert plots.classification._format_probability(0.0002) == "0.0002"
