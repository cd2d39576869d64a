"""Scale-out measurements: data-parallel SVI, streaming memory, parallel NUTS chains.

Prints one JSON document:

- ``svi_throughput``: full-batch SVI on synthetic regression data (10^5 and 10^6
  points, 10 features, BayesianMLP hidden=(50,), mean-field guide), in data points
  whose likelihood is evaluated per second: one process (1 and 2 torch threads) vs
  two processes under torchrun (gloo, one thread each, half the rows each).
- ``memory``: peak resident memory of a minibatch fit that holds the data in
  memory vs one that streams it from memory-mapped ``.npy`` files (same model,
  batch size and steps), each in a fresh process, next to a process that only
  imported pyro_bnn: ``peak_rss_mib`` (ru_maxrss, which includes the memory map's
  page cache the kernel may drop) and ``peak_anonymous_mib`` (sampled ``RssAnon``:
  what the process itself must hold).
- ``chains``: two NUTS chains of a small network (``fit_nuts(num_chains=1)`` in the
  worker) one after the other vs in two spawned processes (``run_chains``).

Run: ``python bench/bench_scaleout.py [--quick] [--out FILE]``. Every measurement
runs in its own process(es), one after the other; the machine's load average is
recorded because other work on a shared machine slows every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve()


# --------------------------------------------------------------------------- workers


def _synthetic(num_points: int, num_features: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((num_points, num_features), dtype=np.float32)
    w = rng.standard_normal(num_features).astype(np.float32)
    y = np.tanh(x @ w) + 0.1 * rng.standard_normal(num_points, dtype=np.float32)
    return x, y.astype(np.float32)


def svi_worker(num_points: int, num_steps: int, threads: int, out: str) -> None:
    """One process of a (possibly distributed) full-batch SVI fit; rank 0 writes JSON."""
    import torch

    torch.set_num_threads(threads)
    import pyro_bnn as pb
    from pyro_bnn import distributed

    x, y = _synthetic(num_points, 10)
    model = pb.BayesianMLP(10, 1, hidden=(50,))
    post = pb.fit_svi(
        model,
        x,
        y,
        num_steps=num_steps,
        lr=1e-2,
        progress=False,
        check_collapse=False,
        standardize=False,
    )
    if distributed.is_main_process():
        seconds = post.diagnostics["fit_seconds"]
        result = {
            "processes": post.diagnostics.get("world_size", 1),
            "threads_per_process": threads,
            "num_points": num_points,
            "num_steps": num_steps,
            "fit_seconds": round(seconds, 3),
            "points_per_second": round(num_points * num_steps / seconds),
            "final_elbo_per_point": post.diagnostics["elbo"][-1] / num_points,
        }
        Path(out).write_text(json.dumps(result))


class _AnonPeak:
    """Peak anonymous resident memory (``RssAnon``), sampled every 5 ms in a thread.

    ``ru_maxrss`` also counts the clean file-backed pages a memory map has touched,
    which the kernel can drop at any time; ``RssAnon`` is the memory the process
    itself holds (arrays, tensors, activations).
    """

    def __init__(self):
        import threading

        self.peak, self._stop = self._read(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _read() -> float:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._read())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self._read())


def memory_worker(mode: str, folder: str, num_steps: int, batch_size: int, out: str) -> None:
    """Peak RSS of an in-memory or a streamed minibatch fit (or of the imports alone)."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    import pyro_bnn as pb
    from pyro_bnn.streaming import NpyDataset, make_loader

    x_path, y_path = Path(folder) / "x.npy", Path(folder) / "y.npy"
    peak_anon = _AnonPeak()
    start = time.perf_counter()
    if mode == "memory":
        x, y = np.load(x_path), np.load(y_path)
        model = pb.BayesianMLP(x.shape[1], 1, hidden=(50,))
        pb.fit_svi(
            model,
            x,
            y,
            num_steps=num_steps,
            batch_size=batch_size,
            progress=False,
            check_collapse=False,
            standardize=False,
        )
    elif mode == "streaming":
        data = NpyDataset(x_path, y_path)
        model = pb.BayesianMLP(data.num_features, 1, hidden=(50,))
        loader = make_loader(data, batch_size=batch_size, seed=0)
        pb.fit_svi(model, loader=loader, num_steps=num_steps, progress=False, check_collapse=False)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    anon_mib = peak_anon.stop()
    Path(out).write_text(
        json.dumps(
            {
                "mode": mode,
                "peak_rss_mib": round(peak_mib, 1),
                "peak_anonymous_mib": round(anon_mib, 1),
                "seconds": round(seconds, 2),
            }
        )
    )


def nuts_chain(chain: int, chain_seed: int, num_samples: int, warmup_steps: int) -> dict:
    """One NUTS chain of a hidden=(10,) network on the gap data (a run_chains worker)."""
    import pyro_bnn as pb

    data = pb.data.make_gap_regression(120, seed=0)
    model = pb.BayesianMLP(1, 1, hidden=(10,))
    start, cpu_start = time.perf_counter(), time.process_time()
    post = pb.fit_nuts(
        model,
        data.x,
        data.y,
        num_samples=num_samples,
        warmup_steps=warmup_steps,
        num_chains=1,
        seed=chain_seed,
        progress=False,
        standardize=False,
    )
    return {
        "draws": post.draws,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
    }


# --------------------------------------------------------------------------- drivers


def _run(command: list[str], env: dict | None = None) -> None:
    completed = subprocess.run(
        command, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")


def measure_svi(sizes: list[tuple[int, int]], folder: Path) -> list[dict]:
    from pyro_bnn import distributed

    rows = []
    for num_points, num_steps in sizes:
        args = ["--svi-worker", str(num_points), str(num_steps)]
        for threads in (1, 2):
            out = folder / f"svi_{num_points}_{threads}.json"
            _run(
                [sys.executable, str(SCRIPT), *args, str(threads), str(out)],
                env={"OMP_NUM_THREADS": str(threads)},
            )
            rows.append(json.loads(out.read_text()))
        out = folder / f"svi_{num_points}_dist.json"
        code = distributed.launch(
            [str(SCRIPT), *args, "1", str(out)], 2, module=None, env={"OMP_NUM_THREADS": "1"}
        )
        if code != 0:
            raise RuntimeError(f"torchrun run failed with exit code {code}")
        rows.append(json.loads(out.read_text()))
    return rows


def measure_memory(num_points: int, num_steps: int, batch_size: int, folder: Path) -> dict:
    import numpy as np

    x, y = _synthetic(num_points, 20)
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    data_mib = (x.nbytes + y.nbytes) / 2**20
    del x, y
    result = {
        "num_points": num_points,
        "num_features": 20,
        "data_mib": round(data_mib, 1),
        "batch_size": batch_size,
        "num_steps": num_steps,
    }
    for mode in ("imports_only", "memory", "streaming"):
        out = folder / f"mem_{mode}.json"
        _run(
            [
                sys.executable,
                str(SCRIPT),
                "--memory-worker",
                mode,
                str(folder),
                str(num_steps),
                str(batch_size),
                str(out),
            ]
        )
        result[mode] = json.loads(out.read_text())
    return result


def measure_chains(num_samples: int, warmup_steps: int) -> dict:
    from pyro_bnn.inference.chains import run_chains

    result = {"num_chains": 2, "num_samples": num_samples, "warmup_steps": warmup_steps}
    for label, parallel in (("sequential", False), ("parallel_processes", True)):
        start = time.perf_counter()
        results, failures = run_chains(
            nuts_chain, 2, seed=0, parallel=parallel, args=(num_samples, warmup_steps)
        )
        result[label] = {
            "wall_seconds": round(time.perf_counter() - start, 2),
            "chain_seconds": [round(r["seconds"], 2) for r in results],
            "chain_cpu_seconds": [round(r["cpu_seconds"], 2) for r in results],
            "load_average_1min_after": round(os.getloadavg()[0], 2),
            "failures": [str(f) for f in failures],
        }
    result["speedup"] = round(
        result["sequential"]["wall_seconds"] / result["parallel_processes"]["wall_seconds"], 2
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument(
        "--only",
        choices=("svi", "memory", "chains"),
        action="append",
        help="run only these parts (repeatable)",
    )
    args = parser.parse_args()
    parts = args.only or ["svi", "memory", "chains"]
    import torch

    report = {
        "machine": {
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "load_average_start": os.getloadavg(),
        },
    }
    with tempfile.TemporaryDirectory(prefix="bench_scaleout_") as tmp:
        folder = Path(tmp)
        if "svi" in parts:
            sizes = [(10_000, 5)] if args.quick else [(100_000, 40), (1_000_000, 8)]
            report["svi_throughput"] = measure_svi(sizes, folder)
        if "memory" in parts:
            report["memory"] = (
                measure_memory(20_000, 20, 1024, folder)
                if args.quick
                else measure_memory(2_000_000, 200, 4096, folder)
            )
        if "chains" in parts:
            report["chains"] = measure_chains(20, 20) if args.quick else measure_chains(300, 300)
    report["machine"]["load_average_end"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--svi-worker":
        svi_worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) > 1 and sys.argv[1] == "--memory-worker":
        memory_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    else:
        sys.exit(main())
