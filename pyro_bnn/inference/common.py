"""Pieces shared by the SVI and MCMC engines: devices, input preparation, scaling."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import torch
from pyro.poutine.util import site_is_subsample

from ..likelihoods import Gaussian, HeteroscedasticGaussian, StudentT
from ..nets import BayesianMLP
from ..validation import (
    as_tensor,
    check_finite,
    check_positive_int,  # noqa: F401 (re-exported for older imports)
)


def resolve_device(device) -> torch.device:
    """``"auto"`` → CUDA, else MPS, else CPU (whichever exists); otherwise ``torch.device``."""
    if device is None:
        return torch.device("cpu")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"invalid device {device!r}: {error}; use 'cpu', 'cuda', 'cuda:1', 'mps' or 'auto'"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} requested but CUDA is not available on this machine")
    return device


def model_device(model: Callable, device=None) -> torch.device:
    """``resolve_device(device)``, or for ``device=None`` the device ``model`` is on.

    A :class:`BayesianMLP` or ``nn.Module`` is on the device of its parameters and
    buffers; a plain function (or a module without tensors) on the CPU.
    """
    if device is not None:
        return resolve_device(device)
    if isinstance(model, BayesianMLP):
        return model._like.device
    if isinstance(model, torch.nn.Module):
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            return tensor.device
    return torch.device("cpu")


def prepare(model: Callable, x, y, dtype=None, device=None):
    """Validate data against the model and move model and data to ``dtype``/``device``.

    ``dtype=None`` and ``device=None`` keep the model's (a function: the default
    dtype, CPU). Returns ``(model, x, y)``; a :class:`BayesianMLP` is moved in place.
    For a user-written model, integer or boolean ``y`` (labels, counts) stays integer.
    """
    if not callable(model):
        raise TypeError(f"model must be a Pyro model (callable), got {type(model).__name__}")
    device = model_device(model, device)
    if dtype is not None and dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if isinstance(model, BayesianMLP):
        model.to(device=device, dtype=dtype or model._like.dtype)
        x, y = model.check_inputs(x, y)
        return model, x, y
    dtype = dtype or _module_dtype(model) or torch.get_default_dtype()
    if isinstance(model, torch.nn.Module):
        model.to(device=device, dtype=dtype)
    # a user's model decides its own shapes: only convert and check the values
    x = as_tensor(x, "x", dtype=dtype, device=device)
    check_finite(x, "x")
    if y is None:
        return model, x, None
    integer_y = _is_integer_array(y)
    y = as_tensor(y, "y", dtype=dtype, device=device)
    check_finite(y, "y")
    return model, x, (y.long() if integer_y else y)


def _module_dtype(model) -> torch.dtype | None:
    """float32/float64 of an ``nn.Module``'s first floating tensor, else ``None``."""
    if isinstance(model, torch.nn.Module):
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            if tensor.is_floating_point():
                return tensor.dtype if tensor.dtype in (torch.float32, torch.float64) else None
    return None


def _is_integer_array(values) -> bool:
    if isinstance(values, torch.Tensor):
        return not values.dtype.is_floating_point and not values.dtype.is_complex
    return np.asarray(values).dtype.kind in "iub"


def continuous_likelihood(model: Callable, y: torch.Tensor | None) -> bool:
    """Whether ``y`` is a continuous target to standardize (never counts or labels)."""
    if isinstance(model, BayesianMLP):
        return isinstance(model.likelihood, Gaussian | HeteroscedasticGaussian | StudentT)
    return y is not None and y.dtype.is_floating_point


def standardize_data(model: Callable, x: torch.Tensor, y: torch.Tensor, standardize):
    """Standardize ``x`` (and a continuous ``y``) with statistics of this training data.

    ``standardize``: ``None`` (a BayesianMLP: yes; a user model: no), ``True``,
    ``"x"`` (inputs only) or ``False``. Returns ``(scaler or None, x, y)``.
    """
    from ..data import Standardizer

    if standardize is None:
        standardize = isinstance(model, BayesianMLP)
    if standardize not in (True, False, "x"):
        raise ValueError(f"standardize must be True, False, None or 'x', got {standardize!r}")
    if standardize is False:
        return None, x, y
    scale_y = standardize is True and continuous_likelihood(model, y)
    scaler = Standardizer.fit(
        x.detach().cpu().double().numpy(),
        y.detach().cpu().double().numpy() if scale_y else None,
        task="regression" if scale_y else "classification",
        standardize_y=scale_y,
    )
    x = scaler.transform_x(x)
    if scale_y:
        y = scaler.transform_y(y)
    return scaler, x, y


def check_obs_site(model: Callable, x: torch.Tensor, y: torch.Tensor, obs_site: str):
    """Trace ``model(x, y)`` once (privately) and check it observes ``obs_site``.

    Returns the trace. Raises ``ValueError`` naming the observed sites it has.
    """
    from ..posterior import model_trace

    trace = model_trace(model, (x, y))
    observed = [
        name
        for name, site in trace.nodes.items()
        if site["type"] == "sample" and site["is_observed"] and not site_is_subsample(site)
    ]
    if obs_site not in observed:
        raise ValueError(
            f"the model has no observed site {obs_site!r} when called as model(x, y); its "
            f"observed sites: {observed or 'none'}. Pass obs_site='<name>' or observe y "
            f"with pyro.sample({obs_site!r}, ..., obs=y)"
        )
    return trace
