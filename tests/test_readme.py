"""The README's Python example and figure scripts run, and the README shows the same code."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _between_markers(text: str) -> str:
    return text.split("# --- README ---\n", 1)[1].split("# --- end README ---", 1)[0]


def test_readme_python_block_is_the_example_script():
    script = _between_markers((ROOT / "tutorials" / "readme_example.py").read_text())
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    expected = script.replace("  # noqa: E402", "").replace("num_steps=STEPS", "num_steps=5000")
    expected = expected.replace('OUT / "readme_diabetes.png"', '"diabetes.png"')
    assert expected.strip() in [block.strip() for block in blocks]


@pytest.mark.parametrize("script", ["readme_example.py", "point_vs_bayes.py"])
@pytest.mark.slow
def test_figure_scripts_run_in_fast_mode(script, tmp_path):
    env = dict(os.environ, PYRO_BNN_FAST="1", MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, str(ROOT / "tutorials" / script), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(tmp_path.glob("*.png"))
    if script == "readme_example.py":
        metrics = json.loads(result.stdout.strip().splitlines()[-1])
        assert {"rmse", "test_ll", "coverage_90"} <= set(metrics)


def test_readme_calibration_table_is_the_committed_benchmark():
    """The NLL / ECE pairs of the README's calibration table are bench_defaults' numbers."""
    results = json.loads((ROOT / "bench" / "results" / "defaults.json").read_text())
    readme = (ROOT / "README.md").read_text()
    for name, label in (("breast_cancer", "breast cancer"), ("digits", "digits")):
        entry = results["calibration"][name]
        (row,) = [line for line in readme.splitlines() if line.startswith(f"| {label} (`")]
        cells = [cell.strip() for cell in row.strip("|").split("|")][1:]
        rows = (entry["svi"]["model_file"], entry["nuts"], entry["logistic_regression"])
        for cell, scores in zip(cells, rows, strict=True):
            nll, ece = (float(v) for v in re.findall(r"\d+\.\d+", cell)[:2])
            assert (nll, ece) == (round(scores["nll"], 3), round(scores["ece"], 3)), (label, cell)
