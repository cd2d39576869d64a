"""Library calls leave the user's global state alone.

Two context managers that every fit, predict and load goes through:

- :func:`local_rng` seeds torch, numpy, ``random`` and Pyro from one integer for the
  duration of a call and puts the caller's generator states back afterwards, so the
  same ``seed`` gives the same numbers and the caller's own random streams neither
  restart nor advance.
- :func:`own_copies` gives a posterior its own copy of the model and guide.
- :func:`param_scope` swaps Pyro's global parameter store for a posterior's own
  state (:meth:`pyro.params.param_store.ParamStoreDict.scope`), so two fits never
  share a parameter, and the caller's ``pyro.param`` values survive every call.

Example
-------
>>> import torch
>>> before = torch.get_rng_state()
>>> with local_rng(0):
...     _ = torch.randn(3)
>>> torch.equal(before, torch.get_rng_state())
True
"""

from __future__ import annotations

import copy
import random
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pyro
import torch

__all__ = ["local_rng", "param_scope", "check_seed", "own_copies"]


def check_seed(seed) -> int:
    """Return ``seed`` if it is an integer, else raise ``TypeError`` naming it."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    return int(seed)


@contextmanager
def local_rng(seed: int) -> Iterator[None]:
    """Seed every generator with ``seed`` inside the block; restore the caller's afterwards.

    Covers Python's ``random``, numpy's global generator, torch's CPU generator and,
    when CUDA is initialised, every CUDA generator.
    """
    seed = check_seed(seed)
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    torch_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        pyro.set_rng_seed(seed)
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)


def new_param_state() -> dict:
    """An empty parameter-store state (what :func:`param_scope` fills during a fit)."""
    return {"params": {}, "constraints": {}}


@contextmanager
def param_scope(state: dict | None = None) -> Iterator[dict]:
    """Run the block with Pyro's parameter store holding ``state`` only.

    ``state`` (from :func:`new_param_state` or an earlier scope) is updated in place
    with the parameters the block created; the caller's store is put back afterwards,
    untouched. Yields ``state``.
    """
    state = new_param_state() if state is None else state
    with pyro.get_param_store().scope(state) as scoped:
        yield scoped


def own_copies(model, guide=None):
    """Deep copies of ``model`` and ``guide`` for a posterior to own; the originals stay as-is.

    An autoguide's copy points at the copied model. (Pyro's autoguides drop their
    model reference when pickled or deep-copied; it is put back on both sides.)
    """
    from pyro.infer.autoguide import AutoGuide

    guides = []
    if isinstance(guide, torch.nn.Module):
        guides = [m for m in guide.modules() if isinstance(m, AutoGuide)]
    saved = [(g, g._model, g.master) for g in guides]
    memo: dict = {}
    try:
        model_copy = copy.deepcopy(model, memo)
        guide_copy = copy.deepcopy(guide, memo)
    except RuntimeError as error:  # e.g. a non-leaf tensor in an init_to_value guide
        warnings.warn(
            f"could not copy the model and guide ({error}); the posterior uses (and trains) "
            "your objects themselves",
            RuntimeWarning,
            stacklevel=3,
        )
        return model, guide
    finally:
        for g, model_ref, master in saved:
            g._model, g.master = model_ref, master
    if guides:
        copies = [m for m in guide_copy.modules() if isinstance(m, AutoGuide)]
        for (_, model_ref, _), g in zip(saved, copies, strict=True):
            # the reference may wrap the model (e.g. in an InitMessenger): copied through the
            # same memo, the wrapper's copy wraps the model's copy
            g._model = copy.deepcopy(model_ref, memo)
    return model_copy, guide_copy
