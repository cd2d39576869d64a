"""Streaming SVI: minibatches ``(x, y)`` from a ``DataLoader`` instead of in-memory data."""

from __future__ import annotations

import sys

import torch

from ..nets import BayesianMLP
from ..validation import check_positive_int

__all__ = ["loader_batches", "check_loader_arguments", "epoch_means"]


def loader_batches(loader, model: BayesianMLP, num_steps: int, state: dict, bar):
    """Yield ``num_steps`` validated ``(x, y)`` batches from ``loader``, epoch after epoch.

    ``state["epoch_ends"]`` collects the step count at the end of every epoch
    (``set_epoch`` is called on the sampler, if it has one, so each epoch is shuffled
    differently); at each epoch end the mean ELBO of the epoch (from
    ``state["history"]``, filled by the optimiser) is written below the progress
    bar. ``state["first_rows"]`` keeps up to 4096 rows for the collapse check.
    """
    step, epoch = 0, 0
    loader_rng = _OwnCpuRandomStream(state["seed"])
    while step < num_steps:
        _set_epoch(loader, epoch)
        with loader_rng:
            iterator, seen = iter(loader), 0
        while step < num_steps:
            try:
                with loader_rng:
                    batch = next(iterator)
            except StopIteration:
                break
            if not isinstance(batch, list | tuple) or len(batch) != 2:
                raise TypeError(f"loader must yield (x, y) batches, got {type(batch).__name__}")
            x, y = model.check_inputs(*batch)
            if epoch == 0 and sum(len(b[0]) for b in state["first_rows"]) < 4096:
                state["first_rows"].append((x, y))
            seen += 1
            step += 1
            yield x, y
        if seen == 0:
            raise ValueError("the loader yielded no batches")
        epoch += 1
        state["epoch_ends"].append(step)
        if not bar.disable:
            done = state["history"][step - seen : step]
            bar.write(
                f"epoch {epoch}: {seen} batches, mean ELBO {sum(done) / max(len(done), 1):.6g}",
                file=sys.stderr,
            )


class _OwnCpuRandomStream:
    """Context manager giving the loader its own CPU random stream (seeded from ``seed``).

    A DataLoader draws seeds from torch's global generator (for its workers, or a
    ``RandomSampler`` without a generator); this keeps those draws from shifting the
    guide's noise, so a streamed fit is reproducible whatever loader is used and an
    unshuffled one-batch stream repeats the in-memory fit exactly.
    """

    def __init__(self, seed: int):
        self.state = torch.Generator().manual_seed(seed).get_state()

    def __enter__(self):
        self.outer = torch.get_rng_state()
        torch.set_rng_state(self.state)

    def __exit__(self, *exc):
        self.state = torch.get_rng_state()
        torch.set_rng_state(self.outer)


def _set_epoch(loader, epoch: int) -> None:
    for holder in (
        getattr(loader, "sampler", None),
        getattr(getattr(loader, "sampler", None), "sampler", None),
        getattr(getattr(loader, "batch_sampler", None), "sampler", None),
    ):
        if hasattr(holder, "set_epoch"):
            holder.set_epoch(epoch)
            return


def check_loader_arguments(model, x, y, loader, batch_size, num_data, num_epochs, num_steps):
    """Validate a streaming call; returns ``(num_steps, num_data)``."""
    if x is not None or y is not None:
        raise ValueError("pass either x, y or loader=..., not both")
    if not isinstance(model, BayesianMLP):
        raise ValueError("loader=... needs a BayesianMLP (a user-written model has its own plate)")
    if batch_size is not None:
        raise ValueError("with loader=... the batch size is the loader's; leave batch_size unset")
    if not hasattr(loader, "__iter__"):
        raise TypeError(f"loader must be a DataLoader (iterable of batches), got {loader!r}")
    if num_data is None:
        try:
            num_data = len(loader.dataset)
        except (AttributeError, TypeError):
            raise ValueError(
                "num_data is needed: the loader has no dataset with a length"
            ) from None
    check_positive_int(num_data, "num_data")
    if num_epochs is not None:
        check_positive_int(num_epochs, "num_epochs")
        try:
            batches_per_epoch = len(loader)
        except TypeError:
            raise ValueError(
                "num_epochs needs a loader with a length; pass num_steps instead"
            ) from None
        num_steps = num_epochs * batches_per_epoch
    return num_steps, num_data


def epoch_means(history: list[float], ends: list[int]) -> list[float]:
    """Mean ELBO of every finished (and the last partial) epoch."""
    means, start = [], 0
    for end in [*ends, len(history)]:
        if end > start:
            means.append(sum(history[start:end]) / (end - start))
        start = end
    return means
