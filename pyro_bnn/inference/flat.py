"""A Bayesian network's posterior as one flat unconstrained vector.

The fast paths (NUTS via ``potential_fn``, MAP initialisation) work on a single
vector ``z`` instead of Pyro's per-site traces: :class:`FlatModel` unflattens
``z`` into views, maps constrained sites (``sigma``, hierarchical scales) to their
support, and evaluates the log joint in plain torch with the *same* prior and
likelihood objects the Pyro model samples from.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pyro.distributions as dist
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
        self._split_static_normal_priors(like)

    def _split_static_normal_priors(self, like: torch.Tensor) -> None:
        """Collect sites with a fixed Normal prior into one flat Normal (one op per call).

        Sites whose prior depends on other sites (hierarchical scales) or is not
        Normal keep their own distribution object.
        """
        locs, scales, index = [], [], []
        self.other_sites = []  # (position in self.names, LatentSite, cached dist or None)
        offset = 0
        for position, (site, size) in enumerate(
            zip(self.model.latent_sites, self.sizes, strict=True)
        ):
            try:
                prior = site.prior({}, like)
            except KeyError:  # depends on earlier sites
                prior = None
            base = prior.base_dist if isinstance(prior, dist.Independent) else prior
            if isinstance(base, dist.Normal) and not self.constrained[position]:
                shape = site.shape
                locs.append(base.loc.expand(shape).reshape(-1))
                scales.append(base.scale.expand(shape).reshape(-1))
                index.append(torch.arange(offset, offset + size, device=like.device))
            else:
                self.other_sites.append((position, site, prior))
            offset += size
        if index:
            self.normal_index = torch.cat(index)
            self.normal_loc = torch.cat(locs)
            self.normal_inv_scale = 1 / torch.cat(scales)
            self.normal_const = float(
                torch.log(self.normal_inv_scale).sum()
                - 0.5 * len(self.normal_index) * math.log(2 * math.pi)
            )
            contiguous = torch.equal(
                self.normal_index, torch.arange(len(self.normal_index), device=like.device)
            )
            self.normal_slice = slice(0, len(self.normal_index)) if contiguous else None
        else:
            self.normal_index = None

    def log_prior(self, z: torch.Tensor, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """Log prior density of unconstrained ``z`` whose constrained values are ``values``."""
        total = z.new_zeros(z.shape[:-1])
        if self.normal_index is not None:
            part = z[..., self.normal_slice] if self.normal_slice else z[..., self.normal_index]
            standardized = (part - self.normal_loc) * self.normal_inv_scale
            total = total - 0.5 * (standardized**2).sum(-1) + self.normal_const
        like = self.model._like
        for _, site, prior in self.other_sites:
            prior = prior if prior is not None else site.prior(values, like)
            total = total + prior.log_prob(values[site.name])
        return total

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

    def log_joint(self, z: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """Log prior + log likelihood + log Jacobian at unconstrained ``z: (..., dim)``.

        The log density of ``z`` itself (the change of variables included): the NUTS
        potential, the MAP initialisation of NUTS, and the model term of the Gaussian
        guides' ELBO (Pyro's autoguides add the same ``log |J|`` through their Delta
        sites' ``log_density``). A point estimate in constrained space (``AutoDelta``)
        uses :meth:`log_density` instead. With row ``index`` (a minibatch) the log
        likelihood is scaled by ``N / len(index)``, an unbiased estimate of the
        full-data value.
        """
        values = self.unflatten(z)
        if index is None:
            log_likelihood = self.model.log_likelihood(values, self.x, self.y)
        else:
            scale = self.x.shape[0] / len(index)
            log_likelihood = scale * self.model.log_likelihood(values, self.x[index], self.y[index])
        return self.log_prior(z, values) + log_likelihood + self.log_jacobian(z)

    def log_density(self, z: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """Log prior + log likelihood at the constrained values of ``z``, without log Jacobian.

        ``log p(x, theta)`` at ``theta = unflatten(z)``: what ``AutoDelta`` maximises
        (a MAP estimate in constrained space). Written as :meth:`log_joint` minus
        :meth:`log_jacobian` so that a subclass that changes :meth:`log_joint` (e.g.
        its likelihood scaling) changes this too.
        """
        return self.log_joint(z, index) - self.log_jacobian(z)

    def potential(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """NUTS potential energy ``-log_joint`` for Pyro's ``potential_fn`` (key ``"z"``)."""
        return -self.log_joint(params["z"])

    def map_estimate(
        self,
        z0: torch.Tensor,
        num_steps: int = 500,
        lr: float = 1e-2,
        value_and_grad_fn: Callable[[torch.Tensor], tuple[float, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """Maximise :meth:`log_joint` from ``z0`` (full batch, Adam); see ``map.map_estimate``."""
        from .map import map_estimate

        return map_estimate(
            self, z0, num_steps=num_steps, lr=lr, value_and_grad_fn=value_and_grad_fn
        )[0]
