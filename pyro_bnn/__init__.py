"""pyro_bnn: Bayesian neural networks on Pyro with honest uncertainty.

Declare a network (:class:`BayesianMLP` with a prior and a likelihood), fit it
with :func:`fit_svi` or :func:`fit_nuts`, and turn the :class:`Posterior` into
predictions with uncertainty with :func:`predict`.
"""

from . import data, metrics
from .data import Dataset, Standardizer, load_csv, load_source, load_uci
from .inference import fit_nuts, fit_svi
from .inference.mcmc import ConvergenceWarning
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

__version__ = "0.1.0"

# Loaded on first use: matplotlib (plots) and the CLI machinery are not needed to fit.
_LAZY = {
    "plots": ("pyro_bnn.plots", None),
    "baselines": ("pyro_bnn.baselines", None),
    "streaming": ("pyro_bnn.streaming", None),
    "distributed": ("pyro_bnn.distributed", None),
    "load_run": ("pyro_bnn.app.run_dir", "load_run"),
    "fit_run": ("pyro_bnn.app.run_dir", "fit_run"),
    "Run": ("pyro_bnn.app.run_dir", "Run"),
    "load_spec": ("pyro_bnn.app.spec", "load_spec"),
    "ModelSpec": ("pyro_bnn.app.spec", "ModelSpec"),
    "SpecError": ("pyro_bnn.app.spec", "SpecError"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module_name, attribute = _LAZY[name]
        module = importlib.import_module(module_name)
        return module if attribute is None else getattr(module, attribute)
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
    "data",
    "metrics",
    "plots",
    "baselines",
    "streaming",
    "distributed",
    "Dataset",
    "Standardizer",
    "load_csv",
    "load_source",
    "load_uci",
    "load_run",
    "fit_run",
    "Run",
    "load_spec",
    "ModelSpec",
    "SpecError",
]
