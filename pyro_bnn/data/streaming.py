"""Data larger than memory: memory-mapped ``.npy`` datasets, loaders and one-pass statistics.

A streaming fit reads one minibatch at a time from a ``torch.utils.data.DataLoader``::

    data = NpyDataset("x.npy", "y.npy")                 # memory-mapped, nothing loaded
    scaler = streaming_standardizer(data)              # one pass, float64 sums
    data = NpyDataset("x.npy", "y.npy", standardizer=scaler)
    loader = make_loader(data, batch_size=4096, seed=0)
    post = pb.fit_svi(model, loader=loader, num_epochs=3)

``fit_svi`` scales every batch's log likelihood by ``num_data / rows_in_batch``
(``num_data = len(loader.dataset)`` by default), so the ELBO has the full-data
scale. Under ``torchrun`` :func:`make_loader` gives each process its own part of
every epoch (:class:`BatchIndexSampler`, split like ``DistributedSampler``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from pyro_bnn.validation import check_positive_int

from .scaling import Standardizer

__all__ = [
    "NpyDataset",
    "BatchIndexSampler",
    "make_loader",
    "streaming_standardizer",
    "save_npy_chunks",
]


class NpyDataset(torch.utils.data.Dataset):
    """Rows of ``x.npy`` (and ``y.npy``) read from memory-mapped files.

    Parameters
    ----------
    x_path : path
        ``.npy`` file with inputs ``(N, D)``.
    y_path : path, optional
        ``.npy`` file with targets ``(N,)`` or ``(N, K)``.
    standardizer : Standardizer, optional
        Applied to every batch as it is read (see :func:`streaming_standardizer`).
    dtype : numpy dtype
        Dtype of the returned batches (default float32, the model's default).

    Indexing with an int gives one row ``(x (D,), y)``; with a list/array of row
    indices a whole batch ``(x (B, D), y (B,))`` in one read (what
    :func:`make_loader` does). Only the rows asked for are read from disk.
    """

    def __init__(
        self,
        x_path: str | os.PathLike,
        y_path: str | os.PathLike | None = None,
        standardizer: Standardizer | None = None,
        dtype=np.float32,
    ):
        self.x_path, self.y_path = Path(x_path), None if y_path is None else Path(y_path)
        self.x = self._open(self.x_path, "x")
        if self.x.ndim != 2:
            raise ValueError(f"{self.x_path} must hold an (N, D) array, found shape {self.x.shape}")
        self.y = None if self.y_path is None else self._open(self.y_path, "y")
        if self.y is not None and (self.y.ndim not in (1, 2) or len(self.y) != len(self.x)):
            raise ValueError(
                f"{self.y_path} must hold ({len(self.x)},) or ({len(self.x)}, K) targets to "
                f"match {self.x_path}, found shape {self.y.shape}"
            )
        if standardizer is not None and not isinstance(standardizer, Standardizer):
            raise TypeError(
                f"standardizer must be a pyro_bnn Standardizer, got {type(standardizer).__name__}"
            )
        if standardizer is not None and standardizer.num_features != self.x.shape[1]:
            raise ValueError(
                f"the standardizer was fit on {standardizer.num_features} columns but "
                f"{self.x_path} has {self.x.shape[1]}"
            )
        self.standardizer = standardizer
        self.dtype = np.dtype(dtype)

    @staticmethod
    def _open(path: Path, name: str) -> np.ndarray:
        if not path.is_file():
            raise ValueError(f"{name} file {path} does not exist")
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as error:
            raise ValueError(f"{path} is not a readable .npy file: {error}") from None
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise ValueError(f"{path} must hold numbers, found dtype {array.dtype}")
        return array

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_features(self) -> int:
        """Number of input columns D."""
        return int(self.x.shape[1])

    def __getitem__(self, index):
        if isinstance(index, int | np.integer):
            x, y = self[[int(index)]]
            return x[0], (None if y is None else y[0])
        rows = np.sort(np.asarray(index, dtype=np.int64))  # sorted reads; order is irrelevant
        x = np.asarray(self.x[rows], dtype=np.float64)
        y = None if self.y is None else np.asarray(self.y[rows])
        if self.standardizer is not None:
            x = self.standardizer.transform_x(x)
            if y is not None and self.standardizer.task == "regression":
                y = self.standardizer.transform_y(y.astype(np.float64))
        x = torch.from_numpy(x.astype(self.dtype, copy=False))
        if y is not None:
            y = torch.from_numpy(y.astype(self.dtype, copy=False))
        return x, y


class BatchIndexSampler(torch.utils.data.Sampler):
    """Row-index batches (int64 arrays) of shuffled epochs, optionally one rank's part.

    Holds one ``torch.randperm`` per epoch (8 bytes per row) instead of the Python
    list of indices torch's ``RandomSampler`` + ``BatchSampler`` build (about 36
    bytes per row). With ``world_size > 1`` it splits every epoch like
    ``DistributedSampler``: the order is padded (wrapping around) to a multiple of
    ``world_size`` and rank ``r`` takes positions ``r, r + W, ...``, so every rank
    gets the same number of batches. Epoch ``e`` is shuffled with seed ``seed + e``;
    :meth:`set_epoch` picks the epoch, otherwise each pass takes the next one.
    """

    def __init__(
        self,
        num_rows: int,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ):
        num_rows = check_positive_int(num_rows, "num_rows")
        batch_size = check_positive_int(batch_size, "batch_size")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.num_rows, self.batch_size, self.shuffle, self.seed = (
            num_rows,
            batch_size,
            shuffle,
            seed,
        )
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Shuffle the next pass as epoch ``epoch``."""
        self.epoch = epoch

    @property
    def rows_per_rank(self) -> int:
        """Rows each rank sees per epoch (after padding)."""
        return -(-self.num_rows // self.world_size)

    def __len__(self) -> int:
        if self.drop_last:
            return self.rows_per_rank // self.batch_size
        return -(-self.rows_per_rank // self.batch_size)

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_rows, generator=generator)
        else:
            order = torch.arange(self.num_rows)
        self.epoch += 1
        if self.world_size > 1:
            total = self.rows_per_rank * self.world_size
            if total > self.num_rows:
                order = torch.cat([order, order[: total - self.num_rows]])
            order = order[self.rank :: self.world_size]
        for batch in range(len(self)):
            yield order[batch * self.batch_size : (batch + 1) * self.batch_size].numpy()


def make_loader(
    dataset: torch.utils.data.Dataset,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A loader that reads whole batches at once (``dataset[array_of_rows]``).

    Rows are reshuffled every epoch (seed ``seed + epoch``, see
    :class:`BatchIndexSampler`). Under ``torchrun`` (``WORLD_SIZE > 1``) each process
    gets a disjoint part of every epoch, and all processes get the same number of
    batches, as the collective steps require.
    """
    from ..distributed import get_rank, get_world_size

    batch_size = check_positive_int(batch_size, "batch_size")
    batches = BatchIndexSampler(
        len(dataset),
        batch_size,
        shuffle=shuffle,
        seed=seed,
        rank=get_rank(),
        world_size=get_world_size(),
        drop_last=drop_last,
    )
    return DataLoader(
        dataset,
        sampler=batches,
        batch_size=None,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


def _chunks(source, chunk_rows: int) -> Iterable[tuple[np.ndarray, np.ndarray | None]]:
    if isinstance(source, NpyDataset):
        for start in range(0, len(source), chunk_rows):
            stop = start + chunk_rows
            y = None if source.y is None else np.asarray(source.y[start:stop])
            yield np.asarray(source.x[start:stop]), y
        return
    for batch in source:
        if not isinstance(batch, list | tuple) or len(batch) != 2:
            raise TypeError(
                "streaming_standardizer needs an NpyDataset or an iterable of (x, y) batches, "
                f"got a batch of type {type(batch).__name__}"
            )
        x, y = batch
        x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        y = y.numpy() if isinstance(y, torch.Tensor) else (None if y is None else np.asarray(y))
        yield x, y


class _RunningMoments:
    """Column means and variances merged chunk by chunk (Chan et al.), in float64."""

    def __init__(self):
        self.count, self.mean, self.m2 = 0, None, None

    def update(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError("the data hold NaN or inf; clean them before standardizing")
        count = values.shape[0]
        if count == 0:
            return
        mean = values.mean(axis=0)
        m2 = ((values - mean) ** 2).sum(axis=0)
        if self.count == 0:
            self.count, self.mean, self.m2 = count, mean, m2
            return
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * count / total)
        self.count = total

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        std = np.sqrt(self.m2 / self.count)
        tiny = std < 1e-12 * np.maximum(1.0, np.abs(self.mean))  # constant column: scale 1
        return self.mean, np.where(tiny, 1.0, std)


def streaming_standardizer(
    source,
    task: str = "regression",
    standardize_x: bool = True,
    standardize_y: bool = True,
    chunk_rows: int = 65536,
) -> Standardizer:
    """Standardization statistics in one pass over data that need not fit in memory.

    Parameters
    ----------
    source : NpyDataset or iterable of (x, y) batches
        An :class:`NpyDataset` is read in contiguous chunks of ``chunk_rows`` rows
        (its own ``standardizer`` is ignored); a DataLoader yields ``(x (B, D), y)``.
    task, standardize_x, standardize_y
        As in :meth:`pyro_bnn.data.Standardizer.fit` (classification: only ``x``).

    Returns
    -------
    Standardizer
        Equal (to float64 rounding) to ``Standardizer.fit`` on all rows at once:
        population std (``ddof=0``), constant columns get scale 1.
    """
    chunk_rows = check_positive_int(chunk_rows, "chunk_rows")
    x_moments, y_moments = _RunningMoments(), _RunningMoments()
    y_shape = None
    for x, y in _chunks(source, chunk_rows):
        x_moments.update(x)
        if y is not None and task == "regression":
            y_shape = y.shape[1:]
            y_moments.update(y)
    if x_moments.count == 0:
        raise ValueError("streaming_standardizer got no rows")
    num_features = x_moments.mean.shape[0]
    if standardize_x:
        x_mean, x_std = x_moments.mean_std()
    else:
        x_mean, x_std = np.zeros(num_features), np.ones(num_features)
    if y_moments.count and standardize_y:
        y_mean, y_std = y_moments.mean_std()
    else:
        shape = () if y_shape is None else y_shape
        y_mean, y_std = np.zeros(shape), np.ones(shape)
    return Standardizer(x_mean=x_mean, x_std=x_std, y_mean=y_mean, y_std=y_std, task=task)


def save_npy_chunks(
    path: str | os.PathLike, chunks: Iterable[np.ndarray], num_rows: int, dtype=np.float32
) -> Path:
    """Write row chunks into one ``.npy`` file of ``num_rows`` rows without holding it all.

    The file is written through a memory map next to ``path`` and renamed into
    place when complete (an interrupted write leaves no ``path``).
    """
    from ..posterior import atomic_write

    path = Path(path)
    chunks = iter(chunks)

    def write(tmp: str) -> None:
        first = np.asarray(next(chunks))
        out = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=dtype, shape=(num_rows, *first.shape[1:])
        )
        row = 0
        for chunk in _prepend(first, chunks):
            chunk = np.asarray(chunk)
            if row + len(chunk) > num_rows:
                raise ValueError(f"the chunks hold more than num_rows={num_rows} rows")
            out[row : row + len(chunk)] = chunk
            row += len(chunk)
        if row != num_rows:
            raise ValueError(f"the chunks hold {row} rows, not num_rows={num_rows}")
        out.flush()
        del out

    atomic_write(path, write)
    return path


def _prepend(first, rest):
    yield first
    yield from rest
