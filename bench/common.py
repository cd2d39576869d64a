"""Shared helpers for the benchmark scripts: threads, machine info, JSON output, ESS."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

_PROCESS_START_WALL = time.perf_counter()
_PROCESS_START_CPU = time.process_time()

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"


def base_parser(description: str) -> argparse.ArgumentParser:
    """Argument parser with the options every benchmark script shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes (smoke test, well under a minute)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="also write the JSON here (default: bench/results/<name>.json unless --no-save)",
    )
    parser.add_argument("--no-save", action="store_true", help="only print the JSON")
    return parser


def set_threads(num_threads: int) -> int:
    """Set torch's intra-op threads; returns the value torch reports."""
    if num_threads < 1:
        raise ValueError(f"--threads must be >= 1, got {num_threads}")
    torch.set_num_threads(num_threads)
    return torch.get_num_threads()


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux) or platform.processor()."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_simd() -> list[str]:
    """The SIMD extensions numpy found on this CPU (e.g. ``X86_V3``; ``X86_V4`` is
    AVX-512): numpy's float32 ``tanh`` is several times faster with AVX-512, and the
    NUTS gradient of a tanh network spends much of its time there."""
    try:
        from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        return []
    return [name for name in (*__cpu_baseline__, *__cpu_dispatch__) if features.get(name)]


def machine_info(num_threads: int) -> dict[str, Any]:
    """What the numbers were measured on."""
    import pyro

    info: dict[str, Any] = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_num_threads": num_threads,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "pyro": pyro.__version__,
    }
    info["cpu_simd"] = cpu_simd()
    try:
        info["load_average_1min_at_start"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    try:
        import pyro_bnn

        info["pyro_bnn"] = getattr(pyro_bnn, "__version__", "unknown")
    except ImportError:
        info["pyro_bnn"] = "not importable"
    try:
        import importlib.metadata as md

        info["numpyro"] = md.version("numpyro")
        info["jax"] = md.version("jax")
    except Exception:  # noqa: BLE001 - optional extra
        info["numpyro"] = "not installed"
    return info


def write_json_atomic(data: dict[str, Any], path: Path) -> None:
    """Write JSON to ``path`` via a temp file in the same folder + os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def write_text_atomic(text: str, path: Path) -> None:
    """Write text to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def emit(result: dict[str, Any], name: str, args: argparse.Namespace) -> None:
    """Print the result as JSON on stdout and save it unless ``--no-save``."""
    wall = time.perf_counter() - _PROCESS_START_WALL
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - _PROCESS_START_CPU + children.ru_utime + children.ru_stime
    machine = result.setdefault("machine", {})
    machine["script_wall_seconds"] = round(wall, 2)
    machine["script_cpu_seconds"] = round(cpu, 2)
    # CPU time of this process and its finished subprocesses over wall time: with one
    # torch thread, a share well below 1 means other processes took the CPU
    machine["cpu_share"] = round(cpu / wall, 2) if wall > 0 else None
    try:
        machine["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    text = json.dumps(result, indent=2)
    print(text)
    if not args.no_save:
        path = args.output or RESULTS_DIR / (f"{name}_quick.json" if args.quick else f"{name}.json")
        write_json_atomic(result, path)
    sys.stdout.flush()


def time_call(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time (time.perf_counter) of one call and its result."""
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def time_per_call(
    fn: Callable[[], Any], num_calls: int, num_warmup: int = 5, repeats: int = 3
) -> dict[str, float]:
    """Median-of-repeats seconds per call of ``fn`` after ``num_warmup`` calls."""
    for _ in range(num_warmup):
        fn()
    per_call = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(num_calls):
            fn()
        per_call.append((time.perf_counter() - start) / num_calls)
    return {
        "seconds_per_call": statistics.median(per_call),
        "min_seconds_per_call": min(per_call),
        "num_calls": num_calls,
        "repeats": repeats,
    }


def ess(chain: torch.Tensor) -> float:
    """Effective sample size of one chain (S,) or chains (C, S) with Pyro's estimator."""
    from pyro.ops.stats import effective_sample_size

    chain = torch.as_tensor(chain, dtype=torch.float64)
    if chain.dim() == 1:
        chain = chain.unsqueeze(0)
    return float(effective_sample_size(chain, chain_dim=0, sample_dim=1))


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None if either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator
