"""MC dropout (Gal & Ghahramani 2016) with a validation grid search over dropout and tau."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..isolation import check_seed, local_rng
from ..likelihoods import Categorical, Gaussian
from ..nets import ACTIVATIONS, BayesianMLP, linear
from ..validation import check_fraction, check_positive_float, check_positive_int
from .common import (
    BaselineFit,
    architecture,
    as_grid,
    baseline_model,
    baseline_task,
    detached,
    init_layers,
    mixture_log_likelihood,
    setup,
    train_nets,
    validation_split,
)

__all__ = ["fit_mc_dropout"]


def _dropout_forward(
    params: Mapping[str, torch.Tensor],
    x: torch.Tensor,
    keep: torch.Tensor,
    activation: str,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Batched network with dropout before every layer.

    ``params`` have a leading net dimension ``G``; ``keep: (G,)`` keep-probabilities;
    ``x: (B, D)`` → ``(G, B, out)``. With ``generator=None`` no dropout (weights
    scaled, i.e. the standard non-MC prediction).
    """
    act = ACTIVATIONS[activation]
    num_layers = sum(1 for k in params if k.endswith(".weight"))
    num_nets = keep.shape[0]
    h = x.expand((num_nets,) + x.shape)
    keep_b = keep.reshape(-1, 1, 1)
    for i in range(num_layers):
        if generator is not None:
            uniform = torch.rand(h.shape, generator=generator, dtype=h.dtype).to(h.device)
            h = h * (uniform < keep_b) / keep_b
        h = linear(h, params[f"layers.{i}.weight"], params[f"layers.{i}.bias"])
        if i < num_layers - 1:
            h = act(h)
    return h


def _dropout_weight_draws(
    params: Mapping[str, torch.Tensor], keep: float, num_passes: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Test-time dropout masks as weight draws: dropping input unit j of layer i zeroes
    column j of its weight matrix; kept columns are scaled by ``1 / keep``.

    ``params`` hold one net (no leading dim); returns site → ``(num_passes, *shape)``.
    """
    draws = {}
    for name, value in params.items():
        if name.endswith(".weight"):
            fan_in = value.shape[-1]
            mask = (torch.rand((num_passes, 1, fan_in), generator=generator) < keep).to(value)
            draws[name] = value.unsqueeze(0) * mask / keep
        else:
            draws[name] = value.unsqueeze(0).expand((num_passes,) + value.shape).contiguous()
    return draws


def fit_mc_dropout(
    model: BayesianMLP,
    x,
    y=None,
    *,
    dropout: float | Sequence[float] = (0.005, 0.01, 0.05, 0.1),
    tau: float | Sequence[float] = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0),
    length_scale: float = 1e-2,
    num_epochs: int = 400,
    lr: float = 1e-3,
    batch_size: int | None = 128,
    num_passes: int = 1000,
    validation_fraction: float = 0.2,
    validation_passes: int = 100,
    standardize: bool | str | None = None,
    seed: int = 0,
    progress: bool = True,
    device=None,
    dtype: torch.dtype | None = None,
    hidden: Sequence[int] | None = None,
    activation: str | None = None,
    num_classes: int | None = None,
) -> BaselineFit:
    """MC dropout (Gal & Ghahramani 2016), with the hyper-parameters chosen on validation data.

    Training minimises ``mean_batch (y - f(x))**2 + reg * sum ||W||**2`` with
    ``reg = length_scale**2 * (1 - p) / (2 N tau)`` (as in the authors' UCI code;
    classification: cross-entropy with ``tau = 1``), dropout ``p`` before every
    layer. Prediction: ``num_passes`` dropout masks, each a draw of the weights,
    with ``Gaussian(sigma = tau ** -0.5)`` noise.

    Parameters
    ----------
    model : BayesianMLP
        The architecture (``in_features``, ``hidden``, ``activation``) and the task:
        a ``Categorical`` likelihood (``out_features`` classes) for classification,
        ``Gaussian``, ``HeteroscedasticGaussian`` or ``StudentT`` with
        ``out_features=1`` for regression. Its prior and likelihood are replaced by
        the dropout objective; ``model`` itself is not changed.
    x : array (N, D); y : array (N,) (labels ``0..K-1`` for classification)
        Training data in your own units.
    dropout, tau : float or sequence of float
        Dropout rate(s) in (0, 1) and noise precision(s), in the units the network
        is fitted in (standardized ``y`` by default, where the default grid suits).
        With several values the grid is searched: every combination is trained on
        ``1 - validation_fraction`` of the data (all at once, as a batch of nets),
        the best validation log-likelihood wins, then it is retrained on all data.
    length_scale : float
        Prior length-scale of the weights.
    num_epochs, lr, batch_size : Adam training settings.
    num_passes : int
        Test-time dropout masks (draws) of the final prediction.
    validation_fraction : float
        Held-out fraction for the grid search (ignored for a single combination).
    validation_passes : int
        Dropout masks per grid point when scoring the validation part.
    standardize, seed, progress, device, dtype
        As for :func:`fit_map`.
    hidden, activation, num_classes
        Deprecated: only for the old form ``fit_mc_dropout(x, y, hidden=...)``.

    Returns
    -------
    BaselineFit
        ``method="mc-dropout"``; ``diagnostics`` holds the chosen ``dropout`` and
        ``tau`` and the validation log-likelihood of every grid point.
    """
    model, x, y = architecture("fit_mc_dropout", model, x, y, hidden, activation, num_classes)
    classification = baseline_task("fit_mc_dropout", model)
    dropouts = as_grid(dropout, "dropout", lambda v, n: check_fraction(v, n, allow_zero=False))
    taus = [1.0] if classification else as_grid(tau, "tau", check_positive_float)
    length_scale = check_positive_float(length_scale, "length_scale")
    num_epochs = check_positive_int(num_epochs, "num_epochs")
    lr = check_positive_float(lr, "lr")
    batch_size = check_positive_int(batch_size, "batch_size", allow_none=True)
    num_passes = check_positive_int(num_passes, "num_passes")
    validation_passes = check_positive_int(validation_passes, "validation_passes")
    validation_fraction = check_fraction(validation_fraction, "validation_fraction")
    seed = check_seed(seed)
    start = time.perf_counter()
    model, x, y, scaler, training_data = setup(model, x, y, standardize, dtype, device)
    if classification:
        y = y.long()
    settings = dict(
        classification=classification, length_scale=length_scale, num_epochs=num_epochs,
        batch_size=batch_size, lr=lr, progress=progress,
    )  # fmt: skip
    grid = [(p, t) for p in dropouts for t in taus]
    diagnostics: dict = {"grid": [{"dropout": p, "tau": t} for p, t in grid]}
    chosen = grid[0]
    with local_rng(seed):
        split = validation_split(x.shape[0], validation_fraction, seed) if len(grid) > 1 else None
        if split is not None:
            train_index, val_index = split
            params, _ = _train_grid(model, x[train_index], y[train_index], grid, seed, **settings)
            scores = _validation_scores(
                model, params, grid, x[val_index], y[val_index], classification,
                validation_passes, torch.Generator().manual_seed(seed + 1),
            )  # fmt: skip
            chosen = grid[int(np.nanargmax(np.asarray(scores)))]
            diagnostics["validation_ll"] = scores
        params, history = _train_grid(model, x, y, [chosen], seed + 1, **settings)
        one = {k: v[0] for k, v in params.items()}
        draws = _dropout_weight_draws(
            one, 1 - chosen[0], num_passes, torch.Generator().manual_seed(seed + 2)
        )
    diagnostics.update(
        dropout=chosen[0],
        tau=None if classification else chosen[1],
        length_scale=length_scale,
        num_epochs=num_epochs,
        loss=history,
        fit_seconds=time.perf_counter() - start,
        seed=seed,
    )
    fit = BaselineFit(
        _dropout_model(model, classification, chosen[1]),
        "mc-dropout",
        samples=draws,
        scaler=scaler,
        diagnostics=diagnostics,
    )
    fit.training_data = training_data  # in memory only, not saved
    return fit


def _dropout_model(model: BayesianMLP, classification: bool, tau: float) -> BayesianMLP:
    """The network with the prediction's likelihood: ``Gaussian(sigma = tau ** -0.5)``."""
    likelihood = Categorical() if classification else Gaussian(sigma=float(tau) ** -0.5)
    return baseline_model(model, likelihood)


def _train_grid(
    model, x, y, grid, seed, *, classification, length_scale, num_epochs, batch_size, lr, progress
):
    """Train one network per ``(dropout, tau)`` of ``grid`` at once → ``(params, loss history)``.

    ``params`` have a leading grid dimension.
    """
    like = model._like
    keep = torch.tensor([1 - p for p, _ in grid], dtype=like.dtype, device=like.device)
    regs = torch.tensor(
        [length_scale**2 * (1 - p) / (2 * x.shape[0] * t) for p, t in grid],
        dtype=like.dtype,
        device=like.device,
    )
    params = init_layers(model.layer_sizes, len(grid), torch.Generator().manual_seed(seed), like)

    def loss_fn(params, xb, yb, batch_generator):
        out = _dropout_forward(params, xb, keep, model.activation, batch_generator)
        if classification:
            data = F.cross_entropy(
                out.reshape(-1, model.out_features), yb.repeat(len(grid)), reduction="none"
            )
            data = data.reshape(len(grid), -1).mean(-1)
        else:
            data = ((out[..., 0] - yb) ** 2).mean(-1)
        decay = sum(
            (v**2).reshape(len(grid), -1).sum(-1)
            for k, v in params.items()
            if k.endswith(".weight")
        )
        return (data + regs * decay).sum()

    history = train_nets(
        params, loss_fn, x, y, num_epochs, batch_size, lr, seed, progress=progress,
        description="MC dropout",
    )  # fmt: skip
    return detached(params), history


def _validation_scores(
    model, params, grid, x_val, y_val, classification, num_passes, generator
) -> list[float]:
    """Mean log predictive density of the held-out rows for every grid point."""
    scores = []
    for g, (p, t) in enumerate(grid):
        one = {k: v[g] for k, v in params.items()}
        draws = _dropout_weight_draws(one, 1 - p, num_passes, generator)
        scorer = _dropout_model(model, classification, t)
        out = scorer.network(draws, x_val)
        log_prob = scorer.likelihood.distribution(out, draws).log_prob(y_val).unsqueeze(0)
        scores.append(float(mixture_log_likelihood(log_prob)))
    return scores
