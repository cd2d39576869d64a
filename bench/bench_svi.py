"""Time per SVI step on the reference model: textbook Pyro vs pyro_bnn vs plain torch.

- textbook Pyro: ``SVI(TextbookBNN(), AutoNormal, Adam, Trace_ELBO()).step`` (and
  ``JitTrace_ELBO`` for reference);
- pyro_bnn: ``fit_svi(model, x, y, guide="normal", num_steps=K, progress=False)``; time
  per step = total / K after a warm-up call, and the marginal cost
  (T(K) - T(K/4)) / (3K/4), which leaves out fixed set-up/finishing costs;
- plain torch: one full-batch Adam step of a MAP point net (the issue's yardstick), and
  a flat-vector Bayes-by-Backprop step for reference.

Each with one particle and with ``num_particles=8``.

    python bench/bench_svi.py [--quick] [--threads 1]
"""

from __future__ import annotations

import time
from typing import Any

import common
import pyro
import pyro.optim
import reference_models as ref
from pyro.infer import SVI, JitTrace_ELBO, Trace_ELBO
from pyro.infer.autoguide import AutoNormal


def textbook_step_time(x, y, hidden: int, num_particles: int, calls: int, jit: bool = False):
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    model = ref.TextbookBNN(in_features=x.shape[1], hidden=hidden)
    guide = AutoNormal(model)
    elbo_class = JitTrace_ELBO if jit else Trace_ELBO
    attempts = [True, False] if num_particles > 1 else [False]
    notes = []
    for vectorize in attempts:
        elbo = elbo_class(num_particles=num_particles, vectorize_particles=vectorize)
        svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.01}), elbo)
        try:
            timing = common.time_per_call(lambda svi=svi: svi.step(x, y), calls, num_warmup=5)
        except Exception as error:  # noqa: BLE001 - recorded, e.g. F.linear on 3-D weights
            notes.append(f"vectorize_particles={vectorize} failed: {type(error).__name__}")
            pyro.clear_param_store()
            continue
        timing["vectorize_particles"] = vectorize
        if notes:
            timing["notes"] = notes
        return timing
    return {"status": "failed", "notes": notes}


def plain_map_step_time(x, y, hidden: int, calls: int) -> dict[str, Any]:
    net = ref.PlainMAPNet(in_features=x.shape[1], hidden=hidden)
    return common.time_per_call(net.make_step(x, y), calls, num_warmup=20)


def plain_bbb_step_time(x, y, hidden: int, num_particles: int, calls: int) -> dict[str, Any]:
    net = ref.PlainBayesByBackprop(in_features=x.shape[1], hidden=hidden)
    return common.time_per_call(net.make_step(x, y, num_particles), calls, num_warmup=20)


def pyro_bnn_step_time(x, y, hidden: int, num_particles: int, num_steps: int) -> dict[str, Any]:
    import warnings

    import pyro_bnn

    def fit(steps: int) -> float:
        pyro.clear_param_store()
        model = ref.make_pyro_bnn_model(x.shape[1], hidden)
        start = time.perf_counter()
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
            )
        return time.perf_counter() - start

    fit(max(10, num_steps // 10))  # warm-up: imports, allocator, any compilation
    short_steps = max(1, num_steps // 4)
    totals_long = [fit(num_steps) for _ in range(2)]
    total_short = fit(short_steps)
    total_long = min(totals_long)
    return {
        "seconds_per_call": total_long / num_steps,
        "marginal_seconds_per_step": (total_long - total_short) / (num_steps - short_steps),
        "total_seconds": total_long,
        "num_steps": num_steps,
        "short_run_steps": short_steps,
        "short_run_seconds": total_short,
    }


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=8, help="multi-particle case (8)")
    args = parser.parse_args()
    threads = common.set_threads(args.threads)

    if args.quick:
        num_points, hidden, calls, fit_steps = 30, 10, 20, 100
    else:
        num_points, hidden, calls, fit_steps = ref.REFERENCE_NUM_POINTS, 50, 300, 3000
    x, y = ref.make_reference_data(num_points, seed=ref.REFERENCE_SEED)

    result: dict[str, Any] = {
        "benchmark": "svi",
        "quick": args.quick,
        "machine": common.machine_info(threads),
        "problem": {
            "num_points": num_points,
            "hidden": hidden,
            "full_batch": True,
            "optimizer": "Adam",
            "timing": "median over 3 repeats of `calls` steps after warm-up steps",
            "calls_per_repeat": calls,
        },
    }
    for particles in (1, args.particles):
        section: dict[str, Any] = {
            "textbook_pyro_trace_elbo": textbook_step_time(x, y, hidden, particles, calls),
            "textbook_pyro_jit_trace_elbo": textbook_step_time(
                x, y, hidden, particles, calls, jit=True
            ),
            "plain_torch_bayes_by_backprop": plain_bbb_step_time(x, y, hidden, particles, calls),
        }
        if particles == 1:
            section["plain_torch_map_adam"] = plain_map_step_time(x, y, hidden, calls)
        section["pyro_bnn_fit_svi_normal"] = pyro_bnn_step_time(x, y, hidden, particles, fit_steps)
        result[f"num_particles_{particles}"] = section

    def per_step(particles: int, name: str, key: str = "seconds_per_call") -> float | None:
        return result[f"num_particles_{particles}"].get(name, {}).get(key)

    plain_map = per_step(1, "plain_torch_map_adam")
    multi = args.particles
    result["ratios"] = {
        "pyro_bnn_over_plain_map_step": common.ratio(
            per_step(1, "pyro_bnn_fit_svi_normal"), plain_map
        ),
        "pyro_bnn_marginal_over_plain_map_step": common.ratio(
            per_step(1, "pyro_bnn_fit_svi_normal", "marginal_seconds_per_step"), plain_map
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
    }
    main_ratio = result["ratios"]["pyro_bnn_over_plain_map_step"]
    result["goals"] = {
        "fit_svi_step_within_2x_plain_map_step": None if main_ratio is None else main_ratio <= 2.0
    }
    common.emit(result, "svi", args)


if __name__ == "__main__":
    main()
