"""The schema language of model files and the schema itself.

A :class:`Key` describes one key of a section (kind, default, limits, help);
:data:`SCHEMA` lists every section and key. Defaults of settings the library also
has (``num_steps``, ``lr``, ``warmup_steps``, the prior scales, ...) are read from the
library's own signatures, so a model file and a Python call mean the same thing.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..guides import GUIDES
from ..inference import fit_nuts, fit_svi
from ..inference.svi import DEFAULT_LR, DEFAULT_LR_DECAY
from ..likelihoods import Gaussian, HeteroscedasticGaussian, StudentT
from ..nets import BayesianMLP
from ..plots.kinds import DEFAULT_PLOT_KINDS, PLOT_KINDS
from ..priors import LayerwiseNormal
from ..validation import did_you_mean

__all__ = [
    "SpecError",
    "InvalidValue",
    "Key",
    "SCHEMA",
    "SECTIONS",
    "library_default",
    "split_dotted",
    "type_name",
    "did_you_mean",
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


# --------------------------------------------------------------------------- schema


class InvalidValue(Exception):
    """Raised by a key check with the description of what was expected."""


def type_name(value: Any) -> str:
    """``"an integer"``, ``"a list"``, ...: the kind of a parsed TOML value, for messages."""
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
            raise InvalidValue(self.expected())
        if integer and not isinstance(value, int):
            raise InvalidValue(self.expected())
        if not integer:
            value = float(value)
            if not math.isfinite(value):
                raise InvalidValue(self.expected())
        if self.minimum is not None:
            if value < self.minimum or (self.exclusive_min and value == self.minimum):
                raise InvalidValue(self.expected())
        if self.maximum is not None:
            if value > self.maximum or (self.exclusive_max and value == self.maximum):
                raise InvalidValue(self.expected())
        return value

    def check(self, value: Any) -> Any:
        """Return the validated (and normalised) value or raise ``InvalidValue``."""
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
                raise InvalidValue(self.expected())
            return value
        if kind == "str":
            if not isinstance(value, str) or not value.strip():
                raise InvalidValue("a non-empty string")
            return value
        if kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                hint = did_you_mean(value, self.choices) if isinstance(value, str) else ""
                raise InvalidValue(self.expected() + hint)
            return value
        if not isinstance(value, list):
            raise InvalidValue(self.expected())
        if kind == "int_list":
            return [self._check_number(item, integer=True) for item in value]
        if kind == "str_list":
            if not value or not all(isinstance(item, str) and item for item in value):
                raise InvalidValue("a non-empty list of non-empty strings")
            return list(value)
        if kind == "choice_list":
            for item in value:
                if not isinstance(item, str) or item not in self.choices:
                    hint = did_you_mean(item, self.choices) if isinstance(item, str) else ""
                    raise InvalidValue(self.expected() + hint)
            return list(dict.fromkeys(value))
        if kind == "points":
            points = []
            for item in value:
                if not isinstance(item, list) or not item:
                    raise InvalidValue(self.expected())
                point = []
                for number in item:
                    if isinstance(number, bool) or not isinstance(number, int | float):
                        raise InvalidValue(self.expected())
                    if not math.isfinite(number):
                        raise InvalidValue(self.expected())
                    point.append(float(number))
                points.append(point)
            if len({len(p) for p in points}) > 1:
                raise InvalidValue(self.expected() + " of equal length")
            return points
        raise AssertionError(f"unknown key kind {kind}")  # pragma: no cover


def library_default(function, name: str) -> Any:
    """The default value of parameter ``name`` of ``function`` (or of a class's ``__init__``).

    The schema reads the library's defaults instead of copying them.

    >>> library_default(fit_svi, "num_steps")
    3000
    """
    default = inspect.signature(function).parameters[name].default
    if default is inspect.Parameter.empty:  # pragma: no cover - a programming error
        raise TypeError(f"{getattr(function, '__name__', function)}({name}=...) has no default")
    return default


def _positive(help_text: str, default: float | None) -> Key:
    return Key("float", default, help_text, minimum=0.0, exclusive_min=True)


#: Every section, key, default and limit of a model file.
SCHEMA: dict[str, dict[str, Key]] = {
    "model": {
        "task": Key("choice", "regression", "what is predicted", choices=TASKS),
        "hidden": Key("int_list", [20], "hidden layer widths; [] = linear model", minimum=1),
        "activation": Key(
            "choice",
            library_default(BayesianMLP, "activation"),
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
        "prior_scale": _positive(
            "scale of the weight prior (default: the library's for the task, "
            "1 for regression, 3 for classification)",
            None,
        ),
        "bias_scale": _positive(
            "prior std of the biases (layerwise, hierarchical)",
            library_default(LayerwiseNormal, "bias_scale"),
        ),
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
        "sigma_prior_scale": _positive(
            "HalfNormal prior scale of a learned sigma",
            library_default(Gaussian, "sigma_prior_scale"),
        ),
        "df": _positive("degrees of freedom (studentt)", library_default(StudentT, "df")),
        "min_scale": _positive(
            "smallest noise std (heteroscedastic)",
            library_default(HeteroscedasticGaussian, "min_scale"),
        ),
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
        "seed": Key(
            "int", library_default(fit_svi, "seed"), "seed of the fit and of the predictions"
        ),
        "dtype": Key(
            "choice", "float32", "floating point precision", choices=("float32", "float64")
        ),
        "guide": Key("choice", library_default(fit_svi, "guide"), "SVI guide", choices=GUIDES),
        "num_steps": Key(
            "int", library_default(fit_svi, "num_steps"), "SVI optimisation steps", minimum=1
        ),
        "lr": _positive("SVI initial learning rate", DEFAULT_LR),
        "lr_decay": Key(
            "float",
            DEFAULT_LR_DECAY,
            "SVI learning rate at the end as a fraction of lr",
            minimum=0.0,
            maximum=1.0,
            exclusive_min=True,
        ),
        "batch_size": Key(
            "int",
            library_default(fit_svi, "batch_size"),
            "SVI minibatch size (default: full batch)",
            minimum=1,
        ),
        "num_particles": Key(
            "int", library_default(fit_svi, "num_particles"), "SVI ELBO particles", minimum=1
        ),
        "init_scale": _positive("SVI initial guide std", library_default(fit_svi, "init_scale")),
        "rank": Key(
            "int", library_default(fit_svi, "rank"), "rank of the lowrank guide", minimum=1
        ),
        "num_samples": Key(
            "int", library_default(fit_nuts, "num_samples"), "NUTS draws kept per chain", minimum=1
        ),
        "warmup_steps": Key(
            "int",
            library_default(fit_nuts, "warmup_steps"),
            "NUTS warm-up steps per chain",
            minimum=0,
        ),
        "num_chains": Key("int", library_default(fit_nuts, "num_chains"), "NUTS chains", minimum=1),
        "parallel_chains": Key(
            "bool",
            library_default(fit_nuts, "parallel_chains"),
            "run the NUTS chains in worker processes, one per core (the same draws)",
        ),
        "target_accept_prob": Key(
            "float",
            library_default(fit_nuts, "target_accept_prob"),
            "NUTS target acceptance probability",
            minimum=0.0,
            maximum=1.0,
            exclusive_min=True,
            exclusive_max=True,
        ),
        "max_tree_depth": Key(
            "int", library_default(fit_nuts, "max_tree_depth"), "NUTS maximum tree depth", minimum=1
        ),
        "jit_compile": Key(
            "bool",
            library_default(fit_nuts, "jit_compile"),
            "run each NUTS transition in compiled C (built once with the system C compiler; "
            "faster, other draws)",
        ),
        "init": Key(
            "choice",
            library_default(fit_nuts, "init"),
            "NUTS start: a MAP fit or a prior draw",
            choices=("map", "prior"),
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
        "kinds": Key("choice_list", list(DEFAULT_PLOT_KINDS), "which plots", choices=PLOT_KINDS),
        "dpi": Key("int", 120, "resolution of the PNG files", minimum=20, maximum=1200),
        "function_draws": Key(
            "int", 20, "posterior function draws shown in 1-D regression plots", minimum=0
        ),
    },
}

# Model keys that only mean something for some likelihoods / priors.
LIKELIHOOD_KEYS = {
    "sigma": ("gaussian", "studentt"),
    "sigma_prior_scale": ("gaussian", "studentt"),
    "df": ("studentt",),
    "min_scale": ("heteroscedastic",),
}
PRIOR_KEYS = {"bias_scale": ("layerwise", "hierarchical")}
# Data keys that belong to one kind of source.
SOURCE_KEYS = {
    "target": ("csv",),
    "features": ("csv",),
    "exclude": ("csv",),
    "categorical": ("csv",),
    "split": ("uci",),
    "num_points": ("toy",),
    "noise": ("toy",),
}
CSV_KEYS = tuple(key for key, schemes in SOURCE_KEYS.items() if schemes == ("csv",))
SVI_KEYS = (
    "guide",
    "num_steps",
    "lr",
    "lr_decay",
    "batch_size",
    "num_particles",
    "init_scale",
    "rank",
)
NUTS_KEYS = (
    "num_samples",
    "warmup_steps",
    "num_chains",
    "parallel_chains",
    "target_accept_prob",
    "max_tree_depth",
    "init",
    "jit_compile",
)


def where(path: Path | None, section: str, key: str, overridden: bool) -> str:
    """How a message names a key: ``"m.toml: [model] hidden"`` or, for an override,
    ``"model.hidden (set on the command line)"``."""
    if overridden:
        return f"{section}.{key} (set on the command line)"
    name = str(path) if path is not None else "model spec"
    return f"{name}: [{section}] {key}"


def split_dotted(dotted: str, origin: str) -> tuple[str, str]:
    """``"section.key"`` → ``(section, key)``, checked against :data:`SCHEMA`; ``origin``
    (``"--set"``) names where the text came from in the error."""
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
