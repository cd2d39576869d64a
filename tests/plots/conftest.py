"""Small real fits shared by the plot tests (fitted once per test package)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pyro_bnn as pb
from pyro_bnn import data, plots


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


# ------------------------------------------------------------------ fits (once per package)


@pytest.fixture(scope="package")
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


@pytest.fixture(scope="package")
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


@pytest.fixture(scope="package")
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
