"""The application layer sits on the library's public API; old import paths still work."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import pyro_bnn as pb
import pyro_bnn.app as app

APP_DIR = Path(app.__file__).parent
MOVED = ("load_run", "fit_run", "Run", "load_spec", "ModelSpec", "SpecError")


def _library_imports(path: Path):
    """``(module, name)`` for every ``from ..X import name`` of the library in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 2:
            for alias in node.names:
                yield node.module or "", alias.name


@pytest.mark.parametrize("path", sorted(APP_DIR.glob("*.py")), ids=lambda p: p.name)
def test_app_imports_no_private_library_names(path):
    private = [
        f"{module}.{name}"
        for module, name in _library_imports(path)
        if name.startswith("_") and not name.startswith("__")
    ]
    private += [module for module, _ in _library_imports(path) if module.startswith("_")]
    assert private == []


@pytest.mark.parametrize("path", sorted(APP_DIR.glob("*.py")), ids=lambda p: p.name)
def test_app_modules_stay_small(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 600


def test_pyro_bnn_exports_the_modelling_api_only():
    assert not set(MOVED) & set(pb.__all__)
    assert {"fit_svi", "fit_nuts", "predict", "Posterior", "BayesianMLP"} <= set(pb.__all__)


@pytest.mark.parametrize("name", MOVED)
def test_moved_names_still_work_with_a_deprecation_warning(name):
    with pytest.warns(DeprecationWarning, match=rf"from pyro_bnn\.app import {name}"):
        value = getattr(pb, name)
    assert value is getattr(app, name)


@pytest.mark.parametrize(
    "module, names",
    [
        (
            "pyro_bnn.spec",
            ["load_spec", "parse_spec", "ModelSpec", "SpecError", "SCHEMA", "to_toml"],
        ),
        ("pyro_bnn.run", ["fit_run", "load_run", "Run", "make_plots", "write_csv", "RUN_FILES"]),
        ("pyro_bnn.cli", ["main", "build_parser", "find_models_dir", "resolve_model_file"]),
    ],
)
def test_old_module_paths_re_export(module, names):
    old = importlib.import_module(module)
    for name in names:
        assert hasattr(old, name), f"{module}.{name}"
