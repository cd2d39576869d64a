"""Stan's warm-up for NUTS: dual averaging of the step size, windowed mass-matrix estimates.

:class:`WarmupAdaptation` holds the schedule (Hoffman and Gelman 2014; Stan's windows:
initial buffer 75, doubling windows from 25, terminal buffer 50) on top of Pyro's
:class:`~pyro.ops.dual_averaging.DualAveraging` and
:class:`~pyro.ops.welford.WelfordCovariance`; the sampler asks it for the next step size
and when to set a new inverse mass matrix.
"""

from __future__ import annotations

import math

import torch
from pyro.ops.dual_averaging import DualAveraging
from pyro.ops.welford import WelfordCovariance

__all__ = ["adaptation_windows", "WarmupAdaptation"]


def adaptation_windows(
    warmup_steps: int,
    initial_buffer: int = 75,
    term_buffer: int = 50,
    base_window: int = 25,
) -> list[tuple[int, int]]:
    """Stan's slow-adaptation windows for the mass matrix.

    Returns ``[(start, end), ...]`` (inclusive warm-up iteration indices) of the
    windows over which draws are collected; the mass matrix is re-estimated at each
    ``end``. Windows double in length; the last one absorbs what would be too short a
    next window. Fewer than 20 warm-up steps: no mass-matrix adaptation (``[]``). When
    the buffers and first window do not fit, they become 15% / 10% / the rest of
    warm-up, as in Stan.
    """
    if warmup_steps < 20:
        return []
    if initial_buffer + term_buffer + base_window > warmup_steps:
        initial_buffer = int(0.15 * warmup_steps)
        term_buffer = int(0.1 * warmup_steps)
        base_window = warmup_steps - initial_buffer - term_buffer
    end_of_windows = warmup_steps - term_buffer
    windows = []
    start, size = initial_buffer, base_window
    while start < end_of_windows:
        if start + 3 * size > end_of_windows:  # the next window would be too short
            size = end_of_windows - start
        windows.append((start, start + size - 1))
        start, size = start + size, 2 * size
    return windows


class WarmupAdaptation:
    """The warm-up schedule of one chain.

    Parameters
    ----------
    warmup_steps : int
        Number of warm-up transitions.
    target_accept_prob : float
        Dual averaging's target acceptance probability.
    step_size : float
        The initial step size (from the "reasonable step size" heuristic).
    dense_mass : bool
        Estimate a dense (else diagonal) inverse mass matrix.
    """

    def __init__(
        self, warmup_steps: int, target_accept_prob: float, step_size: float, dense_mass: bool
    ):
        self.warmup_steps = warmup_steps
        self.target_accept_prob = target_accept_prob
        self.step_size = step_size
        self._dual_averaging = DualAveraging(prox_center=math.log(10 * step_size))
        windows = adaptation_windows(warmup_steps)
        self._window_ends = {end for _, end in windows}
        self._in_window = [False] * warmup_steps
        for start, end in windows:
            for t in range(start, end + 1):
                self._in_window[t] = True
        self._welford = WelfordCovariance(diagonal=not dense_mass)

    def step(self, t: int, accept_prob: float, z: torch.Tensor) -> torch.Tensor | None:
        """Record transition ``t`` (its acceptance probability and new state ``z``).

        Returns a new inverse mass matrix at the end of a window (the caller sets it and
        calls :meth:`restart` with a fresh reasonable step size), else ``None``. After
        the last warm-up step :attr:`step_size` is the final, averaged step size.
        """
        self._dual_averaging.step(self.target_accept_prob - min(accept_prob, 1.0))
        self.step_size = math.exp(self._dual_averaging.get_state()[0])
        inverse_mass_matrix = None
        if self._in_window[t]:
            self._welford.update(z)
        if t in self._window_ends:
            inverse_mass_matrix = self._welford.get_covariance(regularize=True)
            self._welford.reset()
        if t == self.warmup_steps - 1:
            self.step_size = math.exp(self._dual_averaging.get_state()[1])
        return inverse_mass_matrix

    def restart(self, step_size: float) -> None:
        """Restart dual averaging from ``step_size`` (after a new mass matrix)."""
        self.step_size = step_size
        self._dual_averaging = DualAveraging(prox_center=math.log(10 * step_size))
