"""How pyro_bnn's SVI and NUTS costs grow with data size N and hidden width.

- SVI: seconds per full-batch epoch (one ``fit_svi(guide="normal")`` step on all N
  points), as the marginal cost (T(K) - T(K/4)) / (3K/4), K chosen so a fit takes
  about a second; a plain-torch MAP Adam step is shown for reference.
- NUTS: seconds per iteration of ``fit_nuts`` with K warm-up + K draws, i.e. total
  wall time / 2K (one chain). Warm-up iterations are included: this is the cost a user
  pays per draw. A sweep stops once one point exceeds ``--nuts-budget`` seconds.

Sweeps: N in 10^2 .. 10^5 at width 50; width in 10 .. 400 at N = 100 (1-D input, tanh).
Saves ``bench/scaling.png`` and prints JSON.

    python bench/bench_scaling.py [--quick] [--threads 1]
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import pyro
import reference_models as ref


def svi_seconds_per_epoch(x, y, hidden: int, target_seconds: float, seed: int) -> dict:
    """Marginal seconds per full-batch ``fit_svi`` step: (T(5k) - T(k)) / 4k.

    ``k`` grows (x4) until the difference lasts ``target_seconds``, so fixed costs of a
    fit never pass for per-step cost; the collapse check (a one-off MAP fit) is off.
    """
    import warnings

    import pyro_bnn

    def fit(steps: int) -> float:
        pyro.clear_param_store()
        model = ref.make_pyro_bnn_model(1, hidden)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pyro_bnn.fit_svi(
                model,
                x,
                y,
                guide="normal",
                num_steps=steps,
                progress=False,
                seed=seed,
                check_collapse=False,
                standardize=False,
            )
        return time.perf_counter() - start

    fit(5)  # warm-up
    k = 10
    while True:
        short, long = fit(k), fit(5 * k)
        if long - short >= target_seconds or k >= 5000:
            break
        k *= 4
    return {
        "seconds_per_epoch": max(long - short, 0.0) / (4 * k),
        "average_seconds_per_step": long / (5 * k),
        "num_steps": [k, 5 * k],
    }


def plain_map_seconds_per_step(x, y, hidden: int, target_seconds: float) -> float:
    net = ref.PlainMAPNet(in_features=1, hidden=hidden)
    step = net.make_step(x, y)
    start = time.perf_counter()
    for _ in range(3):
        step()
    per_step_guess = (time.perf_counter() - start) / 3
    calls = int(min(2000, max(5, target_seconds / per_step_guess)))
    return common.time_per_call(step, calls, num_warmup=2, repeats=1)["seconds_per_call"]


def nuts_seconds_per_draw(x, y, hidden: int, steps: int, seed: int, max_tree_depth: int) -> dict:
    import warnings

    import pyro_bnn

    pyro.clear_param_store()
    model = ref.make_pyro_bnn_model(1, hidden)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains: R-hat warnings are expected
        posterior = pyro_bnn.fit_nuts(
            model,
            x,
            y,
            num_samples=steps,
            warmup_steps=steps,
            seed=seed,
            progress=False,
            max_tree_depth=max_tree_depth,
            standardize=False,
        )
    wall = time.perf_counter() - start
    iterations = 2 * steps
    result = {"seconds_per_draw": wall / iterations, "wall_seconds": wall, "iterations": iterations}
    chain = (posterior.diagnostics.get("chains") or [{}])[0]
    gradients = chain.get("gradient_evaluations")
    if isinstance(gradients, int | float) and gradients > 0:
        # wall also holds the MAP start, so this slightly overstates a gradient's cost
        result["gradient_evaluations"] = gradients
        result["gradient_evaluations_per_iteration"] = gradients / iterations
        result["approx_seconds_per_gradient"] = wall / gradients
    if isinstance(chain.get("mean_tree_depth"), int | float):
        result["mean_tree_depth_of_draws"] = chain["mean_tree_depth"]
    if isinstance(chain.get("step_size"), int | float):
        result["step_size"] = chain["step_size"]
    if "sampler" in chain:
        result["sampler"] = str(chain["sampler"])
    return result


def sweep(points, data_for, hidden_for, args, label: str) -> list[dict[str, Any]]:
    """Run SVI, plain-MAP and NUTS timings over ``points``; NUTS stops past the budget."""
    rows = []
    nuts_over_budget = None
    for value in points:
        x, y = data_for(value)
        hidden = hidden_for(value)
        row: dict[str, Any] = {label: value, "num_points": x.shape[0], "hidden": hidden}
        row["svi"] = svi_seconds_per_epoch(x, y, hidden, args.svi_target_seconds, args.seed)
        row["plain_map_seconds_per_step"] = plain_map_seconds_per_step(
            x, y, hidden, args.svi_target_seconds / 2
        )
        if nuts_over_budget is None:
            try:
                row["nuts"] = nuts_seconds_per_draw(
                    x, y, hidden, args.nuts_steps, args.seed, args.max_tree_depth
                )
            except Exception as error:  # noqa: BLE001 - a failing fit is a result too
                row["nuts"] = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
            if row["nuts"].get("wall_seconds", math.inf) > args.nuts_budget:
                nuts_over_budget = value
        else:
            row["nuts"] = {
                "status": "skipped",
                "reason": f"NUTS at {label}={nuts_over_budget} failed or took longer than "
                f"--nuts-budget={args.nuts_budget} s",
            }
        rows.append(row)
        print(f"# {label}={value}: done", flush=True, file=__import__("sys").stderr)
    return rows


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5.0))
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.27, wspace=0.22)
    settings = result["settings"]
    panels = [
        (
            "by_num_points",
            "num_points",
            f"number of data points N (width {settings['width_in_num_points_sweep']})",
        ),
        ("by_width", "hidden", f"hidden width (N = {settings['num_points_in_width_sweep']})"),
    ]
    for ax, (key, xkey, xlabel) in zip(axes, panels, strict=True):
        rows = result[key]
        xs = [row[xkey] for row in rows]
        ax.plot(
            xs,
            [row["svi"]["seconds_per_epoch"] for row in rows],
            "o-",
            label="pyro_bnn fit_svi: s per full-batch epoch",
        )
        ax.plot(
            xs,
            [row["plain_map_seconds_per_step"] for row in rows],
            "s--",
            label="plain torch MAP: s per Adam step",
            alpha=0.8,
        )
        nuts_rows = [row for row in rows if "seconds_per_draw" in row["nuts"]]
        ax.plot(
            [row[xkey] for row in nuts_rows],
            [row["nuts"]["seconds_per_draw"] for row in nuts_rows],
            "^-",
            label="pyro_bnn fit_nuts: s per iteration (warm-up + draws)",
        )
        grad_rows = [row for row in nuts_rows if "approx_seconds_per_gradient" in row["nuts"]]
        if grad_rows:
            ax.plot(
                [row[xkey] for row in grad_rows],
                [row["nuts"]["approx_seconds_per_gradient"] for row in grad_rows],
                "v:",
                label="pyro_bnn fit_nuts: ≈ s per gradient evaluation (wall / evaluations)",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("seconds (log scale)")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=9, frameon=False)
    machine = result["machine"]
    fig.suptitle(
        f"pyro_bnn cost scaling, 1 hidden tanh layer, 1-D input — {machine['cpu_model']}, "
        f"{machine['torch_num_threads']} torch thread(s), {machine['date'][:10]}",
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp_name, dpi=130)
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600
        os.replace(tmp_name, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--nuts-steps", type=int, default=None, help="K warm-up = K draws")
    parser.add_argument("--nuts-budget", type=float, default=None, help="seconds per NUTS point")
    parser.add_argument("--max-tree-depth", type=int, default=None, help="NUTS (10; 4 quick)")
    parser.add_argument("--svi-target-seconds", type=float, default=None)
    parser.add_argument("--plot", type=Path, default=None, help="plot path")
    args = parser.parse_args()
    threads = common.set_threads(args.threads)

    if args.quick:
        n_values, widths = [100, 1000], [10, 50]
        defaults = dict(nuts_steps=5, nuts_budget=20.0, svi_target_seconds=0.05, max_tree_depth=4)
        plot_path = common.RESULTS_DIR / "scaling_quick.png"
    else:
        n_values, widths = [100, 1000, 10_000, 100_000], [10, 50, 100, 200, 400]
        defaults = dict(nuts_steps=25, nuts_budget=60.0, svi_target_seconds=0.5, max_tree_depth=10)
        plot_path = common.BENCH_DIR / "scaling.png"
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    plot_path = args.plot or plot_path

    result: dict[str, Any] = {
        "benchmark": "scaling",
        "quick": args.quick,
        "machine": common.machine_info(threads),
        "settings": {
            "nuts_warmup_steps": args.nuts_steps,
            "nuts_num_samples": args.nuts_steps,
            "nuts_budget_seconds": args.nuts_budget,
            "nuts_max_tree_depth": args.max_tree_depth,
            "svi_target_seconds": args.svi_target_seconds,
            "svi_epoch": "one full-batch step (all N points)",
            "nuts_seconds_per_draw": "wall / (warm-up + draws), one chain",
        },
    }
    width_at_n_sweep, n_at_width_sweep = (10 if args.quick else 50), 100
    result["settings"]["width_in_num_points_sweep"] = width_at_n_sweep
    result["settings"]["num_points_in_width_sweep"] = n_at_width_sweep
    result["by_num_points"] = sweep(
        n_values,
        lambda n: ref.make_reference_data(n, seed=ref.REFERENCE_SEED),
        lambda n: width_at_n_sweep,
        args,
        "num_points",
    )
    data_small = ref.make_reference_data(n_at_width_sweep, seed=ref.REFERENCE_SEED)
    result["by_width"] = sweep(widths, lambda w: data_small, lambda w: w, args, "width")
    plot(result, plot_path)
    try:
        result["plot"] = str(plot_path.resolve().relative_to(common.BENCH_DIR.parent))
    except ValueError:  # outside the repository
        result["plot"] = str(plot_path.resolve())
    common.emit(result, "scaling", args)


if __name__ == "__main__":
    main()
