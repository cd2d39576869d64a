"""Model files: TOML → a validated :class:`ModelSpec` → model, data and fit settings.

A model file has up to five sections (every key is optional unless said so; the
defaults are listed in :data:`SCHEMA` and by ``pyro-bnn fit --help``)::

    # Gap data: bands widen where there is no data.   <- first comment = description
    [model]
    task = "regression"          # or "classification"
    hidden = [20]                # [] is Bayesian linear / logistic regression
    activation = "tanh"
    prior = "layerwise"          # "iid", "hierarchical"
    likelihood = "gaussian"      # "heteroscedastic", "studentt", "poisson",
                                 # "bernoulli", "categorical"
    [data]
    source = "toy:gap"           # "sklearn:<name>", "csv:<path>", "uci:<folder>" (required)
    target = "price"             # csv: the target column; text columns are one-hot encoded
    exclude = ["id"]             # csv: columns that are not inputs
    standardize = true
    test_fraction = 0.2
    [inference]
    method = "svi"               # or "nuts"
    guide = "lowrank"
    num_steps = 3000
    [predict]
    num_draws = 1000
    [plots]
    kinds = ["uncertainty", "diagnostics", "calibration"]

Unknown sections or keys, wrong types and out-of-range values raise
:class:`SpecError` (a ``ValueError``) naming the file, the key and the valid
choices, with a "did you mean ...?" suggestion. Sizes of the network's input
and output come from the data, never from the file.

Relative paths in ``csv:`` and ``uci:`` sources are looked up, in this order,
against the current directory, the model file's folder and that folder's parent
(so ``uci:../shared/data/uci/yacht`` in ``models/uci_regression.toml`` works
both from the repository root and from anywhere else); the first that exists
wins. The resolved spec (:meth:`ModelSpec.to_toml`) records the absolute path.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .plots.kinds import PLOT_KINDS

__all__ = [
    "SpecError",
    "ModelSpec",
    "SCHEMA",
    "SECTIONS",
    "load_spec",
    "parse_spec",
    "parse_override",
    "to_toml",
    "describe_model_file",
]

SECTIONS = ("model", "data", "inference", "predict", "plots")
TASKS = ("regression", "classification")
PRIOR_NAMES = ("layerwise", "iid", "hierarchical")
LIKELIHOOD_NAMES = (
    "gaussian",
    "heteroscedastic",
    "studentt",
    "poisson",
    "bernoulli",
    "categorical",
)
LIKELIHOOD_TASK = {
    "gaussian": "regression",
    "heteroscedastic": "regression",
    "studentt": "regression",
    "poisson": "regression",
    "bernoulli": "classification",
    "categorical": "classification",
}


class SpecError(ValueError):
    """A model file (or a ``--set`` override) is invalid; the message names the key."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --------------------------------------------------------------------------- schema


class _Invalid(Exception):
    """Raised by a key check with the description of what was expected."""


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


@dataclass(frozen=True)
class Key:
    """One key of a section: its kind, default, limits and a one-line help.

    ``kind`` is one of ``int``, ``float``, ``bool``, ``str``, ``choice``,
    ``int_list``, ``str_list``, ``choice_list``, ``points`` (a list of lists of
    numbers) or ``sigma`` (a positive float or the string ``"learned"``).
    ``default=None`` means "absent unless given".
    """

    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False

    def _range_text(self) -> str:
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.exclusive_min else '>='} {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"{'<' if self.exclusive_max else '<='} {self.maximum:g}")
        return " and ".join(parts)

    def expected(self) -> str:
        """Plain-words description of a valid value."""
        rng = self._range_text()
        rng = f" {rng}" if rng else ""
        return {
            "int": f"an integer{rng}",
            "float": f"a number{rng}",
            "bool": "true or false",
            "str": "a string",
            "choice": "one of " + ", ".join(f"'{c}'" for c in self.choices),
            "int_list": f"a list of integers{rng} (e.g. [20] or [])",
            "str_list": 'a list of strings (e.g. ["a", "b"])',
            "choice_list": "a list with items from " + ", ".join(f"'{c}'" for c in self.choices),
            "points": "a list of points, each a list of numbers (e.g. [[5.0, 7.0]])",
            "sigma": f"a number{rng} or the string 'learned'",
        }[self.kind]

    def _check_number(self, value: Any, integer: bool) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid(self.expected())
        if integer and not isinstance(value, int):
            raise _Invalid(self.expected())
        if not integer:
            value = float(value)
            if not math.isfinite(value):
                raise _Invalid(self.expected())
        if self.minimum is not None:
            if value < self.minimum or (self.exclusive_min and value == self.minimum):
                raise _Invalid(self.expected())
        if self.maximum is not None:
            if value > self.maximum or (self.exclusive_max and value == self.maximum):
                raise _Invalid(self.expected())
        return value

    def check(self, value: Any) -> Any:
        """Return the validated (and normalised) value or raise ``_Invalid``."""
        kind = self.kind
        if kind == "int":
            return self._check_number(value, integer=True)
        if kind == "float":
            return self._check_number(value, integer=False)
        if kind == "sigma":
            if value == "learned":
                return value
            return self._check_number(value, integer=False)
        if kind == "bool":
            if not isinstance(value, bool):
                raise _Invalid(self.expected())
            return value
        if kind == "str":
            if not isinstance(value, str) or not value.strip():
                raise _Invalid("a non-empty string")
            return value
        if kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                hint = did_you_mean(value, self.choices) if isinstance(value, str) else ""
                raise _Invalid(self.expected() + hint)
            return value
        if not isinstance(value, list):
            raise _Invalid(self.expected())
        if kind == "int_list":
            return [self._check_number(item, integer=True) for item in value]
        if kind == "str_list":
            if not value or not all(isinstance(item, str) and item for item in value):
                raise _Invalid("a non-empty list of non-empty strings")
            return list(value)
        if kind == "choice_list":
            for item in value:
                if not isinstance(item, str) or item not in self.choices:
                    hint = did_you_mean(item, self.choices) if isinstance(item, str) else ""
                    raise _Invalid(self.expected() + hint)
            return list(dict.fromkeys(value))
        if kind == "points":
            points = []
            for item in value:
                if not isinstance(item, list) or not item:
                    raise _Invalid(self.expected())
                point = []
                for number in item:
                    if isinstance(number, bool) or not isinstance(number, int | float):
                        raise _Invalid(self.expected())
                    if not math.isfinite(number):
                        raise _Invalid(self.expected())
                    point.append(float(number))
                points.append(point)
            if len({len(p) for p in points}) > 1:
                raise _Invalid(self.expected() + " of equal length")
            return points
        raise AssertionError(f"unknown key kind {kind}")  # pragma: no cover


def _positive(help_text: str, default: float | None) -> Key:
    return Key("float", default, help_text, minimum=0.0, exclusive_min=True)


#: Every section, key, default and limit of a model file.
SCHEMA: dict[str, dict[str, Key]] = {
    "model": {
        "task": Key("choice", "regression", "what is predicted", choices=TASKS),
        "hidden": Key("int_list", [20], "hidden layer widths; [] = linear model", minimum=1),
        "activation": Key(
            "choice",
            "tanh",
            "hidden-layer activation",
            choices=("tanh", "relu", "gelu", "silu", "sigmoid"),
        ),
        "prior": Key(
            "choice",
            "layerwise",
            "weight prior: layerwise N(0, prior_scale^2/fan_in), iid N(0, prior_scale^2), "
            "or hierarchical (a learned scale per layer)",
            choices=PRIOR_NAMES,
        ),
        "prior_scale": _positive("scale of the weight prior", 1.0),
        "bias_scale": _positive("prior std of the biases (layerwise, hierarchical)", 1.0),
        "likelihood": Key(
            "choice",
            None,
            "observation model (default: gaussian for regression, categorical for classification)",
            choices=LIKELIHOOD_NAMES,
        ),
        "sigma": Key(
            "sigma",
            "learned",
            "noise std (gaussian, studentt), in standardized units if the data is standardized",
            minimum=0.0,
            exclusive_min=True,
        ),
        "sigma_prior_scale": _positive("HalfNormal prior scale of a learned sigma", 1.0),
        "df": _positive("degrees of freedom (studentt)", 4.0),
        "min_scale": _positive("smallest noise std (heteroscedastic)", 1e-3),
    },
    "data": {
        "source": Key(
            "str", None, "toy:<name>, sklearn:<name>, csv:<path> or uci:<folder> (required)"
        ),
        "target": Key("str", None, "target column of a csv: source"),
        "features": Key("str_list", None, "input columns of a csv: source (default: all others)"),
        "exclude": Key(
            "str_list", None, "columns of a csv: source that are not inputs (e.g. an id column)"
        ),
        "categorical": Key(
            "str_list",
            None,
            "columns of a csv: source to one-hot encode although they hold numbers "
            "(text columns are one-hot encoded anyway)",
        ),
        "standardize": Key("bool", True, "standardize inputs and (regression) targets"),
        "test_fraction": Key(
            "float",
            0.2,
            "held-out fraction when the source has no test part (0 = none)",
            minimum=0.0,
            maximum=1.0,
            exclusive_max=True,
        ),
        "split": Key("int", 0, "split index of a uci: source", minimum=0),
        "seed": Key("int", 0, "seed of toy data and of the train/test split"),
        "num_points": Key("int", None, "number of points of a toy: source", minimum=2),
        "noise": Key("float", None, "noise level of a toy: source", minimum=0.0),
    },
    "inference": {
        "method": Key("choice", "svi", "inference engine", choices=("svi", "nuts")),
        "seed": Key("int", 0, "seed of the fit and of the predictions"),
        "dtype": Key(
            "choice", "float32", "floating point precision", choices=("float32", "float64")
        ),
        "guide": Key(
            "choice", "normal", "SVI guide", choices=("normal", "lowrank", "mvn", "delta")
        ),
        "num_steps": Key("int", 3000, "SVI optimisation steps", minimum=1),
        "lr": _positive("SVI initial learning rate", 1e-2),
        "lr_decay": Key(
            "float",
            0.1,
            "SVI learning rate at the end as a fraction of lr",
            minimum=0.0,
            maximum=1.0,
            exclusive_min=True,
        ),
        "batch_size": Key("int", None, "SVI minibatch size (default: full batch)", minimum=1),
        "num_particles": Key("int", 1, "SVI ELBO particles", minimum=1),
        "init_scale": _positive("SVI initial guide std", 0.05),
        "rank": Key("int", None, "rank of the lowrank guide", minimum=1),
        "num_samples": Key("int", 500, "NUTS draws kept per chain", minimum=1),
        "warmup_steps": Key("int", 500, "NUTS warm-up steps per chain", minimum=0),
        "num_chains": Key("int", 1, "NUTS chains", minimum=1),
        "target_accept_prob": Key(
            "float",
            0.8,
            "NUTS target acceptance probability",
            minimum=0.0,
            maximum=1.0,
            exclusive_min=True,
            exclusive_max=True,
        ),
        "max_tree_depth": Key("int", 10, "NUTS maximum tree depth", minimum=1),
        "init": Key(
            "choice", "map", "NUTS start: a MAP fit or a prior draw", choices=("map", "prior")
        ),
    },
    "predict": {
        "num_draws": Key("int", 1000, "posterior draws per prediction", minimum=1),
        "level": Key(
            "float",
            0.9,
            "central interval level in predictions.csv and plots",
            minimum=0.0,
            maximum=1.0,
            exclusive_min=True,
            exclusive_max=True,
        ),
        "grid": Key("int", 200, "grid points per axis of the uncertainty plot", minimum=2),
        "margin": Key(
            "float", 0.25, "plot range beyond the data, as a fraction of its span", minimum=0.0
        ),
        "query_points": Key(
            "points", None, "extra inputs to report (default: the toy set's query points)"
        ),
    },
    "plots": {
        "enabled": Key("bool", True, "draw plots into the run directory"),
        "kinds": Key("choice_list", list(PLOT_KINDS), "which plots", choices=PLOT_KINDS),
        "dpi": Key("int", 120, "resolution of the PNG files", minimum=20, maximum=1200),
        "function_draws": Key(
            "int", 20, "posterior function draws shown in 1-D regression plots", minimum=0
        ),
    },
}

# Model keys that only mean something for some likelihoods / priors.
_LIKELIHOOD_KEYS = {
    "sigma": ("gaussian", "studentt"),
    "sigma_prior_scale": ("gaussian", "studentt"),
    "df": ("studentt",),
    "min_scale": ("heteroscedastic",),
}
_PRIOR_KEYS = {"bias_scale": ("layerwise", "hierarchical")}
# Data keys that belong to one kind of source.
_SOURCE_KEYS = {
    "target": ("csv",),
    "features": ("csv",),
    "exclude": ("csv",),
    "categorical": ("csv",),
    "split": ("uci",),
    "num_points": ("toy",),
    "noise": ("toy",),
}
_CSV_KEYS = tuple(key for key, schemes in _SOURCE_KEYS.items() if schemes == ("csv",))
_SVI_KEYS = (
    "guide",
    "num_steps",
    "lr",
    "lr_decay",
    "batch_size",
    "num_particles",
    "init_scale",
    "rank",
)
_NUTS_KEYS = (
    "num_samples",
    "warmup_steps",
    "num_chains",
    "target_accept_prob",
    "max_tree_depth",
    "init",
)


# --------------------------------------------------------------------------- the spec


@dataclass
class ModelSpec:
    """A validated model file: one dict of resolved values per section.

    Attributes
    ----------
    sections : dict
        ``{"model": {...}, "data": {...}, "inference": {...}, "predict": {...},
        "plots": {...}}`` with every key of :data:`SCHEMA`; absent optional keys
        are ``None``.
    path : Path or None
        The model file (relative data paths are resolved against it).
    description : str
        The first line of the file's leading comment.
    explicit : set of (section, key)
        Keys given in the file or by an override (not defaults).
    overridden : set of (section, key)
        Keys set by an override (errors about them name the override).
    """

    sections: dict[str, dict[str, Any]]
    path: Path | None = None
    description: str = ""
    explicit: set[tuple[str, str]] = field(default_factory=set)
    overridden: set[tuple[str, str]] = field(default_factory=set)

    @property
    def model(self) -> dict[str, Any]:
        return self.sections["model"]

    @property
    def data(self) -> dict[str, Any]:
        return self.sections["data"]

    @property
    def inference(self) -> dict[str, Any]:
        return self.sections["inference"]

    @property
    def predict(self) -> dict[str, Any]:
        return self.sections["predict"]

    @property
    def plots(self) -> dict[str, Any]:
        return self.sections["plots"]

    @property
    def task(self) -> str:
        return self.model["task"]

    @property
    def name(self) -> str:
        """The model file's stem (``"spec"`` when there is no file)."""
        return self.path.stem if self.path is not None else "spec"

    def raw(self) -> dict[str, dict[str, Any]]:
        """The explicitly given values, as nested dicts (what :func:`parse_spec` reads)."""
        raw: dict[str, dict[str, Any]] = {}
        for section, key in sorted(self.explicit):
            raw.setdefault(section, {})[key] = copy.deepcopy(self.sections[section][key])
        return raw

    def with_overrides(self, overrides: Mapping[str, Any], origin: str = "--set") -> ModelSpec:
        """Return a new spec with ``{"section.key": value}`` overrides applied and re-validated."""
        raw = self.raw()
        touched = set()
        for dotted, value in overrides.items():
            section, key = _split_dotted(dotted, origin)
            raw.setdefault(section, {})[key] = value
            touched.add((section, key))
        return parse_spec(
            raw,
            path=self.path,
            description=self.description,
            overridden=self.overridden | touched,
            origin=origin,
        )

    def with_data(self, source: str, target: str | None = None) -> ModelSpec:
        """Return a copy reading another data source (``--data``/``--target`` on the CLI).

        Source-specific keys of ``[data]`` (``target``, ``features``, ``exclude``,
        ``categorical``, ``split``, ``num_points``, ``noise``) given in the file are
        dropped, those given by an override (``--set``) are kept if they apply to the new
        source; ``standardize``, ``test_fraction`` and ``seed`` are kept. ``source`` may
        be a source string (``toy:gap``) or a path: a folder is read as ``uci:``,
        anything else as ``csv:``. A relative path is taken relative to the current
        directory. The description becomes :meth:`data_description` (the file's own
        comment describes its own data).
        """
        from ..data import DATA_SCHEMES

        scheme = source.partition(":")[0].strip()
        if scheme not in DATA_SCHEMES:
            path = Path(source).expanduser()
            kind = "uci" if path.is_dir() else "csv"
            source = f"{kind}:{path.absolute()}"
        raw = self.raw()
        data = raw.setdefault("data", {})
        new_scheme = source.partition(":")[0].strip()
        for key, schemes in _SOURCE_KEYS.items():
            # the file's keys belonged to its own data; --set ones stay if they still apply
            if ("data", key) not in self.overridden or new_scheme not in schemes:
                data.pop(key, None)
        data["source"] = source
        touched = {("data", "source")}
        if target is not None:
            data["target"] = target
            touched.add(("data", "target"))
        spec = parse_spec(
            raw,
            path=self.path,
            description=self.description,
            overridden=(self.overridden - {("data", k) for k in _SOURCE_KEYS}) | touched,
            origin="--data/--target",
        )
        spec.description = spec.data_description()
        return spec

    def data_description(self) -> str:
        """A one-line description of the fit made from the data source, used instead of
        the model file's own comment when the data comes from the command line, e.g.
        ``"diabetes.csv: regression of 'target' (model file csv_regression.toml)"``."""
        source = self.data["source"]
        scheme, _, rest = source.partition(":")
        scheme, rest = scheme.strip(), rest.strip()
        target = self.data["target"]
        if scheme == "csv":
            what = f"{Path(rest).name}: {self.task}" + (f" of '{target}'" if target else "")
        elif scheme == "uci":
            what = f"UCI folder '{Path(rest).name}': {self.task}"
        else:
            what = f"{source}: {self.task}"
        return what + (f" (model file {self.path.name})" if self.path is not None else "")

    # --- building objects ---------------------------------------------------------------
    def build_prior(self):
        """The :class:`~pyro_bnn.priors.Prior` of ``[model]``."""
        from ..priors import HierarchicalNormal, IIDNormal, LayerwiseNormal

        m = self.model
        if m["prior"] == "iid":
            return IIDNormal(scale=m["prior_scale"])
        if m["prior"] == "hierarchical":
            return HierarchicalNormal(scale_prior=m["prior_scale"], bias_scale=m["bias_scale"])
        return LayerwiseNormal(weight_scale=m["prior_scale"], bias_scale=m["bias_scale"])

    def build_likelihood(self):
        """The :class:`~pyro_bnn.likelihoods.Likelihood` of ``[model]``."""
        from .. import likelihoods as lk

        m = self.model
        sigma = None if m["sigma"] == "learned" else m["sigma"]
        name = m["likelihood"]
        if name == "gaussian":
            return lk.Gaussian(sigma=sigma, sigma_prior_scale=m["sigma_prior_scale"])
        if name == "studentt":
            return lk.StudentT(df=m["df"], sigma=sigma, sigma_prior_scale=m["sigma_prior_scale"])
        if name == "heteroscedastic":
            return lk.HeteroscedasticGaussian(min_scale=m["min_scale"])
        if name == "poisson":
            return lk.Poisson()
        if name == "bernoulli":
            return lk.Bernoulli()
        return lk.Categorical()

    def build_model(self, in_features: int, num_classes: int | None = None):
        """A :class:`~pyro_bnn.BayesianMLP` sized for the data.

        ``in_features`` is the number of input columns; ``num_classes`` the number
        of classes (classification only: ``Categorical`` gets one output per class,
        ``Bernoulli`` needs exactly two classes).
        """
        from ..nets import BayesianMLP

        likelihood = self.build_likelihood()
        name = self.model["likelihood"]
        out_features = 1
        if self.task == "classification":
            if num_classes is None or num_classes < 2:
                raise SpecError(
                    f"{self._where('model', 'task')}: classification needs at least 2 classes "
                    f"in the data, found {num_classes}"
                )
            if name == "bernoulli":
                if num_classes != 2:
                    raise SpecError(
                        f"{self._where('model', 'likelihood')}: 'bernoulli' needs 2 classes but "
                        f'the data has {num_classes}; use likelihood = "categorical"'
                    )
            else:
                out_features = num_classes
        return BayesianMLP(
            in_features=in_features,
            out_features=out_features,
            hidden=tuple(self.model["hidden"]),
            activation=self.model["activation"],
            prior=self.build_prior(),
            likelihood=likelihood,
        )

    def fit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``fit_svi`` or ``fit_nuts`` (per ``inference.method``)."""
        import torch

        inf = self.inference
        common = {
            "seed": inf["seed"],
            "dtype": torch.float64 if inf["dtype"] == "float64" else torch.float32,
        }
        if inf["method"] == "svi":
            keys = ("guide", "num_steps", "lr", "lr_decay", "batch_size", "num_particles")
            kwargs = {k: inf[k] for k in keys} | {"init_scale": inf["init_scale"]}
            kwargs["rank"] = inf["rank"]
            return common | kwargs
        keys = ("num_samples", "warmup_steps", "num_chains", "target_accept_prob")
        return (
            common
            | {k: inf[k] for k in keys}
            | {
                "max_tree_depth": inf["max_tree_depth"],
                "init": inf["init"],
            }
        )

    # --- data ---------------------------------------------------------------------------
    def resolve_data_path(self, text: str) -> Path:
        """Resolve a relative ``csv:``/``uci:`` path (see the module docstring)."""
        path = Path(text).expanduser()
        if path.is_absolute():
            return path
        candidates = [Path.cwd() / path]
        if self.path is not None:
            folder = self.path.resolve().parent
            candidates += [folder / path, folder.parent / path]
        for candidate in candidates:
            if candidate.exists():
                return candidate.resolve()
        tried = ", ".join(str(c) for c in dict.fromkeys(candidates))
        raise SpecError(f"{self._where('data', 'source')}: '{text}' not found (looked in {tried})")

    def resolved_source(self) -> str:
        """``data.source`` with a relative path made absolute."""
        source = self.data["source"]
        scheme, _, rest = source.partition(":")
        if scheme.strip() in ("csv", "uci"):
            return f"{scheme.strip()}:{self.resolve_data_path(rest.strip())}"
        return source

    def load_dataset(self):
        """Load ``[data]`` and split it: a :class:`~pyro_bnn.data.Dataset` with a test part
        (unless ``test_fraction = 0`` and the source has none)."""
        from ..data import load_source

        d = self.data
        source = self.resolved_source()
        scheme = source.partition(":")[0].strip()
        kwargs: dict[str, Any] = {}
        if scheme == "toy":
            kwargs["seed"] = d["seed"]
            for key in ("num_points", "noise"):
                if d[key] is not None:
                    kwargs[key] = d[key]
        elif scheme == "csv":
            if d["target"] is None:
                raise SpecError(
                    f"{self._where('data', 'target')}: a csv: source needs the target column: "
                    'set [data] target = "<column>" (or --target COLUMN)'
                )
            kwargs = {"target": d["target"], "features": d["features"], "task": self.task}
            for key in ("exclude", "categorical"):
                if d[key] is not None:
                    kwargs[key] = d[key]
        elif scheme == "uci":
            kwargs["split"] = d["split"]
        for key in _CSV_KEYS:
            if d[key] is not None and scheme != "csv" and (("data", key) in self.explicit):
                raise SpecError(
                    f"{self._where('data', key)}: only a csv: source takes '{key}', "
                    f"the source is '{d['source']}'"
                )
        for key in ("num_points", "noise"):
            if d[key] is not None and scheme != "toy":
                raise SpecError(
                    f"{self._where('data', key)}: only a toy: source takes '{key}', "
                    f"the source is '{d['source']}'"
                )
        try:
            dataset = load_source(source, **kwargs)
        except (ValueError, TypeError) as error:
            message = _app_hints(str(error))
            if ("data", "source") in self.overridden:  # --data: the message names the file
                raise SpecError(message) from None
            raise SpecError(f"{self._where('data', 'source')}: {message}") from None
        if dataset.task != self.task:
            raise SpecError(
                f"{self._where('model', 'task')}: the model says task = '{self.task}' but the "
                f"data source '{d['source']}' is a {dataset.task} dataset"
            )
        if not dataset.has_test and d["test_fraction"] > 0:
            dataset = dataset.train_test_split(d["test_fraction"], seed=d["seed"])
        return dataset

    # --- output -------------------------------------------------------------------------
    def to_toml(self, header: str = "") -> str:
        """The fully resolved spec (defaults filled in) as TOML text; absent keys omitted."""
        lines = []
        if self.description:
            lines.append(f"# {self.description}")
        for line in header.splitlines():
            lines.append(f"# {line}" if line else "#")
        sections = {
            section: {k: v for k, v in values.items() if self.is_relevant(section, k)}
            for section, values in copy.deepcopy(self.sections).items()
        }
        if sections["data"]["source"] is not None:
            try:
                sections["data"]["source"] = self.resolved_source()
            except SpecError:
                pass
        body = to_toml(sections)
        return ("\n".join(lines) + "\n\n" if lines else "") + body

    def is_relevant(self, section: str, key: str) -> bool:
        """Whether a key matters for this spec (e.g. ``df`` only for a Student-t likelihood,
        NUTS settings only for ``method = "nuts"``)."""
        if section == "model":
            if key in _LIKELIHOOD_KEYS:
                return self.model["likelihood"] in _LIKELIHOOD_KEYS[key]
            if key in _PRIOR_KEYS:
                return self.model["prior"] in _PRIOR_KEYS[key]
        if section == "inference":
            if key in _SVI_KEYS:
                return self.inference["method"] == "svi"
            if key in _NUTS_KEYS:
                return self.inference["method"] == "nuts"
        return True

    def _where(self, section: str, key: str) -> str:
        return _where(self.path, section, key, (section, key) in self.overridden)


def _app_hints(message: str) -> str:
    """Rewrite the Python-API hints of a data error for model files and the CLI."""
    message = message.replace(
        'for class labels use task="classification"',
        "for class labels fit models/csv_classification.toml (or a model file with "
        '[model] task = "classification")',
    )
    message = re.sub(
        r"exclude=\['([^']*)'\]", r"""--exclude \1 (or [data] exclude = ["\1"])""", message
    )
    return re.sub(
        r"categorical=\['([^']*)'\]",
        r"""--set 'data.categorical=["\1"]' ([data] categorical = ["\1"])""",
        message,
    )


def _where(path: Path | None, section: str, key: str, overridden: bool, origin="--set") -> str:
    if overridden:
        return f"{section}.{key} (set on the command line)"
    name = str(path) if path is not None else "model spec"
    return f"{name}: [{section}] {key}"


def _split_dotted(dotted: str, origin: str) -> tuple[str, str]:
    section, dot, key = dotted.partition(".")
    if not dot or not section or not key or "." in key:
        raise SpecError(
            f"{origin} '{dotted}': expected section.key=value, e.g. inference.num_steps=500"
        )
    if section not in SCHEMA:
        raise SpecError(
            f"{origin} '{dotted}': unknown section '{section}'{did_you_mean(section, SCHEMA)}; "
            f"valid sections: {', '.join(SECTIONS)}"
        )
    if key not in SCHEMA[section]:
        raise SpecError(
            f"{origin} '{dotted}': unknown key '{key}' in [{section}]"
            f"{did_you_mean(key, SCHEMA[section])}; valid keys: {', '.join(SCHEMA[section])}"
        )
    return section, key


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``"section.key=value"`` (value as a TOML literal, else a bare string).

    >>> parse_override("inference.num_steps=500")
    ('inference.num_steps', 500)
    >>> parse_override("inference.guide=lowrank")
    ('inference.guide', 'lowrank')
    """
    dotted, eq, value_text = text.partition("=")
    dotted = dotted.strip()
    if not eq or not dotted:
        raise SpecError(f"--set '{text}': expected section.key=value, e.g. inference.num_steps=500")
    _split_dotted(dotted, "--set")
    value_text = value_text.strip()
    try:
        value = tomllib.loads(f"value = {value_text}")["value"]
    except tomllib.TOMLDecodeError:
        value = value_text
    return dotted, value


def parse_spec(
    raw: Mapping[str, Any],
    path: str | Path | None = None,
    description: str = "",
    overridden: set[tuple[str, str]] | None = None,
    origin: str = "--set",
) -> ModelSpec:
    """Validate a parsed model file (nested dicts) and fill in the defaults.

    ``overridden`` lists the ``(section, key)`` pairs that came from ``--set``;
    errors about them name the override instead of the file.
    """
    path = Path(path) if path is not None else None
    overridden = set(overridden or ())
    name = str(path) if path is not None else "model spec"
    if not isinstance(raw, Mapping):
        raise SpecError(f"{name}: expected a table of sections, found {_type_name(raw)}")
    sections: dict[str, dict[str, Any]] = {}
    explicit: set[tuple[str, str]] = set()
    for section, values in raw.items():
        if section not in SCHEMA:
            raise SpecError(
                f"{name}: unknown section [{section}]{did_you_mean(section, SCHEMA)}; "
                f"valid sections: {', '.join(f'[{s}]' for s in SECTIONS)}"
            )
        if not isinstance(values, Mapping):
            raise SpecError(
                f"{name}: '{section}' must be a section ([{section}] followed by "
                f"key = value lines), found {_type_name(values)}"
            )
        for key, value in values.items():
            keys = SCHEMA[section]
            where = _where(path, section, key, (section, key) in overridden, origin)
            if key not in keys:
                raise SpecError(
                    f"{name}: unknown key '{key}' in [{section}]{did_you_mean(key, keys)}; "
                    f"valid keys: {', '.join(keys)}"
                )
            try:
                checked = keys[key].check(value)
            except _Invalid as invalid:
                raise SpecError(
                    f"{where} must be {invalid}, found {json.dumps(value)} ({_type_name(value)})"
                ) from None
            sections.setdefault(section, {})[key] = checked
            explicit.add((section, key))
    given = sections
    sections = {}
    for section, keys in SCHEMA.items():
        resolved = given.get(section, {})
        sections[section] = {
            key: resolved[key] if key in resolved else copy.deepcopy(spec_key.default)
            for key, spec_key in keys.items()
        }
    spec = ModelSpec(
        sections=sections,
        path=path,
        description=description,
        explicit=explicit,
        overridden=overridden,
    )
    _check_consistency(spec)
    return spec


def _check_consistency(spec: ModelSpec) -> None:
    m = spec.model
    if spec.data["source"] is None:
        raise SpecError(
            f"{spec._where('data', 'source')} is required: where the data comes from, e.g. "
            'source = "toy:gap", "sklearn:digits", "csv:data.csv" or "uci:path/to/folder"'
        )
    if m["likelihood"] is None:
        m["likelihood"] = "gaussian" if m["task"] == "regression" else "categorical"
    elif LIKELIHOOD_TASK[m["likelihood"]] != m["task"]:
        valid = [name for name, task in LIKELIHOOD_TASK.items() if task == m["task"]]
        raise SpecError(
            f"{spec._where('model', 'likelihood')}: '{m['likelihood']}' is a "
            f"{LIKELIHOOD_TASK[m['likelihood']]} likelihood but task = '{m['task']}'; "
            f"valid for {m['task']}: {', '.join(valid)}"
        )
    for key, likelihoods in _LIKELIHOOD_KEYS.items():
        if ("model", key) in spec.explicit and m["likelihood"] not in likelihoods:
            raise SpecError(
                f"{spec._where('model', key)} applies to likelihood "
                f"{' or '.join(repr(n) for n in likelihoods)} only, not '{m['likelihood']}'"
            )
    for key, priors in _PRIOR_KEYS.items():
        if ("model", key) in spec.explicit and m["prior"] not in priors:
            raise SpecError(
                f"{spec._where('model', key)} applies to prior "
                f"{' or '.join(repr(n) for n in priors)} only, not '{m['prior']}'"
            )
    inf = spec.inference
    if ("inference", "rank") in spec.explicit and inf["guide"] != "lowrank":
        raise SpecError(
            f"{spec._where('inference', 'rank')} applies to guide 'lowrank' only, "
            f"not '{inf['guide']}'"
        )


def _description(text: str) -> str:
    """First line of the leading comment block (``# ...`` lines before any content)."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            return ""
        content = stripped.lstrip("#").strip()
        if content:
            return content
    return ""


def load_spec(path: str | Path, overrides: Sequence[str] | Mapping[str, Any] = ()) -> ModelSpec:
    """Read and validate a model file, then apply ``--set`` style overrides.

    Parameters
    ----------
    path : str or Path
        The TOML model file.
    overrides : list of "section.key=value" or dict {"section.key": value}
        Applied after reading, before validation of the whole spec.

    Raises
    ------
    SpecError
        Missing or unreadable file, TOML syntax errors (with line and column),
        unknown sections or keys, wrong types, out-of-range values.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"model file '{path}' not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"cannot read model file '{path}': {error}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: invalid TOML: {error}") from None
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    else:
        items = [parse_override(text) for text in overrides]
    touched = set()
    for dotted, value in items:
        section, key = _split_dotted(dotted, "--set")
        if section in raw and not isinstance(raw[section], dict):
            raise SpecError(
                f"{path}: '{section}' must be a section, found {_type_name(raw[section])}"
            )
        raw.setdefault(section, {})[key] = value
        touched.add((section, key))
    spec = parse_spec(raw, path=path, description=_description(text), overridden=touched)
    if ("data", "source") in touched:  # --set data.source=...: describe the data, not the file
        spec.description = spec.data_description()
    return spec


def describe_model_file(path: str | Path) -> str:
    """The one-line description of a model file (its first comment line), or ``""``."""
    try:
        return _description(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return ""


# --------------------------------------------------------------------------- TOML writer


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        text = repr(value)
        return text if any(c in text for c in ".en") else f"{text}.0"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item, where) for item in value) + "]"
    raise TypeError(f"cannot write {where} = {value!r} as TOML ({type(value).__name__})")


def to_toml(sections: Mapping[str, Mapping[str, Any]]) -> str:
    """Write ``{section: {key: value}}`` as TOML (flat values: bool, int, float, str,
    and lists of them or of lists); ``None`` values are left out.

    >>> print(to_toml({"model": {"hidden": [20], "task": "regression"}}), end="")
    [model]
    hidden = [20]
    task = "regression"
    """
    blocks = []
    for section, values in sections.items():
        lines = [f"[{section}]"]
        for key, value in values.items():
            if value is None:
                continue
            lines.append(f"{key} = {_toml_value(value, f'{section}.{key}')}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
