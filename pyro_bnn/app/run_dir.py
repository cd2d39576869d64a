"""Run directories: fit a model file, write everything about the fit, load it back.

``fit_run(spec, "runs/demo")`` (what ``pyro-bnn fit`` calls) writes::

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
complete. :func:`load_run` reads a run back into a :class:`Run`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Standardizer, TableEncoding
from .spec import ModelSpec, _app_hints, load_spec

__all__ = [
    "Run",
    "RunData",
    "fit_run",
    "load_run",
    "make_plots",
    "default_run_dir",
    "write_csv",
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
        from ..predictive import predict

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


def _float(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _plain(value):
    """Tensors/arrays/numpy scalars → JSON-able values; NaN/inf → None."""
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _float(value)
    return value


def _numpy(value) -> np.ndarray:
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def _level_name(level: float) -> str:
    return f"{100 * level:g}".replace(".", "_")


def prediction_columns(prediction, level: float, class_names=None) -> dict[str, np.ndarray]:
    """A prediction (in original units) as named ``(N,)`` columns.

    See :meth:`Run.prediction_table`.
    """
    if prediction.task == "classification":
        probs = _numpy(prediction.probs)
        names = class_names or tuple(str(k) for k in range(probs.shape[1]))
        columns = {f"prob_{name}": probs[:, k] for k, name in enumerate(names)}
        predicted = _numpy(prediction.predicted_class).astype(np.int64)
        columns["predicted_class"] = np.asarray([names[k] for k in predicted], dtype=object)
        columns["confidence"] = _numpy(prediction.confidence)
        columns["entropy"] = _numpy(prediction.entropy)
        columns["expected_entropy"] = _numpy(prediction.expected_entropy)
        columns["mutual_information"] = _numpy(prediction.mutual_information)
        return columns
    mean = _numpy(prediction.mean)
    epistemic = _numpy(prediction.epistemic_std)
    try:
        aleatoric = _numpy(prediction.aleatoric_std)
        total = _numpy(prediction.std)
    except ValueError:  # Student-t with df <= 2: no variance
        aleatoric = total = np.full_like(mean, np.nan)
    low, high = prediction.interval(level)
    name = _level_name(level)
    return {
        "mean": mean,
        "std": total,
        "epistemic_std": epistemic,
        "aleatoric_std": aleatoric,
        f"lower_{name}": _numpy(low),
        f"upper_{name}": _numpy(high),
    }


def evaluate_prediction(prediction, y) -> dict[str, float | None]:
    """:func:`pyro_bnn.metrics.evaluate` of a prediction and ``y``, both in original units
    (RMSE, MAE, CRPS in target units; log-likelihood per original unit)."""
    from ..metrics import evaluate

    if prediction.task == "classification":
        return _plain(evaluate(prediction, np.asarray(y, dtype=np.int64)))
    return _plain(evaluate(prediction, np.asarray(y, dtype=np.float64)))


# --------------------------------------------------------------------------- writing files


def _atomic_text(path: Path, text: str) -> None:
    from ..posterior import atomic_write

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)

    atomic_write(path, write)


def _format_cell(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, np.integer | int) and not isinstance(value, bool):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "nan"
    return format(value, ".8g")


def csv_text(columns: Mapping[str, Sequence]) -> str:
    """Named equal-length columns as CSV text with a header row."""
    names = list(columns)
    lengths = {len(columns[name]) for name in names}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths: {sorted(lengths)}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in zip(*(columns[name] for name in names), strict=True):
        writer.writerow([_format_cell(value) for value in row])
    return buffer.getvalue()


def write_csv(path: str | os.PathLike, columns: Mapping[str, Sequence]) -> None:
    """Write named columns to a CSV file atomically."""
    _atomic_text(Path(path), csv_text(columns))


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write JSON (NaN/inf as null) atomically."""
    _atomic_text(Path(path), json.dumps(_plain(value), indent=2, allow_nan=False) + "\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _looks_like_run(path: Path) -> bool:
    return path.is_dir() and (
        not any(path.iterdir()) or (path / "spec.toml").exists() or (path / "posterior.pt").exists()
    )


def check_out_dir(out: str | os.PathLike, force: bool) -> Path:
    """Fail early (``ValueError``) if ``out`` cannot become a run directory."""
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise ValueError(f"output path '{out}' exists and is not a directory")
        if not force:
            raise ValueError(
                f"run directory '{out}' already exists; pass --force to replace it "
                "(or choose another --out)"
            )
        if not _looks_like_run(out):
            raise ValueError(
                f"'{out}' is not empty and does not look like a run directory (no spec.toml); "
                "refusing to replace it even with --force"
            )
    return out


@contextmanager
def atomic_directory(out: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Build a directory in a temporary folder next to ``out``; rename it into place at the end.

    On any exception (or interrupt) the temporary folder (and any parent folders
    this created) is removed and ``out`` is untouched. With ``force``, an existing
    ``out`` is swapped out only after the new directory is complete.
    """
    out = Path(out).absolute()
    check_out_dir(out, force)
    created = [parent for parent in out.parents if not parent.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        check_out_dir(out, force)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            old.rmdir()
            os.replace(out, old)
            try:
                os.replace(tmp, out)
            except BaseException:
                os.replace(old, out)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for parent in created:  # innermost first
            try:
                parent.rmdir()
            except OSError:
                break
        raise


# --------------------------------------------------------------------------- logging


class _RunLogger:
    """Log lines to ``fit.log`` and (unless quiet) stderr; routes Python warnings in."""

    def __init__(self, log_path: Path, quiet: bool):
        self.logger = logging.getLogger(f"pyro_bnn.run.{id(self)}")
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.file_handler = logging.FileHandler(log_path, encoding="utf-8")
        self.file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
        )
        self.logger.addHandler(self.file_handler)
        self.stream_handler = None
        if not quiet:
            self.stream_handler = logging.StreamHandler(sys.stderr)
            self.stream_handler.setFormatter(_StderrFormatter())
            self.logger.addHandler(self.stream_handler)
        self.warnings: list[str] = []

    def info(self, message: str) -> None:
        self.logger.info(message)

    def warning(self, message: str) -> None:
        self.warnings.append(message)
        self.logger.warning(message)

    def showwarning(self, message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message)
        if text not in self.warnings:
            self.warning(f"{category.__name__}: {text}")

    def close(self) -> None:
        for handler in (self.file_handler, self.stream_handler):
            if handler is not None:
                handler.flush()
                self.logger.removeHandler(handler)
                if handler is self.file_handler:
                    handler.close()


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "warning: " if record.levelno >= logging.WARNING else ""
        return prefix + record.getMessage()


# --------------------------------------------------------------------------- fitting


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a result depends on."""
    versions = {"python": platform.python_version()}
    for name in ("pyro-bnn", "torch", "pyro-ppl", "numpy", "matplotlib"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def diagnostics_summary(posterior) -> dict[str, Any]:
    """The headline numbers of ``posterior.diagnostics`` (the full ELBO trace is left out)."""
    diag = posterior.diagnostics
    if posterior.method == "svi":
        elbo = diag.get("elbo") or []
        tail = elbo[-max(1, len(elbo) // 10) :] if elbo else []
        return {
            "method": "svi",
            "guide": posterior.guide_type,
            "num_steps": diag.get("num_steps"),
            "final_elbo": _float(np.mean(tail)) if tail else None,
            "fit_seconds": diag.get("fit_seconds"),
            "warnings": list(diag.get("warnings", [])),
        }
    sites = diag.get("sites", {})
    r_hat = [s.get("r_hat_max") for s in sites.values() if s.get("r_hat_max") is not None]
    ess = [s.get("ess_min") for s in sites.values() if s.get("ess_min") is not None]
    chains = diag.get("chains", [])
    return {
        "method": "nuts",
        "num_chains": posterior.num_chains,
        "num_samples": diag.get("num_samples"),
        "warmup_steps": diag.get("warmup_steps"),
        "divergences": diag.get("divergences"),
        "r_hat_max": _float(max(r_hat)) if r_hat else None,
        "ess_min": _float(min(ess)) if ess else None,
        "step_size": [c.get("step_size") for c in chains],
        "mean_tree_depth": [c.get("mean_tree_depth") for c in chains],
        "fit_seconds": diag.get("fit_seconds"),
        "warnings": list(diag.get("warnings", [])),
    }


def _format_metrics(metrics: Mapping[str, Any] | None) -> str:
    if not metrics:
        return "(none)"
    parts = []
    for key, value in metrics.items():
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return ", ".join(parts)


def _query_points(spec: ModelSpec, dataset) -> np.ndarray | None:
    points = spec.predict["query_points"]
    if points is None:
        points = dataset.extra.get("query_points")
    if points is None:
        return None
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != dataset.num_features:
        raise ValueError(
            f"{spec._where('predict', 'query_points')}: points need {dataset.num_features} "
            f"coordinate(s) each (the data has {dataset.num_features} input column(s)), "
            f"found shape {points.shape}"
        )
    return points


def fit_run(
    spec: ModelSpec,
    out: str | os.PathLike | None = None,
    *,
    force: bool = False,
    device=None,
    quiet: bool = False,
    progress: bool | None = None,
    command: str | None = None,
) -> Run | None:
    """Fit the model of ``spec`` on its data and write a run directory.

    Parameters
    ----------
    spec : ModelSpec
        From :func:`~pyro_bnn.spec.load_spec` (with overrides applied).
    out : path, optional
        The run directory; default ``runs/<model file stem>``.
    force : bool
        Replace an existing run directory (after the new one is complete).
    device
        ``"cpu"``, ``"cuda"``, ``"auto"``, ...: passed to the fit and to ``predict``.
    quiet : bool
        Log only to ``fit.log`` (no progress bar, nothing on stderr).
    progress : bool, optional
        Show the progress bar (default: ``not quiet``).
    command : str, optional
        The command line, recorded in ``metrics.json``.

    Returns
    -------
    Run
        ``None`` on the other processes of a ``torchrun`` launch: they take part in
        the SVI fit (:mod:`pyro_bnn.distributed`) and rank 0 alone writes ``out``.

    Raises
    ------
    ValueError
        Bad spec, bad data, existing ``out`` without ``force``: raised before anything
        is written.
    """
    from ..inference import fit_nuts, fit_svi

    out = Path(out) if out is not None else default_run_dir(spec)
    check_out_dir(out, force)
    progress = (not quiet) if progress is None else progress
    with warnings.catch_warnings(record=True) as data_warnings:  # logged in fit.log below
        warnings.simplefilter("always", UserWarning)
        dataset = spec.load_dataset()
    task = spec.task
    standardize = spec.data["standardize"]  # the fit standardizes: the posterior keeps it
    model = spec.build_model(dataset.num_features, dataset.num_classes)
    run_data = RunData(
        task=task,
        x_train=dataset.x,
        y_train=dataset.y,
        x_test=dataset.x_test,
        y_test=dataset.y_test,
        feature_names=dataset.feature_names,
        target_name=dataset.target_name,
        class_names=dataset.class_names,
        query_points=_query_points(spec, dataset),
        source=spec.resolved_source(),
        name=dataset.name,
        encoding=dataset.encoding,
    )
    method = spec.inference["method"]
    from ..distributed import is_main_process

    if not is_main_process():
        # another process of a torchrun launch: take part in the (SVI) fit; rank 0 writes
        if method == "svi":
            fit_svi(
                model, dataset.x, dataset.y, standardize=standardize, progress=False,
                device=device, **spec.fit_kwargs(),
            )  # fmt: skip
        return None

    with atomic_directory(out, force=force) as tmp:
        log = _RunLogger(tmp / "fit.log", quiet=quiet)
        try:
            log.info(f"pyro-bnn fit: {spec.path or 'spec'} -> {out}")
            if command:
                log.info(f"command: {command}")
            for warning in data_warnings:
                log.warning(f"{warning.category.__name__}: {_app_hints(str(warning.message))}")
            num_test = 0 if dataset.x_test is None else dataset.x_test.shape[0]
            classes = f", {dataset.num_classes} classes" if dataset.num_classes else ""
            log.info(
                f"data: {run_data.source} ({task}): {dataset.num_points} training rows, "
                f"{num_test} test rows, {dataset.num_features} input column(s){classes}"
            )
            log.info(
                f"model: hidden={list(model.hidden)} {model.activation}, "
                f"prior {model.prior!r}, likelihood {model.likelihood!r}, "
                f"{model.num_params} parameters"
            )
            kwargs = spec.fit_kwargs()
            settings = ", ".join(f"{k}={v}" for k, v in kwargs.items() if k != "dtype")
            log.info(f"inference: {method} ({settings})")
            fit = fit_svi if method == "svi" else fit_nuts
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("always", UserWarning)
                warnings.showwarning = log.showwarning
                posterior = fit(
                    model, dataset.x, dataset.y, standardize=standardize, progress=progress,
                    device=device, **kwargs,
                )  # fmt: skip
                standardizer = posterior.scaler or Standardizer.identity(dataset.num_features, task)
                fit_seconds = time.perf_counter() - start
                log.info(f"fit finished in {fit_seconds:.1f} s")

                start = time.perf_counter()
                run = Run(
                    path=out,
                    spec=spec,
                    posterior=posterior,
                    standardizer=standardizer,
                    metrics={},
                    data=run_data,
                    device=device,
                )
                train_pred = run.predict(dataset.x)
                train_metrics = evaluate_prediction(train_pred, dataset.y)
                test_pred = test_metrics = None
                if dataset.x_test is not None:
                    test_pred = run.predict(dataset.x_test)
                    test_metrics = evaluate_prediction(test_pred, dataset.y_test)
                predict_seconds = time.perf_counter() - start
            log.info(f"train metrics: {_format_metrics(train_metrics)}")
            log.info(f"test metrics: {_format_metrics(test_metrics)}")

            query = None
            if run_data.query_points is not None:
                table = run.prediction_table(run_data.query_points)
                query = [
                    {"x": point.tolist()} | {k: _plain(v[i]) for k, v in table.items()}
                    for i, point in enumerate(run_data.query_points)
                ]
                for row in query:
                    log.info(f"query point {row['x']}: {_format_query(row)}")

            metrics = {
                "name": spec.name,
                "description": spec.description,
                "task": task,
                "method": method,
                "guide": posterior.guide_type,
                "seed": spec.inference["seed"],
                "device": str(device) if device is not None else "cpu",
                "data": run_data.info(),
                "train": train_metrics,
                "test": test_metrics,
                "query_points": query,
                "fit_seconds": fit_seconds,
                "predict_seconds": predict_seconds,
                "diagnostics": diagnostics_summary(posterior),
                "warnings": list(log.warnings),
                "versions": library_versions(),
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": command,
            }
            run.metrics = _plain(metrics)

            header = (
                f"Resolved model specification written by pyro-bnn fit "
                f"(source: {spec.path or 'spec'}).\nRe-run it with: pyro-bnn fit <this file>"
            )
            _atomic_text(tmp / "spec.toml", spec.to_toml(header=header))
            posterior.save(tmp / "posterior.pt")
            write_json(
                tmp / "data.json",
                run_data.info() | {"standardizer": standardizer.to_dict()},
            )
            run_data.save_arrays(tmp / "data.npz")
            write_json(tmp / "metrics.json", run.metrics)
            if test_pred is not None:
                x_out, y_out, pred_out = dataset.x_test, dataset.y_test, test_pred
            else:
                x_out, y_out, pred_out = dataset.x, dataset.y, train_pred
            write_csv(tmp / "predictions.csv", _predictions_with_data(run, x_out, y_out, pred_out))
            if spec.plots["enabled"]:
                run.path = tmp
                try:
                    written = make_plots(run, log=log)
                finally:
                    run.path = out
                log.info(f"plots: {', '.join(str(out / 'plots' / p.name) for p in written)}")
            log.info(f"run directory complete: {out}")
        finally:
            log.close()
    run.path = out
    return run


def _format_query(row: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items() if k != "x"
    )


def _predictions_with_data(run: Run, x, y, prediction) -> dict[str, Any]:
    columns: dict[str, Any] = dict(run.data.encoding.decode(x))
    if y is not None:
        target = run.data.target_name
        if target in columns:
            target = f"{target}_observed"
        if run.data.class_names is not None:
            columns[target] = np.asarray([run.data.class_names[int(k)] for k in y], dtype=object)
        else:
            columns[target] = y
    table = run.prediction_table(x, prediction=prediction)
    for name, values in table.items():
        columns[name if name not in columns else f"{name}_pred"] = values
    return columns


# --------------------------------------------------------------------------- plots


def _grid_1d(x: np.ndarray, margin: float, num: int) -> np.ndarray:
    low, high = float(x.min()), float(x.max())
    span = high - low or 1.0
    return np.linspace(low - margin * span, high + margin * span, num)


def make_plots(
    run: Run,
    kinds: Sequence[str] | None = None,
    out_dir: str | os.PathLike | None = None,
    log: Any = None,
) -> list[Path]:
    """Draw the run's plots as PNG files (default ``<run>/plots/``), each written atomically.

    Kinds: the names of :data:`pyro_bnn.plots.kinds.RUN_PLOT_KINDS` (``"uncertainty"``,
    ``"diagnostics"``, ``"calibration"``), drawn on the test part (the training part if
    there is none).

    A plot that fails is reported through ``log`` (or raised when ``log`` is None).
    Returns the written paths.
    """
    from .plots.kinds import RUN_PLOT_KINDS
    from .validation import check_choice

    kinds = list(run.spec.plots["kinds"] if kinds is None else kinds)
    for kind in kinds:
        check_choice(kind, "plot kind", RUN_PLOT_KINDS)
    out_dir = Path(out_dir) if out_dir is not None else Path(run.path) / "plots"
    out_dir.mkdir(parents=True, exist_ok=True)
    dpi = run.spec.plots["dpi"]
    written = []
    for kind in kinds:
        try:
            figure = _PLOT_DRAWERS[kind](run)
            if figure is None:
                continue
            path = out_dir / f"{kind}.png"

            def save(tmp: str, figure=figure) -> None:
                figure.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")

            from ..posterior import atomic_write

            atomic_write(path, save)
            written.append(path)
        except Exception as error:
            if log is None:
                raise
            log.warning(f"the {kind} plot failed: {type(error).__name__}: {error}")
    return written


def _evaluation_part(run: Run):
    data = run.data
    if data.x_test is not None:
        return data.x_test, data.y_test, "test"
    return data.x_train, data.y_train, "training"


def _plot_uncertainty(run: Run):
    from .. import plots

    data = run.data
    spec = run.spec
    title = spec.description or spec.name
    if data.task == "regression" and data.num_features == 1:
        x_all = data.x_train[:, 0]
        if data.x_test is not None:
            x_all = np.concatenate([x_all, data.x_test[:, 0]])
        x_grid = _grid_1d(x_all, spec.predict["margin"], spec.predict["grid"])
        pred = run.predict(x_grid[:, None])
        figure = plots.plot_regression(
            pred,
            x_grid,
            x_train=data.x_train[:, 0],
            y_train=data.y_train,
            level=spec.predict["level"],
            num_function_draws=spec.plots["function_draws"],
            title=title,
        )
        ax = figure.axes[0]
        ax.set_xlabel(data.feature_names[0])
        ax.set_ylabel(data.target_name)
        return figure
    if data.task == "classification" and data.num_features == 2:
        grid = plots.grid_2d(
            data.x_train,
            num=min(spec.predict["grid"], 150),
            margin=spec.predict["margin"],
            include=data.query_points,
        )
        pred = run.predict(grid.points)
        query_pred = run.predict(data.query_points) if data.query_points is not None else None
        figure = plots.plot_classification(
            pred,
            grid.x1,
            grid.x2,
            data.x_train,
            data.y_train,
            query_points=data.query_points,
            query_prediction=query_pred,
            title=title,
        )
        for ax in figure.axes:
            if ax.get_label() != "<colorbar>":
                ax.set_xlabel(data.feature_names[0])
                ax.set_ylabel(data.feature_names[1])
        return figure
    x, y, part = _evaluation_part(run)
    pred = run.predict(x)
    return _plot_generic_uncertainty(run, pred, y, part)


def _plot_generic_uncertainty(run: Run, pred, y, part: str):
    """Fallback for inputs that cannot be drawn as a map: predicted vs observed with
    intervals (regression) or uncertainty histograms of right vs wrong (classification)."""
    from matplotlib.figure import Figure

    title = run.spec.description or run.spec.name
    if run.task == "regression":
        from .. import plots

        return plots.plot_predicted_vs_observed(
            pred,
            y,
            level=run.spec.predict["level"],
            target_name=run.data.target_name,
            title=f"{title} ({part} part)",
        )
    probs = _numpy(pred.probs)
    correct = probs.argmax(1) == np.asarray(y)
    figure = Figure(figsize=(10, 4))
    axes = figure.subplots(1, 2)
    for ax, values, label in (
        (axes[0], _numpy(pred.entropy), "predictive entropy (total, nats)"),
        (axes[1], _numpy(pred.mutual_information), "mutual information (epistemic, nats)"),
    ):
        bins = np.linspace(0, max(values.max(), 1e-6), 30)
        ax.hist(values[correct], bins=bins, alpha=0.6, density=True, label="correct")
        ax.hist(values[~correct], bins=bins, alpha=0.6, density=True, label="misclassified")
        ax.set_xlabel(label)
        ax.set_ylabel("density")
        ax.legend()
    figure.suptitle(
        f"{title}\n{part} part: accuracy {100 * correct.mean():.1f}%; "
        "misclassified inputs should carry more uncertainty",
        fontsize=10,
    )
    figure.tight_layout()
    return figure


def _plot_diagnostics(run: Run):
    from .. import plots

    return plots.plot_diagnostics(run.posterior)


def _plot_calibration(run: Run):
    from .. import plots

    x, y, _ = _evaluation_part(run)
    pred = run.predict(x)
    if run.task == "classification":
        return plots.plot_reliability(pred, y)
    return plots.plot_calibration(pred, y)


# One drawer per kind of pyro_bnn.plots.kinds.RUN_PLOT_KINDS (which names and describes them).
_PLOT_DRAWERS: dict[str, Callable[[Run], Any]] = {
    "uncertainty": _plot_uncertainty,
    "diagnostics": _plot_diagnostics,
    "calibration": _plot_calibration,
}


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
    from ..posterior import Posterior

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
        from ..inference.common import resolve_device

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
