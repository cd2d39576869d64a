"""The reference problem of issue 7, written the ways pyro_bnn is compared against.

Reference problem: one hidden layer of 50 tanh units, 1-D input, 100 points with
x uniform on [-4, -1] ∪ [1, 4] and y = sin x + 0.1 x + 0.2 ε (fixed seed); weights
N(0, 1/fan_in), biases N(0, 1), Gaussian likelihood with sigma ~ HalfNormal(1).

Written here as

- :class:`TextbookBNN` — the textbook Pyro way (``PyroModule[nn.Linear]`` with
  ``PyroSample`` priors, as in Pyro's tutorials);
- :func:`numpyro_model` — the same model in NumPyro (JAX imported lazily);
- :class:`PlainMAPNet` and :class:`PlainBayesByBackprop` — plain PyTorch training
  steps on the same network (a MAP point net, and a flat-vector mean-field
  Bayes-by-Backprop for reference);
- :func:`batched_forward` — a hand-written batched forward pass over S weight draws,
  the baseline for prediction throughput (:func:`batched_predict_chunked`: the same with
  buffers reused across chunks, plus what ``pyro_bnn.predict`` returns).

All weight draws are exchanged in one layout, :class:`NetDraws`: ``w1 (S, H, D)``,
``b1 (S, H)``, ``w2 (S, 1, H)``, ``b2 (S, 1)`` (PyTorch ``nn.Linear`` orientation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule, PyroSample
from torch import nn

REFERENCE_HIDDEN = 50
REFERENCE_NUM_POINTS = 100
REFERENCE_NOISE = 0.2
REFERENCE_SEED = 0


# ----------------------------------------------------------------------------- data


def make_reference_data(
    num_points: int = REFERENCE_NUM_POINTS, seed: int = REFERENCE_SEED
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference regression data with a gap around zero.

    Returns
    -------
    x : (N, 1) float32, uniform on [-4, -1] ∪ [1, 4]
    y : (N,) float32, sin x + 0.1 x + 0.2 ε
    """
    if num_points < 1:
        raise ValueError(f"num_points must be >= 1, got {num_points}")
    rng = np.random.default_rng(seed)
    magnitude = rng.uniform(1.0, 4.0, size=num_points)
    sign = rng.choice([-1.0, 1.0], size=num_points)
    x = sign * magnitude
    y = np.sin(x) + 0.1 * x + REFERENCE_NOISE * rng.standard_normal(num_points)
    return (
        torch.as_tensor(x, dtype=torch.float32).unsqueeze(-1),
        torch.as_tensor(y, dtype=torch.float32),
    )


def make_test_inputs(num_inputs: int, low: float = -6.0, high: float = 6.0) -> torch.Tensor:
    """Evenly spaced test inputs, shape (num_inputs, 1)."""
    return torch.linspace(low, high, num_inputs).unsqueeze(-1)


# ----------------------------------------------------------------------------- draws


@dataclass
class NetDraws:
    """S draws of the one-hidden-layer net's weights (``nn.Linear`` orientation).

    w1: (S, H, D), b1: (S, H), w2: (S, 1, H), b2: (S, 1); sigma: (S,) or None.
    """

    w1: torch.Tensor
    b1: torch.Tensor
    w2: torch.Tensor
    b2: torch.Tensor
    sigma: torch.Tensor | None = None

    @property
    def num_draws(self) -> int:
        return self.w1.shape[0]

    def contiguous(self) -> NetDraws:
        return NetDraws(
            *(t.contiguous().float() for t in (self.w1, self.b1, self.w2, self.b2)),
            sigma=self.sigma,
        )

    def subset(self, num_draws: int) -> NetDraws:
        return NetDraws(
            self.w1[:num_draws],
            self.b1[:num_draws],
            self.w2[:num_draws],
            self.b2[:num_draws],
            None if self.sigma is None else self.sigma[:num_draws],
        )


def prior_draws(
    num_draws: int, in_features: int = 1, hidden: int = REFERENCE_HIDDEN, seed: int = 0
) -> NetDraws:
    """Weight draws from the reference prior (for timing; values do not matter)."""
    g = torch.Generator().manual_seed(seed)
    return NetDraws(
        w1=torch.randn(num_draws, hidden, in_features, generator=g) / math.sqrt(in_features),
        b1=torch.randn(num_draws, hidden, generator=g),
        w2=torch.randn(num_draws, 1, hidden, generator=g) / math.sqrt(hidden),
        b2=torch.randn(num_draws, 1, generator=g),
        sigma=torch.randn(num_draws, generator=g).abs(),
    )


# ----------------------------------------------------------------------------- plain torch


def batched_forward(draws: NetDraws, x: torch.Tensor) -> torch.Tensor:
    """Network output for every draw: x (N, D) -> (S, N).

    ``tanh(x W1ᵀ + b1) W2ᵀ + b2`` for all S draws at once with ``baddbmm``.
    """
    num_draws = draws.num_draws
    x_batched = x.unsqueeze(0).expand(num_draws, -1, -1)  # (S, N, D)
    hidden = torch.baddbmm(draws.b1.unsqueeze(1), x_batched, draws.w1.transpose(1, 2))
    hidden = torch.tanh_(hidden)  # (S, N, H)
    out = torch.baddbmm(draws.b2.unsqueeze(1), hidden, draws.w2.transpose(1, 2))
    return out.squeeze(-1)


@torch.no_grad()
def batched_forward_chunked(
    draws: NetDraws, x: torch.Tensor, chunk_size: int = 1000
) -> torch.Tensor:
    """:func:`batched_forward` over chunks of inputs (bounds the (S, n, H) buffer).

    Returns all outputs, shape (S, N).
    """
    out = torch.empty(draws.num_draws, x.shape[0])
    for start in range(0, x.shape[0], chunk_size):
        stop = min(start + chunk_size, x.shape[0])
        out[:, start:stop] = batched_forward(draws, x[start:stop])
    return out


@torch.no_grad()
def batched_mean_var_chunked(
    draws: NetDraws, x: torch.Tensor, chunk_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance over draws of the network output, accumulated per chunk.

    Returns mean (N,) and epistemic variance (N,).
    """
    means, variances = [], []
    for start in range(0, x.shape[0], chunk_size):
        f = batched_forward(draws, x[start : start + chunk_size])
        variance, mean = torch.var_mean(f, dim=0, correction=0)
        means.append(mean)
        variances.append(variance)
    return torch.cat(means), torch.cat(variances)


@torch.no_grad()
def batched_predict_chunked(
    draws: NetDraws,
    x: torch.Tensor,
    chunk_size: int = 64,
    keep_outputs: bool = True,
    moments: bool = True,
) -> tuple[torch.Tensor | None, ...]:
    """Hand-written counterpart of ``pyro_bnn.predict`` on the reference net.

    The :func:`batched_forward` arithmetic (``baddbmm``, ``tanh_``, ``baddbmm``) per chunk
    of inputs, written into buffers allocated once. ``keep_outputs`` copies each chunk's
    outputs into one ``(S, N)`` tensor; ``moments`` accumulates, per chunk, the mean and
    the variance over draws of the output (two-pass, centred) and gives the aleatoric
    variance of the Gaussian likelihood, ``mean(sigma**2)``, for every input.

    Returns ``(outputs, mean, epistemic_var, aleatoric_var)``; what was not asked is None.
    """
    num_draws, num_inputs, hidden = draws.num_draws, x.shape[0], draws.b1.shape[1]
    chunk_size = min(chunk_size, num_inputs)
    hidden_buffer = torch.empty(num_draws * chunk_size * hidden, dtype=x.dtype)
    out_buffer = torch.empty(num_draws * chunk_size, dtype=x.dtype)
    w1_t, b1 = draws.w1.transpose(1, 2), draws.b1.unsqueeze(1)
    w2_t, b2 = draws.w2.transpose(1, 2), draws.b2.unsqueeze(1)
    outputs = torch.empty(num_draws, num_inputs, dtype=x.dtype) if keep_outputs else None
    mean = torch.empty(num_inputs, dtype=x.dtype) if moments else None
    variance = torch.empty(num_inputs, dtype=x.dtype) if moments else None
    for start in range(0, num_inputs, chunk_size):
        xc = x[start : start + chunk_size]
        n = xc.shape[0]
        h = hidden_buffer[: num_draws * n * hidden].view(num_draws, n, hidden)
        torch.baddbmm(b1, xc.unsqueeze(0).expand(num_draws, -1, -1), w1_t, out=h)
        torch.tanh_(h)
        f = out_buffer[: num_draws * n].view(num_draws, n, 1)
        torch.baddbmm(b2, h, w2_t, out=f)
        f = f.squeeze(-1)
        if outputs is not None:
            outputs[:, start : start + n] = f
        if moments:
            chunk_mean = f.sum(0).div_(num_draws)
            deviation = f - chunk_mean
            mean[start : start + n] = chunk_mean
            variance[start : start + n] = deviation.mul_(deviation).sum(0).div_(num_draws)
    aleatoric = None
    if moments and draws.sigma is not None:
        aleatoric = (draws.sigma.to(x.dtype) ** 2).mean().expand(num_inputs)
    return outputs, mean, variance, aleatoric


class PlainMAPNet(nn.Module):
    """The reference net as a plain point network, trained by MAP with Adam.

    Loss: negative log joint (Gaussian likelihood with learned log sigma, the
    reference priors on weights and biases), full batch.
    """

    def __init__(self, in_features: int = 1, hidden: int = REFERENCE_HIDDEN, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.layer1 = nn.Linear(in_features, hidden)
        self.layer2 = nn.Linear(hidden, 1)
        self.log_sigma = nn.Parameter(torch.tensor(-1.0))
        self._fan_in = (in_features, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(torch.tanh(self.layer1(x))).squeeze(-1)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        sigma = self.log_sigma.exp()
        nll = -dist.Normal(self(x), sigma).log_prob(y).sum()
        log_prior = (
            -0.5 * self._fan_in[0] * self.layer1.weight.square().sum()
            - 0.5 * self._fan_in[1] * self.layer2.weight.square().sum()
            - 0.5 * self.layer1.bias.square().sum()
            - 0.5 * self.layer2.bias.square().sum()
            - 0.5 * sigma.square()
        )
        return nll - log_prior

    def make_step(self, x: torch.Tensor, y: torch.Tensor, lr: float = 0.01):
        """Return a closure doing one full-batch Adam step; returns the loss."""
        optimizer = torch.optim.Adam(self.parameters(), lr=lr)

        def step() -> float:
            optimizer.zero_grad(set_to_none=True)
            loss = self.loss(x, y)
            loss.backward()
            optimizer.step()
            return loss.item()

        return step


class PlainBayesByBackprop(nn.Module):
    """Mean-field Gaussian VI on the reference net in plain torch (flat vector).

    One (P, num_params) noise draw per step, the network evaluated for the P
    particles at once with :func:`batched_forward`, analytic KL for the weights and a
    log-normal guide for sigma with a Monte Carlo KL term.
    """

    def __init__(self, in_features: int = 1, hidden: int = REFERENCE_HIDDEN, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.in_features, self.hidden = in_features, hidden
        self.shapes = [(hidden, in_features), (hidden,), (1, hidden), (1,)]
        self.sizes = [math.prod(s) for s in self.shapes]
        num_params = sum(self.sizes)
        prior_scale = torch.cat(
            [
                torch.full((self.sizes[0],), 1.0 / math.sqrt(in_features)),
                torch.ones(self.sizes[1]),
                torch.full((self.sizes[2],), 1.0 / math.sqrt(hidden)),
                torch.ones(self.sizes[3]),
            ]
        )
        self.register_buffer("prior_scale", prior_scale)
        self.loc = nn.Parameter(0.1 * torch.randn(num_params))
        self.raw_scale = nn.Parameter(torch.full((num_params,), -3.0))
        self.sigma_loc = nn.Parameter(torch.tensor(-1.0))
        self.sigma_raw_scale = nn.Parameter(torch.tensor(-3.0))

    def unflatten(self, flat: torch.Tensor) -> NetDraws:
        """flat (P, num_params) -> NetDraws with P draws."""
        pieces = torch.split(flat, self.sizes, dim=-1)
        p = flat.shape[0]
        return NetDraws(
            *(piece.reshape(p, *s) for piece, s in zip(pieces, self.shapes, strict=True))
        )

    def loss(self, x: torch.Tensor, y: torch.Tensor, num_particles: int = 1) -> torch.Tensor:
        scale = nn.functional.softplus(self.raw_scale)
        flat = self.loc + scale * torch.randn(num_particles, self.loc.shape[0])
        f = batched_forward(self.unflatten(flat), x)  # (P, N)
        sigma_scale = nn.functional.softplus(self.sigma_raw_scale)
        log_sigma = self.sigma_loc + sigma_scale * torch.randn(num_particles)
        sigma = log_sigma.exp()
        log_lik = dist.Normal(f, sigma.unsqueeze(-1)).log_prob(y).sum(-1).mean()
        kl_weights = torch.distributions.kl_divergence(
            dist.Normal(self.loc, scale), dist.Normal(0.0, self.prior_scale)
        ).sum()
        # sigma: KL(LogNormal q || HalfNormal(1)) by Monte Carlo on the same draws
        log_q = dist.LogNormal(self.sigma_loc, sigma_scale).log_prob(sigma)
        log_p = dist.HalfNormal(1.0).log_prob(sigma)
        return -(log_lik - kl_weights - (log_q - log_p).mean())

    def make_step(self, x: torch.Tensor, y: torch.Tensor, num_particles: int = 1, lr=0.01):
        """Return a closure doing one Adam step; returns the loss."""
        optimizer = torch.optim.Adam(self.parameters(), lr=lr)

        def step() -> float:
            optimizer.zero_grad(set_to_none=True)
            loss = self.loss(x, y, num_particles)
            loss.backward()
            optimizer.step()
            return loss.item()

        return step


# ----------------------------------------------------------------------------- textbook Pyro


class TextbookBNN(PyroModule):
    """The reference model written the textbook Pyro way.

    ``PyroModule[nn.Linear]`` layers with ``PyroSample`` priors, as in Pyro's
    tutorials. Sample sites: ``layer1.weight``, ``layer1.bias``, ``layer2.weight``,
    ``layer2.bias``, ``sigma``, ``obs``; returns the network mean (N,).
    """

    def __init__(self, in_features: int = 1, hidden: int = REFERENCE_HIDDEN):
        super().__init__()
        self.activation = nn.Tanh()
        self.layer1 = PyroModule[nn.Linear](in_features, hidden)
        self.layer2 = PyroModule[nn.Linear](hidden, 1)
        self.layer1.weight = PyroSample(
            dist.Normal(0.0, 1.0 / math.sqrt(in_features)).expand([hidden, in_features]).to_event(2)
        )
        self.layer1.bias = PyroSample(dist.Normal(0.0, 1.0).expand([hidden]).to_event(1))
        self.layer2.weight = PyroSample(
            dist.Normal(0.0, 1.0 / math.sqrt(hidden)).expand([1, hidden]).to_event(2)
        )
        self.layer2.bias = PyroSample(dist.Normal(0.0, 1.0).expand([1]).to_event(1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.activation(self.layer1(x))
        mu = self.layer2(hidden).squeeze(-1)
        sigma = pyro.sample("sigma", dist.HalfNormal(1.0))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("obs", dist.Normal(mu, sigma), obs=y)
        return mu


def textbook_draws(samples: dict[str, torch.Tensor]) -> NetDraws:
    """Posterior samples of :class:`TextbookBNN` (site -> (S, ...)) as NetDraws."""
    s = samples["layer1.weight"].shape[0]
    return NetDraws(
        w1=samples["layer1.weight"].reshape(s, *samples["layer1.weight"].shape[-2:]),
        b1=samples["layer1.bias"].reshape(s, -1),
        w2=samples["layer2.weight"].reshape(s, 1, -1),
        b2=samples["layer2.bias"].reshape(s, 1),
        sigma=samples["sigma"].reshape(s) if "sigma" in samples else None,
    )


def draws_to_textbook_samples(draws: NetDraws) -> dict[str, torch.Tensor]:
    """NetDraws -> posterior_samples dict for ``Predictive(TextbookBNN(), ...)``."""
    samples = {
        "layer1.weight": draws.w1,
        "layer1.bias": draws.b1,
        "layer2.weight": draws.w2,
        "layer2.bias": draws.b2,
    }
    if draws.sigma is not None:
        samples["sigma"] = draws.sigma
    return samples


# ----------------------------------------------------------------------------- NumPyro


def configure_jax(num_threads: int) -> None:
    """Pin JAX to the CPU and (before jax is imported) to ``num_threads`` threads."""
    import os

    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if num_threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        extra = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        if extra not in flags:
            os.environ["XLA_FLAGS"] = (flags + " " + extra).strip()


def numpyro_available() -> bool:
    """True when numpyro and jax can be imported."""
    try:
        import jax  # noqa: F401
        import numpyro  # noqa: F401
    except ImportError:
        return False
    return True


def numpyro_model(x: Any, y: Any = None, hidden: int = REFERENCE_HIDDEN) -> Any:
    """The reference model in NumPyro (imports numpyro lazily).

    Sites: ``w1 (H, D)``, ``b1 (H,)``, ``w2 (1, H)``, ``b2 (1,)``, ``sigma``, ``obs``.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as ndist

    in_features = x.shape[-1]
    w1 = numpyro.sample(
        "w1",
        ndist.Normal(0.0, 1.0 / math.sqrt(in_features)).expand([hidden, in_features]).to_event(2),
    )
    b1 = numpyro.sample("b1", ndist.Normal(0.0, 1.0).expand([hidden]).to_event(1))
    w2 = numpyro.sample(
        "w2", ndist.Normal(0.0, 1.0 / math.sqrt(hidden)).expand([1, hidden]).to_event(2)
    )
    b2 = numpyro.sample("b2", ndist.Normal(0.0, 1.0).expand([1]).to_event(1))
    mu = (jnp.tanh(x @ w1.T + b1) @ w2.T + b2).squeeze(-1)
    sigma = numpyro.sample("sigma", ndist.HalfNormal(1.0))
    with numpyro.plate("data", x.shape[0]):
        numpyro.sample("obs", ndist.Normal(mu, sigma), obs=y)
    return mu


def numpyro_draws(samples: dict[str, Any]) -> NetDraws:
    """NumPyro posterior samples (site -> (S, ...) arrays) as NetDraws."""

    def t(name: str) -> torch.Tensor:
        return torch.as_tensor(np.array(samples[name]), dtype=torch.float32)

    return NetDraws(w1=t("w1"), b1=t("b1"), w2=t("w2"), b2=t("b2"), sigma=t("sigma"))


# ----------------------------------------------------------------------------- pyro_bnn


def pyro_bnn_netdraws(draws: dict) -> NetDraws:
    """pyro_bnn draws of BayesianMLP(1, 1, hidden=(H,)) (site -> (S, ...)) as NetDraws.

    Site names are pyro_bnn's stable ones: ``layers.{i}.weight (out, in)``,
    ``layers.{i}.bias (out,)``, ``sigma``.
    """
    s = draws["layers.0.weight"].shape[0]
    return NetDraws(
        w1=draws["layers.0.weight"].detach().float(),
        b1=draws["layers.0.bias"].detach().float(),
        w2=draws["layers.1.weight"].detach().float().reshape(s, 1, -1),
        b2=draws["layers.1.bias"].detach().float().reshape(s, 1),
        sigma=draws["sigma"].detach().float().reshape(s) if "sigma" in draws else None,
    )


def make_pyro_bnn_model(in_features: int, hidden: int):
    """The reference model as a pyro_bnn BayesianMLP."""
    import pyro_bnn

    return pyro_bnn.BayesianMLP(
        in_features=in_features,
        out_features=1,
        hidden=(hidden,),
        activation="tanh",
        prior=pyro_bnn.LayerwiseNormal(),
        likelihood=pyro_bnn.Gaussian(),
    )
