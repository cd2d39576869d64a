"""Independent MCMC chains side by side in worker processes (``torch.multiprocessing``).

:func:`run_chains` calls ``run_one_chain(chain, chain_seed, *args, **kwargs)`` for
``chain = 0 .. num_chains - 1`` with ``chain_seed = seed + chain``, either in
worker processes (spawn context, at most one per core; each runs the chains it is
given one after another) or one after the other in this process. A chain that raises
(or whose process dies) is reported as a :class:`ChainFailure`; the other chains'
results are kept.

For parallel runs ``run_one_chain`` must be picklable: a function defined at the
top level of an importable module (or a :func:`functools.partial` of one), with
picklable ``args``. Each worker process imports that module afresh. Python's spawn
method also re-runs the caller's main script in each worker; workers skip that when
nothing sent to them is defined in the script (a :class:`~pyro_bnn.BayesianMLP`, or a
model from an importable module), so only a script that defines its own model or
chain function needs the usual ``if __name__ == "__main__":`` guard.

Example
-------
>>> results, failures = run_chains(my_chain, num_chains=4, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import sys
import traceback
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait

import torch
import torch.multiprocessing as torch_mp

from ..isolation import check_seed
from ..validation import check_positive_int

__all__ = ["run_chains", "ChainFailure", "available_cores"]


@dataclass(frozen=True)
class ChainFailure:
    """A chain that did not return: which one, with which seed, and why.

    Attributes
    ----------
    chain : int
        Chain index (0-based).
    seed : int
        The seed the chain ran with (``seed + chain``).
    error : str
        Exception type name (``"ValueError"``) or ``"ProcessDied"``.
    message : str
        The exception message (or the exit code of a process that died).
    traceback : str
        Formatted traceback from the worker ('' when the process died).
    """

    chain: int
    seed: int
    error: str
    message: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"chain {self.chain} (seed {self.seed}) failed: {self.error}: {self.message}"


def available_cores() -> int:
    """CPU cores this process may run on (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _call_chain(run_one_chain, chain: int, chain_seed: int, args, kwargs):
    from ..isolation import local_rng

    with local_rng(chain_seed):  # seeded for the chain; the caller's streams are restored
        return run_one_chain(chain, chain_seed, *args, **kwargs)


def _worker_process(connection, payload: bytes, threads: int) -> None:
    """Entry point of a worker process: run the chains it is sent, one after another.

    Receives ``(chain, chain_seed)`` tuples (``None``: stop) and sends back pickled bytes
    per chain, so ``import torch, pyro`` and unpickling happen once per worker.
    """
    torch.set_num_threads(threads)
    try:
        task = pickle.loads(payload)
    except BaseException as error:  # reported for every chain this worker is sent
        task = error
    while (assignment := connection.recv()) is not None:
        chain, chain_seed = assignment
        try:
            if isinstance(task, BaseException):
                raise task
            run_one_chain, args, kwargs = task
            result = _call_chain(run_one_chain, chain, chain_seed, args, kwargs)
            # plain pickle copies tensors into the message (no shared-memory handles that
            # would die with this process)
            message = pickle.dumps(("ok", result), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as error:  # report everything, including KeyboardInterrupt
            message = pickle.dumps(
                ("error", type(error).__name__, str(error), traceback.format_exc()),
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        connection.send_bytes(message)
    connection.close()


def _sequential(run_one_chain, num_chains, seed, args, kwargs):
    results, failures = [], []
    for chain in range(num_chains):
        try:
            results.append(_call_chain(run_one_chain, chain, seed + chain, args, kwargs))
        except Exception as error:
            failures.append(
                ChainFailure(
                    chain, seed + chain, type(error).__name__, str(error), traceback.format_exc()
                )
            )
    return results, failures


_MAIN_SCRIPT_HINT = (
    "; the chains use objects defined in your main script, and each worker process runs "
    "that script again to get them: put the code that starts the chains under "
    '`if __name__ == "__main__":`, or run the chains one after another (parallel=False, '
    "or parallel_chains=False in fit_nuts)"
)


class _Payload(pickle.Pickler):
    """Pickles what a worker needs and notes whether any of it is defined in ``__main__``."""

    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.uses_main = False

    def reducer_override(self, obj):
        # classes and functions pickle by reference to their module: one from __main__
        # only unpickles in a worker that has re-run the caller's main script
        if isinstance(obj, (type, types.FunctionType)) and obj.__module__ == "__main__":
            self.uses_main = True
        return NotImplemented


def _pickle_payload(run_one_chain, args, kwargs) -> tuple[bytes, bool]:
    """``(payload, uses_main)``: the pickled task, and whether it needs ``__main__``."""
    buffer = io.BytesIO()
    pickler = _Payload(buffer)
    pickler.dump((run_one_chain, args, kwargs))
    return buffer.getvalue(), pickler.uses_main


def _main_script_reruns() -> bool:
    """Whether spawned workers can re-run ``__main__`` (a script file or ``python -m``)."""
    main = sys.modules["__main__"]
    return (
        getattr(main, "__file__", None) is not None or getattr(main, "__spec__", None) is not None
    )


@contextlib.contextmanager
def _main_script_hidden(hide: bool):
    """While starting a spawn worker: hide the main script so the worker does not re-run it.

    ``multiprocessing``'s spawn method records ``__main__``'s file (or module name) when a
    process starts and runs it again in the child (as ``__mp_main__``), so that objects
    defined there unpickle. When nothing sent to the worker comes from ``__main__``, that
    re-run only costs time and, in a script without a ``__name__`` guard, fails.
    """
    if not hide:
        yield
        return
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _dead_worker(
    workers: dict, connection, chain: int, seed: int, when: str, hint: str = ""
) -> ChainFailure:
    """Reap a worker process that died and drop it; the failure of ``chain``."""
    process = workers.pop(connection)[0]
    process.join()
    connection.close()
    return ChainFailure(
        chain,
        seed + chain,
        "ProcessDied",
        f"the worker process exited with code {process.exitcode} {when}{hint}",
    )


def _parallel(payload: bytes, needs_main: bool, num_chains: int, seed: int, max_workers: int):
    context = torch_mp.get_context("spawn")
    threads = max(1, available_cores() // max_workers)
    # a worker that had to re-run the main script may have died doing so
    hint = _MAIN_SCRIPT_HINT if needs_main else ""
    outcome: dict[int, object] = {}
    pending = list(range(num_chains))
    workers: dict = {}  # connection -> [process, the chain it runs or None]
    try:
        while pending or any(chain is not None for _, chain in workers.values()):
            while pending and len(workers) < max_workers:  # (re)start workers as needed
                connection, child_end = context.Pipe(duplex=True)
                process = context.Process(
                    target=_worker_process,
                    args=(child_end, payload, threads),
                    name=f"pyro_bnn-chains-{len(outcome) + len(workers)}",
                    daemon=True,
                )
                with _main_script_hidden(not needs_main):
                    process.start()
                child_end.close()  # keep only the child's copy, so a dead child gives EOF
                workers[connection] = [process, None]
            for connection, state in list(workers.items()):
                if state[1] is None and pending:
                    chain = pending.pop(0)
                    try:
                        connection.send((chain, seed + chain))
                    except OSError:  # the worker died before it could take the chain
                        outcome[chain] = _dead_worker(
                            workers, connection, chain, seed, "before it could run the chain", hint
                        )
                        continue
                    state[1] = chain
            busy = {c: state for c, state in workers.items() if state[1] is not None}
            if not busy:  # the chains left were given to workers that had died
                continue
            ready = set(wait(list(busy) + [process.sentinel for process, _ in busy.values()]))
            for connection, (process, chain) in busy.items():
                if connection not in ready and process.sentinel not in ready:
                    continue
                message = None
                if connection.poll():
                    try:
                        message = pickle.loads(connection.recv_bytes())
                    except (EOFError, OSError):
                        message = None
                if message is None:  # the worker died with this chain
                    outcome[chain] = _dead_worker(
                        workers, connection, chain, seed, "without returning a result", hint
                    )
                    continue
                workers[connection][1] = None
                if message[0] == "ok":
                    outcome[chain] = ("ok", message[1])
                else:
                    _, name, text, trace = message
                    outcome[chain] = ChainFailure(chain, seed + chain, name, text, trace)
        for connection in workers:
            try:
                connection.send(None)
            except OSError:  # an idle worker that died: joined below all the same
                pass
        for connection, (process, _) in workers.items():
            process.join()
            connection.close()
        workers.clear()
    finally:
        for connection, (process, _) in workers.items():  # interrupted: no orphans
            process.terminate()
            process.join()
            connection.close()
    results = [outcome[c][1] for c in range(num_chains) if isinstance(outcome[c], tuple)]
    failures = [outcome[c] for c in range(num_chains) if isinstance(outcome[c], ChainFailure)]
    return results, failures


def run_chains(
    run_one_chain: Callable[..., dict],
    num_chains: int,
    seed: int,
    parallel: bool | str = "auto",
    *,
    args: Sequence = (),
    kwargs: Mapping | None = None,
    max_workers: int | None = None,
) -> tuple[list[dict], list[ChainFailure]]:
    """Run ``num_chains`` independent chains, in parallel processes or one after another.

    Parameters
    ----------
    run_one_chain : callable
        ``run_one_chain(chain, chain_seed, *args, **kwargs) -> dict`` (e.g. site →
        draws ``(S, ...)``). Runs seeded with ``chain_seed`` (``local_rng``: the caller's
        random streams are restored afterwards). For ``parallel`` it must be picklable
        (a top-level function).
    num_chains : int
        Number of chains; chain ``c`` gets ``chain_seed = seed + c``.
    seed : int
        Base seed.
    parallel : bool or ``"auto"``
        ``True``: ``max_workers`` spawned worker processes (each with
        ``cores // max_workers`` torch threads), each taking the next chain when it is
        done with one. ``False``: sequentially in
        this process. ``"auto"``: parallel when there are >= 2 chains and >= 2 cores
        and workers can get ``run_one_chain`` (it pickles, and is not defined in a
        notebook or another interactive session); otherwise sequential.
    args, kwargs
        Extra arguments for ``run_one_chain`` (picklable when parallel). Tensors are
        copied to each worker.
    max_workers : int, optional
        Processes at a time (default ``min(num_chains, available cores)``).

    Returns
    -------
    results : list of dict
        Results of the chains that succeeded, in chain order.
    failures : list of ChainFailure
        The chains that raised or died, in chain order (empty when all succeeded).

    Notes
    -----
    Worker processes start with the ``spawn`` method (safe with threads and CUDA),
    which costs an interpreter start and ``import torch, pyro`` per worker (a few
    seconds): parallel chains pay off only when the chains run much longer than that. A
    worker that dies fails the chain it was running; the next chains go to a new one.
    """
    num_chains = check_positive_int(num_chains, "num_chains")
    seed = check_seed(seed)
    if parallel not in (True, False, "auto"):
        raise ValueError(f"parallel must be True, False or 'auto', got {parallel!r}")
    if not callable(run_one_chain):
        raise TypeError(f"run_one_chain must be callable, got {type(run_one_chain).__name__}")
    max_workers = check_positive_int(max_workers, "max_workers", allow_none=True)
    args, kwargs = tuple(args), dict(kwargs or {})
    cores = available_cores()
    workers = min(num_chains, max_workers or cores)
    strict = parallel is True
    if parallel == "auto":
        parallel = num_chains > 1 and workers > 1
    if parallel:
        problem = None
        try:
            payload, needs_main = _pickle_payload(run_one_chain, args, kwargs)
        except Exception as error:
            problem = (
                "parallel chains need a picklable run_one_chain (a function defined at the top "
                f"level of a module) and picklable args: {error}"
            )
        else:
            if needs_main and not _main_script_reruns():
                problem = (
                    "run_one_chain or its arguments use a class or function defined in this "
                    "interactive session (a notebook, the REPL, python -c), which worker "
                    "processes cannot import: define it in a module file and import it"
                )
        if problem is not None:
            if strict:
                raise TypeError(
                    f"{problem}; or run the chains one after another (parallel=False, "
                    "or parallel_chains=False in fit_nuts)"
                ) from None
            warnings.warn(
                f"running the chains one after another: {problem}", RuntimeWarning, stacklevel=2
            )
            parallel = False
    if not parallel:
        return _sequential(run_one_chain, num_chains, seed, args, kwargs)
    return _parallel(payload, needs_main, num_chains, seed, workers)
