"""Posterior-predictive summaries: predictions with uncertainty.

:func:`predict` evaluates the network for all posterior draws at once (no
Python loop over draws) in chunks of inputs, so memory stays bounded, and
returns a :class:`Prediction`:

- :class:`RegressionPrediction`: mean, total / epistemic / aleatoric variance,
  intervals, quantiles, predictive samples, CDF and log densities;
- :class:`ClassificationPrediction`: class probabilities, predictive entropy,
  expected entropy (aleatoric), mutual information (epistemic, BALD);
- :class:`SamplePrediction`: for user-written Pyro models, summaries of the
  ``"obs"`` draws.

The decomposition follows the law of total variance over the posterior draws
``theta_s``: ``Var[y] = Var_s(E[y | theta_s]) + E_s(Var[y | theta_s])``, i.e.
``total_var = epistemic_var + aleatoric_var`` on the same draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pyro
import torch
from pyro.infer import Predictive
from pyro.ops.stats import hpdi as _hpdi

from .inference.common import resolve_device
from .nets import BayesianMLP
from .posterior import Posterior
from .validation import as_tensor, check_x

__all__ = [
    "predict",
    "Prediction",
    "RegressionPrediction",
    "ClassificationPrediction",
    "SamplePrediction",
]

# Elements of the widest activation tensor (draws x inputs x width) evaluated at once:
# 2**21 float32 = 8 MiB, within a shared L3 cache. Chosen from a sweep of 2**18 ... 2**24
# on the bench_predict problem (2**18 clearly slower, 2**20 to 2**23 alike): the cost is
# the activation itself, not the chunking.
_CHUNK_ELEMENTS = 2**21


def _check_level(level: float) -> float:
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return float(level)


def _check_quantile(q) -> torch.Tensor:
    q = torch.as_tensor(q, dtype=torch.float64)
    if ((q <= 0) | (q >= 1)).any():
        raise ValueError(f"quantile levels must be in (0, 1), got {q.tolist()}")
    return q


class Prediction:
    """Base class of predictions: ``task`` and the number of posterior draws used."""

    task: str
    num_draws: int

    def _require_draws(self, what: str):
        if self._outputs is None:
            raise ValueError(
                f"{what} needs the per-draw outputs; call predict(..., keep_draws=True)"
            )


class RegressionPrediction(Prediction):
    """Predictive distribution of a regression network at ``N`` inputs.

    Summaries have shape ``(N,)`` for one output, ``(N, D)`` for several.

    Attributes
    ----------
    mean : predictive mean ``E[y]``
    epistemic_var : variance over draws of the likelihood mean (what more data would fix)
    aleatoric_var : mean over draws of the likelihood variance (the noise)
    """

    task = "regression"

    def __init__(self, mean, epistemic_var, aleatoric_var, likelihood, outputs, values, seed):
        self.mean = mean
        self.epistemic_var = epistemic_var
        self._aleatoric_var = aleatoric_var
        self.likelihood = likelihood
        self._outputs = outputs  # (S, N, out) network outputs, or None
        self._values = values  # draws of likelihood sites, e.g. sigma (S,)
        self._seed = seed
        self.num_draws = int(next(iter(values.values())).shape[0]) if values else None

    # --- moments ----------------------------------------------------------------------------
    @property
    def aleatoric_var(self) -> torch.Tensor:
        """Mean over draws of the noise variance."""
        if torch.isnan(self._aleatoric_var).any():
            raise ValueError(
                f"{self.likelihood!r} has no finite variance (Student-t needs df > 2); "
                "use interval(), quantile() or hpdi() instead"
            )
        return self._aleatoric_var

    @property
    def total_var(self) -> torch.Tensor:
        """Predictive variance: ``epistemic_var + aleatoric_var``."""
        return self.epistemic_var + self.aleatoric_var

    @property
    def std(self) -> torch.Tensor:
        """Predictive standard deviation (noise included)."""
        return self.total_var.sqrt()

    @property
    def epistemic_std(self) -> torch.Tensor:
        """Standard deviation of the mean function over draws."""
        return self.epistemic_var.sqrt()

    @property
    def aleatoric_std(self) -> torch.Tensor:
        """Root mean noise variance."""
        return self.aleatoric_var.sqrt()

    # --- per-draw pieces ---------------------------------------------------------------------
    def _distribution(self):
        self._require_draws("this summary")
        d = self.likelihood.distribution(self._outputs, self._values)
        return d.base_dist if isinstance(d, torch.distributions.Independent) else d

    @property
    def mean_draws(self) -> torch.Tensor:
        """Likelihood mean per draw (function draws): ``(S, N)`` or ``(S, N, D)``."""
        self._require_draws("mean_draws")
        return self.likelihood.mean_var(self._outputs, self._values)[0]

    def log_prob_draws(self, y) -> torch.Tensor:
        """``log p(y_n | x_n, theta_s)``: ``(S, N)`` (summed over outputs)."""
        self._require_draws("log_prob_draws")
        y = as_tensor(y, "y", dtype=self.mean.dtype, device=self.mean.device)
        y = y.reshape(self.mean.shape)
        return self.likelihood.distribution(self._outputs, self._values).log_prob(y)

    def sample(self, num_samples: int = 1000, seed: int | None = None) -> torch.Tensor:
        """Predictive draws with noise: ``(num_samples, N)`` (or ``(num_samples, N, D)``)."""
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        d = self._distribution()
        generator_seed = self._seed if seed is None else seed
        with pyro.poutine.block():
            state = torch.random.get_rng_state()
            torch.manual_seed(generator_seed)
            try:
                index = torch.randint(0, self.num_draws, (num_samples,), device=self.mean.device)
                samples = d.sample()  # one noise draw per posterior draw: (S, N)
                reps = math.ceil(num_samples / self.num_draws)
                if reps > 1:
                    samples = d.sample((reps,)).reshape((-1,) + samples.shape[1:])
                    index = torch.randperm(samples.shape[0])[:num_samples]
            finally:
                torch.random.set_rng_state(state)
        return samples[index]

    def _has_cdf(self, d) -> bool:
        try:
            d.cdf(d.mean[:1] if d.mean.dim() else d.mean)
            return True
        except NotImplementedError:
            return False

    def cdf(self, y) -> torch.Tensor:
        """Predictive CDF at ``y`` (probability integral transform): ``(N,)``."""
        y = as_tensor(y, "y", dtype=self.mean.dtype, device=self.mean.device).reshape(
            self.mean.shape
        )
        d = self._distribution()
        if self._has_cdf(d):
            return d.cdf(y).mean(0)
        return (self.sample(4000) <= y).to(y.dtype).mean(0)

    def quantile(self, q) -> torch.Tensor:
        """Quantiles of the full predictive (mixture over draws, noise included).

        ``q`` a float → shape of :attr:`mean`; a sequence → ``(len(q), *mean.shape)``.
        Exact (bisection on the mixture CDF) when the likelihood has a CDF,
        otherwise from 4,000 predictive samples.
        """
        levels = _check_quantile(q)
        scalar = levels.dim() == 0
        levels = levels.reshape(-1).to(self.mean)
        d = self._distribution()
        if self._has_cdf(d):
            spread = (self.mean_draws - self.mean).abs().amax(0) + 10 * self._scale_bound(d)
            low = (self.mean - spread).expand((len(levels),) + self.mean.shape).clone()
            high = (self.mean + spread).expand((len(levels),) + self.mean.shape).clone()
            target = levels.reshape((-1,) + (1,) * self.mean.dim())
            for _ in range(60):
                middle = (low + high) / 2
                below = d.cdf(middle.unsqueeze(1)).mean(1) < target
                low = torch.where(below, middle, low)
                high = torch.where(below, high, middle)
            result = (low + high) / 2
        else:
            samples = self.sample(4000)
            result = torch.quantile(samples, levels, dim=0)
        return result[0] if scalar else result

    def _scale_bound(self, d) -> torch.Tensor:
        return d.stddev.amax(0) if hasattr(d, "stddev") else self.std

    def interval(self, level: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
        """Central interval holding ``level`` of the full predictive mass: ``(low, high)``."""
        level = _check_level(level)
        bounds = self.quantile([(1 - level) / 2, (1 + level) / 2])
        return bounds[0], bounds[1]

    def hpdi(
        self, level: float = 0.9, num_samples: int = 4000
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Highest posterior density interval of the full predictive, from predictive samples."""
        level = _check_level(level)
        bounds = _hpdi(self.sample(num_samples), level, dim=0)
        return bounds[0], bounds[1]

    def epistemic_interval(self, level: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
        """Central interval of the mean function over draws (no noise): ``(low, high)``."""
        level = _check_level(level)
        q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=self.mean.dtype)
        bounds = torch.quantile(self.mean_draws, q.to(self.mean.device), dim=0)
        return bounds[0], bounds[1]


class ClassificationPrediction(Prediction):
    """Predictive class probabilities at ``N`` inputs with uncertainty in nats.

    Attributes
    ----------
    probs : (N, K) posterior-predictive class probabilities
    entropy : (N,) entropy of ``probs`` (total uncertainty)
    expected_entropy : (N,) mean over draws of each draw's entropy (aleatoric)
    mutual_information : (N,) ``entropy - expected_entropy`` (epistemic, BALD), ≥ 0
    """

    task = "classification"

    def __init__(self, probs, expected_entropy, likelihood, outputs, values):
        self.probs = probs
        self.expected_entropy = expected_entropy
        self.likelihood = likelihood
        self._outputs = outputs
        self._values = values
        self.num_draws = int(outputs.shape[0]) if outputs is not None else None

    @property
    def entropy(self) -> torch.Tensor:
        """Predictive entropy ``H[E_s p_s]`` in nats."""
        return _entropy(self.probs)

    @property
    def mutual_information(self) -> torch.Tensor:
        """Mutual information between label and weights, ``H[E p] - E H[p]`` (≥ 0)."""
        return (self.entropy - self.expected_entropy).clamp_min(0.0)

    @property
    def predicted_class(self) -> torch.Tensor:
        """Most probable class per input: ``(N,)`` int64."""
        return self.probs.argmax(-1)

    @property
    def confidence(self) -> torch.Tensor:
        """Probability of the predicted class: ``(N,)``."""
        return self.probs.amax(-1)

    @property
    def probs_draws(self) -> torch.Tensor:
        """Class probabilities per draw: ``(S, N, K)``."""
        self._require_draws("probs_draws")
        return self.likelihood.probs(self._outputs, self._values)

    def log_prob_draws(self, y) -> torch.Tensor:
        """``log p(y_n | x_n, theta_s)``: ``(S, N)``."""
        self._require_draws("log_prob_draws")
        y = as_tensor(y, "y", dtype=self.probs.dtype, device=self.probs.device)
        return self.likelihood.distribution(self._outputs, self._values).log_prob(y.reshape(-1))


def _entropy(probs: torch.Tensor) -> torch.Tensor:
    return -(probs * torch.log(probs.clamp_min(1e-30))).sum(-1)


class SamplePrediction(Prediction):
    """Prediction of a user-written model, from draws of its ``"obs"`` site.

    Only total summaries exist (the split into epistemic and aleatoric needs a
    likelihood that :func:`predict` knows).
    """

    task = "samples"

    def __init__(self, obs: torch.Tensor):
        self.obs = obs
        self.num_draws = int(obs.shape[0])
        self.mean = obs.mean(0)
        self.total_var = obs.var(0, unbiased=False)
        self._outputs = None

    @property
    def std(self) -> torch.Tensor:
        """Standard deviation of the ``"obs"`` draws."""
        return self.total_var.sqrt()

    @property
    def epistemic_var(self):
        """Not available: see the class docstring."""
        raise ValueError(
            "epistemic/aleatoric split needs a BayesianMLP; a user-written model's prediction "
            "only has total summaries (mean, total_var, interval)"
        )

    aleatoric_var = epistemic_var

    def sample(self, num_samples: int | None = None, seed: int | None = None) -> torch.Tensor:
        """The ``"obs"`` draws: ``(S, N, ...)``."""
        return self.obs if num_samples is None else self.obs[:num_samples]

    def quantile(self, q) -> torch.Tensor:
        """Empirical quantiles of the ``"obs"`` draws."""
        levels = _check_quantile(q).to(self.obs)
        return torch.quantile(self.obs, levels, dim=0)

    def interval(self, level: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
        """Central empirical interval of the ``"obs"`` draws."""
        level = _check_level(level)
        bounds = self.quantile([(1 - level) / 2, (1 + level) / 2])
        return bounds[0], bounds[1]


def predict(
    posterior: Posterior,
    x,
    num_draws: int | None = None,
    seed: int = 0,
    chunk_size: int | None = None,
    keep_draws: bool = True,
    device=None,
) -> Prediction:
    """Posterior-predictive distribution at new inputs.

    Parameters
    ----------
    posterior : Posterior
        From :func:`~pyro_bnn.fit_svi` or :func:`~pyro_bnn.fit_nuts`.
    x : array (N, D)
        Inputs (a 1-D array is one feature).
    num_draws : int, optional
        Posterior draws to use (SVI default 1000; MCMC: all, or evenly thinned).
    seed : int
        Seeds the guide draws and any Monte Carlo summaries.
    chunk_size : int, optional
        Inputs evaluated at once; default keeps draws × chunk × width ≤ 2**21 (cache-sized).
        Memory beyond the result: two activation buffers of draws × chunk_size × width.
    keep_draws : bool
        Keep the per-draw network outputs ``(S, N, out)`` (needed by intervals,
        quantiles, samples and log densities). ``False`` keeps only the moments,
        so memory no longer grows with draws × inputs.
    device
        Where to compute (default: the model's device).

    Returns
    -------
    RegressionPrediction, ClassificationPrediction or SamplePrediction

    Example
    -------
    >>> pred = predict(post, x_new, num_draws=1000)  # doctest: +SKIP
    >>> low, high = pred.interval(0.9)  # doctest: +SKIP
    """
    if not isinstance(posterior, Posterior):
        raise TypeError(f"posterior must be a pyro_bnn Posterior, got {type(posterior).__name__}")
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    model = posterior.model
    if not isinstance(model, BayesianMLP):
        return _predict_user_model(model, posterior, x, num_draws, seed)
    if device is not None:
        model.to(resolve_device(device))
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
    likelihood_values = {k: v for k, v in draws.items() if not k.startswith("layers.")}
    if likelihood.task == "classification":
        return ClassificationPrediction(*summaries, likelihood, outputs, likelihood_values)
    return RegressionPrediction(
        *summaries,
        likelihood,
        outputs,
        likelihood_values or {"_draws": like.new_zeros(num_samples)},
        seed,
    )


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


def _predict_user_model(
    model: Callable, posterior: Posterior, x, num_draws, seed
) -> SamplePrediction:
    x = as_tensor(x, "x", dtype=torch.get_default_dtype())
    draws = posterior.sample(num_draws, seed=seed)
    with torch.no_grad(), pyro.poutine.block():
        pyro.set_rng_seed(seed)
        obs = Predictive(model, posterior_samples=draws, return_sites=["obs"])(x)["obs"]
    return SamplePrediction(obs)
