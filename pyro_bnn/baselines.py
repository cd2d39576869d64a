"""Non-Bayesian and approximately Bayesian baselines with the same prediction interface.

Every baseline is trained in plain torch (no Pyro tracing) and returns a
:class:`BaselineFit`: a :class:`~pyro_bnn.BayesianMLP` that describes the
architecture and the likelihood, plus a fixed set of weight "draws". Its
:meth:`BaselineFit.predict` runs the same code as :func:`pyro_bnn.predict`, so
the result is a :class:`~pyro_bnn.RegressionPrediction` or
:class:`~pyro_bnn.ClassificationPrediction` that :func:`pyro_bnn.metrics.evaluate`
and the plots accept unchanged; for the mixtures ``total_var = epistemic_var +
aleatoric_var`` holds over the draws.

- :func:`fit_map`: the MAP point estimate of a :class:`~pyro_bnn.BayesianMLP`
  (same prior and likelihood as its Bayesian fits), one draw.
- :func:`fit_mc_dropout`: MC dropout (Gal & Ghahramani 2016). Dropout before
  every layer at training and at test time, weight decay
  ``length_scale**2 * (1 - p) / (2 N tau)`` and noise precision ``tau``.
  Each test-time dropout mask is a weight draw (a dropped input unit is a
  zeroed column of the weight matrix), ``num_passes`` of them.
  Grids of ``dropout`` and ``tau`` are searched on a validation part of the
  training data, all grid points trained at once as a batch of networks.
- :func:`fit_swag`: SWAG (Maddox et al. 2019): from the MAP fit, SGD at a constant
  learning rate; the iterates' mean, diagonal variance and last deviations give
  a Gaussian over the weights (diagonal + low rank), sampled for prediction.
- :func:`fit_ensemble`: deep ensembles (Lakshminarayanan et al. 2017). ``M``
  networks from different random initialisations, each with a learned
  Gaussian variance (heteroscedastic negative log-likelihood) or softmax
  outputs; the prediction is the uniform mixture. Members are trained as one
  batch of networks.

Training length can be chosen by early stopping on a validation part of the
training data (``validation_fraction > 0``): the epoch with the best validation
log-likelihood is found, then the network is retrained on all the data for that
many epochs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyro
import torch
import torch.nn.functional as F

from .inference.flat import FlatModel
from .likelihoods import Categorical, Gaussian, HeteroscedasticGaussian
from .nets import ACTIVATIONS, BayesianMLP, linear
from .posterior import Posterior
from .predictive import Prediction, predict
from .validation import check_labels, check_xy

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


@dataclass
class BaselineFit:
    """A fitted baseline: an architecture plus a fixed set of weight draws.

    Attributes
    ----------
    model : BayesianMLP
        Architecture and likelihood used for prediction (its prior is unused).
        MC dropout: ``Gaussian(sigma=tau ** -0.5)``; ensembles:
        ``HeteroscedasticGaussian``; classification: ``Categorical``.
    draws : dict
        Site name → ``(S, *site_shape)``: ``S = 1`` for MAP, ``num_passes`` dropout
        masks for MC dropout, ``num_members`` for an ensemble.
    method : str
        ``"map"``, ``"mc-dropout"`` or ``"ensemble"``.
    diagnostics : dict
        Chosen hyper-parameters, validation scores, training loss, fit time.
    """

    model: BayesianMLP
    draws: dict[str, torch.Tensor]
    method: str
    diagnostics: dict = field(default_factory=dict)

    @property
    def num_draws(self) -> int:
        """Number of weight draws ``S``."""
        return int(next(iter(self.draws.values())).shape[0])

    @property
    def task(self) -> str:
        """``"regression"`` or ``"classification"``."""
        return self.model.task

    def predict(
        self, x, seed: int = 0, chunk_size: int | None = None, keep_draws: bool = True
    ) -> Prediction:
        """Predictive distribution at ``x: (N, D)`` (mixture over the draws).

        Returns a :class:`~pyro_bnn.RegressionPrediction` or
        :class:`~pyro_bnn.ClassificationPrediction`, exactly as :func:`pyro_bnn.predict`.
        """
        holder = Posterior(self.model, self.method, samples=self.draws)  # what predict() reads
        return predict(holder, x, seed=seed, chunk_size=chunk_size, keep_draws=keep_draws)

    def __repr__(self) -> str:
        return (
            f"BaselineFit(method={self.method!r}, num_draws={self.num_draws}, "
            f"model={self.model.extra_repr()})"
        )


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


def _check_hidden(hidden) -> tuple[int, ...]:
    hidden = tuple(hidden)
    if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"hidden must be a sequence of positive integers, got {hidden!r}")
    return hidden


def _check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; valid: {', '.join(sorted(ACTIVATIONS))}"
        )
    return activation


def _prepare_data(x, y, num_classes: int | None, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``x: (N, D)`` and ``y: (N,)`` (labels when ``num_classes`` is given)."""
    x, y = check_xy(x, y, None, dtype=dtype)
    if y.dim() == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.dim() != 1:
        raise ValueError(f"y must have shape (N,), found {tuple(y.shape)}")
    if num_classes is not None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2 or None, got {num_classes!r}")
        check_labels(y, num_classes)
        y = y.long()
    return x, y


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
    layer_sizes: list[tuple[int, int]], num_nets: int, generator: torch.Generator, dtype
) -> dict[str, torch.Tensor]:
    """``num_nets`` independent PyTorch-default (Kaiming-uniform) initialisations."""
    params = {}
    for i, (fan_in, fan_out) in enumerate(layer_sizes):
        bound = 1.0 / math.sqrt(fan_in)
        for name, shape in (("weight", (fan_out, fan_in)), ("bias", (fan_out,))):
            value = (
                torch.rand((num_nets, *shape), generator=generator, dtype=dtype) * 2 - 1
            ) * bound
            params[f"layers.{i}.{name}"] = value.requires_grad_(True)
    return params


def _batches(num_rows: int, batch_size: int, generator: torch.Generator):
    order = torch.randperm(num_rows, generator=generator)
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
        for index in _batches(x.shape[0], batch_size, generator):
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


def _make_model(
    in_features: int, out_features: int, hidden, activation: str, likelihood, dtype
) -> BayesianMLP:
    model = BayesianMLP(in_features, out_features, hidden, activation, likelihood=likelihood)
    return model.to(dtype)


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
    num_epochs: int = 200,
    lr: float = 1e-2,
    batch_size: int | None = 128,
    validation_fraction: float = 0.0,
    seed: int = 0,
    progress: bool = False,
    dtype: torch.dtype = torch.float32,
) -> BaselineFit:
    """Maximum a posteriori weights of a :class:`~pyro_bnn.BayesianMLP` (plain torch, Adam).

    Maximises ``log p(theta) + sum_n log p(y_n | x_n, theta)`` with the model's own
    prior and likelihood (a learned noise ``sigma`` included), over minibatches
    scaled by ``N / batch``.

    Parameters
    ----------
    model : BayesianMLP
    x : array (N, D); y : array (N,) (or labels for a classification likelihood)
    num_epochs : int
        Passes over the data (the maximum, with early stopping).
    lr : float
        Adam learning rate.
    batch_size : int or None
        Minibatch size (``None``: full batch).
    validation_fraction : float
        If > 0, hold out this fraction, pick the number of epochs with the best
        validation log-likelihood, then refit on all the data for that many epochs.
    seed : int
        Seeds initialisation, batch order and the validation split.

    Returns
    -------
    BaselineFit
        ``method="map"``, one draw; ``diagnostics["num_epochs"]`` the epochs used and,
        with validation, ``validation_ll`` per checked epoch and (regression)
        ``validation_rmse`` at the chosen epoch.
    """
    if not isinstance(model, BayesianMLP):
        raise TypeError(f"model must be a pyro_bnn BayesianMLP, got {type(model).__name__}")
    num_epochs = _positive_int(num_epochs, "num_epochs")
    lr = _positive_float(lr, "lr")
    if batch_size is not None:
        batch_size = _positive_int(batch_size, "batch_size")
    validation_fraction = _fraction(validation_fraction, "validation_fraction")
    model = model.to(dtype)
    x, y = model.check_inputs(x, y, dtype=dtype)
    start = time.perf_counter()

    def run(x_fit, y_fit, epochs, x_val=None, y_val=None):
        flat = FlatModel(model, x_fit, y_fit)
        with torch.no_grad(), pyro.poutine.block():
            pyro.set_rng_seed(seed)
            trace = pyro.poutine.trace(model).get_trace(x_fit[:1])
        values = {
            name: node["value"]
            for name, node in trace.nodes.items()
            if node["type"] == "sample" and not node["is_observed"]
        }
        generator = torch.Generator().manual_seed(seed)
        for name, value in _init_layers(model.layer_sizes, 1, generator, dtype).items():
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
        diagnostics["validation_ll"] = scores
        if rmse:
            diagnostics["validation_rmse"] = rmse[epochs]
    draws, history, _, _ = run(x, y, epochs)
    diagnostics.update(
        num_epochs=epochs, loss=history, fit_seconds=time.perf_counter() - start, seed=seed
    )
    return BaselineFit(model, draws, "map", diagnostics)


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
            mask = torch.rand(h.shape, generator=generator, dtype=h.dtype) < keep_b
            h = h * mask / keep_b
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
    x,
    y,
    hidden: Sequence[int] = (50,),
    activation: str = "relu",
    num_classes: int | None = None,
    dropout: float | Sequence[float] = (0.005, 0.01, 0.05, 0.1),
    tau: float | Sequence[float] = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0),
    length_scale: float = 1e-2,
    num_epochs: int = 400,
    lr: float = 1e-3,
    batch_size: int | None = 128,
    num_passes: int = 1000,
    validation_fraction: float = 0.2,
    validation_passes: int = 100,
    seed: int = 0,
    progress: bool = False,
    dtype: torch.dtype = torch.float32,
) -> BaselineFit:
    """MC dropout (Gal & Ghahramani 2016), with the hyper-parameters chosen on validation data.

    Training minimises ``mean_batch (y - f(x))**2 + reg * sum ||W||**2`` with
    ``reg = length_scale**2 * (1 - p) / (2 N tau)`` (as in the authors' UCI code;
    classification: cross-entropy with ``tau = 1``), dropout ``p`` before every
    layer. Prediction: ``num_passes`` dropout masks, each a draw of the weights,
    with ``Gaussian(sigma = tau ** -0.5)`` noise.

    Parameters
    ----------
    x : array (N, D); y : array (N,) (labels ``0..K-1`` if ``num_classes``)
    hidden, activation : architecture (default 1 x 50 ReLU, the UCI standard)
    num_classes : int or None
        ``None`` for regression, the number of classes for classification.
    dropout, tau : float or sequence of float
        Dropout rate(s) in (0, 1) and noise precision(s) (in the units of ``y``).
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

    Returns
    -------
    BaselineFit
        ``method="mc-dropout"``; ``diagnostics`` holds the chosen ``dropout`` and
        ``tau`` and the validation log-likelihood of every grid point.
    """
    hidden = _check_hidden(hidden)
    activation = _check_activation(activation)
    dropouts = _as_grid(dropout, "dropout", lambda v, n: _fraction(v, n, allow_zero=False))
    classification = num_classes is not None
    taus = [1.0] if classification else _as_grid(tau, "tau", _positive_float)
    length_scale = _positive_float(length_scale, "length_scale")
    num_epochs = _positive_int(num_epochs, "num_epochs")
    lr = _positive_float(lr, "lr")
    if batch_size is not None:
        batch_size = _positive_int(batch_size, "batch_size")
    num_passes = _positive_int(num_passes, "num_passes")
    validation_passes = _positive_int(validation_passes, "validation_passes")
    validation_fraction = _fraction(validation_fraction, "validation_fraction")
    x, y = _prepare_data(x, y, num_classes, dtype)
    out_features = num_classes if classification else 1
    layer_sizes = list(zip((x.shape[1], *hidden), (*hidden, out_features), strict=True))
    start = time.perf_counter()

    def train(x_fit, y_fit, grid, seed_offset):
        keep = torch.tensor([1 - p for p, _ in grid], dtype=dtype)
        regs = torch.tensor(
            [length_scale**2 * (1 - p) / (2 * x_fit.shape[0] * t) for p, t in grid], dtype=dtype
        )
        generator = torch.Generator().manual_seed(seed + seed_offset)
        params = _init_layers(layer_sizes, len(grid), generator, dtype)

        def loss_fn(params, xb, yb, batch_generator):
            out = _dropout_forward(params, xb, keep, activation, batch_generator)
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

    grid = [(p, t) for p in dropouts for t in taus]
    diagnostics: dict = {"grid": [{"dropout": p, "tau": t} for p, t in grid]}
    chosen = grid[0]
    split = _validation_split(x.shape[0], validation_fraction, seed) if len(grid) > 1 else None
    if split is not None:
        train_index, val_index = split
        params, _ = train(x[train_index], y[train_index], grid, 0)
        generator = torch.Generator().manual_seed(seed + 1)
        scores = []
        for g, (p, t) in enumerate(grid):
            one = {k: v[g] for k, v in params.items()}
            draws = _dropout_weight_draws(one, 1 - p, validation_passes, generator)
            model = _dropout_model(x.shape[1], out_features, hidden, activation, t, dtype)
            out = model.network(draws, x[val_index])
            d = model.likelihood.distribution(out, draws)
            scores.append(float(_mixture_log_likelihood(d.log_prob(y[val_index]).unsqueeze(0))))
        best = int(np.nanargmax(np.asarray(scores)))
        chosen = grid[best]
        diagnostics["validation_ll"] = scores
    params, history = train(x, y, [chosen], 1)
    one = {k: v[0] for k, v in params.items()}
    draws = _dropout_weight_draws(
        one, 1 - chosen[0], num_passes, torch.Generator().manual_seed(seed + 2)
    )
    model = _dropout_model(x.shape[1], out_features, hidden, activation, chosen[1], dtype)
    diagnostics.update(
        dropout=chosen[0],
        tau=None if classification else chosen[1],
        length_scale=length_scale,
        num_epochs=num_epochs,
        loss=history,
        fit_seconds=time.perf_counter() - start,
        seed=seed,
    )
    return BaselineFit(model, draws, "mc-dropout", diagnostics)


def _dropout_model(in_features, out_features, hidden, activation, tau, dtype) -> BayesianMLP:
    if out_features > 1:
        likelihood = Categorical()
    else:
        likelihood = Gaussian(sigma=float(tau) ** -0.5)
    return _make_model(in_features, out_features, hidden, activation, likelihood, dtype)


# --------------------------------------------------------------------------- deep ensembles


def fit_ensemble(
    x,
    y,
    hidden: Sequence[int] = (50,),
    activation: str = "relu",
    num_classes: int | None = None,
    num_members: int = 5,
    num_epochs: int = 200,
    lr: float = 1e-2,
    batch_size: int | None = 100,
    weight_decay: float = 0.0,
    min_scale: float = 1e-3,
    validation_fraction: float = 0.0,
    seed: int = 0,
    progress: bool = False,
    dtype: torch.dtype = torch.float32,
) -> BaselineFit:
    """Deep ensemble (Lakshminarayanan et al. 2017, without adversarial training).

    ``num_members`` networks from independent random initialisations (trained as
    one batch, each on its own loss). Regression: each outputs a mean and a
    scale ``softplus(.) + min_scale`` and minimises the Gaussian negative
    log-likelihood; classification: softmax cross-entropy. The prediction is the
    uniform mixture of the members.

    Parameters
    ----------
    x : array (N, D); y : array (N,) (labels ``0..K-1`` if ``num_classes``)
    hidden, activation : architecture (default 1 x 50 ReLU)
    num_classes : int or None
        ``None`` for regression, the number of classes for classification.
    num_members : int
        Ensemble size ``M`` (5 in the paper).
    num_epochs, lr, batch_size : Adam training settings (``num_epochs`` is the
        maximum when early stopping).
    weight_decay : float
        L2 penalty ``weight_decay * ||W||^2`` per member, added to the mean loss.
    min_scale : float
        Lower bound of the predicted noise scale.
    validation_fraction : float
        If > 0, choose the number of epochs by the ensemble's validation
        log-likelihood, then retrain on all the data for that many epochs.

    Returns
    -------
    BaselineFit
        ``method="ensemble"``; ``num_draws = num_members``.
    """
    hidden = _check_hidden(hidden)
    activation = _check_activation(activation)
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
    x, y = _prepare_data(x, y, num_classes, dtype)
    classification = num_classes is not None
    if classification:
        likelihood = Categorical()
        out_features = num_classes
    else:
        likelihood = HeteroscedasticGaussian(min_scale=min_scale)
        out_features = 1
    model = _make_model(x.shape[1], out_features, hidden, activation, likelihood, dtype)
    start = time.perf_counter()

    def run(x_fit, y_fit, epochs, seed_offset, x_val=None, y_val=None):
        generator = torch.Generator().manual_seed(seed + seed_offset)
        params = _init_layers(model.layer_sizes, num_members, generator, dtype)
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
    split = _validation_split(x.shape[0], validation_fraction, seed)
    epochs = num_epochs
    if split is not None:
        train_index, val_index = split
        _, _, scores = run(
            x[train_index], y[train_index], num_epochs, 0, x[val_index], y[val_index]
        )
        epochs = max(scores, key=lambda e: scores[e])
        diagnostics["validation_ll"] = scores
    draws, history, _ = run(x, y, epochs, 1)
    diagnostics.update(
        num_epochs=epochs, loss=history, fit_seconds=time.perf_counter() - start, seed=seed
    )
    return BaselineFit(model, draws, "ensemble", diagnostics)


# --------------------------------------------------------------------------- SWAG


def fit_swag(
    model: BayesianMLP,
    x,
    y,
    num_epochs: int = 200,
    swag_epochs: int = 50,
    lr: float = 1e-2,
    swag_lr: float = 0.05,
    momentum: float = 0.9,
    rank: int = 20,
    num_draws: int = 100,
    batch_size: int | None = 128,
    validation_fraction: float = 0.0,
    seed: int = 0,
    progress: bool = False,
    dtype: torch.dtype = torch.float32,
) -> BaselineFit:
    """SWAG (Maddox et al. 2019) around the MAP fit of a :class:`~pyro_bnn.BayesianMLP`.

    1. :func:`fit_map` (Adam, ``num_epochs``, optional early stopping).
    2. SGD with momentum at the constant rate ``swag_lr`` on the same log joint
       for ``swag_epochs`` epochs, one snapshot of the weights and biases per
       epoch (the noise ``sigma`` and any prior scales stay at their MAP values).
    3. A Gaussian with the snapshots' mean, ``0.5 * diag(variance) + 0.5 * D D^T /
       (K - 1)`` (``D``: the last ``K = rank`` deviations from the mean), from which
       ``num_draws`` weight draws are taken.

    Parameters
    ----------
    model : BayesianMLP
    x : array (N, D); y : array (N,) (labels for a classification likelihood)
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

    Returns
    -------
    BaselineFit
        ``method="swag"``, ``num_draws`` draws.
    """
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
    start = time.perf_counter()
    map_fit = fit_map(
        model, x, y, num_epochs=num_epochs, lr=lr, batch_size=batch_size,
        validation_fraction=validation_fraction, seed=seed, progress=progress, dtype=dtype,
    )  # fmt: skip
    x, y = model.check_inputs(x, y, dtype=dtype)
    point = {k: v[0] for k, v in map_fit.draws.items()}
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
    diagonal = torch.randn((num_draws, mean.shape[0]), generator=generator, dtype=dtype)
    low_rank = torch.randn((num_draws, num_columns), generator=generator, dtype=dtype)
    samples = (
        mean
        + math.sqrt(0.5) * variance.sqrt() * diagonal
        + low_rank @ deviations.T / math.sqrt(2 * max(num_columns - 1, 1))
    )
    draws = {k: v.detach().contiguous() for k, v in unflatten(samples).items()}
    diagnostics = {
        "map_epochs": map_fit.diagnostics["num_epochs"],
        "swag_epochs": swag_epochs,
        "swag_lr": swag_lr,
        "rank": num_columns,
        "swag_loss": history,
        "fit_seconds": time.perf_counter() - start,
        "seed": seed,
    }
    return BaselineFit(model, draws, "swag", diagnostics)
