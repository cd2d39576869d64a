"""Checking a fit: ArviZ ``InferenceData``, a summary table, and LOO model comparison.

- :func:`to_inference_data` (also :meth:`Posterior.to_inference_data`): the posterior
  draws by chain, NUTS's per-draw sampler statistics, the pointwise log-likelihood,
  the observed and constant data and, if asked, posterior-predictive replicates.
- :func:`summary` (also :meth:`Posterior.summary`): ArviZ's ``az.summary`` table
  (mean, sd, 94 % HDI, MCSE, bulk/tail ESS, rank-normalised R-hat), computed with
  :mod:`pyro_bnn.inference.diagnostics`, so it needs pandas but not ArviZ.
- :func:`compare`: ArviZ's PSIS-LOO comparison of several posteriors on the same data,
  best first, with the Pareto-k diagnostics explained in words.

ArviZ is an optional extra: ``pip install "pyro-bnn[arviz]"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import torch

from .isolation import local_rng
from .posterior import Posterior

__all__ = ["to_inference_data", "summary", "compare", "ParetoKWarning", "require_arviz"]

PARETO_K_LIMIT = 0.7  # Vehtari, Simpson, Gelman, Yao and Gabry (2024), "Pareto smoothed IS"


class ParetoKWarning(UserWarning):
    """PSIS-LOO is unreliable for some observations (Pareto k above the limit)."""


def require_arviz(what: str):
    """Import ArviZ, or raise ``ImportError`` saying how to install it."""
    try:
        import arviz
    except ImportError:
        raise ImportError(
            f'{what} needs ArviZ, an optional extra: pip install "pyro-bnn[arviz]" '
            '(or pip install "arviz>=0.17")'
        ) from None
    return arviz


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _grouped_draws(posterior: Posterior) -> dict[str, torch.Tensor]:
    """Draws as ``(C, S, *shape)``: MCMC chains kept, SVI and baselines one chain."""
    if posterior._samples is not None:
        return posterior.chains()
    return {name: value.unsqueeze(0) for name, value in posterior.draws.items()}


def _data(posterior: Posterior, x, y, what: str) -> tuple:
    """``(x, y)`` given, or the data the fit saw; a clear error when neither is known."""
    if (x is None) != (y is None):
        raise ValueError(f"{what}: pass both x and y (or neither, to use the training data)")
    if x is not None:
        return x, y
    if posterior.training_data is None:
        raise ValueError(
            f"{what}: this posterior does not know its data (it was loaded from a file, or "
            "fitted by a function that does not keep it); pass it: "
            f"{what}(x, y) with the training data in your units"
        )
    return posterior.training_data


def _log_likelihood_and_replicates(posterior, x, y, replicate: bool, seed: int):
    """Pointwise ``log p(y_n | x_n, draw)`` ``(S, N)`` and, if asked, one replicate per draw."""
    from .predictive import predict

    prediction = predict(posterior, torch.as_tensor(_numpy(x)), num_draws=None)
    y_tensor = torch.as_tensor(_numpy(y))
    log_likelihood = prediction.log_prob_draws(y_tensor).detach().double()
    replicates = None
    if replicate:
        with local_rng(seed), torch.no_grad():
            if prediction.task == "classification":
                replicates = prediction._per_draw.distribution().sample()
            else:
                draws = prediction._distribution().sample()
                replicates = draws * prediction._y_scale + prediction._y_loc
    return log_likelihood, replicates


def to_inference_data(
    posterior: Posterior, x=None, y=None, *, posterior_predictive: bool = False, seed: int = 0
):
    """The posterior as an :class:`arviz.InferenceData` (needs the ``arviz`` extra).

    Groups
    ------
    ``posterior``
        Every latent site, ``(chain, draw, *shape)``; an SVI fit gives one chain of
        ``Posterior.default_num_draws`` guide draws (``posterior.draws``).
    ``sample_stats``
        NUTS only: ``diverging``, ``tree_depth``, ``n_steps``, ``energy``,
        ``step_size``, ``lp`` (log joint in the sampler's unconstrained space) and
        ``acceptance_rate`` per draw.
    ``log_likelihood``
        ``log p(y_n | x_n, draw)`` of the observed site, ``(chain, draw, N)``, summed
        over a multi-output row, in **your units**: for a model fitted on
        standardized targets the log-Jacobian ``-sum(log y_std)`` is added, so values
        are comparable across models with different scalers (and with
        :func:`pyro_bnn.metrics` test log-likelihoods).
    ``observed_data`` / ``constant_data``
        ``y`` (under the observed site's name) and ``x``, in your units.
    ``posterior_predictive``
        With ``posterior_predictive=True``: one replicate of ``y`` per draw (your units).

    Parameters
    ----------
    posterior : Posterior
    x : array (N, D), optional; y : array (N,) or (N, K), optional
        Data for the likelihood groups, in your units. Default: the data the fit saw
        (kept in memory by :func:`~pyro_bnn.fit_nuts`; not saved with the posterior).
    posterior_predictive : bool
        Add the ``posterior_predictive`` group.
    seed : int
        Seeds the replicates (global random streams are not touched).

    Example
    -------
    >>> idata = post.to_inference_data()  # doctest: +SKIP
    >>> az.loo(idata)  # doctest: +SKIP
    """
    az = require_arviz("to_inference_data")
    if not isinstance(posterior, Posterior):
        raise TypeError(f"posterior must be a pyro_bnn Posterior, got {type(posterior).__name__}")
    x, y = _data(posterior, x, y, "to_inference_data")
    grouped = _grouped_draws(posterior)
    num_chains = next(iter(grouped.values())).shape[0]
    log_likelihood, replicates = _log_likelihood_and_replicates(
        posterior, x, y, posterior_predictive, seed
    )
    site = posterior.obs_site

    def by_chain(value: torch.Tensor) -> np.ndarray:
        return _numpy(value.reshape((num_chains, -1) + tuple(value.shape[1:])))

    groups = {
        "posterior": {name: _numpy(value) for name, value in grouped.items()},
        "log_likelihood": {site: by_chain(log_likelihood)},
        "observed_data": {site: _numpy(y)},
        "constant_data": {"x": _numpy(x)},
    }
    if posterior.sample_stats is not None:
        groups["sample_stats"] = {k: _numpy(v) for k, v in posterior.sample_stats.items()}
    if replicates is not None:
        groups["posterior_predictive"] = {site: by_chain(replicates)}
    attrs = {
        "inference_library": "pyro",
        "creation_library": "pyro_bnn",
        "pyro_bnn_method": posterior.method,
        "log_likelihood_units": "the data's own units (standardization undone)",
    }
    return az.from_dict(**groups, attrs=attrs)


def _element_names(name: str, shape: tuple[int, ...]) -> list[str]:
    """ArviZ's row labels: ``sigma``, ``b[0]``, ``layers.0.weight[0, 1]``."""
    if not shape:
        return [name]
    return [f"{name}[{', '.join(map(str, index))}]" for index in np.ndindex(*shape)]


def summary(posterior: Posterior, *, hdi_prob: float = 0.94):
    """A table like ``az.summary``: one row per parameter element, as ArviZ names them.

    Columns ``mean``, ``sd``, ``hdi_3%``, ``hdi_97%`` (for ``hdi_prob=0.94``),
    ``mcse_mean``, ``ess_bulk``, ``ess_tail``, ``r_hat``; the same numbers as
    ``az.summary(idata, round_to="none")`` on the same draws (computed in numpy by
    :mod:`pyro_bnn.inference.diagnostics`; needs pandas, not ArviZ). As in ArviZ,
    ``r_hat`` is NaN for a single chain (and for SVI draws, which are independent).

    Example
    -------
    >>> post.summary().loc["sigma", ["mean", "r_hat"]]  # doctest: +SKIP
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            'summary needs pandas (it comes with the ArviZ extra): pip install "pyro-bnn[arviz]"'
        ) from None

    from .inference import diagnostics as diag

    if not 0 < hdi_prob <= 1:
        raise ValueError(f"hdi_prob must be in (0, 1], got {hdi_prob!r}")
    alpha = 1 - hdi_prob
    low_name, high_name = f"hdi_{100 * alpha / 2:g}%", f"hdi_{100 * (1 - alpha / 2):g}%"
    rows, names = [], []
    for name, value in _grouped_draws(posterior).items():
        draws = value.detach().cpu().double().numpy()
        flat = draws.reshape(draws.shape[:2] + (-1,))
        merged = flat.reshape(-1, flat.shape[2])
        bounds = diag.hdi(flat, hdi_prob)
        columns = {
            "mean": merged.mean(0),
            "sd": merged.std(0, ddof=1) if merged.shape[0] > 1 else np.full(flat.shape[2], np.nan),
            low_name: bounds[0],
            high_name: bounds[1],
            "mcse_mean": np.atleast_1d(diag.mcse_mean(flat)),
            "ess_bulk": np.atleast_1d(diag.ess_bulk(flat)),
            "ess_tail": np.atleast_1d(diag.ess_tail(flat)),
            "r_hat": np.atleast_1d(diag.rank_normalized_rhat(flat)),
        }
        names += _element_names(name, tuple(draws.shape[2:]))
        rows.append(pd.DataFrame(columns))
    table = pd.concat(rows, ignore_index=True)
    table.index = names
    return table


def _pareto_note(pareto: dict[str, dict]) -> str:
    """Pareto-k counts per model, in words."""
    bad = {name: counts for name, counts in pareto.items() if counts["bad"]}
    if not bad:
        return (
            f"PSIS-LOO is reliable for every model: all Pareto k <= {PARETO_K_LIMIT} "
            "(or the sample-size dependent limit ArviZ uses)."
        )
    parts = [
        f"{name!r}: {c['bad']} of {c['n']} points have Pareto k > {c['limit']:.2f}"
        + (f" ({c['very_bad']} above 1)" if c["very_bad"] else "")
        for name, c in bad.items()
    ]
    return (
        "; ".join(parts) + ". For these points leaving them out changes the posterior so "
        "much that importance sampling from the full-data posterior cannot estimate it: "
        "their LOO terms (and the model's elpd_loo) are unreliable, usually because they "
        "are influential (outliers, or a flexible network that fits them almost "
        "exactly). What to do: treat the comparison with care; refit without those "
        "points (exact LOO or K-fold cross-validation), draw more posterior samples, or "
        "use a more robust likelihood (e.g. StudentT). "
        "pareto_k in table.attrs lists the points."
    )


def compare(
    posteriors: Mapping[str, Posterior], x=None, y=None, *, scale: str = "log", warn: bool = True
):
    """Compare posteriors by PSIS-LOO (ArviZ's ``az.compare``), best model first.

    Parameters
    ----------
    posteriors : dict name → Posterior
        Two or more fits of models of the same data.
    x : array (N, D), optional; y : array (N,) or (N, K), optional
        The data to score, in your units. Default: the data each fit saw, which must
        then be the same for all (kept in memory by :func:`~pyro_bnn.fit_nuts`).
    scale : ``"log"``, ``"negative_log"`` or ``"deviance"``
        ArviZ's scale of ``elpd_loo`` (``"log"``: higher is better).
    warn : bool
        Warn (:class:`ParetoKWarning`) when some Pareto k exceed the limit.

    Returns
    -------
    pandas.DataFrame
        ArviZ's comparison table (``rank``, ``elpd_loo``, ``p_loo``, ``elpd_diff``,
        ``weight``, ``se``, ``dse``, ``warning``, ``scale``), one row per model, best
        first. ``table.attrs["pareto_k"]`` has per model the number of points above
        the Pareto-k limit (``bad``), above 1 (``very_bad``), the limit and the
        indices of the bad points; ``table.attrs["note"]`` explains them in words.
        Log-likelihoods are in your units (see :func:`to_inference_data`).

    Notes
    -----
    ``elpd_loo`` sums, over the data points, the log predictive density of each point
    under the posterior fitted without it, estimated by Pareto-smoothed importance
    sampling from the full-data draws. For an SVI fit the draws come from the
    variational approximation, so LOO inherits its errors (a collapsed mean-field fit
    scores poorly); compare NUTS fits where you can.

    Example
    -------
    >>> table = pb.compare({"10 units": small, "50 units": wide})  # doctest: +SKIP
    >>> print(table.attrs["note"])  # doctest: +SKIP
    """
    az = require_arviz("compare")
    if not isinstance(posteriors, Mapping) or len(posteriors) < 2:
        raise ValueError(
            "compare needs a dict of at least two posteriors, name -> Posterior, got "
            f"{type(posteriors).__name__}"
        )
    if x is None and y is None:
        _check_same_training_data(posteriors)
    results, pareto = {}, {}
    for name, posterior in posteriors.items():
        idata = to_inference_data(posterior, x, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ArviZ's terse Pareto-k warning: ours explains
            loo = az.loo(idata, pointwise=True, scale=scale)
        k = np.asarray(loo.pareto_k)
        limit = float(getattr(loo, "good_k", PARETO_K_LIMIT) or PARETO_K_LIMIT)
        limit = min(limit, PARETO_K_LIMIT)
        pareto[name] = {
            "n": int(k.size),
            "bad": int((k > limit).sum()),
            "very_bad": int((k > 1).sum()),
            "limit": limit,
            "points": [int(i) for i in np.flatnonzero(k > limit)],
        }
        results[name] = loo
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare(results, ic="loo", scale=scale)
    note = _pareto_note(pareto)
    table.attrs["pareto_k"] = pareto
    table.attrs["note"] = note
    if warn and any(c["bad"] for c in pareto.values()):
        warnings.warn(note, ParetoKWarning, stacklevel=2)
    return table


def _check_same_training_data(posteriors: Mapping[str, Posterior]) -> None:
    """Default data for compare: every fit must have seen the same (x, y)."""
    first_name, first = None, None
    for name, posterior in posteriors.items():
        data = _data(posterior, None, None, "compare")
        if first is None:
            first_name, first = name, data
            continue
        same = all(
            np.shape(a) == np.shape(b) and np.array_equal(_numpy(a), _numpy(b))
            for a, b in zip(first, data, strict=True)
        )
        if not same:
            raise ValueError(
                f"compare: {first_name!r} and {name!r} were fitted on different data, so "
                "their LOO scores are not comparable; pass the data to score: "
                "compare(posteriors, x, y)"
            )
