"""Run every benchmark (each in its own subprocess) and collect the results.

Writes ``bench/results/latest.json`` (all results) and ``bench/results/latest.md`` (a
markdown table for the README, with the machine and the date) and prints the table.
With ``--quick`` the files are ``latest_quick.*`` so a smoke test never overwrites the
committed figures.

    python bench/run.py                 # full run, ~20 min on a 2-core machine
    python bench/run.py --quick         # smoke test, tiny sizes
    python bench/run.py --only svi predict   # re-run two, keep the rest of latest.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common

BENCHMARKS = ("nuts", "svi", "predict", "scaling")


def run_benchmark(name: str, args: argparse.Namespace, results_dir: Path) -> dict[str, Any]:
    """Run ``bench_<name>.py`` in a subprocess; returns its JSON plus run metadata."""
    output = results_dir / (f"{name}_quick.json" if args.quick else f"{name}.json")
    command = [
        sys.executable,
        str(common.BENCH_DIR / f"bench_{name}.py"),
        "--threads",
        str(args.threads),
        "--seed",
        str(args.seed),
        "--output",
        str(output),
    ]
    if args.quick:
        command.append("--quick")
    if name == "nuts":
        for flag in ("textbook_warmup", "textbook_samples"):
            value = getattr(args, flag)
            if value is not None:
                command += [f"--{flag.replace('_', '-')}", str(value)]
        if args.skip_textbook:
            command.append("--skip-textbook")
    if name == "scaling" and results_dir != common.RESULTS_DIR:
        command += ["--plot", str(results_dir / f"scaling{'_quick' if args.quick else ''}.png")]
    print(f"# running {' '.join(command[1:])}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        return {
            "status": "failed",
            "returncode": completed.returncode,
            "stderr_tail": completed.stderr[-4000:],
            "elapsed_seconds": elapsed,
        }
    result = json.loads(completed.stdout)
    result["elapsed_seconds"] = elapsed
    return result


# ----------------------------------------------------------------------------- markdown


def _fmt(value: float | None, unit: str = "", digits: int = 3) -> str:
    if value is None:
        return "–"
    if unit == "ms":
        return f"{value * 1e3:.{digits}g} ms"
    if unit == "s":
        return f"{value:.{digits}g} s"
    if unit == "x":
        return f"{value:.{digits}g}×"
    return f"{value:.{digits}g}"


def _nuts_cell(section: dict[str, Any], which: str) -> str:
    if section.get("status") != "ok":
        return section.get("status", "–")
    numbers = section[which]
    return (
        f"{_fmt(numbers['wall_seconds'], 's')}, ESS/s σ {_fmt(numbers['ess_per_second_sigma'])}, "
        f"mean {_fmt(numbers['ess_per_second_mean_min'])}"
    )


def _compiled_and_long_rows(nuts: dict[str, Any], lines: list[str], ratio_rows: list) -> None:
    """Rows of the compiled sampler (``jit_compile=True``) and of the long runs."""
    p = nuts["problem"]
    compiled = nuts.get("pyro_bnn_compiled", {})
    if compiled.get("status") == "ok":
        for which, label in (("cold", "first run"), ("warm_median", "median of later runs")):
            lines.append(
                f"| NUTS {p['warmup_steps']}+{p['num_samples']}, {label}, pyro_bnn with "
                f"`jit_compile=True` | – | – | – | {_nuts_cell(compiled, which)} |"
            )
    long = nuts.get("long", {})
    for name, label in (
        ("numpyro", "NumPyro"),
        ("pyro_bnn", "pyro_bnn"),
        ("pyro_bnn_compiled", "pyro_bnn `jit_compile=True`"),
    ):
        if long.get(name, {}).get("status") == "ok":
            lines.append(
                f"| NUTS {long['problem']['warmup_steps']}+{long['problem']['num_samples']} "
                f"(long runs), median of later runs: {label} | – | "
                + (
                    f"{_nuts_cell(long[name], 'warm_median')} | – | – |"
                    if name == "numpyro"
                    else f"– | – | {_nuts_cell(long[name], 'warm_median')} |"
                )
            )
    comparisons = [
        ("compiled", "numpyro", f"{p['warmup_steps']}+{p['num_samples']}, `jit_compile=True`")
    ]
    comparisons += [
        (f"long.{name}_vs", "numpyro", f"long runs, {label}")
        for name, label in (
            ("pyro_bnn", "default sampler"),
            ("pyro_bnn_compiled", "`jit_compile=True`"),
        )
    ]
    for key, other, label in comparisons:
        section = nuts
        for part in key.split("."):
            section = (section or {}).get(part, {})
        ratios = (section or {}).get(other)
        if not ratios:
            continue
        for quantity, quantity_label in (("sigma", "σ"), ("mean_min", "mean")):
            ratio_rows.append(
                (
                    f"NUTS ESS/s of {quantity_label}, {label}, over NumPyro (median of later runs)",
                    ratios[f"ess_per_second_{quantity}_ratio"],
                    ratios[f"ess_per_cpu_second_{quantity}_ratio"],
                    "≥ 1 (issue 18)",
                )
            )


def markdown_table(results: dict[str, Any]) -> str:
    """The README table: machine, the side-by-side figures, the ratios and the goals."""
    machine = next((r["machine"] for r in results["benchmarks"].values() if "machine" in r), {})
    lines = [
        f"Benchmarks{' (quick smoke-test sizes, not representative)' if results['quick'] else ''}"
        f" — {machine.get('date', '?')[:10]}, {machine.get('cpu_model', '?')}, "
        f"{machine.get('cpu_count', '?')} cores, torch {machine.get('torch', '?')} "
        f"({machine.get('torch_num_threads', '?')} thread(s)), pyro {machine.get('pyro', '?')}, "
        f"numpyro {machine.get('numpyro', '?')}, load average at start "
        f"{machine.get('load_average_1min_at_start', '?')}. "
        "Reproduce with `python bench/run.py`.",
        "",
    ]
    bench = results["benchmarks"]
    shares = [
        f"{name} {r['machine'].get('cpu_share', '?')}"
        for name, r in bench.items()
        if isinstance(r.get("machine"), dict)
    ]
    if shares:
        lines += [
            "CPU share of each script (process CPU time / wall time; with one thread, well "
            "below 1 means other processes took the CPU): " + ", ".join(shares) + ".",
            "",
        ]
    nuts, svi, predict = bench.get("nuts", {}), bench.get("svi", {}), bench.get("predict", {})

    lines += [
        "| | textbook Pyro | NumPyro | plain PyTorch | pyro_bnn |",
        "|---|---|---|---|---|",
    ]
    ratio_rows: list[tuple[str, float | None, float | None, str]] = []
    if nuts.get("problem"):
        p = nuts["problem"]
        ratios = nuts["ratios"]
        textbook_run = (nuts.get("textbook_pyro", {}).get("runs") or [{}])[0]
        textbook_label = (
            f" ({textbook_run.get('warmup_steps')}+{textbook_run.get('num_samples')})"
            if textbook_run
            and (textbook_run.get("warmup_steps"), textbook_run.get("num_samples"))
            != (p["warmup_steps"], p["num_samples"])
            else ""
        )
        for which, label in (("cold", "first run"), ("warm_median", "median of later runs")):
            lines.append(
                f"| NUTS {p['warmup_steps']}+{p['num_samples']}, {label}: wall time, ESS/s of σ, "
                f"ESS/s of the mean (worst of {len(p['test_inputs'])} test inputs) | "
                f"{_nuts_cell(nuts.get('textbook_pyro', {}), which)}{textbook_label} | "
                f"{_nuts_cell(nuts.get('numpyro', {}), which)} | – | "
                f"{_nuts_cell(nuts.get('pyro_bnn', {}), which)} |"
            )
            for other, other_label, goal in (
                ("numpyro", "NumPyro", "≥ 0.5"),
                ("textbook_pyro", "textbook Pyro", "≥ 10"),
            ):
                for quantity, quantity_label in (("sigma", "σ"), ("mean_min", "mean")):
                    ratio_rows.append(
                        (
                            f"NUTS ESS/s of {quantity_label}, {label}, over {other_label}",
                            ratios.get(f"{which}_ess_per_second_{quantity}_pyro_bnn_over_{other}"),
                            ratios.get(
                                f"{which}_ess_per_cpu_second_{quantity}_pyro_bnn_over_{other}"
                            ),
                            goal,
                        )
                    )
    if nuts.get("problem"):
        _compiled_and_long_rows(nuts, lines, ratio_rows)
    if svi.get("problem"):
        for key in (k for k in svi if k.startswith("num_particles_")):
            section = svi[key]
            particles = key.split("_")[-1]

            def per_call(name: str, section=section, field="seconds_per_call") -> float | None:
                return section.get(name, {}).get(field)

            marginal = per_call("pyro_bnn_fit_svi_normal", field="median_marginal_seconds_per_step")
            lines.append(
                f'| SVI step, {particles} particle(s), AutoNormal / `guide="normal"` | '
                f"{_fmt(per_call('textbook_pyro_trace_elbo'), 'ms')} "
                f"(JitTrace_ELBO {_fmt(per_call('textbook_pyro_jit_trace_elbo'), 'ms')}) | – | "
                + (
                    f"MAP Adam {_fmt(per_call('plain_torch_map_adam'), 'ms')}; "
                    if per_call("plain_torch_map_adam")
                    else ""
                )
                + f"Bayes by Backprop {_fmt(per_call('plain_torch_bayes_by_backprop'), 'ms')} | "
                f"{_fmt(per_call('pyro_bnn_fit_svi_normal'), 'ms')} per step of a "
                f"{section.get('pyro_bnn_fit_svi_normal', {}).get('num_steps', '?')}-step fit; "
                f"{_fmt(marginal, 'ms')} marginal (median) |"
            )
        ratio_rows.append(
            (
                "SVI step time (total / K of a K-step fit_svi), pyro_bnn over plain-torch MAP "
                "Adam step",
                svi["ratios"].get("pyro_bnn_over_plain_map_step"),
                svi["ratios"].get("pyro_bnn_over_plain_map_step_cpu"),
                "≤ 2",
            )
        )
        ratio_rows.append(
            (
                "SVI marginal step time (fixed costs of fit_svi left out), pyro_bnn over "
                "plain-torch MAP Adam step",
                svi["ratios"].get("pyro_bnn_marginal_over_plain_map_step"),
                svi["ratios"].get("pyro_bnn_marginal_over_plain_map_step_cpu"),
                "≤ 2",
            )
        )
        multi = svi["problem"].get("multi_particles")
        if multi:
            ratio_rows.append(
                (
                    f"SVI step time, {multi} particles, pyro_bnn over plain-torch "
                    "Bayes by Backprop",
                    svi["ratios"].get(
                        f"pyro_bnn_{multi}_particles_over_plain_bbb_{multi}_particles"
                    ),
                    None,
                    "–",
                )
            )
    if predict.get("problem"):
        p = predict["problem"]

        def seconds(name: str) -> float | None:
            return predict.get(name, {}).get("seconds")

        lines.append(
            f"| predict, {p['num_draws']} draws × {p['num_inputs']:,} inputs | "
            f"{_fmt(seconds('textbook_pyro'), 's')} (Predictive, one draw at a time) | – | "
            f"{_fmt(seconds('plain_torch_batched'), 's')} (hand-written batched forward) | "
            f"{_fmt(seconds('pyro_bnn'), 's')} |"
        )
        ratio_rows.append(
            (
                "predict throughput, pyro_bnn over plain-torch batched forward",
                predict["ratios"].get("pyro_bnn_over_plain_throughput"),
                predict["ratios"].get("pyro_bnn_over_plain_throughput_cpu"),
                "≥ 0.8",
            )
        )
        ratio_rows.append(
            (
                "predict throughput, pyro_bnn over textbook Predictive",
                predict["ratios"].get("pyro_bnn_over_textbook_throughput"),
                None,
                "–",
            )
        )
    lines.append("")
    if ratio_rows:
        lines += [
            "| ratio (measured side by side) | by wall time | by CPU time | goal (issue 7) |",
            "|---|---|---|---|",
        ]
        for label, wall, cpu, goal in ratio_rows:
            lines.append(f"| {label} | {_fmt(wall, 'x')} | {_fmt(cpu, 'x')} | {goal} |")
        lines.append("")

    agreements = [
        ("pyro_bnn", other_label, nuts.get("agreement", {}).get(other))
        for other, other_label in (("numpyro", "NumPyro"), ("textbook_pyro", "textbook Pyro"))
    ]
    compiled_vs = (nuts.get("compiled") or {}).get("numpyro") or {}
    agreements.append(("pyro_bnn `jit_compile=True`", "NumPyro", compiled_vs.get("agreement")))
    for ours_label, other_label, agree in agreements:
        if agree:
            lines += [
                f"Same posterior? {ours_label} vs {other_label}, posterior means pooled over the "
                "runs, z = difference / combined Monte Carlo error: "
                + ", ".join(
                    f"{name} {ours:.3g} vs {theirs:.3g} (z {z:+.1f})"
                    for name, ours, theirs, z in zip(
                        agree["quantities"],
                        agree["pyro_bnn"],
                        agree["other"],
                        agree["z"],
                        strict=True,
                    )
                )
                + f"; max |z| {agree['max_abs_z']:.1f}.",
                "",
            ]

    rss = predict.get("peak_rss")
    if isinstance(rss, list) and isinstance(predict.get("peak_rss_default_chunk_size"), dict):
        rss = [predict["peak_rss_default_chunk_size"], *rss]
    if isinstance(rss, list):
        parts = [
            f"chunk_size={r['chunk_size']}"
            + (f" ({r['chunk_size_used']})" if r["chunk_size"] == "default" else "")
            + f": peak RSS {r['peak_rss_mb']:.0f} MB "
            f"(+{r['peak_rss_increase_mb']:.0f} MB during predict, {r['seconds']:.2f} s)"
            for r in rss
        ]
        lines += [
            f"Memory, `predict(..., keep_draws=False)` on {rss[0]['num_inputs']:,} inputs × "
            f"{rss[0]['num_draws']} draws: " + "; ".join(parts) + ".",
            "",
        ]

    goals = results.get("goals", {})
    if goals:
        lines += ["| goal (issue 7) | met? |", "|---|---|"]
        for name, met in goals.items():
            lines.append(f"| {name} | {'yes' if met else ('no' if met is False else '–')} |")
        lines.append("")
    scaling = bench.get("scaling", {})
    if scaling.get("plot"):
        notes = [
            f"NUTS at N={row['num_points']}, width {row['hidden']}: {row['nuts']['status']} "
            f"({row['nuts'].get('error') or row['nuts'].get('reason')})"
            for key in ("by_num_points", "by_width")
            for row in scaling.get(key, [])
            if row["nuts"].get("status") in ("failed", "skipped")
        ]
        lines += [f"Scaling with N and width: `{scaling['plot']}`." + (" " if notes else ""), ""]
        if notes:
            lines[-2] += "; ".join(notes) + "."
    failed = [name for name, r in bench.items() if r.get("status") == "failed"]
    if failed:
        lines += [f"FAILED: {', '.join(failed)} (see latest.json for stderr).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument("--results-dir", type=Path, default=common.RESULTS_DIR)
    parser.add_argument("--textbook-warmup", type=int, default=None)
    parser.add_argument("--textbook-samples", type=int, default=None)
    parser.add_argument("--skip-textbook", action="store_true")
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="only re-render latest[_quick].md from the existing latest[_quick].json",
    )
    args = parser.parse_args()

    results_dir = args.results_dir.resolve()
    stem = "latest_quick" if args.quick else "latest"
    if args.table_only:
        results = json.loads((results_dir / f"{stem}.json").read_text())
        table = markdown_table(results)
        common.write_text_atomic(table + "\n", results_dir / f"{stem}.md")
        print(table)
        return
    results: dict[str, Any] = {"quick": args.quick, "threads": args.threads, "benchmarks": {}}
    previous = results_dir / f"{stem}.json"
    if set(args.only) != set(BENCHMARKS) and previous.is_file():
        # re-running some benchmarks: keep the others from the last run
        results["benchmarks"] = json.loads(previous.read_text()).get("benchmarks", {})
    for name in args.only:
        results["benchmarks"][name] = run_benchmark(name, args, results_dir)

    goals: dict[str, Any] = {}
    for name in ("nuts", "svi", "predict"):
        goals.update(results["benchmarks"].get(name, {}).get("goals", {}))
    results["goals"] = goals

    common.write_json_atomic(results, results_dir / f"{stem}.json")
    table = markdown_table(results)
    common.write_text_atomic(table + "\n", results_dir / f"{stem}.md")
    print(table)
    if any(r.get("status") == "failed" for r in results["benchmarks"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
