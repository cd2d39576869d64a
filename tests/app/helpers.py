"""Model-file snippets, tiny specs and helpers shared by the application tests."""

from __future__ import annotations

from pathlib import Path

from pyro_bnn.app.spec import parse_spec

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
MODEL_FILES = sorted(MODELS.glob("*.toml"))
MINIMAL = '[data]\nsource = "toy:gap"\n'

TINY_REGRESSION = {
    "model": {"hidden": [3]},
    "data": {"source": "toy:gap", "num_points": 40, "test_fraction": 0.25},
    "inference": {"guide": "mvn", "num_steps": 40, "lr": 0.05},
    "predict": {"num_draws": 30, "grid": 20},
    "plots": {"enabled": False},
}
TINY_CLASSIFICATION = {
    "model": {"task": "classification", "hidden": [3]},
    "data": {"source": "toy:two_class_ood", "num_points": 40},
    "inference": {"num_steps": 30},
    "predict": {"num_draws": 20},
    "plots": {"enabled": False},
}


def tiny(raw: dict, **overrides):
    """A spec from a dict, with ``{"section.key": value}`` overrides."""
    spec = parse_spec(raw)
    return spec.with_overrides(overrides) if overrides else spec


def leftovers(folder: Path) -> list[str]:
    """Temporary run folders left next to the runs."""
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def write(tmp_path: Path, text: str, name: str = "m.toml") -> Path:
    """Write a model file ``name`` with ``text`` under ``tmp_path``."""
    path = tmp_path / name
    path.write_text(text)
    return path
