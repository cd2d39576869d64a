"""Hand-written log joint and gradient of a Bayesian MLP, for NUTS on the CPU.

Autograd spends most of a NUTS gradient evaluation on bookkeeping for the many
small operations of a network's log joint, and even plain torch pays a few
microseconds of dispatch per operation — more than the arithmetic of a small
network. For the common cases — tanh or ReLU hidden layers, fixed Normal priors on
every weight and bias, data on the CPU, and a likelihood that is a single-output
Gaussian (fixed noise, or a learned ``sigma ~ HalfNormal`` sampled as ``log sigma``),
a single-output heteroscedastic Gaussian (the network's second output gives the scale),
a Poisson on the log rate, or a Bernoulli or Categorical on the logits — :class:`AnalyticGradient`
computes the same value and gradient with one forward and one backward sweep of
numpy matrix products: each layer's weights and bias are packed as one ``(fan_out, fan_in + 1)``
matrix acting on activations with a row of ones, so a layer costs one product
forward and two backward, and every array is allocated once.
:meth:`AnalyticGradient.supports` says whether a :class:`FlatModel` is such a case;
everything else keeps autograd. The test suite checks value and gradient against
autograd on :meth:`FlatModel.log_joint`.
"""

from __future__ import annotations

import math

import numpy as np
import pyro.distributions as dist
import torch

from ..likelihoods import Bernoulli, Categorical, Gaussian, HeteroscedasticGaussian, Poisson
from .flat import FlatModel

__all__ = ["AnalyticGradient"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# sigma^2 outside this range: the density is zero for any practical data (and the
# float32 gradient would overflow), so such points are rejected outright
_SIGMA2_RANGE = (1e-30, 1e30)


class AnalyticGradient:
    """``z -> (log joint, gradient)`` of a :class:`FlatModel`, without autograd.

    Works on the *packed* layout of the parameters: per layer, row ``j`` of the
    ``(fan_out, fan_in + 1)`` matrix ``[W | b]``, then ``log sigma`` if learned.
    :meth:`pack` and :meth:`unpack` convert from and to the :class:`FlatModel`
    layout (both are permutations, so the prior and NUTS do not care). Only for
    models where :meth:`supports` is true. One instance must not be called from
    two threads at once (it reuses its activation buffers).
    """

    def __init__(self, flat: FlatModel):
        if not self.supports(flat):
            raise ValueError(
                "AnalyticGradient needs tanh/relu layers, fixed Normal priors, a single-output "
                "Gaussian, heteroscedastic Gaussian or Poisson, a Bernoulli or Categorical "
                "likelihood and data on the CPU"
            )
        model = flat.model
        x = flat.x.detach().numpy()
        labels = flat.y.detach().reshape(-1).numpy()
        n, dtype, num_outputs = len(labels), x.dtype, model.layer_sizes[-1][1]
        self.likelihood = type(model.likelihood)
        self.min_scale = getattr(model.likelihood, "min_scale", None)
        if self.likelihood is Categorical:  # one-hot targets, (K, N)
            self.y = np.zeros((num_outputs, n), dtype=dtype)
            self.y[labels.astype(np.int64), np.arange(n)] = 1.0
            self.logits_buffer = np.empty((num_outputs, n), dtype=dtype)
        else:  # Gaussian targets, 0/1 labels or counts, (N,)
            self.y = labels.astype(dtype)
        if self.likelihood is HeteroscedasticGaussian:  # sigmoid of the raw scale, (N,)
            self.sigmoid_buffer = np.empty(n, dtype=dtype)
        if self.likelihood is Poisson:  # - sum log y! (a constant)
            self.count_const = -float(torch.lgamma(flat.y.detach().double() + 1).sum())
        self.tanh = model.activation == "tanh"
        # activations transposed, (width + 1, N), with a last row of ones for the bias
        self.inputs = np.ones((x.shape[1] + 1, n), dtype=dtype)
        self.inputs[:-1] = x.T
        self.activations = [
            np.ones((fan_out + 1, n), dtype=dtype) for _, fan_out in model.layer_sizes[:-1]
        ]
        # every other (width, N) array is allocated once too: large fresh arrays come
        # from the operating system and page-fault in again on every call
        self.outputs = np.empty((num_outputs, n), dtype=dtype)
        self.residual = np.empty(n, dtype=dtype)
        self.output_delta = np.empty((num_outputs, n), dtype=dtype)
        # packed position of every FlatModel coordinate
        order, blocks, offset = [], [], 0
        for fan_in, fan_out in model.layer_sizes:
            weight = torch.arange(offset, offset + fan_in * fan_out).reshape(fan_out, fan_in)
            bias = torch.arange(offset + fan_in * fan_out, offset + (fan_in + 1) * fan_out)
            order.append(torch.cat([weight, bias[:, None]], dim=1).reshape(-1))
            blocks.append((slice(offset, offset + (fan_in + 1) * fan_out), (fan_out, fan_in + 1)))
            offset += (fan_in + 1) * fan_out
        self.num_weights = offset
        # per layer: (block, shape, input [a; 1], its transpose, output buffer, and for
        # hidden inputs (the activations without the ones row, their delta, scratch))
        self.layers = []
        inputs = [self.inputs, *self.activations]
        outputs = [a[:-1] for a in self.activations] + [self.outputs]
        for i, (block, shape) in enumerate(blocks):
            previous = None
            if i > 0:
                hidden = outputs[i - 1]
                scratch = np.empty(hidden.shape, dtype=dtype if self.tanh else bool)
                previous = (hidden, np.empty(hidden.shape, dtype=dtype), scratch)
            self.layers.append((block, shape, inputs[i], inputs[i].T, outputs[i], previous))
        self.order = torch.cat([torch.cat(order), torch.arange(offset, flat.dim)])
        self.inverse_order = torch.argsort(self.order)
        # prior of all weights and biases, one flat Normal: log p = -0.5 |(w - loc)/scale|^2 + c
        weights_order = self.order[:offset]
        self.prior_loc = flat.normal_loc.detach()[weights_order].numpy()
        self.prior_centred = bool(np.any(self.prior_loc != 0))
        self.prior_neg_precision = -(flat.normal_inv_scale.detach()[weights_order].numpy() ** 2)
        self.prior_const = flat.normal_const
        self.fixed_sigma = getattr(model.likelihood, "sigma", None)
        if self.likelihood is Gaussian and self.fixed_sigma is None:
            ((_, _, prior),) = flat.other_sites
            self.sigma_prior_var = float(prior.scale) ** 2
            self.sigma_prior_const = math.log(2.0) - _HALF_LOG_2PI - math.log(float(prior.scale))

    @staticmethod
    def supports(flat: FlatModel) -> bool:
        """True when the model is a case this class computes exactly."""
        model = flat.model
        likelihood = model.likelihood
        if flat.x.device.type != "cpu" or flat.x.dtype not in (torch.float32, torch.float64):
            return False
        if model.activation not in ("tanh", "relu") or flat.normal_slice is None:
            return False
        num_weights = sum(i * o + o for i, o in model.layer_sizes)
        if flat.normal_slice != slice(0, num_weights):
            return False
        if type(likelihood) in (Bernoulli, Categorical) or (
            type(likelihood) in (Poisson, HeteroscedasticGaussian) and model.out_features == 1
        ):
            return not flat.other_sites
        if type(likelihood) is not Gaussian or model.out_features != 1:
            return False
        if likelihood.sigma is not None:
            return not flat.other_sites
        if len(flat.other_sites) != 1:
            return False
        _, site, prior = flat.other_sites[0]
        return site.name == "sigma" and type(prior) is dist.HalfNormal

    def pack(self, z: torch.Tensor) -> torch.Tensor:
        """:class:`FlatModel` layout ``(..., dim)`` -> packed layout."""
        return z[..., self.order]

    def unpack(self, z: torch.Tensor) -> torch.Tensor:
        """Packed layout ``(..., dim)`` -> :class:`FlatModel` layout."""
        return z[..., self.inverse_order]

    def __call__(self, z: torch.Tensor) -> tuple[float, torch.Tensor]:
        """Log joint (prior + likelihood + log Jacobian) and gradient at packed ``z: (dim,)``."""
        with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN are results here
            value, grad = self.value_and_grad_numpy(z.detach().numpy())
        return value, torch.from_numpy(grad)

    def in_flat_layout(self, z: torch.Tensor) -> tuple[float, torch.Tensor]:
        """:meth:`__call__` for ``z: (dim,)`` in the :class:`FlatModel` layout (gradient too),
        e.g. as ``map_estimate``'s ``value_and_grad_fn``."""
        value, grad = self(self.pack(z))
        return value, self.unpack(grad)

    def value_and_grad_numpy(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        """:meth:`__call__` on a numpy array ``z: (dim,)`` (no copies of ``z``).

        Far in the tails float32 products can overflow to inf (and inf - inf to NaN):
        the caller treats such values as zero density and silences numpy's warnings.
        """
        dot = np.dot
        grad = np.empty_like(z)
        # forward sweep: a = act([W | b] @ [a; 1]) into the next layer's input buffer
        matrices = []  # [W | b] per layer, views of z
        for block, shape, inputs, _, output, _ in self.layers:
            matrices.append(z[block].reshape(shape))
            dot(matrices[-1], inputs, out=output)
            if output is not self.outputs:
                if self.tanh:
                    np.tanh(output, out=output)
                else:
                    np.maximum(output, 0, out=output)
        # log likelihood and delta = its gradient in the output layer's pre-activations
        if self.likelihood is Gaussian:
            value, delta = self._gaussian(z, grad)
            if delta is None:  # the noise under/overflowed: zero density
                return value, np.zeros_like(z)
        elif self.likelihood is Bernoulli:
            value, delta = self._bernoulli()
        elif self.likelihood is Poisson:
            value, delta = self._poisson()
        elif self.likelihood is HeteroscedasticGaussian:
            value, delta = self._heteroscedastic()
        else:
            value, delta = self._categorical()
        # backward sweep
        for i in range(len(self.layers) - 1, -1, -1):
            block, shape, _, inputs_t, _, previous = self.layers[i]
            dot(delta, inputs_t, out=grad[block].reshape(shape))
            if previous is not None:  # delta of the hidden layer below
                hidden, delta_below, scratch = previous
                delta = dot(matrices[i][:, :-1].T, delta, out=delta_below)
                if self.tanh:  # tanh' = 1 - tanh^2
                    np.multiply(hidden, hidden, out=scratch)
                    np.subtract(1.0, scratch, out=scratch)
                    delta *= scratch
                else:
                    delta *= np.greater(hidden, 0, out=scratch)
        # prior of the weights and biases
        weights, weights_grad = z[: self.num_weights], grad[: self.num_weights]
        if self.prior_centred:
            weights = weights - self.prior_loc
        prior_grad = weights * self.prior_neg_precision
        weights_grad += prior_grad
        value += 0.5 * float(dot(weights, prior_grad)) + self.prior_const
        return value, grad

    def _gaussian(self, z: np.ndarray, grad: np.ndarray):
        """Gaussian log likelihood (noise fixed or ``z[-1] = log sigma``); sets ``grad[-1]``."""
        residual = np.subtract(self.y, self.outputs[0], out=self.residual)
        n = residual.shape[0]
        squared = float(np.dot(residual, residual))
        if self.fixed_sigma is None:
            log_sigma = float(z[-1])
            sigma2 = math.exp(min(2.0 * log_sigma, 700.0))
            if not _SIGMA2_RANGE[0] < sigma2 < _SIGMA2_RANGE[1]:
                return -math.inf, None
            value = -0.5 * squared / sigma2 - n * log_sigma - n * _HALF_LOG_2PI
            value += self.sigma_prior_const - 0.5 * sigma2 / self.sigma_prior_var + log_sigma
            grad[-1] = squared / sigma2 - n - sigma2 / self.sigma_prior_var + 1.0
        else:
            sigma2 = self.fixed_sigma**2
            value = -0.5 * squared / sigma2 - n * (math.log(self.fixed_sigma) + _HALF_LOG_2PI)
        delta = self.output_delta
        np.multiply(residual, 1.0 / sigma2, out=delta[0])
        return value, delta

    def _heteroscedastic(self):
        """Gaussian with scale ``s = softplus(r) + min_scale`` from the outputs ``(mean, r)``:
        ``sum -z^2 / 2 - log s - log(2 pi) / 2`` with ``z = (y - mean) / s``; delta
        ``(z / s, (z^2 - 1) / s * sigmoid(r))``."""
        (mean, raw), delta = self.outputs, self.output_delta
        scale = np.logaddexp(0.0, raw, out=self.residual)  # softplus, stable for any r
        scale += self.min_scale
        z = np.subtract(self.y, mean, out=delta[0])
        z /= scale
        value = -0.5 * float(np.dot(z, z)) - float(np.log(scale).sum())
        value -= z.shape[0] * _HALF_LOG_2PI
        scale_delta = np.multiply(z, z, out=delta[1])
        scale_delta -= 1.0
        scale_delta /= scale
        sigmoid = np.multiply(raw, 0.5, out=self.sigmoid_buffer)  # 1/2 + tanh(r / 2) / 2
        np.tanh(sigmoid, out=sigmoid)
        sigmoid *= 0.5
        sigmoid += 0.5
        scale_delta *= sigmoid
        z /= scale  # now the mean's delta
        return value, delta

    def _bernoulli(self):
        """``sum y l - softplus(l)`` over the logits ``l``; delta ``y - sigmoid(l)``."""
        logits, delta = self.outputs[0], self.output_delta
        softplus = np.logaddexp(0.0, logits, out=self.residual)
        value = float(np.dot(self.y, logits)) - float(softplus.sum())
        # y - sigmoid(l) = y - 1/2 - tanh(l / 2) / 2, stable for any l
        row = np.multiply(logits, 0.5, out=delta[0])
        np.tanh(row, out=row)
        row *= -0.5
        row += self.y
        row -= 0.5
        return value, delta

    def _poisson(self):
        """``sum y l - exp(l) - log y!`` over the log rates ``l``; delta ``y - exp(l)``."""
        log_rate, delta = self.outputs[0], self.output_delta
        rate = np.exp(log_rate, out=delta[0])
        value = float(np.dot(self.y, log_rate)) - float(rate.sum()) + self.count_const
        np.subtract(self.y, rate, out=rate)
        return value, delta

    def _categorical(self):
        """``sum l[y] - logsumexp(l)`` over the logits ``(K, N)``; delta ``onehot - softmax``."""
        logits, delta = self.outputs, self.output_delta
        top = logits.max(0)
        shifted = np.subtract(logits, top, out=self.logits_buffer)
        np.exp(shifted, out=shifted)
        total = shifted.sum(0)
        value = float(np.vdot(self.y, logits)) - float(top.sum()) - float(np.log(total).sum())
        np.divide(shifted, total, out=delta)  # softmax
        np.subtract(self.y, delta, out=delta)
        return value, delta
