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


def test_readme_uci_table_is_the_committed_benchmark():
    """Every "mean ± s.e. (n)" cell of the README's UCI table is results.csv's summary."""
    from pyro_bnn.benchmarks.report import summarize
    from pyro_bnn.benchmarks.results import read_rows

    rows = read_rows(ROOT / "bench" / "results" / "uci" / "results.csv")
    summary = {(e["dataset"], e["method"]): e for e in summarize(rows)}
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Real data: the UCI benchmark", 1)[1].split("\n\n| dataset |", 1)[1]
    header, _, *body = ("| dataset |" + table.split("\n\n", 1)[0]).splitlines()
    columns = [c.strip() for c in header.strip("|").split("|")]
    methods = {"SVI (AutoNormal)": "svi", "Laplace": "laplace", "NUTS": "nuts"}
    methods["deep ensemble (ours)"] = "ensemble"
    datasets = {"wine-red": "wine-quality-red", "protein": "protein-tertiary-structure"}
    checked = 0
    for line in body:
        cells = [c.strip() for c in line.strip("|").split("|")]
        dataset = datasets.get(cells[0], cells[0])
        for column, cell in zip(columns[1:], cells[1:], strict=True):
            found = re.fullmatch(r"([−+-]?\d+\.\d+)(?: ± (\d+\.\d+))? \((\d+)\)", cell)
            if column not in methods or found is None:
                continue
            entry = summary[(dataset, methods[column])]
            digits = len(found.group(1).split(".")[1])
            mean = float(found.group(1).replace("−", "-"))
            assert mean == round(entry["test_ll_mean"], digits), (dataset, column, cell)
            if found.group(2) is not None:
                assert float(found.group(2)) == round(entry["test_ll_se"], digits), (dataset, cell)
            assert int(found.group(3)) == entry["num_splits"], (dataset, column, cell)
            checked += 1
    assert checked >= 16


def test_readme_big_n_table_is_the_committed_bandwidth_benchmark():
    """The "Big N" table's numbers are bench/results/bandwidth.json's, as printed."""
    result = json.loads((ROOT / "bench" / "results" / "bandwidth.json").read_text())
    readme = (ROOT / "README.md").read_text()
    table = readme.split("**Big N: which tool.**", 1)[1].split("\n\n", 2)[1]
    lines = [line for line in table.splitlines() if line.startswith("| 10")]
    rows = result["by_num_points"]
    assert len(lines) == len(rows) == 3

    def duration(seconds: float) -> str:
        if seconds < 600:
            return f"{seconds:.0f} s"
        if seconds < 3600:
            return f"{seconds / 60:.0f} min"
        return f"{seconds / 3600:.0f} h"

    def milliseconds(seconds: float) -> str:
        value = 1e3 * seconds
        return f"{value:.2f} ms" if value < 1 else f"{value:.2g} ms"

    for line, row in zip(lines, rows, strict=True):
        nuts, tool = row["nuts_gradient"], row["which_tool"]
        expected = [
            milliseconds(nuts["seconds_per_gradient"]),
            f"{nuts['bandwidth_ratio']:.2f}",
            f"{100 * nuts['tanh_share']:.0f}%",
            duration(tool["nuts_1000_iterations_seconds"]),
            f"{milliseconds(nuts['compiled']['seconds_per_gradient'])}, "
            f"{duration(tool['compiled_nuts_1000_iterations_seconds'])}",
            f"{tool['svi_10000_steps_seconds']:.0f} s",
        ]
        assert [c.strip() for c in line.strip("|").split("|")][1:] == expected, line
    # the text's numbers at 10^5 points and the ratios of SVI's time
    flat = " ".join(readme.split())
    big = rows[-1]["nuts_gradient"]
    assert f"need {1e3 * big['fused_bound_seconds']:.1f} ms at 10⁵" in flat
    assert (
        f"takes {1e3 * big['compiled']['seconds_per_gradient']:.0f} ms, "
        f"{big['compiled']['fused_bound_ratio']:.2f} of that bound and "
        f"{big['compiled']['speedup_over_numpy']:.1f}× faster than numpy"
    ) in flat
    tools = [row["which_tool"] for row in rows[:2]]
    assert (
        f"costs {tools[0]['nuts_over_svi']:.1f}–{tools[1]['nuts_over_svi']:.0f}× the time of SVI "
        f"({tools[0]['compiled_nuts_over_svi']:.1f}–{tools[1]['compiled_nuts_over_svi']:.0f}× "
        "compiled)"
    ) in flat
    assert f"a minibatch epoch {rows[-1]['svi_minibatch']['seconds_per_epoch']:.2f} s" in flat


def test_readme_speed_table_is_the_committed_benchmark():
    """The "Speed" table's numbers are bench/results/latest.json's, as printed."""
    runs = json.loads((ROOT / "bench" / "results" / "latest.json").read_text())["benchmarks"]
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Speed\n", 1)[1].split("\n\n", 2)[1]
    cells = {
        line.split("|")[1].strip(): [c.strip() for c in line.strip().strip("|").split("|")[1:]]
        for line in table.splitlines()[2:]
    }
    nuts, svi, predict = runs["nuts"], runs["svi"], runs["predict"]
    textbook, numpyro, ours = nuts["textbook_pyro"], nuts["numpyro"], nuts["pyro_bnn"]

    def wall_ess(run: dict, seconds: str) -> str:
        return f"{run['wall_seconds']:{seconds}} s, {run['ess_per_second_sigma']:.3g}"

    first = cells["NUTS 200 + 200, first run: wall time, ESS/s of σ"]
    assert first[0] == (
        f"{textbook['cold']['wall_seconds']:.0f} s, {textbook['cold']['ess_per_second_sigma']:.2f}"
    )
    assert first[1].startswith(f"{numpyro['cold']['wall_seconds']:.1f} s (incl. compiling), ")
    assert first[1].endswith(f", {numpyro['cold']['ess_per_second_sigma']:.3g}")
    assert first[3] == wall_ess(ours["cold"], ".1f")
    warm = cells["NUTS, median of 8 later runs: wall time, ESS/s of σ"]
    assert numpyro["warm_median"]["num_runs"] == ours["warm_median"]["num_runs"] == 8
    assert warm[1] == wall_ess(numpyro["warm_median"], ".1f")
    assert warm[3] == wall_ess(ours["warm_median"], ".1f")
    steps = cells["NUTS, median of 8 later runs: leapfrog steps per draw, wall time per step"]
    for cell, run in ((steps[1], numpyro), (steps[3], ours)):
        median = run["warm_median"]
        assert cell == f"{median['steps_per_draw']:.0f}, {median['microseconds_per_step']:.0f} µs"
    one, eight = svi["num_particles_1"], svi["num_particles_8"]
    row = cells["SVI step, 1 particle"]
    assert row[0] == f"{1e3 * one['textbook_pyro_trace_elbo']['seconds_per_call']:.2f} ms"
    assert row[2] == f"MAP Adam step {1e3 * one['plain_torch_map_adam']['seconds_per_call']:.2f} ms"
    ours_one = one["pyro_bnn_fit_svi_normal"]
    assert row[3] == (
        f"{1e3 * ours_one['seconds_per_call']:.2f} ms "
        f"({1e3 * ours_one['marginal_seconds_per_step']:.2f} ms per extra step)"
    )
    row = cells["SVI step, 8 particles"]
    assert row[0] == f"{1e3 * eight['textbook_pyro_trace_elbo']['seconds_per_call']:.1f} ms"
    bbb = eight["plain_torch_bayes_by_backprop"]["seconds_per_call"]
    assert row[2] == f"Bayes by Backprop {1e3 * bbb:.2f} ms"
    assert row[3] == f"{1e3 * eight['pyro_bnn_fit_svi_normal']['seconds_per_call']:.2f} ms"
    row = cells["predict, 1000 draws × 10,000 inputs"]
    assert row[0] == f"{predict['textbook_pyro']['seconds']:.2f} s"
    assert row[2] == f"batched forward {predict['plain_torch_batched']['seconds']:.2f} s"
    assert row[3] == f"{predict['pyro_bnn']['seconds']:.2f} s"
    compiled = nuts["pyro_bnn_compiled"]
    row = cells[
        "NUTS 200 + 200 with `jit_compile=True`, first run; median of 8 later runs: wall time, "
        "ESS/s of σ"
    ]
    assert compiled["warm_median"]["num_runs"] == 8
    assert (
        row[3] == f"{wall_ess(compiled['cold'], '.1f')}; {wall_ess(compiled['warm_median'], '.1f')}"
    )
    long = nuts["long"]
    assert long["numpyro"]["warm_median"]["num_runs"] == 4 == long["problem"]["runs"] - 1
    assert long["problem"]["num_samples"] == 1000

    def long_cell(name: str, step: str) -> str:
        median = long[name]["warm_median"]
        return f"{wall_ess(median, '.1f')}, {median['microseconds_per_step']:{step}} µs"

    row = cells[
        "NUTS 200 + 1000, median of 4 later runs: wall time, ESS/s of σ, wall time per step"
    ]
    assert row[1] == long_cell("numpyro", ".0f")
    assert row[3] == (
        f"{long_cell('pyro_bnn', '.0f')}; "
        f"`jit_compile=True` {long_cell('pyro_bnn_compiled', '.1f')}"
    )
    # the text's ratios against NumPyro (wall, then CPU time) are the run's
    flat = " ".join(readme.split())

    def pair(ratios: dict, kind: str, digits: str = ".1f") -> str:
        return (
            f"{ratios[f'ess_per_{kind}_sigma_ratio']:{digits}}× and "
            f"{ratios[f'ess_per_{kind}_mean_min_ratio']:{digits}}×"
        )

    short = nuts["compiled"]["numpyro"]
    assert f"`jit_compile=True` {pair(short, 'second')} by wall time" in flat
    assert f"{pair(short, 'cpu_second')} by CPU time" in flat
    default = {
        f"ess_per_{kind}_{q}_ratio": nuts["ratios"][
            f"warm_median_ess_per_{kind}_{q}_pyro_bnn_over_numpyro"
        ]
        for kind in ("second", "cpu_second")
        for q in ("sigma", "mean_min")
    }
    assert f"the default sampler {default['ess_per_second_sigma_ratio']:.2f}× and" in flat
    assert (
        f"{default['ess_per_second_mean_min_ratio']:.2f}× ({pair(default, 'cpu_second', '.2f')})"
        in flat
    )
    # "Compiled NUTS": 4-5x faster per leapfrog step than the default sampler
    speedups = [
        long["pyro_bnn"]["warm_median"]["microseconds_per_step"]
        / long["pyro_bnn_compiled"]["warm_median"]["microseconds_per_step"],
        1 / nuts["compiled"]["pyro_bnn"]["microseconds_per_step_ratio"],
    ]
    assert "4–5× faster per leapfrog step than the default sampler" in flat
    assert all(4 <= speedup <= 5 for speedup in speedups), speedups
    r = nuts["ratios"]
    assert (
        f"the default sampler {r['cold_ess_per_second_sigma_pyro_bnn_over_numpyro']:.1f}× and "
        f"{r['cold_ess_per_second_mean_min_pyro_bnn_over_numpyro']:.1f}×; against textbook Pyro "
        f"{r['warm_median_ess_per_second_sigma_pyro_bnn_over_textbook_pyro']:.0f}× and "
        f"{r['warm_median_ess_per_second_mean_min_pyro_bnn_over_textbook_pyro']:.0f}×"
    ) in flat
    for name in ("pyro_bnn_compiled_vs", "pyro_bnn_vs"):
        ratios = long[name]["numpyro"]
        digits = ".1f" if "compiled" in name else ".2f"
        assert f"{pair(ratios, 'second', digits)} ({pair(ratios, 'cpu_second', digits)})" in flat
    assert (
        f"a step took {long['pyro_bnn_compiled']['warm_median']['microseconds_per_step']:.1f} µs"
        in flat
    )
    agree = (
        nuts["agreement"]["numpyro"]["max_abs_z"],
        short["agreement"]["max_abs_z"],
        long["pyro_bnn_compiled_vs"]["numpyro"]["agreement"]["max_abs_z"],
    )
    assert (
        f"agree within {agree[0]:.1f} Monte Carlo standard errors for the default sampler and "
        f"{agree[1]:.1f} for `jit_compile=True` at 200 + 200 ({agree[2]:.1f} in the long runs"
    ) in flat
    # the date and the machine the text names are the run's
    machine = nuts["machine"]
    assert f"Measured {machine['date'][:10]}" in readme
    assert "X86_V4" in machine["cpu_simd"] and "with AVX-512" in readme


def test_readme_four_chain_figures_are_the_committed_benchmark():
    result = json.loads((ROOT / "bench" / "results" / "chains.json").read_text())
    readme = " ".join((ROOT / "README.md").read_text().split())
    methods = result["methods"]

    def seconds(name: str) -> str:
        return f"{methods[name]['warm_median']['wall_seconds']:.1f} s"

    assert (
        f"pyro_bnn's parallel chains took {seconds('pyro_bnn_parallel')} (one after the "
        f"other {seconds('pyro_bnn_sequential')}), NumPyro's vectorized chains "
        f"{seconds('numpyro_vectorized')} and its sequential ones "
        f"{seconds('numpyro_sequential')}" in readme
    )
    ratios = result["ratios"]
    sigma = ratios["best_pyro_bnn_over_best_numpyro_ess_per_second_sigma"]["ratio"]
    mean = ratios["best_pyro_bnn_over_best_numpyro_ess_per_second_mean_min"]["ratio"]
    assert f"{sigma:.2f}× NumPyro's ESS/s of σ and {mean:.2f}× of the mean" in readme
    assert f"load average {result['machine']['load_average_1min_at_start']:.1f}" in readme
    assert result["compiled_problem"] is None
    assert (
        f"With `jit_compile=True` the 4 chains took {seconds('pyro_bnn_compiled_sequential')} one "
        f"after the other and {seconds('pyro_bnn_compiled_parallel')} in worker processes"
    ) in readme
    sigma = ratios["best_compiled_over_best_numpyro_ess_per_second_sigma"]["ratio"]
    mean = ratios["best_compiled_over_best_numpyro_ess_per_second_mean_min"]["ratio"]
    assert f"{sigma:.2f}× NumPyro's best ESS/s of σ and {mean:.2f}× of the mean" in readme
