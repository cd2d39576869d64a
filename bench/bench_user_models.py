"""A user-written Pyro model through fit_svi and fit_nuts, with and without torch.jit.

The model is the reference net written the textbook Pyro way
(``reference_models.TextbookBNN``: ``PyroModule[nn.Linear]`` layers with ``PyroSample``
priors) on the reference data; pyro_bnn traces it like any user model. Side by side in
one process:

- SVI: ``fit_svi`` with ``Trace_ELBO()`` against ``JitTrace_ELBO()`` (the same steps,
  AutoNormal guide), and a plain ``pyro.infer.SVI`` loop with ``Trace_ELBO`` (what
  ``fit_svi`` adds to Pyro); then ``TraceMeanField_ELBO()`` against
  ``JitTraceMeanField_ELBO()`` on a fifth of the steps (the compiled one is the slower);
- NUTS: ``fit_nuts`` with ``jit_compile=False`` against ``jit_compile=True``, each on
  pyro_bnn's lean sampler (the default, on Pyro's potential of the model) and on Pyro's
  NUTS (``sampler="pyro"``): one chain, the same warm-up, draws and tree depth.

Times include compilation. The posterior mean of the noise ``sigma`` is printed for each
fit, as a check that the compiled fits target the same posterior.

    python bench/bench_user_models.py [--quick] [--threads 1]
"""

from __future__ import annotations

import time
import warnings

import common
import pyro
import reference_models as ref
from pyro.infer import (
    SVI,
    JitTrace_ELBO,
    JitTraceMeanField_ELBO,
    Trace_ELBO,
    TraceMeanField_ELBO,
)
from pyro.infer.autoguide import AutoNormal

import pyro_bnn as pb


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes and torch.jit deprecation
        return fn()


def bench_svi(x, y, num_steps: int, seed: int) -> dict:
    """fit_svi with and without JitTrace_ELBO, and a plain Pyro SVI loop."""
    result = {}
    mean_field_steps = max(num_steps // 5, 10)
    for name, loss, steps in (
        ("trace_elbo", Trace_ELBO(), num_steps),
        ("jit_trace_elbo", JitTrace_ELBO(ignore_jit_warnings=True), num_steps),
        ("trace_mean_field_elbo", TraceMeanField_ELBO(), mean_field_steps),
        (
            "jit_trace_mean_field_elbo",
            JitTraceMeanField_ELBO(ignore_jit_warnings=True),
            mean_field_steps,
        ),
    ):
        seconds, post = common.time_call(
            lambda loss=loss, steps=steps: _quiet(
                lambda: pb.fit_svi(
                    ref.TextbookBNN(), x, y, guide="normal", loss=loss, num_steps=steps,
                    seed=seed, progress=False, check_collapse=False,
                )
            )
        )  # fmt: skip
        result[name] = {
            "num_steps": steps,
            "seconds": round(seconds, 3),
            "ms_per_step": round(1000 * seconds / steps, 3),
            "sigma_mean": round(float(post.draws["sigma"].mean()), 4),
        }
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    model = ref.TextbookBNN()
    svi = SVI(model, AutoNormal(model), pyro.optim.Adam({"lr": 0.01}), Trace_ELBO())
    start = time.perf_counter()
    for _ in range(num_steps):
        svi.step(x, y)
    plain = time.perf_counter() - start
    pyro.clear_param_store()
    result["plain_pyro_loop"] = {"seconds": round(plain, 3)}
    result["speedup_jit"] = common.ratio(
        result["trace_elbo"]["seconds"], result["jit_trace_elbo"]["seconds"]
    )
    result["speedup_jit_mean_field"] = common.ratio(
        result["trace_mean_field_elbo"]["seconds"], result["jit_trace_mean_field_elbo"]["seconds"]
    )
    result["fit_svi_over_plain_pyro"] = common.ratio(result["trace_elbo"]["seconds"], plain)
    return result


def bench_nuts(x, y, steps: int, depth: int, seed: int) -> dict:
    """fit_nuts with and without jit_compile, on pyro_bnn's lean sampler (the default) and
    on Pyro's NUTS (``sampler="pyro"``); one chain each."""
    result = {}
    for sampler in ("lean", "pyro"):
        for jit in (False, True):
            name = f"{sampler}_{'jit_compile' if jit else 'no_jit'}"
            seconds, post = common.time_call(
                lambda jit=jit, sampler=sampler: _quiet(
                    lambda: pb.fit_nuts(
                        ref.TextbookBNN(), x, y, num_samples=steps, warmup_steps=steps,
                        max_tree_depth=depth, jit_compile=jit, init="prior", seed=seed,
                        progress=False, sampler="auto" if sampler == "lean" else sampler,
                    )
                )
            )  # fmt: skip
            result[name] = {
                "seconds": round(seconds, 3),
                "sigma_mean": round(float(post.draws["sigma"].mean()), 4),
                "divergences": post.diagnostics["divergences"],
                "mean_tree_depth": post.diagnostics["chains"][0]["mean_tree_depth"],
            }
    for sampler in ("lean", "pyro"):
        result[f"speedup_jit_{sampler}"] = common.ratio(
            result[f"{sampler}_no_jit"]["seconds"], result[f"{sampler}_jit_compile"]["seconds"]
        )
    for jit in ("no_jit", "jit_compile"):
        result[f"speedup_lean_over_pyro_{jit}"] = common.ratio(
            result[f"pyro_{jit}"]["seconds"], result[f"lean_{jit}"]["seconds"]
        )
    return result


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    args = parser.parse_args()
    threads = common.set_threads(args.threads)
    x, y = ref.make_reference_data()
    svi_steps, nuts_steps, depth = (50, 10, 3) if args.quick else (1000, 150, 5)
    result = {
        "benchmark": "user_models",
        "machine": common.machine_info(threads),
        "model": "reference_models.TextbookBNN (1 x 50 tanh, 100 points)",
        "svi": {"num_steps": svi_steps, **bench_svi(x, y, svi_steps, args.seed)},
        "nuts": {
            "warmup_steps": nuts_steps,
            "num_samples": nuts_steps,
            "max_tree_depth": depth,
            **bench_nuts(x, y, nuts_steps, depth, args.seed),
        },
    }
    common.emit(result, "user_models", args)


if __name__ == "__main__":
    main()
