"""The tutorial notebooks: each one runs top to bottom in fast mode, and the committed
copies are executed, carry their figures and no errors, warnings noise or progress bars.

Fast mode (``PYRO_BNN_FAST=1``) shrinks every step and draw count, so the whole file
takes a minute or two; the notebooks are marked slow for that reason.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))
EXPECTED = (
    "01_why_bayesian.ipynb",
    "02_bnn_regression.ipynb",
    "03_bnn_classification.ipynb",
    "04_variational_inference.ipynb",
    "05_uncertainty_on_real_data.ipynb",
    "06_your_own_pyro_model.ipynb",
)
# Committed outputs must stay small enough to review in a pull request.
MAX_NOTEBOOK_BYTES = 1_500_000
PROGRESS_BAR = re.compile(r"\d+%\|[^|]*\||it/s\]|s/it\]")


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _code_cells(notebook: dict) -> list[dict]:
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def test_all_tutorials_are_present_and_listed_in_the_readme():
    names = [path.name for path in NOTEBOOKS]
    assert names == list(EXPECTED), f"tutorials/ holds {names}"
    readme = (TUTORIALS / "README.md").read_text(encoding="utf-8")
    positions = [readme.find(name) for name in EXPECTED]
    assert all(p >= 0 for p in positions), "every notebook must be listed in tutorials/README.md"
    assert positions == sorted(positions), "README must list the notebooks in reading order"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_reads_fast_mode_and_uses_public_api(path):
    cells = _code_cells(_read(path))
    assert 'os.environ.get("PYRO_BNN_FAST") == "1"' in _source(cells[0])
    for cell in cells:
        source = _source(cell)
        # Private helpers (pyro_bnn.<module>._name or pyro_bnn.inference...) are not for users.
        assert not re.search(r"pyro_bnn(\.\w+)*\._\w", source), source
        assert "pyro_bnn.inference" not in source, source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_executed_with_figures_and_clean_outputs(path):
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES, f"{path.name} outputs are too large"
    cells = _code_cells(_read(path))
    counts = [cell["execution_count"] for cell in cells]
    assert all(isinstance(c, int) for c in counts), f"{path.name} has unexecuted cells"
    assert counts == list(range(1, len(cells) + 1)), f"{path.name} was not run top to bottom"
    figures = 0
    for cell in cells:
        for output in cell["outputs"]:
            assert output["output_type"] != "error", f"{path.name}: {output.get('evalue')}"
            text = output.get("text", "")
            text = text if isinstance(text, str) else "".join(text)
            assert not PROGRESS_BAR.search(text), f"{path.name} has a progress bar: {text[:200]}"
            if output["output_type"] == "stream" and output["name"] == "stderr":
                # The only stderr a reader should see is a warning the text explains.
                assert "MeanFieldCollapseWarning" in text, f"{path.name} stderr: {text[:300]}"
            figures += "image/png" in output.get("data", {})
    assert figures >= 3, f"{path.name} shows only {figures} figures"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_fast_mode(path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("PYRO_BNN_FAST", "1")
    # The kernel must find the same interpreter (and its pyro-bnn script) as the tests.
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(TUTORIALS)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell


# Numbers the text quotes that are not outputs: constants and conventions, with the reason.
NOT_OUTPUTS = {
    "01_why_bayesian.ipynb": {"0.07": "the gap between two printed correlations"},
    "03_bnn_classification.ipynb": {"0.69": "log 2, the largest entropy of two classes"},
    "04_variational_inference.ipynb": {"1.01": "the usual R-hat threshold"},
}
QUOTED_NUMBER = re.compile(r"(?<![\w.$])[-−]?\d+\.\d{2,}(?![\w])")
ANY_NUMBER = re.compile(r"[-−]?\d+\.\d+(?:[eE][-+]?\d+)?")


def _numbers_in_outputs(notebook: dict) -> list:
    from decimal import Decimal

    texts = []
    for cell in _code_cells(notebook):
        texts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            texts.append("".join(output.get("data", {}).get("text/plain", "")))
    return [Decimal(v.replace("−", "-")) for v in ANY_NUMBER.findall(" ".join(texts))]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_numbers_the_text_quotes_are_in_the_committed_outputs(path):
    """Every decimal number in a markdown cell (two or more decimals) is, rounded as
    quoted, a number the notebook's own code or outputs show: the text cannot quote a
    result that the committed run did not produce."""
    from decimal import ROUND_HALF_UP, Decimal

    notebook = _read(path)
    shown = _numbers_in_outputs(notebook)
    allowed = NOT_OUTPUTS.get(path.name, {})
    unbacked = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for quoted in QUOTED_NUMBER.findall("".join(cell["source"])):
            if quoted in allowed:
                continue
            value = Decimal(quoted.replace("−", "-"))
            places = Decimal(1).scaleb(value.as_tuple().exponent)
            if not any(abs(v).quantize(places, ROUND_HALF_UP) == abs(value) for v in shown):
                unbacked.append(quoted)
    assert not unbacked, f"{path.name} quotes numbers no output shows: {unbacked}"
