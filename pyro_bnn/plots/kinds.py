"""The plot kinds of a run directory: one registry read by the spec schema, the CLI and the run.

This module does not import matplotlib, so the spec and the CLI can read it cheaply.

Example
-------
>>> from pyro_bnn.plots.kinds import RUN_PLOT_KINDS
>>> list(RUN_PLOT_KINDS)
['uncertainty', 'diagnostics', 'calibration', 'ppc', 'prior_predictive']
>>> DEFAULT_PLOT_KINDS
('uncertainty', 'diagnostics', 'calibration')
"""

from __future__ import annotations

import textwrap
from typing import NamedTuple

__all__ = ["PlotKind", "RUN_PLOT_KINDS", "PLOT_KINDS", "DEFAULT_PLOT_KINDS", "describe_plot_kinds"]


class PlotKind(NamedTuple):
    """One kind of run plot: its name (also the PNG file name), what it shows, what draws it.

    ``functions`` names the :mod:`pyro_bnn.plots` functions the kind is drawn with;
    ``default``: drawn when a model file does not list its ``[plots] kinds``.
    """

    name: str
    description: str
    functions: tuple[str, ...]
    default: bool = True


RUN_PLOT_KINDS: dict[str, PlotKind] = {
    kind.name: kind
    for kind in (
        PlotKind(
            "uncertainty",
            "1-D regression: data, mean, epistemic and total bands; 2-D classification: "
            "probability, entropy and mutual-information maps; otherwise predicted vs "
            "observed (regression) or uncertainty histograms (classification)",
            ("plot_regression", "plot_classification", "plot_predicted_vs_observed"),
        ),
        PlotKind(
            "diagnostics",
            "ELBO curve (SVI) or trace and rank plots (NUTS)",
            ("plot_diagnostics",),
        ),
        PlotKind(
            "calibration",
            "calibration curve (regression) or reliability diagram (classification)",
            ("plot_calibration", "plot_reliability"),
        ),
        PlotKind(
            "ppc",
            "posterior predictive check on the training data: observed vs replicated data "
            "(regression: densities and a test statistic; classification: class frequencies)",
            ("plot_ppc",),
            default=False,
        ),
        PlotKind(
            "prior_predictive",
            "prior predictive check: function draws and replicated data from the prior, "
            "with the training data",
            ("plot_prior_predictive",),
            default=False,
        ),
    )
}
"""Every run plot kind by name, in the default drawing order."""

PLOT_KINDS: tuple[str, ...] = tuple(RUN_PLOT_KINDS)
"""The names of :data:`RUN_PLOT_KINDS`."""

DEFAULT_PLOT_KINDS: tuple[str, ...] = tuple(k.name for k in RUN_PLOT_KINDS.values() if k.default)
"""The kinds a run draws when its model file does not say (the predictive checks are opt-in)."""


def describe_plot_kinds(indent: str = "", width: int | None = None) -> str:
    """One ``"name: description"`` entry per run plot kind (for help texts).

    Each entry starts with ``indent``; with ``width`` it is wrapped to that many
    characters, continuation lines indented two more spaces.
    """
    entries = [f"{kind.name}: {kind.description}" for kind in RUN_PLOT_KINDS.values()]
    if width is None:
        return "\n".join(indent + entry for entry in entries)
    return "\n".join(
        textwrap.fill(
            entry,
            width,
            initial_indent=indent,
            subsequent_indent=indent + "  ",
            break_on_hyphens=False,
        )
        for entry in entries
    )
