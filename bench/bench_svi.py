"""Time per SVI step on the reference model: textbook Pyro vs pyro_bnn vs plain torch.

- textbook Pyro: ``SVI(TextbookBNN(), AutoNormal, Adam, Trace_ELBO()).step`` (and
  ``JitTrace_ELBO`` for reference);
- pyro_bnn: ``fit_svi(model, x, y, guide="normal", num_steps=K, progress=False)``; time
  per step = total / K after a warm-up call, and the marginal cost
  (T(K) - T(K/4)) / (3K/4), which leaves out fixed set-up/finishing costs;
- plain torch: one full-batch Adam step of a MAP point net (the issue's yardstick), and
  a flat-vector Bayes-by-Backprop step for reference.

Each with one particle and with ``num_particles=8``. Then whole fits of 1000 steps, set-up
and checks included (``fit_svi`` with its defaults against the two plain torch loops, a
fresh model and optimiser each time), in interleaved rounds in this process, and the
first call of each in a fresh process (imports done, nothing warmed up).

The machine may be shared, so the methods are measured in interleaved rounds (a load
change hits all of them alike); each measurement lasts about ``--target-seconds``; the
headline per-step time of a method is its best round (``seconds_per_call``), the median
is reported too.

    python bench/bench_svi.py [--quick] [--threads 1]
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import common
import pyro
import pyro.optim
import reference_models as ref
from pyro.infer import SVI, JitTrace_ELBO, Trace_ELBO
from pyro.infer.autoguide import AutoNormal

Measurer = Callable[[], dict[str, float]]


def _calls_for(step: Callable[[], Any], target_seconds: float, num_warmup: int = 5) -> int:
    """Warm ``step`` up and return how many calls take about ``target_seconds``."""
    for _ in range(num_warmup):
        step()
    start = time.perf_counter()
    for _ in range(3):
        step()
    per_call = (time.perf_counter() - start) / 3
    return int(min(20_000, max(3, target_seconds / per_call)))


def _loop_measurer(step: Callable[[], Any], target_seconds: float) -> Measurer:
    calls = _calls_for(step, target_seconds)

    def measure() -> dict[str, float]:
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(calls):
            step()
        return {
            "seconds_per_call": (time.perf_counter() - start) / calls,
            "cpu_seconds_per_call": (time.process_time() - cpu_start) / calls,
            "calls": calls,
        }

    return measure


def textbook_measurer(x, y, hidden, num_particles, target_seconds, jit=False):
    """Measurer for textbook Pyro SVI steps (vectorized particles if Pyro can)."""
    elbo_class = JitTrace_ELBO if jit else Trace_ELBO
    notes = []
    for vectorize in [True, False] if num_particles > 1 else [False]:
        pyro.clear_param_store()
        pyro.set_rng_seed(0)
        model = ref.TextbookBNN(in_features=x.shape[1], hidden=hidden)
        guide = AutoNormal(model)
        elbo = elbo_class(num_particles=num_particles, vectorize_particles=vectorize)
        svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.01}), elbo)
        try:
            measure = _loop_measurer(lambda svi=svi: svi.step(x, y), target_seconds)
        except Exception as error:  # noqa: BLE001 - recorded, e.g. F.linear on 3-D weights
            notes.append(f"vectorize_particles={vectorize} failed: {type(error).__name__}")
            continue
        info = {"vectorize_particles": vectorize, "notes": notes}
        return measure, info
    return None, {"status": "failed", "notes": notes}


def pyro_bnn_measurer(x, y, hidden, num_particles, num_steps) -> tuple[Measurer, dict]:
    """Measurer for ``fit_svi``: total / K, the marginal cost per step and the fixed cost.

    ``fit_svi`` has fixed costs besides its K steps (set-up, the final draws, the
    mean-field collapse check, which runs its own MAP fit); fits of K and K/4 steps
    separate them: marginal = (T(K) - T(K/4)) / (3K/4), fixed = T(K) - K * marginal.
    """
    import pyro_bnn

    def fit(steps: int) -> tuple[float, float]:
        model = ref.make_pyro_bnn_model(x.shape[1], hidden)
        start, cpu_start = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. the mean-field collapse warning
            pyro_bnn.fit_svi(
                model,
                x,
                y,
                guide="normal",
                num_steps=steps,
                num_particles=num_particles,
                progress=False,
                standardize=False,
            )
        return time.perf_counter() - start, time.process_time() - cpu_start

    fit(20)  # warm-up: imports, allocator, any compilation
    short_steps = num_steps // 4

    def measure() -> dict[str, float]:
        (total_long, cpu_long), (total_short, cpu_short) = fit(num_steps), fit(short_steps)
        marginal = (total_long - total_short) / (num_steps - short_steps)
        return {
            "seconds_per_call": total_long / num_steps,
            "cpu_seconds_per_call": cpu_long / num_steps,
            "marginal_seconds_per_step": marginal,
            "marginal_cpu_seconds_per_step": (cpu_long - cpu_short) / (num_steps - short_steps),
            "fixed_seconds": total_long - num_steps * marginal,
            "num_steps": num_steps,
            "short_run_steps": short_steps,
        }

    how = (
        f"fit_svi(guide='normal', num_steps={num_steps}, progress=False): seconds_per_call = "
        "total / K (includes fixed costs such as the collapse check), marginal_seconds_per_step "
        f"from fits of {num_steps} and {short_steps} steps"
    )
    return measure, {"how": how}


WHOLE_FIT_STEPS = 1000


def whole_fit_measurers(x, y, hidden: int, num_steps: int) -> dict[str, Measurer]:
    """One complete training run each: what a user waits for, set-up and checks included.

    ``fit_svi(model, x, y, num_steps=K, progress=False)`` with every default (AutoNormal,
    standardisation, the convergence and mean-field collapse checks, the final draws)
    against a plain torch Bayes-by-Backprop loop and a plain torch MAP loop of K Adam
    steps, each building its network and optimiser first.
    """
    import pyro_bnn

    def timed(run: Callable[[], Any]) -> Measurer:
        def measure() -> dict[str, float]:
            start, cpu_start = time.perf_counter(), time.process_time()
            run()
            return {
                "seconds": time.perf_counter() - start,
                "cpu_seconds": time.process_time() - cpu_start,
            }

        return measure

    def fit_svi() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a warning is part of the work, not the output
            pyro_bnn.fit_svi(
                ref.make_pyro_bnn_model(x.shape[1], hidden), x, y, num_steps=num_steps,
                progress=False,
            )  # fmt: skip

    def plain(make) -> Callable[[], None]:
        def run() -> None:
            step = make().make_step(x, y)
            for _ in range(num_steps):
                step()

        return run

    return {
        "pyro_bnn_fit_svi": timed(fit_svi),
        "plain_torch_bayes_by_backprop": timed(
            plain(lambda: ref.PlainBayesByBackprop(in_features=x.shape[1], hidden=hidden))
        ),
        "plain_torch_map_adam": timed(
            plain(lambda: ref.PlainMAPNet(in_features=x.shape[1], hidden=hidden))
        ),
    }


_FIRST_CALL = """
import sys, time, warnings
sys.path.insert(0, {bench!r})
import torch
torch.set_num_threads({threads})
import reference_models as ref
import pyro_bnn
x, y = ref.make_reference_data({num_points}, seed=ref.REFERENCE_SEED)
start = time.perf_counter()
if {which!r} == "pyro_bnn_fit_svi":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyro_bnn.fit_svi(ref.make_pyro_bnn_model(x.shape[1], {hidden}), x, y,
                         num_steps={steps}, progress=False)
else:
    net = ref.PlainBayesByBackprop(in_features=x.shape[1], hidden={hidden})
    step = net.make_step(x, y)
    for _ in range({steps}):
        step()
print(time.perf_counter() - start)
"""


def first_calls(num_points: int, hidden: int, num_steps: int, threads: int) -> dict[str, float]:
    """Seconds of the first whole fit in a fresh process (after the imports), per method."""
    import subprocess
    import sys

    seconds = {}
    for which in ("pyro_bnn_fit_svi", "plain_torch_bayes_by_backprop"):
        code = _FIRST_CALL.format(
            bench=str(common.BENCH_DIR), threads=threads, num_points=num_points, hidden=hidden,
            steps=num_steps, which=which,
        )  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        seconds[which] = float(done.stdout.strip().splitlines()[-1])
    return seconds


def run_rounds(measurers: dict[str, Measurer], rounds: int) -> dict[str, dict[str, Any]]:
    """Measure every method once per round, rounds interleaved; best and median per key."""
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in measurers}
    for _ in range(rounds):
        for name, measure in measurers.items():
            samples[name].append(measure())
    summary = {}
    for name, runs in samples.items():
        entry: dict[str, Any] = {"rounds": rounds}
        for key in runs[0]:
            values = [run[key] for run in runs]
            if key in ("calls", "num_steps", "short_run_steps"):
                entry[key] = values[0]
            else:
                entry[key] = min(values)
                entry[f"median_{key}"] = statistics.median(values)
        summary[name] = entry
    return summary


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=8, help="multi-particle case (8)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (5; 2 quick)")
    parser.add_argument(
        "--target-seconds", type=float, default=None, help="seconds per measurement (1; 0.1 quick)"
    )
    parser.add_argument(
        "--fit-steps", type=int, default=None, help="K for fit_svi (3000, its default; 200 quick)"
    )
    args = parser.parse_args()
    threads = common.set_threads(args.threads)

    if args.quick:
        num_points, hidden, rounds, target, fit_steps = 30, 10, 2, 0.1, 200
    else:
        # K = 3000 is fit_svi's default number of steps, i.e. a typical fit
        num_points, hidden, rounds, target, fit_steps = ref.REFERENCE_NUM_POINTS, 50, 5, 1.0, 3000
    fit_steps = args.fit_steps or fit_steps
    rounds = args.rounds or rounds
    target = args.target_seconds or target
    x, y = ref.make_reference_data(num_points, seed=ref.REFERENCE_SEED)

    result: dict[str, Any] = {
        "benchmark": "svi",
        "quick": args.quick,
        "machine": common.machine_info(threads),
        "problem": {
            "num_points": num_points,
            "hidden": hidden,
            "full_batch": True,
            "multi_particles": args.particles,
            "optimizer": "Adam",
            "timing": f"{rounds} interleaved rounds of ~{target} s per method; "
            "seconds_per_call = best round, median_seconds_per_call = median round, "
            "cpu_seconds_per_call = best round of process CPU time",
        },
    }
    for particles in (1, args.particles):
        measurers: dict[str, Measurer] = {}
        infos: dict[str, dict] = {}
        for name, jit in (
            ("textbook_pyro_trace_elbo", False),
            ("textbook_pyro_jit_trace_elbo", True),
        ):
            measure, info = textbook_measurer(x, y, hidden, particles, target, jit=jit)
            infos[name] = info
            if measure is not None:
                measurers[name] = measure
        bbb = ref.PlainBayesByBackprop(in_features=x.shape[1], hidden=hidden)
        measurers["plain_torch_bayes_by_backprop"] = _loop_measurer(
            bbb.make_step(x, y, particles), target
        )
        if particles == 1:
            net = ref.PlainMAPNet(in_features=x.shape[1], hidden=hidden)
            measurers["plain_torch_map_adam"] = _loop_measurer(net.make_step(x, y), target)
        measurers["pyro_bnn_fit_svi_normal"], infos["pyro_bnn_fit_svi_normal"] = pyro_bnn_measurer(
            x, y, hidden, particles, fit_steps
        )
        section = run_rounds(measurers, rounds)
        for name, info in infos.items():
            section.setdefault(name, {}).update(info)
        result[f"num_particles_{particles}"] = section

    whole = run_rounds(whole_fit_measurers(x, y, hidden, WHOLE_FIT_STEPS), rounds)
    steps = WHOLE_FIT_STEPS
    result["whole_fit"] = {
        "num_steps": steps,
        "how": f"one complete {steps}-step training run per round, a fresh model each time; "
        "fit_svi with every default (AutoNormal, standardisation, convergence and collapse "
        "checks, final draws), the plain loops build their net and Adam first",
        **whole,
        "first_call_in_fresh_process_seconds": first_calls(num_points, hidden, steps, threads),
    }

    def per_step(particles: int, name: str, key: str = "seconds_per_call") -> float | None:
        return result[f"num_particles_{particles}"].get(name, {}).get(key)

    plain_map = per_step(1, "plain_torch_map_adam")
    multi = args.particles
    result["ratios"] = {
        "pyro_bnn_over_plain_map_step": common.ratio(
            per_step(1, "pyro_bnn_fit_svi_normal"), plain_map
        ),
        "pyro_bnn_over_plain_map_step_medians": common.ratio(
            per_step(1, "pyro_bnn_fit_svi_normal", "median_seconds_per_call"),
            per_step(1, "plain_torch_map_adam", "median_seconds_per_call"),
        ),
        "pyro_bnn_over_plain_map_step_cpu": common.ratio(
            per_step(1, "pyro_bnn_fit_svi_normal", "cpu_seconds_per_call"),
            per_step(1, "plain_torch_map_adam", "cpu_seconds_per_call"),
        ),
        # a difference of two timings: its best round is biased low, so medians here
        "pyro_bnn_marginal_over_plain_map_step": common.ratio(
            per_step(1, "pyro_bnn_fit_svi_normal", "median_marginal_seconds_per_step"),
            per_step(1, "plain_torch_map_adam", "median_seconds_per_call"),
        ),
        "pyro_bnn_marginal_over_plain_map_step_cpu": common.ratio(
            per_step(1, "pyro_bnn_fit_svi_normal", "median_marginal_cpu_seconds_per_step"),
            per_step(1, "plain_torch_map_adam", "median_cpu_seconds_per_call"),
        ),
        "textbook_over_pyro_bnn": common.ratio(
            per_step(1, "textbook_pyro_trace_elbo"), per_step(1, "pyro_bnn_fit_svi_normal")
        ),
        f"pyro_bnn_{multi}_particles_over_plain_map_step": common.ratio(
            per_step(multi, "pyro_bnn_fit_svi_normal"), plain_map
        ),
        f"pyro_bnn_{multi}_particles_over_plain_bbb_{multi}_particles": common.ratio(
            per_step(multi, "pyro_bnn_fit_svi_normal"),
            per_step(multi, "plain_torch_bayes_by_backprop"),
        ),
        f"pyro_bnn_{multi}_particles_over_1_particle": common.ratio(
            per_step(multi, "pyro_bnn_fit_svi_normal"), per_step(1, "pyro_bnn_fit_svi_normal")
        ),
        f"textbook_{multi}_particles_over_pyro_bnn_{multi}_particles": common.ratio(
            per_step(multi, "textbook_pyro_trace_elbo"), per_step(multi, "pyro_bnn_fit_svi_normal")
        ),
    }

    def whole(name: str, key: str = "seconds") -> float | None:
        return result["whole_fit"].get(name, {}).get(key)

    first = result["whole_fit"]["first_call_in_fresh_process_seconds"]
    result["ratios"] |= {
        "whole_fit_svi_over_plain_bbb": common.ratio(
            whole("pyro_bnn_fit_svi"), whole("plain_torch_bayes_by_backprop")
        ),
        "whole_fit_svi_over_plain_bbb_medians": common.ratio(
            whole("pyro_bnn_fit_svi", "median_seconds"),
            whole("plain_torch_bayes_by_backprop", "median_seconds"),
        ),
        "whole_fit_svi_over_plain_map": common.ratio(
            whole("pyro_bnn_fit_svi"), whole("plain_torch_map_adam")
        ),
        "first_call_fit_svi_over_plain_bbb": common.ratio(
            first["pyro_bnn_fit_svi"], first["plain_torch_bayes_by_backprop"]
        ),
    }

    def within_2x(key: str) -> bool | None:
        value = result["ratios"][key]
        return None if value is None else value <= 2.0

    bbb_ratio = result["ratios"]["whole_fit_svi_over_plain_bbb"]
    result["goals"] = {
        "whole_fit_svi_within_1_5x_plain_bbb_loop": None if bbb_ratio is None else bbb_ratio <= 1.5,
        "fit_svi_step_within_2x_plain_map_step": within_2x("pyro_bnn_over_plain_map_step"),
        "fit_svi_step_within_2x_plain_map_step_cpu": within_2x("pyro_bnn_over_plain_map_step_cpu"),
        "fit_svi_marginal_step_within_2x_plain_map_step": within_2x(
            "pyro_bnn_marginal_over_plain_map_step"
        ),
        "fit_svi_marginal_step_within_2x_plain_map_step_cpu": within_2x(
            "pyro_bnn_marginal_over_plain_map_step_cpu"
        ),
    }
    common.emit(result, "svi", args)


if __name__ == "__main__":
    main()
