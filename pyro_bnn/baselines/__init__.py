"""Non-Bayesian and approximately Bayesian baselines with the same interface as the Bayesian fits.

Every baseline takes the network the way :func:`~pyro_bnn.fit_svi` does,
``fit_*(model, x, y, *, ...)`` with a :class:`~pyro_bnn.BayesianMLP` first and
keyword-only settings (``standardize``, ``seed``, ``progress``, ``device``,
``dtype`` mean the same everywhere), is trained in plain torch (no Pyro tracing)
and returns a :class:`BaselineFit`: a :class:`~pyro_bnn.Posterior` holding a fixed
set of weight "draws". :func:`pyro_bnn.predict` (or :meth:`BaselineFit.predict`)
reads it like any other posterior, so metrics and plots accept it unchanged, and
:meth:`~pyro_bnn.Posterior.save` / :meth:`~pyro_bnn.Posterior.load` store it. For
the mixtures ``total_var = epistemic_var + aleatoric_var`` holds over the draws.

Data are given in your own units. As for the Bayesian fits, the inputs (and
continuous targets: Gaussian, heteroscedastic, Student-t; never counts or labels)
are standardized with statistics of the training data (``standardize=None``, the
default; ``False`` switches it off); the fit keeps the scaler and predictions come
back in your units, variances and intervals included. The caller's model is never
changed (the fit works on a copy), and the global random streams are not touched.

One module per baseline, plus :mod:`~pyro_bnn.baselines.common` (the result type,
argument handling, validation split, batched training):

- :func:`fit_map` (``map.py``): the MAP point estimate of a
  :class:`~pyro_bnn.BayesianMLP` (same prior and likelihood as its Bayesian fits),
  one draw, through the library's one MAP routine
  (:func:`pyro_bnn.inference.map.map_estimate`).
- :func:`fit_mc_dropout` (``mc_dropout.py``): MC dropout (Gal & Ghahramani 2016) on the network's
  architecture. Dropout before every layer at training and at test time, weight
  decay ``length_scale**2 * (1 - p) / (2 N tau)`` and noise precision ``tau``.
  Each test-time dropout mask is a weight draw (a dropped input unit is a
  zeroed column of the weight matrix), ``num_passes`` of them.
  Grids of ``dropout`` and ``tau`` are searched on a validation part of the
  training data, all grid points trained at once as a batch of networks.
- :func:`fit_swag` (``swag.py``): SWAG (Maddox et al. 2019): from the MAP fit, SGD at a constant
  learning rate; the iterates' mean, diagonal variance and last deviations give
  a Gaussian over the weights (diagonal + low rank), sampled for prediction.
- :func:`fit_ensemble` (``ensemble.py``): deep ensembles (Lakshminarayanan et al. 2017) on the
  network's architecture. ``M`` networks from different random initialisations,
  each with a learned Gaussian variance (heteroscedastic negative log-likelihood)
  or softmax outputs; the prediction is the uniform mixture. Members are trained
  as one batch of networks.

Training length can be chosen by early stopping on a validation part of the
training data (``validation_fraction > 0``): the epoch with the best validation
log-likelihood is found, then the network is retrained on all the data for that
many epochs.

Example
-------
>>> import numpy as np, pyro_bnn as pb
>>> from pyro_bnn.baselines import fit_ensemble
>>> x = np.linspace(0, 10, 50)[:, None]
>>> y = 100 + 50 * np.sin(x[:, 0])
>>> fit = fit_ensemble(pb.BayesianMLP(1, 1, hidden=(16,)), x, y, num_epochs=5, progress=False)
>>> pb.predict(fit, x).mean.shape  # original units, numpy in -> numpy out
(50,)
"""

from .common import BASELINES, BaselineFit
from .ensemble import fit_ensemble
from .map import fit_map
from .mc_dropout import fit_mc_dropout
from .swag import fit_swag

__all__ = [
    "BaselineFit",
    "fit_map",
    "fit_mc_dropout",
    "fit_ensemble",
    "fit_swag",
    "BASELINES",
]
