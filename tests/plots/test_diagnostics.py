"""pyro_bnn.plots.diagnostics: ELBO curve, NUTS trace and rank plots."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from pyro_bnn import plots
from pyro_bnn.inference.diagnostics import mcmc_summary

from .figures import legend_texts


def test_plot_diagnostics_svi_clips_the_early_transient(regression):
    posterior = regression["posterior"]
    fig = plots.plot_diagnostics(posterior)
    (ax,) = fig.axes
    elbo = np.asarray(posterior.diagnostics["elbo"])
    assert ax.get_ylabel() == "ELBO (nats)" and ax.get_xlabel() == "step"
    assert legend_texts(ax.get_legend()) == ["ELBO per step", "moving average"]
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
    assert legend_texts(legend) == ["chain 0", "chain 1", "uniform (chains agree)"]
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
