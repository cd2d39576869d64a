"""Non-Bayesian and approximately Bayesian baselines with the same interface as the Bayesian fits.

Every baseline takes the network the way :func:`~pyro_bnn.fit_svi` does,
``fit_*(model, x, y, *, ...)`` with a :class:`~pyro_bnn.BayesianMLP` first and
keyword-only settings (``standardize``, ``seed``, ``progress``, ``device``,
``dtype`` mean the same everywhere), is trained in plain torch (no Pyro tracing)
and returns a :class:`BaselineFit`: a :class:`~pyro_bnn.Posterior` holding a fixed
set of weight "draws". :func:`pyro_bnn.predict` (or :meth:`BaselineFit.predict`)
reads it like any other posterior, so metrics and plots accept it unchanged, and
:meth:`~pyro_bnn.Posterior.save` / :meth:`~pyro_bnn.Posterior.load` store it. For
the mixtures ``total_var = epistemic_var + aleatoric_var`` holds over the draws.

Data are given in your own units. As for the Bayesian fits, the inputs (and
continuous targets: Gaussian, heteroscedastic, Student-t; never counts or labels)
are standardized with statistics of the training data (``standardize=None``, the
default; ``False`` switches it off); the fit keeps the scaler and predictions come
back in your units, variances and intervals included. The caller's model is never
changed (the fit works on a copy), and the global random streams are not touched.

- :func:`fit_map`: the MAP point estimate of a :class:`~pyro_bnn.BayesianMLP`
  (same prior and likelihood as its Bayesian fits), one draw.
- :func:`fit_mc_dropout`: MC dropout (Gal & Ghahramani 2016) on the network's
  architecture. Dropout before every layer at training and at test time, weight
  decay ``length_scale**2 * (1 - p) / (2 N tau)`` and noise precision ``tau``.
  Each test-time dropout mask is a weight draw (a dropped input unit is a
  zeroed column of the weight matrix), ``num_passes`` of them.
  Grids of ``dropout`` and ``tau`` are searched on a validation part of the
  training data, all grid points trained at once as a batch of networks.
- :func:`fit_swag`: SWAG (Maddox et al. 2019): from the MAP fit, SGD at a constant
  learning rate; the iterates' mean, diagonal variance and last deviations give
  a Gaussian over the weights (diagonal + low rank), sampled for prediction.
- :func:`fit_ensemble`: deep ensembles (Lakshminarayanan et al. 2017) on the
  network's architecture. ``M`` networks from different random initialisations,
  each with a learned Gaussian variance (heteroscedastic negative log-likelihood)
  or softmax outputs; the prediction is the uniform mixture. Members are trained
  as one batch of networks.

Training length can be chosen by early stopping on a validation part of the
training data (``validation_fraction > 0``): the epoch with the best validation
log-likelihood is found, then the network is retrained on all the data for that
many epochs.

Example
-------
>>> import numpy as np, pyro_bnn as pb
>>> from pyro_bnn.baselines import fit_ensemble
>>> x = np.linspace(0, 10, 50)[:, None]
>>> y = 100 + 50 * np.sin(x[:, 0])
>>> fit = fit_ensemble(pb.BayesianMLP(1, 1, hidden=(16,)), x, y, num_epochs=5, progress=False)
>>> pb.predict(fit, x).mean.shape  # original units, numpy in -> numpy out
(50,)
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pyro
import torch
import torch.nn.functional as F

from .inference.common import prepare, standardize_data
from .inference.flat import FlatModel
from .isolation import check_seed, local_rng
from .likelihoods import Categorical, Gaussian, HeteroscedasticGaussian, StudentT
from .nets import ACTIVATIONS, BayesianMLP, linear
from .posterior import Posterior
from .predictive import Prediction, predict
from .validation import check_xy

__all__ = [
    "BaselineFit",
    "fit_map",
    "fit_mc_dropout",
    "fit_ensemble",
    "fit_swag",
    "BASELINES",
]

#: Names of the baselines (also the benchmark's method names).
BASELINES = ("map", "mc-dropout", "ensemble", "swag")


# --------------------------------------------------------------------------- result


class BaselineFit(Posterior):
    """A fitted baseline: a :class:`~pyro_bnn.Posterior` with a fixed set of weight draws.

    Everything a :class:`~pyro_bnn.Posterior` has (``model``, ``method``, ``draws``,
    ``scaler``, ``diagnostics``, ``save``/``load``), plus :meth:`predict` as a
    shortcut for :func:`pyro_bnn.predict`.

    - ``model``: architecture and likelihood used for prediction (its prior is unused
      by MC dropout and ensembles). MC dropout: ``Gaussian(sigma=tau ** -0.5)``;
      ensembles: ``HeteroscedasticGaussian``; classification: ``Categorical``.
    - ``draws``: site → ``(S, *site_shape)`` in the model's (standardized) units:
      ``S = 1`` for MAP, ``num_passes`` dropout masks for MC dropout,
      ``num_members`` for an ensemble, ``num_draws`` for SWAG.
    - ``method``: ``"map"``, ``"mc-dropout"``, ``"ensemble"`` or ``"swag"``.
    - ``diagnostics``: chosen hyper-parameters, validation scores, training loss,
      fit time.
    """

    @property
    def task(self) -> str:
        """``"regression"`` or ``"classification"``."""
        return self.model.task

    def predict(self, x, **kwargs) -> Prediction:
        """Predictive distribution at ``x: (N, D)``: ``pyro_bnn.predict(self, x, **kwargs)``.

        In the units of the training data; numpy out when ``x`` is numpy.
        """
        return predict(self, x, **kwargs)


# --------------------------------------------------------------------------- checks


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _fraction(value, name: str, allow_zero: bool = True) -> float:
    low_ok = value >= 0 if allow_zero else value > 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not (low_ok and value < 1):
        bound = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(f"{name} must be in {bound}, got {value!r}")
    return float(value)


def _as_grid(value, name: str, check: Callable) -> list[float]:
    values = list(value) if isinstance(value, Sequence | np.ndarray) else [value]
    if not values:
        raise ValueError(f"{name} must be a number or a non-empty sequence of numbers")
    return [check(v, name) for v in values]


def _check_mlp(model, function: str) -> BayesianMLP:
    if not isinstance(model, BayesianMLP):
        raise TypeError(
            f"{function}: model must be a pyro_bnn BayesianMLP, got {type(model).__name__}"
        )
    return model


def _setup(model: BayesianMLP, x, y, standardize, dtype, device):
    """The fit's own copy of ``model`` on ``dtype``/``device``, validated and scaled data.

    Returns ``(model, x, y, scaler)``; the caller's model is not changed.
    """
    model = copy.deepcopy(model)
    model, x, y = prepare(model, x, y, dtype=dtype, device=device)
    scaler, x, y = standardize_data(model, x, y, standardize)
    return model, x, y, scaler


def _architecture(function: str, model, x, y, hidden, activation, num_classes):
    """``(model, x, y)`` from the calling convention ``fit_*(model, x, y, *, ...)``.

    The deprecated form ``fit_*(x, y, hidden=..., activation=..., num_classes=...)``
    builds the network from those keywords (default 1 x 50 ReLU).
    """
    if isinstance(model, BayesianMLP):
        given = [
            name
            for name, value in (
                ("hidden", hidden),
                ("activation", activation),
                ("num_classes", num_classes),
            )
            if value is not None
        ]
        if given:
            raise ValueError(
                f"{function}: {', '.join(given)} come(s) from the model "
                f"({model.extra_repr()}); leave {' and '.join(given)} out"
            )
        if y is None:
            raise TypeError(f"{function}(model, x, y): the training targets y are missing")
        return model, x, y
    if y is not None or x is None or callable(model):
        raise TypeError(
            f"{function}: model must be a pyro_bnn BayesianMLP (the architecture), got "
            f"{type(model).__name__}; call {function}(pb.BayesianMLP(D, 1, hidden=(50,), "
            f"activation='relu'), x, y, ...)"
        )
    warnings.warn(
        f"{function}(x, y, hidden=..., activation=..., num_classes=...) is deprecated; pass "
        f"the network first: {function}(pb.BayesianMLP(D, K, hidden=(50,), "
        "activation='relu', likelihood=...), x, y, ...)",
        DeprecationWarning,
        stacklevel=3,
    )
    x, y = model, x
    hidden = (50,) if hidden is None else tuple(hidden)
    if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"hidden must be a sequence of positive integers, got {hidden!r}")
    activation = "relu" if activation is None else activation
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; valid: {', '.join(sorted(ACTIVATIONS))}"
        )
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
    ):
        raise ValueError(f"num_classes must be an integer >= 2 or None, got {num_classes!r}")
    x_tensor, _ = check_xy(x, y, None)
    likelihood = Gaussian() if num_classes is None else Categorical()
    out_features = 1 if num_classes is None else num_classes
    network = BayesianMLP(
        x_tensor.shape[1], out_features, hidden, activation, likelihood=likelihood
    )
    return network, x, y


def _baseline_task(function: str, model: BayesianMLP) -> bool:
    """True for classification; ``ValueError`` for a likelihood the baseline cannot use."""
    if isinstance(model.likelihood, Categorical):
        return True
    if isinstance(model.likelihood, Gaussian | HeteroscedasticGaussian | StudentT):
        if model.out_features != 1:
            raise ValueError(
                f"{function} handles one regression target (out_features=1), the model has "
                f"out_features={model.out_features}"
            )
        return False
    raise ValueError(
        f"{function} needs a model with a Gaussian, HeteroscedasticGaussian or StudentT "
        f"likelihood (regression) or Categorical (classification), got "
        f"{type(model.likelihood).__name__}"
    )


def _validation_split(num_rows: int, fraction: float, seed: int):
    """Random ``(train_index, validation_index)``; ``None`` when ``fraction == 0``."""
    if fraction == 0:
        return None
    num_validation = int(round(fraction * num_rows))
    if num_validation < 1 or num_rows - num_validation < 2:
        raise ValueError(
            f"validation_fraction={fraction} leaves no validation or training rows "
            f"out of {num_rows}"
        )
    order = torch.randperm(num_rows, generator=torch.Generator().manual_seed(seed + 7919))
    return order[num_validation:], order[:num_validation]


# --------------------------------------------------------------------------- batched training


def _init_layers(
    layer_sizes: list[tuple[int, int]], num_nets: int, generator: torch.Generator, like
) -> dict[str, torch.Tensor]:
    """``num_nets`` independent PyTorch-default (Kaiming-uniform) initialisations.

    Drawn on the CPU from ``generator``, then moved to the dtype/device of ``like``.
    """
    params = {}
    for i, (fan_in, fan_out) in enumerate(layer_sizes):
        bound = 1.0 / math.sqrt(fan_in)
        for name, shape in (("weight", (fan_out, fan_in)), ("bias", (fan_out,))):
            value = (
                torch.rand((num_nets, *shape), generator=generator, dtype=like.dtype) * 2 - 1
            ) * bound
            params[f"layers.{i}.{name}"] = value.to(like.device).requires_grad_(True)
    return params


def _batches(num_rows: int, batch_size: int, generator: torch.Generator, device):
    order = torch.randperm(num_rows, generator=generator).to(device)
    for start in range(0, num_rows, batch_size):
        yield order[start : start + batch_size]


def _train(
    params: dict[str, torch.Tensor],
    loss_fn: Callable[[dict, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    num_epochs: int,
    batch_size: int | None,
    lr: float,
    seed: int,
    on_epoch: Callable[[int, dict], None] | None = None,
    progress: bool = False,
    description: str = "",
    optimizer: torch.optim.Optimizer | None = None,
) -> list[float]:
    """Adam over shuffled minibatches; ``loss_fn`` returns the sum of the nets' losses.

    The nets in a batch are independent problems: summing their losses gives
    each its own gradient, and Adam's updates are elementwise. Returns the
    training loss per epoch (summed over nets, averaged over batches).
    """
    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(seed)
    optimizer = optimizer or torch.optim.Adam(list(params.values()), lr=lr)
    batch_size = x.shape[0] if batch_size is None else min(batch_size, x.shape[0])
    history = []
    for epoch in tqdm(range(num_epochs), disable=not progress, desc=description, leave=False):
        total, count = 0.0, 0
        for index in _batches(x.shape[0], batch_size, generator, x.device):
            optimizer.zero_grad()
            loss = loss_fn(params, x[index], y[index], generator)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"{description or 'training'}: the loss became {float(loss.detach())} in epoch "
                    f"{epoch + 1}; try a smaller lr (now {lr}) or standardized data"
                )
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            count += 1
        history.append(total / count)
        if on_epoch is not None:
            with torch.no_grad():
                on_epoch(epoch + 1, params)
    return history


def _eval_epochs(num_epochs: int, num_checks: int = 40) -> set[int]:
    """Epochs at which early stopping looks at the validation score."""
    step = max(1, num_epochs // num_checks)
    return set(range(step, num_epochs + 1, step)) | {num_epochs}


def _baseline_model(model: BayesianMLP, likelihood) -> BayesianMLP:
    """``model``'s architecture and prior with another likelihood, on its dtype and device."""
    network = BayesianMLP(
        model.in_features,
        model.out_features,
        model.hidden,
        model.activation,
        prior=model.prior,
        likelihood=likelihood,
    )
    return network.to(device=model._like.device, dtype=model._like.dtype)


def _mixture_log_likelihood(log_prob_draws: torch.Tensor) -> torch.Tensor:
    """``(G, S, N)`` per-draw log densities → ``(G,)`` mean log mixture density."""
    num_draws = log_prob_draws.shape[-2]
    return (torch.logsumexp(log_prob_draws, dim=-2) - math.log(num_draws)).mean(-1)


def _detached(params: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in params.items()}


# --------------------------------------------------------------------------- MAP


def fit_map(
    model: BayesianMLP,
    x,
    y,
    *,
    num_epochs: int = 200,
    lr: float = 1e-2,
    batch_size: int | None = 128,
    validation_fraction: float = 0.0,
    standardize: bool | str | None = None,
    seed: int = 0,
    progress: bool = True,
    device=None,
    dtype: torch.dtype | None = None,
) -> BaselineFit:
    """Maximum a posteriori weights of a :class:`~pyro_bnn.BayesianMLP` (plain torch, Adam).

    Maximises ``log p(theta) + sum_n log p(y_n | x_n, theta)`` with the model's own
    prior and likelihood (a learned noise ``sigma`` included), over minibatches
    scaled by ``N / batch``.

    Parameters
    ----------
    model : BayesianMLP
        Not changed: the fit works on its own copy.
    x : array (N, D); y : array (N,) (or labels for a classification likelihood)
        Training data in your own units (numpy or torch).
    num_epochs : int
        Passes over the data (the maximum, with early stopping).
    lr : float
        Adam learning rate.
    batch_size : int or None
        Minibatch size (``None``: full batch).
    validation_fraction : float
        If > 0, hold out this fraction, pick the number of epochs with the best
        validation log-likelihood, then refit on all the data for that many epochs.
    standardize : None, bool or "x"
        ``None``/``True``: standardize ``x`` and a continuous ``y`` with the training
        data's statistics (the prior is meant for standardized data); the fit keeps
        the scaler and predicts in your units. ``"x"``: inputs only. ``False``: as given.
    seed : int
        Seeds initialisation, batch order and the validation split (the global
        random streams are not touched).
    progress : bool
        Show a progress bar.
    device, dtype
        Where and in which precision to fit (default: the model's).

    Returns
    -------
    BaselineFit
        ``method="map"``, one draw (in standardized units when standardizing);
        ``diagnostics["num_epochs"]`` the epochs used and, with validation, the
        checked ``validation_epochs`` with their ``validation_ll`` and (regression)
        ``validation_rmse`` (standardized units) at the chosen epoch.
    """
    _check_mlp(model, "fit_map")
    settings = _map_settings(num_epochs, lr, batch_size, validation_fraction)
    seed = check_seed(seed)
    start = time.perf_counter()
    model, x, y, scaler = _setup(model, x, y, standardize, dtype, device)
    with local_rng(seed):
        draws, diagnostics = _map_draws(model, x, y, seed=seed, progress=progress, **settings)
    diagnostics.update(fit_seconds=time.perf_counter() - start, seed=seed)
    return BaselineFit(model, "map", samples=draws, scaler=scaler, diagnostics=diagnostics)


def _map_settings(num_epochs, lr, batch_size, validation_fraction) -> dict:
    return dict(
        num_epochs=_positive_int(num_epochs, "num_epochs"),
        lr=_positive_float(lr, "lr"),
        batch_size=None if batch_size is None else _positive_int(batch_size, "batch_size"),
        validation_fraction=_fraction(validation_fraction, "validation_fraction"),
    )


def _map_draws(
    model: BayesianMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    num_epochs: int,
    lr: float,
    batch_size: int | None,
    validation_fraction: float,
    seed: int,
    progress: bool,
) -> tuple[dict[str, torch.Tensor], dict]:
    """MAP weights of ``model`` on prepared data: ``(draws with S = 1, diagnostics)``."""
    like = model._like

    def run(x_fit, y_fit, epochs, x_val=None, y_val=None):
        flat = FlatModel(model, x_fit, y_fit)
        with torch.no_grad(), pyro.poutine.block(), local_rng(seed):
            trace = pyro.poutine.trace(model).get_trace(x_fit[:1])
        values = {
            name: node["value"]
            for name, node in trace.nodes.items()
            if node["type"] == "sample" and not node["is_observed"]
        }
        generator = torch.Generator().manual_seed(seed)
        for name, value in _init_layers(model.layer_sizes, 1, generator, like).items():
            values[name] = value.detach()[0]
        if "sigma" in values and model.task == "regression":
            values["sigma"] = y_fit.std().clamp_min(1e-3).reshape(values["sigma"].shape)
        z = flat.flatten({k: v.detach() for k, v in values.items()}).requires_grad_(True)
        num_rows = x_fit.shape[0]
        scores: dict[int, float] = {}
        rmse: dict[int, float] = {}
        checks = _eval_epochs(epochs)

        def loss_fn(params, xb, yb, _generator):
            theta = flat.unflatten(params["z"])
            log_joint = model.log_prior(theta) + num_rows / xb.shape[0] * model.log_likelihood(
                theta, xb, yb
            )
            return -log_joint / num_rows

        def on_epoch(epoch, params):
            if x_val is None or epoch not in checks:
                return
            theta = flat.unflatten(params["z"])
            out = model.network(theta, x_val)
            scores[epoch] = float(model.likelihood.distribution(out, theta).log_prob(y_val).mean())
            if model.task == "regression":
                mean = model.likelihood.mean_var(out, theta)[0]
                rmse[epoch] = float((mean - y_val).pow(2).mean().sqrt())

        params = {"z": z}
        history = _train(
            params, loss_fn, x_fit, y_fit, epochs, batch_size, lr, seed, on_epoch, progress, "MAP"
        )
        draws = {k: v.detach().unsqueeze(0) for k, v in flat.unflatten(params["z"]).items()}
        return draws, history, scores, rmse

    diagnostics: dict = {"validation_fraction": validation_fraction}
    split = _validation_split(x.shape[0], validation_fraction, seed)
    epochs = num_epochs
    if split is not None:
        train_index, val_index = split
        _, _, scores, rmse = run(
            x[train_index], y[train_index], num_epochs, x[val_index], y[val_index]
        )
        epochs = max(scores, key=lambda e: scores[e])
        diagnostics["validation_epochs"] = list(scores)
        diagnostics["validation_ll"] = list(scores.values())
        if rmse:
            diagnostics["validation_rmse"] = rmse[epochs]
    draws, history, _, _ = run(x, y, epochs)
    diagnostics.update(num_epochs=epochs, loss=history)
    return draws, diagnostics


# --------------------------------------------------------------------------- MC dropout


def _dropout_forward(
    params: Mapping[str, torch.Tensor],
    x: torch.Tensor,
    keep: torch.Tensor,
    activation: str,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Batched network with dropout before every layer.

    ``params`` have a leading net dimension ``G``; ``keep: (G,)`` keep-probabilities;
    ``x: (B, D)`` → ``(G, B, out)``. With ``generator=None`` no dropout (weights
    scaled, i.e. the standard non-MC prediction).
    """
    act = ACTIVATIONS[activation]
    num_layers = sum(1 for k in params if k.endswith(".weight"))
    num_nets = keep.shape[0]
    h = x.expand((num_nets,) + x.shape)
    keep_b = keep.reshape(-1, 1, 1)
    for i in range(num_layers):
        if generator is not None:
            uniform = torch.rand(h.shape, generator=generator, dtype=h.dtype).to(h.device)
            h = h * (uniform < keep_b) / keep_b
        h = linear(h, params[f"layers.{i}.weight"], params[f"layers.{i}.bias"])
        if i < num_layers - 1:
            h = act(h)
    return h


def _dropout_weight_draws(
    params: Mapping[str, torch.Tensor], keep: float, num_passes: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Test-time dropout masks as weight draws: dropping input unit j of layer i zeroes
    column j of its weight matrix; kept columns are scaled by ``1 / keep``.

    ``params`` hold one net (no leading dim); returns site → ``(num_passes, *shape)``.
    """
    draws = {}
    for name, value in params.items():
        if name.endswith(".weight"):
            fan_in = value.shape[-1]
            mask = (torch.rand((num_passes, 1, fan_in), generator=generator) < keep).to(value)
            draws[name] = value.unsqueeze(0) * mask / keep
        else:
            draws[name] = value.unsqueeze(0).expand((num_passes,) + value.shape).contiguous()
    return draws


def fit_mc_dropout(
    model: BayesianMLP,
    x,
    y=None,
    *,
    dropout: float | Sequence[float] = (0.005, 0.01, 0.05, 0.1),
    tau: float | Sequence[float] = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0),
    length_scale: float = 1e-2,
    num_epochs: int = 400,
    lr: float = 1e-3,
    batch_size: int | None = 128,
    num_passes: int = 1000,
    validation_fraction: float = 0.2,
    validation_passes: int = 100,
    standardize: bool | str | None = None,
    seed: int = 0,
    progress: bool = True,
    device=None,
    dtype: torch.dtype | None = None,
    hidden: Sequence[int] | None = None,
    activation: str | None = None,
    num_classes: int | None = None,
) -> BaselineFit:
    """MC dropout (Gal & Ghahramani 2016), with the hyper-parameters chosen on validation data.

    Training minimises ``mean_batch (y - f(x))**2 + reg * sum ||W||**2`` with
    ``reg = length_scale**2 * (1 - p) / (2 N tau)`` (as in the authors' UCI code;
    classification: cross-entropy with ``tau = 1``), dropout ``p`` before every
    layer. Prediction: ``num_passes`` dropout masks, each a draw of the weights,
    with ``Gaussian(sigma = tau ** -0.5)`` noise.

    Parameters
    ----------
    model : BayesianMLP
        The architecture (``in_features``, ``hidden``, ``activation``) and the task:
        a ``Categorical`` likelihood (``out_features`` classes) for classification,
        ``Gaussian``, ``HeteroscedasticGaussian`` or ``StudentT`` with
        ``out_features=1`` for regression. Its prior and likelihood are replaced by
        the dropout objective; ``model`` itself is not changed.
    x : array (N, D); y : array (N,) (labels ``0..K-1`` for classification)
        Training data in your own units.
    dropout, tau : float or sequence of float
        Dropout rate(s) in (0, 1) and noise precision(s), in the units the network
        is fitted in (standardized ``y`` by default, where the default grid suits).
        With several values the grid is searched: every combination is trained on
        ``1 - validation_fraction`` of the data (all at once, as a batch of nets),
        the best validation log-likelihood wins, then it is retrained on all data.
    length_scale : float
        Prior length-scale of the weights.
    num_epochs, lr, batch_size : Adam training settings.
    num_passes : int
        Test-time dropout masks (draws) of the final prediction.
    validation_fraction : float
        Held-out fraction for the grid search (ignored for a single combination).
    validation_passes : int
        Dropout masks per grid point when scoring the validation part.
    standardize, seed, progress, device, dtype
        As for :func:`fit_map`.
    hidden, activation, num_classes
        Deprecated: only for the old form ``fit_mc_dropout(x, y, hidden=...)``.

    Returns
    -------
    BaselineFit
        ``method="mc-dropout"``; ``diagnostics`` holds the chosen ``dropout`` and
        ``tau`` and the validation log-likelihood of every grid point.
    """
    model, x, y = _architecture("fit_mc_dropout", model, x, y, hidden, activation, num_classes)
    classification = _baseline_task("fit_mc_dropout", model)
    dropouts = _as_grid(dropout, "dropout", lambda v, n: _fraction(v, n, allow_zero=False))
    taus = [1.0] if classification else _as_grid(tau, "tau", _positive_float)
    length_scale = _positive_float(length_scale, "length_scale")
    num_epochs = _positive_int(num_epochs, "num_epochs")
    lr = _positive_float(lr, "lr")
    if batch_size is not None:
        batch_size = _positive_int(batch_size, "batch_size")
    num_passes = _positive_int(num_passes, "num_passes")
    validation_passes = _positive_int(validation_passes, "validation_passes")
    validation_fraction = _fraction(validation_fraction, "validation_fraction")
    seed = check_seed(seed)
    start = time.perf_counter()
    model, x, y, scaler = _setup(model, x, y, standardize, dtype, device)
    if classification:
        y = y.long()
    like = model._like
    out_features = model.out_features

    def train(x_fit, y_fit, grid, seed_offset):
        keep = torch.tensor([1 - p for p, _ in grid], dtype=like.dtype, device=like.device)
        regs = torch.tensor(
            [length_scale**2 * (1 - p) / (2 * x_fit.shape[0] * t) for p, t in grid],
            dtype=like.dtype,
            device=like.device,
        )
        generator = torch.Generator().manual_seed(seed + seed_offset)
        params = _init_layers(model.layer_sizes, len(grid), generator, like)

        def loss_fn(params, xb, yb, batch_generator):
            out = _dropout_forward(params, xb, keep, model.activation, batch_generator)
            if classification:
                data = F.cross_entropy(
                    out.reshape(-1, out_features), yb.repeat(len(grid)), reduction="none"
                )
                data = data.reshape(len(grid), -1).mean(-1)
            else:
                data = ((out[..., 0] - yb) ** 2).mean(-1)
            decay = sum(
                (v**2).reshape(len(grid), -1).sum(-1)
                for k, v in params.items()
                if k.endswith(".weight")
            )
            return (data + regs * decay).sum()

        history = _train(
            params,
            loss_fn,
            x_fit,
            y_fit,
            num_epochs,
            batch_size,
            lr,
            seed + seed_offset,
            progress=progress,
            description="MC dropout",
        )
        return _detached(params), history

    def dropout_model(tau_value: float) -> BayesianMLP:
        likelihood = Categorical() if classification else Gaussian(sigma=float(tau_value) ** -0.5)
        return _baseline_model(model, likelihood)

    grid = [(p, t) for p in dropouts for t in taus]
    diagnostics: dict = {"grid": [{"dropout": p, "tau": t} for p, t in grid]}
    chosen = grid[0]
    with local_rng(seed):
        split = _validation_split(x.shape[0], validation_fraction, seed) if len(grid) > 1 else None
        if split is not None:
            train_index, val_index = split
            params, _ = train(x[train_index], y[train_index], grid, 0)
            generator = torch.Generator().manual_seed(seed + 1)
            scores = []
            for g, (p, t) in enumerate(grid):
                one = {k: v[g] for k, v in params.items()}
                draws = _dropout_weight_draws(one, 1 - p, validation_passes, generator)
                scorer = dropout_model(t)
                out = scorer.network(draws, x[val_index])
                d = scorer.likelihood.distribution(out, draws)
                log_prob = d.log_prob(y[val_index]).unsqueeze(0)
                scores.append(float(_mixture_log_likelihood(log_prob)))
            best = int(np.nanargmax(np.asarray(scores)))
            chosen = grid[best]
            diagnostics["validation_ll"] = scores
        params, history = train(x, y, [chosen], 1)
        one = {k: v[0] for k, v in params.items()}
        draws = _dropout_weight_draws(
            one, 1 - chosen[0], num_passes, torch.Generator().manual_seed(seed + 2)
        )
    diagnostics.update(
        dropout=chosen[0],
        tau=None if classification else chosen[1],
        length_scale=length_scale,
        num_epochs=num_epochs,
        loss=history,
        fit_seconds=time.perf_counter() - start,
        seed=seed,
    )
    return BaselineFit(
        dropout_model(chosen[1]),
        "mc-dropout",
        samples=draws,
        scaler=scaler,
        diagnostics=diagnostics,
    )


# --------------------------------------------------------------------------- deep ensembles


def fit_ensemble(
    model: BayesianMLP,
    x,
    y=None,
    *,
    num_members: int = 5,
    num_epochs: int = 200,
    lr: float = 1e-2,
    batch_size: int | None = 100,
    weight_decay: float = 0.0,
    min_scale: float = 1e-3,
    validation_fraction: float = 0.0,
    standardize: bool | str | None = None,
    seed: int = 0,
    progress: bool = True,
    device=None,
    dtype: torch.dtype | None = None,
    hidden: Sequence[int] | None = None,
    activation: str | None = None,
    num_classes: int | None = None,
) -> BaselineFit:
    """Deep ensemble (Lakshminarayanan et al. 2017, without adversarial training).

    ``num_members`` networks from independent random initialisations (trained as
    one batch, each on its own loss). Regression: each outputs a mean and a
    scale ``softplus(.) + min_scale`` and minimises the Gaussian negative
    log-likelihood; classification: softmax cross-entropy. The prediction is the
    uniform mixture of the members.

    Parameters
    ----------
    model : BayesianMLP
        The architecture and the task, as for :func:`fit_mc_dropout` (its prior is
        unused; the likelihood becomes ``HeteroscedasticGaussian(min_scale)`` for
        regression). ``model`` itself is not changed.
    x : array (N, D); y : array (N,) (labels ``0..K-1`` for classification)
        Training data in your own units.
    num_members : int
        Ensemble size ``M`` (5 in the paper).
    num_epochs, lr, batch_size : Adam training settings (``num_epochs`` is the
        maximum when early stopping).
    weight_decay : float
        L2 penalty ``weight_decay * ||W||^2`` per member, added to the mean loss.
    min_scale : float
        Lower bound of the predicted noise scale (in the fitted, by default
        standardized, units).
    validation_fraction : float
        If > 0, choose the number of epochs by the ensemble's validation
        log-likelihood, then retrain on all the data for that many epochs.
    standardize, seed, progress, device, dtype
        As for :func:`fit_map`.
    hidden, activation, num_classes
        Deprecated: only for the old form ``fit_ensemble(x, y, hidden=...)``.

    Returns
    -------
    BaselineFit
        ``method="ensemble"``; ``num_draws = num_members``.
    """
    model, x, y = _architecture("fit_ensemble", model, x, y, hidden, activation, num_classes)
    classification = _baseline_task("fit_ensemble", model)
    num_members = _positive_int(num_members, "num_members")
    num_epochs = _positive_int(num_epochs, "num_epochs")
    lr = _positive_float(lr, "lr")
    if batch_size is not None:
        batch_size = _positive_int(batch_size, "batch_size")
    if (
        isinstance(weight_decay, bool)
        or not isinstance(weight_decay, int | float)
        or not (weight_decay >= 0 and math.isfinite(weight_decay))
    ):
        raise ValueError(f"weight_decay must be a non-negative number, got {weight_decay!r}")
    min_scale = _positive_float(min_scale, "min_scale")
    validation_fraction = _fraction(validation_fraction, "validation_fraction")
    seed = check_seed(seed)
    start = time.perf_counter()
    model, x, y, scaler = _setup(model, x, y, standardize, dtype, device)
    if classification:
        y = y.long()
    likelihood = Categorical() if classification else HeteroscedasticGaussian(min_scale=min_scale)
    model = _baseline_model(model, likelihood)
    like = model._like

    def run(x_fit, y_fit, epochs, seed_offset, x_val=None, y_val=None):
        generator = torch.Generator().manual_seed(seed + seed_offset)
        params = _init_layers(model.layer_sizes, num_members, generator, like)
        scores: dict[int, float] = {}
        checks = _eval_epochs(epochs)

        def loss_fn(params, xb, yb, _generator):
            out = model.network(params, xb)  # (M, B, output_size)
            nll = -likelihood.distribution(out, params).log_prob(yb).mean(-1)  # (M,)
            if weight_decay:
                nll = nll + weight_decay * sum(
                    (v**2).reshape(num_members, -1).sum(-1)
                    for k, v in params.items()
                    if k.endswith(".weight")
                )
            return nll.sum()

        def on_epoch(epoch, params):
            if x_val is None or epoch not in checks:
                return
            log_prob = likelihood.distribution(model.network(params, x_val), params).log_prob(y_val)
            scores[epoch] = float(_mixture_log_likelihood(log_prob.unsqueeze(0)))

        history = _train(
            params,
            loss_fn,
            x_fit,
            y_fit,
            epochs,
            batch_size,
            lr,
            seed + seed_offset,
            on_epoch,
            progress,
            "ensemble",
        )
        return _detached(params), history, scores

    diagnostics: dict = {"num_members": num_members, "validation_fraction": validation_fraction}
    epochs = num_epochs
    with local_rng(seed):
        split = _validation_split(x.shape[0], validation_fraction, seed)
        if split is not None:
            train_index, val_index = split
            _, _, scores = run(
                x[train_index], y[train_index], num_epochs, 0, x[val_index], y[val_index]
            )
            epochs = max(scores, key=lambda e: scores[e])
            diagnostics["validation_epochs"] = list(scores)
            diagnostics["validation_ll"] = list(scores.values())
        draws, history, _ = run(x, y, epochs, 1)
    diagnostics.update(
        num_epochs=epochs, loss=history, fit_seconds=time.perf_counter() - start, seed=seed
    )
    return BaselineFit(model, "ensemble", samples=draws, scaler=scaler, diagnostics=diagnostics)


# --------------------------------------------------------------------------- SWAG


def fit_swag(
    model: BayesianMLP,
    x,
    y,
    *,
    num_epochs: int = 200,
    swag_epochs: int = 50,
    lr: float = 1e-2,
    swag_lr: float = 0.05,
    momentum: float = 0.9,
    rank: int = 20,
    num_draws: int = 100,
    batch_size: int | None = 128,
    validation_fraction: float = 0.0,
    standardize: bool | str | None = None,
    seed: int = 0,
    progress: bool = True,
    device=None,
    dtype: torch.dtype | None = None,
) -> BaselineFit:
    """SWAG (Maddox et al. 2019) around the MAP fit of a :class:`~pyro_bnn.BayesianMLP`.

    1. The MAP fit of :func:`fit_map` (Adam, ``num_epochs``, optional early stopping).
    2. SGD with momentum at the constant rate ``swag_lr`` on the same log joint
       for ``swag_epochs`` epochs, one snapshot of the weights and biases per
       epoch (the noise ``sigma`` and any prior scales stay at their MAP values).
    3. A Gaussian with the snapshots' mean, ``0.5 * diag(variance) + 0.5 * D D^T /
       (K - 1)`` (``D``: the last ``K = rank`` deviations from the mean), from which
       ``num_draws`` weight draws are taken.

    Parameters
    ----------
    model : BayesianMLP
        Not changed: the fit works on its own copy.
    x : array (N, D); y : array (N,) (labels for a classification likelihood)
        Training data in your own units.
    num_epochs, lr, batch_size, validation_fraction : the MAP stage (see :func:`fit_map`)
    swag_epochs : int
        Snapshots collected (one per epoch); at least 2.
    swag_lr, momentum : SGD settings of the collection stage. With a learned Gaussian
        noise the loss is multiplied by ``sigma_MAP**2`` (the rate is relative to the
        noise variance, so it does not depend on the noise level).
    rank : int
        Maximum rank ``K`` of the low-rank part.
    num_draws : int
        Weight draws of the prediction.
    standardize, seed, progress, device, dtype
        As for :func:`fit_map`.

    Returns
    -------
    BaselineFit
        ``method="swag"``, ``num_draws`` draws.
    """
    _check_mlp(model, "fit_swag")
    map_settings = _map_settings(num_epochs, lr, batch_size, validation_fraction)
    swag_epochs = _positive_int(swag_epochs, "swag_epochs")
    if swag_epochs < 2:
        raise ValueError(f"swag_epochs must be at least 2, got {swag_epochs}")
    swag_lr = _positive_float(swag_lr, "swag_lr")
    if (
        isinstance(momentum, bool)
        or not isinstance(momentum, int | float)
        or not (0 <= momentum < 1)
    ):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    rank = _positive_int(rank, "rank")
    num_draws = _positive_int(num_draws, "num_draws")
    seed = check_seed(seed)
    start = time.perf_counter()
    model, x, y, scaler = _setup(model, x, y, standardize, dtype, device)
    with local_rng(seed):
        map_draws, map_diagnostics = _map_draws(
            model, x, y, seed=seed, progress=progress, **map_settings
        )
        draws, history, num_columns = _swag_draws(
            model, x, y, map_draws, swag_epochs, swag_lr, momentum, rank, num_draws,
            map_settings["batch_size"], seed, progress,
        )  # fmt: skip
    diagnostics = {
        "map_epochs": map_diagnostics["num_epochs"],
        "swag_epochs": swag_epochs,
        "swag_lr": swag_lr,
        "rank": num_columns,
        "swag_loss": history,
        "fit_seconds": time.perf_counter() - start,
        "seed": seed,
    }
    return BaselineFit(model, "swag", samples=draws, scaler=scaler, diagnostics=diagnostics)


def _swag_draws(
    model, x, y, map_draws, swag_epochs, swag_lr, momentum, rank, num_draws, batch_size, seed,
    progress,
):  # fmt: skip
    """SGD snapshots from the MAP point → ``(draws, swag loss history, rank used)``."""
    point = {k: v[0] for k, v in map_draws.items()}
    names = [k for k in point if k.startswith("layers.") and not k.endswith(".scale")]
    fixed = {k: v for k, v in point.items() if k not in names}  # noise, prior scales
    shapes = [point[k].shape for k in names]
    sizes = [point[k].numel() for k in names]
    z = torch.cat([point[k].reshape(-1) for k in names]).requires_grad_(True)
    num_rows = x.shape[0]
    snapshots: list[torch.Tensor] = []
    # Curvature of a Gaussian likelihood grows like 1 / sigma**2: measure the step in
    # units of the noise variance so one swag_lr suits any noise level.
    sigma = fixed.get("sigma")
    loss_scale = float(sigma.pow(2).mean()) if sigma is not None else 1.0

    def unflatten(vector: torch.Tensor) -> dict[str, torch.Tensor]:
        lead = vector.shape[:-1]
        values = {
            k: chunk.reshape(lead + shape)
            for k, chunk, shape in zip(names, vector.split(sizes, -1), shapes, strict=True)
        }
        return values | {k: v.expand(lead + v.shape) for k, v in fixed.items()}

    def loss_fn(params, xb, yb, _generator):
        theta = unflatten(params["z"])
        log_joint = model.log_prior(theta) + num_rows / xb.shape[0] * model.log_likelihood(
            theta, xb, yb
        )
        return -log_joint * loss_scale / num_rows

    def on_epoch(epoch, params):
        snapshots.append(params["z"].detach().clone())

    params = {"z": z}
    sgd = torch.optim.SGD([z], lr=swag_lr, momentum=momentum)
    history = _train(
        params, loss_fn, x, y, swag_epochs, batch_size, swag_lr, seed + 1, on_epoch, progress,
        "SWAG", optimizer=sgd,
    )  # fmt: skip
    stacked = torch.stack(snapshots)  # (T, P)
    mean = stacked.mean(0)
    variance = (stacked.pow(2).mean(0) - mean.pow(2)).clamp_min(0.0)
    deviations = (stacked[-rank:] - mean).T  # (P, K)
    num_columns = deviations.shape[1]
    generator = torch.Generator().manual_seed(seed + 2)
    diagonal = torch.randn((num_draws, mean.shape[0]), generator=generator, dtype=mean.dtype)
    low_rank = torch.randn((num_draws, num_columns), generator=generator, dtype=mean.dtype)
    diagonal, low_rank = diagonal.to(mean.device), low_rank.to(mean.device)
    samples = (
        mean
        + math.sqrt(0.5) * variance.sqrt() * diagonal
        + low_rank @ deviations.T / math.sqrt(2 * max(num_columns - 1, 1))
    )
    draws = {k: v.detach().contiguous() for k, v in unflatten(samples).items()}
    return draws, history, num_columns
