"""Prediction throughput on the reference net: 1000 draws x 10,000 inputs.

- textbook Pyro: ``Predictive(TextbookBNN(), posterior_samples=...)`` (one draw at a
  time, since ``PyroModule[nn.Linear]`` cannot take a batch of weights);
- plain torch: hand-written batched forward (``baddbmm`` + ``tanh``) over the same
  draws, chunked over inputs, keeping the (S, N) outputs (best of two chunk sizes, each
  with a fresh activation tensor per chunk and with buffers reused);
- pyro_bnn: ``predict(posterior, x_new, num_draws=1000)``.

Throughput is draws x inputs per second; the headline ratio is pyro_bnn / plain
forward. The plain forward computes less than predict's default (no mean or
variances), so ``like_with_like`` also times hand-written passes computing exactly
what predict returns: outputs kept + mean, epistemic and aleatoric variance (predict's
default), and the moments only (``keep_draws=False``). Then peak RSS of
``predict(..., chunk_size=c, keep_draws=False)`` on 100,000 inputs for two chunk sizes
and predict's default, each in a fresh subprocess (VmHWM / ``resource.getrusage``).

    python bench/bench_predict.py [--quick] [--threads 1]
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common
import pyro
import reference_models as ref
import torch
from pyro.infer import Predictive

SVI_STEPS_FOR_POSTERIOR = 300


# ----------------------------------------------------------------------------- pyro_bnn


def make_pyro_bnn_posterior(x, y, hidden: int, seed: int, num_steps: int):
    """A pyro_bnn posterior of the reference net (a short SVI fit; values barely matter)."""
    import warnings

    import pyro_bnn

    pyro.clear_param_store()
    model = ref.make_pyro_bnn_model(x.shape[1], hidden)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. the mean-field collapse warning
        return pyro_bnn.fit_svi(
            model,
            x,
            y,
            guide="normal",
            num_steps=num_steps,
            progress=False,
            seed=seed,
            standardize=False,
        )


def fixed_draws_posterior(posterior, draws: dict):
    """A Posterior holding fixed draws (as after NUTS), so predict does not sample a guide."""
    import pyro_bnn

    return pyro_bnn.Posterior(posterior.model, "nuts", samples=draws)


def pyro_bnn_predict(posterior, x_new, num_draws: int, **kwargs):
    import pyro_bnn

    return pyro_bnn.predict(posterior, x_new, num_draws=num_draws, **kwargs)


# ----------------------------------------------------------------------------- timings


def time_textbook(draws: ref.NetDraws, x_new: torch.Tensor) -> dict[str, Any]:
    model = ref.TextbookBNN(in_features=x_new.shape[1], hidden=draws.b1.shape[1])
    predictive = Predictive(
        model,
        posterior_samples=ref.draws_to_textbook_samples(draws),
        return_sites=("_RETURN", "obs"),
    )

    def run():
        with torch.no_grad():
            samples = predictive(x_new)
        return samples["_RETURN"].mean(0), samples["obs"].var(0)

    cpu_start = time.process_time()
    seconds, (mean, _) = common.time_call(run)
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu_start,
        "mean": mean,
        "how": "Predictive(parallel=False)",
    }


def time_plain_and_pyro_bnn(
    draws: ref.NetDraws,
    posterior,
    fixed_posterior,
    x_new: torch.Tensor,
    num_draws: int,
    rounds: int,
    chunk_sizes=(64, 1000),
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Hand-written batched forward and pyro_bnn.predict, measured in interleaved rounds.

    Each reported time is the best round (a shared machine only ever adds time); the
    median round is reported too. The plain baseline (outputs only) is the best of
    ``chunk_sizes`` x {a fresh activation tensor per chunk, buffers reused}. Like with
    like: the plain pass that also computes predict's default outputs (outputs kept, mean,
    epistemic and aleatoric variance) and the one computing only the moments
    (as ``keep_draws=False``), both with buffers reused at ``chunk_sizes[0]``.
    """
    draws = draws.contiguous()
    ref.batched_forward_chunked(draws, x_new[:100], chunk_sizes[0])  # warm-up
    ref.batched_predict_chunked(draws, x_new[:100], chunk_sizes[0])
    pyro_bnn_predict(posterior, x_new[:100], num_draws)
    pyro_bnn_predict(fixed_posterior, x_new[:100], num_draws)
    times: dict[str, list[float]] = {}

    cpu_times: dict[str, list[float]] = {}

    def timed(name: str, fn):
        cpu_start = time.process_time()
        seconds, value = common.time_call(fn)
        times.setdefault(name, []).append(seconds)
        cpu_times.setdefault(name, []).append(time.process_time() - cpu_start)
        return value

    variants = []
    for _ in range(rounds):
        for chunk in chunk_sizes:
            variants += [f"plain_chunk_{chunk}", f"plain_reused_chunk_{chunk}"]
            timed(
                f"plain_chunk_{chunk}", lambda c=chunk: ref.batched_forward_chunked(draws, x_new, c)
            )
            timed(
                f"plain_reused_chunk_{chunk}",
                lambda c=chunk: ref.batched_predict_chunked(draws, x_new, c, moments=False),
            )
        plain_outputs, _, _, _ = timed(
            "plain_outputs_and_moments",
            lambda: ref.batched_predict_chunked(draws, x_new, chunk_sizes[0]),
        )
        _, plain_mean, plain_var, plain_aleatoric = timed(
            "plain_moments_only",
            lambda: ref.batched_predict_chunked(draws, x_new, chunk_sizes[0], keep_outputs=False),
        )
        full_prediction = timed("pyro_bnn", lambda: pyro_bnn_predict(posterior, x_new, num_draws))
        prediction = timed(
            "pyro_bnn_keep_draws_false",
            lambda: pyro_bnn_predict(posterior, x_new, num_draws, keep_draws=False),
        )
        timed("pyro_bnn_fixed", lambda: pyro_bnn_predict(fixed_posterior, x_new, num_draws))

    best = {name: min(values) for name, values in times.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    best_cpu = {name: min(values) for name, values in cpu_times.items()}
    variants = list(dict.fromkeys(variants))
    best_variant = min(variants, key=lambda name: best[name])
    plain = {
        "seconds": best[best_variant],
        "median_seconds": median[best_variant],
        "cpu_seconds": best_cpu[best_variant],
        "variant": best_variant,
        "chunk_size": int(best_variant.rsplit("_", 1)[1]),
        "seconds_by_variant": {name: best[name] for name in variants},
        "rounds": rounds,
        "outputs": plain_outputs,
        "mean": plain_mean,
        "epistemic_var": plain_var,
        "aleatoric_var": plain_aleatoric,
        "how": "baddbmm + tanh over all draws, chunked over inputs, all (S, N) outputs kept; "
        "plain_chunk_*: a fresh activation tensor per chunk, plain_reused_chunk_*: buffers "
        "allocated once",
        "computes": "the (S, N) outputs only: less than predict's default, which also "
        "computes the mean, epistemic and aleatoric variance (see like_with_like)",
    }
    pb = {
        "seconds": best["pyro_bnn"],
        "median_seconds": median["pyro_bnn"],
        "cpu_seconds": best_cpu["pyro_bnn"],
        "keep_draws_false_seconds": best["pyro_bnn_keep_draws_false"],
        "fixed_draws_posterior_seconds": best["pyro_bnn_fixed"],
        "rounds": rounds,
        "outputs": full_prediction._outputs[..., 0],
        "mean": prediction.mean.reshape(-1),
        "epistemic_var": prediction.epistemic_var.reshape(-1),
        "aleatoric_var": prediction.aleatoric_var.reshape(-1),
        "how": f"pyro_bnn.predict(svi_posterior, x_new, num_draws={num_draws}) (includes "
        "drawing from the guide); keep_draws_false_seconds: same with keep_draws=False; "
        "fixed_draws_posterior_seconds: a Posterior holding the same draws (as after NUTS)",
        "computes": "(S, N) outputs kept, mean, epistemic and aleatoric variance",
    }

    def pair(plain_name: str, pyro_bnn_name: str, computes: str) -> dict[str, Any]:
        return {
            "computes": computes,
            "plain_seconds": best[plain_name],
            "pyro_bnn_seconds": best[pyro_bnn_name],
            "plain_cpu_seconds": best_cpu[plain_name],
            "pyro_bnn_cpu_seconds": best_cpu[pyro_bnn_name],
            "pyro_bnn_over_plain_throughput": common.ratio(best[plain_name], best[pyro_bnn_name]),
            "pyro_bnn_over_plain_throughput_cpu": common.ratio(
                best_cpu[plain_name], best_cpu[pyro_bnn_name]
            ),
        }

    same_chunk = f"chunk_size={chunk_sizes[0]}, buffers reused"
    like_with_like = {
        "predict_default": pair(
            "plain_outputs_and_moments",
            "pyro_bnn",
            f"(S, N) outputs kept + mean, epistemic and aleatoric variance; plain: {same_chunk}; "
            "pyro_bnn includes drawing from the guide",
        ),
        "predict_fixed_draws": pair(
            "plain_outputs_and_moments",
            "pyro_bnn_fixed",
            f"as predict_default, pyro_bnn from a Posterior holding the draws; plain: {same_chunk}",
        ),
        "predict_keep_draws_false": pair(
            "plain_moments_only",
            "pyro_bnn_keep_draws_false",
            f"mean, epistemic and aleatoric variance only; plain: {same_chunk}",
        ),
    }
    return plain, pb, like_with_like


# ----------------------------------------------------------------------------- peak RSS


def _proc_status_kb(field: str) -> int | None:
    """A memory field of /proc/self/status in kB (Linux), e.g. VmRSS or VmHWM."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def rss_worker(args) -> None:
    """Subprocess body: fit, then peak RSS of one predict call with one chunk size."""
    common.set_threads(args.threads)
    x, y = ref.make_reference_data(args.num_points, seed=ref.REFERENCE_SEED)
    posterior = make_pyro_bnn_posterior(x, y, args.hidden, args.seed, args.svi_steps)
    x_new = ref.make_test_inputs(args.rss_inputs)
    pyro_bnn_predict(posterior, x_new[:10], args.num_draws, keep_draws=False)
    rss_before_kb = _proc_status_kb("VmRSS")
    peak_was_reset = _reset_peak_rss()
    # chunk size 0: predict's default
    chunk_size = args.rss_chunk_size or None
    if chunk_size is None:
        from pyro_bnn.predictive.network import _CHUNK_ELEMENTS

        chunk_size_used = max(1, _CHUNK_ELEMENTS // (args.num_draws * args.hidden))
    else:
        chunk_size_used = chunk_size
    start = time.perf_counter()
    prediction = pyro_bnn_predict(
        posterior, x_new, args.num_draws, chunk_size=chunk_size, keep_draws=False
    )
    seconds = time.perf_counter() - start
    if peak_was_reset and rss_before_kb is not None:
        peak_kb, method = _proc_status_kb("VmHWM"), "VmHWM after clear_refs"
    else:  # lifetime high-water mark: includes the fit
        peak_kb, method = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"
        rss_before_kb = rss_before_kb or 0
    assert prediction.mean.numel() == args.rss_inputs
    print(
        json.dumps(
            {
                "chunk_size": args.rss_chunk_size if chunk_size else "default",
                "chunk_size_used": chunk_size_used,
                "num_inputs": args.rss_inputs,
                "num_draws": args.num_draws,
                "seconds": seconds,
                "rss_before_predict_mb": rss_before_kb / 1024,
                "peak_rss_mb": peak_kb / 1024,
                "peak_rss_increase_mb": (peak_kb - rss_before_kb) / 1024,
                "peak_measured_by": method,
                "hidden_buffer_mb_per_chunk": args.num_draws
                * chunk_size_used
                * args.hidden
                * 4
                / 2**20,
            }
        )
    )


def measure_rss(args, num_inputs: int, chunk_size: int, hidden: int, num_points: int) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--rss-worker",
        "--rss-inputs",
        str(num_inputs),
        "--rss-chunk-size",
        str(chunk_size),
        "--hidden",
        str(hidden),
        "--num-points",
        str(num_points),
        "--num-draws",
        str(args.num_draws),
        "--svi-steps",
        str(args.svi_steps),
        "--threads",
        str(args.threads),
        "--seed",
        str(args.seed),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"RSS worker failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--num-draws", type=int, default=None, help="draws (default 1000)")
    parser.add_argument("--num-inputs", type=int, default=None, help="inputs (default 10,000)")
    parser.add_argument("--rss-chunk-sizes", type=int, nargs=2, default=None)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (3; 1 quick)")
    parser.add_argument("--svi-steps", type=int, default=None, help=argparse_hidden())
    # worker-only options
    parser.add_argument("--rss-worker", action="store_true", help=argparse_hidden())
    parser.add_argument("--rss-inputs", type=int, default=None, help=argparse_hidden())
    parser.add_argument("--rss-chunk-size", type=int, default=None, help=argparse_hidden())
    parser.add_argument("--hidden", type=int, default=None, help=argparse_hidden())
    parser.add_argument("--num-points", type=int, default=None, help=argparse_hidden())
    args = parser.parse_args()

    if args.quick:
        defaults = dict(num_draws=50, num_inputs=1000, rss_inputs=5000, rss_chunks=(100, 1000))
        hidden, num_points = 10, 30
        args.svi_steps = args.svi_steps or 20
    else:
        defaults = dict(
            num_draws=1000, num_inputs=10_000, rss_inputs=100_000, rss_chunks=(500, 5000)
        )
        hidden, num_points = ref.REFERENCE_HIDDEN, ref.REFERENCE_NUM_POINTS
        args.svi_steps = args.svi_steps or SVI_STEPS_FOR_POSTERIOR
    args.num_draws = args.num_draws or defaults["num_draws"]
    args.num_inputs = args.num_inputs or defaults["num_inputs"]
    rss_chunks = args.rss_chunk_sizes or defaults["rss_chunks"]

    if args.rss_worker:
        args.hidden = args.hidden or hidden
        args.num_points = args.num_points or num_points
        args.rss_inputs = args.rss_inputs or defaults["rss_inputs"]
        rss_worker(args)
        return

    threads = common.set_threads(args.threads)
    x, y = ref.make_reference_data(num_points, seed=ref.REFERENCE_SEED)
    x_new = ref.make_test_inputs(args.num_inputs)
    result: dict[str, Any] = {
        "benchmark": "predict",
        "quick": args.quick,
        "machine": common.machine_info(threads),
        "problem": {
            "num_draws": args.num_draws,
            "num_inputs": args.num_inputs,
            "hidden": hidden,
            "activation": "tanh",
            "posterior": f"fit_svi(guide='normal', num_steps={args.svi_steps}, standardize=False)",
            "throughput_unit": "draws x inputs per second",
            "draws_for_baselines": "posterior.sample(num_draws, seed=0): the draws predict uses",
            "timing": "plain torch and pyro_bnn in interleaved rounds; best round reported "
            "(median_seconds: median round); textbook Predictive timed once",
        },
    }

    posterior = make_pyro_bnn_posterior(x, y, hidden, args.seed, args.svi_steps)
    # the draws predict(..., seed=0) uses, so the baselines see the very same weights
    draw_dict = posterior.sample(args.num_draws, seed=0)
    draws = ref.pyro_bnn_netdraws(draw_dict)
    pairs = args.num_draws * args.num_inputs
    textbook = time_textbook(draws, x_new)
    plain, pb, like_with_like = time_plain_and_pyro_bnn(
        draws,
        posterior,
        fixed_draws_posterior(posterior, draw_dict),
        x_new,
        args.num_draws,
        rounds=args.rounds or (1 if args.quick else 3),
    )
    sections = {"textbook_pyro": textbook, "plain_torch_batched": plain, "pyro_bnn": pb}
    for section in sections.values():
        if "seconds" in section:
            section["draws_x_inputs_per_second"] = pairs / section["seconds"]
    result["textbook_pyro"] = {k: v for k, v in textbook.items() if k != "mean"}
    tensors = ("outputs", "mean", "epistemic_var", "aleatoric_var")
    result["plain_torch_batched"] = {k: v for k, v in plain.items() if k not in tensors}
    result["pyro_bnn"] = {k: v for k, v in pb.items() if k not in tensors}
    result["like_with_like"] = like_with_like
    result["checks"] = {
        "textbook_vs_plain_max_abs_diff_mean": float((textbook["mean"] - plain["mean"]).abs().max())
    }
    result["checks"]["pyro_bnn_vs_plain_max_abs_diff_mean"] = float(
        (pb["mean"] - plain["mean"]).abs().max()
    )
    for name in ("epistemic_var", "aleatoric_var", "outputs"):
        result["checks"][f"pyro_bnn_vs_plain_max_abs_diff_{name}"] = float(
            (pb[name] - plain[name]).abs().max()
        )

    throughput = {k: v.get("draws_x_inputs_per_second") for k, v in sections.items()}
    result["ratios"] = {
        "pyro_bnn_over_plain_throughput": common.ratio(
            throughput["pyro_bnn"], throughput["plain_torch_batched"]
        ),
        "pyro_bnn_over_plain_throughput_cpu": common.ratio(plain["cpu_seconds"], pb["cpu_seconds"]),
        "pyro_bnn_over_textbook_throughput": common.ratio(
            throughput["pyro_bnn"], throughput["textbook_pyro"]
        ),
        "plain_over_textbook_throughput": common.ratio(
            throughput["plain_torch_batched"], throughput["textbook_pyro"]
        ),
        "pyro_bnn_over_plain_same_outputs_throughput": like_with_like["predict_default"][
            "pyro_bnn_over_plain_throughput"
        ],
        "pyro_bnn_keep_draws_false_over_plain_moments_only_throughput": like_with_like[
            "predict_keep_draws_false"
        ]["pyro_bnn_over_plain_throughput"],
    }

    result["peak_rss"] = [
        measure_rss(args, defaults["rss_inputs"], chunk, hidden, num_points) for chunk in rss_chunks
    ]
    result["peak_rss_default_chunk_size"] = measure_rss(
        args, defaults["rss_inputs"], 0, hidden, num_points
    )
    wall_ratio = result["ratios"]["pyro_bnn_over_plain_throughput"]
    cpu_ratio = result["ratios"]["pyro_bnn_over_plain_throughput_cpu"]
    result["goals"] = {
        "predict_throughput_at_least_0.8x_plain": None if wall_ratio is None else wall_ratio >= 0.8,
        "predict_throughput_at_least_0.8x_plain_cpu": None
        if cpu_ratio is None
        else cpu_ratio >= 0.8,
    }
    same = result["ratios"]["pyro_bnn_over_plain_same_outputs_throughput"]
    result["goals"]["predict_throughput_at_least_0.8x_plain_same_outputs"] = (
        None if same is None else same >= 0.8
    )
    common.emit(result, "predict", args)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
