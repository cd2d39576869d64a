"""Fit diagnostics: convergence of MCMC chains and health of variational fits.

The MCMC diagnostics are those of Vehtari, Gelman, Simpson, Carpenter and Bürkner
(2021), "Rank-normalization, folding, and localization: an improved R-hat for
assessing convergence of MCMC", as ArviZ and Stan compute them: rank-normalised
split R-hat (the larger of the bulk and the folded "tail" R-hat), bulk ESS (of the
rank-normalised split chains), tail ESS (of the 5 % and 95 % quantile indicators),
the MCSE of the mean, and the E-BFMI of the sampler's energies (Betancourt 2016).
They are written in numpy, so the warnings :func:`~pyro_bnn.fit_nuts` prints need no
ArviZ; the tests check them against ArviZ's values.

Every function takes draws grouped by chain, ``(C, S, *shape)``, and returns one
value per element ``shape`` (a float for scalar sites).
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "mcmc_summary",
    "kl_per_weight",
    "rank_normalized_rhat",
    "ess_bulk",
    "ess_tail",
    "ess_mean",
    "mcse_mean",
    "e_bfmi",
    "hdi",
    "split_chains",
]

MIN_DRAWS = 4  # fewer draws per chain: R-hat and ESS are unknown (NaN), as in ArviZ


def _as_chains(draws) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(C, S, *shape)`` tensor / array -> float64 ``(C, S, P)`` and ``shape``."""
    if isinstance(draws, torch.Tensor):
        draws = draws.detach().cpu().double().numpy()
    array = np.asarray(draws, dtype=np.float64)
    if array.ndim < 2:
        raise ValueError(
            f"draws must be grouped by chain as (chains, draws, ...), got shape {array.shape}"
        )
    return array.reshape(array.shape[:2] + (-1,)), array.shape[2:]


def _reshape(values: np.ndarray, shape: tuple[int, ...]):
    """Per-element results ``(P,)`` -> ``shape`` (a float for a scalar)."""
    return float(values[0]) if shape == () else values.reshape(shape)


def split_chains(draws: np.ndarray) -> np.ndarray:
    """``(C, S, P)`` -> ``(2C, S // 2, P)``: first and last halves of each chain (the
    middle draw of an odd-length chain is dropped, as in ArviZ)."""
    half = draws.shape[1] // 2
    return np.concatenate([draws[:, :half], draws[:, draws.shape[1] - half :]], axis=0)


def _ndtri(p: np.ndarray) -> np.ndarray:
    """Standard normal quantile function (float64)."""
    return torch.special.ndtri(torch.from_numpy(np.ascontiguousarray(p))).numpy()


def _z_scale(draws: np.ndarray) -> np.ndarray:
    """Rank-normalise ``(C, S, P)`` per element: average ranks over all chains and draws,
    Blom's offset (3/8), then the normal quantile function."""
    chains, num_draws, num_elements = draws.shape
    flat = draws.reshape(chains * num_draws, num_elements)
    size = flat.shape[0]
    z = np.empty_like(flat)
    for j in range(num_elements):
        _, inverse, counts = np.unique(flat[:, j], return_inverse=True, return_counts=True)
        ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # ties share their mean rank
        z[:, j] = (ranks - 3.0 / 8.0) / (size - 2 * 3.0 / 8.0 + 1)
    return _ndtri(z).reshape(draws.shape)


def _rhat_classic(draws: np.ndarray) -> np.ndarray:
    """Gelman-Rubin R-hat of ``(C, S, P)`` (chains as given)."""
    num_draws = draws.shape[1]
    chain_mean = draws.mean(axis=1)
    between = num_draws * chain_mean.var(axis=0, ddof=1)
    within = draws.var(axis=1, ddof=1).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + num_draws - 1) / num_draws)


def _autocovariance(draws: np.ndarray) -> np.ndarray:
    """Autocovariance of each chain at every lag, ``(C, S, P)`` (FFT, biased: divided by S)."""
    num_draws = draws.shape[1]
    centred = draws - draws.mean(axis=1, keepdims=True)
    size = 1 << (2 * num_draws - 1).bit_length()  # zero padding >= 2S: no wrap-around
    spectrum = np.fft.rfft(centred, n=size, axis=1)
    return (
        np.fft.irfft(spectrum * np.conjugate(spectrum), n=size, axis=1)[:, :num_draws] / num_draws
    )


def _ess(draws: np.ndarray) -> np.ndarray:
    """Effective sample size of ``(C, S, P)`` draws (chains as given): Geyer's initial
    positive and monotone sequences on the multi-chain autocorrelation, as in Stan/ArviZ."""
    chains, num_draws, num_elements = draws.shape
    result = np.full(num_elements, np.nan)
    acov = _autocovariance(draws).mean(axis=0)  # (S, P), averaged over chains
    chain_mean = draws.mean(axis=1)
    mean_var = acov[0] * num_draws / (num_draws - 1.0)
    var_plus = mean_var * (num_draws - 1.0) / num_draws
    if chains > 1:
        var_plus = var_plus + chain_mean.var(axis=0, ddof=1)
    total = chains * num_draws
    span = draws.max(axis=(0, 1)) - draws.min(axis=(0, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rho_all = 1.0 - (mean_var - acov) / var_plus  # (S, P): rho_all[t] for lag t
    for j in range(num_elements):
        if np.isnan(draws[:, :, j]).any():
            continue
        if span[j] < np.finfo(float).resolution:
            result[j] = total  # constant draws: ArviZ's convention
            continue
        rho = rho_all[:, j]
        rho_hat = np.zeros(num_draws)
        rho_hat[0] = even = 1.0
        rho_hat[1] = odd = rho[1]
        t = 1
        while t < num_draws - 3 and even + odd > 0.0:  # initial positive sequence
            even, odd = rho[t + 1], rho[t + 2]
            if even + odd >= 0:
                rho_hat[t + 1], rho_hat[t + 2] = even, odd
            t += 2
        max_t = t - 2
        if even > 0:
            rho_hat[max_t + 1] = even
        t = 1
        while t <= max_t - 2:  # initial monotone sequence
            if rho_hat[t + 1] + rho_hat[t + 2] > rho_hat[t - 1] + rho_hat[t]:
                rho_hat[t + 1] = rho_hat[t + 2] = (rho_hat[t - 1] + rho_hat[t]) / 2.0
            t += 2
        tau = -1.0 + 2.0 * rho_hat[: max_t + 1].sum() + rho_hat[max_t + 1 : max_t + 2].sum()
        tau = max(tau, 1.0 / math.log10(total))
        result[j] = np.nan if np.isnan(rho_hat).any() else total / tau
    return result


def _valid(draws: np.ndarray, min_chains: int = 1) -> bool:
    return draws.shape[1] >= MIN_DRAWS and draws.shape[0] >= min_chains


def rank_normalized_rhat(draws, *, min_chains: int = 2):
    """Rank-normalised split R-hat of ``(C, S, *shape)`` draws (Vehtari et al. 2021).

    The larger of the split R-hat of the rank-normalised draws (bulk) and of the
    rank-normalised absolute deviations from the median (tail). Values near 1 mean
    the chains agree; above 1.01 they have not mixed. NaN with fewer than 4 draws per
    chain or fewer than ``min_chains`` chains (ArviZ's default 2; pass 1 to split a
    single chain in halves, which still detects a chain that drifts).

    Example
    -------
    >>> rank_normalized_rhat(np.random.default_rng(0).normal(size=(4, 500)))  # doctest: +SKIP
    1.002...
    """
    draws, shape = _as_chains(draws)
    if not _valid(draws, min_chains):
        return _reshape(np.full(draws.shape[2], np.nan), shape)
    split = split_chains(draws)
    bulk = _rhat_classic(_z_scale(split))
    folded = np.abs(split - np.median(split.reshape(-1, split.shape[2]), axis=0))
    tail = _rhat_classic(_z_scale(folded))
    return _reshape(np.maximum(bulk, tail), shape)


def ess_bulk(draws):
    """Bulk effective sample size of ``(C, S, *shape)`` draws: the ESS of the
    rank-normalised split chains (Vehtari et al. 2021). NaN with fewer than 4 draws."""
    draws, shape = _as_chains(draws)
    if not _valid(draws):
        return _reshape(np.full(draws.shape[2], np.nan), shape)
    return _reshape(_ess(_z_scale(split_chains(draws))), shape)


def ess_tail(draws, prob: tuple[float, float] = (0.05, 0.95)):
    """Tail effective sample size: the smaller ESS of the indicators ``draw <= q`` for the
    5 % and 95 % quantiles ``q`` (Vehtari et al. 2021). NaN with fewer than 4 draws."""
    draws, shape = _as_chains(draws)
    if not _valid(draws):
        return _reshape(np.full(draws.shape[2], np.nan), shape)
    flat = draws.reshape(-1, draws.shape[2])
    low, high = np.quantile(flat, prob, axis=0)  # R's type 7, as ArviZ
    ess_low = _ess(split_chains((draws <= low).astype(float)))
    ess_high = _ess(split_chains((draws <= high).astype(float)))
    return _reshape(np.fmin(ess_low, ess_high), shape)


def ess_mean(draws):
    """Effective sample size for the mean: the ESS of the split chains (not rank-normalised)."""
    draws, shape = _as_chains(draws)
    if not _valid(draws):
        return _reshape(np.full(draws.shape[2], np.nan), shape)
    return _reshape(_ess(split_chains(draws)), shape)


def mcse_mean(draws):
    """Monte Carlo standard error of the posterior mean: ``sd / sqrt(ess_mean)``."""
    array, shape = _as_chains(draws)
    if not _valid(array):
        return _reshape(np.full(array.shape[2], np.nan), shape)
    flat = array.reshape(-1, array.shape[2])
    sd = flat.std(axis=0, ddof=1)
    return _reshape(sd / np.sqrt(_ess(split_chains(array))), shape)


def e_bfmi(energy) -> np.ndarray:
    """Energy Bayesian fraction of missing information per chain (Betancourt 2016).

    ``energy``: the Hamiltonian at every draw, ``(C, S)`` (or ``(S,)`` for one chain).
    ``E-BFMI = mean((E_s - E_{s-1})^2) / var(E)``; below 0.3 the momentum resampling
    explores the energy distribution too slowly (heavy tails, a badly scaled prior or
    a funnel) and the chains may not reach everywhere. Returns ``(C,)``.
    """
    if isinstance(energy, torch.Tensor):
        energy = energy.detach().cpu().double().numpy()
    energy = np.atleast_2d(np.asarray(energy, dtype=np.float64))
    numerator = np.square(np.diff(energy, axis=1)).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return numerator / energy.var(axis=1, ddof=1)


def hdi(draws, prob: float = 0.94) -> np.ndarray:
    """Narrowest interval holding ``prob`` of the draws, per element: ``(2, *shape)``.

    ``draws``: ``(C, S, *shape)`` (chains merged) as ArviZ's ``hdi`` (unimodal).
    """
    array, shape = _as_chains(draws)
    flat = np.sort(array.reshape(-1, array.shape[2]), axis=0)
    n = flat.shape[0]
    inside = int(np.floor(prob * n))
    widths = flat[inside:] - flat[: n - inside]
    if widths.shape[0] == 0:
        raise ValueError(f"too few draws ({n}) for a {prob:.0%} interval")
    start = np.argmin(widths, axis=0)
    columns = np.arange(flat.shape[1])
    bounds = np.stack([flat[start, columns], flat[start + inside, columns]])
    return bounds.reshape((2,) + shape)


def mcmc_summary(chains: dict[str, torch.Tensor]) -> dict[str, dict[str, float | None]]:
    """Rank-normalised R-hat and bulk/tail ESS of every site, from draws grouped by chain.

    ``chains`` maps site → ``(C, S, *shape)``. For vector sites the worst element is
    reported: ``r_hat_max`` (rank-normalised split R-hat; with one chain its two halves
    are compared), ``ess_bulk_min``, ``ess_tail_min``, and ``ess_min`` / ``ess_mean``
    (the smallest and the mean bulk ESS). With fewer than 4 draws per chain they are
    ``None`` (unknown). An element whose draws never change within a chain (a stuck
    chain) has R-hat ``inf`` and ESS 0.
    """
    summary = {}
    for name, value in chains.items():
        array, _ = _as_chains(value)
        if not _valid(array):
            summary[name] = {"r_hat_max": None, "ess_min": None, "ess_mean": None}
            summary[name].update(ess_bulk_min=None, ess_tail_min=None)
            continue
        stuck = (array.max(axis=1) == array.min(axis=1)).any(axis=0)
        r_hat = np.where(stuck, np.inf, rank_normalized_rhat(array, min_chains=1).reshape(-1))
        bulk = np.where(stuck, 0.0, np.atleast_1d(ess_bulk(array)))
        tail = np.where(stuck, 0.0, np.atleast_1d(ess_tail(array)))
        summary[name] = {
            "r_hat_max": float(np.where(np.isnan(r_hat), np.inf, r_hat).max()),
            "ess_min": float(np.nan_to_num(bulk).min()),
            "ess_mean": float(np.nan_to_num(bulk).mean()),
            "ess_bulk_min": float(np.nan_to_num(bulk).min()),
            "ess_tail_min": float(np.nan_to_num(tail).min()),
        }
    return summary


def kl_per_weight(posterior) -> float | None:
    """Average KL (nats) from the posterior's marginals to the prior, over hidden-layer weights.

    Each weight's posterior is summarised by the mean and std of its draws and
    compared with the prior's mean and std (a Gaussian moment match), which is
    exact for a mean-field Gaussian guide under a Gaussian prior. Near zero means
    the fit left the weights at their prior ("mean-field collapse").
    """
    model = posterior.model
    draws = posterior.draws
    means = {k: v.mean(0) for k, v in draws.items()}
    like = model._like
    total, count = 0.0, 0
    for site in model.latent_sites:
        if not site.name.endswith(".weight") or site.name == f"layers.{len(model.hidden)}.weight":
            continue
        prior = site.prior(means, like)
        m, s = means[site.name], draws[site.name].std(0).clamp_min(1e-12)
        mu, sigma = prior.mean.expand_as(m), prior.stddev.expand_as(m)
        kl = torch.log(sigma / s) + (s**2 + (m - mu) ** 2) / (2 * sigma**2) - 0.5
        total += float(kl.sum())
        count += m.numel()
    return total / count if count else None
