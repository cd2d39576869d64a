"""Point estimate (MAP) vs Bayesian neural network: the two figures of the README.

python tutorials/point_vs_bayes.py [output_dir]              # default: tutorials/figures/
PYRO_BNN_FAST=1 python tutorials/point_vs_bayes.py /tmp/out  # smoke run, tiny budgets
"""

import os
import sys
from functools import partial
from pathlib import Path

import numpy as np

import pyro_bnn as pb
from pyro_bnn import data, plots

FAST = os.environ.get("PYRO_BNN_FAST") == "1"
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "figures"
STEPS, DRAWS = (30, 20) if FAST else (3000, 250)

# 1. Regression with no data in (-1, 1): MAP vs a full-rank Gaussian posterior (SVI).
gap = data.make_gap_regression(num_points=120, seed=0)
net = partial(pb.BayesianMLP, 1, 1, hidden=(10,), activation="tanh")
fits = [pb.fit_svi(net(), gap.x, gap.y, guide=g, num_steps=STEPS) for g in ("delta", "mvn")]
x_grid = np.linspace(-7, 7, 300)[:, None]
labels = ("MAP (point estimate)", "Bayesian (SVI, full-rank Gaussian)")
predictions = [pb.predict(fit, x_grid) for fit in fits]
figure = plots.plot_point_vs_bayes(*predictions, x_grid, gap.x, gap.y, labels=labels)
plots.save_figure(figure, OUT / "point_vs_bayes_regression.png")

# 2. Two classes and a far-away "star" point: MAP vs NUTS for a ReLU network.
blobs = data.make_two_class_ood(num_points=60, seed=0)
star = np.array([[4.0, 14.0]])
prior = pb.LayerwiseNormal(weight_scale=2.0)
net = partial(pb.BayesianMLP, 2, 1, hidden=(10,), activation="relu", prior=prior,
              likelihood=pb.Bernoulli())  # fmt: skip
# The toy inputs are already on the prior's scale and the star is placed in those units:
# fit them as they are (standardizing would squeeze x1 and stretch x2 towards the star).
nuts = dict(num_samples=DRAWS, warmup_steps=DRAWS, num_chains=2, target_accept_prob=0.9)
fits = [
    pb.fit_svi(net(), blobs.x, blobs.y, guide="delta", num_steps=STEPS, standardize=False),
    pb.fit_nuts(net(), blobs.x, blobs.y, standardize=False, **nuts),
]
grid = plots.grid_2d(blobs.x, num=40 if FAST else 150, include=star, margin=0.1)
map_star, bayes_star = (pb.predict(fit, star) for fit in fits)
figure = plots.plot_point_vs_bayes(
    *(pb.predict(fit, grid.points) for fit in fits), grid, blobs.x, blobs.y,
    query_points=star, point_query_prediction=map_star, bayes_query_prediction=bayes_star,
    labels=("MAP (point estimate)", "Bayesian (NUTS)"),
)  # fmt: skip
plots.save_figure(figure, OUT / "point_vs_bayes_classification.png")
p_map, p_bayes = map_star.probs[0, 1], bayes_star.probs[0, 1]
print(f"P(class 1) at the star: MAP {p_map:.4f}, Bayesian {p_bayes:.3f}; figures in {OUT}")
