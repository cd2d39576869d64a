"""pyro_bnn: Bayesian neural networks on Pyro with honest uncertainty.

Declare a network (:class:`BayesianMLP` with a prior and a likelihood), fit it
with :func:`fit_svi` or :func:`fit_nuts`, and turn the :class:`Posterior` into
predictions with uncertainty with :func:`predict`.
"""

from . import data, metrics
from .data import Dataset, Standardizer, load_csv, load_source, load_table, load_uci
from .inference import fit_nuts, fit_svi
from .inference.convergence import ConvergenceWarning
from .inference.laplace import LaplaceWarning
from .inference.mcmc_checks import WeightSymmetryNote
from .inference.svi import MeanFieldCollapseWarning
from .likelihoods import (
    Bernoulli,
    Categorical,
    Gaussian,
    HeteroscedasticGaussian,
    Likelihood,
    Poisson,
    StudentT,
)
from .nets import BayesianMLP
from .posterior import Posterior
from .predictive import (
    ClassificationPrediction,
    Prediction,
    RegressionPrediction,
    predict,
)
from .priors import HierarchicalNormal, IIDNormal, LayerwiseNormal, PerLayerPrior, Prior
from .workflow import ParetoKWarning, compare

__version__ = "0.1.0"

# Loaded on first use: matplotlib (plots) and the extras are not needed to fit.
_LAZY = {
    "plots": "pyro_bnn.plots",
    "baselines": "pyro_bnn.baselines",
    "streaming": "pyro_bnn.streaming",
    "distributed": "pyro_bnn.distributed",
}
# Plotting names at the top level, also loaded on first use (they import matplotlib).
_LAZY_NAMES = {
    "plot_ppc": "pyro_bnn.plots",
    "plot_prior_predictive": "pyro_bnn.plots",
}
# The application layer (model files, run directories) moved to pyro_bnn.app; these
# names still work for one release, with a DeprecationWarning.
_MOVED_TO_APP = ("load_run", "fit_run", "Run", "load_spec", "ModelSpec", "SpecError")


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return importlib.import_module(_LAZY[name])
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    if name in _MOVED_TO_APP:
        import warnings

        warnings.warn(
            f"pyro_bnn.{name} moved to the application layer: use "
            f"`from pyro_bnn.app import {name}` (pyro_bnn.{name} will be removed)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module("pyro_bnn.app"), name)
    raise AttributeError(f"module 'pyro_bnn' has no attribute {name!r}")


__all__ = [
    "BayesianMLP",
    "Prior",
    "IIDNormal",
    "LayerwiseNormal",
    "HierarchicalNormal",
    "PerLayerPrior",
    "Likelihood",
    "Gaussian",
    "HeteroscedasticGaussian",
    "StudentT",
    "Bernoulli",
    "Categorical",
    "Poisson",
    "fit_svi",
    "fit_nuts",
    "Posterior",
    "predict",
    "Prediction",
    "RegressionPrediction",
    "ClassificationPrediction",
    "MeanFieldCollapseWarning",
    "ConvergenceWarning",
    "WeightSymmetryNote",
    "ParetoKWarning",
    "compare",
    "LaplaceWarning",
    "plot_ppc",
    "plot_prior_predictive",
    "data",
    "metrics",
    "plots",
    "baselines",
    "streaming",
    "distributed",
    "Dataset",
    "Standardizer",
    "load_csv",
    "load_table",
    "load_source",
    "load_uci",
]
