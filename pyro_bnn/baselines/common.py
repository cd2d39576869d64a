"""What the baselines share: the result type, argument handling and batched training.

- :class:`BaselineFit`: the :class:`~pyro_bnn.Posterior` every baseline returns.
- The calling convention ``fit_*(model, x, y, *, ...)``: :func:`check_mlp`,
  :func:`architecture` (the deprecated ``hidden=``/``activation=`` form),
  :func:`baseline_task` and :func:`setup` (the fit's own copy of the model on its
  dtype/device, scaled data).
- :func:`validation_split` and :func:`eval_epochs` for early stopping.
- :func:`train_nets`: Adam (or a given optimiser) over shuffled minibatches for a
  batch of independent networks (ensemble members, dropout grid points).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from ..inference.common import prepare, standardize_data
from ..isolation import own_copies
from ..likelihoods import Categorical, Gaussian, HeteroscedasticGaussian, StudentT
from ..nets import ACTIVATIONS, BayesianMLP
from ..posterior import Posterior
from ..predictive import Prediction, predict
from ..validation import check_xy

__all__ = ["BaselineFit", "BASELINES"]

#: Names of the baselines (also the benchmark's method names).
BASELINES = ("map", "mc-dropout", "ensemble", "swag")


class BaselineFit(Posterior):
    """A fitted baseline: a :class:`~pyro_bnn.Posterior` with a fixed set of weight draws.

    Everything a :class:`~pyro_bnn.Posterior` has (``model``, ``method``, ``draws``,
    ``scaler``, ``diagnostics``, ``save``/``load``), plus :meth:`predict` as a
    shortcut for :func:`pyro_bnn.predict`.

    - ``model``: architecture and likelihood used for prediction (its prior is unused
      by MC dropout and ensembles). MC dropout: ``Gaussian(sigma=tau ** -0.5)``;
      ensembles: ``HeteroscedasticGaussian``; classification: ``Categorical``.
    - ``draws``: site → ``(S, *site_shape)`` in the model's (standardized) units:
      ``S = 1`` for MAP, ``num_passes`` dropout masks for MC dropout,
      ``num_members`` for an ensemble, ``num_draws`` for SWAG.
    - ``method``: ``"map"``, ``"mc-dropout"``, ``"ensemble"`` or ``"swag"``.
    - ``diagnostics``: chosen hyper-parameters, validation scores, training loss,
      fit time.
    """

    @property
    def task(self) -> str:
        """``"regression"`` or ``"classification"``."""
        return self.model.task

    def predict(self, x, **kwargs) -> Prediction:
        """Predictive distribution at ``x: (N, D)``: ``pyro_bnn.predict(self, x, **kwargs)``.

        In the units of the training data; numpy out when ``x`` is numpy.
        """
        return predict(self, x, **kwargs)


def as_grid(value, name: str, check: Callable) -> list[float]:
    """A number or a non-empty sequence of numbers → list, each passed through ``check``."""
    values = list(value) if isinstance(value, Sequence | np.ndarray) else [value]
    if not values:
        raise ValueError(f"{name} must be a number or a non-empty sequence of numbers")
    return [check(v, name) for v in values]


def check_mlp(model, function: str) -> BayesianMLP:
    """``TypeError`` naming ``function`` unless ``model`` is a :class:`~pyro_bnn.BayesianMLP`."""
    if not isinstance(model, BayesianMLP):
        raise TypeError(
            f"{function}: model must be a pyro_bnn BayesianMLP, got {type(model).__name__}"
        )
    return model


def setup(model: BayesianMLP, x, y, standardize, dtype, device):
    """The fit's own copy of ``model`` on ``dtype``/``device``, validated and scaled data.

    Returns ``(model, x, y, scaler, training_data)``; ``training_data`` is the validated
    ``(x, y)`` in your units, for ``Posterior.training_data`` (LOO, ``to_inference_data``).
    The caller's model is not changed. ``dtype`` and ``device`` default to the model's.
    """
    model, _ = own_copies(model)
    model, x, y = prepare(model, x, y, dtype=dtype, device=device)
    training_data = (x, y)
    scaler, x, y = standardize_data(model, x, y, standardize)
    return model, x, y, scaler, training_data


def architecture(function: str, model, x, y, hidden, activation, num_classes):
    """``(model, x, y)`` from the calling convention ``fit_*(model, x, y, *, ...)``.

    The deprecated form ``fit_*(x, y, hidden=..., activation=..., num_classes=...)``
    builds the network from those keywords (default 1 x 50 ReLU).
    """
    if isinstance(model, BayesianMLP):
        given = [
            name
            for name, value in (
                ("hidden", hidden),
                ("activation", activation),
                ("num_classes", num_classes),
            )
            if value is not None
        ]
        if given:
            raise ValueError(
                f"{function}: {', '.join(given)} come(s) from the model "
                f"({model.extra_repr()}); leave {' and '.join(given)} out"
            )
        if y is None:
            raise TypeError(f"{function}(model, x, y): the training targets y are missing")
        return model, x, y
    if y is not None or x is None or callable(model):
        raise TypeError(
            f"{function}: model must be a pyro_bnn BayesianMLP (the architecture), got "
            f"{type(model).__name__}; call {function}(pb.BayesianMLP(D, 1, hidden=(50,), "
            f"activation='relu'), x, y, ...)"
        )
    warnings.warn(
        f"{function}(x, y, hidden=..., activation=..., num_classes=...) is deprecated; pass "
        f"the network first: {function}(pb.BayesianMLP(D, K, hidden=(50,), "
        "activation='relu', likelihood=...), x, y, ...)",
        DeprecationWarning,
        stacklevel=3,
    )
    x, y = model, x
    hidden = (50,) if hidden is None else tuple(hidden)
    if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"hidden must be a sequence of positive integers, got {hidden!r}")
    activation = "relu" if activation is None else activation
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; valid: {', '.join(sorted(ACTIVATIONS))}"
        )
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
    ):
        raise ValueError(f"num_classes must be an integer >= 2 or None, got {num_classes!r}")
    x_tensor, _ = check_xy(x, y, None)
    likelihood = Gaussian() if num_classes is None else Categorical()
    out_features = 1 if num_classes is None else num_classes
    network = BayesianMLP(
        x_tensor.shape[1], out_features, hidden, activation, likelihood=likelihood
    )
    return network, x, y


def baseline_task(function: str, model: BayesianMLP) -> bool:
    """True for classification; ``ValueError`` for a likelihood the baseline cannot use."""
    if isinstance(model.likelihood, Categorical):
        return True
    if isinstance(model.likelihood, Gaussian | HeteroscedasticGaussian | StudentT):
        if model.out_features != 1:
            raise ValueError(
                f"{function} handles one regression target (out_features=1), the model has "
                f"out_features={model.out_features}"
            )
        return False
    raise ValueError(
        f"{function} needs a model with a Gaussian, HeteroscedasticGaussian or StudentT "
        f"likelihood (regression) or Categorical (classification), got "
        f"{type(model.likelihood).__name__}"
    )


def validation_split(num_rows: int, fraction: float, seed: int):
    """Random ``(train_index, validation_index)``; ``None`` when ``fraction == 0``."""
    if fraction == 0:
        return None
    num_validation = int(round(fraction * num_rows))
    if num_validation < 1 or num_rows - num_validation < 2:
        raise ValueError(
            f"validation_fraction={fraction} leaves no validation or training rows "
            f"out of {num_rows}"
        )
    order = torch.randperm(num_rows, generator=torch.Generator().manual_seed(seed + 7919))
    return order[num_validation:], order[:num_validation]


# --------------------------------------------------------------------------- batched training


def init_layers(
    layer_sizes: list[tuple[int, int]], num_nets: int, generator: torch.Generator, like
) -> dict[str, torch.Tensor]:
    """``num_nets`` independent PyTorch-default (Kaiming-uniform) initialisations.

    Drawn on the CPU from ``generator``, then moved to the dtype/device of ``like``.
    """
    params = {}
    for i, (fan_in, fan_out) in enumerate(layer_sizes):
        bound = 1.0 / math.sqrt(fan_in)
        for name, shape in (("weight", (fan_out, fan_in)), ("bias", (fan_out,))):
            value = (
                torch.rand((num_nets, *shape), generator=generator, dtype=like.dtype) * 2 - 1
            ) * bound
            params[f"layers.{i}.{name}"] = value.to(like.device).requires_grad_(True)
    return params


def shuffled_batches(num_rows: int, batch_size: int, generator: torch.Generator, device):
    """Row indices of one epoch: a permutation from ``generator`` cut into batches."""
    order = torch.randperm(num_rows, generator=generator).to(device)
    for start in range(0, num_rows, batch_size):
        yield order[start : start + batch_size]


def train_nets(
    params: dict[str, torch.Tensor],
    loss_fn: Callable[[dict, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    num_epochs: int,
    batch_size: int | None,
    lr: float,
    seed: int,
    on_epoch: Callable[[int, dict], None] | None = None,
    progress: bool = False,
    description: str = "",
    optimizer: torch.optim.Optimizer | None = None,
) -> list[float]:
    """Adam over shuffled minibatches; ``loss_fn`` returns the sum of the nets' losses.

    The nets in a batch are independent problems: summing their losses gives
    each its own gradient, and Adam's updates are elementwise. Returns the
    training loss per epoch (summed over nets, averaged over batches).
    """
    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(seed)
    optimizer = optimizer or torch.optim.Adam(list(params.values()), lr=lr)
    batch_size = x.shape[0] if batch_size is None else min(batch_size, x.shape[0])
    history = []
    for epoch in tqdm(range(num_epochs), disable=not progress, desc=description, leave=False):
        total, count = 0.0, 0
        for index in shuffled_batches(x.shape[0], batch_size, generator, x.device):
            optimizer.zero_grad()
            loss = loss_fn(params, x[index], y[index], generator)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"{description or 'training'}: the loss became {float(loss.detach())} in epoch "
                    f"{epoch + 1}; try a smaller lr (now {lr}) or standardized data"
                )
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            count += 1
        history.append(total / count)
        if on_epoch is not None:
            with torch.no_grad():
                on_epoch(epoch + 1, params)
    return history


def eval_epochs(num_epochs: int, num_checks: int = 40) -> set[int]:
    """Epochs at which early stopping looks at the validation score."""
    step = max(1, num_epochs // num_checks)
    return set(range(step, num_epochs + 1, step)) | {num_epochs}


def baseline_model(model: BayesianMLP, likelihood) -> BayesianMLP:
    """``model``'s architecture and prior with another likelihood, on its dtype and device."""
    network = BayesianMLP(
        model.in_features,
        model.out_features,
        model.hidden,
        model.activation,
        prior=model.prior,
        likelihood=likelihood,
    )
    return network.to(device=model._like.device, dtype=model._like.dtype)


def mixture_log_likelihood(log_prob_draws: torch.Tensor) -> torch.Tensor:
    """``(G, S, N)`` per-draw log densities → ``(G,)`` mean log mixture density."""
    num_draws = log_prob_draws.shape[-2]
    return (torch.logsumexp(log_prob_draws, dim=-2) - math.log(num_draws)).mean(-1)


def detached(params: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached copies of trained parameters."""
    return {k: v.detach().clone() for k, v in params.items()}
