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
    "07_bayesian_workflow.ipynb",
    "08_active_learning.ipynb",
)
# Committed outputs must stay small enough to review in a pull request.
MAX_NOTEBOOK_BYTES = 1_500_000
# Warnings a notebook may show (on stderr), each explained in its text.
STDERR_WARNINGS = ("MeanFieldCollapseWarning", "ConvergenceWarning", "WeightSymmetryNote")
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
    markdown = "\n".join(
        _source(cell) for cell in _read(path)["cells"] if cell["cell_type"] == "markdown"
    )
    figures = 0
    for cell in cells:
        for output in cell["outputs"]:
            assert output["output_type"] != "error", f"{path.name}: {output.get('evalue')}"
            text = output.get("text", "")
            text = text if isinstance(text, str) else "".join(text)
            assert not PROGRESS_BAR.search(text), f"{path.name} has a progress bar: {text[:200]}"
            if output["output_type"] == "stream" and output["name"] == "stderr":
                # The only stderr a reader should see is a pyro_bnn warning the text
                # explains, printed as "Category: message" (no kernel's temporary path).
                for line in text.strip().splitlines():
                    category = line.split(":")[0]
                    assert category in STDERR_WARNINGS, f"{path.name} stderr: {text[:300]}"
                    assert category in markdown, f"{path.name}: the text never names {category}"
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
    "05_uncertainty_on_real_data.ipynb": {
        "0.05": "the calibration error's levels 0.05, 0.10, ..., 0.95",
        "0.10": "the calibration error's levels",
        "0.95": "the calibration error's levels",
        "0.01": "0.1 squared, in the calibration error's definition",
    },
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


# --- The headline claims each notebook's text makes, checked against its committed outputs.
# The text is written from these outputs; if a re-run moves a number across the line a
# claim draws, the test says which claim to rewrite.


def _outputs(name: str) -> str:
    """All text outputs (stdout and plain-text results) of a committed notebook."""
    texts = []
    for cell in _code_cells(_read(TUTORIALS / name)):
        for output in cell.get("outputs", []):
            text = output.get("text", "") or output.get("data", {}).get("text/plain", "")
            texts.append(text if isinstance(text, str) else "".join(text))
    return "\n".join(texts)


def _sources(name: str) -> str:
    return "\n".join(_source(cell) for cell in _read(TUTORIALS / name)["cells"])


def _floats(pattern: str, text: str) -> list[float]:
    """Every match of ``pattern`` (its groups) as floats; fails if there is none."""
    found = re.findall(pattern, text)
    assert found, f"no output matches {pattern!r}"
    return [float(v) for match in found for v in (match if isinstance(match, tuple) else (match,))]


def _row(label: str, text: str) -> list[float]:
    """The numbers of the output line that starts with ``label``."""
    for line in text.splitlines():
        if line.strip().startswith(label):
            rest = line[line.index(label) + len(label) :]
            return [float(v) for v in re.findall(r"-?\d+\.\d+", rest)]
    raise AssertionError(f"no output line starts with {label!r}")


def test_01_star_probabilities_and_fading_match_the_text():
    out = _outputs("01_why_bayesian.ipynb")
    map_class1 = _floats(r"MAP\s+p\(class 0\) = [\d.]+, p\(class 1\) = ([\d.]+)", out)
    bayes_class1 = _floats(r"Bayesian\s+p\(class 0\) = [\d.]+, p\(class 1\) = ([\d.]+)", out)
    assert all(p >= 0.99 for p in map_class1)  # "~0.99 sure at both stars"
    assert 0.85 < bayes_class1[0] < 0.95  # (5, 7): "keeps a clear lean" (0.888)
    assert 0.55 < bayes_class1[1] < 0.75  # (2, 12): nearer a coin flip than MAP (0.620)
    readme = (TUTORIALS / "README.md").read_text(encoding="utf-8")
    assert f"{bayes_class1[0]:.2f} at the data set's own query point" in readme
    assert f"{bayes_class1[1]:.2f}/{1 - bayes_class1[1]:.2f} at (2, 12)" in readme
    r_hat = _floats(r"R-hat ([\d.]+), ([\d.]+);", out)
    assert max(r_hat) < 1.01  # "R-hat 1.00"
    ess = _floats(r"; ESS (\d+), (\d+)", out)  # the text quotes both, in the printed order
    assert "ESS {:.0f} and {:.0f} of 600\ndraws".format(*ess) in _sources("01_why_bayesian.ipynb")
    # The table of p(class 1) along five vertical lines at heights 0, 4, 8, 12.
    map_rows = [_row(f"MAP       x2 = {h:4d}", out) for h in (0, 4, 8, 12)]
    bayes_rows = [_row(f"Bayesian  x2 = {h:4d}", out) for h in (0, 4, 8, 12)]
    for column in range(5):  # MAP: a straight wall, the same at every height
        assert abs(map_rows[3][column] - map_rows[0][column]) <= 0.05
    for column in range(5):  # Bayesian: closer to 0.5 at x2 = 12 than on the data ...
        assert abs(bayes_rows[3][column] - 0.5) <= abs(bayes_rows[0][column] - 0.5)
    assert abs(bayes_rows[3][2] - 0.5) < 0.05  # ... a coin flip only at x1 = 0
    assert abs(bayes_rows[3][0] - 0.5) > 0.2 and abs(bayes_rows[3][4] - 0.5) > 0.2


def test_03_ood_aurocs_entropy_and_ece_match_the_text():
    out = _outputs("03_bnn_classification.ipynb")
    mutual_information = _row("Bayesian: mutual information", out)
    default_prior = _row("Bayesian, default prior: MI", out)
    assert mutual_information == sorted(mutual_information)  # better the further out
    assert min(mutual_information) > 0.6
    # the prior decides
    assert all(a > b for a, b in zip(mutual_information, default_prior, strict=True))
    assert max(_row("MAP: entropy", out)) < 0.5 and max(_row("Bayesian: entropy", out)) < 0.5
    assert max(_row("deep ensemble (5): MI", out)) < 0.5  # worse than chance
    # MC dropout: better than the Bayesian MI on the nearest ring, worse further out
    dropout = _row("MC dropout: MI", out)
    assert dropout[0] > mutual_information[0]
    assert all(d < m for d, m in zip(dropout[1:], mutual_information[1:], strict=True))
    # Entropy far away depends on the direction: below the test data's median in the
    # upper-left and lower-right corners, above it in the other two.
    median_entropy = _row("test data, median", out)[0]
    entropy = {
        corner.split(" (")[0]: _row(corner, out)[1]
        for corner in (
            "upper left (-4, 3)",
            "upper right (5, 3)",
            "lower left (-4, -2.5)",
            "lower right (5, -2.5)",
        )
    }
    assert entropy["upper left"] < median_entropy and entropy["lower right"] < median_entropy
    assert entropy["upper right"] > median_entropy and entropy["lower left"] > median_entropy
    assert max(_floats(r"median ([\d.]+), worst", out)) < 1.01  # R-hat of the predictions
    assert 1.01 < _floats(r"worst ([\d.]+)", out)[0] < 1.02  # "just above the usual 1.01"
    # Both NUTS fits: no ConvergenceWarning, a WeightSymmetryNote each (predictive R-hat
    # below 1.01), as the text says.
    assert "ConvergenceWarning:" not in out
    assert max(_floats(r"R-hat of the predictions is ([\d.]+)", out)) < 1.01
    assert out.count("WeightSymmetryNote:") == 2
    # One ECE bin count in the table and the reliability figure, and the text states it.
    source = _sources("03_bnn_classification.ipynb")
    assert "metrics.evaluate(pred, moons_test.y, num_bins=10)" in source
    assert "plots.plot_reliability(pred, moons_test.y, num_bins=10" in source
    assert "10 equal-width bins" in source
    assert source.count("raised no `ConvergenceWarning`") == 2  # the warnings the fits printed


def test_04_numbers_match_the_text():
    out = _outputs("04_variational_inference.ipynb")
    source = _sources("04_variational_inference.ipynb")
    assert "hand_elbo" not in source
    assert "exact posterior for a data set of 10 points" not in source
    for name in ("w1", "w2", "b"):
        optimum, _, fitted, unscaled = _row(f"{name}  ", out.split("batch 10")[1])[:4]
        assert abs(fitted - optimum) < 0.01  # minibatches reach the mean-field optimum
        assert unscaled > 2 * optimum  # "more than twice too wide"
    gaps = _floats(r"\(gap ([\d.]+)", out)
    assert gaps[0] < 0.3 < gaps[1]  # full rank within noise of the evidence; mean field not
    # One R-hat and ESS per parameter (Pyro's classic ones; the diagnostics figure titles
    # show fit_nuts's rank-normalised ones, which the text says differ a little): all
    # R-hats below 1.01, as the text says.
    ess = dict(re.findall(r"^(w1|w2|b)\s+R-hat [\d.]+\s+ESS (\d+)", out, re.M))
    assert set(ess) == {"w1", "w2", "b"}
    r_hat = [float(v) for v in re.findall(r"^(?:w1|w2|b)\s+R-hat ([\d.]+)", out, re.M)]
    assert len(r_hat) == 3 and max(r_hat) < 1.01
    assert int(ess["w1"]) > 1500 and int(ess["b"]) > 2000  # "over 1,500 ... over 2,000"
    assert "an ESS of over 1,500 for $w_1$ and over 2,000 for $b$" in source.replace("\n", " ")


def test_05_uses_bundled_data_and_its_numbers_match_the_text():
    out = _outputs("05_uncertainty_on_real_data.ipynb")
    source = _sources("05_uncertainty_on_real_data.ipynb")
    assert "shared" not in source and 'load_uci("yacht", split=0)' in source
    assert "column_6" not in out  # the target is named
    assert "calibration error" in source and "Kuleshov" in source  # defined in the text
    # MC dropout: the validation chose a point inside its grid, not at an edge.
    rate, tau, rates, tau_low, tau_high = re.search(
        r"chose dropout rate ([\d.]+) and tau ([\d.]+) "
        r".*rates \[([^\]]+)\], tau ([\d.]+) to ([\d.]+)",
        out,
    ).groups()
    assert float(tau_low) < float(tau) < float(tau_high)
    assert float(rate) in [float(r) for r in rates.split(",")]
    scores = {
        name: _row(name + " ", out)
        for name in (
            "BNN (Laplace)",
            "BNN (full-rank SVI)",
            "BNN (NUTS)",
            "MAP",
            "MC dropout",
            "deep ensemble",
        )
    }
    rmse, test_ll, crps, coverage_50, coverage_90, coverage_95, calibration = range(7)
    assert scores["BNN (NUTS)"][test_ll] > scores["BNN (full-rank SVI)"][test_ll]
    assert scores["BNN (NUTS)"][rmse] < scores["BNN (full-rank SVI)"][rmse]
    # Laplace (the model file's guide) predicts best: RMSE, log-likelihood and CRPS ...
    for score, best in ((test_ll, max), (rmse, min), (crps, min)):
        assert best(scores, key=lambda n, i=score: scores[n][i]) == "BNN (Laplace)"
    # ... with a calibration error second to MAP's (NUTS third, the ensemble last), and 90%
    # and 95% intervals within one test point of their nominal coverage, the 50% one wide.
    by_calibration = sorted(scores, key=lambda n: scores[n][calibration])
    assert by_calibration[:3] == ["MAP", "BNN (Laplace)", "BNN (NUTS)"]
    assert by_calibration[-1] == "deep ensemble"
    laplace = scores["BNN (Laplace)"]
    one_point = 1 / int(re.search(r"x_test=\((\d+),", out).group(1)) + 0.005  # + rounding
    assert abs(laplace[coverage_90] - 0.9) < one_point
    assert abs(laplace[coverage_95] - 0.95) < one_point
    assert laplace[coverage_50] > 0.5
    # The Laplace numbers the text quotes are the table's and the CLI's.
    quoted = _floats(r"intervals hold ([\d.]+), ([\d.]+) and ([\d.]+) of the test points", source)
    assert quoted == laplace[coverage_50 : coverage_95 + 1]
    quoted_ll = _floats(r"log-likelihood \((-?[\d.]+); (-?[\d.]+) in the command line", source)
    cli_ll = _floats(r"\(test: rmse [\d.]+, test_ll (-?[\d.]+)", out)[0]
    assert quoted_ll == [laplace[test_ll], round(cli_ll, 4)]
    # NUTS has the second-best log-likelihood, the ensemble (the best baseline) the third
    # with the worst RMSE of the six, MAP the fourth.
    by_test_ll = sorted(scores, key=lambda n: -scores[n][test_ll])
    assert by_test_ll[1:4] == ["BNN (NUTS)", "deep ensemble", "MAP"]
    baselines = ("MAP", "MC dropout", "deep ensemble")
    assert max(baselines, key=lambda n: scores[n][test_ll]) == "deep ensemble"
    assert max(scores, key=lambda n: scores[n][rmse]) == "deep ensemble"
    assert scores["MAP"][coverage_90] < 0.9 and scores["MAP"][coverage_95] < 0.95  # too narrow
    ensemble = scores["deep ensemble"]  # too wide everywhere
    assert ensemble[coverage_50] > 0.5 + one_point and ensemble[coverage_90] == 1.0
    assert ensemble[coverage_95] == 1.0
    nuts = scores["BNN (NUTS)"]  # on the wide side
    assert nuts[coverage_50] > 0.5 + one_point and nuts[coverage_90] > 0.9
    # The Laplace fit's L-BFGS polish raised the log joint but did not reach a mode: all
    # its iterations used, the gradient still large, no Newton step kept, and a Hessian
    # with eigenvalues <= 0 (the LaplaceWarning).
    adam, polished, iterations, newton, gradient = (
        int(v)
        for v in re.search(
            r"log joint: (-?\d+) at the last Adam step, (-?\d+) after (\d+) L-BFGS "
            r"iterations and (\d+) Newton steps \(gradient norm there (\d+)\)",
            out,
        ).groups()
    )
    assert polished > adam and iterations == 2000 and newton == 0 and gradient > 10
    assert int(re.search(r"(\d+) of them <= 0", out).group(1)) > 0
    # Its learned noise is well below its test RMSE and under a third of both NUTS chains'.
    noise = _floats(r"BNN \(Laplace\), learned noise sigma \(units of the target\): ([\d.]+)", out)
    chains = _floats(r"noise sigma in each chain \(units of the target\): ([\d.]+), ([\d.]+)", out)
    assert noise[0] < 0.7 * laplace[rmse] and noise[0] < min(chains) / 3
    # The command line repeats the Python fit on yacht: the model file's guide, its own
    # data set (concrete) replaced with --set; the same scores.
    toml = (TUTORIALS.parent / "models" / "uci_regression.toml").read_text(encoding="utf-8")
    assert 'guide = "laplace"' in toml and 'guide="laplace", num_steps=steps, lr=0.02' in source
    assert 'source = "uci:concrete"' in toml and '`source = "uci:concrete"`' in source
    assert '"--set", "data.source=uci:yacht"' in source
    assert "$ pyro-bnn fit models/uci_regression.toml --set data.source=uci:yacht" in out
    cli, python = _row("pyro-bnn fit", out), _row("Python, same settings", out)
    assert cli == python
    # The NUTS chains' disagreement and the Laplace fit's warnings the text discusses.
    assert "BNN (NUTS): ConvergenceWarning: R-hat of 'sigma'" in out
    assert "BNN (NUTS): ConvergenceWarning: R-hat of the predictions" in out
    # One chain's E-BFMI below 0.3: the first one, as the text says, with the value it quotes.
    bfmi = _floats(r"BNN \(NUTS\): ConvergenceWarning: E-BFMI of chain\(s\) \[0\] is ([\d.]+)", out)
    assert bfmi[0] < 0.3 and f"first chain alone: its E-BFMI is {bfmi[0]:.2f}" in source
    assert "BNN (Laplace): LaplaceWarning: Laplace: the Hessian" in out
    assert "BNN (Laplace): ConvergenceWarning: SVI may not have converged" in out


def test_06_numbers_match_the_text():
    out = _outputs("06_your_own_pyro_model.ipynb")
    text = " ".join(_sources("06_your_own_pyro_model.ipynb").split())
    # sigma, epistemic std on the data, in the gap, at x=6, aleatoric
    rows = {
        name: _row(name, out)
        for name in ("SVI low rank (AutoLowRankMultivariateNormal)", "SVI mean field", "NUTS  ")
    }
    low_rank, mean_field, nuts = rows.values()
    assert f"NUTS learns $\\sigma$ = {nuts[0]:.3f}" in text
    assert f"the low-rank guide {low_rank[0]:.3f}, the mean-field guide {mean_field[0]:.3f}" in text
    assert f"({mean_field[1]:.3f}) is over three times NUTS' ({nuts[1]:.3f})" in text
    assert mean_field[1] > 3 * nuts[1]
    assert f"epistemic std ({low_rank[2]:.3f}) is below NUTS' ({nuts[2]:.3f})" in text
    assert f"the mean-field guide's ({mean_field[2]:.3f}) above it" in text
    assert low_rank[2] < nuts[2] < mean_field[2]
    assert f"NUTS widens quickly ({nuts[3]:.3f} at $x = 6$)" in text
    assert f"stay almost flat ({low_rank[3]:.3f} and {mean_field[3]:.3f})" in text
    assert nuts[3] > max(low_rank[3], mean_field[3])
    # the two short chains disagree, fit_nuts warns, and the text says so
    rhat, ess = _floats(r"training inputs: R-hat ([\d.]+), bulk ESS (\d+)", out)
    assert f"predictions' $\\hat R$ is {rhat:.3f}, their bulk ESS {ess:.0f}" in text
    assert "R-hat of the predictions" in out
    # broadcasting layers: the quoted times and the README's "about N×"
    slow, fast = _floats(
        r"SVI low rank\s+1000 draws: nn.Linear\s+([\d.]+) s, broadcasting\s+([\d.]+) s", out
    )
    assert f"take {fast:.3f} s instead of {slow:.3f} s" in text
    readme = (TUTORIALS.parent / "README.md").read_text(encoding="utf-8")
    assert f"about {slow / fast:.0f}×" in readme


def test_02_gap_ratios_sweep_and_warnings_match_the_text():
    out = _outputs("02_bnn_regression.ipynb")
    source = _sources("02_bnn_regression.ipynb")
    # noise, on data, gap, x=6, gap/data, x=6/data, seconds
    rows = {
        name: _row(name + " ", out)
        for name in ("deep ensemble", "MC dropout", "SVI mean field", "SVI low rank", "NUTS")
    }
    nuts = rows["NUTS"]
    assert nuts[4] >= 3 and nuts[5] >= 5  # the bands widen in the gap and beyond the data
    assert abs(nuts[0] - 0.15) < 0.02  # NUTS's noise is close to right
    for name in ("SVI mean field", "SVI low rank"):
        assert rows[name][5] < 1.5  # no growth beyond the data
        assert rows[name][2] > nuts[2]  # wider than NUTS in the gap
        assert rows[name][1] > 2 * nuts[1]  # and on the data
        assert rows[name][0] > 0.18  # too much noise
    assert rows["deep ensemble"][4] > 5 and rows["deep ensemble"][2] < nuts[2]
    assert rows["MC dropout"][4] < 1  # narrower in the gap than on the data
    # The one-decimal ratios the text quotes (the generic check reads two decimals or more).
    text = " ".join(source.split())
    assert f"is {nuts[4]:.1f} times its on-data value" in text
    assert f"{nuts[5]:.1f} times at $x = 6$" in text
    ensemble = rows["deep ensemble"]
    assert f"({ensemble[4]:.1f} times as much) and beyond ({ensemble[5]:.1f} times)" in text
    # The reference's four chains agree on the function: the R-hat of the predicted mean
    # is below 1.01 at every grid point, worst beyond the data (|x| > 4), where the text says.
    median, worst, where = _floats(
        r"over the grid: median ([\d.]+), worst ([\d.]+) \(at x = (-?[\d.]+)\)", out
    )
    assert median <= worst < 1.01 and abs(where) > 4
    end = "right" if where > 0 else "left"
    assert f"median {median:.3f} over the grid and is at most {worst:.3f}" in text
    assert f"at the {end} end of the grid ($x = {where:.1f}$, two units beyond the data)" in text
    assert f"R-hat of the predicted mean at most {worst:.3f} over the grid" in text  # take-away
    # fit_nuts on the reference (the cell that fits nuts_fit): no warning about the
    # predictions, ESS, E-BFMI or divergences; one borderline warning on the output bias,
    # and the symmetry note whose predictions' R-hat (below 1.01) the text quotes.
    code_cells = _code_cells(_read(TUTORIALS / "02_bnn_regression.ipynb"))
    reference = "\n".join(
        "".join(o.get("text", ""))
        for cell in code_cells
        if "nuts_fit = pb.fit_nuts(" in _source(cell)
        for o in cell["outputs"]
    )
    fit_nuts_warnings = [
        line
        for line in reference.splitlines()
        if line.startswith("ConvergenceWarning:") and "SVI may not have converged" not in line
    ]
    assert len(fit_nuts_warnings) == 1, fit_nuts_warnings
    (bias,) = _floats(r"R-hat of 'layers\.1\.bias' is ([\d.]+)", fit_nuts_warnings[0])
    assert 1.01 <= bias < 1.02  # borderline
    weights, function = _floats(
        r"WeightSymmetryNote: R-hat of the weights is up to ([\d.]+) \('layers\.0\.weight'\) "
        r"but R-hat of the predictions is ([\d.]+)",
        reference,
    )
    assert function < 1.01 < weights
    assert f"R-hat of the output bias (`layers.1.bias`) is {bias:.3f}, just over the 1.01" in text
    assert f"R-hat {function:.3f}, quoted in its `WeightSymmetryNote`" in text
    assert (
        f"R-hat of the weights up to {weights:.3f} (`layers.0.weight`), "
        f"of the predictions {function:.3f}" in text
    )
    # The width sweep: the noise grows with the width, full rank a little below mean field.
    mean_field = _floats(
        r"SVI mean field\s+5 units: ([\d.]+)\s+20 units: ([\d.]+)\s+50 units: ([\d.]+)", out
    )
    full_rank = _floats(
        r"SVI full rank\s+5 units: ([\d.]+)\s+20 units: ([\d.]+)\s+50 units: ([\d.]+)", out
    )
    assert mean_field == sorted(mean_field) and full_rank == sorted(full_rank)
    assert all(f < m for f, m in zip(full_rank, mean_field, strict=True))
    assert min(mean_field + full_rank) in (mean_field[0], full_rank[0])  # 5 units closest
    # Heteroscedastic: the learned noise is smallest in the middle (the V).
    hetero = _floats(
        r"HeteroscedasticGaussian\)\s+aleatoric std at x = -3, 0, 3: "
        r"\[([\d.]+)\s+([\d.]+)\s+([\d.]+)\]",
        out,
    )
    assert hetero[1] < min(hetero[0], hetero[2])
    # ... from two chains each, whose predictions' R-hat and bulk ESS the text quotes:
    # neither pair has mixed (both above 1.01); on the predictions they are about equally
    # far off, the heteroscedastic R-hat slightly lower but from fewer effective draws,
    # and its output bias mixes much worse.
    chains = r": 2 chains, predictions' R-hat ([\d.]+), bulk ESS (\d+) of 300 draws"
    constant = _floats(r"constant noise \(Gaussian\)" + chains, out)
    varying = _floats(r"input-dependent noise \(HeteroscedasticGaussian\)" + chains, out)
    assert 1.01 < varying[0] < constant[0] < varying[0] + 0.01 and varying[1] < constant[1]
    assert (
        f"R-hat of the predictions is {constant[0]:.3f} (above the 1.01 asked for), "
        f"bulk ESS {constant[1]:.0f} of its 300 draws" in text
    )
    assert (
        f"R-hat of the predictions {varying[0]:.3f}, bulk ESS {varying[1]:.0f}, so slightly "
        "lower, but from fewer effective draws" in text
    )
    hetero_cell = "\n".join(
        "".join(o.get("text", ""))
        for cell in code_cells
        if "pb.HeteroscedasticGaussian()" in _source(cell)
        for o in cell["outputs"]
    )
    bias_rhat = _floats(r"R-hat of 'layers\.1\.bias' is ([\d.]+)", hetero_cell)
    bias_ess = _floats(r"bulk ESS of 'layers\.1\.bias' is (\d+)", hetero_cell)
    assert len(bias_rhat) == len(bias_ess) == 2  # constant noise first, then heteroscedastic
    assert bias_rhat[0] < bias_rhat[1] and bias_ess[1] < bias_ess[0]
    assert f"an R-hat of {bias_rhat[0]:.3f} with a bulk ESS of {bias_ess[0]:.0f}" in text
    assert f"an R-hat of {bias_rhat[1]:.3f} with a bulk ESS of {bias_ess[1]:.0f}" in text
    # The prior sweep (epistemic std on the data, at x=0, at x=6, worst R-hat on the grid):
    # the priors agree on the data, weight_scale=3 about doubles the gap's std, IIDNormal
    # is the widest at x=6, and no fit has mixed, the new priors' chains the least.
    default = _row("LayerwiseNormal() (default)", out)
    sharp = _row("LayerwiseNormal(weight_scale=3)", out)
    iid = _row("IIDNormal(1.0): N(0, 1) for every weight", out)
    assert max(default[0], sharp[0], iid[0]) - min(default[0], sharp[0], iid[0]) < 0.01
    assert 1.8 < sharp[1] / default[1] < 2.2 and sharp[1] > iid[1]
    assert iid[2] > sharp[2] > default[2]
    assert 1.01 < default[3] < min(sharp[3], iid[3])
    # All three rows are short runs (the default's is not the reference nuts_fit): the
    # default's short run is unconverged, yet close to the converged reference (on the
    # data, at x=0, at x=6), much closer than the priors are to each other.
    sweep = next(
        _source(c)
        for c in code_cells
        if "for name, prior in priors.items()" in _source(c) and "fit_nuts" in _source(c)
    )
    assert "nuts_fit" not in sweep and "fit = pb.fit_nuts(make_net(prior=prior)" in sweep
    assert worst < 1.01 < default[3]
    assert all(abs(d - r) < 0.01 for d, r in zip(default[:3], nuts[1:4], strict=True))
    assert sharp[1] - default[1] > 0.05 and iid[2] - default[2] > 0.05
    assert (
        f"the short run's {default[0]:.3f}, {default[1]:.3f} and {default[2]:.3f} are close "
        f"to the reference's {nuts[1]:.3f}, {nuts[2]:.3f} and {nuts[3]:.3f}" in text
    )
    # Warnings are shown, not suppressed.
    assert 'simplefilter("ignore"' not in source and "still_rising" not in source
