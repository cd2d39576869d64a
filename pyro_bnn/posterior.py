"""The result of a fit: posterior draws (or a fitted guide) plus diagnostics.

A :class:`Posterior` is what :func:`~pyro_bnn.fit_svi` and :func:`~pyro_bnn.fit_nuts`
return and what :func:`~pyro_bnn.predict` reads. It can be saved to one ``.pt``
file and loaded back without running any code from the file
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

from .nets import BayesianMLP

__all__ = ["Posterior", "GUIDES", "make_guide", "atomic_write"]

FORMAT_VERSION = 1


def _guides():
    from pyro.infer import autoguide

    return {
        "normal": autoguide.AutoNormal,
        "lowrank": autoguide.AutoLowRankMultivariateNormal,
        "mvn": autoguide.AutoMultivariateNormal,
        "delta": autoguide.AutoDelta,
    }


GUIDES = ("normal", "lowrank", "mvn", "delta")


def make_guide(model: Callable, guide: str, init_loc_fn=None, init_scale: float = 0.05, rank=None):
    """Build the autoguide named ``guide`` for ``model``.

    ``"normal"``: :class:`~pyro.infer.autoguide.AutoNormal` (mean field, Bayes by
    Backprop); ``"lowrank"``: AutoLowRankMultivariateNormal; ``"mvn"``: full-rank
    AutoMultivariateNormal; ``"delta"``: AutoDelta (MAP, a one-draw posterior).
    """
    from pyro.infer.autoguide import init_to_sample

    if guide not in GUIDES:
        raise ValueError(f"unknown guide {guide!r}; valid: {', '.join(GUIDES)}")
    cls = _guides()[guide]
    init_loc_fn = init_loc_fn or init_to_sample
    if guide == "delta":
        return cls(model, init_loc_fn=init_loc_fn)
    if guide == "lowrank":
        return cls(model, init_loc_fn=init_loc_fn, init_scale=init_scale, rank=rank)
    return cls(model, init_loc_fn=init_loc_fn, init_scale=init_scale)


def initialised_guide(model: BayesianMLP, guide: str, **kwargs):
    """A guide for ``model`` with its parameters created (from a prior draw), ready to load."""
    auto_guide = make_guide(model, guide, **kwargs)
    with pyro.poutine.block(), torch.no_grad():
        auto_guide(*model.example_data())
    return auto_guide


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


class Posterior:
    """Posterior of a Bayesian network: draws of every latent site, plus diagnostics.

    Built by :func:`~pyro_bnn.fit_svi` (``method="svi"``, holds the fitted
    guide and samples from it on demand) or :func:`~pyro_bnn.fit_nuts`
    (``method="nuts"``, holds a fixed set of draws); the baselines' draws are held
    under their own names (``"swag"``, ``"ensemble"``, ...).

    Attributes
    ----------
    model : BayesianMLP or callable
        The Pyro model that was fitted.
    method : str
        ``"svi"``, ``"nuts"``, or a baseline's name (fixed draws).
    guide_type : str or None
        The SVI guide name (``"normal"``, ``"lowrank"``, ``"mvn"``, ``"delta"``).
    diagnostics : dict
        JSON-able fit diagnostics (ELBO history for SVI; R-hat, ESS,
        divergences, step size for NUTS; fit time; warnings).
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
    ):
        if not isinstance(method, str) or not method:
            raise ValueError(f"method must be a non-empty string such as 'svi', got {method!r}")
        if guide is None and samples is None:
            raise ValueError("a Posterior needs a fitted guide or a dict of samples")
        if method != "svi" and samples is None:
            raise ValueError(f"a {method!r} posterior holds fixed draws: pass samples=...")
        self.model = model
        self.method = method
        self.guide = guide
        self.guide_type = guide_type
        self.num_chains = num_chains
        self._samples = None if samples is None else {k: v.detach() for k, v in samples.items()}
        self.diagnostics = _to_plain(dict(diagnostics or {}))
        self._draws_cache: dict | None = None

    # --- draws ------------------------------------------------------------------------------
    @property
    def is_point_estimate(self) -> bool:
        """True for a MAP fit (``guide="delta"``): a single draw."""
        return self.guide_type == "delta"

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
        """Draws of every latent site: site → ``(num_draws, *site_shape)``.

        SVI: fresh draws from the guide (a MAP fit always gives one draw). MCMC:
        ``num_draws`` evenly thinned draws (all of them when ``None``).
        """
        if num_draws is not None and (
            isinstance(num_draws, bool) or not isinstance(num_draws, int) or num_draws < 1
        ):
            raise ValueError(f"num_draws must be a positive integer, got {num_draws!r}")
        if self._samples is not None:
            total = next(iter(self._samples.values())).shape[0]
            if num_draws is None or num_draws >= total:
                return self._samples
            index = torch.linspace(0, total - 1, num_draws).round().long()
            return {k: v[index] for k, v in self._samples.items()}
        if self.is_point_estimate:
            with torch.no_grad():
                return {k: v.detach().unsqueeze(0) for k, v in self.guide.median().items()}
        num_draws = num_draws or self.default_num_draws
        with torch.no_grad(), pyro.poutine.block():
            pyro.set_rng_seed(seed)
            samples = Predictive(self.guide, num_samples=num_draws, parallel=True)()
        shapes = self.site_shapes()
        if shapes:  # drop the guide's auxiliary sites (e.g. unconstrained copies)
            samples = {k: v for k, v in samples.items() if k in shapes}
        return {k: self._squeeze_plate_dims(k, v, num_draws) for k, v in samples.items()}

    def _squeeze_plate_dims(self, name: str, value: torch.Tensor, num_draws: int):
        shapes = self.site_shapes()
        if name in shapes:
            return value.reshape((num_draws, *shapes[name]))
        return value

    def site_shapes(self) -> dict[str, tuple[int, ...]]:
        """Event shape of every latent site (for a :class:`BayesianMLP`; else from the draws)."""
        if isinstance(self.model, BayesianMLP):
            return {site.name: site.shape for site in self.model.latent_sites}
        if self._samples is not None:
            return {k: tuple(v.shape[1:]) for k, v in self._samples.items()}
        return {}

    # --- save / load -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the posterior to ``path`` (atomically; the model is stored by its configuration).

        A posterior of a user-written model stores its current draws instead of the
        guide; :meth:`load` then needs that model passed back in.
        """
        payload = {
            "format": "pyro_bnn.Posterior",
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "guide_type": self.guide_type,
            "num_chains": self.num_chains,
            "diagnostics": self.diagnostics,
            "model_config": self.model.to_config() if isinstance(self.model, BayesianMLP) else None,
        }
        if self._samples is not None or not isinstance(self.model, BayesianMLP):
            payload["samples"] = {k: v.cpu() for k, v in self.draws.items()}
        else:
            payload["guide_state"] = {
                k: v.detach().cpu() for k, v in self.guide.state_dict().items()
            }
        atomic_write(path, lambda tmp: torch.save(payload, tmp))

    @classmethod
    def load(cls, path: str | os.PathLike, model: Callable | None = None, device=None) -> Posterior:
        """Read a posterior written by :meth:`save`.

        ``model`` is needed only for user-written models (a :class:`BayesianMLP`
        is rebuilt from the stored configuration). ``device`` maps tensors there.
        Raises ``ValueError`` naming the file when it is missing, corrupt or not a
        pyro_bnn posterior.
        """
        from .inference.common import resolve_device

        device = resolve_device(device) if device is not None else None
        path = Path(path)
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
        if payload.get("format_version", math.inf) > FORMAT_VERSION:
            raise ValueError(
                f"{path} was written by a newer pyro_bnn (format "
                f"{payload['format_version']}); upgrade pyro_bnn to read it"
            )
        config = payload.get("model_config")
        if config is not None:
            model = BayesianMLP.from_config(config)
            if device is not None:
                model = model.to(device)
        elif model is None:
            raise ValueError(
                f"{path} holds a posterior of a user-written model; pass it: "
                "Posterior.load(path, model=my_model)"
            )
        common = dict(
            guide_type=payload.get("guide_type"),
            num_chains=payload.get("num_chains", 1),
            diagnostics=payload.get("diagnostics"),
        )
        if "samples" in payload:
            return cls(model, payload["method"], samples=payload["samples"], **common)
        guide = initialised_guide(model, payload["guide_type"])
        try:
            guide.load_state_dict(payload["guide_state"])
        except (RuntimeError, KeyError) as error:
            raise ValueError(f"{path}: the stored guide does not fit its model: {error}") from None
        return cls(model, payload["method"], guide=guide, **common)

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
