"""pyro_bnn.plots.kinds: one registry of run plot kinds, read by the spec, the CLI and the run."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from pyro_bnn import plots
from pyro_bnn.app import cli, figures, schema
from pyro_bnn.plots.kinds import (
    DEFAULT_PLOT_KINDS,
    PLOT_KINDS,
    RUN_PLOT_KINDS,
    describe_plot_kinds,
)


def _plot_subparser() -> argparse.ArgumentParser:
    commands = next(
        action
        for action in cli.build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    return commands.choices["plot"]


def test_spec_cli_and_run_read_the_registry():
    assert PLOT_KINDS == ("uncertainty", "diagnostics", "calibration", "ppc", "prior_predictive")
    assert schema.SCHEMA["plots"]["kinds"].choices == PLOT_KINDS
    # the predictive checks are drawn when a model file asks for them
    assert DEFAULT_PLOT_KINDS == ("uncertainty", "diagnostics", "calibration")
    assert schema.SCHEMA["plots"]["kinds"].default == list(DEFAULT_PLOT_KINDS)
    kind_option = next(a for a in _plot_subparser()._actions if a.dest == "kind")
    assert tuple(kind_option.choices) == PLOT_KINDS
    assert list(figures._PLOT_DRAWERS) == list(RUN_PLOT_KINDS)  # every kind has a drawer


def test_every_kind_names_public_plot_functions():
    for name, kind in RUN_PLOT_KINDS.items():
        assert kind.name == name and kind.description and kind.functions
        for function in kind.functions:
            assert function in plots.__all__ and callable(getattr(plots, function))


def test_plot_help_lists_every_kind_with_its_description(capsys):
    assert cli.main(["plot", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())  # wrapped lines joined
    for kind in RUN_PLOT_KINDS.values():
        assert f"{kind.name}: {kind.description}" in help_text
    assert describe_plot_kinds().splitlines()[1] == (
        "diagnostics: ELBO curve (SVI) or trace and rank plots (NUTS)"
    )


@pytest.mark.slow
def test_reading_the_registry_does_not_import_matplotlib():
    code = (
        "import sys, pyro_bnn, pyro_bnn.plots, pyro_bnn.plots.kinds, pyro_bnn.spec, "
        "pyro_bnn.cli, pyro_bnn.app.cli; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'; "
        "pyro_bnn.plots.plot_regression; assert 'matplotlib' in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_public_name_of_the_package_resolves():
    for name in plots.__all__:
        assert getattr(plots, name) is not None
        assert name in dir(plots)
    assert plots.regression.plot_regression is plots.plot_regression
    with pytest.raises(AttributeError, match="no attribute 'plot_nothing'"):
        plots.plot_nothing  # noqa: B018
