"""Fit diagnostics: convergence of MCMC chains and health of variational fits."""

from __future__ import annotations

import torch
from pyro.ops.stats import effective_sample_size, split_gelman_rubin

__all__ = ["mcmc_summary", "kl_per_weight"]


def mcmc_summary(chains: dict[str, torch.Tensor]) -> dict[str, dict[str, float | None]]:
    """R-hat and ESS of every site from draws grouped by chain.

    ``chains`` maps site → ``(C, S, *shape)``. For vector sites the worst
    element is reported: the largest split R-hat and the smallest ESS. Uses
    :mod:`pyro.ops.stats`. Split R-hat needs at least 4 draws per chain and ESS
    at least 2: with fewer they are ``None`` (unknown). An element whose draws never
    change (a stuck chain) has R-hat ``inf`` and ESS 0.
    """
    summary = {}
    for name, value in chains.items():
        value = value.reshape(value.shape[:2] + (-1,)).double()
        ess_min = ess_mean = r_hat_max = None
        if value.shape[1] >= 2:
            ess = torch.nan_to_num(effective_sample_size(value, chain_dim=0, sample_dim=1))
            ess_min, ess_mean = float(ess.min()), float(ess.mean())
        if value.shape[1] >= 4:
            rhat = split_gelman_rubin(value, chain_dim=0, sample_dim=1)
            r_hat_max = float(torch.nan_to_num(rhat, nan=float("inf")).max())
        summary[name] = {"r_hat_max": r_hat_max, "ess_min": ess_min, "ess_mean": ess_mean}
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
