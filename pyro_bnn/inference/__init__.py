"""Inference engines: stochastic variational inference and NUTS."""

from .mcmc import fit_nuts
from .svi import fit_svi

__all__ = ["fit_svi", "fit_nuts"]
