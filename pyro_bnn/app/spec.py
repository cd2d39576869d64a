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
(so ``csv:data/diabetes.csv`` in a file under ``models/`` works both from the
repository root and from anywhere else); the first that exists wins. ``uci:<name>``
of a bundled UCI set (``uci:yacht``) reads the copy that ships with pyro_bnn unless
a folder of that name exists. The resolved spec (:meth:`ModelSpec.to_toml`) records
the absolute path.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import DATA_SCHEMES, bundled_uci_names, load_source
from . import builders
from .schema import (
    CSV_KEYS,
    LIKELIHOOD_KEYS,
    LIKELIHOOD_TASK,
    NUTS_KEYS,
    PRIOR_KEYS,
    SCHEMA,
    SECTIONS,
    SOURCE_KEYS,
    SVI_KEYS,
    InvalidValue,
    SpecError,
    did_you_mean,
    split_dotted,
    type_name,
    where,
)
from .toml_writer import to_toml

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
    "app_hints",
]

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
            section, key = split_dotted(dotted, origin)
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
        scheme = source.partition(":")[0].strip()
        if scheme not in DATA_SCHEMES:
            path = Path(source).expanduser()
            kind = "uci" if path.is_dir() else "csv"
            source = f"{kind}:{path.absolute()}"
        raw = self.raw()
        data = raw.setdefault("data", {})
        new_scheme = source.partition(":")[0].strip()
        for key, schemes in SOURCE_KEYS.items():
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
            overridden=(self.overridden - {("data", k) for k in SOURCE_KEYS}) | touched,
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

    # --- building objects (see pyro_bnn.app.builders) ----------------------------------
    def build_prior(self):
        """The :class:`~pyro_bnn.priors.Prior` of ``[model]``."""
        return builders.build_prior(self)

    def build_likelihood(self):
        """The :class:`~pyro_bnn.likelihoods.Likelihood` of ``[model]``."""
        return builders.build_likelihood(self)

    def build_model(self, in_features: int, num_classes: int | None = None):
        """A :class:`~pyro_bnn.BayesianMLP` sized for the data (see
        :func:`pyro_bnn.app.builders.build_model`)."""
        return builders.build_model(self, in_features, num_classes)

    def fit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``fit_svi`` or ``fit_nuts`` (per ``inference.method``)."""
        return builders.fit_kwargs(self)

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
        raise SpecError(f"{self.where('data', 'source')}: '{text}' not found (looked in {tried})")

    def resolved_source(self) -> str:
        """``data.source`` with a relative path made absolute; ``uci:<name>`` of a set
        bundled with the package stays as it is unless a folder of that name exists."""
        source = self.data["source"]
        scheme, _, rest = source.partition(":")
        scheme, rest = scheme.strip(), rest.strip()
        if scheme not in ("csv", "uci"):
            return source
        try:
            return f"{scheme}:{self.resolve_data_path(rest)}"
        except SpecError:
            if scheme == "uci" and rest in bundled_uci_names():
                return f"uci:{rest}"
            raise

    def load_dataset(self):
        """Load ``[data]`` and split it: a :class:`~pyro_bnn.data.Dataset` with a test part
        (unless ``test_fraction = 0`` and the source has none)."""
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
                    f"{self.where('data', 'target')}: a csv: source needs the target column: "
                    'set [data] target = "<column>" (or --target COLUMN)'
                )
            kwargs = {"target": d["target"], "features": d["features"], "task": self.task}
            for key in ("exclude", "categorical"):
                if d[key] is not None:
                    kwargs[key] = d[key]
        elif scheme == "uci":
            kwargs["split"] = d["split"]
        for key in CSV_KEYS:
            if d[key] is not None and scheme != "csv" and (("data", key) in self.explicit):
                raise SpecError(
                    f"{self.where('data', key)}: only a csv: source takes '{key}', "
                    f"the source is '{d['source']}'"
                )
        for key in ("num_points", "noise"):
            if d[key] is not None and scheme != "toy":
                raise SpecError(
                    f"{self.where('data', key)}: only a toy: source takes '{key}', "
                    f"the source is '{d['source']}'"
                )
        try:
            dataset = load_source(source, **kwargs)
        except (ValueError, TypeError) as error:
            message = app_hints(str(error))
            if ("data", "source") in self.overridden:  # --data: the message names the file
                raise SpecError(message) from None
            raise SpecError(f"{self.where('data', 'source')}: {message}") from None
        if dataset.task != self.task:
            raise SpecError(
                f"{self.where('model', 'task')}: the model says task = '{self.task}' but the "
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
            if key in LIKELIHOOD_KEYS:
                return self.model["likelihood"] in LIKELIHOOD_KEYS[key]
            if key in PRIOR_KEYS:
                return self.model["prior"] in PRIOR_KEYS[key]
        if section == "inference":
            if key in SVI_KEYS:
                return self.inference["method"] == "svi"
            if key in NUTS_KEYS:
                return self.inference["method"] == "nuts"
        return True

    def where(self, section: str, key: str) -> str:
        """How an error message names ``[section] key`` (the file, or the override)."""
        return where(self.path, section, key, (section, key) in self.overridden)


def app_hints(message: str) -> str:
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
    split_dotted(dotted, "--set")
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
        raise SpecError(f"{name}: expected a table of sections, found {type_name(raw)}")
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
                f"key = value lines), found {type_name(values)}"
            )
        for key, value in values.items():
            keys = SCHEMA[section]
            where_text = where(path, section, key, (section, key) in overridden)
            if key not in keys:
                raise SpecError(
                    f"{name}: unknown key '{key}' in [{section}]{did_you_mean(key, keys)}; "
                    f"valid keys: {', '.join(keys)}"
                )
            try:
                checked = keys[key].check(value)
            except InvalidValue as invalid:
                raise SpecError(
                    f"{where_text} must be {invalid}, "
                    f"found {json.dumps(value)} ({type_name(value)})"
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
            f"{spec.where('data', 'source')} is required: where the data comes from, e.g. "
            'source = "toy:gap", "sklearn:digits", "csv:data.csv" or "uci:path/to/folder"'
        )
    if m["likelihood"] is None:
        m["likelihood"] = "gaussian" if m["task"] == "regression" else "categorical"
    elif LIKELIHOOD_TASK[m["likelihood"]] != m["task"]:
        valid = [name for name, task in LIKELIHOOD_TASK.items() if task == m["task"]]
        raise SpecError(
            f"{spec.where('model', 'likelihood')}: '{m['likelihood']}' is a "
            f"{LIKELIHOOD_TASK[m['likelihood']]} likelihood but task = '{m['task']}'; "
            f"valid for {m['task']}: {', '.join(valid)}"
        )
    for key, likelihoods in LIKELIHOOD_KEYS.items():
        if ("model", key) in spec.explicit and m["likelihood"] not in likelihoods:
            raise SpecError(
                f"{spec.where('model', key)} applies to likelihood "
                f"{' or '.join(repr(n) for n in likelihoods)} only, not '{m['likelihood']}'"
            )
    for key, priors in PRIOR_KEYS.items():
        if ("model", key) in spec.explicit and m["prior"] not in priors:
            raise SpecError(
                f"{spec.where('model', key)} applies to prior "
                f"{' or '.join(repr(n) for n in priors)} only, not '{m['prior']}'"
            )
    inf = spec.inference
    if ("inference", "rank") in spec.explicit and inf["guide"] != "lowrank":
        raise SpecError(
            f"{spec.where('inference', 'rank')} applies to guide 'lowrank' only, "
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
        section, key = split_dotted(dotted, "--set")
        if section in raw and not isinstance(raw[section], dict):
            raise SpecError(
                f"{path}: '{section}' must be a section, found {type_name(raw[section])}"
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
