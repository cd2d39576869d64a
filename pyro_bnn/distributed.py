"""Data-parallel SVI over several processes with ``torch.distributed`` (launched by ``torchrun``).

:func:`~pyro_bnn.fit_svi` joins a process group by itself when it runs under
``torchrun`` (the ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` environment variables are set and ``WORLD_SIZE > 1``)::

    torchrun --nproc_per_node=4 my_fit.py           # a script that calls pb.fit_svi
    torchrun --nproc_per_node=4 -m pyro_bnn fit MODEL.toml
    pyro-bnn fit MODEL.toml --nproc 4               # the same, through launch()

What every rank does (the design, in short):

- **Backend**: gloo on CPU, NCCL when the fit runs on CUDA (``device="cuda"`` or
  ``"auto"`` on a GPU machine: each rank takes ``cuda:LOCAL_RANK``).
- **Data**: rank ``r`` of ``W`` keeps rows ``r, r + W, r + 2W, ...`` (:func:`shard`);
  a streaming fit gives each rank its part of every epoch
  (:func:`pyro_bnn.streaming.make_loader`).
- **Same ELBO scale**: each rank's log likelihood is multiplied by
  ``N / rows_in_its_batch`` with ``N`` the *full* data size, so each rank's ELBO
  estimates the full-data ELBO and their average is the usual ELBO (the values
  reported in ``diagnostics["elbo"]`` are this average).
- **Gradients**: the flat SVI fast path keeps all variational parameters in a
  few plain tensors, so after ``backward()`` their gradients (and the ELBO
  value) are concatenated into one buffer and averaged with a single
  ``all_reduce`` per step (:func:`average_gradients`) — what
  ``DistributedDataParallel`` does with its gradient buckets, without wrapping
  the flat guide in an ``nn.Module``. Parameters start equal on every rank
  (same seed, then a broadcast from rank 0), and every rank applies the same
  averaged gradient with the same Adam state, so they stay equal.
- **Guide noise**: each rank draws its own reparameterisation noise (seeded from
  ``(seed, rank)``). Either choice is unbiased: with shared noise the averaged
  gradient is the one-sample, full-data gradient; with per-rank noise it is the
  average of ``W`` unbiased estimates (each rank: its own sample ``z_r`` and its
  shard scaled to ``N``), whose variance is lower because the prior and entropy
  terms are averaged over ``W`` samples and the shards' likelihood terms are no
  longer evaluated at one common (correlated) ``z``. Per-rank noise is used.
- **Results**: every rank returns the same fitted :class:`~pyro_bnn.Posterior`;
  only rank 0 writes files (:func:`is_main_process`), e.g. the CLI's run directory.

Multi-node: the same commands with torchrun's usual flags, e.g. on every node
``torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d
--rdzv-endpoint=HOST:29400 --rdzv-id=job1 -m pyro_bnn fit MODEL.toml``
(or ``launch(argv, 8, nnodes=2, rdzv_endpoint="HOST:29400")``).
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from .validation import check_positive_int

__all__ = [
    "DistributedContext",
    "setup",
    "under_torchrun",
    "is_main_process",
    "get_rank",
    "get_world_size",
    "shard",
    "rank_seed",
    "average_gradients",
    "broadcast_parameters",
    "launch",
    "launch_command",
]

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in a data-parallel fit.

    Attributes
    ----------
    rank, world_size, local_rank : int
        Global rank, number of processes, rank on this node.
    backend : str
        ``"gloo"`` or ``"nccl"``.
    device : torch.device
        The device this rank fits on.
    """

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the one that writes)."""
        return self.rank == 0


def under_torchrun() -> bool:
    """True when the torchrun environment variables describe more than one process."""
    if not all(name in os.environ for name in TORCHRUN_VARIABLES):
        return False
    try:
        return int(os.environ["WORLD_SIZE"]) > 1
    except ValueError:
        return False


def get_rank() -> int:
    """This process's rank (0 outside a distributed run)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", 0)) if under_torchrun() else 0


def get_world_size() -> int:
    """Number of processes in the run (1 outside a distributed run)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ["WORLD_SIZE"]) if under_torchrun() else 1


def is_main_process() -> bool:
    """True on rank 0 and in a plain single-process run: the process that writes files."""
    return get_rank() == 0


def _destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def setup(mode: bool | str = "auto", device=None) -> DistributedContext | None:
    """Join the process group of a data-parallel run; ``None`` for a single-process fit.

    Parameters
    ----------
    mode : ``"auto"``, True or False
        ``"auto"``: distributed when a process group is already initialised or the
        torchrun variables give ``WORLD_SIZE > 1``. ``True``: the same, but raise
        ``ValueError`` when neither holds. ``False``: always single-process.
    device : str or torch.device, optional
        Requested device (see :func:`pyro_bnn.inference.common.resolve_device`);
        ``"cuda"`` without an index becomes ``cuda:LOCAL_RANK``.

    Returns
    -------
    DistributedContext or None
        The process group is created here (``init_method="env://"``, gloo on CPU,
        NCCL on CUDA) when torchrun started us and nobody initialised it yet; it is
        destroyed at interpreter exit.
    """
    from .inference.common import resolve_device

    if mode not in (True, False, "auto"):
        raise ValueError(f"distributed must be True, False or 'auto', got {mode!r}")
    resolved = resolve_device(device)
    if mode is False or not dist.is_available():
        if mode is True:
            raise ValueError("distributed=True but torch.distributed is not available")
        return None
    initialised = dist.is_initialized()
    if not initialised and not under_torchrun():
        if mode is True:
            raise ValueError(
                "distributed=True needs a torchrun launch (RANK, WORLD_SIZE, LOCAL_RANK, "
                "MASTER_ADDR, MASTER_PORT with WORLD_SIZE > 1) or an initialised process "
                "group; run e.g. 'torchrun --nproc_per_node=2 script.py'"
            )
        return None
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if resolved.type == "cuda" and resolved.index is None:
        resolved = torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    if not initialised:
        backend = "nccl" if resolved.type == "cuda" and dist.is_nccl_available() else "gloo"
        dist.init_process_group(backend=backend, init_method="env://")
        atexit.register(_destroy_process_group)
    backend = str(dist.get_backend())
    if dist.get_world_size() == 1:
        return None
    if backend == "nccl" and resolved.type != "cuda":
        raise ValueError(
            f"the process group uses NCCL, which needs CUDA tensors, but the fit runs on "
            f"{resolved}; pass device='cuda' (or 'auto') or initialise the group with gloo"
        )
    return DistributedContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=local_rank,
        backend=backend,
        device=resolved,
    )


def shard(x: torch.Tensor, y: torch.Tensor, rank: int, world_size: int):
    """Rows ``rank, rank + W, ...`` of ``x: (N, D)`` and ``y: (N, ...)`` (strided shards).

    Strided rather than contiguous blocks, so a file sorted by some column still
    gives every rank a representative part. Shard sizes differ by at most one row.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    if x.shape[0] < world_size:
        raise ValueError(
            f"cannot split {x.shape[0]} rows over {world_size} processes; use fewer processes"
        )
    return x[rank::world_size], y[rank::world_size]


def rank_seed(seed: int, rank: int) -> int:
    """A seed for rank ``rank``'s own noise stream, distinct across ranks and seeds."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, dtype=np.uint64)[0] >> 1)


def broadcast_parameters(params: Sequence[torch.Tensor], source: int = 0) -> None:
    """Copy rank ``source``'s values of ``params`` to every rank (in place, one call)."""
    with torch.no_grad():
        buffer = torch.cat([p.detach().reshape(-1) for p in params])
        dist.broadcast(buffer, src=source)
        offset = 0
        for p in params:
            p.copy_(buffer[offset : offset + p.numel()].view_as(p))
            offset += p.numel()


def average_gradients(params: Sequence[torch.Tensor], value: torch.Tensor) -> float:
    """Average ``params``' gradients and the scalar ``value`` over ranks (one ``all_reduce``).

    Returns the averaged ``value`` (the ELBO estimate of all ranks).
    """
    parts = [
        (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params
    ] + [value.detach().reshape(1).to(params[0].dtype)]
    buffer = torch.cat(parts)
    dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
    buffer /= dist.get_world_size()
    offset = 0
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        p.grad.copy_(buffer[offset : offset + p.numel()].view_as(p))
        offset += p.numel()
    return float(buffer[-1])


def _without_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (so the workers do not re-launch)."""
    kept, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--nproc":
            skip = True
        elif not item.startswith("--nproc="):
            kept.append(item)
    return kept


def launch_command(
    argv: Sequence[str],
    nproc: int,
    *,
    module: str | None = "pyro_bnn",
    nnodes: int | str = 1,
    node_rank: int | None = None,
    rdzv_endpoint: str | None = None,
    rdzv_id: str = "pyro_bnn",
) -> list[str]:
    """The ``python -m torch.distributed.run ...`` command :func:`launch` runs."""
    nproc = check_positive_int(nproc, "nproc")
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    if nnodes in (1, "1") and rdzv_endpoint is None:
        command.append("--standalone")  # local rendezvous on a free port
    else:
        if rdzv_endpoint is None:
            raise ValueError(
                "a multi-node launch needs rdzv_endpoint='HOST:PORT' (a node all others reach)"
            )
        command += [
            f"--nnodes={nnodes}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={rdzv_endpoint}",
            f"--rdzv-id={rdzv_id}",
        ]
        if node_rank is not None:
            command.append(f"--node-rank={node_rank}")
    if module is not None:
        command += ["-m", module]
    return command + _without_nproc(argv)


def launch(
    argv: Sequence[str],
    nproc: int,
    *,
    module: str | None = "pyro_bnn",
    nnodes: int | str = 1,
    node_rank: int | None = None,
    rdzv_endpoint: str | None = None,
    rdzv_id: str = "pyro_bnn",
    env: dict[str, str] | None = None,
) -> int:
    """Run ``argv`` in ``nproc`` processes through torch's elastic launcher (``torchrun``).

    Parameters
    ----------
    argv : sequence of str
        Arguments of the command: for ``module="pyro_bnn"`` the CLI arguments
        (``["fit", "model.toml", "--nproc", "2"]``; any ``--nproc`` is dropped so the
        workers do not launch again); for ``module=None`` a script path and its
        arguments.
    nproc : int
        Processes on this node.
    module : str or None
        Python module run with ``-m`` (default the ``pyro-bnn`` CLI).
    nnodes, node_rank, rdzv_endpoint, rdzv_id
        Multi-node runs: run the same call on every node with the same
        ``rdzv_endpoint="HOST:PORT"``. One node (default) uses ``--standalone``.
    env : dict, optional
        Extra environment variables for the workers.

    Returns
    -------
    int
        The launcher's exit code (0 when every worker succeeded).
    """
    command = launch_command(
        argv,
        nproc,
        module=module,
        nnodes=nnodes,
        node_rank=node_rank,
        rdzv_endpoint=rdzv_endpoint,
        rdzv_id=rdzv_id,
    )
    return subprocess.run(command, env={**os.environ, **(env or {})}, check=False).returncode
