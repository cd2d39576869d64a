"""MAP baseline: the maximum a posteriori weights of a :class:`~pyro_bnn.BayesianMLP`."""

from __future__ import annotations

import math
import time

import pyro
import torch

from ..inference.flat import FlatModel
from ..inference.map import map_estimate
from ..isolation import check_seed, local_rng
from ..nets import BayesianMLP
from ..validation import check_fraction, check_positive_float, check_positive_int
from .common import (
    BaselineFit,
    check_mlp,
    eval_epochs,
    init_layers,
    setup,
    shuffled_batches,
    validation_split,
)

__all__ = ["fit_map"]


def fit_map(
    model: BayesianMLP,
    x,
    y,
    *,
    num_epochs: int = 200,
    lr: float = 1e-2,
    batch_size: int | None = 128,
    validation_fraction: float = 0.0,
    standardize: bool | str | None = None,
    seed: int = 0,
    progress: bool = True,
    device=None,
    dtype: torch.dtype | None = None,
) -> BaselineFit:
    """Maximum a posteriori weights of a :class:`~pyro_bnn.BayesianMLP` (plain torch, Adam).

    Maximises ``log p(theta) + sum_n log p(y_n | x_n, theta)`` with the model's own
    prior and likelihood (a learned noise ``sigma`` included), over minibatches
    scaled by ``N / batch``.

    Parameters
    ----------
    model : BayesianMLP
        Not changed: the fit works on its own copy.
    x : array (N, D); y : array (N,) (or labels for a classification likelihood)
        Training data in your own units (numpy or torch).
    num_epochs : int
        Passes over the data (the maximum, with early stopping).
    lr : float
        Adam learning rate.
    batch_size : int or None
        Minibatch size (``None``: full batch).
    validation_fraction : float
        If > 0, hold out this fraction, pick the number of epochs with the best
        validation log-likelihood, then refit on all the data for that many epochs.
    standardize : None, bool or "x"
        ``None``/``True``: standardize ``x`` and a continuous ``y`` with the training
        data's statistics (the prior is meant for standardized data); the fit keeps
        the scaler and predicts in your units. ``"x"``: inputs only. ``False``: as given.
    seed : int
        Seeds initialisation, batch order and the validation split (the global
        random streams are not touched).
    progress : bool
        Show a progress bar.
    device, dtype
        Where and in which precision to fit (default: the model's).

    Returns
    -------
    BaselineFit
        ``method="map"``, one draw (in standardized units when standardizing);
        ``diagnostics["num_epochs"]`` the epochs used and, with validation, the
        checked ``validation_epochs`` with their ``validation_ll`` and (regression)
        ``validation_rmse`` (standardized units) at the chosen epoch.
    """
    check_mlp(model, "fit_map")
    settings = map_settings(num_epochs, lr, batch_size, validation_fraction)
    seed = check_seed(seed)
    start = time.perf_counter()
    model, x, y, scaler, training_data = setup(model, x, y, standardize, dtype, device)
    with local_rng(seed):
        draws, diagnostics = map_draws(model, x, y, seed=seed, progress=progress, **settings)
    diagnostics.update(fit_seconds=time.perf_counter() - start, seed=seed)
    fit = BaselineFit(model, "map", samples=draws, scaler=scaler, diagnostics=diagnostics)
    fit.training_data = training_data  # in memory only, not saved
    return fit


def map_settings(num_epochs, lr, batch_size, validation_fraction) -> dict:
    """The checked settings of the MAP stage (shared with SWAG)."""
    return dict(
        num_epochs=check_positive_int(num_epochs, "num_epochs"),
        lr=check_positive_float(lr, "lr"),
        batch_size=None if batch_size is None else check_positive_int(batch_size, "batch_size"),
        validation_fraction=check_fraction(validation_fraction, "validation_fraction"),
    )


def map_draws(
    model: BayesianMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    num_epochs: int,
    lr: float,
    batch_size: int | None,
    validation_fraction: float,
    seed: int,
    progress: bool,
) -> tuple[dict[str, torch.Tensor], dict]:
    """MAP weights of ``model`` on prepared data: ``(draws with S = 1, diagnostics)``.

    Minibatch Adam through :func:`pyro_bnn.inference.map.map_estimate` (``log p(x, theta)``
    in constrained space); with ``validation_fraction > 0`` the epochs are chosen on
    a held-out part first, then the fit is repeated on all the data.
    """
    like = model._like

    def run(x_fit, y_fit, epochs, x_val=None, y_val=None):
        flat = FlatModel(model, x_fit, y_fit)
        with torch.no_grad(), pyro.poutine.block(), local_rng(seed):
            trace = pyro.poutine.trace(model).get_trace(x_fit[:1])
        values = {
            name: node["value"]
            for name, node in trace.nodes.items()
            if node["type"] == "sample" and not node["is_observed"]
        }
        generator = torch.Generator().manual_seed(seed)
        for name, value in init_layers(model.layer_sizes, 1, generator, like).items():
            values[name] = value.detach()[0]
        if "sigma" in values and model.task == "regression":
            values["sigma"] = y_fit.std().clamp_min(1e-3).reshape(values["sigma"].shape)
        z0 = flat.flatten({k: v.detach() for k, v in values.items()})
        num_rows = x_fit.shape[0]
        size = num_rows if batch_size is None else min(batch_size, num_rows)
        steps_per_epoch = math.ceil(num_rows / size)
        scores: dict[int, float] = {}
        rmse: dict[int, float] = {}
        checks = eval_epochs(epochs)

        def on_step(step, z):
            epoch, rest = divmod(step + 1, steps_per_epoch)
            if x_val is None or rest or epoch not in checks:
                return
            theta = flat.unflatten(z)
            out = model.network(theta, x_val)
            scores[epoch] = float(model.likelihood.distribution(out, theta).log_prob(y_val).mean())
            if model.task == "regression":
                mean = model.likelihood.mean_var(out, theta)[0]
                rmse[epoch] = float((mean - y_val).pow(2).mean().sqrt())

        generator = torch.Generator().manual_seed(seed)
        batches = (
            index
            for _ in range(epochs)
            for index in shuffled_batches(num_rows, size, generator, x_fit.device)
        )
        z, values = map_estimate(
            flat, z0, num_steps=epochs * steps_per_epoch, lr=lr, jacobian=False, batches=batches,
            callback=on_step, progress=progress, description="MAP",
        )  # fmt: skip
        # loss per epoch: -log joint / N, averaged over the epoch's minibatches
        history = [
            -sum(values[i : i + steps_per_epoch]) / (steps_per_epoch * num_rows)
            for i in range(0, len(values), steps_per_epoch)
        ]
        draws = {k: v.unsqueeze(0) for k, v in flat.unflatten(z).items()}
        return draws, history, scores, rmse

    diagnostics: dict = {"validation_fraction": validation_fraction}
    split = validation_split(x.shape[0], validation_fraction, seed)
    epochs = num_epochs
    if split is not None:
        train_index, val_index = split
        _, _, scores, rmse = run(
            x[train_index], y[train_index], num_epochs, x[val_index], y[val_index]
        )
        epochs = max(scores, key=lambda e: scores[e])
        diagnostics["validation_epochs"] = list(scores)
        diagnostics["validation_ll"] = list(scores.values())
        if rmse:
            diagnostics["validation_rmse"] = rmse[epochs]
    draws, history, _, _ = run(x, y, epochs)
    diagnostics.update(num_epochs=epochs, loss=history)
    return draws, diagnostics
