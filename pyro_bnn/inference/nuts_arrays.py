"""Array backends of the lean NUTS sampler: numpy on the CPU, torch tensors elsewhere.

The sampler's hot loop uses operators only (``+``, ``*``, ``@``, ``float``), so the same
code runs on both; a backend supplies what differs: random numbers, conversions, stacking.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["NumpyArrays", "TorchTensors", "arrays_for"]


class NumpyArrays:
    """CPU backend: numpy arrays (less overhead per small operation than torch)."""

    def __init__(self, seed: int, dtype: torch.dtype):
        self.rng = np.random.default_rng(seed)
        self.torch_dtype, self.device = dtype, torch.device("cpu")
        self.dtype = np.float32 if dtype == torch.float32 else np.float64
        self.dot = np.dot  # 1-D . 1-D; faster than the @ operator on small arrays

    def from_torch(self, tensor: torch.Tensor) -> np.ndarray:
        """A copy of ``tensor`` as an array of the chain's dtype."""
        return tensor.detach().cpu().numpy().astype(self.dtype, copy=True)

    def to_torch(self, array: np.ndarray) -> torch.Tensor:
        """A tensor sharing ``array``'s memory."""
        return torch.from_numpy(array)

    def stack(self, arrays: list[np.ndarray], dim: int) -> torch.Tensor:
        if not arrays:
            return torch.empty(0, dim, dtype=self.torch_dtype)
        return torch.from_numpy(np.stack(arrays))

    def normal(self, dim: int) -> np.ndarray:
        return self.rng.standard_normal(dim, dtype=self.dtype)

    def uniforms(self, count: int) -> list[float]:
        return self.rng.random(count).tolist()


class TorchTensors:
    """Any other device or dtype: torch tensors and a private ``torch.Generator``."""

    def __init__(self, seed: int, dtype: torch.dtype, device: torch.device):
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.dtype = self.torch_dtype = dtype
        self.device = device
        self.dot = torch.dot

    def from_torch(self, tensor: torch.Tensor) -> torch.Tensor:
        """A copy of ``tensor`` in the chain's dtype, on its device."""
        return tensor.detach().to(device=self.device, dtype=self.dtype, copy=True)

    def to_torch(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def stack(self, tensors: list[torch.Tensor], dim: int) -> torch.Tensor:
        if not tensors:
            return torch.empty(0, dim, dtype=self.dtype, device=self.device)
        return torch.stack(tensors)

    def normal(self, dim: int) -> torch.Tensor:
        return torch.randn(dim, generator=self.generator, dtype=self.dtype, device=self.device)

    def uniforms(self, count: int) -> list[float]:
        return torch.rand(
            count, generator=self.generator, dtype=torch.float64, device=self.device
        ).tolist()


def arrays_for(initial: torch.Tensor, seed: int):
    """numpy on the CPU in float32/float64 (the fast path), torch everywhere else."""
    if initial.device.type == "cpu" and initial.dtype in (torch.float32, torch.float64):
        return NumpyArrays(seed, initial.dtype)
    return TorchTensors(seed, initial.dtype, initial.device)
