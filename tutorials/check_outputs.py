"""Re-execute tutorial notebooks and check that their committed outputs still hold.

Each notebook is executed from an in-memory copy with nbclient in full mode
(``PYRO_BNN_FAST`` is removed from the environment), with ``tutorials/`` as the working
directory. Then, cell by cell, the committed text outputs (stream outputs and
``text/plain`` results; figures are not compared) are compared with the new ones:

* every number in the text is extracted (``-12``, ``0.605``, ``1e-3``, ``1,000``); two
  numbers match if they differ by at most one unit in the last printed place of either
  (a printed ``0.605`` may become ``0.606``) or by ``--rtol`` of the larger (default
  0.001). The seeds are fixed, so on the same software stack nearly all numbers are equal;
  the tolerance absorbs rounding flips. A number is a mismatch if it moves further;
* the text with its numbers masked (``#``) must be the same, so a warning that appears or
  disappears, or a changed label, is a mismatch too;
* a cell's stdout is compared with stdout and its stderr (warnings) with stderr: the
  kernel may interleave the two differently from run to run. Runs of spaces count as one
  (a column's padding follows the width of a time in it);
* blank lines are ignored, and so are wall-clock times: a line that contains the word "time"
  or "elapsed" (any case) is left out, and a number followed by a unit of time (``8 s``,
  ``8.2 sec``, ``3 seconds``, ``120 ms``, ``2 min``) is masked like the rest but not
  compared. Print run times in that form ("150 fits in 169 s") and they never mismatch.

A JSON report goes to stdout: for each notebook the code cells compared, the mismatches
(cell index among all cells, the committed and the new snippet), and the run's wall time
and the kernel's CPU time (user + system of the kernel and its child processes, e.g. a
``pyro-bnn fit`` it runs). The exit code is 1 if any notebook has a mismatch or fails.

The report also names this machine's CPU and SIMD level (``machine``) and the one the
committed outputs were executed on (``committed_outputs_executed_on``, recorded in the
notebook's metadata by ``--write``): MCMC numbers reproduce on the same kind of CPU, and
move within their Monte Carlo error on another (other vector instructions round ``tanh``
differently in the last bit, and the chains take other paths).

The executed copy is written to a temporary directory (its path is in the report); with
``--write`` it replaces the committed notebook instead, so committing an executed notebook
is one command.

Example (from the repository root; one notebook at a time on a small machine)::

    OMP_NUM_THREADS=1 MPLBACKEND=Agg python tutorials/check_outputs.py \\
        tutorials/05_uncertainty_on_real_data.ipynb          # report only
    python tutorials/check_outputs.py --write tutorials/08_active_learning.ipynb
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

TUTORIALS = Path(__file__).resolve().parent
NUMBER = re.compile(
    r"(?<![\w.])[-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w,])"  # 4,000
    r"|[-−]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"  # -12, 0.605, 1e-3
)
TIME_UNIT = re.compile(r"\s*(?:s|sec|secs|seconds?|ms|min|minutes?)\b")
TIME_LINE = re.compile(r"\b(?:time|elapsed)\b", re.IGNORECASE)
DEFAULT_RTOL = 1e-3


def output_text(cell: dict) -> str:
    """The text outputs of a code cell: its stdout, its stderr, then its plain-text results."""
    streams: dict[str, list[str]] = {"stdout": [], "stderr": []}
    results = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            text = output.get("text", "")
            target = streams.setdefault(output.get("name", "stdout"), [])
        else:
            text = output.get("data", {}).get("text/plain", "")
            target = results
        target.append(text if isinstance(text, str) else "".join(text))
    # stdout, then stderr, then results: how the kernel interleaves the two streams
    # (a warning before or after a print) and where it cuts each into chunks depends on
    # when each was flushed, so each stream is compared whole
    texts = ["".join(chunks) for chunks in streams.values()] + results
    return "\n".join(t for t in texts if t)


def parse(text: str) -> tuple[list[str], list[tuple[float, float]]]:
    """Split ``text`` into its masked lines and its numbers.

    Returns the lines with every number replaced by ``#`` (timing lines left out) and,
    for every number that is not a time, ``(value, last printed place)``: ``0.605``
    gives ``(0.605, 0.001)``, ``-12`` gives ``(-12.0, 1.0)``.
    """
    skeleton, numbers = [], []
    for line in text.splitlines():
        if not line.strip() or TIME_LINE.search(line):
            continue  # blank lines depend on how the kernel split its stream outputs
        masked, last = [], 0
        for match in NUMBER.finditer(line):
            masked.append(line[last : match.start()] + "#")
            last = match.end()
            if TIME_UNIT.match(line, match.end()):
                continue  # a wall-clock time: not compared
            token = match.group().replace("−", "-").replace(",", "")
            mantissa = re.split("[eE]", token)[0]
            decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
            exponent = int(re.split("[eE]", token)[1]) if re.search("[eE]", token) else 0
            numbers.append((float(token), 10.0 ** (exponent - decimals)))
        masked.append(line[last:])
        # runs of spaces collapsed: a column of times ("9 s" / "10 s") shifts its padding
        skeleton.append(re.sub(r"\s+", " ", "".join(masked)).strip())
    return skeleton, numbers


def numbers_match(a: tuple[float, float], b: tuple[float, float], rtol: float) -> bool:
    """Whether two parsed numbers agree: within one unit of the coarser last printed place,
    or within ``rtol`` of the larger magnitude."""
    (x, place_x), (y, place_y) = a, b
    tolerance = max(place_x, place_y, rtol * max(abs(x), abs(y)))
    return abs(x - y) <= tolerance * (1 + 1e-9)


def compare_text(committed: str, new: str, rtol: float = DEFAULT_RTOL) -> str | None:
    """``None`` if the two output texts agree, otherwise a short reason."""
    old_lines, old_numbers = parse(committed)
    new_lines, new_numbers = parse(new)
    if old_lines != new_lines:
        for i, (o, n) in enumerate(zip(old_lines, new_lines, strict=False)):
            if o != n:
                return f"text differs at line {i}: {o[:120]!r} -> {n[:120]!r}"
        return f"{len(old_lines)} lines -> {len(new_lines)} lines"
    if len(old_numbers) != len(new_numbers):  # only if a number became or stopped being a time
        return f"{len(old_numbers)} numbers -> {len(new_numbers)}"
    moved = [
        (x, y)
        for (x, px), (y, py) in zip(old_numbers, new_numbers, strict=True)
        if not numbers_match((x, px), (y, py), rtol)
    ]
    if moved:
        (x, y), count = moved[0], len(moved)
        return f"number {x:g} -> {y:g}" + (f" (and {count - 1} more)" if count > 1 else "")
    return None


def compare_notebooks(committed: dict, new: dict, rtol: float = DEFAULT_RTOL) -> dict:
    """Compare the text outputs of two versions of a notebook (dicts in nbformat 4)."""
    mismatches, compared = [], 0
    for index, (old_cell, new_cell) in enumerate(
        zip(committed["cells"], new["cells"], strict=True)
    ):
        if old_cell["cell_type"] != "code":
            continue
        compared += 1
        old_text, new_text = output_text(old_cell), output_text(new_cell)
        reason = compare_text(old_text, new_text, rtol)
        if reason is not None:
            mismatches.append(
                {
                    "cell": index,
                    "reason": reason,
                    "committed": old_text[:600],
                    "new": new_text[:600],
                }
            )
    return {"cells_compared": compared, "mismatches": mismatches}


def this_machine() -> dict:
    """The CPU model and the widest x86 SIMD level numpy uses here (``X86_V4`` is AVX-512).

    MCMC on a float32 network is chaotic in the last bit: numpy's and torch's ``tanh`` and
    ``exp`` round differently with other vector instructions, so the chains take other paths
    on another kind of CPU and its numbers move within their Monte Carlo error.
    """
    import platform

    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            model = next(
                (line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")),
                model,
            )
    except OSError:
        pass
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        features = {}
    levels = [level for level in ("X86_V2", "X86_V3", "X86_V4") if features.get(level)]
    return {"cpu": model, "simd": levels[-1] if levels else "unknown"}


def execute(path: Path, timeout: int) -> tuple[dict, float, float]:
    """Execute a copy of the notebook in full mode; return it, the wall and the CPU seconds."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    os.environ.pop("PYRO_BNN_FAST", None)
    # The kernel must find this interpreter's pyro-bnn script (notebook 5 runs it).
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    client = nbclient.NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    client.execute()  # shuts the kernel down and reaps it, so its CPU time is counted below
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return notebook, wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: all in tutorials/")
    parser.add_argument("--write", action="store_true", help="save the executed notebook in place")
    parser.add_argument("--rtol", type=float, default=DEFAULT_RTOL, help="relative tolerance")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    import nbformat

    paths = args.notebooks or sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))
    machine = this_machine()
    out_dir = Path(tempfile.mkdtemp(prefix="check_outputs_"))
    report, failed = {}, False
    for path in paths:
        committed = json.loads(path.read_text(encoding="utf-8"))
        try:
            notebook, wall, cpu = execute(path, args.timeout)
        except Exception as error:  # a failing cell: report it, go on with the others
            report[path.name] = {"error": f"{type(error).__name__}: {str(error)[-800:]}"}
            failed = True
            continue
        entry = compare_notebooks(committed, json.loads(nbformat.writes(notebook)), args.rtol)
        entry.update(wall_seconds=round(wall, 1), cpu_seconds=round(cpu, 1), machine=machine)
        executed_on = committed.get("metadata", {}).get("pyro_bnn", {}).get("executed_on")
        entry["committed_outputs_executed_on"] = executed_on
        if executed_on not in (None, machine):
            entry["note"] = (
                "the committed outputs come from another kind of CPU: MCMC numbers may move "
                "within their Monte Carlo error (see this_machine)"
            )
        notebook.metadata.setdefault("pyro_bnn", {})["executed_on"] = machine
        target = path if args.write else out_dir / path.name
        nbformat.write(notebook, target)
        entry["written_to"] = str(target)
        failed |= bool(entry["mismatches"])
        report[path.name] = entry
        print(
            f"{path.name}: {len(entry['mismatches'])} mismatches, {wall:.0f} s wall, "
            f"{cpu:.0f} s CPU",
            file=sys.stderr,
        )
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
