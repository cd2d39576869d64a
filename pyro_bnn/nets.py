"""Bayesian multilayer perceptrons as Pyro models.

:class:`BayesianMLP` is a :class:`~pyro.nn.PyroModule` whose weights are latent
sites with the priors of a :mod:`pyro_bnn.priors` family and whose output feeds
a :mod:`pyro_bnn.likelihoods` observation model. The layers are written with
broadcasting matmul, so one call evaluates the network for many posterior
draws at once: a weight of shape ``(S, out, in)`` and inputs ``(N, in)`` give
outputs ``(S, N, out)``.

Sample sites (stable names): ``layers.{i}.weight`` ``(out, in)``,
``layers.{i}.bias`` ``(out,)``, prior-specific sites such as
``layers.{i}.scale``, likelihood sites such as ``"sigma"``, and the observed
site ``"obs"`` inside ``pyro.plate("data", N)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyro
import torch
from pyro.nn import PyroModule

from .likelihoods import Gaussian, Likelihood, likelihood_from_config
from .priors import LatentSite, LayerwiseNormal, Prior, prior_from_config
from .validation import check_positive_int, check_x, check_xy

__all__ = ["BayesianMLP", "ACTIVATIONS", "linear"]

ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "gelu": torch.nn.functional.gelu,
    "silu": torch.nn.functional.silu,
    "sigmoid": torch.sigmoid,
}


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Affine map that broadcasts over leading draw dimensions.

    ``x: (..., N, in)``, ``weight: (..., out, in)``, ``bias: (..., out)`` →
    ``(..., N, out)``.
    """
    if weight.dim() == 2 and x.dim() == 2:  # one draw: a single fused kernel
        return torch.addmm(bias, x, weight.t())
    return torch.matmul(x, weight.transpose(-1, -2)) + bias.unsqueeze(-2)


def _drop_data_plate_dim(value: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Remove the size-1 batch dim of the data plate from a global site's value."""
    batch_dims = value.dim() - len(shape)
    if batch_dims >= 1 and value.shape[batch_dims - 1] == 1:
        return value.squeeze(batch_dims - 1)
    return value


#: Default ``LayerwiseNormal`` weight scale of a classification network.
CLASSIFICATION_WEIGHT_SCALE = 3.0


def default_weight_scale(task: str) -> float:
    """The default prior weight scale of a network for ``task``.

    ``1`` for regression (N(0, 1/fan_in) weights on standardized data);
    :data:`CLASSIFICATION_WEIGHT_SCALE` (3) for classification, whose probabilities
    are under-confident under the narrower prior (``bench/bench_defaults.py``).
    """
    return CLASSIFICATION_WEIGHT_SCALE if task == "classification" else 1.0


class BayesianMLP(PyroModule):
    """A fully connected Bayesian network: ``model(x, y=None)`` is a Pyro model.

    Parameters
    ----------
    in_features : int
        Number of input columns D.
    out_features : int
        Targets (regression) or classes (``Categorical``); 1 for ``Bernoulli``.
    hidden : sequence of int
        Hidden layer widths; ``()`` gives Bayesian linear / logistic / softmax regression.
    activation : str
        One of ``"tanh"``, ``"relu"``, ``"gelu"``, ``"silu"``, ``"sigmoid"``.
    prior : Prior
        Weight prior; default :class:`~pyro_bnn.priors.LayerwiseNormal` (weight std
        ``1/sqrt(fan_in)``; ``3/sqrt(fan_in)`` for classification, which roughly halves
        the test NLL and ECE of the narrower prior on breast cancer and digits, see
        ``bench/bench_defaults.py``). Priors are defined on standardized inputs (and
        targets), which the fit functions take care of.
    likelihood : Likelihood
        Observation model; default :class:`~pyro_bnn.likelihoods.Gaussian` with learned noise.

    Example
    -------
    >>> model = BayesianMLP(1, 1, hidden=(50,), activation="tanh")
    >>> [site.name for site in model.latent_sites][:2]
    ['layers.0.weight', 'layers.0.bias']
    """

    def __init__(
        self,
        in_features: int,
        out_features: int = 1,
        hidden: Sequence[int] = (50,),
        activation: str = "tanh",
        prior: Prior | None = None,
        likelihood: Likelihood | None = None,
    ):
        super().__init__()
        in_features = check_positive_int(in_features, "in_features")
        out_features = check_positive_int(out_features, "out_features")
        hidden = tuple(hidden)
        if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden must be a sequence of positive integers, got {hidden!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; valid: {', '.join(sorted(ACTIVATIONS))}"
            )
        likelihood = Gaussian() if likelihood is None else likelihood
        if not isinstance(likelihood, Likelihood):
            raise TypeError(
                f"likelihood must be a pyro_bnn Likelihood, got {type(likelihood).__name__}"
            )
        if prior is None:  # classification: wider weights give calibrated probabilities
            prior = LayerwiseNormal(weight_scale=default_weight_scale(likelihood.task))
        if not isinstance(prior, Prior):
            raise TypeError(f"prior must be a pyro_bnn Prior, got {type(prior).__name__}")
        self.in_features = in_features
        self.out_features = out_features
        self.hidden = hidden
        self.activation = activation
        self.prior = prior
        self.likelihood = likelihood
        widths = (in_features, *hidden, likelihood.output_size(out_features))
        self.layer_sizes = list(zip(widths[:-1], widths[1:], strict=True))
        self.latent_sites: list[LatentSite] = prior.sites(self.layer_sizes) + likelihood.sites(
            out_features
        )
        # Carries dtype and device: model.to(torch.float64) / model.to("cuda") moves it.
        self.register_buffer("_like", torch.zeros(()), persistent=False)

    # --- configuration -------------------------------------------------------------------
    @property
    def task(self) -> str:
        """``"regression"`` or ``"classification"`` (from the likelihood)."""
        return self.likelihood.task

    @property
    def num_params(self) -> int:
        """Total number of latent scalars."""
        return sum(int(torch.Size(site.shape).numel()) for site in self.latent_sites)

    def to_config(self) -> dict:
        """Constructor arguments as plain data; :meth:`from_config` rebuilds the model."""
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "hidden": list(self.hidden),
            "activation": self.activation,
            "prior": self.prior.to_config(),
            "likelihood": self.likelihood.to_config(),
        }

    @classmethod
    def from_config(cls, config: Mapping) -> BayesianMLP:
        """Inverse of :meth:`to_config`."""
        config = dict(config)
        config["prior"] = prior_from_config(config["prior"])
        config["likelihood"] = likelihood_from_config(config["likelihood"])
        config["hidden"] = tuple(config["hidden"])
        return cls(**config)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"hidden={self.hidden}, activation={self.activation!r}, prior={self.prior!r}, "
            f"likelihood={self.likelihood!r}"
        )

    # --- plain-torch pieces (shared by the Pyro model and the fast paths) ----------------
    def network(self, values: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Network output for given weights: ``x: (N, D)`` → ``(..., N, output_size)``.

        ``values`` maps site names to tensors with any leading draw dimensions.
        """
        act = ACTIVATIONS[self.activation]
        h = x
        last = len(self.layer_sizes) - 1
        for i in range(len(self.layer_sizes)):
            h = linear(h, values[f"layers.{i}.weight"], values[f"layers.{i}.bias"])
            if i < last:
                h = act(h)
        return h

    def log_prior(self, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Sum of prior log densities of all latent sites (leading draw dims kept)."""
        total = 0.0
        for site in self.latent_sites:
            total = total + site.prior(values, self._like).log_prob(values[site.name])
        return total

    def log_likelihood(
        self, values: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor
    ) -> torch.Tensor:
        """Sum over data points of ``log p(y_n | x_n, values)`` (leading draw dims kept)."""
        return self.likelihood.log_prob(self.network(values, x), values, y).sum(-1)

    # --- the Pyro model --------------------------------------------------------------------
    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        batch_size: int | None = None,
        subsample: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sample all latent sites and ``"obs"``; condition on ``y`` when given.

        ``x: (N, D)``; ``y: (N,)`` or ``(N, K)``. ``batch_size`` draws a random
        minibatch in ``pyro.plate("data", N, subsample_size=batch_size)``;
        ``subsample`` passes explicit row indices instead. The likelihood is
        scaled by ``N / batch`` so the ELBO stays an unbiased full-data estimate.
        Returns the sampled or observed ``y`` of the (sub)sampled rows.
        """
        values: dict[str, torch.Tensor] = {}
        for site in self.latent_sites:
            values[site.name] = pyro.sample(site.name, site.prior(values, self._like))
        # Under vectorizing plates (num_particles, Predictive(parallel=True)) a global site
        # has batch shape (..., 1), the 1 standing in the data plate's dim: drop it so the
        # network output is (..., N, out) and "obs" gets batch shape (..., N).
        values = {
            site.name: _drop_data_plate_dim(values[site.name], site.shape)
            for site in self.latent_sites
        }
        with pyro.plate(
            "data", x.shape[0], subsample_size=batch_size, subsample=subsample, dim=-1
        ) as index:
            if batch_size is not None or subsample is not None:
                x = x[index]
                y = y[index] if y is not None else None
            out = self.network(values, x)
            return pyro.sample("obs", self.likelihood.distribution(out, values), obs=y)

    def example_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One valid row ``(x, y)`` of zeros, e.g. to initialise a guide without the data."""
        x = self._like.new_zeros(1, self.in_features)
        multi = self.task == "regression" and self.out_features > 1
        y = self._like.new_zeros((1, self.out_features) if multi else (1,))
        return x, y

    def check_inputs(self, x, y=None, dtype=None, device=None):
        """Validate ``x`` (and ``y``) against this model; returns tensors on its dtype/device."""
        dtype = dtype or self._like.dtype
        device = device or self._like.device
        if y is None:
            return check_x(x, self.in_features, dtype=dtype, device=device), None
        x, y = check_xy(x, y, self.in_features, dtype=dtype, device=device)
        return x, self.likelihood.check_y(y, self.out_features)
