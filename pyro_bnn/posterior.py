"""The result of a fit: posterior draws (or a fitted guide) plus everything to predict.

A :class:`Posterior` is what :func:`~pyro_bnn.fit_svi`, :func:`~pyro_bnn.fit_nuts` and
the baselines return and what :func:`~pyro_bnn.predict` reads. It owns its state:
the guide's parameters and the model's ``pyro.param`` values live in its own
parameter-store state (never in Pyro's global store), together with the data
scaler, so two posteriors in one process never touch each other. It can be saved
to one ``.pt`` file and loaded back without running any code from the file
(``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pyro
import torch
from pyro.infer import Predictive
from pyro.poutine.util import site_is_subsample

from .guides import GUIDES, initialised_guide, make_guide  # noqa: F401 (re-exported)
from .isolation import local_rng, new_param_state, own_copies, param_scope
from .nets import BayesianMLP
from .validation import check_positive_int

__all__ = ["Posterior", "GUIDES", "make_guide", "atomic_write", "latent_site_shapes"]

FORMAT_VERSION = 2


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then rename it over ``path``.

    An interrupted write never leaves a half-written ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)  # mkstemp creates 0600 files: give the usual permissions
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _to_plain(value):
    """Diagnostics → JSON-able plain data (tensors become floats or lists)."""
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    return value


def model_trace(model: Callable, args: tuple, param_state: dict | None = None, guide=None):
    """Trace of ``model(*args)`` (replayed on a guide draw when ``guide`` is given), privately.

    Runs in ``param_state`` (a fresh store when ``None``), without gradients and
    with a fixed seed, so nothing outside changes.
    """
    state = new_param_state() if param_state is None else param_state
    with param_scope(state), local_rng(0), torch.no_grad(), pyro.poutine.block():
        if guide is not None:
            guide_trace = pyro.poutine.trace(guide).get_trace(*args)
            model = pyro.poutine.replay(model, trace=guide_trace)
        return pyro.poutine.trace(model).get_trace(*args)


def latent_site_shapes(trace) -> dict[str, tuple[int, ...]]:
    """Shapes of the latent sites of a model trace (not observed, subsample or deterministic)."""
    return {
        name: tuple(site["value"].shape)
        for name, site in trace.nodes.items()
        if site["type"] == "sample"
        and not site["is_observed"]
        and not site_is_subsample(site)
        and not site["infer"].get("_deterministic", False)
    }


class Posterior:
    """Posterior of a Bayesian network: draws of every latent site, plus what predicting needs.

    Built by :func:`~pyro_bnn.fit_svi` (``method="svi"``: holds the fitted guide and
    samples from it on demand), :func:`~pyro_bnn.fit_nuts` (``method="nuts"``: a fixed
    set of draws) or a baseline (fixed draws under the baseline's name).

    Attributes
    ----------
    model : BayesianMLP or callable
        The Pyro model that was fitted (the posterior's own copy).
    method : str
        ``"svi"``, ``"nuts"``, or a baseline's name (fixed draws).
    guide : callable or None
        The fitted SVI guide (an autoguide or the user's guide).
    guide_type : str or None
        ``"normal"``, ``"lowrank"``, ``"mvn"``, ``"delta"``, or the class name of a
        user-supplied guide.
    scaler : Standardizer or None
        The training data's standardization (``fit_*(..., standardize=True)``):
        :func:`~pyro_bnn.predict` takes and returns original units. Draws are in the
        model's (standardized) units.
    obs_site : str
        Name of the model's observed sample site.
    diagnostics : dict
        JSON-able fit diagnostics (ELBO history for SVI; R-hat, ESS, E-BFMI,
        divergences, step size and ``function_space`` for NUTS; fit time; warnings).
    sample_stats : dict or None
        NUTS: per-draw sampler statistics ``(C, S)`` by ArviZ's names (``diverging``,
        ``tree_depth``, ``n_steps``, ``energy``, ``step_size``, ``lp``,
        ``acceptance_rate``); saved with the posterior. None for other fits.
    training_data : tuple or None
        ``(x, y)`` the fit saw, in your units, kept in memory only (not saved):
        the default data of :meth:`to_inference_data` and :func:`~pyro_bnn.compare`.
    """

    default_num_draws = 1000

    def __init__(
        self,
        model: Callable,
        method: str,
        *,
        guide=None,
        guide_type: str | None = None,
        samples: Mapping[str, torch.Tensor] | None = None,
        num_chains: int = 1,
        diagnostics: Mapping | None = None,
        param_state: dict | None = None,
        scaler=None,
        example_data: tuple | None = None,
        latent_shapes: Mapping[str, tuple[int, ...]] | None = None,
        obs_site: str = "obs",
        guide_options: Mapping | None = None,
        sample_stats: Mapping[str, torch.Tensor] | None = None,
    ):
        if not isinstance(method, str) or not method:
            raise ValueError(f"method must be a non-empty string such as 'svi', got {method!r}")
        if guide is None and samples is None:
            raise ValueError("a Posterior needs a fitted guide or a dict of samples")
        if method != "svi" and samples is None:
            raise ValueError(f"a {method!r} posterior holds fixed draws: pass samples=...")
        if guide is not None and not callable(guide):
            raise TypeError(f"guide must be callable (a Pyro guide), got {type(guide).__name__}")
        self.model = model
        self.method = method
        self.guide = guide
        self.guide_type = guide_type
        self.guide_options = dict(guide_options or {})
        self.num_chains = num_chains
        self.scaler = scaler
        self.obs_site = obs_site
        self._samples = None if samples is None else {k: v.detach() for k, v in samples.items()}
        self.diagnostics = _to_plain(dict(diagnostics or {}))
        self.sample_stats = (
            None if sample_stats is None else {k: v.detach() for k, v in sample_stats.items()}
        )
        self.training_data: tuple | None = None
        self._draws_cache: dict | None = None
        if example_data is None and isinstance(model, BayesianMLP):
            example_data = model.example_data()
        self.example_data = None if example_data is None else tuple(example_data)
        if param_state is None:
            param_state = self._capture_param_state()
        self._param_state = param_state
        if latent_shapes is None:
            latent_shapes = self._find_latent_shapes()
        self.latent_shapes = {k: tuple(v) for k, v in latent_shapes.items()}

    def _capture_param_state(self) -> dict:
        """A private store holding the guide's (and model's) current parameters."""
        state = new_param_state()
        if self.guide is not None and self.example_data is not None:
            model_trace(self.model, self.example_data, state, guide=self.guide)
        return state

    def _find_latent_shapes(self) -> dict[str, tuple[int, ...]]:
        if isinstance(self.model, BayesianMLP):
            return {site.name: tuple(site.shape) for site in self.model.latent_sites}
        if self._samples is not None:
            return {k: tuple(v.shape[1:]) for k, v in self._samples.items()}
        if self.example_data is None:
            raise ValueError("a Posterior of a user-written model needs example_data=(x, y)")
        return latent_site_shapes(model_trace(self.model, self.example_data, self._param_state))

    def param_scope(self):
        """Context manager: Pyro's parameter store holds this posterior's parameters only.

        Use it to call the model or guide yourself::

            with post.param_scope():
                trace = pyro.poutine.trace(post.guide).get_trace(x)
        """
        return param_scope(self._param_state)

    @property
    def params(self) -> dict[str, torch.Tensor]:
        """The posterior's Pyro parameters (guide and model), constrained: name → tensor."""
        with self.param_scope():
            store = pyro.get_param_store()
            return {name: store[name].detach() for name in store.keys()}

    # --- draws ------------------------------------------------------------------------------
    @property
    def is_point_estimate(self) -> bool:
        """True for a MAP fit (``guide="delta"`` or an ``AutoDelta``): a single draw."""
        from pyro.infer.autoguide import AutoDelta

        return self.guide_type == "delta" or isinstance(self.guide, AutoDelta)

    @property
    def num_draws(self) -> int:
        """Number of draws in :attr:`draws`."""
        return next(iter(self.draws.values())).shape[0]

    @property
    def draws(self) -> dict[str, torch.Tensor]:
        """Dict site → tensor ``(S, *site_shape)``; chains are merged chain after chain.

        For SVI, ``S = default_num_draws`` fresh draws from the guide (seed 0),
        computed once; use :meth:`sample` for another number or seed.
        """
        if self._samples is not None:
            return self._samples
        if self._draws_cache is None:
            self._draws_cache = self.sample(self.default_num_draws, seed=0)
        return self._draws_cache

    def chains(self) -> dict[str, torch.Tensor]:
        """MCMC draws with the chain dimension kept: site → ``(C, S/C, *site_shape)``."""
        if self._samples is None:
            raise ValueError("an SVI posterior has no chains; use .draws or .sample()")
        return {k: v.reshape((self.num_chains, -1) + v.shape[1:]) for k, v in self._samples.items()}

    def sample(self, num_draws: int | None = None, seed: int = 0) -> dict[str, torch.Tensor]:
        """Draws of every latent site of the model: site → ``(num_draws, *site_shape)``.

        SVI: fresh draws from the guide (a MAP fit always gives one draw). MCMC:
        ``num_draws`` evenly thinned draws (all of them when ``None``). The global
        random streams are not touched.
        """
        num_draws = check_positive_int(num_draws, "num_draws", allow_none=True)
        if self._samples is not None:
            total = next(iter(self._samples.values())).shape[0]
            if num_draws is None or num_draws >= total:
                return self._samples
            index = torch.linspace(0, total - 1, num_draws).round().long()
            return {k: v[index] for k, v in self._samples.items()}
        if self.is_point_estimate:
            num_draws = 1
        num_draws = num_draws or self.default_num_draws
        args = self.example_data or ()
        with self.param_scope(), local_rng(seed), torch.no_grad(), pyro.poutine.block():
            try:
                samples = Predictive(self.guide, num_samples=num_draws, parallel=True)(*args)
            except (RuntimeError, ValueError, NotImplementedError):
                # a guide that does not vectorize over draws: one draw at a time
                samples = Predictive(self.guide, num_samples=num_draws)(*args)
        return {
            name: samples[name].detach().reshape((num_draws, *shape))
            for name, shape in self.latent_shapes.items()
            if name in samples
        }

    # --- save / load -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write everything :func:`~pyro_bnn.predict` needs to ``path`` (atomically).

        Stored: the draws (MCMC, baselines) or the guide's parameters (SVI), every
        ``pyro.param`` of the model, the plain ``nn.Parameter`` values of a model or
        guide that is an ``nn.Module``, the scaler and the diagnostics. A
        :class:`BayesianMLP` is stored by its configuration; a user-written model
        (and a user-supplied guide) must be passed back to :meth:`load`.
        """
        is_mlp = isinstance(self.model, BayesianMLP)
        payload = {
            "format": "pyro_bnn.Posterior",
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "guide_type": self.guide_type,
            "guide_options": dict(self.guide_options),
            "num_chains": self.num_chains,
            "diagnostics": self.diagnostics,
            "model_config": self.model.to_config() if is_mlp else None,
            "model_name": type(self.model).__name__,
            "obs_site": self.obs_site,
            "latent_shapes": {k: list(v) for k, v in self.latent_shapes.items()},
            "example_data": None
            if self.example_data is None
            else [value.cpu() for value in self.example_data],
            "scaler": None if self.scaler is None else self.scaler.to_dict(),
            "params": {
                name: value.detach().cpu().clone()
                for name, value in self._param_state["params"].items()
            },
            "model_state": _module_state(self.model) if not is_mlp else None,
            "guide_state": _module_state(self.guide),
            "samples": None
            if self._samples is None
            else {k: v.cpu() for k, v in self._samples.items()},
            "sample_stats": None
            if self.sample_stats is None
            else {k: v.cpu() for k, v in self.sample_stats.items()},
        }
        atomic_write(path, lambda tmp: torch.save(payload, tmp))

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        model: Callable | None = None,
        guide: Callable | None = None,
        device=None,
    ) -> Posterior:
        """Read a posterior written by :meth:`save`.

        ``model`` is needed for user-written models (a :class:`BayesianMLP` is rebuilt
        from the stored configuration), ``guide`` for an SVI fit with a user-supplied
        guide (pass a fresh one built the same way). Both are copied, not changed.
        ``device`` maps tensors there. Raises ``ValueError`` naming the file when it is
        missing, corrupt, not a pyro_bnn posterior, or from another model.
        """
        from .inference.common import resolve_device

        device = resolve_device(device) if device is not None else None
        payload = _read_payload(Path(path), device)
        config = payload.get("model_config")
        if config is not None:
            model = BayesianMLP.from_config(config)
            if device is not None:
                model = model.to(device)
        elif model is None:
            raise ValueError(
                f"{path} holds a posterior of a user-written model "
                f"({payload.get('model_name')}); pass it: Posterior.load(path, model=my_model)"
            )
        else:
            model, guide = own_copies(model, guide)
        guide_type = payload.get("guide_type")
        if payload["method"] == "svi" and guide is None:
            if guide_type not in GUIDES:
                raise ValueError(
                    f"{path} was fitted with your own guide ({guide_type}); pass a fresh one "
                    "built the same way: Posterior.load(path, model=my_model, guide=my_guide)"
                )
            guide = make_guide(model, guide_type, **payload.get("guide_options", {}))
        example_data = payload.get("example_data")
        if example_data is None and isinstance(model, BayesianMLP):
            example_data = model.example_data()
        param_state = _restore_params(path, payload, model, guide, example_data)
        posterior = cls(
            model,
            payload["method"],
            guide=guide,
            guide_type=guide_type,
            guide_options=payload.get("guide_options"),
            samples=payload.get("samples"),
            num_chains=payload.get("num_chains", 1),
            diagnostics=payload.get("diagnostics"),
            param_state=param_state,
            scaler=_scaler_from(payload.get("scaler")),
            example_data=example_data,
            latent_shapes={k: tuple(v) for k, v in payload["latent_shapes"].items()},
            obs_site=payload.get("obs_site", "obs"),
            sample_stats=payload.get("sample_stats"),
        )
        posterior._check_fits_model(path)
        return posterior

    def _check_fits_model(self, path) -> None:
        """Raise ``ValueError`` when the stored latent sites are not the model's."""
        if isinstance(self.model, BayesianMLP) or self.example_data is None:
            return
        try:
            trace = model_trace(self.model, self.example_data, self._param_state, guide=self.guide)
        except Exception as error:  # the user's model may raise anything on a foreign state
            raise ValueError(
                f"{path} does not fit the model passed to load(): running it with the stored "
                f"parameters failed ({type(error).__name__}: {error})"
            ) from None
        found = latent_site_shapes(trace)
        if set(found) != set(self.latent_shapes):
            raise ValueError(
                f"{path} does not fit the model passed to load(): the file has latent sites "
                f"{sorted(self.latent_shapes)}, the model {sorted(found)}"
            )

    def to_inference_data(self, x=None, y=None, posterior_predictive: bool = False, seed: int = 0):
        """This posterior as an :class:`arviz.InferenceData` (the ``arviz`` extra).

        Needs ``pip install "pyro-bnn[arviz]"``.

        Groups ``posterior`` (chain, draw), ``sample_stats`` (NUTS), ``log_likelihood``
        (pointwise, observed site, in your units), ``observed_data``, ``constant_data``
        and, when asked, ``posterior_predictive``. ``x``, ``y`` default to the data the
        fit saw (kept in memory only; a loaded posterior needs them passed). See
        :func:`pyro_bnn.workflow.to_inference_data`.

        Example
        -------
        >>> idata = post.to_inference_data()  # doctest: +SKIP
        >>> az.loo(idata)  # doctest: +SKIP
        """
        from .workflow import to_inference_data

        return to_inference_data(self, x, y, posterior_predictive=posterior_predictive, seed=seed)

    def summary(self, hdi_prob: float = 0.94):
        """Table like ``az.summary`` (a pandas DataFrame indexed by parameter element, e.g.
        ``sigma``, ``layers.0.weight[0, 1]``): ``mean``, ``sd``, HDI bounds, ``mcse_mean``,
        ``ess_bulk``, ``ess_tail``, ``r_hat`` (rank-normalised; NaN for one chain, as in
        ArviZ). Equal to ArviZ's on the same draws; ArviZ is not needed.
        See :func:`pyro_bnn.workflow.summary`.
        """
        from .workflow import summary

        return summary(self, hdi_prob=hdi_prob)

    def to_arviz_dict(self) -> dict[str, dict]:
        """Draws as ``{"posterior": {site: (chains, draws, ...)}}`` for ``arviz.from_dict``."""
        if self._samples is not None:
            grouped = self.chains()
        else:
            grouped = {k: v.unsqueeze(0) for k, v in self.draws.items()}
        return {"posterior": {k: v.cpu().numpy() for k, v in grouped.items()}}

    def __repr__(self) -> str:
        if self.method == "svi":
            kind = f"svi/{self.guide_type}"
        elif self.method == "nuts":
            kind = f"nuts x{self.num_chains}"
        else:
            kind = f"{self.method}, {self.num_draws} draws"
        return f"Posterior({kind}, model={type(self.model).__name__})"


def _module_state(module) -> dict | None:
    if not isinstance(module, torch.nn.Module):
        return None
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _scaler_from(values):
    if values is None:
        return None
    from .data import Standardizer

    return Standardizer.from_dict(values)


def _read_payload(path: Path, device) -> dict:
    if not path.is_file():
        raise ValueError(f"posterior file {path} does not exist")
    try:
        payload = torch.load(path, map_location=device or "cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for corrupt files
        raise ValueError(
            f"{path} is not a readable pyro_bnn posterior file (corrupt or truncated?): "
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != "pyro_bnn.Posterior":
        raise ValueError(f"{path} is not a pyro_bnn posterior file")
    version = payload.get("format_version", math.inf)
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by a newer pyro_bnn (format {version}); upgrade pyro_bnn"
        )
    if version < FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by an older pyro_bnn (format {version}), which kept its "
            "parameters in Pyro's global store; refit and save it again"
        )
    return payload


def _restore_params(path, payload: dict, model, guide, example_data) -> dict:
    """A private parameter store with the file's values, checked against a fresh model/guide.

    The model (and guide) run once in an empty store to create their parameters
    with the right constraints and shapes; the stored values are then copied in.
    """
    for module, key in ((model, "model_state"), (guide, "guide_state")):
        stored = payload.get(key)
        if stored is None or not isinstance(module, torch.nn.Module):
            continue
        if isinstance(module, BayesianMLP):
            continue
        try:
            if key == "guide_state" and example_data is not None:
                model_trace(model, example_data, guide=module)  # autoguides create params lazily
            module.load_state_dict(stored)
        except (RuntimeError, KeyError) as error:
            raise ValueError(
                f"{path} does not fit the {key.split('_')[0]} passed to load(): "
                + " ".join(str(error).split())
            ) from None
    state = new_param_state()
    if example_data is not None:
        try:
            model_trace(
                model, example_data, state, guide=guide if payload["method"] == "svi" else None
            )
        except Exception as error:
            raise ValueError(
                f"{path} does not fit the model passed to load(): running it failed "
                f"({type(error).__name__}: {error})"
            ) from None
    stored = payload.get("params", {})
    created = state["params"]
    missing = sorted(set(created) - set(stored))
    extra = sorted(set(stored) - set(created))
    wrong = sorted(
        f"{name} {tuple(stored[name].shape)} vs {tuple(created[name].shape)}"
        for name in set(stored) & set(created)
        if stored[name].shape != created[name].shape
    )
    if missing or extra or wrong:
        details = "; ".join(
            part
            for part in (
                f"not in the file: {', '.join(missing)}" if missing else "",
                f"not in the model/guide: {', '.join(extra)}" if extra else "",
                f"shapes differ: {', '.join(wrong)}" if wrong else "",
            )
            if part
        )
        raise ValueError(f"{path} does not fit the model/guide passed to load(): {details}")
    with torch.no_grad():
        for name, value in stored.items():
            created[name].copy_(value.to(created[name]))
    return state
