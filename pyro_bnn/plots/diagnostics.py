"""Fit diagnostics: the SVI ELBO curve, NUTS trace and rank plots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

from ..inference.diagnostics import mcmc_summary
from .common import BAYES_COLOR, CLASS_COLORS, _check_axes, _new_figure

__all__ = ["plot_diagnostics"]


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(window, values.shape[0]))
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    averaged = (cumulative[window:] - cumulative[:-window]) / window
    head = cumulative[1:window] / np.arange(1, window)
    return np.concatenate([head, averaged])


def _plot_elbo(posterior: Any, ax: Axes) -> None:
    elbo = np.asarray(posterior.diagnostics.get("elbo") or [], dtype=float)
    if elbo.size == 0:
        raise ValueError("posterior.diagnostics has no 'elbo' history to plot")
    steps = np.arange(1, elbo.size + 1)
    smooth = _moving_average(elbo, max(1, elbo.size // 50))
    ax.plot(steps, elbo, color=BAYES_COLOR, alpha=0.3, linewidth=0.7, label="ELBO per step")
    ax.plot(steps, smooth, color=BAYES_COLOR, linewidth=2, label="moving average")
    # Clip the y-axis to the settled part so the early transient does not flatten the curve.
    settled = elbo[elbo.size // 10 :] if elbo.size >= 20 else elbo
    low, high = np.percentile(settled, [1, 100])
    pad = 0.1 * (high - low) if high > low else 1.0
    ax.set_ylim(low - pad, high + pad)
    clipped = (elbo < low - pad).any()
    ax.set_xlabel("step")
    guide = posterior.guide_type or "svi"
    # a Laplace fit records the log joint of its MAP search (the ELBO of a point mass)
    quantity = "log joint" if guide == "laplace" else "ELBO"
    ax.set_ylabel(f"{quantity} (nats)")
    final = float(smooth[-1])
    note = " (y-axis clipped: early steps lower)" if clipped else ""
    what = "Laplace (MAP search)" if guide == "laplace" else f"SVI ({guide})"
    ax.set_title(f"{what} {quantity}, final ≈ {final:.4g}{note}", fontsize="medium")
    ax.legend(loc="lower right", fontsize="small")


def _diagnostic_sites(chains: dict[str, torch.Tensor], sites: Sequence[str] | None):
    """(label, (C, S) draws) of a few scalars: sigma and a couple of weights by default."""
    if sites is None:
        weight_names = sorted(k for k in chains if k.endswith(".weight"))
        chosen = [k for k in ("sigma",) if k in chains] + weight_names[:1] + weight_names[-1:]
        chosen = list(dict.fromkeys(chosen)) or list(chains)[:3]
    else:
        chosen = list(sites)
        for name in chosen:
            if name not in chains:
                raise ValueError(f"unknown site {name!r}; sites: {', '.join(chains)}")
    picked = []
    for name in chosen:
        value = chains[name]
        flat = value.reshape(value.shape[:2] + (-1,))
        label = (
            name if flat.shape[-1] == 1 and value.dim() == 2 else f"{name}[{_first_index(value)}]"
        )
        picked.append((label, flat[..., 0].double()))
    return picked


def _first_index(value: torch.Tensor) -> str:
    return ", ".join("0" for _ in value.shape[2:])


def _stat(value: float | None, spec: str) -> str:
    """A diagnostic for a title: formatted, or "n/a" when it is unknown (too few draws)."""
    return "n/a" if value is None else format(value, spec)


def _rank_histograms(values: np.ndarray, num_bins: int) -> np.ndarray:
    """Rank plot counts: ranks over all chains, histogram per chain: (C, num_bins)."""
    ranks = values.ravel().argsort().argsort().reshape(values.shape)
    edges = np.linspace(0, ranks.size, num_bins + 1)
    return np.stack([np.histogram(r, bins=edges)[0] for r in ranks])


def plot_diagnostics(
    posterior: Any, axes: Any = None, sites: Sequence[str] | None = None
) -> Figure:
    """Fit diagnostics: the ELBO curve (SVI) or trace and rank plots (NUTS).

    Parameters
    ----------
    posterior : Posterior
        From :func:`~pyro_bnn.fit_svi` or :func:`~pyro_bnn.fit_nuts`.
    axes : Axes or array of Axes, optional
        SVI: one Axes. NUTS: ``(len(sites), 2)`` Axes (trace, rank per site).
    sites : sequence of str, optional
        NUTS: sites to show (first element of each); default ``sigma`` (if learned),
        the first and the last weight matrix.

    Returns
    -------
    Figure

    SVI: the ELBO per step with a moving average; the y-axis is clipped to the
    settled part so early steps do not flatten the curve. NUTS: per site, a
    trace per chain and a rank plot (histograms of the ranks of each chain's
    draws among all draws: flat and alike when the chains mix), titled with
    the split R-hat and effective sample size.
    """
    method = getattr(posterior, "method", None)
    if method == "svi":
        if axes is None:
            figure, grid_axes = _new_figure(figsize=(6.5, 4))
            ax = grid_axes[0, 0]
        else:
            ax = _check_axes(axes, 1, "plot_diagnostics (SVI)")[0]
            figure = ax.figure
        _plot_elbo(posterior, ax)
        return figure
    if method != "nuts":
        raise ValueError(f"posterior.method must be 'svi' or 'nuts', got {method!r}")
    picked = _diagnostic_sites(posterior.chains(), sites)
    if axes is None:
        figure, grid_axes = _new_figure(
            len(picked), 2, figsize=(10, 2.4 * len(picked) + 0.6), width_ratios=(2, 1)
        )
    else:
        grid_axes = np.asarray(_check_axes(axes, 2 * len(picked), "plot_diagnostics (NUTS)"))
        grid_axes = grid_axes.reshape(len(picked), 2)
        figure = grid_axes[0, 0].figure
    for (label, values), (trace_ax, rank_ax) in zip(picked, grid_axes, strict=True):
        stats = mcmc_summary({label: values})[label]
        data = values.numpy()
        num_chains, num_draws = data.shape
        for c in range(num_chains):
            color = CLASS_COLORS[c % len(CLASS_COLORS)]
            trace_ax.plot(
                np.arange(num_draws),
                data[c],
                linewidth=0.6,
                alpha=0.8,
                color=color,
                label=f"chain {c}",
            )
        trace_ax.set_ylabel(label)
        trace_ax.set_title(
            f"{label}: R-hat {_stat(stats['r_hat_max'], '.3f')}, "
            f"ESS {_stat(stats['ess_min'], '.0f')}",
            fontsize="medium",
        )
        num_bins = max(4, min(20, num_draws // 10))
        counts = _rank_histograms(data, num_bins)
        edges = np.linspace(0, data.size, num_bins + 1)
        for c in range(num_chains):
            rank_ax.stairs(
                counts[c],
                edges,
                baseline=None,
                linewidth=1.4,
                color=CLASS_COLORS[c % len(CLASS_COLORS)],
            )
        rank_ax.axhline(
            num_draws / num_bins,
            color="0.4",
            linestyle="--",
            linewidth=1,
            label="uniform (chains agree)",
        )
        rank_ax.set_xlim(0, data.size)
        rank_ax.set_ylim(0, max(counts.max() * 1.15, 1))
        rank_ax.set_ylabel("draws per bin")
        rank_ax.set_title("rank plot: flat when mixed", fontsize="medium")
    handles, labels = grid_axes[0, 0].get_legend_handles_labels()
    uniform = grid_axes[0, 1].get_legend_handles_labels()
    handles, labels = handles + uniform[0], labels + uniform[1]
    if isinstance(figure.get_layout_engine(), ConstrainedLayoutEngine):
        figure.legend(
            handles, labels, loc="outside lower center", ncols=min(len(labels), 6), fontsize="small"
        )
    else:
        grid_axes[0, 0].legend(handles, labels, loc="upper right", fontsize="x-small")
    grid_axes[-1, 0].set_xlabel("draw")
    grid_axes[-1, 1].set_xlabel("rank among all chains")
    divergences = posterior.diagnostics.get("divergences")
    divergence_text = f", {divergences} divergent transitions" if divergences is not None else ""
    figure.suptitle(f"NUTS diagnostics: first element of {len(picked)} sites{divergence_text}")
    return figure
