"""Predictive checks: the prior predictive before a fit, the posterior predictive after.

- :func:`plot_prior_predictive`: what the model says *before* seeing ``y``: function
  draws from the prior over one input, and replicated data sets drawn from the prior
  predictive (with the observed ``y`` for comparison when given). A prior whose
  replicated data are far wider or narrower than any plausible ``y`` shows up here.
- :func:`plot_ppc`: observed against replicated data ``y_rep ~ p(y_rep | y)``, one
  replicated set per posterior draw. Regression: the observed density against the
  replicated ones, and a test statistic ``T(y)`` against its replicated distribution
  with the posterior predictive p-value ``P(T(y_rep) >= T(y))``. Classification: the
  observed class frequencies against the replicated ones with central intervals.

Both return a :class:`~matplotlib.figure.Figure` (see :mod:`pyro_bnn.plots`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..validation import check_positive_int
from .common import (
    BAYES_COLOR,
    DATA_COLOR,
    _check_axes,
    _check_level,
    _new_figure,
    _numpy,
    _percent,
)

__all__ = ["plot_ppc", "plot_prior_predictive", "replicated_data", "TEST_STATISTICS"]

#: Test statistics of :func:`plot_ppc` by name: ``values (N,) -> float``.
TEST_STATISTICS: dict[str, Callable[[np.ndarray], float]] = {
    "mean": lambda v: float(np.mean(v)),
    "std": lambda v: float(np.std(v)),
    "min": lambda v: float(np.min(v)),
    "max": lambda v: float(np.max(v)),
    "median": lambda v: float(np.median(v)),
}


def replicated_data(prediction: Any, num_replicates: int, seed: int = 0) -> np.ndarray:
    """Replicated data sets ``(num_replicates, N)``: one per posterior draw of ``prediction``.

    Regression: ``prediction.sample`` (one noise draw per posterior draw, in the
    data's units). Classification: a label per input drawn from each draw's class
    probabilities. ``prediction`` must hold at least ``num_replicates`` draws.
    """
    num_replicates = check_positive_int(num_replicates, "num_replicates")
    if not getattr(prediction, "has_draws", False):
        raise ValueError(
            "replicated data need the per-draw predictions: predict(..., keep_draws=True)"
        )
    if prediction.num_draws < num_replicates:
        raise ValueError(
            f"the prediction has {prediction.num_draws} draws, fewer than "
            f"num_replicates={num_replicates}"
        )
    if prediction.task == "regression":
        samples = _numpy(prediction.sample(num_replicates, seed=seed), "replicated data")
        if samples.ndim != 2:
            raise ValueError(
                "predictive checks show one output; the prediction has shape "
                f"{samples.shape[1:]} per replicate. Check one output at a time"
            )
        return samples
    probs = _numpy(prediction.probs_draws, "prediction.probs_draws")[:num_replicates]
    rng = np.random.default_rng(seed)
    cumulative = probs.cumsum(-1)
    uniform = rng.random(probs.shape[:-1] + (1,))
    labels = (uniform > cumulative).sum(-1)
    return np.minimum(labels, probs.shape[-1] - 1)


def _statistic(statistic: str | Callable) -> tuple[str, Callable[[np.ndarray], float]]:
    if callable(statistic):
        return getattr(statistic, "__name__", "T"), statistic
    if statistic not in TEST_STATISTICS:
        raise ValueError(
            f"statistic must be one of {', '.join(map(repr, TEST_STATISTICS))} or a function "
            f"values (N,) -> float, got {statistic!r}"
        )
    return statistic, TEST_STATISTICS[statistic]


def _observed(y: Any, num_rows: int, name: str = "y") -> np.ndarray:
    values = _numpy(y, name)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or values.shape[0] != num_rows:
        raise ValueError(
            f"{name} must have shape ({num_rows},) (one value per row of x), found shape "
            f"{values.shape}"
        )
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or inf at row {int(np.argmin(np.isfinite(values)))}")
    return values


def _density_panel(ax: Axes, replicated: np.ndarray, observed: np.ndarray | None, what: str):
    """Step histograms of each replicated set (thin) and of the observed data (thick)."""
    pooled = (
        replicated.ravel() if observed is None else np.concatenate([replicated.ravel(), observed])
    )
    low, high = np.percentile(pooled, [0.5, 99.5])
    if not high > low:
        low, high = low - 0.5, high + 0.5
    bins = np.linspace(low, high, 31)
    for i, values in enumerate(replicated):
        ax.hist(
            np.clip(values, low, high), bins=bins, density=True, histtype="step",
            color=BAYES_COLOR, alpha=0.25, linewidth=0.8,
            label=f"replicated data ({len(replicated)} sets)" if i == 0 else None,
        )  # fmt: skip
    if observed is not None:
        ax.hist(
            np.clip(observed, low, high), bins=bins, density=True, histtype="step",
            color=DATA_COLOR, linewidth=2.2, label="observed y",
        )  # fmt: skip
    ax.set_xlabel(what)
    ax.set_ylabel("density")
    ax.legend(fontsize=8)


def _class_panel(ax: Axes, replicated: np.ndarray, observed, num_classes: int, level: float):
    """Observed class frequencies (bars) and the replicated ones (median, central interval)."""
    classes = np.arange(num_classes)
    frequencies = np.stack([(replicated == k).mean(1) for k in classes], axis=1)  # (R, K)
    tail = 100 * (1 - level) / 2
    low, median, high = np.percentile(frequencies, [tail, 50, 100 - tail], axis=0)
    if observed is not None:
        observed_freq = np.array([(observed == k).mean() for k in classes])
        ax.bar(classes, observed_freq, color="0.8", edgecolor=DATA_COLOR, label="observed")
    ax.errorbar(
        classes, median, yerr=np.stack([median - low, high - median]), fmt="o",
        color=BAYES_COLOR, capsize=4,
        label=f"replicated: median, {_percent(level)} interval ({len(replicated)} sets)",
    )  # fmt: skip
    ax.set_xticks(classes)
    ax.set_xlabel("class")
    ax.set_ylabel("fraction of inputs")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    return frequencies


def plot_ppc(
    posterior: Any,
    x: Any,
    y: Any,
    *,
    num_replicates: int = 50,
    statistic: str | Callable[[np.ndarray], float] = "std",
    level: float = 0.9,
    seed: int = 0,
    axes: Any = None,
    title: str | None = None,
) -> Figure:
    """Posterior predictive check: observed ``y`` against data replicated from the posterior.

    Parameters
    ----------
    posterior : Posterior
        A fitted posterior (any method, any model).
    x : array (N, D); y : array (N,)
        The data to check, in your units (usually the training data).
    num_replicates : int
        Replicated data sets, one per posterior draw.
    statistic : str or callable
        Regression: the test statistic ``T`` of the right panel, a name of
        :data:`TEST_STATISTICS` (``"std"``, ``"mean"``, ``"min"``, ``"max"``, ``"median"``)
        or a function ``values (N,) -> float``.
    level : float
        Classification: the central interval of the replicated class frequencies.
    seed : int
        Seeds the posterior draws and the replicated data.
    axes : matplotlib Axes, optional
        Two axes for regression (densities, statistic), one for classification.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
        Regression: left, a step histogram per replicated set and the observed one;
        right, the histogram of ``T(y_rep)`` with ``T(y)`` as a vertical line and the
        p-value ``P(T(y_rep) >= T(y))`` in the title (near 0 or 1: the model does not
        reproduce that feature of the data). Classification: observed class
        frequencies as bars, the replicated ones as median and interval.

    Example
    -------
    >>> fig = plot_ppc(post, x_train, y_train, statistic="max")  # doctest: +SKIP
    """
    from ..posterior import Posterior
    from ..predictive import predict

    if not isinstance(posterior, Posterior):
        raise TypeError(f"posterior must be a pyro_bnn Posterior, got {type(posterior).__name__}")
    num_replicates = check_positive_int(num_replicates, "num_replicates")
    if num_replicates < 2:
        raise ValueError(f"num_replicates must be at least 2, got {num_replicates}")
    level = _check_level(level)
    name, function = _statistic(statistic)
    prediction = predict(posterior, x, num_draws=num_replicates, seed=seed)
    num_draws = min(num_replicates, prediction.num_draws)
    if num_draws < 2:
        raise ValueError(
            "a predictive check needs a posterior with several draws; this one has "
            f"{prediction.num_draws} (a point estimate replicates one data set)"
        )
    replicated = replicated_data(prediction, num_draws, seed=seed)
    observed = _observed(y, replicated.shape[1])
    if prediction.task == "classification":
        num_classes = prediction.probs_draws.shape[-1]
        if np.any((observed < 0) | (observed >= num_classes) | (observed != np.round(observed))):
            raise ValueError(f"y must hold class labels 0 .. {num_classes - 1}")
        if axes is None:
            figure, grid = _new_figure(1, 1, figsize=(5.5, 4))
            ax = grid[0, 0]
        else:
            (ax,) = _check_axes(axes, 1, "plot_ppc (classification)")
            figure = ax.figure
        _class_panel(ax, replicated, observed, num_classes, level)
        ax.set_title(title or "Posterior predictive check: class frequencies")
        return figure
    if axes is None:
        figure, grid = _new_figure(1, 2, figsize=(10, 4))
        density_ax, stat_ax = grid[0]
    else:
        density_ax, stat_ax = _check_axes(axes, 2, "plot_ppc (regression)")
        figure = density_ax.figure
    _density_panel(density_ax, replicated, observed, "y")
    density_ax.set_title("observed vs replicated data")
    replicated_stats = np.array([function(values) for values in replicated])
    observed_stat = float(function(observed))
    p_value = float(np.mean(replicated_stats >= observed_stat))
    stat_ax.hist(replicated_stats, bins=min(30, max(5, num_draws // 3)), color=BAYES_COLOR,
                 alpha=0.6, label=f"T(y_rep), {num_draws} sets")  # fmt: skip
    stat_ax.axvline(observed_stat, color=DATA_COLOR, linewidth=2.2, label="T(y) observed")
    stat_ax.set_xlabel(f"T = {name}")
    stat_ax.set_ylabel("replicated sets")
    stat_ax.set_title(f"test statistic {name}: p = P(T(y_rep) >= T(y)) = {p_value:.2f}")
    stat_ax.legend(fontsize=8)
    if title:
        figure.suptitle(title)
    return figure


def _prior_draws(model, x, num_draws: int, seed: int) -> dict[str, torch.Tensor]:
    """Prior draws of every latent site of ``model(x)``: site → ``(num_draws, *shape)``."""
    import pyro
    from pyro.infer import Predictive

    from ..isolation import local_rng, param_scope
    from ..posterior import latent_site_shapes, model_trace

    shapes = latent_site_shapes(model_trace(model, (x,)))
    if not shapes:
        raise ValueError("the model has no latent sample sites: there is no prior to draw from")
    with param_scope(), local_rng(seed), torch.no_grad(), pyro.poutine.block():
        sites = list(shapes)
        try:
            samples = Predictive(model, num_samples=num_draws, return_sites=sites, parallel=True)(x)
        except (RuntimeError, ValueError, NotImplementedError):
            samples = Predictive(model, num_samples=num_draws, return_sites=sites)(x)
    return {name: samples[name].reshape((num_draws, *shape)) for name, shape in shapes.items()}


def plot_prior_predictive(
    model: Callable,
    x: Any,
    y: Any = None,
    *,
    num_draws: int = 50,
    standardize: bool | str | None = None,
    obs_site: str = "obs",
    level: float = 0.9,
    seed: int = 0,
    axes: Any = None,
    title: str | None = None,
) -> Figure:
    """Prior predictive check: function draws and replicated data from the prior, before a fit.

    Parameters
    ----------
    model : BayesianMLP or Pyro model
        ``model(x, y=None)`` as it would be fitted (not changed).
    x : array (N, D)
        Inputs in your units.
    y : array (N,), optional
        Observed targets, drawn for comparison (and, for a ``BayesianMLP``, the units
        its standardized prior is mapped back to, as a fit would).
    num_draws : int
        Prior draws (function draws and replicated data sets).
    standardize : bool, ``"x"`` or None
        As in :func:`~pyro_bnn.fit_svi`: default a ``BayesianMLP`` (whose priors are
        defined on standardized data) standardizes ``x`` and, with ``y`` given and a
        continuous likelihood, ``y``; a user model keeps its units.
    obs_site : str
        The model's observed site.
    level : float
        Classification: central interval of the replicated class frequencies.
    seed : int
        Seeds the prior draws and the replicated data.
    axes : matplotlib Axes, optional
        Regression: two axes with one input feature (function draws over ``x``,
        replicated data), else one; classification: two (class frequencies, confidence).
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
        Regression: prior function draws over ``x`` (one feature; with the data when
        ``y`` is given) and a step histogram per replicated data set (with the observed
        ``y``). Classification: replicated class frequencies (with the observed ones)
        and the histogram of the prior's confidence ``max_k p_k`` per draw and input.

    Example
    -------
    >>> fig = plot_prior_predictive(pb.BayesianMLP(1, 1, hidden=(50,)), x, y)  # doctest: +SKIP
    """
    from ..inference.common import prepare, standardize_data
    from ..isolation import own_copies
    from ..nets import BayesianMLP
    from ..posterior import Posterior
    from ..predictive import predict

    num_draws = check_positive_int(num_draws, "num_draws")
    if num_draws < 2:
        raise ValueError(f"num_draws must be at least 2, got {num_draws}")
    level = _check_level(level)
    if not callable(model):
        raise TypeError(f"model must be a Pyro model (callable), got {type(model).__name__}")
    model = own_copies(model)[0]
    is_mlp = isinstance(model, BayesianMLP)
    if y is not None and is_mlp and getattr(model.likelihood, "task", None) == "classification":
        y = np.asarray(_numpy(y, "y")).astype(np.int64)
    model, x_fit, y_fit = prepare(model, x, y)
    if y is None and standardize in (None, True) and (is_mlp or standardize is True):
        standardize = "x"  # no y to take a scale from: y stays in the model's units
    scaler, x_fit, y_fit = standardize_data(model, x_fit, y_fit, standardize)
    draws = _prior_draws(model, x_fit, num_draws, seed)
    prior = Posterior(
        model, "prior", samples=draws, scaler=scaler, obs_site=obs_site,
        example_data=None if is_mlp else (x_fit[:2], None if y_fit is None else y_fit[:2]),
    )  # fmt: skip
    prediction = predict(prior, x, seed=seed)
    replicated = replicated_data(prediction, num_draws, seed=seed)
    observed = None if y is None else _observed(y, replicated.shape[1])
    x_values = _numpy(x, "x")
    one_feature = x_values.ndim == 1 or (x_values.ndim == 2 and x_values.shape[1] == 1)
    if prediction.task == "classification":
        return _prior_classification(prediction, replicated, observed, level, axes, title)
    units = "y (standardized units)" if (y is None and is_mlp) else "y"
    if not one_feature:
        if axes is None:
            figure, grid = _new_figure(1, 1, figsize=(5.5, 4))
            density_ax = grid[0, 0]
        else:
            (density_ax,) = _check_axes(axes, 1, "plot_prior_predictive (several features)")
            figure = density_ax.figure
    else:
        if axes is None:
            figure, grid = _new_figure(1, 2, figsize=(10, 4))
            function_ax, density_ax = grid[0]
        else:
            function_ax, density_ax = _check_axes(axes, 2, "plot_prior_predictive (one feature)")
            figure = function_ax.figure
        x_line = x_values.reshape(-1)
        order = np.argsort(x_line, kind="stable")
        functions = _numpy(prediction.mean_draws, "prior function draws")
        for i, values in enumerate(functions):
            function_ax.plot(
                x_line[order], values.reshape(-1)[order], color=BAYES_COLOR, alpha=0.35,
                linewidth=0.9, label=f"prior function draws ({num_draws})" if i == 0 else None,
            )  # fmt: skip
        if observed is not None:
            function_ax.scatter(x_line, observed, s=10, color=DATA_COLOR, label="observed data")
        function_ax.set_xlabel("x")
        function_ax.set_ylabel(units)
        function_ax.set_title("prior function draws")
        function_ax.legend(fontsize=8)
    _density_panel(density_ax, replicated, observed, units)
    density_ax.set_title("prior predictive data")
    if title:
        figure.suptitle(title)
    return figure


def _prior_classification(prediction, replicated, observed, level, axes, title) -> Figure:
    num_classes = prediction.probs_draws.shape[-1]
    if axes is None:
        figure, grid = _new_figure(1, 2, figsize=(10, 4))
        class_ax, confidence_ax = grid[0]
    else:
        class_ax, confidence_ax = _check_axes(axes, 2, "plot_prior_predictive (classification)")
        figure = class_ax.figure
    _class_panel(class_ax, replicated, observed, num_classes, level)
    class_ax.set_title("prior predictive class frequencies")
    confidence = _numpy(prediction.probs_draws, "prior probabilities").max(-1).ravel()
    confidence_ax.hist(confidence, bins=np.linspace(1 / num_classes, 1, 26), color=BAYES_COLOR,
                       alpha=0.7)  # fmt: skip
    confidence_ax.set_xlabel("prior confidence max_k p(class k | x, draw)")
    confidence_ax.set_ylabel("draws x inputs")
    confidence_ax.set_title("how sure the prior is (near 1: overconfident prior)")
    if title:
        figure.suptitle(title)
    return figure
