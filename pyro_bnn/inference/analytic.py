"""Hand-written log joint and gradient of a Bayesian MLP, for NUTS.

Autograd spends most of a NUTS gradient evaluation on bookkeeping for the many
small operations of a network's log joint. For the common case — tanh or ReLU
hidden layers, fixed Normal priors on every weight and bias, a single-output
Gaussian likelihood with fixed noise or a learned ``sigma ~ HalfNormal`` (sampled
as ``log sigma``) — :class:`AnalyticGradient` computes the same value and
gradient with one forward and one backward sweep of plain matrix products.
:meth:`AnalyticGradient.supports` says whether a :class:`FlatModel` is such a
case; everything else keeps autograd. The test suite checks value and gradient
against autograd on :meth:`FlatModel.log_joint`.
"""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch

from ..likelihoods import Gaussian
from .flat import FlatModel

__all__ = ["AnalyticGradient"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class AnalyticGradient:
    """``z -> (log joint, gradient)`` of a :class:`FlatModel`, without autograd.

    Only for models where :meth:`supports` is true.
    """

    def __init__(self, flat: FlatModel):
        if not self.supports(flat):
            raise ValueError(
                "AnalyticGradient needs tanh/relu layers, fixed Normal priors "
                "and a single-output Gaussian likelihood"
            )
        self.flat = flat
        model = flat.model
        self.x, self.y = flat.x, flat.y
        self.num_layers = len(model.layer_sizes)
        self.activation = model.activation
        self.layer_slices = []  # (weight slice, weight shape, bias slice) per layer
        offset = 0
        for fan_in, fan_out in model.layer_sizes:
            weight = slice(offset, offset + fan_in * fan_out)
            offset += fan_in * fan_out
            bias = slice(offset, offset + fan_out)
            offset += fan_out
            self.layer_slices.append((weight, (fan_out, fan_in), bias))
        self.num_weights = offset
        likelihood = model.likelihood
        self.fixed_sigma = likelihood.sigma
        if self.fixed_sigma is None:
            ((_, _, prior),) = flat.other_sites
            self.sigma_prior_var = float(prior.scale) ** 2
            self.sigma_prior_const = math.log(2.0) - _HALF_LOG_2PI - math.log(float(prior.scale))

    @staticmethod
    def supports(flat: FlatModel) -> bool:
        """True when the model is a case this class computes exactly."""
        model = flat.model
        likelihood = model.likelihood
        if type(likelihood) is not Gaussian or model.out_features != 1:
            return False
        if model.activation not in ("tanh", "relu") or flat.normal_slice is None:
            return False
        num_weights = sum(i * o + o for i, o in model.layer_sizes)
        if flat.normal_slice != slice(0, num_weights):
            return False
        if likelihood.sigma is not None:
            return not flat.other_sites
        if len(flat.other_sites) != 1:
            return False
        _, site, prior = flat.other_sites[0]
        return site.name == "sigma" and type(prior) is dist.HalfNormal

    def __call__(self, z: torch.Tensor) -> tuple[float, torch.Tensor]:
        """Log joint (prior + likelihood + log Jacobian) and its gradient at ``z: (dim,)``."""
        flat, grad = self.flat, torch.empty_like(z)
        weights = z[: self.num_weights]
        # prior of all weights and biases: one flat Normal
        standardized = (weights - flat.normal_loc) * flat.normal_inv_scale
        value = -0.5 * float(standardized @ standardized) + flat.normal_const
        grad[: self.num_weights] = -standardized * flat.normal_inv_scale
        # forward sweep, keeping the activations
        hidden = [self.x]
        h = self.x
        for i, (w, shape, b) in enumerate(self.layer_slices):
            h = torch.addmm(z[b], h, z[w].view(shape).t())
            if i < self.num_layers - 1:
                h = torch.tanh(h) if self.activation == "tanh" else torch.relu(h)
                hidden.append(h)
        residual = self.y - h[:, 0]
        n = residual.shape[0]
        squared = float(residual @ residual)
        if self.fixed_sigma is None:
            log_sigma = z[-1]
            sigma = float(torch.exp(log_sigma))
            sigma2 = sigma * sigma
            if not 0.0 < sigma2 < math.inf:  # exp under/overflowed: zero density here
                return -math.inf, torch.zeros_like(z)
            value += -0.5 * squared / sigma2 - n * float(log_sigma) - n * _HALF_LOG_2PI
            value += self.sigma_prior_const - 0.5 * sigma2 / self.sigma_prior_var + float(log_sigma)
            # via a float64 tensor: an extreme sigma overflows float32 to inf, not an error
            grad[-1] = torch.tensor(
                squared / sigma2 - n - sigma2 / self.sigma_prior_var + 1.0, dtype=torch.float64
            )
        else:
            sigma2 = self.fixed_sigma**2
            value += -0.5 * squared / sigma2 - n * (math.log(self.fixed_sigma) + _HALF_LOG_2PI)
        # backward sweep: d loglik / d pre-activation of the output
        delta = (residual / sigma2).unsqueeze(1)
        for i in range(self.num_layers - 1, -1, -1):
            w, shape, b = self.layer_slices[i]
            grad[w] += (delta.t() @ hidden[i]).reshape(-1)
            grad[b] += delta.sum(0)
            if i > 0:
                delta = delta @ z[w].view(shape)
                h = hidden[i]
                delta = delta * (1 - h * h) if self.activation == "tanh" else delta * (h > 0)
        return value, grad
