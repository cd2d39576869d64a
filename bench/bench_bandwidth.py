"""Big N: how close the NUTS gradient and a minibatch SVI step come to the hardware.

On the reference model (1 x 50 tanh, 1-D input, float32, learned noise) at N = 10^3 ..
10^5 points, side by side in one process:

- **NUTS gradient**: one call of the hand-written log joint and gradient that pyro_bnn's
  NUTS runs per leapfrog step (``AnalyticGradient.value_and_grad_numpy``; median of
  repeated calls). Its memory traffic is counted from the numpy operations it runs
  (:func:`gradient_traffic_bytes`: every read and write of an ``N``-long array; the
  weights are negligible). Against it, the **measured bandwidth** of this machine for
  the same working set: numpy's ``add(a, b, out=c)`` (STREAM's "add": two reads, one
  write) on arrays of ``50 x N`` floats. ``bandwidth_ratio`` = the gradient's traffic /
  its time, over that bandwidth: 1 means it runs at the speed of memory.
  ``fused_bound_seconds`` is the time a kernel that writes the hidden activations once
  and reads them once (the least traffic of a forward + backward sweep) would need at
  that bandwidth. ``tanh_seconds`` is one ``np.tanh`` of ``50 x N`` standard normal
  pre-activations (compute, not memory: the gradient runs it once per call).
- **The compiled gradient** (``fit_nuts(jit_compile=True)``, where a C compiler exists):
  seconds per call, ``speedup_over_numpy``, and ``fused_bound_ratio`` = the fused bound
  over its time (1 would be a kernel at the speed of memory with the least traffic).
- **Minibatch SVI**: the marginal cost of a ``fit_svi`` step at ``batch_size=1024``
  (``(T(5k) - T(k)) / 4k``), its epoch (``N / 1024`` steps), and the step's traffic at
  the bandwidth ``add`` reaches on batch-sized arrays: a minibatch step is bound by
  per-step overhead, not by memory.
- **Which tool at which N**: the cost of 1000 NUTS iterations, the seconds per gradient
  measured here times the gradients per iteration that ``bench/bench_scaling.py``
  counted on the same model and data (``bench/results/scaling.json``; tree sizes do not
  depend on the CPU), against 10,000 minibatch SVI steps.

    python bench/bench_bandwidth.py [--quick] [--threads 1]
"""

from __future__ import annotations

import time
import warnings

import common
import numpy as np
import reference_models as ref
import torch

import pyro_bnn as pb
from pyro_bnn.inference.analytic import AnalyticGradient
from pyro_bnn.inference.flat import FlatModel
from pyro_bnn.inference.native import NativeBNN, native_problem

HIDDEN = 50
BATCH_SIZE = 1024
SIZES = [1_000, 10_000, 100_000]
QUICK_SIZES = [200, 2_000]


def gradient_traffic_bytes(num_points: int, hidden: int, itemsize: int) -> int:
    """Bytes the hand-written gradient of a 1-hidden-layer tanh net (1-D input, 1 output,
    Gaussian) reads and writes per call, counted operation by operation.

    Forward: ``[W|b] @ [x; 1]`` reads 2N, writes HN; tanh in place reads and writes HN;
    the output layer reads (H+1)N and writes N. Likelihood: residual, its square sum and
    the output delta, 7N. Backward: the output layer's gradient reads N + (H+1)N; the
    hidden delta reads N and writes HN; tanh' (``h*h``, ``1 - s``, ``delta *= s``) reads
    5HN and writes 3HN; the first layer's gradient reads HN + 2N.
    """
    n, h = num_points, hidden
    forward = (2 * n + h * n) + 2 * h * n + ((h + 1) * n + n)
    likelihood = 7 * n
    backward = (n + (h + 1) * n) + (n + h * n) + 8 * h * n + (h * n + 2 * n)
    return (forward + likelihood + backward) * itemsize


def fused_traffic_bytes(num_points: int, hidden: int, itemsize: int) -> int:
    """The least traffic of a forward + backward sweep: the hidden activations written
    once and read once, the inputs and targets read once."""
    return (2 * hidden * num_points + 3 * num_points) * itemsize


def median_seconds(fn, target_seconds: float = 1.0, repeats: int = 5) -> float:
    """Median over ``repeats`` rounds of the seconds per call (rounds of ~target/repeats s)."""
    fn()
    guess = max(common.time_call(fn)[0], 1e-6)
    calls = max(1, int(target_seconds / repeats / guess))
    timing = common.time_per_call(fn, calls, num_warmup=0, repeats=repeats)
    return timing["seconds_per_call"]


def add_bandwidth(num_elements: int, dtype) -> float:
    """Bytes per second of ``np.add(a, b, out=c)`` on ``num_elements``-long arrays."""
    rng = np.random.default_rng(0)
    a, b = rng.random(num_elements).astype(dtype), rng.random(num_elements).astype(dtype)
    c = np.empty_like(a)
    seconds = median_seconds(lambda: np.add(a, b, out=c), target_seconds=0.5)
    return 3 * a.nbytes / seconds


def nuts_gradient(num_points: int, seed: int) -> dict:
    """Seconds per call of the NUTS gradient, its traffic and the measured bandwidth."""
    x, y = ref.make_reference_data(num_points, seed)
    model = ref.make_pyro_bnn_model(1, HIDDEN)
    flat = FlatModel(model, x, y)
    analytic = AnalyticGradient(flat)
    z = analytic.pack(0.1 * torch.randn(flat.dim, generator=torch.Generator().manual_seed(seed)))
    z = z.numpy().astype(np.float32)
    seconds = median_seconds(lambda: analytic.value_and_grad_numpy(z))
    itemsize = np.dtype(np.float32).itemsize
    traffic = gradient_traffic_bytes(num_points, HIDDEN, itemsize)
    bandwidth = add_bandwidth(HIDDEN * num_points, np.float32)
    # the same pre-activations every call (tanh in place would shrink them call by call)
    before = np.random.default_rng(0).standard_normal((HIDDEN, num_points), dtype=np.float32)
    after = np.empty_like(before)
    tanh = median_seconds(lambda: np.tanh(before, out=after), target_seconds=0.5)
    compiled = compiled_gradient(analytic, z)
    if compiled is not None:
        fused = fused_traffic_bytes(num_points, HIDDEN, itemsize) / bandwidth
        compiled["fused_bound_ratio"] = fused / compiled["seconds_per_gradient"]
        compiled["speedup_over_numpy"] = seconds / compiled["seconds_per_gradient"]
    return {
        "compiled": compiled,
        "seconds_per_gradient": seconds,
        "traffic_bytes": traffic,
        "achieved_bytes_per_second": traffic / seconds,
        "measured_bandwidth_bytes_per_second": bandwidth,
        "bandwidth_ratio": traffic / seconds / bandwidth,
        "bound_seconds": traffic / bandwidth,
        "fused_bound_seconds": fused_traffic_bytes(num_points, HIDDEN, itemsize) / bandwidth,
        "tanh_seconds": tanh,
        "tanh_share": tanh / seconds,
    }


def compiled_gradient(analytic: AnalyticGradient, z: np.ndarray) -> dict | None:
    """Seconds per call of the same log joint and gradient compiled in C (what
    ``fit_nuts(jit_compile=True)`` runs per leapfrog step), or None without a compiler."""
    if native_problem(analytic) is not None:
        return None
    compiled = NativeBNN(analytic)
    return {"seconds_per_gradient": median_seconds(lambda: compiled.value_and_grad_numpy(z))}


def svi_minibatch_step(num_points: int, seed: int) -> dict:
    """Marginal seconds per ``fit_svi`` step at ``BATCH_SIZE`` and per epoch, and the
    step's traffic at the bandwidth measured for a batch-sized working set."""
    x, y = ref.make_reference_data(num_points, seed)
    batch = min(BATCH_SIZE, num_points)
    bandwidth = add_bandwidth(HIDDEN * batch, np.float32)

    def fit(steps: int) -> float:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pb.fit_svi(
                ref.make_pyro_bnn_model(1, HIDDEN), x, y, guide="normal", num_steps=steps,
                batch_size=batch, progress=False, seed=seed, check_collapse=False,
                standardize=False,
            )  # fmt: skip
        return time.perf_counter() - start

    fit(10)
    k = 100
    per_step = (fit(5 * k) - fit(k)) / (4 * k)
    traffic = gradient_traffic_bytes(batch, HIDDEN, 4)
    return {
        "batch_size": batch,
        "seconds_per_step": per_step,
        "seconds_per_epoch": per_step * num_points / batch,
        "measured_bandwidth_bytes_per_second": bandwidth,
        "bandwidth_bound_seconds_per_step": traffic / bandwidth,
        "bandwidth_ratio": traffic / per_step / bandwidth,
    }


def gradients_per_iteration() -> dict[int, float]:
    """NUTS gradient evaluations per iteration by N, from ``bench/results/scaling.json``."""
    import json

    path = common.RESULTS_DIR / "scaling.json"
    if not path.is_file():
        return {}
    rows = json.loads(path.read_text()).get("by_num_points", [])
    return {
        row["num_points"]: row["nuts"]["gradient_evaluations_per_iteration"]
        for row in rows
        if "gradient_evaluations_per_iteration" in row.get("nuts", {})
    }


def which_tool(nuts: dict, svi: dict, per_iteration: float | None) -> dict:
    """1000 NUTS iterations (the default and the compiled sampler) against 10,000
    minibatch SVI steps, in seconds."""
    svi_seconds = 10_000 * svi["seconds_per_step"]
    if per_iteration is None:
        return {"svi_10000_steps_seconds": svi_seconds}
    nuts_seconds = 1000 * per_iteration * nuts["seconds_per_gradient"]
    tool = {
        "nuts_gradients_per_iteration": per_iteration,
        "nuts_1000_iterations_seconds": nuts_seconds,
        "svi_10000_steps_seconds": svi_seconds,
        "nuts_over_svi": nuts_seconds / svi_seconds,
    }
    if nuts.get("compiled"):
        compiled = 1000 * per_iteration * nuts["compiled"]["seconds_per_gradient"]
        tool["compiled_nuts_1000_iterations_seconds"] = compiled
        tool["compiled_nuts_over_svi"] = compiled / svi_seconds
    return tool


def main() -> None:
    args = common.base_parser(__doc__.splitlines()[0]).parse_args()
    threads = common.set_threads(args.threads)
    rows = []
    for num_points in QUICK_SIZES if args.quick else SIZES:
        nuts = nuts_gradient(num_points, args.seed)
        svi = svi_minibatch_step(num_points, args.seed)
        tool = which_tool(nuts, svi, gradients_per_iteration().get(num_points))
        rows.append(
            {
                "num_points": num_points,
                "nuts_gradient": nuts,
                "svi_minibatch": svi,
                "which_tool": tool,
            }
        )
    result = {
        "benchmark": "bandwidth",
        "quick": args.quick,
        "machine": common.machine_info(threads),
        "model": f"1 x {HIDDEN} tanh, 1-D input, Gaussian with learned noise, float32",
        "by_num_points": rows,
    }
    common.emit(result, "bandwidth", args)


if __name__ == "__main__":
    main()
