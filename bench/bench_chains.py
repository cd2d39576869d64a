"""Four NUTS chains on two cores: pyro_bnn against NumPyro's chain methods.

The reference model (1×50 tanh, 100 points), 4 chains of 200 warm-up steps and 200 draws
each, side by side in one process:

- NumPyro with ``chain_method="sequential"`` and ``"vectorized"`` (its ``"parallel"``
  needs a device per chain: with 4 chains on a 2-core CPU it falls back to sequential);
- pyro_bnn's ``fit_nuts(num_chains=4)`` one chain after the other, and with
  ``parallel_chains=True`` (worker processes, as many at once as there are cores).

They run in ``--repeats`` rounds (seeds ``seed, seed + 1, ...``), each round every
method in turn: the first round pays NumPyro's compilation (pyro_bnn's parallel chains
pay their workers' start-up, ``import torch``, in every round), and the median of the
later rounds is the headline. ESS is Pyro's multi-chain estimator over the 4 chains, of
σ and of the network mean at 5 test inputs (the worst of them).

    python bench/bench_chains.py [--quick] [--repeats 4] [--no-save]
"""

from __future__ import annotations

import os
import resource
import statistics
import time
import warnings
from typing import Any

import common
import reference_models as ref
import torch

TEST_INPUTS = [-5.0, -2.5, 0.0, 2.5, 5.0]
NUM_CHAINS = 4


def summary(draws: ref.NetDraws, num_chains: int, wall: float, cpu: float) -> dict[str, Any]:
    """Wall and CPU time, ESS over the chains and ESS per second of σ and of the mean."""
    sigma = draws.sigma.reshape(num_chains, -1)
    mean = ref.batched_forward(draws.contiguous(), torch.tensor(TEST_INPUTS)[:, None])
    mean = mean.reshape(num_chains, -1, len(TEST_INPUTS))
    ess_sigma = common.ess(sigma)
    ess_mean = min(common.ess(mean[:, :, j]) for j in range(len(TEST_INPUTS)))
    return {
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "ess_sigma": ess_sigma,
        "min_ess_mean_at_test_inputs": ess_mean,
        "ess_per_second_sigma": ess_sigma / wall,
        "ess_per_second_mean_min": ess_mean / wall,
        "sigma_posterior_mean": float(sigma.mean()),
    }


def run_numpyro(method: str, x, y, warmup: int, samples: int, seed: int) -> dict[str, Any]:
    import jax
    import numpy as np
    from numpyro.infer import MCMC, NUTS

    mcmc = MCMC(
        NUTS(ref.numpyro_model),
        num_warmup=warmup,
        num_samples=samples,
        num_chains=NUM_CHAINS,
        chain_method=method,
        progress_bar=False,
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    mcmc.run(jax.random.PRNGKey(seed), np.asarray(x), np.asarray(y))
    draws = jax.block_until_ready(mcmc.get_samples())  # chains one after the other
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return summary(ref.numpyro_draws(draws), NUM_CHAINS, wall, cpu)


def run_pyro_bnn(
    parallel: bool, x, y, warmup: int, samples: int, seed: int, jit_compile: bool = False
) -> dict[str, Any]:
    import pyro_bnn

    start, cpu_start, children = time.perf_counter(), time.process_time(), _children_cpu()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        posterior = pyro_bnn.fit_nuts(
            ref.make_pyro_bnn_model(x.shape[1], ref.REFERENCE_HIDDEN), x, y,
            num_samples=samples, warmup_steps=warmup, num_chains=NUM_CHAINS,
            parallel_chains=parallel, seed=seed, progress=False, standardize=False,
            jit_compile=jit_compile,
        )  # fmt: skip
    wall = time.perf_counter() - start
    # this process and its reaped worker processes
    cpu = time.process_time() - cpu_start + _children_cpu() - children
    result = summary(ref.pyro_bnn_netdraws(posterior.draws), NUM_CHAINS, wall, cpu)
    result["failed_chains"] = posterior.diagnostics["failed_chains"]
    return result


def compiled_problem() -> str | None:
    """Why fit_nuts(jit_compile=True) cannot compile the reference model here, or None."""
    from bench_nuts import compiled_problem as problem

    return problem()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def interleaved(runs: dict[str, Any], repeats: int, seed: int) -> dict[str, Any]:
    """Each of ``runs`` (name -> run(seed)) once per round, in turn, for ``repeats`` rounds
    (a change of load hits them all); ``cold`` is round 0, ``warm_median`` the median of
    the later rounds."""
    done: dict[str, list] = {name: [] for name in runs}
    for i in range(repeats):
        for name, run in runs.items():
            done[name].append(run(seed + i))
    result = {}
    for name, rounds in done.items():
        warm = rounds[1:] or rounds
        keys = [key for key in rounds[0] if isinstance(rounds[0][key], float)]
        result[name] = {
            "runs": rounds,
            "cold": rounds[0],
            "warm_median": {key: statistics.median(r[key] for r in warm) for key in keys},
        }
    return result


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=None, help="rounds of runs, all methods in turn (4; 2 quick)"
    )
    args = parser.parse_args()
    threads = common.set_threads(args.threads)
    ref.configure_jax(threads)
    num_points, steps, repeats = (30, 20, 2) if args.quick else (ref.REFERENCE_NUM_POINTS, 200, 4)
    repeats = args.repeats or repeats
    x, y = ref.make_reference_data(num_points)
    result: dict[str, Any] = {
        "benchmark": "chains",
        "machine": common.machine_info(threads),
        "problem": {
            "num_points": num_points,
            "hidden": ref.REFERENCE_HIDDEN,
            "num_chains": NUM_CHAINS,
            "warmup_steps": steps,
            "num_samples": steps,
            "repeats": repeats,
            "cores": os.cpu_count(),
        },
    }
    runs: dict[str, Any] = {}
    if ref.numpyro_available():
        for method in ("sequential", "vectorized"):
            runs[f"numpyro_{method}"] = lambda seed, m=method: run_numpyro(
                m, x, y, steps, steps, seed
            )
    for name, parallel in (("pyro_bnn_sequential", False), ("pyro_bnn_parallel", True)):
        runs[name] = lambda seed, p=parallel: run_pyro_bnn(p, x, y, steps, steps, seed)
    # fit_nuts(jit_compile=True): the NUTS transition in compiled C, where a compiler exists
    result["compiled_problem"] = compiled_problem()
    if result["compiled_problem"] is None:
        for name, parallel in (("compiled_sequential", False), ("compiled_parallel", True)):
            runs[f"pyro_bnn_{name}"] = lambda seed, p=parallel: run_pyro_bnn(
                p, x, y, steps, steps, seed, jit_compile=True
            )
    methods = interleaved(runs, repeats, args.seed)
    result["methods"] = methods

    def best(prefix: str, key: str) -> tuple[str | None, float | None]:
        found = [
            (m["warm_median"][key], name) for name, m in methods.items() if name.startswith(prefix)
        ]
        if not found:
            return None, None
        value, name = max(found)
        return name, value

    result["ratios"] = {}
    for key in ("ess_per_second_sigma", "ess_per_second_mean_min"):
        theirs, their_value = best("numpyro", key)
        # the default sampler, and the compiled one (jit_compile=True)
        for label, prefix in (("pyro_bnn", "pyro_bnn_"), ("compiled", "pyro_bnn_compiled")):
            if label == "pyro_bnn":
                ours, our_value = max(
                    (best(f"pyro_bnn_{m}", key) for m in ("sequential", "parallel")),
                    key=lambda pair: pair[1] or 0.0,
                )
            else:
                ours, our_value = best(prefix, key)
            result["ratios"][f"best_{label}_over_best_numpyro_{key}"] = {
                "pyro_bnn": ours,
                "numpyro": theirs,
                "ratio": common.ratio(our_value, their_value),
            }
    common.emit(result, "chains", args)


if __name__ == "__main__":
    main()
