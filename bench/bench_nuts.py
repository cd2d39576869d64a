"""NUTS on the reference model: textbook Pyro vs NumPyro vs pyro_bnn.

Reports wall time (warm-up + sampling, including any JIT compilation), the effective
sample size of sigma and of the network mean at a few test inputs (all with
``pyro.ops.stats.effective_sample_size``, so the same estimator for the three), ESS per
second, and the ratios pyro_bnn/NumPyro and pyro_bnn/textbook.

    python bench/bench_nuts.py            # full: 200 warm-up + 200 draws (~6-8 min)
    python bench/bench_nuts.py --quick    # smoke test, tiny sizes
    python bench/bench_nuts.py --textbook-warmup 100 --textbook-samples 100
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import common
import reference_models as ref
import torch

TEST_INPUTS = [-5.0, -2.5, 0.0, 2.5, 5.0]


def chain_summary(draws: ref.NetDraws, wall_seconds: float, cpu_seconds: float) -> dict[str, Any]:
    """ESS of sigma and of the network mean at TEST_INPUTS, per wall and per CPU second.

    CPU seconds (``time.process_time``, all threads of this process) are robust to other
    processes sharing the machine; wall seconds are what a user waits.
    """
    sigma = draws.sigma.reshape(-1)
    mean_at_test = ref.batched_forward(draws.contiguous(), torch.tensor(TEST_INPUTS)[:, None])
    ess_mean = [common.ess(mean_at_test[:, j]) for j in range(len(TEST_INPUTS))]
    ess_sigma = common.ess(sigma)
    # posterior means and their Monte Carlo standard errors (sd / sqrt(ESS)), to check
    # that the samplers agree on the posterior, not only on speed
    estimates = torch.cat([sigma[:, None], mean_at_test], dim=1).double()
    ess_all = torch.tensor([ess_sigma, *ess_mean], dtype=torch.float64).clamp(min=1.0)
    return {
        "wall_seconds": wall_seconds,
        "num_draws": int(sigma.shape[0]),
        "sigma_posterior_mean": float(sigma.mean()),
        "posterior_means": estimates.mean(0).tolist(),
        "posterior_mean_standard_errors": (estimates.std(0) / ess_all.sqrt()).tolist(),
        "ess_sigma": ess_sigma,
        "ess_per_second_sigma": ess_sigma / wall_seconds,
        "ess_mean_at_test_inputs": ess_mean,
        "min_ess_mean_at_test_inputs": min(ess_mean),
        "ess_per_second_mean_min": min(ess_mean) / wall_seconds,
        "cpu_seconds": cpu_seconds,
        "ess_per_cpu_second_sigma": ess_sigma / cpu_seconds,
        "ess_per_cpu_second_mean_min": min(ess_mean) / cpu_seconds,
    }


def _step_cost(result: dict[str, Any], steps_per_draw: float, iterations: int) -> None:
    """Add leapfrog steps per draw (after warm-up) and the wall time per leapfrog step.

    The time per step assumes warm-up trajectories as long as those after it (true for
    neither sampler early in warm-up, alike for both): it separates the cost of a step
    from how many steps the adapted sampler takes and from the ESS a draw brings.
    """
    result["steps_per_draw"] = steps_per_draw
    result["microseconds_per_step"] = 1e6 * result["wall_seconds"] / (iterations * steps_per_draw)


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Headline numbers of the first (cold) run and the median of the later (warm) runs.

    The first run in a process pays one-off costs (JIT compilation in NumPyro, any
    compilation/caching in pyro_bnn); later runs with other seeds reuse them.
    """
    keys = [
        "wall_seconds",
        "cpu_seconds",
        "ess_sigma",
        "ess_per_second_sigma",
        "ess_per_second_mean_min",
        "ess_per_cpu_second_sigma",
        "ess_per_cpu_second_mean_min",
        "steps_per_draw",
        "microseconds_per_step",
    ]
    summary: dict[str, Any] = {"status": "ok", "runs": runs}
    keys = [key for key in keys if all(key in run for run in runs)]  # textbook: no steps
    summary["cold"] = {key: runs[0][key] for key in keys}
    warm = runs[1:] if len(runs) > 1 else runs
    summary["warm_median"] = {key: statistics.median(run[key] for run in warm) for key in keys}
    summary["warm_median"]["num_runs"] = len(warm)
    summary["warm_median"]["same_as_cold"] = len(runs) == 1
    summary["median_all_runs"] = {key: statistics.median(run[key] for run in runs) for key in keys}
    return summary


# ----------------------------------------------------------------------------- textbook Pyro


def run_textbook(
    x, y, hidden: int, warmup: int, samples: int, seed: int, max_tree_depth: int = 10
) -> dict[str, Any]:
    import pyro
    from pyro.infer import MCMC, NUTS

    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    model = ref.TextbookBNN(in_features=x.shape[1], hidden=hidden)
    kernel = NUTS(model, max_tree_depth=max_tree_depth)
    mcmc = MCMC(kernel, num_samples=samples, warmup_steps=warmup, disable_progbar=True)
    start, cpu_start = time.perf_counter(), time.process_time()
    mcmc.run(x, y)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    result = chain_summary(ref.textbook_draws(mcmc.get_samples()), wall, cpu)
    result.update(
        warmup_steps=warmup, num_samples=samples, seed=seed, max_tree_depth=max_tree_depth
    )
    result["how"] = "pyro.infer.NUTS(TextbookBNN()) default settings but max_tree_depth, one chain"
    return result


# ----------------------------------------------------------------------------- NumPyro


def run_numpyro(
    x, y, hidden: int, warmup: int, samples: int, seed: int, max_tree_depth: int = 10
) -> dict[str, Any]:
    import jax
    import numpy as np
    from numpyro.infer import MCMC, NUTS

    x_np, y_np = np.asarray(x), np.asarray(y)
    kernel = NUTS(ref.numpyro_model, max_tree_depth=max_tree_depth)
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=samples, progress_bar=False)
    start, cpu_start = time.perf_counter(), time.process_time()
    mcmc.run(
        jax.random.PRNGKey(seed), x_np, y_np, hidden=hidden, extra_fields=("diverging", "num_steps")
    )
    posterior = jax.block_until_ready(mcmc.get_samples())
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    result = chain_summary(ref.numpyro_draws(posterior), wall, cpu)
    extra = mcmc.get_extra_fields()
    _step_cost(result, float(np.asarray(extra["num_steps"]).mean()), warmup + samples)
    if "diverging" in extra:
        result["divergences"] = int(np.asarray(extra["diverging"]).sum())
    result.update(
        warmup_steps=warmup, num_samples=samples, seed=seed, max_tree_depth=max_tree_depth
    )
    return result


# ----------------------------------------------------------------------------- pyro_bnn


def run_pyro_bnn(
    x,
    y,
    hidden: int,
    warmup: int,
    samples: int,
    seed: int,
    max_tree_depth: int = 10,
    jit_compile: bool = False,
) -> dict[str, Any]:
    import warnings

    import pyro_bnn

    model = ref.make_pyro_bnn_model(x.shape[1], hidden)
    start, cpu_start = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        posterior = pyro_bnn.fit_nuts(
            model,
            x,
            y,
            num_samples=samples,
            warmup_steps=warmup,
            seed=seed,
            progress=False,
            max_tree_depth=max_tree_depth,
            standardize=False,
            jit_compile=jit_compile,
        )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    result = chain_summary(ref.pyro_bnn_netdraws(posterior.draws), wall, cpu)
    _step_cost(result, float(posterior.sample_stats["n_steps"].double().mean()), warmup + samples)
    diagnostics = posterior.diagnostics
    result["divergences"] = diagnostics.get("divergences")
    chain = (diagnostics.get("chains") or [{}])[0]
    for key in ("sampler", "gradient", "step_size", "mean_tree_depth", "acceptance_rate"):
        if key in chain:
            result[key] = chain[key]
    result["warnings"] = [str(w.message)[:200] for w in caught]
    result.update(
        warmup_steps=warmup, num_samples=samples, seed=seed, max_tree_depth=max_tree_depth
    )
    result["how"] = (
        "pyro_bnn.fit_nuts(BayesianMLP(...), standardize=False"
        + (", jit_compile=True" if jit_compile else "")
        + ") defaults (init='map'), one chain"
    )
    return result


def run_pyro_bnn_compiled(*args, **kwargs) -> dict[str, Any]:
    """:func:`run_pyro_bnn` with ``jit_compile=True``: the NUTS transition in compiled C."""
    return run_pyro_bnn(*args, **kwargs, jit_compile=True)


def compiled_problem() -> str | None:
    """Why pyro_bnn's compiled sampler cannot run on the reference model here, or None."""
    from pyro_bnn.inference.analytic import AnalyticGradient
    from pyro_bnn.inference.flat import FlatModel
    from pyro_bnn.inference.native import native_problem

    x, y = ref.make_reference_data(4, seed=0)
    flat = FlatModel(ref.make_pyro_bnn_model(1, 3), x, y.reshape(-1))
    return native_problem(AnalyticGradient(flat))


def repeat_runs(run, seeds, budget_seconds, x, y, hidden, warmup, samples, max_tree_depth):
    """``run`` once per seed, stopping early once the runs so far took ``budget_seconds``."""
    runs, start = [], time.perf_counter()
    for seed in seeds:
        runs.append(run(x, y, hidden, warmup, samples, seed, max_tree_depth))
        if time.perf_counter() - start > budget_seconds:
            break
    return runs


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps (default 200)")
    parser.add_argument("--samples", type=int, default=None, help="draws kept (default 200)")
    parser.add_argument(
        "--textbook-warmup", type=int, default=None, help="textbook Pyro warm-up (default --warmup)"
    )
    parser.add_argument(
        "--textbook-samples",
        type=int,
        default=None,
        help="textbook Pyro draws (default --samples); fewer = shorter, noisier ESS/s",
    )
    parser.add_argument(
        "--max-tree-depth",
        type=int,
        default=None,
        help="NUTS max tree depth for all three (default 10 = every library's default; 4 with "
        "--quick)",
    )
    parser.add_argument("--skip-textbook", action="store_true", help="do not run textbook Pyro")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs (seeds seed, seed+1, ...) of NumPyro and pyro_bnn: the first is reported "
        "as 'cold' (includes compilation), the median of the rest as 'warm' "
        "(default 9, 2 with --quick; see --repeat-budget). ESS from 200 draws varies "
        "widely from seed to seed, so the median of 8 warm runs is the headline",
    )
    parser.add_argument(
        "--repeat-budget",
        type=float,
        default=300.0,
        help="stop repeating a library's runs once they took this many seconds (300)",
    )
    parser.add_argument(
        "--long-samples",
        type=int,
        default=None,
        help="draws of the long runs (default 1000; 30 with --quick): NumPyro's fixed cost "
        "per run (about 2 s here) weighs less, so they show the cost per draw",
    )
    parser.add_argument(
        "--long-repeats",
        type=int,
        default=None,
        help="long runs per sampler, the first not counted (NumPyro compiles again for a new "
        "number of draws): default 5, 1 with --quick",
    )
    args = parser.parse_args()
    threads = common.set_threads(args.threads)
    ref.configure_jax(threads)

    if args.quick:
        num_points, hidden, default_steps, repeats = 30, 10, 15, 2
    else:
        num_points, hidden, default_steps, repeats = ref.REFERENCE_NUM_POINTS, 50, 200, 9
    warmup = args.warmup if args.warmup is not None else default_steps
    samples = args.samples if args.samples is not None else default_steps
    repeats = args.repeats if args.repeats is not None else repeats
    max_tree_depth = args.max_tree_depth or (4 if args.quick else 10)
    textbook_warmup = args.textbook_warmup if args.textbook_warmup is not None else warmup
    textbook_samples = args.textbook_samples if args.textbook_samples is not None else samples

    x, y = ref.make_reference_data(num_points, seed=ref.REFERENCE_SEED)
    result: dict[str, Any] = {
        "benchmark": "nuts",
        "quick": args.quick,
        "machine": common.machine_info(threads),
        "problem": {
            "num_points": num_points,
            "hidden": hidden,
            "activation": "tanh",
            "warmup_steps": warmup,
            "num_samples": samples,
            "chains": 1,
            "max_tree_depth": max_tree_depth,
            "repeats": repeats,
            "repeat_budget_seconds": args.repeat_budget,
            "test_inputs": TEST_INPUTS,
            "ess_estimator": "pyro.ops.stats.effective_sample_size",
            "wall_time": "warm-up + sampling, including JIT compilation, one chain",
        },
    }

    seeds = [args.seed + i for i in range(repeats)]

    if args.skip_textbook:
        result["textbook_pyro"] = {"status": "skipped", "reason": "--skip-textbook"}
    else:
        run = run_textbook(
            x, y, hidden, textbook_warmup, textbook_samples, args.seed, max_tree_depth
        )
        result["textbook_pyro"] = summarize_runs([run])

    if ref.numpyro_available():
        runs = repeat_runs(
            run_numpyro, seeds, args.repeat_budget, x, y, hidden, warmup, samples, max_tree_depth
        )
        result["numpyro"] = summarize_runs(runs)
    else:
        result["numpyro"] = {"status": "skipped", "reason": "numpyro/jax not installed"}

    runs = repeat_runs(
        run_pyro_bnn, seeds, args.repeat_budget, x, y, hidden, warmup, samples, max_tree_depth
    )
    result["pyro_bnn"] = summarize_runs(runs)
    problem = compiled_problem()
    if problem is None:
        runs = repeat_runs(
            run_pyro_bnn_compiled,
            seeds,
            args.repeat_budget,
            *(x, y, hidden, warmup, samples, max_tree_depth),
        )
        result["pyro_bnn_compiled"] = summarize_runs(runs)
    else:
        result["pyro_bnn_compiled"] = {"status": "skipped", "reason": problem}

    def headline(name: str, which: str, key: str) -> float | None:
        section = result.get(name, {})
        return section[which][key] if section.get("status") == "ok" else None

    # textbook Pyro has no compilation: its single run serves as both cold and warm.
    result["ratios"] = {
        f"{which}_{key}_pyro_bnn_over_{other}": common.ratio(
            headline("pyro_bnn", which, key), headline(other, which, key)
        )
        for which in ("cold", "warm_median")
        for other in ("numpyro", "textbook_pyro")
        for key in RATIO_KEYS
    }
    result["goals"] = {
        f"{which}_{basis}_ess_per_second_at_least_{label}": _at_least(
            result["ratios"], which, other, bound, basis
        )
        for which in ("cold", "warm_median")
        for basis in ("wall", "cpu")
        for other, bound, label in (
            ("numpyro", 0.5, "half_numpyro"),
            ("numpyro", 1.0, "numpyro"),
            ("textbook_pyro", 10, "10x_textbook"),
        )
    }
    # the cost of one leapfrog step and the steps a draw takes, apart from the ESS noise
    result["step_cost"] = {
        f"{which}_{key}_pyro_bnn_over_numpyro": common.ratio(
            headline("pyro_bnn", which, key), headline("numpyro", which, key)
        )
        for which in ("cold", "warm_median")
        for key in ("steps_per_draw", "microseconds_per_step")
    }
    result["agreement"] = {
        other: agreement(result["pyro_bnn"], result[other])
        for other in ("numpyro", "textbook_pyro")
        if result[other].get("status") == "ok" and result["pyro_bnn"].get("status") == "ok"
    }
    # the compiled sampler (jit_compile=True), against NumPyro and the default sampler
    result["compiled"] = compare(
        result["pyro_bnn_compiled"], {"numpyro": result["numpyro"], "pyro_bnn": result["pyro_bnn"]}
    )

    # long runs: more draws per run, so NumPyro's fixed cost per run weighs less
    long_samples = args.long_samples or (30 if args.quick else 1000)
    long_repeats = args.long_repeats or (1 if args.quick else 5)
    long_seeds = [args.seed + 100 + i for i in range(long_repeats)]
    long: dict[str, Any] = {
        "problem": {"warmup_steps": warmup, "num_samples": long_samples, "runs": long_repeats}
    }
    for name, run in (
        ("numpyro", run_numpyro),
        ("pyro_bnn", run_pyro_bnn),
        ("pyro_bnn_compiled", run_pyro_bnn_compiled),
    ):
        if result[name].get("status") != "ok":
            long[name] = {"status": "skipped", "reason": result[name].get("reason")}
            continue
        runs = [
            run(x, y, hidden, warmup, long_samples, seed, max_tree_depth) for seed in long_seeds
        ]
        long[name] = summarize_runs(runs)
    for name in ("pyro_bnn", "pyro_bnn_compiled"):
        long[f"{name}_vs"] = compare(long[name], {"numpyro": long["numpyro"]})
    result["long"] = long
    common.emit(result, "nuts", args)


def compare(ours: dict[str, Any], others: dict[str, dict], which: str = "warm_median") -> dict:
    """ESS/s ratios, step costs and posterior agreement of ``ours`` against each of ``others``
    (``which``: ``"warm_median"`` or ``"median_all_runs"`` of :func:`summarize_runs`)."""
    out: dict[str, Any] = {}
    for name, other in others.items():
        if ours.get("status") != "ok" or other.get("status") != "ok":
            out[name] = None
            continue
        keys = (*RATIO_KEYS, "steps_per_draw", "microseconds_per_step", "wall_seconds")
        out[name] = {
            f"{key}_ratio": common.ratio(ours[which][key], other[which][key]) for key in keys
        }
        out[name]["ess_per_second_at_least_other"] = all(
            out[name][f"ess_per_{per}_{quantity}_ratio"] >= 1.0
            for per in ("second", "cpu_second")
            for quantity in ("sigma", "mean_min")
        )
        out[name]["agreement"] = agreement(ours, other)
    return out


def agreement(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Do two samplers find the same posterior? z-scores of posterior means.

    For sigma and the network mean at TEST_INPUTS, each sampler's estimate is the
    average over its runs (independent chains with different seeds), with standard
    error sqrt(sum of the runs' squared MC errors) / number of runs;
    ``z = (ours - theirs) / sqrt(se_ours^2 + se_theirs^2)``. |z| well above 3 on some
    quantity means the samplers disagree (or a chain got stuck in another mode).
    """

    def pooled(section):
        means = torch.tensor([run["posterior_means"] for run in section["runs"]])
        errors = torch.tensor([run["posterior_mean_standard_errors"] for run in section["runs"]])
        return means.mean(0), errors.pow(2).sum(0).sqrt() / len(means)

    (mean_a, se_a), (mean_b, se_b) = pooled(ours), pooled(theirs)
    z = (mean_a - mean_b) / (se_a.pow(2) + se_b.pow(2)).sqrt()
    names = ["sigma"] + [f"mean at x={x}" for x in TEST_INPUTS]
    return {
        "quantities": names,
        "pyro_bnn": mean_a.tolist(),
        "other": mean_b.tolist(),
        "z": z.tolist(),
        "max_abs_z": float(z.abs().max()),
    }


RATIO_KEYS = (
    "ess_per_second_sigma",
    "ess_per_second_mean_min",
    "ess_per_cpu_second_sigma",
    "ess_per_cpu_second_mean_min",
)


def _at_least(
    ratios: dict[str, float | None], which: str, other: str, bound: float, basis: str
) -> bool | None:
    """Both ESS ratios (sigma, worst test-input mean) of pyro_bnn over ``other`` >= bound."""
    per = "second" if basis == "wall" else "cpu_second"
    values = [
        ratios[f"{which}_ess_per_{per}_{quantity}_pyro_bnn_over_{other}"]
        for quantity in ("sigma", "mean_min")
    ]
    if any(v is None for v in values):
        return None
    return all(v >= bound for v in values)


if __name__ == "__main__":
    main()
