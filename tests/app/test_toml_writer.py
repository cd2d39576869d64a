"""The TOML writer of resolved model files."""

from __future__ import annotations

import tomllib

import pytest

from pyro_bnn.app.toml_writer import to_toml


def test_to_toml_round_trips_awkward_values():
    sections = {
        "a": {
            "text": 'quote " backslash \\ newline \n tab \t unicode é ∞',
            "small": 1e-5,
            "big": 1e20,
            "whole": 3.0,
            "negative": -2,
            "flag": False,
            "points": [[5.0, 7.0], [-1.5, 0.0]],
            "names": ["x", "y"],
            "empty": [],
            "skipped": None,
        }
    }
    parsed = tomllib.loads(to_toml(sections))
    expected = {k: v for k, v in sections["a"].items() if v is not None}
    assert parsed == {"a": expected}
    assert isinstance(parsed["a"]["whole"], float)


def test_to_toml_rejects_unknown_types():
    with pytest.raises(TypeError, match=r"a\.thing"):
        to_toml({"a": {"thing": object()}})
