"""Data larger than memory: moved to :mod:`pyro_bnn.data.streaming` (this path keeps working)."""

from .data.streaming import (
    BatchIndexSampler,
    NpyDataset,
    make_loader,
    save_npy_chunks,
    streaming_standardizer,
)

__all__ = [
    "NpyDataset",
    "BatchIndexSampler",
    "make_loader",
    "streaming_standardizer",
    "save_npy_chunks",
]
