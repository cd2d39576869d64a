"""Fit budgets of every benchmark method (:class:`Settings`) and the named presets."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Settings", "PRESETS", "NOISE_MODES", "batch_for", "epochs_for"]

#: How a Bayesian network's Gaussian noise is set (``Settings.svi_noise``/``nuts_noise``).
NOISE_MODES = ("learned", "validation")


@dataclass
class Settings:
    """Fit budgets of every method (see ``--preset``); ``scale`` multiplies steps/epochs.

    Attributes
    ----------
    svi_steps, svi_lr, svi_init_scale : SVI optimisation (``fit_svi``)
    svi_full_batch_max : full-batch SVI up to this many training points, else minibatches
    svi_batch_size : minibatch size above that
    noise_prior_scale : HalfNormal scale of a learned noise ``sigma`` (standardized y)
    noise_precision_prior : ``(shape, rate)`` of a Gamma prior on a learned noise's
        precision ``1 / sigma**2`` instead of the HalfNormal (PBP: ``(6, 6)``); ``None``
        keeps the HalfNormal
    svi_noise, nuts_noise : ``"learned"`` (latent ``sigma``) or ``"validation"`` (``sigma``
        fixed at the validation RMSE of a MAP fit; NUTS then starts from that MAP fit)
    nuts_warmup, nuts_samples, nuts_chains, nuts_max_points : NUTS budget; larger
        training sets are skipped. With a learned noise every chain starts from its own
        MAP fit (from its own prior draw), so several chains visit several modes
    nuts_target_accept, nuts_max_tree_depth : NUTS settings (the tree depth for regression;
        classification keeps ``fit_nuts``'s default)
    map_max_steps, map_max_epochs : MAP budget (epochs = min(max_epochs, steps / batches))
    dropout_max_steps, dropout_epochs : MC-dropout budget (paper: 400 epochs, 200 protein)
    dropout_grid, tau_grid : MC-dropout grid (tau in standardized-y units)
    dropout_passes : test-time dropout masks
    ensemble_max_steps, ensemble_max_epochs, ensemble_members : deep-ensemble budget
    swag_epochs, swag_max_steps, swag_draws : SWAG collection stage (after the MAP fit)
    validation_fraction : part of the training split used to choose hyper-parameters
    extra : settings of methods added later (read with ``settings.extra.get(...)``)
    """

    svi_steps: int = 3000
    svi_lr: float = 1e-2
    svi_init_scale: float = 1e-3
    svi_full_batch_max: int = 2000
    svi_batch_size: int = 1024
    noise_prior_scale: float = 1.0
    noise_precision_prior: tuple[float, float] | None = None
    nuts_warmup: int = 200
    nuts_samples: int = 100
    nuts_chains: int = 4
    nuts_max_points: int = 1500
    nuts_target_accept: float = 0.8
    nuts_max_tree_depth: int = 8
    svi_noise: str = "learned"
    nuts_noise: str = "learned"
    map_max_steps: int = 4000
    map_max_epochs: int = 1000
    dropout_max_steps: int = 3000
    dropout_epochs: int = 4000
    dropout_grid: tuple[float, ...] = (0.005, 0.01, 0.05, 0.1)
    tau_grid: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)
    dropout_passes: int = 1000
    ensemble_max_steps: int = 4000
    ensemble_max_epochs: int = 1000
    ensemble_members: int = 5
    swag_epochs: int = 50
    swag_max_steps: int = 2000
    swag_draws: int = 100
    validation_fraction: float = 0.2
    scale: float = 1.0
    extra: dict = field(default_factory=dict)

    def steps(self, value: int, minimum: int = 1) -> int:
        """``value * scale`` rounded, at least ``minimum``."""
        return max(minimum, int(round(value * self.scale)))


PRESETS = {
    "standard": Settings(),
    # CI / smoke test: every code path, seconds per fit.
    "tiny": Settings(
        svi_steps=30,
        nuts_warmup=10,
        nuts_samples=10,
        nuts_chains=2,
        map_max_steps=30,
        map_max_epochs=5,
        dropout_max_steps=30,
        dropout_epochs=5,
        dropout_grid=(0.01, 0.05),
        tau_grid=(1.0, 10.0),
        dropout_passes=50,
        ensemble_max_steps=30,
        ensemble_max_epochs=5,
        ensemble_members=2,
        swag_epochs=3,
        swag_max_steps=10,
        swag_draws=10,
    ),
}


def batch_for(num_rows: int, small_batch: int, large_batch: int = 512) -> int:
    """Minibatch size: the papers' ``small_batch`` up to 2,000 rows, else ``large_batch``.

    The larger batch above 2,000 points lets a fixed step budget still cover enough epochs.
    """
    return small_batch if num_rows <= 2000 else large_batch


def epochs_for(num_rows: int, batch_size: int, max_steps: int, max_epochs: int) -> int:
    """Epochs so that the number of steps stays within ``max_steps`` (at least one epoch)."""
    batches = max(1, math.ceil(num_rows / batch_size))
    return max(1, min(max_epochs, max_steps // batches))
