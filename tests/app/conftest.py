"""Fixtures of the application tests: one tiny fitted run shared by the modules."""

from __future__ import annotations

import pytest

from pyro_bnn.app.fit import fit_run

from .helpers import TINY_REGRESSION, tiny


@pytest.fixture(scope="package")
def regression_run(tmp_path_factory):
    """A tiny SVI regression run (toy:gap), fitted once for the tests of this folder."""
    out = tmp_path_factory.mktemp("runs") / "gap"
    return fit_run(tiny(TINY_REGRESSION), out, quiet=True)
