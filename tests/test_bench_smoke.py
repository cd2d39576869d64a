"""The benchmark suite in bench/: the comparison models are the same model, and every
script runs with --quick and prints the JSON the README table is built from.

Nothing here times anything; the numbers themselves are only checked for being real
(finite, positive) and the fast-path predictions for matching the hand-written ones.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pyro
import pytest
import torch

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH_DIR))

import reference_models as ref  # noqa: E402

# ----------------------------------------------------------------------------- fast checks


def test_reference_data_has_the_gap_and_the_seeded_values():
    x, y = ref.make_reference_data()
    assert x.shape == (100, 1) and y.shape == (100,)
    magnitude = x.abs().squeeze(-1)
    assert bool(((magnitude >= 1) & (magnitude <= 4)).all())
    assert bool((x < 0).any()) and bool((x > 0).any())
    residual = y - (torch.sin(x[:, 0]) + 0.1 * x[:, 0])
    assert 0.15 < float(residual.std()) < 0.25  # noise 0.2
    x2, y2 = ref.make_reference_data()
    assert torch.equal(x, x2) and torch.equal(y, y2)
    with pytest.raises(ValueError, match="num_points must be >= 1"):
        ref.make_reference_data(0)


def _log_joint_textbook(draws: ref.NetDraws, x, y) -> float:
    values = {k: v[0] for k, v in ref.draws_to_textbook_samples(draws).items()}
    model = ref.TextbookBNN(in_features=1, hidden=draws.b1.shape[1])
    conditioned = pyro.poutine.condition(model, data=values)
    return float(pyro.poutine.trace(conditioned).get_trace(x, y).log_prob_sum())


def test_textbook_numpyro_and_pyro_bnn_models_have_the_same_log_joint():
    x, y = ref.make_reference_data(20)
    draws = ref.prior_draws(1, hidden=7, seed=3)
    expected = _log_joint_textbook(draws, x, y)

    pyro_bnn = pytest.importorskip("pyro_bnn")
    model = ref.make_pyro_bnn_model(1, 7)
    assert isinstance(model, pyro_bnn.BayesianMLP)
    values = {
        "layers.0.weight": draws.w1[0],
        "layers.0.bias": draws.b1[0],
        "layers.1.weight": draws.w2[0],
        "layers.1.bias": draws.b2[0],
        "sigma": draws.sigma[0],
    }
    x_checked, y_checked = model.check_inputs(x, y)
    trace = pyro.poutine.trace(pyro.poutine.condition(model, data=values)).get_trace(
        x_checked, y_checked
    )
    assert float(trace.log_prob_sum()) == pytest.approx(expected, rel=1e-5)

    if not ref.numpyro_available():
        pytest.skip("numpyro not installed: NumPyro model not checked")
    import numpy as np
    from numpyro.infer.util import log_density

    params = {
        "w1": np.asarray(draws.w1[0]),
        "b1": np.asarray(draws.b1[0]),
        "w2": np.asarray(draws.w2[0]),
        "b2": np.asarray(draws.b2[0]),
        "sigma": np.asarray(draws.sigma[0]),
    }
    numpyro_value, _ = log_density(
        ref.numpyro_model, (np.asarray(x), np.asarray(y)), {"hidden": 7}, params
    )
    assert float(numpyro_value) == pytest.approx(expected, rel=1e-5)


def test_batched_forward_equals_a_loop_over_draws_and_chunks_change_nothing():
    draws = ref.prior_draws(6, hidden=9, seed=1)
    x = ref.make_test_inputs(37)
    batched = ref.batched_forward(draws, x)
    assert batched.shape == (6, 37)
    for s in range(6):
        h = torch.tanh(x @ draws.w1[s].T + draws.b1[s])
        expected = (h @ draws.w2[s].T + draws.b2[s]).squeeze(-1)
        torch.testing.assert_close(batched[s], expected)
    torch.testing.assert_close(ref.batched_forward_chunked(draws, x, chunk_size=5), batched)
    mean, var = ref.batched_mean_var_chunked(draws, x, chunk_size=8)
    torch.testing.assert_close(mean, batched.mean(0))
    torch.testing.assert_close(var, batched.var(0, unbiased=False))
    for chunk_size in (5, 37, 100):
        outputs, mean, var, aleatoric = ref.batched_predict_chunked(draws, x, chunk_size)
        torch.testing.assert_close(outputs, batched)
        torch.testing.assert_close(mean, batched.mean(0))
        torch.testing.assert_close(var, batched.var(0, unbiased=False))
        torch.testing.assert_close(aleatoric, (draws.sigma**2).mean().expand(37))
    outputs, mean, var, aleatoric = ref.batched_predict_chunked(draws, x, 8, moments=False)
    torch.testing.assert_close(outputs, batched)
    assert mean is None and var is None and aleatoric is None
    outputs, mean, _, _ = ref.batched_predict_chunked(draws, x, 8, keep_outputs=False)
    assert outputs is None
    torch.testing.assert_close(mean, batched.mean(0))


def test_plain_training_steps_lower_their_loss():
    x, y = ref.make_reference_data(50)
    net = ref.PlainMAPNet(hidden=8)
    step = net.make_step(x, y, lr=0.02)
    first = step()
    for _ in range(200):
        last = step()
    assert last < first
    bbb = ref.PlainBayesByBackprop(hidden=8)
    step = bbb.make_step(x, y, num_particles=4, lr=0.02)
    first = sum(step() for _ in range(10)) / 10
    for _ in range(300):
        step()
    last = sum(step() for _ in range(10)) / 10
    assert last < first


# ----------------------------------------------------------------------------- smoke run


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    results_dir = tmp_path_factory.mktemp("bench_results")
    completed = subprocess.run(
        [sys.executable, str(BENCH_DIR / "run.py"), "--quick", "--results-dir", str(results_dir)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:] + completed.stdout[-3000:]
    results = json.loads((results_dir / "latest_quick.json").read_text())
    return results, results_dir, completed.stdout


def _positive(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.mark.slow
def test_run_quick_writes_every_benchmark_and_the_table(quick_run):
    results, results_dir, stdout = quick_run
    assert set(results["benchmarks"]) == {"nuts", "svi", "predict", "scaling"}
    for name, result in results["benchmarks"].items():
        assert result.get("status") != "failed", name
        assert result["quick"] is True
        machine = result["machine"]
        assert machine["torch_num_threads"] == 1
        for key in ("cpu_model", "cpu_count", "torch", "pyro", "date"):
            assert machine[key], key
        assert (results_dir / f"{name}_quick.json").is_file()
    table = (results_dir / "latest_quick.md").read_text()
    assert "| goal (issue 7) | met? |" in table and "NUTS" in table and "predict" in table
    assert (
        "| ratio (measured side by side) | by wall time | by CPU time | goal (issue 7) |" in table
    )
    assert table.strip() in stdout


@pytest.mark.slow
def test_nuts_reports_ess_per_second_for_all_three(quick_run):
    nuts = quick_run[0]["benchmarks"]["nuts"]
    expected = ["textbook_pyro", "pyro_bnn"] + (["numpyro"] if ref.numpyro_available() else [])
    for name in expected:
        section = nuts[name]
        assert section["status"] == "ok", name
        for which in ("cold", "warm_median"):
            for key in ("wall_seconds", "ess_sigma", "ess_per_second_sigma"):
                assert _positive(section[which][key]), (name, which, key)
        for run in section["runs"]:
            assert 0 < run["sigma_posterior_mean"] < 3
            assert len(run["ess_mean_at_test_inputs"]) == 5
    assert nuts["pyro_bnn"]["runs"][0]["how"].startswith("pyro_bnn.fit_nuts")
    for key, value in nuts["ratios"].items():
        if "numpyro" in key and not ref.numpyro_available():
            assert value is None
        else:
            assert _positive(value), key
    assert set(nuts["goals"]) == {
        f"{which}_{basis}_ess_per_second_at_least_{goal}"
        for which in ("cold", "warm_median")
        for basis in ("wall", "cpu")
        for goal in ("half_numpyro", "numpyro", "10x_textbook")
    }
    for run in nuts["pyro_bnn"]["runs"]:
        assert _positive(run["cpu_seconds"]) and _positive(run["ess_per_cpu_second_sigma"])
        assert run["steps_per_draw"] >= 1 and _positive(run["microseconds_per_step"])
    assert set(nuts["step_cost"]) == {
        f"{which}_{key}_pyro_bnn_over_numpyro"
        for which in ("cold", "warm_median")
        for key in ("steps_per_draw", "microseconds_per_step")
    }
    # the compiled sampler (jit_compile=True) and the long runs, where a C compiler exists
    compiled = nuts["pyro_bnn_compiled"]
    if compiled["status"] == "ok":
        assert compiled["runs"][0]["gradient"] == "compiled"
        assert "jit_compile=True" in compiled["runs"][0]["how"]
        assert _positive(nuts["compiled"]["pyro_bnn"]["microseconds_per_step_ratio"])
    else:
        assert compiled["status"] == "skipped" and compiled["reason"]
    long = nuts["long"]
    assert long["problem"]["num_samples"] == 30
    for name in ("pyro_bnn", "pyro_bnn_compiled"):
        if long[name]["status"] == "ok":
            assert long[name]["runs"][0]["num_draws"] == 30
            vs = long[f"{name}_vs"]["numpyro"]
            assert (
                vs is None
                if not ref.numpyro_available()
                else _positive(vs["ess_per_second_sigma_ratio"])
            )


@pytest.mark.slow
def test_svi_reports_step_times_for_one_and_eight_particles(quick_run):
    svi = quick_run[0]["benchmarks"]["svi"]
    assert _positive(svi["num_particles_1"]["plain_torch_map_adam"]["seconds_per_call"])
    for particles in (1, 8):
        section = svi[f"num_particles_{particles}"]
        for name in (
            "textbook_pyro_trace_elbo",
            "plain_torch_bayes_by_backprop",
            "pyro_bnn_fit_svi_normal",
        ):
            assert _positive(section[name]["seconds_per_call"]), (particles, name)
    assert _positive(svi["ratios"]["pyro_bnn_over_plain_map_step"])
    assert isinstance(svi["goals"]["fit_svi_step_within_2x_plain_map_step"], bool)
    assert isinstance(svi["goals"]["fit_svi_step_within_2x_plain_map_step_cpu"], bool)


@pytest.mark.slow
def test_predict_matches_the_hand_written_forward_and_reports_memory(quick_run):
    predict = quick_run[0]["benchmarks"]["predict"]
    # same draws in all three: the means must agree to float tolerance
    assert predict["checks"]["pyro_bnn_vs_plain_max_abs_diff_mean"] < 1e-4
    assert predict["checks"]["pyro_bnn_vs_plain_max_abs_diff_epistemic_var"] < 1e-4
    assert predict["checks"]["textbook_vs_plain_max_abs_diff_mean"] < 1e-4
    for name in ("textbook_pyro", "plain_torch_batched", "pyro_bnn"):
        assert _positive(predict[name]["draws_x_inputs_per_second"]), name
    assert _positive(predict["ratios"]["pyro_bnn_over_plain_throughput"])
    assert _positive(predict["ratios"]["pyro_bnn_over_plain_throughput_cpu"])
    rss = predict["peak_rss"]
    assert [r["chunk_size"] for r in rss] == [100, 1000]
    for row in rss:
        assert _positive(row["peak_rss_mb"]) and row["peak_rss_increase_mb"] >= 0


@pytest.mark.slow
def test_scaling_sweeps_and_plot(quick_run):
    scaling = quick_run[0]["benchmarks"]["scaling"]
    assert [row["num_points"] for row in scaling["by_num_points"]] == [100, 1000]
    assert [row["hidden"] for row in scaling["by_width"]] == [10, 50]
    for row in scaling["by_num_points"] + scaling["by_width"]:
        assert _positive(row["svi"]["seconds_per_epoch"])
        assert _positive(row["nuts"]["seconds_per_draw"])
    # the quick plot goes to the results folder, never over the committed bench/scaling.png
    assert scaling["plot"] == str(quick_run[1] / "scaling_quick.png")
    assert Path(scaling["plot"]).is_file()


def _run_bench_script(script: str, *args: str, env: dict | None = None) -> dict:
    """Run ``bench/<script> args`` in a subprocess; its JSON output."""
    completed = subprocess.run(
        [sys.executable, str(BENCH_DIR / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)


@pytest.mark.slow
def test_nuts_without_numpyro_reports_skipped_not_a_number(tmp_path):
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "numpyro.py").write_text("raise ImportError('numpyro hidden by the test')\n")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])
    )
    result = _run_bench_script(
        "bench_nuts.py", "--quick", "--skip-textbook", "--repeats", "1", "--no-save", env=env
    )
    assert result["numpyro"]["status"] == "skipped"
    assert result["textbook_pyro"]["status"] == "skipped"
    assert result["pyro_bnn"]["status"] == "ok"
    assert result["ratios"]["cold_ess_per_second_sigma_pyro_bnn_over_numpyro"] is None
    assert result["goals"]["cold_wall_ess_per_second_at_least_half_numpyro"] is None
    assert result["goals"]["cold_cpu_ess_per_second_at_least_half_numpyro"] is None


@pytest.mark.slow
def test_user_models_bench_compares_compiled_and_traced_fits():
    result = _run_bench_script("bench_user_models.py", "--quick", "--no-save")
    svi, nuts = result["svi"], result["nuts"]
    for name in ("trace_elbo", "jit_trace_elbo", "plain_pyro_loop"):
        assert _positive(svi[name]["seconds"]), name
    assert _positive(svi["speedup_jit"])
    for sampler in ("lean", "pyro"):
        for jit in ("no_jit", "jit_compile"):
            assert _positive(nuts[f"{sampler}_{jit}"]["seconds"]), (sampler, jit)
        assert _positive(nuts[f"speedup_jit_{sampler}"])
        # the compiled chain makes the same moves as the traced one
        assert nuts[f"{sampler}_jit_compile"]["sigma_mean"] == pytest.approx(
            nuts[f"{sampler}_no_jit"]["sigma_mean"], rel=1e-3
        )
    for jit in ("no_jit", "jit_compile"):
        assert _positive(nuts[f"speedup_lean_over_pyro_{jit}"])


def test_bench_laplace_hessian_quick():
    result = _run_bench_script("bench_laplace_hessian.py", "--quick", "--no-save")
    assert result["goals"]["same_matrix"]
    for row in result["sizes"]:
        assert _positive(row["pyro_bnn_seconds"]) and _positive(row["torch_vectorized_seconds"])


def test_bench_bandwidth_quick():
    result = _run_bench_script("bench_bandwidth.py", "--quick", "--no-save")
    for row in result["by_num_points"]:
        nuts, svi = dict(row["nuts_gradient"]), row["svi_minibatch"]
        compiled = nuts.pop("compiled")  # None where there is no C compiler
        for value in (*nuts.values(), svi["seconds_per_step"], svi["seconds_per_epoch"]):
            assert _positive(value)
        if compiled is not None:
            for key in ("seconds_per_gradient", "fused_bound_ratio", "speedup_over_numpy"):
                assert _positive(compiled[key]), key
        # the traffic model counts at least what a fused sweep must move
        assert nuts["bound_seconds"] > nuts["fused_bound_seconds"]


@pytest.mark.slow
def test_chains_bench_compares_four_chains_side_by_side():
    result = _run_bench_script("bench_chains.py", "--quick", "--no-save")
    methods = result["methods"]
    assert {"pyro_bnn_sequential", "pyro_bnn_parallel"} <= set(methods)
    for name, method in methods.items():
        assert len(method["runs"]) == 2, name
        assert _positive(method["warm_median"]["wall_seconds"]), name
    # the same seeds give the same chains in worker processes as in this one
    assert (
        methods["pyro_bnn_parallel"]["cold"]["ess_sigma"]
        == methods["pyro_bnn_sequential"]["cold"]["ess_sigma"]
    )
    if result["compiled_problem"] is None:  # jit_compile=True: the same, in worker processes
        assert (
            methods["pyro_bnn_compiled_parallel"]["cold"]["ess_sigma"]
            == methods["pyro_bnn_compiled_sequential"]["cold"]["ess_sigma"]
        )
    for ratio in result["ratios"].values():
        assert ratio["ratio"] is None or ratio["ratio"] > 0
