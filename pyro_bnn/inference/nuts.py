"""A lean No-U-Turn sampler on one flat parameter vector.

Pyro's :class:`~pyro.infer.NUTS` builds its trees over dicts of sites with many small
Python objects per leapfrog step; for a Bayesian network whose posterior is a single
flat vector that bookkeeping costs more than the network. :func:`sample_nuts` runs the
same algorithm as Stan and NumPyro directly on a 1-D tensor:

- multinomial NUTS with recursive trajectory doubling (Betancourt 2017, as in Stan's
  ``base_nuts``): biased progressive sampling between the old trajectory and a new
  subtree, uniform multinomial sampling inside subtrees;
- the generalized no-U-turn criterion on the summed momenta, with the extra checks
  across the two halves of every merged tree (Stan >= 2.21);
- divergence when the energy error exceeds 1000 (the subtree is then rejected);
- warm-up as in Stan: the "reasonable step size" heuristic, dual averaging of the step
  size (gamma 0.05, t0 10, kappa 0.75, mu = log(10 eps)) and windowed adaptation of a
  diagonal (or dense) inverse mass matrix from regularised Welford estimates (initial
  buffer 75, doubling windows from 25, terminal buffer 50).

Each leapfrog step costs one fused ``log density + gradient`` evaluation and a handful
of vector operations; nothing is validated or allocated per step beyond the arrays
themselves. On the CPU the state lives in numpy arrays (a small network's NUTS is bound
by per-operation overhead, which is lower in numpy than in torch); on other devices in
torch tensors. ``log_density_fn`` and
``value_and_grad_fn`` always see torch tensors, and the results are torch tensors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyro
import torch

from .adaptation import WarmupAdaptation, adaptation_windows
from .nuts_arrays import NumpyArrays, TorchTensors, arrays_for

__all__ = ["NUTSResult", "sample_nuts", "adaptation_windows"]

MAX_ENERGY_ERROR = 1000.0  # Stan's divergence threshold on H - H0
_LOG_HALF_ACCEPT = math.log(0.8)  # target of the reasonable-step-size heuristic
_UNIFORM_BLOCK = 512  # scalar uniforms are drawn from the generator in blocks


@dataclass
class NUTSResult:
    """Draws and diagnostics of one :func:`sample_nuts` chain.

    Attributes
    ----------
    samples : (num_samples, dim)
        Post-warm-up draws, in the dtype of ``initial``.
    log_density : (num_samples,)
        ``log_density_fn`` at each draw.
    step_size : float
        Adapted step size used for sampling.
    inverse_mass_matrix : (dim,) or (dim, dim)
        Adapted inverse mass matrix (diagonal unless ``dense_mass``).
    tree_depths : (num_samples,) int
        Number of completed trajectory doublings per draw.
    num_steps : (num_samples,) int
        Leapfrog steps per draw.
    divergent : (num_samples,) bool
        Whether the trajectory of each draw ended in a divergence.
    num_divergences : int
        Divergent transitions after warm-up (``divergent.sum()``).
    num_warmup_divergences : int
        Divergent transitions during warm-up.
    accept_prob : float
        Mean acceptance statistic after warm-up.
    num_grad_evals : int
        Gradient evaluations in total (step-size search, warm-up and sampling).
    accept_probs : (num_samples,)
        Acceptance statistic of each draw (the mean Metropolis acceptance over the
        trajectory, Stan's ``accept_stat__``).
    energy : (num_samples,)
        Hamiltonian at each draw, ``-log_density + r . M^-1 r / 2`` with the momentum
        the draw was chosen with (Stan's ``energy__``; for E-BFMI).
    """

    samples: torch.Tensor
    log_density: torch.Tensor
    step_size: float
    inverse_mass_matrix: torch.Tensor
    tree_depths: torch.Tensor
    num_steps: torch.Tensor
    divergent: torch.Tensor
    num_divergences: int
    num_warmup_divergences: int
    accept_prob: float
    num_grad_evals: int
    accept_probs: torch.Tensor | None = None
    energy: torch.Tensor | None = None


class _Chain:
    """One NUTS chain: state, mass matrix and the tree builder (the hot loop).

    The hot loop is written with operators only (``+``, ``*``, ``@``, ``float``), so
    the same code runs on numpy arrays (CPU) and torch tensors (other devices);
    ``arrays`` provides the few things that differ (random numbers, conversions).
    """

    def __init__(
        self,
        log_density_fn: Callable[[torch.Tensor], torch.Tensor] | None,
        value_and_grad_fn: Callable[[torch.Tensor], tuple[float, torch.Tensor]] | None,
        max_tree_depth: int,
        dense_mass: bool,
        arrays: NumpyArrays | TorchTensors,
        dim: int,
    ):
        self.log_density_fn = log_density_fn
        self.user_value_and_grad = value_and_grad_fn
        # z -> (log density, gradient) on the chain's arrays; NaN values are left to the caller
        self._evaluate = self._evaluate_torch
        # a whole transition in compiled code (NativeBNN, diagonal mass), on numpy arrays
        self._native_transition = None
        if isinstance(arrays, NumpyArrays):
            self._evaluate = getattr(value_and_grad_fn, "value_and_grad_numpy", self._evaluate)
            if not dense_mass:
                self._native_transition = getattr(value_and_grad_fn, "native_transition", None)
        self.max_tree_depth = max_tree_depth
        self.dense_mass = dense_mass
        self.arrays = arrays
        self.dot = arrays.dot
        self.dim = dim
        self.num_grad_evals = 0
        self._uniforms: list[float] = []
        self.set_inverse_mass_matrix(torch.eye(dim) if dense_mass else torch.ones(dim))
        # per-transition counters, reset by transition()
        self.num_leapfrog = 0
        self.sum_accept = 0.0
        self.divergent = False

    # ------------------------------------------------------------------ primitives

    def set_inverse_mass_matrix(self, inverse_mass_matrix: torch.Tensor) -> None:
        """Use ``inverse_mass_matrix`` (torch, ``(dim,)`` diagonal or ``(dim, dim)``)."""
        arrays = self.arrays
        self.inverse_mass_matrix = inverse_mass_matrix.to(arrays.device, arrays.torch_dtype)
        imm = inverse_mass_matrix.double()
        if self.dense_mass:
            # M^-1 = L L^T  =>  r = L^-T eps has covariance (L L^T)^-1 = M
            inverse_cholesky = torch.linalg.inv(torch.linalg.cholesky(imm))
            momentum_factor = inverse_cholesky.mT
        else:
            momentum_factor = imm.rsqrt()
        self._imm = arrays.from_torch(imm)
        self._momentum_factor = arrays.from_torch(momentum_factor)
        # velocity(r) = M^-1 r, the "sharp" momentum (also d kinetic / d r); bound
        # operator methods save a Python call per use in the hot loop
        self.velocity = self._imm.__matmul__ if self.dense_mass else self._imm.__mul__
        self._drift = None  # set per transition (diagonal mass only)

    def value_and_grad(self, z):
        """Log density at ``z`` as a float (NaN -> -inf) and its gradient (no graph kept)."""
        self.num_grad_evals += 1
        value, grad = self._evaluate(z)
        return (value if value == value else -math.inf), grad

    def _evaluate_torch(self, z):
        """``(log density, gradient)`` from the user's torch functions (autograd if needed)."""
        if self.user_value_and_grad is not None:
            value, grad = self.user_value_and_grad(self.arrays.to_torch(z))
            return float(value), self.arrays.from_torch(grad)
        z = self.arrays.to_torch(z).detach().requires_grad_(True)
        log_density = self.log_density_fn(z)
        (grad,) = torch.autograd.grad(log_density, z)
        return log_density.item(), self.arrays.from_torch(grad)

    def uniform(self) -> float:
        if not self._uniforms:
            self._uniforms = self.arrays.uniforms(_UNIFORM_BLOCK)
        return self._uniforms.pop()

    def sample_momentum(self):
        noise = self.arrays.normal(self.dim)
        if self.dense_mass:
            return self._momentum_factor @ noise
        return noise * self._momentum_factor

    def leapfrog(self, z, r, grad, step):
        """One leapfrog step of signed size ``step`` -> (z, r, log_density, grad, velocity)."""
        half = 0.5 * step
        r = r + half * grad
        z = z + step * self.velocity(r)
        log_density, grad = self.value_and_grad(z)
        r = r + half * grad
        return z, r, log_density, grad, self.velocity(r)

    def energy(self, log_density: float, r, v) -> float:
        """Hamiltonian: potential ``-log_density`` plus kinetic ``r . M^-1 r / 2``."""
        return -log_density + 0.5 * float(self.dot(r, v))

    # ------------------------------------------------------------------ step size

    def reasonable_step_size(self, z, log_density, grad, step_size: float) -> float:
        """Stan's heuristic: double/halve until one step's acceptance crosses 0.8."""
        direction = 0
        while True:
            r = self.sample_momentum()
            energy0 = self.energy(log_density, r, self.velocity(r))
            _, r_new, log_density_new, _, v_new = self.leapfrog(z, r, grad, step_size)
            delta = energy0 - self.energy(log_density_new, r_new, v_new)
            if delta != delta:
                delta = -math.inf
            if direction == 0:
                direction = 1 if delta > _LOG_HALF_ACCEPT else -1
            elif (direction == 1) != (delta > _LOG_HALF_ACCEPT):
                return step_size
            step_size = step_size * 2.0 if direction == 1 else step_size * 0.5
            if step_size > 1e7:
                raise ValueError(
                    "sample_nuts: the step size grew beyond 1e7 while searching for a "
                    "reasonable value; is log_density_fn improper (flat in some direction)?"
                )
            if step_size < 1e-12:
                raise ValueError(
                    "sample_nuts: the step size shrank below 1e-12 while searching for a "
                    "reasonable value; log_density_fn is not finite or not smooth near "
                    "the current point"
                )

    # ------------------------------------------------------------------ trajectory

    def _no_u_turn(
        self,
        v_begin,
        v_final_begin,
        v_init_end,
        v_end,
        rho,
        rho_init,
        rho_final,
        r_final_begin,
        r_init_end,
    ) -> bool:
        """Generalized no-U-turn checks on a tree merged from two halves.

        With ``rho = rho_init + rho_final`` the summed momenta, the merged tree goes
        on while ``v . rho > 0`` at both of its ends, and (Stan's extra checks) the
        same holds for the initial half extended by the first point of the final half
        and for the final half extended by the last point of the initial half.
        Checks stop at the first that fails.
        """
        dot = self.dot
        if dot(v_begin, rho) <= 0 or dot(v_end, rho) <= 0:
            return False
        if rho_init is r_init_end and rho_final is r_final_begin:
            # two single leapfrog steps: both extended sums equal rho, checks done
            return True
        extended = rho_init + r_final_begin
        if dot(v_begin, extended) <= 0 or dot(v_final_begin, extended) <= 0:
            return False
        extended = rho_final + r_init_end
        return dot(v_init_end, extended) > 0 and dot(v_end, extended) > 0

    def build_tree(self, z, r, grad, log_density, depth, step, energy0):
        """Build a subtree of ``2**depth`` leapfrog steps from ``(z, r)``.

        Returns ``(valid, end_state, proposal, log_weight, rho, v_begin, v_end, r_begin,
        r_end)`` where ``end_state = (z, r, grad, log_density)`` is the last point
        integrated, ``proposal = (z, log_density, grad, r)`` the multinomial draw from the
        subtree, ``rho`` the summed momenta. ``valid`` is False on divergence or U-turn.
        """
        if depth == 0:  # one leapfrog step (as in leapfrog(), inlined: the hot loop)
            half = 0.5 * step
            r = r + half * grad
            drift = self._drift  # step * M^-1 for each direction (diagonal mass)
            z = z + (drift[step > 0] * r if drift else step * self.velocity(r))
            log_density, grad = self._evaluate(z)  # counted in num_leapfrog
            r = r + half * grad
            v = self.velocity(r)
            self.num_leapfrog += 1
            log_weight = energy0 + log_density - 0.5 * float(self.dot(r, v))  # energy0 - energy
            if log_weight != log_weight:  # NaN log density or energy
                log_weight = -math.inf
            if log_weight < -MAX_ENERGY_ERROR:
                self.divergent = True
            self.sum_accept += 1.0 if log_weight > 0 else math.exp(log_weight)
            state = (z, r, grad, log_density)
            return not self.divergent, state, (z, log_density, grad, r), log_weight, r, v, v, r, r
        init = self.build_tree(z, r, grad, log_density, depth - 1, step, energy0)
        if not init[0]:
            return init
        _, state, proposal, log_weight_init, rho_init, v_begin, v_init_end, r_begin, r_init_end = (
            init
        )
        final = self.build_tree(*state, depth - 1, step, energy0)
        if not final[0]:
            return final
        _, state, proposal_final, log_weight_final, rho_final, v_final_begin, v_end = final[:7]
        r_final_begin, r_end = final[7:]
        log_weight = _logaddexp(log_weight_init, log_weight_final)
        if self.uniform() < math.exp(log_weight_final - log_weight):
            proposal = proposal_final
        rho = rho_init + rho_final
        valid = self._no_u_turn(
            v_begin,
            v_final_begin,
            v_init_end,
            v_end,
            rho,
            rho_init,
            rho_final,
            r_final_begin,
            r_init_end,
        )
        return valid, state, proposal, log_weight, rho, v_begin, v_end, r_begin, r_end

    def transition(self, z, log_density, grad, step_size):
        """One NUTS transition from ``z`` -> (z, log_density, grad, depth, accept_prob).

        Also sets ``self.draw_energy``: the Hamiltonian at the chosen point, with its momentum.
        """
        if self._native_transition is not None:
            return self._compiled_transition(z, log_density, grad, step_size)
        self.num_leapfrog, self.sum_accept, self.divergent = 0, 0.0, False
        if not self.dense_mass:  # (backward, forward)
            self._drift = (-step_size * self._imm, step_size * self._imm)
        r0 = self.sample_momentum()
        v0 = self.velocity(r0)
        energy0 = self.energy(log_density, r0, v0)
        forward = backward = (z, r0, grad, log_density)
        sample = (z, log_density, grad, r0)
        # momenta / velocities at the ends of the backward and forward halves
        r_bb = r_bf = r_fb = r_ff = r0
        v_bb = v_bf = v_fb = v_ff = v0
        rho = r0
        log_weight = 0.0
        depth = 0
        while depth < self.max_tree_depth:
            if self.uniform() > 0.5:  # extend forward in time
                rho_bck, r_bf, v_bf = rho, r_ff, v_ff
                valid, forward, proposal, log_weight_sub, rho_fwd, v_fb, v_ff, r_fb, r_ff = (
                    self.build_tree(*forward, depth, step_size, energy0)
                )
            else:  # extend backward in time
                rho_fwd, r_fb, v_fb = rho, r_bb, v_bb
                valid, backward, proposal, log_weight_sub, rho_bck, v_bf, v_bb, r_bf, r_bb = (
                    self.build_tree(*backward, depth, -step_size, energy0)
                )
            if not valid:
                break
            depth += 1
            if log_weight_sub > log_weight or self.uniform() < math.exp(
                log_weight_sub - log_weight
            ):
                sample = proposal
            log_weight = _logaddexp(log_weight, log_weight_sub)
            rho = rho_bck + rho_fwd
            if not self._no_u_turn(v_bb, v_fb, v_bf, v_ff, rho, rho_bck, rho_fwd, r_fb, r_bf):
                break
        self.num_grad_evals += self.num_leapfrog
        accept_prob = self.sum_accept / self.num_leapfrog
        self.draw_energy = self.energy(sample[1], sample[3], self.velocity(sample[3]))
        return (*sample[:3], depth, accept_prob)

    def _compiled_transition(self, z, log_density, grad, step_size):
        """:meth:`transition` in one call of compiled code (the momentum and the seed of its
        uniforms come from this chain's generator)."""
        r0 = self.sample_momentum()
        seed = int(self.arrays.rng.integers(0, 2**63))
        z, log_density, grad, stats = self._native_transition(
            z, log_density, grad, r0, self._imm, step_size, self.max_tree_depth, seed
        )
        depth, num_leapfrog, self.sum_accept, divergent, self.draw_energy = stats
        self.num_leapfrog, self.divergent = int(num_leapfrog), bool(divergent)
        self.num_grad_evals += self.num_leapfrog
        return z, log_density, grad, int(depth), self.sum_accept / self.num_leapfrog


def _logaddexp(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    if b == -math.inf:
        return a
    return a + math.log1p(math.exp(b - a))


def _check_arguments(initial, num_samples, warmup_steps, target_accept_prob, max_tree_depth):
    if not isinstance(initial, torch.Tensor) or initial.dim() != 1:
        raise ValueError(
            f"initial must be a 1-D tensor (dim,), got "
            f"{type(initial).__name__}{tuple(getattr(initial, 'shape', ()))}"
        )
    if not initial.is_floating_point():
        raise TypeError(f"initial must be a floating-point tensor, got {initial.dtype}")
    for name, value, low in (
        ("num_samples", num_samples, 1),
        ("warmup_steps", warmup_steps, 0),
        ("max_tree_depth", max_tree_depth, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not 0 < target_accept_prob < 1:
        raise ValueError(f"target_accept_prob must be in (0, 1), got {target_accept_prob!r}")


def sample_nuts(
    log_density_fn: Callable[[torch.Tensor], torch.Tensor] | None,
    initial: torch.Tensor,
    num_samples: int,
    warmup_steps: int,
    seed: int = 0,
    target_accept_prob: float = 0.8,
    max_tree_depth: int = 10,
    progress: bool = False,
    dense_mass: bool = False,
    value_and_grad_fn: Callable[[torch.Tensor], tuple[float, torch.Tensor]] | None = None,
) -> NUTSResult:
    """Draw from ``exp(log_density_fn)`` with NUTS on a flat vector, Stan-style warm-up.

    Parameters
    ----------
    log_density_fn : callable
        ``z: (dim,) -> scalar`` tensor, differentiable in ``z``; the unnormalised log
        density (e.g. ``FlatModel.log_joint``). Non-finite values count as zero density.
    initial : (dim,)
        Starting point; its dtype and device are used throughout.
    num_samples : int
        Draws kept after warm-up.
    warmup_steps : int
        Adaptation iterations (step size by dual averaging, mass matrix in Stan's
        windows); their draws are discarded.
    seed : int
        Seeds a private ``torch.Generator``: same seed, same draws.
    target_accept_prob : float
        Dual-averaging target of the mean acceptance statistic.
    max_tree_depth : int
        At most ``2**max_tree_depth - 1`` leapfrog steps per draw.
    progress : bool
        Show a tqdm progress bar.
    dense_mass : bool
        Adapt a dense instead of a diagonal inverse mass matrix.
    value_and_grad_fn : callable, optional
        ``z: (dim,) -> (log density as float or scalar tensor, gradient (dim,))``, e.g. an
        analytic gradient; replaces autograd on ``log_density_fn`` (which may then be None).
        If it also has a ``value_and_grad_numpy`` method (as
        :class:`~pyro_bnn.inference.analytic.AnalyticGradient`), the CPU sampler calls
        that on its numpy arrays directly, without converting to torch and back; if it
        has a ``native_transition`` method (as
        :class:`~pyro_bnn.inference.native.NativeBNN`), each transition is that one call.

    Returns
    -------
    NUTSResult
        ``samples (num_samples, dim)`` and diagnostics.

    Raises
    ------
    ValueError
        Bad arguments, or ``log_density_fn(initial)`` is not finite.

    Example
    -------
    >>> result = sample_nuts(lambda z: -0.5 * (z**2).sum(), torch.zeros(3), 200, 200)
    >>> result.samples.shape
    torch.Size([200, 3])
    """
    _check_arguments(initial, num_samples, warmup_steps, target_accept_prob, max_tree_depth)
    if log_density_fn is None and value_and_grad_fn is None:
        raise ValueError("sample_nuts needs log_density_fn or value_and_grad_fn, got neither")
    for name, fn in (("log_density_fn", log_density_fn), ("value_and_grad_fn", value_and_grad_fn)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
    chain = _Chain(
        log_density_fn,
        value_and_grad_fn,
        max_tree_depth,
        dense_mass,
        arrays_for(initial, int(seed)),
        initial.shape[0],
    )
    # non-finite densities and energies are handled (as zero density / divergence), so
    # numpy's overflow warnings from far in the tails are noise
    with (
        pyro.validation_enabled(False),
        torch.enable_grad(),
        np.errstate(over="ignore", invalid="ignore"),
    ):
        return _run(chain, initial, num_samples, warmup_steps, target_accept_prob, progress)


def _run(chain: _Chain, initial, num_samples, warmup_steps, target_accept_prob, progress):
    arrays = chain.arrays
    z = arrays.from_torch(initial)
    log_density, grad = chain.value_and_grad(z)
    if not math.isfinite(log_density) or not bool(torch.isfinite(arrays.to_torch(grad)).all()):
        raise ValueError(
            f"log_density_fn(initial) must be finite with a finite gradient, got "
            f"{log_density}; start from a point inside the support"
        )
    step_size = chain.reasonable_step_size(z, log_density, grad, 1.0)
    warmup = WarmupAdaptation(warmup_steps, target_accept_prob, step_size, chain.dense_mass)

    total = warmup_steps + num_samples
    samples = []
    log_densities = torch.empty(num_samples, dtype=torch.float64)
    tree_depths = torch.empty(num_samples, dtype=torch.long)
    num_steps = torch.empty(num_samples, dtype=torch.long)
    divergent = torch.zeros(num_samples, dtype=torch.bool)
    accept_probs = torch.empty(num_samples, dtype=torch.float64)
    energy = torch.empty(num_samples, dtype=torch.float64)
    accept_sum, warmup_divergences = 0.0, 0
    bar = _progress_bar(total) if progress else None

    for t in range(total):
        z, log_density, grad, depth, accept_prob = chain.transition(z, log_density, grad, step_size)
        if t < warmup_steps:
            warmup_divergences += chain.divergent
            inverse_mass_matrix = warmup.step(t, accept_prob, arrays.to_torch(z))
            if inverse_mass_matrix is not None:
                chain.set_inverse_mass_matrix(inverse_mass_matrix)
                warmup.restart(chain.reasonable_step_size(z, log_density, grad, warmup.step_size))
            step_size = warmup.step_size
        else:
            i = t - warmup_steps
            samples.append(z)
            log_densities[i] = log_density
            tree_depths[i] = depth
            num_steps[i] = chain.num_leapfrog
            divergent[i] = chain.divergent
            accept_probs[i] = accept_prob
            energy[i] = chain.draw_energy
            accept_sum += accept_prob
        if bar is not None:
            bar.update()
            if t % 10 == 0 or t == total - 1:
                phase = "warmup" if t < warmup_steps else "sample"
                bar.set_postfix_str(f"{phase} step {step_size:.2e} depth {depth}", refresh=False)
    if bar is not None:
        bar.close()
    return NUTSResult(
        samples=arrays.stack(samples, chain.dim),
        log_density=log_densities,
        step_size=step_size,
        inverse_mass_matrix=chain.inverse_mass_matrix,
        tree_depths=tree_depths,
        num_steps=num_steps,
        divergent=divergent,
        num_divergences=int(divergent.sum()),
        num_warmup_divergences=int(warmup_divergences),
        accept_prob=accept_sum / num_samples,
        num_grad_evals=chain.num_grad_evals,
        accept_probs=accept_probs,
        energy=energy,
    )


def _progress_bar(total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="NUTS", unit="it")
