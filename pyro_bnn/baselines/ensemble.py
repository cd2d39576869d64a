"""Deep ensembles (Lakshminarayanan et al. 2017): independently initialised networks."""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from ..isolation import check_seed, local_rng
from ..likelihoods import Categorical, HeteroscedasticGaussian
from ..nets import BayesianMLP
from ..validation import (
    check_fraction,
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
)
from .common import (
    BaselineFit,
    architecture,
    baseline_model,
    baseline_task,
    detached,
    eval_epochs,
    init_layers,
    mixture_log_likelihood,
    setup,
    train_nets,
    validation_split,
)

__all__ = ["fit_ensemble"]


def fit_ensemble(
    model: BayesianMLP,
    x,
    y=None,
    *,
    num_members: int = 5,
    num_epochs: int = 200,
    lr: float = 1e-2,
    batch_size: int | None = 100,
    weight_decay: float = 0.0,
    min_scale: float = 1e-3,
    validation_fraction: float = 0.0,
    standardize: bool | str | None = None,
    seed: int = 0,
    progress: bool = True,
    device=None,
    dtype: torch.dtype | None = None,
    hidden: Sequence[int] | None = None,
    activation: str | None = None,
    num_classes: int | None = None,
) -> BaselineFit:
    """Deep ensemble (Lakshminarayanan et al. 2017, without adversarial training).

    ``num_members`` networks from independent random initialisations (trained as
    one batch, each on its own loss). Regression: each outputs a mean and a
    scale ``softplus(.) + min_scale`` and minimises the Gaussian negative
    log-likelihood; classification: softmax cross-entropy. The prediction is the
    uniform mixture of the members.

    Parameters
    ----------
    model : BayesianMLP
        The architecture and the task, as for :func:`fit_mc_dropout` (its prior is
        unused; the likelihood becomes ``HeteroscedasticGaussian(min_scale)`` for
        regression). ``model`` itself is not changed.
    x : array (N, D); y : array (N,) (labels ``0..K-1`` for classification)
        Training data in your own units.
    num_members : int
        Ensemble size ``M`` (5 in the paper).
    num_epochs, lr, batch_size : Adam training settings (``num_epochs`` is the
        maximum when early stopping).
    weight_decay : float
        L2 penalty ``weight_decay * ||W||^2`` per member, added to the mean loss.
    min_scale : float
        Lower bound of the predicted noise scale (in the fitted, by default
        standardized, units).
    validation_fraction : float
        If > 0, choose the number of epochs by the ensemble's validation
        log-likelihood, then retrain on all the data for that many epochs.
    standardize, seed, progress, device, dtype
        As for :func:`fit_map`.
    hidden, activation, num_classes
        Deprecated: only for the old form ``fit_ensemble(x, y, hidden=...)``.

    Returns
    -------
    BaselineFit
        ``method="ensemble"``; ``num_draws = num_members``.
    """
    model, x, y = architecture("fit_ensemble", model, x, y, hidden, activation, num_classes)
    classification = baseline_task("fit_ensemble", model)
    num_members = check_positive_int(num_members, "num_members")
    num_epochs = check_positive_int(num_epochs, "num_epochs")
    lr = check_positive_float(lr, "lr")
    batch_size = check_positive_int(batch_size, "batch_size", allow_none=True)
    weight_decay = check_nonnegative_float(weight_decay, "weight_decay")
    min_scale = check_positive_float(min_scale, "min_scale")
    validation_fraction = check_fraction(validation_fraction, "validation_fraction")
    seed = check_seed(seed)
    start = time.perf_counter()
    model, x, y, scaler, training_data = setup(model, x, y, standardize, dtype, device)
    if classification:
        y = y.long()
    likelihood = Categorical() if classification else HeteroscedasticGaussian(min_scale=min_scale)
    model = baseline_model(model, likelihood)
    like = model._like

    def run(x_fit, y_fit, epochs, seed_offset, x_val=None, y_val=None):
        generator = torch.Generator().manual_seed(seed + seed_offset)
        params = init_layers(model.layer_sizes, num_members, generator, like)
        scores: dict[int, float] = {}
        checks = eval_epochs(epochs)

        def loss_fn(params, xb, yb, _generator):
            out = model.network(params, xb)  # (M, B, output_size)
            nll = -likelihood.distribution(out, params).log_prob(yb).mean(-1)  # (M,)
            if weight_decay:
                nll = nll + weight_decay * sum(
                    (v**2).reshape(num_members, -1).sum(-1)
                    for k, v in params.items()
                    if k.endswith(".weight")
                )
            return nll.sum()

        def on_epoch(epoch, params):
            if x_val is None or epoch not in checks:
                return
            log_prob = likelihood.distribution(model.network(params, x_val), params).log_prob(y_val)
            scores[epoch] = float(mixture_log_likelihood(log_prob.unsqueeze(0)))

        history = train_nets(
            params,
            loss_fn,
            x_fit,
            y_fit,
            epochs,
            batch_size,
            lr,
            seed + seed_offset,
            on_epoch,
            progress,
            "ensemble",
        )
        return detached(params), history, scores

    diagnostics: dict = {"num_members": num_members, "validation_fraction": validation_fraction}
    epochs = num_epochs
    with local_rng(seed):
        split = validation_split(x.shape[0], validation_fraction, seed)
        if split is not None:
            train_index, val_index = split
            _, _, scores = run(
                x[train_index], y[train_index], num_epochs, 0, x[val_index], y[val_index]
            )
            epochs = max(scores, key=lambda e: scores[e])
            diagnostics["validation_epochs"] = list(scores)
            diagnostics["validation_ll"] = list(scores.values())
        draws, history, _ = run(x, y, epochs, 1)
    diagnostics.update(
        num_epochs=epochs, loss=history, fit_seconds=time.perf_counter() - start, seed=seed
    )
    fit = BaselineFit(model, "ensemble", samples=draws, scaler=scaler, diagnostics=diagnostics)
    fit.training_data = training_data  # in memory only, not saved
    return fit
