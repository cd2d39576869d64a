"""Variational families on the flat parameter vector, mirroring Pyro's autoguides.

Each family holds plain tensors, draws reparameterised samples of the flat
unconstrained vector ``z`` and knows its entropy in closed form, so an SVI step
is one network evaluation and one backward pass, with no Pyro trace. The objective
is Pyro's ``Trace_ELBO`` for the equivalent autoguide: ``E[log p(x, T(z)) + log|J(z)|]
+ entropy`` for the Gaussian families (``T`` maps ``z`` to the sites' supports) and
``log p(x, T(loc))``, without the Jacobian, for ``"delta"`` (MAP in constrained
space, as ``AutoDelta``). After
fitting, :meth:`FlatGuide.to_pyro` writes the parameters into the equivalent
Pyro autoguide (same parameterisation, same names), which the rest of the
library uses.

| name      | Pyro guide                       | z                                     |
|-----------|----------------------------------|---------------------------------------|
| normal    | AutoNormal                       | loc + scale * eps                     |
| lowrank   | AutoLowRankMultivariateNormal    | loc + (W * scale) eps_r + scale * eps |
| mvn       | AutoMultivariateNormal           | loc + (scale * L) eps, L unit-lower   |
| delta     | AutoDelta                        | loc                                   |
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..posterior import initialised_guide
from .flat import FlatModel

__all__ = ["FlatGuide"]


def inverse_softplus(value: torch.Tensor) -> torch.Tensor:
    """Inverse of ``softplus`` (the transform Pyro uses for its guides' scales)."""
    return value + torch.log(-torch.expm1(-value))


class FlatGuide:
    """A Gaussian (or point) family over the flat vector of a :class:`FlatModel`.

    Parameters
    ----------
    flat : FlatModel
    kind : ``"normal"``, ``"lowrank"``, ``"mvn"`` or ``"delta"``
    loc : tensor (dim,)
        Initial mean (unconstrained).
    init_scale : float
        Initial standard deviation, as in Pyro's autoguides.
    rank : int, optional
        Rank of ``"lowrank"`` (default ``round(sqrt(dim))``, Pyro's default).
    """

    def __init__(self, flat: FlatModel, kind: str, loc: torch.Tensor, init_scale: float, rank=None):
        self.flat, self.kind = flat, kind
        dim = flat.dim
        self.loc = loc.detach().clone().requires_grad_(True)
        self.params = [self.loc]
        if kind == "delta":
            return
        start_scale = init_scale * (0.5**0.5 if kind == "lowrank" else 1.0)
        self.raw_scale = inverse_softplus(torch.full_like(self.loc, start_scale))
        self.raw_scale.requires_grad_(True)
        self.params.append(self.raw_scale)
        if kind == "lowrank":
            self.rank = rank or int(round(dim**0.5))
            self.cov_factor = (
                torch.randn(dim, self.rank, dtype=loc.dtype, device=loc.device) / self.rank**0.5
            ).requires_grad_(True)
            self.params.append(self.cov_factor)
        elif kind == "mvn":
            self.tril = torch.zeros(dim, dim, dtype=loc.dtype, device=loc.device)
            self.tril.requires_grad_(True)
            self.params.append(self.tril)
            # masks instead of torch.tril/eye per step (tril is slow on busy CPUs)
            self._strict_lower = torch.ones(dim, dim, dtype=loc.dtype, device=loc.device).tril(-1)
            self._eye = torch.eye(dim, dtype=loc.dtype, device=loc.device)
        self._entropy_const = 0.5 * dim * (1.0 + math.log(2 * math.pi))

    def rsample(self, num_particles: int) -> torch.Tensor:
        """Reparameterised draws ``(num_particles, dim)`` (``(dim,)`` for one particle)."""
        if self.kind == "delta":
            return self.loc
        shape = (num_particles, self.flat.dim) if num_particles > 1 else (self.flat.dim,)
        scale = F.softplus(self.raw_scale)
        eps = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        if self.kind == "normal":
            return self.loc + scale * eps
        if self.kind == "mvn":
            unit_lower = self.tril * self._strict_lower + self._eye
            return self.loc + scale * (eps @ unit_lower.T)
        eps_rank = torch.randn(
            shape[:-1] + (self.rank,), dtype=self.loc.dtype, device=self.loc.device
        )
        return self.loc + scale * (eps_rank @ self.cov_factor.T + eps)

    def entropy(self) -> torch.Tensor:
        """Entropy of the family (0 for ``"delta"``, which is a point estimate)."""
        if self.kind == "delta":
            return self.loc.new_zeros(())
        scale = F.softplus(self.raw_scale)
        if self.kind == "lowrank":
            # log det(s (W W^T + I) s) = 2 sum log s + log det(I_r + W^T W)
            capacitance = (
                torch.eye(self.rank, dtype=scale.dtype, device=scale.device)
                + self.cov_factor.T @ self.cov_factor
            )
            return torch.log(scale).sum() + 0.5 * torch.logdet(capacitance) + self._entropy_const
        return torch.log(scale).sum() + self._entropy_const

    def log_joint(self, z: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """The model term of the ELBO at unconstrained draws ``z: (..., dim)``.

        Gaussian families: log prior + log likelihood + ``log |J|`` of the constrained
        sites (Pyro's autoguides put ``-log |J|`` in the guide's log density).
        ``"delta"``: no ``log |J|``, because ``AutoDelta`` is a point mass at the
        constrained value and maximises ``log p(x, theta)`` there.
        """
        if self.kind == "delta":
            return self.flat.log_density(z, index)
        return self.flat.log_joint(z, index)

    def elbo(self, num_particles: int, index: torch.Tensor | None) -> torch.Tensor:
        """ELBO estimate: mean :meth:`log_joint` over particles plus the entropy.

        Its expectation is Pyro's ``Trace_ELBO`` of the guide :meth:`to_pyro` returns.
        """
        return self.log_joint(self.rsample(num_particles), index).mean() + self.entropy()

    def to_pyro(self):
        """The equivalent fitted Pyro autoguide (AutoNormal, AutoLowRank..., AutoMVN, AutoDelta)."""
        flat = self.flat
        guide = initialised_guide(flat.model, self.kind, rank=getattr(self, "rank", None))
        state = guide.state_dict()
        loc = self.loc.detach()
        if self.kind in ("normal", "delta"):
            prefix = "locs." if self.kind == "normal" else ""
            parts = zip(flat.names, flat.shapes, loc.split(flat.sizes), strict=True)
            for name, shape, chunk in parts:
                state[f"{prefix}{name}_unconstrained"] = chunk.reshape(shape)
            if self.kind == "normal":
                raw = self.raw_scale.detach().split(flat.sizes)
                for name, shape, chunk in zip(flat.names, flat.shapes, raw, strict=True):
                    state[f"scales.{name}_unconstrained"] = chunk.reshape(shape)
        else:
            state["loc"] = loc
            state["scale_unconstrained"] = self.raw_scale.detach()
            if self.kind == "lowrank":
                state["cov_factor"] = self.cov_factor.detach()
            else:
                state["scale_tril_unconstrained"] = torch.tril(self.tril.detach(), -1)
        guide.load_state_dict(state)
        return guide
