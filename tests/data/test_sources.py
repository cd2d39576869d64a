"""Data source strings (load_source): dispatch and errors."""

from __future__ import annotations

import numpy as np
import pytest

from pyro_bnn.data import (
    load_source,
    make_gap_regression,
)

from .helpers import write


def test_load_source_toy_with_options():
    data = load_source("toy:gap", num_points=40, seed=1)
    np.testing.assert_array_equal(data.x, make_gap_regression(num_points=40, seed=1).x)


def test_load_source_csv(tmp_path):
    write(tmp_path / "d.csv", "a,t\n1,2\n3,4\n")
    assert load_source("csv:d.csv", base_dir=tmp_path, target="t").y.tolist() == [2.0, 4.0]
    with pytest.raises(ValueError, match="needs the name of its target column"):
        load_source(f"csv:{tmp_path / 'd.csv'}")


@pytest.mark.parametrize(
    "source, kwargs, match",
    [
        ("tyo:gap", {}, "unknown data source scheme 'tyo' .*did you mean 'toy'.*valid schemes: "
         "toy, sklearn, csv, uci"),
        ("gap", {}, "must look like '<scheme>:<name or path>'"),
        ("toy:", {}, "names no dataset"),
        ("toy:two_moon", {}, "unknown toy dataset 'two_moon' \\(did you mean 'two_moons'\\?\\); "
         "valid names: gap, linear"),
        ("toy:gap", {"num_point": 3},
         "does not take option 'num_point' \\(did you mean 'num_points'"),
        ("sklearn:iris", {"seed": 0}, "does not take option 'seed'; valid options: \\(none\\)"),
        ("uci:somewhere", {"splt": 1}, "did you mean 'split'"),
    ],
)  # fmt: skip
def test_load_source_errors(source, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_source(source, **kwargs)
