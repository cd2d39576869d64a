"""Posterior-predictive summaries: predictions with uncertainty.

:func:`predict` evaluates the network for all posterior draws at once (no
Python loop over draws) in chunks of inputs, so memory stays bounded, and
returns a :class:`Prediction`:

- :class:`RegressionPrediction`: mean, total / epistemic / aleatoric variance,
  intervals, quantiles, predictive samples, CDF and log densities;
- :class:`ClassificationPrediction`: class probabilities, predictive entropy,
  expected entropy (aleatoric), mutual information (epistemic, BALD);

A user-written Pyro model gets the same two classes, from the distribution of its
observed site per draw. Results are numpy arrays when ``x`` was numpy.

The decomposition follows the law of total variance over the posterior draws
``theta_s``: ``Var[y] = Var_s(E[y | theta_s]) + E_s(Var[y | theta_s])``, i.e.
``total_var = epistemic_var + aleatoric_var`` on the same draws.

Modules: :mod:`~pyro_bnn.predictive.api` (``predict``),
:mod:`~pyro_bnn.predictive.prediction` (the result classes),
:mod:`~pyro_bnn.predictive.network` (the BayesianMLP fast path) and
:mod:`~pyro_bnn.predictive.user_model` (any Pyro model, from its observed site).
"""

from .api import predict
from .prediction import ClassificationPrediction, PerDraw, Prediction, RegressionPrediction

__all__ = [
    "predict",
    "Prediction",
    "RegressionPrediction",
    "ClassificationPrediction",
    "PerDraw",
]
