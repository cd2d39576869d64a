"""Why did NUTS with a learned noise collapse on yacht?  Experiments, printed as JSON lines.

Run from the repository root::

    OMP_NUM_THREADS=1 python bench/nuts_noise.py [arm ...]

Each arm fits NUTS on the standardized training part of a bundled UCI split and prints
the per-chain posterior-mean noise (standardized units), the noise at the chain's
starting point, the training RMSE there, the test log-likelihood (original units) and
the fit time. Arms are defined in ``ARMS`` below.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

import pyro_bnn as pb
from pyro_bnn import metrics
from pyro_bnn.data import Standardizer, load_uci
from pyro_bnn.inference.flat import FlatModel
from pyro_bnn.inference.mcmc import _initial_z

torch.set_num_threads(1)


def network(d, sigma=None, **like):
    likelihood = pb.Gaussian(sigma=sigma, **like) if sigma else pb.Gaussian(**like)
    return pb.BayesianMLP(
        d, 1, hidden=(50,), activation="relu", prior=pb.LayerwiseNormal(), likelihood=likelihood
    )


def start_point(model, x, y, seed):
    """sigma and training RMSE at fit_nuts's default start (a MAP fit from a prior draw)."""
    flat = FlatModel(
        model, torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    )
    z0 = _initial_z(flat, "map", seed, None)
    values = flat.unflatten(z0)
    with torch.no_grad():
        out = model.network(values, flat.x).reshape(-1)
    rmse = float(((out - flat.y) ** 2).mean().sqrt())
    return (float(values["sigma"]) if "sigma" in values else None), rmse


def rhat_of_predictions(prediction, chains):
    """Largest split-R-hat over test points of the per-draw predictive mean (None: 1 chain)."""
    from pyro.ops.stats import split_gelman_rubin

    draws = torch.as_tensor(np.asarray(prediction.mean_draws))
    rhat = split_gelman_rubin(draws.reshape(chains, -1, draws.shape[-1]))
    return round(float(rhat.max()), 3)


def arm(name, dataset="yacht", split=0, warmup=100, samples=100, chains=1, like=None, init="map"):
    data = load_uci(dataset, split)
    st = Standardizer.fit(data.x, data.y)
    x, y = st.transform_x(data.x), st.transform_y(data.y)
    model = network(x.shape[1], **(like or {}))
    start_sigma, start_rmse = start_point(model, x, y, split)
    start = time.perf_counter()
    post = pb.fit_nuts(
        model, x, y, standardize=False, num_samples=samples, warmup_steps=warmup,
        num_chains=chains, max_tree_depth=8, init=init, seed=split, progress=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    pred = pb.predict(post, st.transform_x(data.x_test), seed=split)
    scores = metrics.evaluate(
        pred, st.transform_y(data.y_test), levels=(0.9,), y_scale=float(st.y_std)
    )
    sigma = post.draws["sigma"].reshape(chains, samples) if "sigma" in post.draws else None
    train_pred = pb.predict(post, x, seed=split)
    result = {
        "arm": name,
        "dataset": dataset,
        "split": split,
        "warmup": warmup,
        "samples": samples,
        "chains": chains,
        "like": like,
        "seconds": round(seconds, 1),
        "test_ll": round(scores["test_ll"], 3),
        "coverage_90": round(scores["coverage_90"], 3),
        "rhat_pred_mean_max": rhat_of_predictions(pred, chains),
        "rmse": round(scores["rmse"], 3),
        "train_rmse_std": round(float(np.sqrt(np.mean((train_pred.mean - y) ** 2))), 4),
        "start_sigma": start_sigma and round(start_sigma, 4),
        "start_train_rmse": round(start_rmse, 4),
        "sigma_per_chain": None if sigma is None else [round(float(s.mean()), 4) for s in sigma],
        "step_size": [c.get("step_size") for c in post.diagnostics["chains"]],
        "tree_depth": [c.get("mean_tree_depth") for c in post.diagnostics["chains"]],
        "divergences": post.diagnostics.get("divergences"),
    }
    print(json.dumps(result), flush=True)
    return result


ARMS = {
    # the collapse as reported: fit_nuts defaults-ish, short chain, HalfNormal(1) noise prior
    "short": dict(warmup=100, samples=100),
    "long": dict(warmup=500, samples=300),
    "chains4": dict(warmup=200, samples=100, chains=4),
    "gamma": dict(warmup=200, samples=100, like={"precision_prior": (6.0, 6.0)}),
    "gamma4": dict(warmup=200, samples=100, chains=4, like={"precision_prior": (6.0, 6.0)}),
    "chains4-yacht1": dict(split=1, warmup=200, samples=100, chains=4),
    "chains4-yacht2": dict(split=2, warmup=200, samples=100, chains=4),
    "short-energy": dict(dataset="energy", warmup=100, samples=100),
    "chains4-energy": dict(dataset="energy", warmup=200, samples=100, chains=4),
    "chains4-concrete": dict(dataset="concrete", warmup=200, samples=100, chains=4),
}

if __name__ == "__main__":
    for key in sys.argv[1:] or list(ARMS):
        arm(key, **ARMS[key])
