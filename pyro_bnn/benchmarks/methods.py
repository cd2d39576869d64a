"""The benchmark's methods: a registry from method name to one small fit function.

Every method is a function ``fit(setup, x, y, settings) -> Fitted`` on standardized
training data, registered under its name with the tasks it handles. :func:`fit_predict`
runs it and predicts any number of standardized input sets. Adding a method is adding
one function and one :func:`register` call::

    @register("laplace")
    def _laplace(setup, x, y, settings):
        posterior = ...  # any pyro_bnn Posterior (fit_* with standardize=False)
        return Fitted(posterior, info={"sigma": ...})

The functions use only the library's public API: ``fit_svi``, ``fit_nuts``,
``pyro_bnn.baselines.fit_*``, ``predict``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import (
    BayesianMLP,
    Categorical,
    Gaussian,
    LayerwiseNormal,
    Posterior,
    Prediction,
    fit_nuts,
    fit_svi,
    predict,
)
from ..baselines import fit_ensemble, fit_map, fit_mc_dropout, fit_swag
from ..nets import default_weight_scale
from ..validation import check_choice
from .settings import NOISE_MODES, Settings, batch_for, epochs_for

__all__ = [
    "TASKS",
    "Setup",
    "Fitted",
    "Method",
    "Skipped",
    "METHODS",
    "register",
    "methods_for",
    "fit_predict",
    "REGRESSION_METHODS",
    "CLASSIFICATION_METHODS",
]

TASKS = ("regression", "classification")


@dataclass(frozen=True)
class Setup:
    """What a method needs besides the data and the budgets.

    Attributes
    ----------
    task : ``"regression"`` or ``"classification"``
    in_features : number of input columns ``D``
    out_features : 1 for regression, the number of classes ``K`` for classification
    hidden : hidden-layer widths of the network
    seed : seed of the fit and of the prediction (the benchmark uses the split index)
    progress : progress bars inside the fit
    """

    task: str
    in_features: int
    out_features: int
    hidden: tuple[int, ...]
    seed: int = 0
    progress: bool = False

    def network(self, settings: Settings, sigma: float | None = None) -> BayesianMLP:
        """The benchmark's ReLU network with the library's default layer-wise Normal prior.

        Weight scale :func:`~pyro_bnn.nets.default_weight_scale` of the task: 1 for
        regression, 3 for classification.

        Regression: Gaussian noise, learned (``HalfNormal(settings.noise_prior_scale)``,
        or a Gamma prior on the precision with ``settings.noise_precision_prior``) or
        fixed at ``sigma``; classification: Categorical.
        """
        if self.task == "classification":
            likelihood = Categorical()
        elif sigma is None:
            likelihood = Gaussian(
                sigma_prior_scale=settings.noise_prior_scale,
                precision_prior=settings.noise_precision_prior,
            )
        else:
            likelihood = Gaussian(sigma=sigma)
        return BayesianMLP(
            self.in_features, self.out_features, hidden=self.hidden, activation="relu",
            prior=LayerwiseNormal(weight_scale=default_weight_scale(self.task)),
            likelihood=likelihood,
        )  # fmt: skip


@dataclass
class Fitted:
    """A method's result: the posterior, what to log, and how many draws to predict with.

    ``num_draws`` is passed to :func:`pyro_bnn.predict` (``None``: all fixed draws;
    a number for posteriors that sample a guide).
    """

    posterior: Posterior
    info: dict = field(default_factory=dict)
    num_draws: int | None = None


class Skipped(Exception):  # noqa: N818 (a skip, not an error)
    """Raised by a method that does not run on this data (e.g. NUTS on a large set)."""


@dataclass(frozen=True)
class Method:
    """A registered method: its name, its fit function and the tasks it handles."""

    name: str
    fit: Callable[[Setup, np.ndarray, np.ndarray, Settings], Fitted]
    tasks: tuple[str, ...] = TASKS


#: Method name → :class:`Method`, in registration order (the order of the tables).
METHODS: dict[str, Method] = {}


def register(name: str, tasks: Sequence[str] = TASKS):
    """Decorator: register ``fit(setup, x, y, settings) -> Fitted`` as method ``name``."""
    for task in tasks:
        check_choice(task, "task", TASKS)

    def decorate(fit: Callable) -> Callable:
        METHODS[name] = Method(name, fit, tuple(tasks))
        return fit

    return decorate


def methods_for(task: str) -> tuple[str, ...]:
    """Names of the registered methods that handle ``task``, in registration order."""
    check_choice(task, "task", TASKS)
    return tuple(name for name, method in METHODS.items() if task in method.tasks)


def fit_predict(
    method: str,
    setup: Setup,
    x: np.ndarray,
    y: np.ndarray,
    inputs: Sequence[np.ndarray],
    settings: Settings,
    fitters: dict[str, Callable] | None = None,
) -> tuple[list[Prediction], dict]:
    """Fit ``method`` on standardized ``x: (N, D)``, ``y: (N,)``; predict every ``inputs`` set.

    ``fitters`` replaces registered fit functions by name (tests). Warnings raised
    while fitting are collected in ``info["warnings"]`` instead of being printed.

    Returns
    -------
    predictions, info : list of Prediction (one per input set), dict
    """
    check_choice(method, "method", methods_for(setup.task))
    fit = (fitters or {}).get(method, METHODS[method].fit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = fit(setup, x, y, settings)
    info = {**fitted.info, "warnings": [str(w.message) for w in caught]}
    predictions = [
        predict(fitted.posterior, z, num_draws=fitted.num_draws, seed=setup.seed) for z in inputs
    ]
    return predictions, info


# --------------------------------------------------------------------------- shared steps


def _map(setup: Setup, x, y, settings: Settings) -> Posterior:
    """MAP with the number of epochs chosen on a validation part of the training data."""
    batch = batch_for(x.shape[0], 128)
    epochs = epochs_for(
        x.shape[0], batch, settings.steps(settings.map_max_steps), settings.map_max_epochs
    )
    return fit_map(
        setup.network(settings), x, y,
        num_epochs=epochs,
        batch_size=batch,
        validation_fraction=settings.validation_fraction,
        standardize=False,  # the benchmark standardizes the split itself
        seed=setup.seed,
        progress=setup.progress,
    )  # fmt: skip


def _noise(setup: Setup, x, y, settings: Settings, mode: str):
    """``(sigma or None, MAP fit or None)`` for a Bayesian network's noise ``mode``.

    ``"learned"`` (and classification): no fixed ``sigma``. ``"validation"``: ``sigma`` is
    fixed at the validation RMSE (standardized units) of a MAP fit of the same network,
    a plug-in chosen on the validation part of the training split (like MC dropout's
    tau); the MAP fit also initialises NUTS.
    """
    check_choice(mode, "noise mode", NOISE_MODES)
    if setup.task != "regression" or mode == "learned":
        return None, None
    fit = _map(setup, x, y, settings)
    return max(fit.diagnostics["validation_rmse"], 1e-3), fit


def _sigma(sigma: float | None, posterior: Posterior) -> dict:
    """``{"sigma": fixed or posterior-mean noise}`` when the model has one."""
    if sigma is not None:
        return {"sigma": sigma}
    if "sigma" in posterior.draws:
        return {"sigma": float(posterior.draws["sigma"].mean())}
    return {}


# --------------------------------------------------------------------------- the methods


def _svi(guide: str) -> Callable:
    def fit(setup: Setup, x, y, settings: Settings) -> Fitted:
        sigma, _ = _noise(setup, x, y, settings, settings.svi_noise)
        full_batch = x.shape[0] <= settings.svi_full_batch_max
        posterior = fit_svi(
            setup.network(settings, sigma), x, y,
            standardize=False,  # already standardized with the split's statistics
            guide=guide,
            num_steps=settings.steps(settings.svi_steps),
            lr=settings.svi_lr,
            init_scale=settings.svi_init_scale,
            batch_size=None if full_batch else settings.svi_batch_size,
            seed=setup.seed,
            progress=setup.progress,
        )  # fmt: skip
        return Fitted(posterior, _sigma(sigma, posterior), num_draws=1000)

    fit.__doc__ = f"Mean-field SVI with the {guide!r} guide (``fit_svi``)."
    return fit


register("svi")(_svi("normal"))
register("svi-lowrank")(_svi("lowrank"))


@register("laplace")
def _laplace(setup: Setup, x, y, settings: Settings) -> Fitted:
    """Laplace approximation at the MAP (``fit_svi(guide="laplace")``), SVI's budget and noise.

    ``settings.extra["laplace_noise"]`` (``"learned"`` or ``"validation"``) overrides the
    noise mode, which is otherwise ``settings.svi_noise``.
    """
    mode = settings.extra.get("laplace_noise", settings.svi_noise)
    sigma, _ = _noise(setup, x, y, settings, mode)
    full_batch = x.shape[0] <= settings.svi_full_batch_max
    posterior = fit_svi(
        setup.network(settings, sigma), x, y,
        standardize=False,  # already standardized with the split's statistics
        guide="laplace",
        num_steps=settings.steps(settings.svi_steps),
        lr=settings.svi_lr,
        batch_size=None if full_batch else settings.svi_batch_size,
        seed=setup.seed,
        progress=setup.progress,
    )  # fmt: skip
    laplace = posterior.diagnostics["laplace"]
    info = {
        **_sigma(sigma, posterior),
        "hessian_floored": laplace["num_floored"],
        "log_evidence": laplace["log_evidence"],
    }
    return Fitted(posterior, info, num_draws=1000)


@register("nuts")
def _nuts(setup: Setup, x, y, settings: Settings) -> Fitted:
    """NUTS (``fit_nuts``), ``settings.nuts_chains`` chains.

    Learned noise (the default): every chain starts from its own MAP fit, begun at
    its own prior draw, so the chains start in different modes. ``"validation"``
    noise: ``sigma`` fixed at a MAP fit's validation RMSE, all chains start from that
    MAP fit. ``info["rhat_pred"]`` is the rank-normalised R-hat of the predictive mean
    at training inputs (``fit_nuts``'s function-space diagnostics).
    """
    if x.shape[0] > settings.nuts_max_points:
        raise Skipped(
            f"NUTS only on training sets up to {settings.nuts_max_points} points; "
            f"this one has {x.shape[0]}"
        )
    sigma, map_fit = _noise(setup, x, y, settings, settings.nuts_noise)
    init = "map"
    if map_fit is not None:
        init = {k: v[0] for k, v in map_fit.draws.items() if k.startswith("layers.")}
    # classification keeps fit_nuts's default tree depth (its published rows ran so)
    depth = {"max_tree_depth": settings.nuts_max_tree_depth} if setup.task == "regression" else {}
    posterior = fit_nuts(
        setup.network(settings, sigma), x, y,
        standardize=False,  # already standardized with the split's statistics
        num_samples=settings.steps(settings.nuts_samples, 4),
        warmup_steps=settings.steps(settings.nuts_warmup),
        num_chains=settings.nuts_chains,
        target_accept_prob=settings.nuts_target_accept,
        init=init,
        seed=setup.seed,
        progress=setup.progress,
        **depth,
    )  # fmt: skip
    info = {**_sigma(sigma, posterior)}
    if sigma is None and "sigma" in posterior.draws:
        chains = posterior.chains()["sigma"].mean(dim=1)
        info["sigma_per_chain"] = "/".join(f"{float(s):.3g}" for s in chains)
    info |= {
        "divergences": posterior.diagnostics.get("divergences"),
        "mean_tree_depth": float(
            np.mean([c.get("mean_tree_depth") or np.nan for c in posterior.diagnostics["chains"]])
        ),
        "rhat_pred": posterior.diagnostics["function_space"].get("r_hat_max"),
    }
    return Fitted(posterior, info)


@register("map")
def _map_method(setup: Setup, x, y, settings: Settings) -> Fitted:
    """MAP weights (``fit_map``), epochs chosen on validation data."""
    fit = _map(setup, x, y, settings)
    return Fitted(fit, {"num_epochs": fit.diagnostics["num_epochs"]})


@register("mc-dropout")
def _mc_dropout(setup: Setup, x, y, settings: Settings) -> Fitted:
    """MC dropout (``fit_mc_dropout``), dropout rate and tau chosen on validation data."""
    batch = batch_for(x.shape[0], 128)
    epochs = epochs_for(
        x.shape[0], batch, settings.steps(settings.dropout_max_steps), settings.dropout_epochs
    )
    fit = fit_mc_dropout(
        setup.network(settings), x, y,
        dropout=settings.dropout_grid,
        tau=settings.tau_grid,  # unused for classification
        num_epochs=epochs,
        batch_size=batch,
        num_passes=settings.dropout_passes,
        validation_fraction=settings.validation_fraction,
        standardize=False,
        seed=setup.seed,
        progress=setup.progress,
    )  # fmt: skip
    return Fitted(fit, {k: fit.diagnostics[k] for k in ("dropout", "tau", "num_epochs")})


@register("ensemble")
def _ensemble(setup: Setup, x, y, settings: Settings) -> Fitted:
    """Deep ensemble (``fit_ensemble``), epochs chosen on validation data."""
    batch = batch_for(x.shape[0], 100)
    epochs = epochs_for(
        x.shape[0], batch, settings.steps(settings.ensemble_max_steps), settings.ensemble_max_epochs
    )
    fit = fit_ensemble(
        setup.network(settings), x, y,
        num_members=settings.ensemble_members,
        num_epochs=epochs,
        batch_size=batch,
        validation_fraction=settings.validation_fraction,
        standardize=False,
        seed=setup.seed,
        progress=setup.progress,
    )  # fmt: skip
    return Fitted(fit, {"num_epochs": fit.diagnostics["num_epochs"]})


@register("swag")
def _swag(setup: Setup, x, y, settings: Settings) -> Fitted:
    """SWAG (``fit_swag``) from a MAP fit whose length is chosen as for ``map``."""
    batch = batch_for(x.shape[0], 128)
    epochs = epochs_for(
        x.shape[0], batch, settings.steps(settings.map_max_steps), settings.map_max_epochs
    )
    swag_epochs = epochs_for(
        x.shape[0], batch, settings.steps(settings.swag_max_steps), settings.swag_epochs
    )
    fit = fit_swag(
        setup.network(settings), x, y,
        num_epochs=epochs,
        swag_epochs=max(2, swag_epochs),
        num_draws=settings.swag_draws,
        batch_size=batch,
        validation_fraction=settings.validation_fraction,
        standardize=False,
        seed=setup.seed,
        progress=setup.progress,
    )  # fmt: skip
    info = {k: fit.diagnostics[k] for k in ("map_epochs", "swag_epochs")}
    return Fitted(fit, info)


#: The registered methods per task, in the order of the tables.
REGRESSION_METHODS = methods_for("regression")
CLASSIFICATION_METHODS = methods_for("classification")
