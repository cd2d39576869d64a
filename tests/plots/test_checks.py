"""pyro_bnn.plots.checks: prior and posterior predictive checks."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

import pyro_bnn as pb
from pyro_bnn import plots
from pyro_bnn.plots.checks import replicated_data

from .figures import legend_texts


def _step_heights(patch) -> np.ndarray:
    """Bar heights of a ``histtype="step"`` histogram (its outline's top edges)."""
    vertices = patch.get_path().vertices
    return vertices[1:-1:2, 1]


def test_ppc_regression_draws_the_replicated_sets_and_the_statistic(regression):
    post, x, y = regression["posterior"], regression["x"], regression["y"]
    fig = plots.plot_ppc(post, x, y, num_replicates=20, statistic="std", seed=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    density_ax, stat_ax = fig.axes
    # 20 replicated step histograms + the observed one
    assert len(density_ax.patches) == 21
    assert legend_texts(density_ax.get_legend()) == ["replicated data (20 sets)", "observed y"]
    # the same replicated sets, computed independently of the figure
    replicated = replicated_data(pb.predict(post, x, num_draws=20, seed=3), 20, seed=3)
    observed_std = float(np.std(y))
    line = stat_ax.lines[0]
    assert line.get_xdata()[0] == pytest.approx(observed_std)
    heights = np.array([p.get_height() for p in stat_ax.patches])
    assert heights.sum() == 20  # one count per replicated set
    stds = replicated.std(1)
    edges = [
        stat_ax.patches[0].get_x(),
        stat_ax.patches[-1].get_x() + stat_ax.patches[-1].get_width(),
    ]
    assert edges == pytest.approx([stds.min(), stds.max()], rel=1e-5)
    p_value = np.mean(stds >= observed_std)
    assert f"= {p_value:.2f}" in stat_ax.get_title()
    # the observed density integrates to 1 over its bins
    observed_patch = density_ax.patches[-1]
    bins = np.unique(observed_patch.get_path().vertices[:, 0])
    assert (_step_heights(observed_patch) * np.diff(bins)).sum() == pytest.approx(1, abs=1e-6)


def test_ppc_accepts_a_statistic_function_and_axes(regression):
    fig = Figure()
    axes = fig.subplots(1, 2)

    def spread(values):
        return float(np.ptp(values))

    out = plots.plot_ppc(
        regression["posterior"], regression["x"], regression["y"], num_replicates=10,
        statistic=spread, axes=axes, title="mine",
    )  # fmt: skip
    assert out is fig
    assert axes[1].lines[0].get_xdata()[0] == pytest.approx(np.ptp(regression["y"]))
    assert axes[1].get_xlabel() == "T = spread"


def test_ppc_classification_shows_class_frequencies_with_intervals(classification):
    post, x, y = classification["posterior"], classification["x"], classification["y"]
    fig = plots.plot_ppc(post, x, y, num_replicates=30, level=0.8, seed=1)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    observed = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(observed, [np.mean(y == 0), np.mean(y == 1)])
    replicated = replicated_data(pb.predict(post, x, num_draws=30, seed=1), 30, seed=1)
    frequencies = np.stack([(replicated == k).mean(1) for k in (0, 1)], axis=1)
    median = ax.lines[0].get_ydata()
    np.testing.assert_allclose(median, np.median(frequencies, axis=0))
    assert "80% interval (30 sets)" in legend_texts(ax.get_legend())[1]


def test_prior_predictive_regression_shows_function_draws_and_replicated_data(regression):
    x, y = regression["x"], regression["y"]
    model = pb.BayesianMLP(1, 1, hidden=(8,))
    fig = plots.plot_prior_predictive(model, x, y, num_draws=12, seed=0)
    function_ax, density_ax = fig.axes
    assert len(function_ax.lines) == 12
    assert len(density_ax.patches) == 13  # 12 replicated sets + the observed data
    # the draws are mapped to y's units as a fit would (standardized prior, y's scale)
    first = function_ax.lines[0].get_ydata()
    assert np.ptp(first) > 0 and function_ax.get_ylabel() == "y"
    # the same seed gives the same figure; the model itself is not changed
    again = plots.plot_prior_predictive(model, x, y, num_draws=12, seed=0)
    np.testing.assert_array_equal(again.axes[0].lines[0].get_ydata(), first)
    assert model._like.dtype == pb.BayesianMLP(1, 1)._like.dtype
    # several features: one panel of replicated data; without y, standardized units
    many = plots.plot_prior_predictive(
        pb.BayesianMLP(3, 1, hidden=(4,)), np.random.default_rng(0).normal(size=(20, 3)),
        num_draws=5,
    )  # fmt: skip
    assert len(many.axes) == 1 and len(many.axes[0].patches) == 5
    assert many.axes[0].get_xlabel() == "y (standardized units)"


def test_prior_predictive_of_a_user_model_and_a_classifier(classification):
    import pyro
    import pyro.distributions as dist

    def model(x, y=None):
        w = pyro.sample("w", dist.Normal(0.0, 2.0))
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("obs", dist.Normal(w * x[:, 0], 0.1), obs=y)

    x = np.linspace(-1, 1, 15)[:, None]
    fig = plots.plot_prior_predictive(model, x, num_draws=6, seed=2)
    slopes = [np.polyfit(x[:, 0], line.get_ydata(), 1)[0] for line in fig.axes[0].lines]
    assert len(slopes) == 6 and np.std(slopes) > 0.5  # slopes drawn from N(0, 2^2)

    classifier = pb.BayesianMLP(2, 1, hidden=(5,), likelihood=pb.Bernoulli())
    fig = pb.plot_prior_predictive(classifier, classification["x"], classification["y"],
                                   num_draws=10)  # fmt: skip
    class_ax, confidence_ax = fig.axes
    assert len(class_ax.patches) == 2  # observed class frequencies
    counts = np.array([p.get_height() for p in confidence_ax.patches])
    assert counts.sum() == 10 * len(classification["x"])  # every draw x input


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"num_replicates": 1}, ValueError, "num_replicates must be at least 2"),
        ({"statistic": "kurtosis"}, ValueError, "statistic must be one of 'mean', 'std'"),
        ({"y": np.zeros(3)}, ValueError, r"y must have shape \(40,\)"),
        ({"axes": "nope"}, ValueError, "needs axes= with 2 matplotlib Axes"),
        ({"posterior": "post"}, TypeError, "posterior must be a pyro_bnn Posterior"),
    ],
)
def test_ppc_bad_input(regression, kwargs, error, message):
    arguments = {"posterior": regression["posterior"], "x": regression["x"],
                 "y": regression["y"], "num_replicates": 5}  # fmt: skip
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        plots.plot_ppc(**arguments)


def test_checks_bad_input(classification, gap_data):
    with pytest.raises(ValueError, match=r"y must hold class labels 0 \.\. 1"):
        plots.plot_ppc(classification["posterior"], classification["x"],
                       np.full(len(classification["x"]), 3), num_replicates=5)  # fmt: skip
    x, y = gap_data
    point = pb.fit_svi(pb.BayesianMLP(1, 1, hidden=(2,)), x, y, guide="delta", num_steps=5,
                       progress=False, check_convergence=False)  # fmt: skip
    with pytest.raises(ValueError, match="needs a posterior with several draws"):
        plots.plot_ppc(point, x, y)
    with pytest.raises(ValueError, match="num_draws must be at least 2"):
        plots.plot_prior_predictive(pb.BayesianMLP(1, 1), x, num_draws=1)
    with pytest.raises(TypeError, match="model must be a Pyro model"):
        plots.plot_prior_predictive("model", x)


def test_ppc_of_a_user_model_laplace_fit(linear_oracle):
    import pyro
    import pyro.distributions as dist

    def model(x, y=None):
        w = pyro.sample("w", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("obs", dist.Normal(x @ w + 0.3, 0.5), obs=y)

    o = linear_oracle
    post = pb.fit_svi(model, o.x, o.y, guide="laplace", num_steps=100, lr=0.05, progress=False,
                      check_convergence=False)  # fmt: skip
    fig = pb.plot_ppc(post, o.x, o.y, num_replicates=15, statistic="max")
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 16
    assert fig.axes[1].lines[0].get_xdata()[0] == pytest.approx(o.y.max())
