"""Prediction of a user-written Pyro model from its observed site, per posterior draw."""

from __future__ import annotations

import pyro
import torch
from pyro.poutine.util import site_is_subsample

from ..isolation import local_rng
from ..posterior import Posterior
from ..validation import as_tensor
from .network import _mean_and_var_over_draws
from .prediction import (
    ClassificationPrediction,
    PerDraw,
    Prediction,
    RegressionPrediction,
    _entropy,
    y_transform,
)


def _predict_user_model(posterior: Posterior, x, num_draws, seed, return_sites) -> Prediction:
    """Prediction of a user-written Pyro model from its observed site's distribution per draw."""
    model, obs_site = posterior.model, posterior.obs_site
    like = posterior.example_data[0] if posterior.example_data else None
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    x = as_tensor(x, "x", dtype=dtype, device=None if like is None else like.device)
    draws = posterior.sample(num_draws, seed=seed)
    num_samples = next(iter(draws.values())).shape[0] if draws else 1
    with posterior.param_scope(), local_rng(seed), torch.no_grad(), pyro.poutine.block():
        base = pyro.poutine.trace(model).get_trace(x)  # one prior run: plates and sites
        if obs_site not in base.nodes:
            sites = [n for n, s in base.nodes.items() if s["type"] == "sample"]
            raise ValueError(
                f"the model has no site {obs_site!r} when called as model(x); its sample "
                f"sites: {sites}. Fit with obs_site='<name>'"
            )
        chunks, plate_dim = _row_chunks(base, obs_site)
        runs = []
        for rows in chunks:  # a plate with subsample_size: every row, a subsample at a time
            runs.append(_vectorized_run(model, x, draws, rows, num_samples, base, obs_site))
            if runs[-1][0] is None:  # the model does not broadcast over draws
                runs[-1] = _draw_by_draw(model, x, draws, rows, num_samples, obs_site)
    fn, values = _join_row_chunks(runs, chunks, plate_dim, obs_site, base)
    sites = _collect_sites(return_sites, draws, values, base)
    probs_draws = _class_probs(fn)
    if probs_draws is not None:
        return ClassificationPrediction(
            probs_draws.mean(0),
            _entropy(probs_draws).mean(0),
            PerDraw(distribution=lambda: fn, probs=lambda: probs_draws),
            num_samples,
            sites=sites,
        )
    hint = (
        f"the observed site {obs_site!r} has a {type(fn).__name__} without a mean and variance "
        "per draw, so the epistemic/aleatoric split is unavailable; observe y with a "
        "distribution that has them (Normal, StudentT with df > 2, Poisson, ...)"
    )
    try:
        mean_draws, var_draws = fn.mean.to(dtype), fn.variance.to(dtype)
    except NotImplementedError:
        mean_draws, var_draws = values[obs_site].to(dtype), None
    mean, epistemic = _mean_and_var_over_draws(mean_draws)
    y_loc, y_scale = y_transform(posterior, mean)
    return RegressionPrediction(
        mean,
        epistemic if var_draws is not None else None,
        var_draws.mean(0) if var_draws is not None else None,
        PerDraw(distribution=lambda: fn, mean=lambda: mean_draws),
        seed,
        num_samples,
        y_loc=y_loc,
        y_scale=y_scale,
        sites=sites,
        no_variance_hint=hint,
    )


def _row_chunks(base, obs_site: str) -> tuple[list[dict], int | None]:
    """Subsample indices that cover every row of a subsampled plate, a subsample at a time.

    Returns ``([{plate: indices}, ...], the plate's dim)``; ``([{}], None)`` without
    subsampling. The last chunk is filled up with rows from the start (dropped later).
    """
    subsampled = [
        site
        for site in base.nodes.values()
        if site_is_subsample(site)
        and (site["fn"].subsample_size or site["fn"].size) < site["fn"].size
    ]
    if not subsampled:
        return [{}], None
    if len(subsampled) > 1:
        names = [site["name"] for site in subsampled]
        raise ValueError(f"predict supports one subsampled plate, the model has {names}")
    site = subsampled[0]
    name, size = site["name"], site["fn"].size
    batch = site["fn"].subsample_size
    frames = [f for f in base.nodes[obs_site]["cond_indep_stack"] if f.name == name]
    if not frames:
        raise ValueError(
            f"the observed site {obs_site!r} is not inside the subsampled plate {name!r}"
        )
    rows = torch.arange(size + (-size) % batch) % size
    return [{name: chunk} for chunk in rows.split(batch)], frames[0].dim


def _join_row_chunks(runs: list, chunks: list[dict], plate_dim, obs_site: str, base):
    """One distribution and value of the observed site over all rows, from per-chunk runs."""
    if len(runs) == 1 and plate_dim is None:
        return runs[0]
    (plate_name,) = chunks[0]
    size = int(max(chunk[plate_name].max() for chunk in chunks)) + 1
    values = {}
    for name, first in runs[0][1].items():
        site = base.nodes.get(name)
        in_plate = site is not None and any(f.name == plate_name for f in site["cond_indep_stack"])
        if not in_plate:
            values[name] = first
            continue
        event_dims = len(site["fn"].event_shape)
        values[name] = _cat_rows([v[name] for _, v in runs], plate_dim - event_dims, size)
    fns = [fn for fn, _ in runs]
    return _combine_distributions(fns, obs_site, plate_dim, size), values


def _cat_rows(parts: list[torch.Tensor], dim: int, size: int) -> torch.Tensor:
    return torch.cat(parts, dim=dim).narrow(dim, 0, size)


def _max_plate_nesting(trace) -> int:
    dims = [
        -frame.dim
        for site in trace.nodes.values()
        if site["type"] == "sample"
        for frame in site["cond_indep_stack"]
        if frame.vectorized and frame.dim is not None
    ]
    return max(dims, default=0)


def _vectorized_run(model, x, draws, full_rows, num_samples, base, obs_site):
    """All draws in one run under a plate left of the model's plates; ``(None, None)`` if
    the model does not broadcast over them."""
    nesting = _max_plate_nesting(base)
    reshaped = {
        name: value.reshape((num_samples,) + (1,) * (nesting - value.dim() + 1) + value.shape[1:])
        for name, value in draws.items()
    }
    expected = (num_samples, *base.nodes[obs_site]["value"].shape)
    try:
        with pyro.plate("_posterior_draws", num_samples, dim=-nesting - 1):
            trace = pyro.poutine.trace(
                pyro.poutine.condition(model, data={**reshaped, **full_rows})
            ).get_trace(x)
    except (RuntimeError, ValueError, IndexError):
        return None, None
    site = trace.nodes[obs_site]
    if tuple(site["value"].shape) != expected or tuple(site["fn"].batch_shape)[:1] != (
        num_samples,
    ):
        return None, None
    values = {name: s["value"] for name, s in trace.nodes.items() if s["type"] == "sample"}
    return site["fn"], values


def _draw_by_draw(model, x, draws, full_rows, num_samples, obs_site):
    """One run per draw; the observed distributions are stacked into one batched one."""
    fns, runs = [], []
    for s in range(num_samples):
        data = {name: value[s] for name, value in draws.items()}
        trace = pyro.poutine.trace(
            pyro.poutine.condition(model, data={**data, **full_rows})
        ).get_trace(x)
        fns.append(trace.nodes[obs_site]["fn"])
        runs.append(
            {n: site["value"] for n, site in trace.nodes.items() if site["type"] == "sample"}
        )
    values = {name: torch.stack([run[name] for run in runs]) for name in runs[0]}
    return _combine_distributions(fns, obs_site), values


def _combine_distributions(fns: list, obs_site: str, plate_dim=None, size=None):
    """Distributions of one class → one: stacked on a new leading draw dim (``plate_dim``
    None) or joined along the plate's batch dim (and cut to ``size`` rows)."""
    first = fns[0]
    if isinstance(first, torch.distributions.Independent):
        base = _combine_distributions([fn.base_dist for fn in fns], obs_site, plate_dim, size)
        return torch.distributions.Independent(base, first.reinterpreted_batch_ndims)
    names = [name for name in first.arg_constraints if name in first.__dict__]
    if "logits" in names and "probs" in names:
        names.remove("probs")
    batch_dims = len(first.batch_shape)

    def join(values: list[torch.Tensor]) -> torch.Tensor:
        if plate_dim is None:
            return torch.stack(values)
        values = [
            v.expand(fn.batch_shape + v.shape[batch_dims:])
            for v, fn in zip(values, fns, strict=True)
        ]
        return _cat_rows(values, plate_dim - (values[0].dim() - batch_dims), size)

    try:
        return type(first)(**{name: join([getattr(fn, name) for fn in fns]) for name in names})
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"cannot combine the draws of the observed site {obs_site!r} "
            f"({type(first).__name__}): {error}. Write the model so that it broadcasts over "
            "a leading draw dimension (see DESIGN 'Models that vectorize')"
        ) from None


def _class_probs(fn) -> torch.Tensor | None:
    """Class probabilities ``(S, N, K)`` of a Categorical/Bernoulli observation, else None."""
    if isinstance(fn, torch.distributions.Categorical | torch.distributions.OneHotCategorical):
        return fn.probs
    if isinstance(fn, torch.distributions.Bernoulli):
        return torch.stack([1 - fn.probs, fn.probs], dim=-1)
    return None


def _collect_sites(return_sites, draws, values, base) -> dict:
    sites = {}
    for name in return_sites:
        if name in draws:
            sites[name] = draws[name]
        elif name in values:
            sites[name] = values[name]
        else:
            available = [n for n, s in base.nodes.items() if s["type"] == "sample"]
            raise ValueError(f"return_sites: the model has no site {name!r}; it has {available}")
    return sites
