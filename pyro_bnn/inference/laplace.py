"""The Laplace approximation: a Gaussian at the MAP with the inverse Hessian as covariance.

``fit_svi(model, x, y, guide="laplace")`` finds the mode of the log joint of the
unconstrained latent vector ``z`` (the density of ``z`` itself, ``log |J|``
included, as :class:`~pyro.infer.autoguide.AutoLaplaceApproximation` defines it),
then takes the Hessian ``H`` of the negative log joint there. The posterior is
``N(z_MAP, H^-1)`` in unconstrained space, stored as a fitted
:class:`~pyro.infer.autoguide.AutoMultivariateNormal` (``guide_type="laplace"``), so
``predict``, save / load, the metrics and the plots read it like any full-rank guide.

- A :class:`~pyro_bnn.BayesianMLP` uses the flat fast path: MAP with
  :func:`~pyro_bnn.inference.map.map_estimate` on its
  :class:`~pyro_bnn.inference.flat.FlatModel`, then the Hessian of
  :meth:`~pyro_bnn.inference.flat.FlatModel.log_joint` (:func:`flat_hessian`: the prior
  with :func:`torch.autograd.functional.hessian`, the likelihood from Hessian-vector
  products over chunks of rows).
- A user-written model (function or ``PyroModule``) is fitted through Pyro's SVI
  with an ``AutoLaplaceApproximation`` guide; the Hessian is that of the same
  objective (Pyro's ``laplace_approximation``), with the safeguards below. The
  model's own ``pyro.param`` values are optimised with the MAP and then held fixed;
  a plate that subsamples makes the Hessian a (noisy) estimate from its subsample.

After the Adam steps, up to ``newton_steps`` Newton steps polish the mode (kept only
when they raise the log joint): for a Gaussian posterior (Bayesian linear regression
with known noise) one step makes the fit exact. A Hessian that is not positive
definite (a saddle, or a mode Adam has not reached) has its eigenvalues raised to a
floor (``1e-6`` times the largest and, for a ``BayesianMLP``, at least the smallest
precision of its fixed Normal weight priors), with a :class:`LaplaceWarning` that says
how many and by how much when it matters (:func:`floor_matters`: an eigenvalue ``<= 0``,
or a standard deviation narrowed more than twofold).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import pyro
import torch

__all__ = [
    "LaplaceWarning",
    "LaplaceResult",
    "hessian",
    "laplace_at_mode",
    "is_at_mode",
    "gaussian_from_hessian",
]

#: Eigenvalues of the Hessian below this fraction of the largest one are raised to it.
RELATIVE_FLOOR = 1e-6


class LaplaceWarning(UserWarning):
    """The Hessian at the MAP was not positive definite and had to be floored."""


@dataclass
class LaplaceResult:
    """A Gaussian ``N(loc, scale_tril scale_tril^T)`` in unconstrained space, and how it came about.

    Attributes
    ----------
    loc : tensor (dim,)
        The mode (after any Newton steps).
    scale_tril : tensor (dim, dim)
        Lower Cholesky factor of the covariance (the floored inverse Hessian).
    log_joint : float
        The log joint at ``loc``.
    log_evidence : float
        The Laplace estimate of the log marginal likelihood,
        ``log_joint + dim/2 log 2 pi - 1/2 log det H``.
    info : dict
        JSON-able details: the Hessian's smallest and largest eigenvalues, how many
        were floored and at what value, the Newton steps taken, the gradient norm and
        ``expected_gain``, the rise of the log joint one more Newton step would bring
        (``g^T H^-1 g / 2`` in nats; about 0 at a mode).
    """

    loc: torch.Tensor
    scale_tril: torch.Tensor
    log_joint: float
    log_evidence: float
    info: dict

    @property
    def covariance(self) -> torch.Tensor:
        """The covariance ``(dim, dim)``."""
        return self.scale_tril @ self.scale_tril.T


def hessian(log_joint: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """Hessian ``(dim, dim)`` of the *negative* ``log_joint`` at ``z: (dim,)`` (symmetrised).

    Vectorised over Hessian rows where the function allows it, else one
    Hessian-vector product per row.
    """
    z = z.detach()

    def negative(point):
        return -log_joint(point)

    try:
        value = torch.autograd.functional.hessian(negative, z, vectorize=True)
    except (RuntimeError, NotImplementedError, ValueError):
        value = torch.autograd.functional.hessian(negative, z)
    value = value.detach()
    return 0.5 * (value + value.T)


def gaussian_from_hessian(
    hessian_matrix: torch.Tensor,
    min_eigenvalue: float | None = None,
    prior_precision: float | None = None,
) -> tuple[torch.Tensor, float, dict]:
    """Cholesky factor of the inverse of a Hessian, its eigenvalues floored if need be.

    Parameters
    ----------
    hessian_matrix : tensor (dim, dim)
        Symmetric Hessian of the negative log joint.
    min_eigenvalue : float, optional
        Eigenvalues below this are raised to it; default the larger of ``1e-6`` times
        the largest eigenvalue and ``prior_precision``.
    prior_precision : float, optional
        The smallest precision of the prior (no direction of the approximation is then
        wider than the widest prior direction). A Gaussian prior and a log-concave
        likelihood never have eigenvalues below it, so exact cases are not changed.

    Returns
    -------
    (scale_tril, log_det, info)
        ``scale_tril: (dim, dim)`` lower Cholesky factor of the covariance (in the
        Hessian's dtype), ``log det`` of the floored Hessian, and a dict with
        ``min_eigenvalue``, ``max_eigenvalue``, ``num_floored`` (below the floor),
        ``num_nonpositive`` (of those, ``<= 0``) and ``floor``.
    """
    matrix = hessian_matrix.detach().double()
    if not torch.isfinite(matrix).all():
        raise FloatingPointError(
            "the Hessian of the log joint at the MAP is not finite; the MAP fit may have "
            "diverged (try a smaller lr or standardized data)"
        )
    eigenvalues, eigenvectors = torch.linalg.eigh(0.5 * (matrix + matrix.T))
    largest = float(eigenvalues.max())
    if min_eigenvalue is None:
        floor = max(RELATIVE_FLOOR * max(largest, 1e-12), prior_precision or 0.0)
    else:
        floor = min_eigenvalue
    if not floor > 0:
        raise ValueError(f"min_eigenvalue must be positive, got {min_eigenvalue!r}")
    floored = eigenvalues < floor
    used = eigenvalues.clamp(min=floor)
    covariance = (eigenvectors / used) @ eigenvectors.T
    covariance = 0.5 * (covariance + covariance.T)
    scale_tril = torch.linalg.cholesky(covariance)
    info = {
        "min_eigenvalue": float(eigenvalues.min()),
        "max_eigenvalue": largest,
        "num_floored": int(floored.sum()),
        "num_nonpositive": int((eigenvalues <= 0).sum()),
        "floor": float(floor),
    }
    return scale_tril.to(hessian_matrix.dtype), float(torch.log(used).sum()), info


def is_at_mode(info: dict, max_gain: float = 0.01) -> bool:
    """Whether a Laplace fit sits at a mode: its Hessian is positive definite and one more
    Newton step would gain less than ``max_gain`` nats (``info``: ``diagnostics["laplace"]``)."""
    positive_definite = info.get("num_nonpositive", info["num_floored"]) == 0
    return positive_definite and info["expected_gain"] < max_gain


def laplace_at_mode(
    log_joint: Callable[[torch.Tensor], torch.Tensor],
    z: torch.Tensor,
    *,
    newton_steps: int = 2,
    polish_iterations: int = 0,
    min_eigenvalue: float | None = None,
    prior_precision: float | None = None,
    hessian_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    warn: bool = True,
) -> LaplaceResult:
    """The Laplace approximation of ``log_joint`` (of unconstrained ``z: (dim,)``) at its mode.

    Parameters
    ----------
    log_joint : callable
        ``z -> log p(data, z)`` (a scalar tensor, differentiable twice).
    z : tensor (dim,)
        The mode found by the optimiser.
    polish_iterations : int
        First, at most this many L-BFGS iterations (strong Wolfe line search) from ``z``,
        kept when they raise the log joint: Adam, especially with a learned noise that
        keeps shrinking as the fit improves, often stops short of a mode, where the
        Hessian is not positive definite and no Newton step applies. 0: none.
    newton_steps : int
        At most this many Newton steps ``z + H^-1 grad`` from ``z``, each kept only when
        the Hessian is positive definite and the step raises the log joint (none when
        it would gain less than 1e-10 nats).
    min_eigenvalue, prior_precision : float, optional
        Floor of the Hessian's eigenvalues (see :func:`gaussian_from_hessian`).
    hessian_fn : callable, optional
        ``z -> H`` (the negative log joint's Hessian) instead of :func:`hessian`.
    warn : bool
        Issue a :class:`LaplaceWarning` when eigenvalues had to be floored.
    """
    hessian_fn = hessian_fn or (lambda point: hessian(log_joint, point))
    z = z.detach().clone()
    value = _value(log_joint, z)
    polished = 0
    if polish_iterations:
        z, value, polished = _polish(log_joint, z, value, polish_iterations)
    matrix = hessian_fn(z)
    taken = 0
    for _ in range(newton_steps):
        gradient = _gradient(log_joint, z)
        try:
            cholesky = torch.linalg.cholesky(matrix.double())
        except RuntimeError:  # not positive definite: no Newton step
            break
        step = torch.cholesky_solve(gradient.double()[:, None], cholesky)[:, 0]
        if 0.5 * float(gradient.double() @ step) < 1e-10:
            break  # already at the mode (to rounding)
        step = step.to(z.dtype)
        candidate = z + step
        candidate_value = _value(log_joint, candidate)
        if not (math.isfinite(candidate_value) and candidate_value > value):
            break
        z, value, taken = candidate, candidate_value, taken + 1
        matrix = hessian_fn(z)
    scale_tril, log_det, info = gaussian_from_hessian(matrix, min_eigenvalue, prior_precision)
    info["newton_steps"] = taken
    info["lbfgs_iterations"] = polished
    gradient = _gradient(log_joint, z)
    info["gradient_norm"] = float(gradient.norm())
    # what one more Newton step would gain (nats): ~0 at a mode
    covariance_gradient = scale_tril.double() @ (scale_tril.double().T @ gradient.double())
    info["expected_gain"] = 0.5 * float(gradient.double() @ covariance_gradient)
    dim = z.shape[0]
    log_evidence = value + 0.5 * dim * math.log(2 * math.pi) - 0.5 * log_det
    info["log_evidence"] = log_evidence
    info["log_joint"] = value
    if warn and floor_matters(info):
        warnings.warn(floor_message(info, dim), LaplaceWarning, stacklevel=3)
    return LaplaceResult(z, scale_tril, value, log_evidence, info)


def floor_matters(info: dict, max_std_ratio: float = 2.0) -> bool:
    """Did the eigenvalue floor change the Gaussian materially (worth a warning)?

    Yes when an eigenvalue was ``<= 0`` (a saddle, or a mode not reached), or when the
    floor narrowed some direction's standard deviation by more than ``max_std_ratio``.
    An eigenvalue just below the prior's precision (a weight the data barely inform,
    common for hidden units with little data in their range) is raised without a word;
    ``diagnostics["laplace"]`` still records it.
    """
    if not info["num_floored"]:
        return False
    if info.get("num_nonpositive", info["num_floored"]):
        return True
    return info["floor"] / info["min_eigenvalue"] > max_std_ratio**2


def floor_message(info: dict, dim: int) -> str:
    """The text of the :class:`LaplaceWarning` for a floored Hessian."""
    negative = info.get("num_nonpositive", info["num_floored"])
    state = "not positive definite" if negative else "nearly singular"
    return (
        f"Laplace: the Hessian of the negative log joint at the MAP is {state} "
        f"({info['num_floored']} of {dim} eigenvalues below {info['floor']:.3g}, {negative} of "
        f"them <= 0; the smallest {info['min_eigenvalue']:.3g}, the largest "
        f"{info['max_eigenvalue']:.3g}); they were raised to that floor, so the posterior is "
        "wide in those directions. The MAP may be a saddle or not reached (raise num_steps), "
        "or the weights are not identified there. The linearised predictive (the default of "
        "predict for a Laplace fit of a BayesianMLP) suffers far less from this than draws "
        "of the network itself. Alternatives: guide='mvn' or fit_nuts."
    )


def _polish(log_joint, z: torch.Tensor, value: float, max_iterations: int):
    """L-BFGS on ``-log_joint`` from ``z``: ``(z, value, iterations)``, or the start if no gain."""
    point = z.detach().clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [point], lr=1.0, max_iter=max_iterations, history_size=20,
        tolerance_grad=1e-5, tolerance_change=1e-12, line_search_fn="strong_wolfe",
    )  # fmt: skip

    def closure():
        optimizer.zero_grad(set_to_none=True)
        loss = -log_joint(point)
        if torch.isfinite(loss):
            loss.backward()
        return loss

    try:
        optimizer.step(closure)
    except RuntimeError:  # e.g. a non-finite value inside the line search: keep the start
        return z, value, 0
    candidate = point.detach()
    candidate_value = _value(log_joint, candidate)
    if not (math.isfinite(candidate_value) and candidate_value > value):
        return z, value, 0
    iterations = int(optimizer.state[optimizer._params[0]].get("n_iter", 0))
    return candidate, candidate_value, iterations


def _value(log_joint, z: torch.Tensor) -> float:
    with torch.no_grad():
        return float(log_joint(z))


def _gradient(log_joint, z: torch.Tensor) -> torch.Tensor:
    point = z.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(log_joint(point), point)
    return gradient.detach()


# --------------------------------------------------------------------------- the two paths


def flat_hessian(
    flat, z: torch.Tensor, max_elements: int = 2**22, batch_elements: int = 2**18
) -> torch.Tensor:
    """Hessian of ``-flat.log_joint`` at ``z``: prior and Jacobian once, likelihood by rows.

    The likelihood's Hessian is built from Hessian-vector products (double backward
    through its gradient), a few directions per call: at most ``batch_elements`` rows x
    directions x widest layer per call (vectorising more directions makes intermediates
    that outgrow the caches: 2-3x slower from a thousand rows on), and rows in chunks of
    at most ``max_elements`` / widest layer (memory: the double-backward graph keeps a
    few arrays of that many elements).
    """
    model = flat.model
    widest = max(max(fan_in, fan_out) for fan_in, fan_out in model.layer_sizes)
    rows = max(1, max_elements // widest)
    num_rows = flat.x.shape[0]

    def prior_part(point):
        values = flat.unflatten(point)
        return flat.log_prior(point, values) + flat.log_jacobian(point)

    with pyro.validation_enabled(False):
        total = hessian(prior_part, z)
        directions = torch.eye(flat.dim, dtype=z.dtype, device=z.device)
        for start in range(0, num_rows, rows):
            x, y = flat.x[start : start + rows], flat.y[start : start + rows]
            point = z.detach().clone().requires_grad_(True)
            negative = -model.log_likelihood(flat.unflatten(point), x, y)
            (gradient,) = torch.autograd.grad(negative, point, create_graph=True)
            per_call = max(1, batch_elements // (x.shape[0] * widest))
            for first in range(0, flat.dim, per_call):
                block = directions[first : first + per_call]
                total[first : first + per_call] += _products(gradient, point, block)
    return 0.5 * (total + total.T)


def _products(gradient: torch.Tensor, point: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    """Rows ``block @ H`` of the Hessian from ``gradient`` (built with ``create_graph``)."""
    try:
        (product,) = torch.autograd.grad(
            gradient, point, grad_outputs=block, is_grads_batched=True, retain_graph=True
        )
    except (RuntimeError, NotImplementedError):  # an op without a batching rule: one by one
        rows = [torch.autograd.grad(gradient, point, row, retain_graph=True)[0] for row in block]
        product = torch.stack(rows)
    return product.detach()


def fit_flat_laplace(
    model, x, y, batches, *, lr, lr_decay, num_steps, bar, newton_steps, polish_iterations
):
    """MAP of a :class:`~pyro_bnn.BayesianMLP` on the flat vector, then the Laplace Gaussian.

    Returns ``(guide, history, result)``: the fitted ``AutoMultivariateNormal``, the log
    joint at every Adam step and the :class:`LaplaceResult`.
    """
    from ..guides import initialised_guide
    from .flat import FlatModel
    from .map import map_estimate

    flat = FlatModel(model, x, y)
    with torch.no_grad(), pyro.poutine.block():
        prior_draw = pyro.poutine.trace(model).get_trace(*model.example_data())
        z0 = flat.flatten({name: prior_draw.nodes[name]["value"] for name in flat.names})
    z, history = map_estimate(
        flat, z0, num_steps=num_steps, lr=lr, lr_decay=lr_decay, jacobian=True, batches=batches,
        callback=lambda step, point: bar.update(1), description="Laplace (MAP)",
    )  # fmt: skip

    # the polish, Newton steps and Hessian in float64: in float32 the log joint's rounding
    # (~1e-7 of its size) stalls L-BFGS's line search short of the mode
    wide = flat
    if x.dtype != torch.float64:
        wide = FlatModel(
            copy.deepcopy(model).to(dtype=torch.float64),
            x.double(),
            y.double() if y.dtype.is_floating_point else y,
        )

    def log_joint(point):
        with pyro.validation_enabled(False):
            return wide.log_joint(point)

    # the floor: no direction wider than the widest fixed Normal prior of a weight
    prior_precision = None
    if flat.normal_index is not None:
        prior_precision = float(flat.normal_inv_scale.double().square().min())
    result = laplace_at_mode(
        log_joint,
        z.double(),
        newton_steps=newton_steps,
        polish_iterations=polish_iterations,
        prior_precision=prior_precision,
        hessian_fn=lambda point: flat_hessian(wide, point),
        warn=False,
    )
    result.loc, result.scale_tril = result.loc.to(z.dtype), result.scale_tril.to(z.dtype)
    guide = initialised_guide(model, "laplace")
    _load_gaussian(guide, result)
    return guide, history, result


def user_laplace(model, guide, args: tuple, newton_steps: int):
    """The Laplace Gaussian of a user model fitted with an ``AutoLaplaceApproximation`` ``guide``.

    Call it inside the fit's private parameter scope: the returned
    ``AutoMultivariateNormal``'s parameters are put into the active store and the
    ``AutoLaplaceApproximation``'s removed from it. Returns ``(gaussian_guide, result)``.
    """
    from ..guides import make_guide

    latent = f"_{guide._pyro_name}_latent"

    def log_joint(point):
        conditioned = pyro.poutine.condition(guide, data={latent: point})
        guide_trace = pyro.poutine.trace(conditioned).get_trace(*args)
        replayed = pyro.poutine.replay(model, trace=guide_trace)
        model_trace = pyro.poutine.trace(replayed).get_trace(*args)
        # the guide's sites carry -log|J| (the auxiliary Delta site is the point itself)
        guide_part = guide_trace.log_prob_sum(lambda name, site: name != latent)
        return model_trace.log_prob_sum() - guide_part

    with pyro.poutine.block():
        z = guide.loc.detach().clone()
        result = laplace_at_mode(log_joint, z, newton_steps=newton_steps, warn=False)
        gaussian = make_guide(model, "laplace")
        with torch.no_grad():
            gaussian(*args)  # creates its parameters in this store
        _load_gaussian(gaussian, result)
        store = pyro.get_param_store()
        for name in list(store.keys()):
            if name.startswith(guide._pyro_name + "."):
                del store[name]
    return gaussian, result


def _load_gaussian(guide, result: LaplaceResult) -> None:
    """Write ``result`` into a set-up ``AutoMultivariateNormal`` (in place, so a parameter
    store that holds the guide's tensors sees the same values)."""
    from .flat_guides import inverse_softplus

    scale, unit_lower = _scale_and_unit_lower(result.scale_tril)
    state = guide.state_dict()
    state["loc"] = result.loc
    state["scale_unconstrained"] = inverse_softplus(scale)
    state["scale_tril_unconstrained"] = torch.tril(unit_lower, -1)
    guide.load_state_dict(state)


def _scale_and_unit_lower(scale_tril: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``L = diag(scale) U``, ``U`` unit lower triangular (AutoMultivariateNormal's parameters)."""
    scale = scale_tril.diagonal()
    return scale.clone(), scale_tril / scale[:, None]
