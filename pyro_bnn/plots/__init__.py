"""Uncertainty plots: predictive bands, probability maps, point-vs-Bayes, calibration, diagnostics.

Every function returns a :class:`matplotlib.figure.Figure` and draws into the
axes you pass (``ax=`` or ``axes=``); without them it makes its own figure
(a plain ``Figure`` with constrained layout, not registered with pyplot, so
nothing is shown twice in a notebook and nothing leaks in a loop). Save with
``fig.savefig("name.png")`` or :func:`save_figure`.

One module per family, every public name re-exported here:

- :mod:`~pyro_bnn.plots.regression`: :func:`plot_regression` (data, predictive mean,
  epistemic and total bands, function draws, an optional MAP overlay),
  :func:`plot_epistemic_std` (epistemic std against x, no-data stretches shaded) and
  :func:`plot_predicted_vs_observed` (many inputs).
- :mod:`~pyro_bnn.plots.classification`: :func:`plot_classification`, maps of class
  probability, predictive entropy and mutual information over a 2-D grid
  (:func:`grid_2d`), with query points.
- :mod:`~pyro_bnn.plots.comparison`: :func:`plot_point_vs_bayes`, a point estimate and
  the Bayesian prediction side by side.
- :mod:`~pyro_bnn.plots.calibration`: :func:`plot_reliability` (classifiers) and
  :func:`plot_calibration` (regressors).
- :mod:`~pyro_bnn.plots.diagnostics`: :func:`plot_diagnostics`, the ELBO curve (SVI) or
  trace and rank plots (NUTS).
- :mod:`~pyro_bnn.plots.checks`: predictive checks, :func:`plot_prior_predictive`
  (function draws and replicated data from the prior, before a fit) and
  :func:`plot_ppc` (observed against replicated data after it).
- :mod:`~pyro_bnn.plots.common`: colours and :func:`save_figure`.
- :mod:`~pyro_bnn.plots.kinds`: :data:`RUN_PLOT_KINDS`, the plot kinds of a run directory.

matplotlib is imported on first use of a plotting name, not by ``import pyro_bnn.plots``
(the spec and the CLI read :mod:`~pyro_bnn.plots.kinds` without it).
"""

from __future__ import annotations

import importlib

from .kinds import PLOT_KINDS, RUN_PLOT_KINDS, PlotKind

# public name -> submodule that defines it (imported on first access: it imports matplotlib)
_EXPORTS = {
    "Grid2D": "classification",
    "grid_2d": "classification",
    "plot_classification": "classification",
    "CLASSIFICATION_KINDS": "classification",
    "plot_regression": "regression",
    "plot_predicted_vs_observed": "regression",
    "plot_epistemic_std": "regression",
    "epistemic_std_ratio": "regression",
    "data_gaps": "regression",
    "plot_point_vs_bayes": "comparison",
    "plot_reliability": "calibration",
    "plot_calibration": "calibration",
    "plot_diagnostics": "diagnostics",
    "plot_ppc": "checks",
    "plot_prior_predictive": "checks",
    "replicated_data": "checks",
    "save_figure": "common",
    "BAYES_COLOR": "common",
    "POINT_COLOR": "common",
    "DATA_COLOR": "common",
    "CLASS_COLORS": "common",
    "CLASS_MARKERS": "common",
}


_SUBMODULES = (
    "calibration",
    "checks",
    "classification",
    "common",
    "comparison",
    "diagnostics",
    "regression",
)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))


__all__ = [
    "Grid2D",
    "grid_2d",
    "plot_regression",
    "plot_classification",
    "plot_point_vs_bayes",
    "plot_reliability",
    "plot_calibration",
    "plot_predicted_vs_observed",
    "plot_epistemic_std",
    "epistemic_std_ratio",
    "data_gaps",
    "plot_diagnostics",
    "plot_ppc",
    "plot_prior_predictive",
    "replicated_data",
    "save_figure",
    "PlotKind",
    "RUN_PLOT_KINDS",
    "PLOT_KINDS",
]
