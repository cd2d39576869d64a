"""Is an SVI fit finished? A check of the ELBO history for a still-rising end.

SVI that stops while the ELBO is still rising looks like an answer: the posterior
is too narrow or in the wrong place, and nothing says so. :func:`elbo_still_improving`
compares the end of the ELBO history with the stretch just before it and, when the
ELBO is clearly still going up, returns a plain-words warning that says what to change.

The check is a pure function of the history (a list of per-step ELBO estimates,
as in ``posterior.diagnostics["elbo"]``); it fits nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["elbo_still_improving", "elbo_trend", "ElboTrend", "ConvergenceWarning"]


class ConvergenceWarning(UserWarning):
    """A fit has not converged: NUTS diagnostics (R-hat, ESS, E-BFMI, divergences) or an
    SVI ELBO that is still rising."""


#: Fraction of each window trimmed from either end for the robust window means.
TRIM = 0.2
#: Fewest steps per window: shorter windows give too rough a noise estimate.
MIN_WINDOW = 20


class ElboTrend:
    """The numbers behind :func:`elbo_still_improving` (see :func:`elbo_trend`).

    Attributes
    ----------
    improvement : float
        Robust (trimmed) mean ELBO of the last window minus that of the window before, nats.
    standard_error : float
        Its standard error, from the per-step fluctuations about a line in each window,
        corrected for autocorrelation.
    autocorrelation : float
        The lag-1 autocorrelation of those fluctuations used in the correction.
    z : float
        ``improvement / standard_error`` (``inf`` for a noiseless rise).
    window : int
        Steps per window.
    """

    __slots__ = ("improvement", "standard_error", "z", "window", "autocorrelation")

    def __init__(
        self,
        improvement: float,
        standard_error: float,
        z: float,
        window: int,
        autocorrelation: float = 0.0,
    ):
        self.improvement = improvement
        self.standard_error = standard_error
        self.z = z
        self.window = window
        self.autocorrelation = autocorrelation

    def __repr__(self) -> str:
        return (
            f"ElboTrend(improvement={self.improvement:.4g}, standard_error="
            f"{self.standard_error:.4g}, z={self.z:.3g}, window={self.window}, "
            f"autocorrelation={self.autocorrelation:.2f})"
        )


def _window_summary(values: np.ndarray) -> tuple[float, np.ndarray, float]:
    """Trimmed mean of one window, residuals about a line, winsorized residual variance.

    The window is winsorized at its ``TRIM`` quantiles (heavy tails), then a
    least-squares line is taken out, so a steady rise inside the window does not
    count as noise.
    """
    n = values.shape[0]
    order = np.sort(values)
    cut = int(math.floor(TRIM * n))
    trimmed_mean = float(order[cut : n - cut].mean())
    winsorized = np.clip(values, order[cut], order[n - cut - 1])
    steps = np.arange(n, dtype=np.float64)
    slope, intercept = np.polyfit(steps, winsorized, 1)
    residual = winsorized - (slope * steps + intercept)
    return trimmed_mean, residual, float(residual.var(ddof=2))


def _lag1_autocorrelation(residuals: list[np.ndarray]) -> float:
    """Lag-1 autocorrelation pooled over windows, bias-corrected, clipped to [0, 0.95].

    A wandering optimiser makes neighbouring ELBO estimates alike; the correction
    ``(1 + 4 rho) / n`` (Marriott and Pope 1954) undoes most of the downward bias of
    the estimate in short windows.
    """
    numerator = sum(float(np.dot(r[1:], r[:-1])) for r in residuals)
    denominator = sum(float(np.dot(r, r)) for r in residuals)
    if denominator <= 0:
        return 0.0
    rho = numerator / denominator
    length = sum(r.shape[0] for r in residuals) / len(residuals)
    rho += (1.0 + 4.0 * rho) / length
    return min(max(rho, 0.0), 0.95)


def elbo_trend(
    history: Sequence[float], window: float = 0.1, earlier_end: float | None = None
) -> ElboTrend:
    """Robust change of the ELBO between the last window of ``history`` and an earlier one.

    Parameters
    ----------
    history : sequence of float, (num_steps,)
        Per-step ELBO estimates (higher is better), e.g. ``posterior.diagnostics["elbo"]``.
    window : float
        Length of each window as a fraction of the history (default the last 10% of
        the steps against the 10% before them); at least ``MIN_WINDOW`` (20) steps.
    earlier_end : float, optional
        Where the earlier window ends, as a fraction of the history (e.g. ``0.5``: the
        window before the half-way point); default: right where the last window starts.

    Returns
    -------
    ElboTrend
        The improvement, its standard error and their ratio ``z``.

    Raises
    ------
    ValueError
        When the history has fewer than 40 steps, non-finite values, or ``window``
        is not in (0, 0.5].
    """
    values = np.asarray(history, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"history must be a 1-D sequence of ELBO values, got shape {values.shape}")
    if not (isinstance(window, int | float) and 0 < window <= 0.5):
        raise ValueError(f"window must be a fraction in (0, 0.5], got {window!r}")
    if values.shape[0] < 2 * MIN_WINDOW:
        raise ValueError(
            f"history needs at least {2 * MIN_WINDOW} steps to compare two windows, "
            f"got {values.shape[0]}"
        )
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"history must be finite, found {values[bad]} at step {bad + 1}")
    size = max(MIN_WINDOW, int(values.shape[0] * window))
    end = values.shape[0] - size
    if earlier_end is not None:
        if not (isinstance(earlier_end, int | float) and 0 < earlier_end <= 1):
            raise ValueError(f"earlier_end must be a fraction in (0, 1], got {earlier_end!r}")
        end = min(end, max(size, int(values.shape[0] * earlier_end)))
    before_mean, before_residual, before_var = _window_summary(values[end - size : end])
    last_mean, last_residual, last_var = _window_summary(values[-size:])
    rho = _lag1_autocorrelation([before_residual, last_residual])
    # Yuen's standard error of a trimmed mean: winsorized std / ((1 - 2 TRIM) sqrt(n)),
    # with n the effective number of steps n (1 - rho) / (1 + rho) (AR(1) approximation)
    effective = size * (1.0 - rho) / (1.0 + rho)
    standard_error = math.sqrt((before_var + last_var) / effective) / (1.0 - 2.0 * TRIM)
    improvement = last_mean - before_mean
    if standard_error > 0:
        z = improvement / standard_error
    else:
        z = math.copysign(math.inf, improvement) if improvement != 0 else 0.0
    return ElboTrend(improvement, standard_error, z, size, rho)


def elbo_still_improving(
    history: Sequence[float],
    *,
    num_steps: int | None = None,
    lr: float | None = None,
    guide: str | None = None,
    window: float = 0.1,
    z_threshold: float = 4.0,
    min_improvement: float = 0.1,
    min_half_run_improvement: float = 0.5,
    min_steps: int = 50,
) -> str | None:
    """Plain-words warning when an ELBO history is still clearly rising at its end.

    The rule: the robust (20%-trimmed) mean ELBO of the last ``window`` (10%) of the
    steps is compared with that of two earlier stretches of the same length,

    1. the 10% just before it: a rise of more than ``min_improvement`` (0.1) nats, and
    2. the 10% before the half-way point: a rise of more than
       ``min_half_run_improvement`` (0.5) nats. With the default decaying learning rate
       an unfinished fit crawls at the end (the rate is a tenth of its start), so
       comparing neighbouring windows alone misses fits that are still far from the top;

    either counts only when it is also more than ``z_threshold`` (4) standard errors.
    The noise is measured from the per-step fluctuations about a straight line in each
    window (so a rise within a window is not mistaken for noise, and the smaller noise
    late in a decaying-rate fit is taken window by window), winsorized against the
    heavy tails of minibatch and single-sample ELBO estimates and corrected for
    autocorrelation. The nat thresholds keep a noiseless full-batch MAP fit that creeps
    up by thousandths of a nat from being flagged. Histories shorter than ``min_steps``
    (50) are too short to judge: ``None``.

    Parameters
    ----------
    history : sequence of float, (num_steps,)
        Per-step ELBO estimates (higher is better), as in ``posterior.diagnostics["elbo"]``.
    num_steps : int, optional
        The fit's ``num_steps`` for the message (default ``len(history)``).
    lr : float, optional
        The fit's learning rate for the message.
    guide : str, optional
        The fit's guide; ``"mvn"`` adds that full-rank guides of larger models need
        more steps.
    window : float
        Window length as a fraction of the history.
    z_threshold : float
        How many standard errors a rise must exceed.
    min_improvement : float
        Smallest rise (nats) over the previous window worth a warning.
    min_half_run_improvement : float
        Smallest rise (nats) since the window before the half-way point worth a warning.
    min_steps : int
        Shorter histories return ``None``.

    Returns
    -------
    str or None
        The warning text (for the caller to raise as :class:`ConvergenceWarning`),
        or ``None`` when the ELBO has levelled off or the history is too short.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> flat = -100 + rng.normal(size=2000)
    >>> elbo_still_improving(flat) is None
    True
    >>> rising = -100 + np.linspace(0, 5, 2000) + rng.normal(size=2000)
    >>> print(elbo_still_improving(rising, num_steps=2000, lr=0.01))  # doctest: +ELLIPSIS
    SVI may not have converged: the ELBO was still rising at the end ...
    """
    if len(history) < max(min_steps, 2 * MIN_WINDOW):
        return None
    recent = elbo_trend(history, window=window)
    since_half = elbo_trend(history, window=window, earlier_end=0.5)
    percent = round(100 * recent.window / len(history))
    if recent.z > z_threshold and recent.improvement > min_improvement:
        evidence = (
            f"mean of the last {percent}% of the steps {recent.improvement:.3g} nats above "
            f"the {percent}% before, {recent.z:.1f} standard errors of the step-to-step noise"
        )
    elif since_half.z > z_threshold and since_half.improvement > min_half_run_improvement:
        evidence = (
            f"mean of the last {percent}% of the steps {since_half.improvement:.3g} nats above "
            f"that of the {percent}% before the half-way point, {since_half.z:.1f} standard "
            "errors of the step-to-step noise"
        )
    else:
        return None
    steps = len(history) if num_steps is None else num_steps
    lr_text = "lr" if lr is None else f"lr (now {lr:g})"
    message = (
        f"SVI may not have converged: the ELBO was still rising at the end ({evidence}). "
        f"The posterior may be too narrow or off-centre: raise num_steps (now {steps}) or "
        f"{lr_text}, and check that posterior.diagnostics['elbo'] levels off."
    )
    if guide == "mvn":
        message += (
            " A full-rank guide ('mvn') has a parameter per pair of weights, so larger "
            "networks need many more steps; guide='lowrank' is cheaper."
        )
    return message
