"""Every metric of a ``Prediction`` for its task, as a ``dict[str, float]``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..validation import as_tensor, check_positive_float, check_positive_int
from ._checks import _DTYPE, _array
from .calibration import expected_calibration_error, quantile_calibration_error
from .classification import accuracy, brier, nll
from .regression import (
    crps_empirical,
    crps_gaussian,
    interval_coverage,
    log_likelihood,
    mae,
    rmse,
)

__all__ = ["evaluate"]


def _level_key(level: float) -> str:
    percent = round(level * 100, 6)
    return f"coverage_{int(percent)}" if percent == int(percent) else f"coverage_{percent:g}"


def _single_output(values: Any, name: str, num_points: int, leading: int = 0) -> torch.Tensor:
    """Accept ``(..., N)`` or ``(..., N, 1)``; reject multi-output arrays."""
    tensor = as_tensor(values, name, dtype=_DTYPE)
    expected_dims = leading + 1
    if tensor.dim() == expected_dims + 1 and tensor.shape[-1] == 1:
        tensor = tensor.squeeze(-1)
    if tensor.dim() != expected_dims or tensor.shape[-1] != num_points:
        shape = "(S, N)" if leading else "(N,)"
        raise ValueError(
            f"evaluate supports single-output regression only: {name} must have shape "
            f"{shape} with N={num_points}, found shape {tuple(tensor.shape)}"
        )
    return tensor


def evaluate(
    prediction: Any,
    y: Any,
    levels: Sequence[float] = (0.5, 0.9, 0.95),
    y_scale: float = 1.0,
    num_samples: int = 1000,
    num_bins: int = 15,
) -> dict[str, float]:
    """All metrics of a ``Prediction`` against observations, as plain floats.

    Regression (``prediction.task == "regression"``, single output): ``rmse``, ``mae``,
    ``test_ll`` (:func:`log_likelihood` of ``prediction.log_prob_draws(y)``), ``crps``
    (:func:`crps_empirical` of ``prediction.sample(num_samples, seed=0)``, or
    :func:`crps_gaussian` of ``mean``/``std`` if the prediction cannot sample),
    ``coverage_<100*level>`` for each level (:func:`interval_coverage` of
    ``prediction.interval(level)``) and ``calibration_error``
    (:func:`quantile_calibration_error` of ``prediction.cdf(y)``).

    Classification (``"classification"``): ``accuracy``, ``nll``, ``brier``, ``ece``
    from ``prediction.probs``.

    Parameters
    ----------
    prediction : Prediction
        From :func:`pyro_bnn.predictive.predict` (or a baseline).
    y : (N,)
        Observations in the prediction's units (labels for classification). A
        prediction from :func:`~pyro_bnn.predictive.predict` is in the data's own
        units, also when the fit standardized the data (``posterior.scaler``).
    levels : sequence of float
        Central interval levels in (0, 1) for the coverage metrics.
    y_scale : float
        Only for a prediction in standardized units (e.g. a fit with
        ``standardize=False`` on targets you standardized yourself): the standard
        deviation used. When not 1, metrics are reported in original units: ``rmse``,
        ``mae`` and ``crps`` are multiplied by ``y_scale`` and ``test_ll`` has
        ``log(y_scale)`` subtracted; coverage and calibration are scale-free. Leave it
        at 1 for a posterior that keeps its scaler, or the scale is applied twice.
        Regression only.
    num_samples : int
        Predictive draws used for the CRPS.
    num_bins : int
        Confidence bins for the ECE.
    """
    task = getattr(prediction, "task", None)
    if task == "regression":
        return _evaluate_regression(prediction, y, levels, y_scale, num_samples)
    if task == "classification":
        if float(y_scale) != 1.0:
            raise ValueError(
                f"y_scale applies to regression only, found y_scale={y_scale} "
                "for a classification prediction"
            )
        probs = prediction.probs
        return {
            "accuracy": accuracy(probs, y),
            "nll": nll(probs, y),
            "brier": brier(probs, y),
            "ece": expected_calibration_error(probs, y, num_bins=num_bins),
        }
    raise ValueError(f"prediction.task must be 'regression' or 'classification', found {task!r}")


def _evaluate_regression(
    prediction: Any, y: Any, levels: Sequence[float], y_scale: float, num_samples: int
) -> dict[str, float]:
    y_scale = check_positive_float(y_scale, "y_scale")
    check_positive_int(num_samples, "num_samples")
    levels = [float(level) for level in levels]
    for level in levels:
        if not 0 < level < 1:
            raise ValueError(f"coverage levels must lie in (0, 1), found {level}")

    mean_tensor = torch.as_tensor(prediction.mean)
    y_flat = _array(y, "y")
    if y_flat.dim() == 2 and y_flat.shape[1] == 1:
        y_flat = y_flat.squeeze(-1)
    if y_flat.dim() != 1:
        raise ValueError(
            f"evaluate supports single-output regression only: y must have shape (N,), "
            f"found shape {tuple(y_flat.shape)}"
        )
    num_points = y_flat.shape[0]
    mean = _single_output(mean_tensor, "prediction.mean", num_points)
    # Hand y to the prediction in the shape and dtype of its own mean.
    y_for_prediction = y_flat.to(mean_tensor.dtype).reshape(mean_tensor.shape)

    log_prob = _single_output(
        prediction.log_prob_draws(y_for_prediction), "log_prob_draws", num_points, leading=1
    )
    sample = getattr(prediction, "sample", None)
    if callable(sample):
        draws = _single_output(sample(num_samples, seed=0), "sample", num_points, leading=1)
        crps = crps_empirical(draws, y_flat)
    else:
        std = _single_output(prediction.std, "prediction.std", num_points)
        crps = crps_gaussian(mean, std, y_flat)

    results = {
        "rmse": rmse(y_flat, mean) * y_scale,
        "mae": mae(y_flat, mean) * y_scale,
        "test_ll": log_likelihood(log_prob, y_scale=y_scale),
        "crps": crps * y_scale,
    }
    for level in levels:
        low, high = prediction.interval(level)
        results[_level_key(level)] = interval_coverage(
            y_flat,
            _single_output(low, "interval low", num_points),
            _single_output(high, "interval high", num_points),
        )
    pit = _single_output(prediction.cdf(y_for_prediction), "cdf", num_points)
    results["calibration_error"] = quantile_calibration_error(pit)
    return results
