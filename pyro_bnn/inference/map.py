"""The MAP routine: Adam on a :class:`~pyro_bnn.inference.flat.FlatModel`'s log joint.

One implementation serves every point estimate of a :class:`~pyro_bnn.BayesianMLP`:
the MAP initialisation of :func:`~pyro_bnn.fit_nuts`, the MAP fit used by the
mean-field collapse check of :func:`~pyro_bnn.fit_svi`, and the baselines'
:func:`~pyro_bnn.baselines.fit_map` (and the first stage of SWAG).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import pyro
import torch
from tqdm.auto import tqdm

from ..validation import check_positive_float, check_positive_int
from .flat import FlatModel

__all__ = ["map_estimate"]


def map_estimate(
    flat: FlatModel,
    z0: torch.Tensor,
    *,
    num_steps: int = 500,
    lr: float = 1e-2,
    lr_decay: float = 1.0,
    jacobian: bool = True,
    batches: Iterable[torch.Tensor | None] | None = None,
    value_and_grad_fn: Callable[[torch.Tensor], tuple[float, torch.Tensor]] | None = None,
    callback: Callable[[int, torch.Tensor], None] | None = None,
    progress: bool = False,
    description: str = "MAP",
) -> tuple[torch.Tensor, list[float]]:
    """Maximise the log joint of ``flat`` from the unconstrained point ``z0: (dim,)`` with Adam.

    Parameters
    ----------
    flat : FlatModel
        The model conditioned on its (prepared) training data.
    z0 : tensor (dim,)
        Starting point (unconstrained); not changed.
    num_steps : int
        Adam steps (one step = one entry of ``batches``).
    lr, lr_decay : float
        Adam's learning rate, decayed geometrically to ``lr * lr_decay`` at the last
        step (``lr_decay=1``: constant).
    jacobian : bool
        ``True``: the mode of the density of ``z`` (:meth:`FlatModel.log_joint`, with
        ``log |J|``), as NUTS starts from. ``False``: the mode of ``log p(x, theta)``
        in constrained space (:meth:`FlatModel.log_density`), as ``AutoDelta`` and
        :func:`~pyro_bnn.baselines.fit_map` define MAP.
    batches : iterable of row-index tensors (or None), optional
        One minibatch per step, the log likelihood scaled by ``N / len(index)``;
        default the full batch at every step.
    value_and_grad_fn : callable, optional
        ``z -> (log joint, gradient)`` (e.g. an analytic gradient) instead of autograd;
        full batch, with ``jacobian=True``.
    callback : callable, optional
        ``callback(step, z)`` after every step (``step`` counts from 0), without gradients.
    progress : bool
        Show a progress bar named ``description``.

    Returns
    -------
    (z, values)
        The optimum ``z: (dim,)`` (detached) and the objective at every step
        (minibatch estimates when batching).

    Raises
    ------
    FloatingPointError
        When the objective becomes NaN or inf (the message names the step).
    """
    num_steps = check_positive_int(num_steps, "num_steps")
    lr = check_positive_float(lr, "lr")
    if not (isinstance(lr_decay, int | float) and 0 < lr_decay <= 1):
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay!r}")
    if value_and_grad_fn is not None and (batches is not None or not jacobian):
        raise ValueError("value_and_grad_fn gives the full-batch log joint: no batches, jacobian")
    objective = flat.log_joint if jacobian else flat.log_density
    z = z0.detach().clone().requires_grad_(value_and_grad_fn is None)
    optimizer = torch.optim.Adam([z], lr=lr)
    decay = None
    if lr_decay < 1:
        decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, lr_decay ** (1.0 / num_steps))
    batches = iter(batches) if batches is not None else None
    values: list[float] = []
    # the data were validated once; distribution argument checks in the loop only cost
    with pyro.validation_enabled(False):
        for step in tqdm(range(num_steps), disable=not progress, desc=description, leave=False):
            index = next(batches) if batches is not None else None
            optimizer.zero_grad(set_to_none=True)
            if value_and_grad_fn is None:
                value = objective(z, index)
                (-value).backward()
            else:
                value, grad = value_and_grad_fn(z)
                z.grad = -grad
            value = float(value.detach() if isinstance(value, torch.Tensor) else value)
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"{description}: the log joint became {value} at step {step + 1} of "
                    f"{num_steps}; try a smaller lr (now {lr}) or standardized data"
                )
            optimizer.step()
            if decay is not None:
                decay.step()
            values.append(value)
            if callback is not None:
                with torch.no_grad():
                    callback(step, z.detach())
    return z.detach(), values
