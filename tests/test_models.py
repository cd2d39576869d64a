"""Every bundled model file runs through the installed ``pyro-bnn fit`` in a fast mode.

The fits run as subprocesses of the entry point (as a user runs them), a few at a
time, with ``--set`` shrinking the step counts so the whole file takes tens of
seconds. What is checked: exit code 0, a complete run directory with every plot,
metrics of the right kind, and that the run loads back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MODEL_FILES = sorted((REPO / "models").glob("*.toml"))

# Tiny budgets: enough to exercise every code path, not to fit well.
FAST = {
    "inference.num_steps": "30",
    "inference.num_samples": "15",
    "inference.warmup_steps": "15",
    "inference.max_tree_depth": "4",
    "predict.num_draws": "30",
    "predict.grid": "25",
    "plots.function_draws": "3",
    "plots.dpi": "50",
}
MAX_PARALLEL = 3


def entry_point() -> list[str]:
    exe = shutil.which("pyro-bnn")
    return [exe] if exe else [sys.executable, "-m", "pyro_bnn"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """Fit every model file in parallel subprocesses (all their data ships with the repo)."""
    root = tmp_path_factory.mktemp("model_runs")
    pending = list(MODEL_FILES)
    running: dict[str, tuple[Path, subprocess.Popen]] = {}
    done: dict[str, tuple[Path, subprocess.CompletedProcess]] = {}
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    while pending or running:
        while pending and len(running) < MAX_PARALLEL:
            path = pending.pop(0)
            out = root / path.stem
            overrides = [
                item for key, value in FAST.items() for item in ("--set", f"{key}={value}")
            ]
            command = [*entry_point(), "fit", str(path), "--out", str(out), "--quiet", *overrides]
            process = subprocess.Popen(
                command,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            running[path.stem] = (out, process)
        for name, (out, process) in list(running.items()):
            if process.poll() is not None:
                stdout, stderr = process.communicate()
                done[name] = (
                    out,
                    subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr),
                )
                del running[name]
        time.sleep(0.2)
    return done


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
@pytest.mark.slow
def test_model_file_fits_through_the_cli(fitted, path):
    out, result = fitted[path.stem]
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert f"wrote {out}" in result.stdout
    for name in ("spec.toml", "posterior.pt", "metrics.json", "predictions.csv", "fit.log"):
        assert (out / name).is_file(), name
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert plots == ["calibration.png", "diagnostics.png", "uncertainty.png"], result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    expected = (
        {"rmse", "test_ll", "crps"}
        if metrics["task"] == "regression"
        else {"accuracy", "nll", "ece"}
    )
    assert expected <= set(metrics["test"])
    assert not [w for w in metrics["warnings"] if "plot failed" in w]

    from pyro_bnn.app import load_run

    run = load_run(out)
    assert run.spec.description == metrics["description"]
    assert run.data.x_test is not None


def test_classification_ood_reports_the_star(fitted):
    out, result = fitted["classification_ood"]
    assert result.returncode == 0, result.stderr
    query = json.loads((out / "metrics.json").read_text())["query_points"]
    assert query and query[0]["x"] == [5.0, 7.0]


@pytest.mark.slow
def test_models_command_lists_every_file_via_the_entry_point():
    done = subprocess.run(
        [*entry_point(), "models"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    for path in MODEL_FILES:
        first_comment = path.read_text().splitlines()[0].lstrip("# ").strip()
        assert f"{path.stem}" in done.stdout and first_comment in done.stdout
