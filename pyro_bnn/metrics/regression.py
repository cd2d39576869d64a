"""Regression scores: errors of the mean, test log-likelihood, CRPS, interval coverage."""

from __future__ import annotations

import math
from typing import Any

import pyro.ops.stats
import torch

from ..validation import as_tensor, check_positive_float
from ._checks import _DTYPE, _array, _check_length, _check_same_shape

__all__ = [
    "rmse",
    "mae",
    "log_likelihood",
    "crps_empirical",
    "crps_gaussian",
    "interval_coverage",
]


def rmse(y: Any, mean: Any) -> float:
    """Root mean squared error ``sqrt(mean((y - mean)^2))``.

    Parameters
    ----------
    y, mean : (N,) or (N, D)
        Observations and point predictions (same shape).
    """
    y, mean = _array(y, "y"), _array(mean, "mean")
    _check_same_shape(y=y, mean=mean)
    return float((y - mean).pow(2).mean().sqrt())


def mae(y: Any, mean: Any) -> float:
    """Mean absolute error ``mean(|y - mean|)``.

    Parameters
    ----------
    y, mean : (N,) or (N, D)
        Observations and point predictions (same shape).
    """
    y, mean = _array(y, "y"), _array(mean, "mean")
    _check_same_shape(y=y, mean=mean)
    return float((y - mean).abs().mean())


def log_likelihood(log_prob_draws: Any, y_scale: float = 1.0) -> float:
    """Test log-likelihood of the posterior predictive, averaged over points.

    ``(1/N) sum_n log((1/S) sum_s p(y_n | theta_s)) - log(y_scale)``, computed with
    log-sum-exp so very negative log-densities do not underflow. This is the "test
    log-likelihood" reported in the UCI BNN literature (Hernandez-Lobato & Adams 2015).

    Parameters
    ----------
    log_prob_draws : (S, N)
        ``log p(y_n | theta_s)`` for posterior draw ``s`` and test point ``n``.
        ``-inf`` entries are allowed (a draw that gives the point zero density).
    y_scale : float
        If the model was fit to standardized targets ``(y - loc) / y_scale``, the
        densities are per standardized unit; subtracting ``log(y_scale)`` per point
        (change of variables) reports the log-likelihood in the original units of y.

    Returns
    -------
    float
        Mean log predictive density per point (higher is better).
    """
    y_scale = check_positive_float(y_scale, "y_scale")
    log_prob = as_tensor(log_prob_draws, "log_prob_draws", dtype=_DTYPE)
    if log_prob.dim() != 2:
        raise ValueError(
            f"log_prob_draws must have shape (S, N) (draws x points), "
            f"found shape {tuple(log_prob.shape)}"
        )
    if log_prob.numel() == 0:
        raise ValueError(f"log_prob_draws is empty (shape {tuple(log_prob.shape)})")
    bad = torch.isnan(log_prob) | (log_prob == math.inf)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        kind = "NaN" if torch.isnan(log_prob[index]) else "+inf"
        raise ValueError(f"log_prob_draws contains {kind} at index {index}")
    num_draws = log_prob.shape[0]
    per_point = torch.logsumexp(log_prob, dim=0) - math.log(num_draws)
    return float(per_point.mean()) - math.log(y_scale)


def crps_empirical(samples: Any, y: Any) -> float:
    """Mean continuous ranked probability score from predictive samples (lower is better).

    ``CRPS_n = E|X - y_n| - 1/2 E|X - X'|`` with ``X, X'`` drawn from the ``S`` samples
    (all ``S^2`` pairs, Gneiting & Raftery 2007); wraps :func:`pyro.ops.stats.crps_empirical`
    and averages over points. With one sample it is the absolute error.

    Parameters
    ----------
    samples : (S, N)
        Draws from the predictive distribution of each point (noise included).
    y : (N,)
        Observations.
    """
    y = _array(y, "y", ndim=1)
    samples = _array(samples, "samples", ndim=2)
    _check_length(y.shape[0], "samples", samples, dim=1)
    return float(pyro.ops.stats.crps_empirical(samples, y).mean())


def crps_gaussian(mean: Any, std: Any, y: Any) -> float:
    """Mean CRPS of Gaussian predictives ``N(mean_n, std_n^2)`` in closed form.

    ``CRPS = std * (z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi))`` with
    ``z = (y - mean) / std`` (Gneiting & Raftery 2007, eq. 21).

    Parameters
    ----------
    mean, std : (N,)
        Predictive mean and standard deviation (``std > 0``).
    y : (N,)
        Observations.
    """
    y = _array(y, "y", ndim=1)
    mean, std = _array(mean, "mean", ndim=1), _array(std, "std", ndim=1)
    _check_same_shape(y=y, mean=mean, std=std)
    if (std <= 0).any():
        row = int((std <= 0).nonzero()[0])
        raise ValueError(f"std must be positive, found {float(std[row])} at index {row}")
    z = (y - mean) / std
    pdf = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    cdf = torch.special.ndtr(z)
    crps = std * (z * (2 * cdf - 1) + 2 * pdf - 1 / math.sqrt(math.pi))
    return float(crps.mean())


def interval_coverage(y: Any, low: Any, high: Any) -> float:
    """Fraction of observations inside their interval, ``mean(low <= y <= high)``.

    Parameters
    ----------
    y, low, high : (N,) or (N, D)
        Observations and interval ends (same shape, ``low <= high``).
    """
    y, low, high = _array(y, "y"), _array(low, "low"), _array(high, "high")
    _check_same_shape(y=y, low=low, high=high)
    if (low > high).any():
        index = int((low > high).flatten().nonzero()[0])
        raise ValueError(
            f"low must be <= high, found low={float(low.flatten()[index])} > "
            f"high={float(high.flatten()[index])} at flat index {index}"
        )
    return float(((low <= y) & (y <= high)).to(_DTYPE).mean())
