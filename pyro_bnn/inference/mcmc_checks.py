"""Has a NUTS fit converged? R-hat, ESS and E-BFMI, of the weights and of the predictions.

The checks behind :func:`~pyro_bnn.fit_nuts`'s warnings (Vehtari et al. 2021 for
R-hat and ESS, Betancourt 2016 for E-BFMI). A network's hidden units can swap places
between chains without changing the function, so convergence is judged on the
predictions (:func:`function_space_diagnostics`) and on the sites that do not depend
on the units' order; a high R-hat of the weights alone is a :class:`WeightSymmetryNote`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..nets import BayesianMLP
from ..posterior import Posterior
from .diagnostics import ess_bulk, ess_tail, rank_normalized_rhat

__all__ = [
    "WeightSymmetryNote",
    "convergence_problems",
    "function_space_diagnostics",
    "R_HAT_LIMIT",
    "ESS_PER_CHAIN",
    "E_BFMI_LIMIT",
]

R_HAT_LIMIT = 1.01  # Vehtari et al. (2021)
ESS_PER_CHAIN = 100  # bulk and tail ESS below 100 per chain: estimates are unreliable
E_BFMI_LIMIT = 0.3  # Betancourt (2016); Stan's threshold
FUNCTION_SPACE_ROWS = 10  # training inputs at which the predictions' convergence is checked


class WeightSymmetryNote(UserWarning):
    """The weights' R-hat is high but the predictions' R-hat is fine: the chains sit in
    copies of the same mode that differ by the network's symmetries (hidden units that
    swap places or flip sign). Not a problem for predictions."""


def _rhat_sites(model, summary: dict) -> dict:
    """Sites whose R-hat is meaningful for the convergence warning.

    Hidden units of a network can swap places between chains (and within a long
    chain) without changing the function, so the R-hat of individual weights
    stays high on a perfectly good fit. For a network with hidden layers the
    warning looks at the sites that do not depend on the units' order: the noise,
    hierarchical scales and the output bias (all sites stay in ``diagnostics``).
    """
    if not isinstance(model, BayesianMLP) or not model.hidden:
        return summary
    output_bias = f"layers.{len(model.hidden)}.bias"
    invariant = {
        name: value
        for name, value in summary.items()
        if not name.startswith("layers.") or name.endswith(".scale") or name == output_bias
    }
    return invariant or summary


def function_space_diagnostics(
    posterior: Posterior, x, y=None, *, num_rows: int = FUNCTION_SPACE_ROWS
) -> dict:
    """Convergence of the predictions: R-hat and ESS of the predictive mean at a few inputs.

    The network output (the likelihood's mean; class probabilities for classification)
    at ``num_rows`` evenly chosen rows of ``x`` (your units), per draw, grouped by chain.
    Unlike the weights' R-hat this does not see the network's symmetries: chains in
    permuted copies of one mode predict alike. For a user-written model the mean of
    its observed site is used.

    Returns a JSON-able dict: ``rows`` (indices into ``x``), ``r_hat_max``
    (rank-normalised split R-hat; one chain is split in halves), ``ess_bulk_min``,
    ``ess_tail_min``, ``r_hat`` and ``ess_bulk`` per row (worst output), or
    ``{"skipped": reason}`` when the predictions could not be computed.
    """
    from ..predictive import predict

    num_inputs = int(x.shape[0])
    rows = sorted({int(i) for i in torch.linspace(0, num_inputs - 1, min(num_rows, num_inputs))})
    try:
        prediction = predict(posterior, x[rows], num_draws=None)
        values = (
            prediction.probs_draws if prediction.task == "classification" else prediction.mean_draws
        )
    except Exception as error:  # a user model whose predictions fail: skip, say why
        return {"skipped": f"predictions failed ({type(error).__name__}: {error})"}
    values = torch.as_tensor(values).detach().double().cpu()
    values = values.reshape(posterior.num_chains, -1, len(rows), *values.shape[2:])
    values = values.reshape(values.shape[:3] + (-1,))  # (C, S, rows, outputs)
    if values.shape[1] < 4:
        return {"rows": rows, "r_hat_max": None, "ess_bulk_min": None, "ess_tail_min": None}
    r_hat = rank_normalized_rhat(values.numpy(), min_chains=1)
    bulk, tail = ess_bulk(values.numpy()), ess_tail(values.numpy())
    constant = (values.amax(1) == values.amin(1)).all(0).numpy()  # e.g. a saturated class
    r_hat = np.where(constant, 1.0, np.nan_to_num(r_hat, nan=np.inf))
    bulk = np.where(constant, np.inf, bulk)
    tail = np.where(constant, np.inf, tail)
    return {
        "rows": rows,
        "r_hat_max": float(r_hat.max()),
        "ess_bulk_min": float(bulk.min()),
        "ess_tail_min": float(tail.min()),
        "r_hat": [float(v) for v in r_hat.max(-1)],
        "ess_bulk": [float(v) for v in bulk.min(-1)],
    }


def _worst(summary: dict, key: str, largest: bool):
    """``(site, value)`` with the largest (or smallest) known ``key``, or None."""
    rated = [(name, site[key]) for name, site in summary.items() if site.get(key) is not None]
    pick = max if largest else min
    return pick(rated, key=lambda item: item[1], default=None)


def convergence_problems(posterior: Posterior, model, num_chains: int) -> list[str]:
    """The warnings of fit_nuts (and the symmetry note, in ``diagnostics["notes"]``).

    R-hat > 1.01 or bulk/tail ESS < 100 per chain, of the predictions (function space)
    and of the sites that do not depend on the order of hidden units; E-BFMI < 0.3;
    divergences. A high R-hat of the weights alone is a note, not a warning, when the
    predictions have converged.
    """
    diagnostics = posterior.diagnostics
    summary = diagnostics["sites"]
    function = diagnostics["function_space"]
    problems = []
    function_rhat = function.get("r_hat_max")
    if function_rhat is not None and function_rhat > R_HAT_LIMIT:
        problems.append(
            f"R-hat of the predictions (the predictive mean, or class probabilities, at "
            f"{len(function['rows'])} training inputs) is {function_rhat:.3f} "
            f"(> {R_HAT_LIMIT}): the chains disagree "
            "about the function itself; run longer (warmup_steps, num_samples) or more chains"
        )
    invariant = _rhat_sites(model, summary)
    worst = _worst(invariant, "r_hat_max", largest=True)
    if worst is not None and worst[1] > R_HAT_LIMIT:
        problems.append(
            f"R-hat of {worst[0]!r} is {worst[1]:.3f} (> {R_HAT_LIMIT}): the chains have "
            "not mixed; run longer (warmup_steps, num_samples) or more chains"
        )
    weights = _worst(summary, "r_hat_max", largest=True)
    converged = function_rhat is not None and function_rhat <= R_HAT_LIMIT
    if weights is not None and weights[1] > R_HAT_LIMIT and converged and invariant is not summary:
        diagnostics["notes"].append(
            f"R-hat of the weights is up to {weights[1]:.3f} ({weights[0]!r}) but R-hat of "
            f"the predictions is {function_rhat:.3f}: this only reflects the network's "
            "symmetries (chains holding the same function with hidden units permuted or "
            "sign-flipped) and is not a problem for predictions"
        )
    needed = ESS_PER_CHAIN * num_chains
    function_ess = [function.get(key) for key in ("ess_bulk_min", "ess_tail_min")]
    function_ess = [value for value in function_ess if value is not None]
    if function_ess and min(function_ess) < needed:
        problems.append(
            f"ESS of the predictions is {min(function_ess):.0f} (bulk/tail; < {needed}, "
            f"{ESS_PER_CHAIN} per chain): their means and intervals are noisy; draw more "
            "(num_samples) or more chains"
        )
    for key, kind in (("ess_bulk_min", "bulk"), ("ess_tail_min", "tail")):
        low = _worst(invariant, key, largest=False)
        if low is not None and low[1] < needed:
            problems.append(
                f"{kind} ESS of {low[0]!r} is {low[1]:.0f} (< {needed}, {ESS_PER_CHAIN} per "
                f"chain): its {'mean is' if kind == 'bulk' else 'intervals are'} unreliable; "
                "draw more (num_samples) or more chains"
            )
    low_bfmi = [i for i, value in enumerate(diagnostics["e_bfmi"]) if value < E_BFMI_LIMIT]
    if low_bfmi:
        values = ", ".join(f"{diagnostics['e_bfmi'][i]:.2f}" for i in low_bfmi)
        problems.append(
            f"E-BFMI of chain(s) {low_bfmi} is {values} (< {E_BFMI_LIMIT}): the sampler "
            "moves through the energy levels too slowly and may miss the tails; "
            "reparameterise or use a tighter (or less heavy-tailed) prior"
        )
    divergences = diagnostics["divergences"]
    if divergences:
        problems.append(
            f"{divergences} divergent transition(s): the sampler missed parts of the posterior; "
            "raise target_accept_prob (e.g. 0.95) or use a tighter prior"
        )
    return problems
