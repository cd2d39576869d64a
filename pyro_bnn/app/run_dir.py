"""Run directories: what is in one, and :func:`load_run` to read it back into a :class:`Run`.

:func:`pyro_bnn.app.fit.fit_run` (what ``pyro-bnn fit`` calls) writes::

    runs/demo/
      spec.toml         the resolved model file (defaults filled in, after --set)
      posterior.pt      the Posterior (Posterior.load reads it; no pickled code)
      data.json         standardizer, feature/target/class names, the table encoding
                        (input columns, categories of text columns), data summary
      data.npz          training and test data in original units (for plots, evaluate)
      metrics.json      train/test metrics in original units, fit time, diagnostics,
                        warnings, library versions, seed
      predictions.csv   predictions for the test part (the training part if none)
      plots/*.png       uncertainty plot, diagnostics, calibration / reliability
      fit.log           what was printed during the fit

The directory is built in a temporary folder next to it and renamed into place
at the end: a fit that fails or is interrupted leaves nothing behind, and an
existing run is replaced (only with ``force=True``) only once the new one is
complete (:func:`pyro_bnn.app.files.atomic_directory`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Standardizer, TableEncoding
from ..inference.common import resolve_device
from ..metrics import evaluate
from ..posterior import Posterior
from ..predictive import predict
from .files import as_numpy, plain
from .spec import ModelSpec, load_spec

__all__ = [
    "Run",
    "RunData",
    "load_run",
    "default_run_dir",
    "prediction_columns",
    "evaluate_prediction",
    "RUN_FILES",
]

#: Files every run directory holds (``plots/`` is optional).
RUN_FILES = (
    "spec.toml",
    "posterior.pt",
    "data.json",
    "data.npz",
    "metrics.json",
    "predictions.csv",
    "fit.log",
)
_REQUIRED_FILES = ("spec.toml", "posterior.pt", "data.json", "data.npz", "metrics.json")


def default_run_dir(spec: ModelSpec) -> Path:
    """``runs/<model file stem>`` (relative to the current directory)."""
    return Path("runs") / spec.name


# --------------------------------------------------------------------------- data of a run


@dataclass
class RunData:
    """The data a run was fit on, in original units.

    Attributes
    ----------
    task : str
    x_train : (N, D); y_train : (N,)
    x_test : (M, D) or None; y_test : (M,) or None
    feature_names : tuple of str
    target_name : str
    class_names : tuple of str or None
        ``class_names[k]`` is the original label of class ``k``.
    query_points : (Q, D) or None
        Extra inputs reported in ``metrics.json`` (e.g. the far "star" point).
    source : str
    name : str
    encoding : TableEncoding
        The input columns of the source table and the categories of its text
        columns (learned at fit): ``pyro-bnn predict``/``evaluate`` read new tables
        with it. Default: one number column per feature name.
    """

    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    feature_names: tuple[str, ...]
    target_name: str
    class_names: tuple[str, ...] | None = None
    query_points: np.ndarray | None = None
    source: str = ""
    name: str = ""
    encoding: TableEncoding | None = None

    def __post_init__(self) -> None:
        if self.encoding is None:
            self.encoding = TableEncoding(tuple(self.feature_names))
        if self.encoding.feature_names != tuple(self.feature_names):
            raise ValueError(
                f"the encoding gives feature names {list(self.encoding.feature_names)} but "
                f"the run has {list(self.feature_names)}"
            )

    @property
    def num_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def num_classes(self) -> int | None:
        return None if self.class_names is None else len(self.class_names)

    def info(self) -> dict[str, Any]:
        """JSON-able description (everything but the arrays)."""
        return {
            "task": self.task,
            "name": self.name,
            "source": self.source,
            "feature_names": list(self.feature_names),
            "target_name": self.target_name,
            "class_names": None if self.class_names is None else list(self.class_names),
            "num_train": int(self.x_train.shape[0]),
            "num_test": 0 if self.x_test is None else int(self.x_test.shape[0]),
            "encoding": self.encoding.to_dict(),
        }

    def save_arrays(self, path: Path) -> None:
        arrays = {"x_train": self.x_train, "y_train": self.y_train}
        if self.x_test is not None:
            arrays |= {"x_test": self.x_test, "y_test": self.y_test}
        if self.query_points is not None:
            arrays["query_points"] = self.query_points
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)


# --------------------------------------------------------------------------- the run


@dataclass
class Run:
    """A fitted run, as written by :func:`fit_run` and read by :func:`load_run`.

    Attributes
    ----------
    path : Path
        The run directory.
    spec : ModelSpec
        The resolved model file.
    posterior : Posterior
        Fitted by the library, which standardized the data; it keeps the scaler, so
        its predictions are in original units.
    standardizer : Standardizer
        That scaler (written to ``data.json``; the identity with ``standardize = false``).
    metrics : dict
        The content of ``metrics.json``.
    data : RunData
        Training and test data in original units.

    Example
    -------
    >>> run = load_run("runs/demo")  # doctest: +SKIP
    >>> table = run.prediction_table([[0.0], [5.0]])  # mean, std, ... in original units
    """

    path: Path
    spec: ModelSpec
    posterior: Any
    standardizer: Standardizer
    metrics: dict[str, Any]
    data: RunData
    device: Any = field(default=None, repr=False)

    @property
    def task(self) -> str:
        return self.data.task

    def _x(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1 and self.data.num_features == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.data.num_features:
            raise ValueError(
                f"x must have shape (N, {self.data.num_features}) "
                f"(columns {', '.join(self.data.feature_names)}), found {x.shape}"
            )
        return x

    def predict(self, x, num_draws: int | None = None, seed: int | None = None):
        """Posterior predictive at inputs ``x: (N, D)``, in original units in and out.

        Returns the :class:`~pyro_bnn.Prediction` (numpy arrays); the posterior's
        scaler standardizes ``x`` and maps the predictions back.
        """
        return predict(
            self.posterior,
            self._x(x),
            num_draws=num_draws or self.spec.predict["num_draws"],
            seed=self.spec.inference["seed"] if seed is None else seed,
            device=self.device,
        )

    def prediction_table(
        self, x, level: float | None = None, prediction=None
    ) -> dict[str, np.ndarray]:
        """Predictions at ``x: (N, D)`` (original units) as named columns ``(N,)``.

        Regression: ``mean``, ``std`` (total), ``epistemic_std``, ``aleatoric_std``,
        ``lower_<level>``, ``upper_<level>`` (central predictive interval, noise
        included), all in original target units. Classification: ``prob_<class>``
        per class, ``predicted_class`` (original label), ``confidence``, ``entropy``
        (total, nats), ``expected_entropy`` (aleatoric) and ``mutual_information``
        (epistemic).
        """
        level = self.spec.predict["level"] if level is None else level
        pred = self.predict(x) if prediction is None else prediction
        return prediction_columns(pred, level, self.data.class_names)

    def evaluate(self, x, y) -> dict[str, float]:
        """Metrics of the run's predictions at ``x`` against ``y``, both in original
        units (class labels as codes ``0..K-1``); see :func:`pyro_bnn.metrics.evaluate`."""
        pred = self.predict(x)
        return evaluate_prediction(pred, y)


def _level_name(level: float) -> str:
    return f"{100 * level:g}".replace(".", "_")


def prediction_columns(prediction, level: float, class_names=None) -> dict[str, np.ndarray]:
    """A prediction (in original units) as named ``(N,)`` columns.

    See :meth:`Run.prediction_table`.
    """
    if prediction.task == "classification":
        probs = as_numpy(prediction.probs)
        names = class_names or tuple(str(k) for k in range(probs.shape[1]))
        columns = {f"prob_{name}": probs[:, k] for k, name in enumerate(names)}
        predicted = as_numpy(prediction.predicted_class).astype(np.int64)
        columns["predicted_class"] = np.asarray([names[k] for k in predicted], dtype=object)
        columns["confidence"] = as_numpy(prediction.confidence)
        columns["entropy"] = as_numpy(prediction.entropy)
        columns["expected_entropy"] = as_numpy(prediction.expected_entropy)
        columns["mutual_information"] = as_numpy(prediction.mutual_information)
        return columns
    mean = as_numpy(prediction.mean)
    epistemic = as_numpy(prediction.epistemic_std)
    try:
        aleatoric = as_numpy(prediction.aleatoric_std)
        total = as_numpy(prediction.std)
    except ValueError:  # Student-t with df <= 2: no variance
        aleatoric = total = np.full_like(mean, np.nan)
    low, high = prediction.interval(level)
    name = _level_name(level)
    return {
        "mean": mean,
        "std": total,
        "epistemic_std": epistemic,
        "aleatoric_std": aleatoric,
        f"lower_{name}": as_numpy(low),
        f"upper_{name}": as_numpy(high),
    }


def evaluate_prediction(prediction, y) -> dict[str, float | None]:
    """:func:`pyro_bnn.metrics.evaluate` of a prediction and ``y``, both in original units
    (RMSE, MAE, CRPS in target units; log-likelihood per original unit)."""
    if prediction.task == "classification":
        return plain(evaluate(prediction, np.asarray(y, dtype=np.int64)))
    return plain(evaluate(prediction, np.asarray(y, dtype=np.float64)))


# --------------------------------------------------------------------------- loading


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read '{path}': {error}") from None


def load_run(path: str | os.PathLike, device=None) -> Run:
    """Read a run directory written by :func:`fit_run` (``pyro-bnn fit``).

    Raises ``ValueError`` naming the file when the directory or a file in it is
    missing, corrupt or inconsistent.

    Example
    -------
    >>> run = load_run("runs/demo")  # doctest: +SKIP
    >>> run.metrics["test"]["rmse"], run.posterior.method  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"run directory '{path}' not found")
    missing = [name for name in _REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ValueError(
            f"'{path}' is not a complete pyro-bnn run directory: missing {', '.join(missing)}"
        )
    spec = load_spec(path / "spec.toml")
    info = _read_json(path / "data.json")
    metrics = _read_json(path / "metrics.json")
    if not isinstance(info, dict) or not isinstance(metrics, dict):
        raise ValueError(f"'{path}': data.json and metrics.json must each hold a JSON object")
    try:
        standardizer = Standardizer.from_dict(info["standardizer"])
        feature_names = tuple(info["feature_names"])
        target_name = str(info["target_name"])
        class_names = info.get("class_names")
        task = info["task"]
        encoding = info.get("encoding")  # absent in runs written before text columns
        encoding = (
            TableEncoding(feature_names) if encoding is None else TableEncoding.from_dict(encoding)
        )
        if encoding.feature_names != feature_names:
            raise ValueError(
                f"its encoding gives feature names {list(encoding.feature_names)} but "
                f"feature_names is {list(feature_names)}"
            )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"'{path / 'data.json'}' is incomplete or corrupt: {error}") from None
    try:
        with np.load(path / "data.npz", allow_pickle=False) as arrays:
            arrays = {key: np.asarray(arrays[key]) for key in arrays.files}
        x_train, y_train = arrays["x_train"], arrays["y_train"]
    except Exception as error:  # zipfile/numpy raise many kinds for corrupt files
        raise ValueError(f"'{path / 'data.npz'}' is corrupt: {type(error).__name__}") from None
    if device is not None:
        device = resolve_device(device)
    posterior = Posterior.load(path / "posterior.pt", device=device)
    model = posterior.model
    if (
        getattr(model, "in_features", None) != standardizer.num_features
        or len(feature_names) != standardizer.num_features
    ):
        raise ValueError(
            f"'{path}': posterior.pt expects {getattr(model, 'in_features', '?')} inputs but "
            f"data.json describes {standardizer.num_features}; the run directory is inconsistent"
        )
    data = RunData(
        task=task,
        x_train=x_train,
        y_train=y_train,
        x_test=arrays.get("x_test"),
        y_test=arrays.get("y_test"),
        feature_names=feature_names,
        target_name=target_name,
        class_names=None if class_names is None else tuple(class_names),
        query_points=arrays.get("query_points"),
        source=str(info.get("source", "")),
        name=str(info.get("name", "")),
        encoding=encoding,
    )
    return Run(
        path=path,
        spec=spec,
        posterior=posterior,
        standardizer=standardizer,
        metrics=metrics,
        data=data,
        device=device,
    )
