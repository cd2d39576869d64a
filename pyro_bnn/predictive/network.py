"""Prediction of a :class:`~pyro_bnn.BayesianMLP`: all draws at once, chunked over inputs."""

from __future__ import annotations

import torch

from ..nets import BayesianMLP
from ..validation import check_x
from .prediction import (
    ClassificationPrediction,
    PerDraw,
    Prediction,
    RegressionPrediction,
    _entropy,
    y_transform,
)

# Elements of the widest activation tensor (draws x inputs x width) evaluated at once:
# 2**22 float32 = 16 MiB, about a shared L3 cache. On the bench_predict problem 2**20 to
# 2**23 were alike on an AMD EPYC (2**18 clearly slower); on an Intel Xeon
# bench/bench_predict.py measured 0.97x the hand-written pass at 2**22, 0.90x at 2**21.
_CHUNK_ELEMENTS = 2**22


def _predict_network(
    posterior, x, num_draws, seed, chunk_size, keep_draws, return_sites=(), linearized=False
) -> Prediction:
    """Prediction of a BayesianMLP: all draws at once, chunked over inputs.

    ``linearized``: the network linearised in its weights at the guide's centre
    (:class:`_LinearizedForward`).
    """
    model = posterior.model
    like = model._like
    x = check_x(x, model.in_features, dtype=like.dtype, device=like.device)
    draws = {k: v.to(like) for k, v in posterior.sample(num_draws, seed=seed).items()}
    num_samples = next(iter(draws.values())).shape[0]
    num_inputs = x.shape[0]
    width = max(w for sizes in model.layer_sizes for w in sizes)
    chunk_size = min(
        chunk_size or max(1, _CHUNK_ELEMENTS // (num_samples * width)), max(1, num_inputs)
    )
    likelihood = model.likelihood
    if linearized:
        forward = _LinearizedForward(model, draws, guide_centre(posterior))
    else:
        forward = _ChunkedForward(model, draws, chunk_size)
    out_size = model.layer_sizes[-1][1]
    # every result is written into tensors allocated once: no per-chunk lists and no
    # concatenation at the end (which would briefly hold all pieces twice)
    outputs = like.new_empty((num_samples, num_inputs, out_size)) if keep_draws else None
    summaries: list[torch.Tensor] | None = None
    with torch.no_grad():
        for start in range(0, num_inputs, chunk_size):
            stop = min(start + chunk_size, num_inputs)
            out = forward(x[start:stop])
            if likelihood.task == "classification":
                probs = likelihood.probs(out, draws)
                pieces = (probs.mean(0), _entropy(probs).mean(0))
            else:
                mean, var = likelihood.mean_var(out, draws)
                pieces = (*_mean_and_var_over_draws(mean), var.mean(0))
            if summaries is None:
                summaries = [p.new_empty((num_inputs,) + p.shape[1:]) for p in pieces]
            for summary, piece in zip(summaries, pieces, strict=True):
                summary[start:stop] = piece
            if outputs is not None:
                outputs[:, start:stop] = out
    values = {k: v for k, v in draws.items() if not k.startswith("layers.")}
    per_draw = None
    if outputs is not None:
        per_draw = PerDraw(
            distribution=lambda: likelihood.distribution(outputs, values),
            mean=lambda: likelihood.mean_var(outputs, values)[0],
            probs=lambda: likelihood.probs(outputs, values),
        )
    if likelihood.task == "classification":
        prediction = ClassificationPrediction(*summaries, per_draw, num_samples)
    else:
        y_loc, y_scale = y_transform(posterior, like)
        prediction = RegressionPrediction(
            *summaries, per_draw, seed, num_samples, y_loc=y_loc, y_scale=y_scale
        )
    prediction._outputs = outputs  # (S, N, out) network outputs in model units, or None
    prediction._sites = {name: draws[name] for name in return_sites}  # the draws used above
    return prediction


def _mean_and_var_over_draws(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population variance over dim 0 in two passes (centred, so stable).

    ``torch.var_mean(t, 0)`` is a strided Welford reduction, much slower on ``(S, n)``.
    """
    mean = t.sum(0).div_(t.shape[0])
    deviation = t - mean
    return mean, deviation.mul_(deviation).sum(0).div_(t.shape[0])


def _gelu_(t: torch.Tensor) -> torch.Tensor:
    """GELU written back into ``t`` (torch has no public in-place GELU)."""
    return t.copy_(torch.nn.functional.gelu(t))


# In-place versions of nets.ACTIVATIONS (the same kernels, so the same numbers).
_ACTIVATIONS_INPLACE = {
    "tanh": torch.tanh_,
    "relu": torch.relu_,
    "gelu": _gelu_,
    "silu": lambda t: torch.nn.functional.silu(t, inplace=True),
    "sigmoid": torch.sigmoid_,
}


class _ChunkedForward:
    """``model.network(draws, x_chunk)`` for chunks of at most ``chunk_size`` inputs.

    Each layer is one ``baddbmm`` over all draws writing into a buffer allocated once
    (sized for ``chunk_size`` inputs) and the activation is applied in place. Fresh
    activation tensors per chunk cost more than the arithmetic: large blocks go back to
    the operating system when freed and their pages fault in again on the next chunk.
    Returns ``(S, n, output_size)``, a view of a buffer that the next call overwrites.
    Draws that are not ``(S, out, in)`` / ``(S, out)`` use :meth:`BayesianMLP.network`.
    """

    def __init__(self, model: BayesianMLP, draws: dict, chunk_size: int):
        num_samples = next(iter(draws.values())).shape[0]
        self.num_samples = num_samples
        self.layers = []
        for i, (fan_in, fan_out) in enumerate(model.layer_sizes):
            weight, bias = draws[f"layers.{i}.weight"], draws[f"layers.{i}.bias"]
            if weight.shape != (num_samples, fan_out, fan_in) or bias.shape != (
                num_samples,
                fan_out,
            ):
                self.layers = None
                break
            self.layers.append((weight.transpose(1, 2), bias.unsqueeze(1), fan_out))
        self.model, self.draws = model, draws
        self.activation = _ACTIVATIONS_INPLACE[model.activation]
        like = model._like
        # two buffers used alternately: a layer's input is the previous layer's output
        sizes = [num_samples * chunk_size * w for _, w in model.layer_sizes]
        self.buffers = (
            [like.new_empty(max(sizes[0::2])), like.new_empty(max(sizes[1::2], default=0))]
            if self.layers is not None
            else None
        )

    def __call__(self, xc: torch.Tensor) -> torch.Tensor:
        if self.layers is None:
            return self.model.network(self.draws, xc)
        s, n = self.num_samples, xc.shape[0]
        h = xc.unsqueeze(0).expand(s, n, xc.shape[1])
        last = len(self.layers) - 1
        for i, (weight_t, bias, fan_out) in enumerate(self.layers):
            result = self.buffers[i % 2][: s * n * fan_out].view(s, n, fan_out)
            torch.baddbmm(bias, h, weight_t, out=result)
            if i < last:
                self.activation(result)
            h = result
        return h


def guide_centre(posterior) -> dict[str, torch.Tensor]:
    """The centre of an SVI posterior's guide (its median: the mode of a Laplace fit).

    Raises ``ValueError`` for posteriors without one (MCMC, baselines, your own guide
    without ``median``).
    """
    guide = posterior.guide
    if posterior.method != "svi" or not hasattr(guide, "median"):
        raise ValueError(
            "linearized=True needs an SVI posterior with an autoguide (guide='laplace', "
            f"'mvn', 'lowrank', 'normal' or 'delta'); this one is {posterior!r}"
        )
    like = posterior.model._like
    with posterior.param_scope(), torch.no_grad():
        centre = guide.median(*posterior.example_data)
    return {k: v.detach().to(like) for k, v in centre.items()}


def _activation_derivative(activation, a: torch.Tensor) -> torch.Tensor:
    """``activation'(a)`` elementwise, by one forward-mode derivative."""
    import torch.autograd.forward_ad as forward_ad

    with forward_ad.dual_level():
        dual = forward_ad.make_dual(a, torch.ones_like(a))
        return forward_ad.unpack_dual(activation(dual)).tangent


class _LinearizedForward:
    """``f(x; centre) + J(x) (draw - centre)`` for every draw: the network linearised in its
    weights at ``centre`` (the GLM predictive of Immer et al. 2021).

    One forward pass at the centre carries the tangents of all draws through the layers
    (``da = dh W^T + h dW^T + db``, ``dh' = act'(a) da``). Returns ``(S, n, output_size)``.
    """

    def __init__(self, model: BayesianMLP, draws: dict, centre: dict):
        from ..nets import ACTIVATIONS

        self.activation = ACTIVATIONS[model.activation]
        self.layers = []
        for i in range(len(model.layer_sizes)):
            weight, bias = centre[f"layers.{i}.weight"], centre[f"layers.{i}.bias"]
            delta_weight = draws[f"layers.{i}.weight"] - weight
            delta_bias = draws[f"layers.{i}.bias"] - bias
            self.layers.append((weight, bias, delta_weight, delta_bias))

    def __call__(self, xc: torch.Tensor) -> torch.Tensor:
        h, dh = xc, None
        last = len(self.layers) - 1
        for i, (weight, bias, delta_weight, delta_bias) in enumerate(self.layers):
            a = h @ weight.T + bias  # (n, out)
            da = torch.matmul(h, delta_weight.transpose(-1, -2)) + delta_bias.unsqueeze(-2)
            if dh is not None:
                da = da + dh @ weight.T
            if i < last:
                dh = _activation_derivative(self.activation, a) * da
                h = self.activation(a)
            else:
                h, dh = a, da
        return h + dh
