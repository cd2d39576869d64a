"""``predict``: posterior-predictive distribution at new inputs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..inference.common import model_device, resolve_device
from ..isolation import check_seed
from ..nets import BayesianMLP
from ..posterior import Posterior
from ..validation import check_positive_int
from .network import _predict_network
from .prediction import Prediction
from .user_model import _predict_user_model


def predict(
    posterior: Posterior,
    x,
    *,
    num_draws: int | None = None,
    seed: int = 0,
    chunk_size: int | None = None,
    keep_draws: bool = True,
    return_sites: Sequence[str] = (),
    device=None,
    linearized: bool | None = None,
) -> Prediction:
    """Posterior-predictive distribution at new inputs, in the units of the training data.

    Parameters
    ----------
    posterior : Posterior
        From :func:`~pyro_bnn.fit_svi`, :func:`~pyro_bnn.fit_nuts` or a baseline.
    x : array (N, D)
        Inputs in your units (a 1-D array is one feature). The posterior's scaler,
        if any, is applied here and undone on the outputs.
    num_draws : int, optional
        Posterior draws to use (SVI default 1000; MCMC: all, or evenly thinned).
    seed : int
        Seeds the guide draws and any Monte Carlo summaries (global random streams
        are not touched).
    chunk_size : int, optional
        BayesianMLP: inputs evaluated at once; default keeps draws × chunk × width ≤
        2**22 (16 MiB of float32, cache-sized).
    keep_draws : bool
        Keep the per-draw outputs (needed by intervals, quantiles, samples and log
        densities). ``False`` keeps only the moments (BayesianMLP).
    return_sites : sequence of str
        Latent or ``pyro.deterministic`` sites whose draws ``(S, ...)`` to keep in
        ``prediction.sites``.
    device
        Where to compute (default: the model's device).
    linearized : bool, optional
        BayesianMLP with an SVI autoguide: predict with the network linearised in its
        weights at the guide's centre, ``f(x; m) + J(x) (theta - m)`` for every draw
        ``theta`` (the GLM predictive of Immer et al. 2021), instead of the network at
        each draw. Default (``None``): on for a ``guide="laplace"`` posterior (the
        Laplace approximation is a Gaussian for the linearised model; the sampled
        network can be far off where the Hessian is flat), off otherwise. For a
        network without hidden layers both are the same.

    Returns
    -------
    RegressionPrediction or ClassificationPrediction
        Numpy arrays out when ``x`` is numpy, tensors when ``x`` is a tensor.

    Notes
    -----
    For a user-written model the predictive distribution comes from its observed
    site (``posterior.obs_site``): a discrete one with class probabilities
    (``Categorical``, ``Bernoulli``) gives a :class:`ClassificationPrediction`, any
    other one a :class:`RegressionPrediction`. The epistemic/aleatoric split uses the
    observed distribution's ``mean`` and ``variance`` per draw (law of total
    variance); plates with ``subsample_size`` are evaluated on all rows.

    Example
    -------
    >>> pred = predict(post, x_new, num_draws=1000)  # doctest: +SKIP
    >>> low, high = pred.interval(0.9)  # doctest: +SKIP
    """
    if not isinstance(posterior, Posterior):
        raise TypeError(f"posterior must be a pyro_bnn Posterior, got {type(posterior).__name__}")
    check_positive_int(chunk_size, "chunk_size", allow_none=True)
    check_positive_int(num_draws, "num_draws", allow_none=True)
    check_seed(seed)
    if isinstance(return_sites, str):
        return_sites = (return_sites,)
    as_numpy = not isinstance(x, torch.Tensor)
    if posterior.scaler is not None:
        x = posterior.scaler.transform_x(_check_features(x, posterior.scaler.num_features))
    model = posterior.model
    if isinstance(model, BayesianMLP):
        unknown = [name for name in return_sites if name not in posterior.latent_shapes]
        if unknown:
            raise ValueError(
                f"return_sites {unknown} are not sites of this BayesianMLP; its latent sites: "
                f"{', '.join(posterior.latent_shapes)}"
            )
        if linearized is None:
            linearized = posterior.method == "svi" and posterior.guide_type == "laplace"
        home = model_device(model)
        if device is not None:  # computed there; the posterior's model goes back afterwards
            model.to(resolve_device(device))
        try:
            prediction = _predict_network(
                posterior, x, num_draws, seed, chunk_size, keep_draws, tuple(return_sites),
                linearized=bool(linearized),
            )  # fmt: skip
        finally:
            if device is not None:
                model.to(home)
    else:
        if linearized:
            raise ValueError(
                "linearized=True needs a BayesianMLP (a user-written model is predicted "
                "by running it at each draw)"
            )
        prediction = _predict_user_model(posterior, x, num_draws, seed, tuple(return_sites))
    prediction.as_numpy = as_numpy
    return prediction


def _check_features(x, num_features: int):
    """``x`` as a 2-D array (a 1-D array is one feature) with a clear error on width."""
    array = x if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[1] != num_features:
        raise ValueError(
            f"x must have shape (N, {num_features}) (the training data's columns), "
            f"found shape {tuple(array.shape)}"
        )
    return array
