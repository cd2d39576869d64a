"""A Bayesian network's posterior as one flat unconstrained vector.

The fast paths (NUTS via ``potential_fn``, MAP initialisation) work on a single
vector ``z`` instead of Pyro's per-site traces: :class:`FlatModel` unflattens
``z`` into views, maps constrained sites (``sigma``, hierarchical scales) to their
support, and evaluates the log joint in plain torch with the *same* prior and
likelihood objects the Pyro model samples from.
"""

from __future__ import annotations

import torch
from torch.distributions import biject_to, constraints

from ..nets import BayesianMLP

__all__ = ["FlatModel"]


class FlatModel:
    """Flat-vector view of a :class:`BayesianMLP` conditioned on data.

    Parameters
    ----------
    model : BayesianMLP
    x : tensor (N, D); y : tensor (N,) or (N, K)
        Validated training data on the model's dtype and device.
    """

    def __init__(self, model: BayesianMLP, x: torch.Tensor, y: torch.Tensor):
        self.model, self.x, self.y = model, x, y
        like = model._like
        self.names, self.shapes, self.sizes, self.transforms = [], [], [], []
        self.constrained: list[bool] = []
        values: dict[str, torch.Tensor] = {}
        for site in model.latent_sites:
            prior = site.prior(values, like)
            self.names.append(site.name)
            self.shapes.append(site.shape)
            self.sizes.append(int(torch.Size(site.shape).numel()))
            self.transforms.append(biject_to(prior.support))
            support = prior.support
            while isinstance(support, constraints.independent):
                support = support.base_constraint
            self.constrained.append(support is not constraints.real)
            values[site.name] = prior.sample()
        self.dim = sum(self.sizes)

    def unflatten(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unconstrained ``z: (..., dim)`` → constrained site values ``(..., *shape)``."""
        values = {}
        chunks = z.split(self.sizes, dim=-1)
        for name, shape, chunk, transform, constrained in zip(
            self.names, self.shapes, chunks, self.transforms, self.constrained, strict=True
        ):
            value = chunk.reshape(z.shape[:-1] + shape)
            values[name] = transform(value) if constrained else value
        return values

    def flatten(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """Constrained site values → unconstrained ``z`` (inverse of :meth:`unflatten`)."""
        parts = []
        for name, shape, transform in zip(self.names, self.shapes, self.transforms, strict=True):
            value = transform.inv(values[name])
            parts.append(value.reshape(value.shape[: value.dim() - len(shape)] + (-1,)))
        return torch.cat(parts, dim=-1)

    def log_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        """``log |d constrained / d z|`` summed over sites (leading dims kept)."""
        total = z.new_zeros(z.shape[:-1])
        for shape, chunk, transform, constrained in zip(
            self.shapes, z.split(self.sizes, dim=-1), self.transforms, self.constrained, strict=True
        ):
            if not constrained:
                continue  # identity for real-valued sites
            unconstrained = chunk.reshape(z.shape[:-1] + shape)
            log_det = transform.log_abs_det_jacobian(unconstrained, transform(unconstrained))
            total = total + log_det.reshape(z.shape[:-1] + (-1,)).sum(-1)
        return total

    def log_joint(self, z: torch.Tensor) -> torch.Tensor:
        """Log prior + log likelihood + log Jacobian at unconstrained ``z: (..., dim)``."""
        values = self.unflatten(z)
        return (
            self.model.log_prior(values)
            + self.model.log_likelihood(values, self.x, self.y)
            + self.log_jacobian(z)
        )

    def potential(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """NUTS potential energy ``-log_joint`` for Pyro's ``potential_fn`` (key ``"z"``)."""
        return -self.log_joint(params["z"])

    def map_estimate(
        self, z0: torch.Tensor, num_steps: int = 500, lr: float = 1e-2
    ) -> torch.Tensor:
        """Maximise the log joint from ``z0`` with Adam (plain torch, full batch)."""
        z = z0.detach().clone().requires_grad_(True)
        optimizer = torch.optim.Adam([z], lr=lr)
        for _ in range(num_steps):
            optimizer.zero_grad()
            loss = -self.log_joint(z)
            loss.backward()
            optimizer.step()
        return z.detach()
