"""Proper scoring rules and calibration metrics for posterior-predictive distributions.

Low-level functions take arrays (``torch.Tensor``, ``numpy.ndarray`` or nested lists),
compute in float64 torch and return Python floats. :func:`evaluate` takes a
``Prediction`` from :mod:`pyro_bnn.predictive` and returns every metric for its task
as a ``dict[str, float]``.

Regression: :func:`rmse`, :func:`mae`, :func:`log_likelihood`, :func:`crps_empirical`,
:func:`crps_gaussian`, :func:`interval_coverage`, :func:`quantile_calibration_error`,
:func:`calibration_curve`.

Classification: :func:`accuracy`, :func:`nll`, :func:`brier`,
:func:`expected_calibration_error`, :func:`reliability_curve`.

Out-of-distribution detection: :func:`auroc`.

One module per family, every public name re-exported here: :mod:`~.regression`,
:mod:`~.classification`, :mod:`~.calibration` (both tasks), :mod:`~.ood` and
:mod:`~.evaluation` (:func:`evaluate`).
"""

from ._checks import PROB_SUM_TOLERANCE
from .calibration import (
    CalibrationCurve,
    ReliabilityCurve,
    calibration_curve,
    default_calibration_levels,
    expected_calibration_error,
    quantile_calibration_error,
    reliability_curve,
)
from .classification import PROB_FLOOR, accuracy, brier, nll
from .evaluation import evaluate
from .ood import auroc
from .regression import crps_empirical, crps_gaussian, interval_coverage, log_likelihood, mae, rmse

__all__ = [
    "PROB_FLOOR",
    "PROB_SUM_TOLERANCE",
    "CalibrationCurve",
    "ReliabilityCurve",
    "accuracy",
    "auroc",
    "brier",
    "calibration_curve",
    "crps_empirical",
    "crps_gaussian",
    "default_calibration_levels",
    "evaluate",
    "expected_calibration_error",
    "interval_coverage",
    "log_likelihood",
    "mae",
    "nll",
    "quantile_calibration_error",
    "reliability_curve",
    "rmse",
]
