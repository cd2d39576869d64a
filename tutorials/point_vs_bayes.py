"""Point estimate (MAP) vs Bayesian neural network: the two figures of the README.

python tutorials/point_vs_bayes.py [output_dir]    # default: tutorials/figures/
PYRO_BNN_FAST=1 python tutorials/point_vs_bayes.py /tmp/out   # smoke run, tiny budgets
"""

import os
import sys
from pathlib import Path

import numpy as np

import pyro_bnn as pb
from pyro_bnn import data, plots

FAST = os.environ.get("PYRO_BNN_FAST") == "1"
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "figures"
STEPS, DRAWS = (30, 20) if FAST else (3000, 400)

# 1. Regression: no data in (-1, 1). MAP vs a full-rank Gaussian posterior (SVI).
gap = data.make_gap_regression(num_points=120, seed=0)
net = lambda: pb.BayesianMLP(1, 1, hidden=(10,), activation="tanh")  # noqa: E731
map_fit = pb.fit_svi(net(), gap.x, gap.y, guide="delta", num_steps=STEPS, progress=False)
bayes_fit = pb.fit_svi(net(), gap.x, gap.y, guide="mvn", num_steps=STEPS, progress=False)
x_grid = np.linspace(-7, 7, 300)[:, None]
figure = plots.plot_point_vs_bayes(
    pb.predict(map_fit, x_grid),
    pb.predict(bayes_fit, x_grid),
    x_grid,
    gap.x,
    gap.y,
    labels=("MAP (point estimate)", "Bayesian (SVI, full-rank Gaussian)"),
)
plots.save_figure(figure, OUT / "point_vs_bayes_regression.png")

# 2. Classification: two classes and a far-away "star". MAP vs NUTS, ReLU network.
blobs = data.make_two_class_ood(num_points=60, seed=0)
star = np.array([[4.0, 14.0]])
net = lambda: pb.BayesianMLP(  # noqa: E731
    2,
    1,
    hidden=(10,),
    activation="relu",
    likelihood=pb.Bernoulli(),
    prior=pb.LayerwiseNormal(weight_scale=2.0),
)
map_fit = pb.fit_svi(net(), blobs.x, blobs.y, guide="delta", num_steps=STEPS, progress=False)
bayes_fit = pb.fit_nuts(
    net(), blobs.x, blobs.y, num_samples=DRAWS, warmup_steps=DRAWS, progress=False
)
grid = plots.grid_2d(blobs.x, num=40 if FAST else 150, include=star, margin=0.1)
map_star, bayes_star = pb.predict(map_fit, star), pb.predict(bayes_fit, star)
figure = plots.plot_point_vs_bayes(
    pb.predict(map_fit, grid.points),
    pb.predict(bayes_fit, grid.points),
    grid,
    blobs.x,
    blobs.y,
    query_points=star,
    point_query_prediction=map_star,
    bayes_query_prediction=bayes_star,
    labels=("MAP (point estimate)", "Bayesian (NUTS)"),
)
plots.save_figure(figure, OUT / "point_vs_bayes_classification.png")
print(
    f"P(class 1) at the star: MAP {map_star.probs[0, 1]:.3f}, "
    f"Bayesian {bayes_star.probs[0, 1]:.3f}; figures in {OUT}"
)
