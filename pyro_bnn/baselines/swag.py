"""SWAG (Maddox et al. 2019): a Gaussian over the weights from SGD iterates around the MAP."""

from __future__ import annotations

import math
import time

import torch

from ..isolation import check_seed, local_rng
from ..nets import BayesianMLP
from ..validation import check_fraction, check_positive_float, check_positive_int
from .common import BaselineFit, check_mlp, setup, train_nets
from .map import map_draws, map_settings

__all__ = ["fit_swag"]


def fit_swag(
    model: BayesianMLP,
    x,
    y,
    *,
    num_epochs: int = 200,
    swag_epochs: int = 50,
    lr: float = 1e-2,
    swag_lr: float = 0.05,
    momentum: float = 0.9,
    rank: int = 20,
    num_draws: int = 100,
    batch_size: int | None = 128,
    validation_fraction: float = 0.0,
    standardize: bool | str | None = None,
    seed: int = 0,
    progress: bool = True,
    device=None,
    dtype: torch.dtype | None = None,
) -> BaselineFit:
    """SWAG (Maddox et al. 2019) around the MAP fit of a :class:`~pyro_bnn.BayesianMLP`.

    1. The MAP fit of :func:`fit_map` (Adam, ``num_epochs``, optional early stopping).
    2. SGD with momentum at the constant rate ``swag_lr`` on the same log joint
       for ``swag_epochs`` epochs, one snapshot of the weights and biases per
       epoch (the noise ``sigma`` and any prior scales stay at their MAP values).
    3. A Gaussian with the snapshots' mean, ``0.5 * diag(variance) + 0.5 * D D^T /
       (K - 1)`` (``D``: the last ``K = rank`` deviations from the mean), from which
       ``num_draws`` weight draws are taken.

    Parameters
    ----------
    model : BayesianMLP
        Not changed: the fit works on its own copy.
    x : array (N, D); y : array (N,) (labels for a classification likelihood)
        Training data in your own units.
    num_epochs, lr, batch_size, validation_fraction : the MAP stage (see :func:`fit_map`)
    swag_epochs : int
        Snapshots collected (one per epoch); at least 2.
    swag_lr, momentum : SGD settings of the collection stage. With a learned Gaussian
        noise the loss is multiplied by ``sigma_MAP**2`` (the rate is relative to the
        noise variance, so it does not depend on the noise level).
    rank : int
        Maximum rank ``K`` of the low-rank part.
    num_draws : int
        Weight draws of the prediction.
    standardize, seed, progress, device, dtype
        As for :func:`fit_map`.

    Returns
    -------
    BaselineFit
        ``method="swag"``, ``num_draws`` draws.
    """
    check_mlp(model, "fit_swag")
    settings = map_settings(num_epochs, lr, batch_size, validation_fraction)
    swag_epochs = check_positive_int(swag_epochs, "swag_epochs")
    if swag_epochs < 2:
        raise ValueError(f"swag_epochs must be at least 2, got {swag_epochs}")
    swag_lr = check_positive_float(swag_lr, "swag_lr")
    momentum = check_fraction(momentum, "momentum")
    rank = check_positive_int(rank, "rank")
    num_draws = check_positive_int(num_draws, "num_draws")
    seed = check_seed(seed)
    start = time.perf_counter()
    model, x, y, scaler, training_data = setup(model, x, y, standardize, dtype, device)
    with local_rng(seed):
        point, map_diagnostics = map_draws(model, x, y, seed=seed, progress=progress, **settings)
        draws, history, num_columns = _swag_draws(
            model, x, y, point, swag_epochs, swag_lr, momentum, rank, num_draws,
            settings["batch_size"], seed, progress,
        )  # fmt: skip
    diagnostics = {
        "map_epochs": map_diagnostics["num_epochs"],
        "swag_epochs": swag_epochs,
        "swag_lr": swag_lr,
        "rank": num_columns,
        "swag_loss": history,
        "fit_seconds": time.perf_counter() - start,
        "seed": seed,
    }
    fit = BaselineFit(model, "swag", samples=draws, scaler=scaler, diagnostics=diagnostics)
    fit.training_data = training_data  # in memory only, not saved
    return fit


def _swag_draws(
    model, x, y, map_point, swag_epochs, swag_lr, momentum, rank, num_draws, batch_size, seed,
    progress,
):  # fmt: skip
    """SGD snapshots from the MAP point → ``(draws, swag loss history, rank used)``."""
    point = {k: v[0] for k, v in map_point.items()}
    names = [k for k in point if k.startswith("layers.") and not k.endswith(".scale")]
    fixed = {k: v for k, v in point.items() if k not in names}  # noise, prior scales
    shapes = [point[k].shape for k in names]
    sizes = [point[k].numel() for k in names]
    z = torch.cat([point[k].reshape(-1) for k in names]).requires_grad_(True)
    num_rows = x.shape[0]
    snapshots: list[torch.Tensor] = []
    # Curvature of a Gaussian likelihood grows like 1 / sigma**2: measure the step in
    # units of the noise variance so one swag_lr suits any noise level.
    sigma = fixed.get("sigma")
    loss_scale = float(sigma.pow(2).mean()) if sigma is not None else 1.0

    def unflatten(vector: torch.Tensor) -> dict[str, torch.Tensor]:
        lead = vector.shape[:-1]
        values = {
            k: chunk.reshape(lead + shape)
            for k, chunk, shape in zip(names, vector.split(sizes, -1), shapes, strict=True)
        }
        return values | {k: v.expand(lead + v.shape) for k, v in fixed.items()}

    def loss_fn(params, xb, yb, _generator):
        theta = unflatten(params["z"])
        log_joint = model.log_prior(theta) + num_rows / xb.shape[0] * model.log_likelihood(
            theta, xb, yb
        )
        return -log_joint * loss_scale / num_rows

    def on_epoch(epoch, params):
        snapshots.append(params["z"].detach().clone())

    params = {"z": z}
    sgd = torch.optim.SGD([z], lr=swag_lr, momentum=momentum)
    history = train_nets(
        params, loss_fn, x, y, swag_epochs, batch_size, swag_lr, seed + 1, on_epoch, progress,
        "SWAG", optimizer=sgd,
    )  # fmt: skip
    stacked = torch.stack(snapshots)  # (T, P)
    mean = stacked.mean(0)
    variance = (stacked.pow(2).mean(0) - mean.pow(2)).clamp_min(0.0)
    deviations = (stacked[-rank:] - mean).T  # (P, K)
    num_columns = deviations.shape[1]
    generator = torch.Generator().manual_seed(seed + 2)
    diagonal = torch.randn((num_draws, mean.shape[0]), generator=generator, dtype=mean.dtype)
    low_rank = torch.randn((num_draws, num_columns), generator=generator, dtype=mean.dtype)
    diagonal, low_rank = diagonal.to(mean.device), low_rank.to(mean.device)
    samples = (
        mean
        + math.sqrt(0.5) * variance.sqrt() * diagonal
        + low_rank @ deviations.T / math.sqrt(2 * max(num_columns - 1, 1))
    )
    draws = {k: v.detach().contiguous() for k, v in unflatten(samples).items()}
    return draws, history, num_columns
