"""pyro_bnn: Bayesian neural networks on Pyro with honest uncertainty.

Declare a network (:class:`BayesianMLP` with a prior and a likelihood), fit it
with :func:`fit_svi` or :func:`fit_nuts`, and turn the :class:`Posterior` into
predictions with uncertainty with :func:`predict`.
"""

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
    SamplePrediction,
    predict,
)
from .priors import HierarchicalNormal, IIDNormal, LayerwiseNormal, PerLayerPrior, Prior

__version__ = "0.1.0"

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
    "SamplePrediction",
    "MeanFieldCollapseWarning",
    "ConvergenceWarning",
]
