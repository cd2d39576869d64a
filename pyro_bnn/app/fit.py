"""``fit_run``: fit a model file and write its run directory, step by step."""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Standardizer
from ..distributed import is_main_process
from ..inference import fit_nuts, fit_svi
from .figures import make_plots
from .files import (
    atomic_directory,
    atomic_text,
    check_out_dir,
    finite_float,
    plain,
    write_csv,
    write_json,
)
from .run_dir import Run, RunData, default_run_dir, evaluate_prediction
from .spec import ModelSpec, app_hints

__all__ = ["fit_run", "library_versions", "diagnostics_summary"]


class _RunLogger:
    """Log lines to ``fit.log`` and (unless quiet) stderr; routes Python warnings in."""

    def __init__(self, log_path: Path, quiet: bool):
        self.logger = logging.getLogger(f"pyro_bnn.app.fit.{id(self)}")
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
            "final_elbo": finite_float(np.mean(tail)) if tail else None,
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
        "r_hat_max": finite_float(max(r_hat)) if r_hat else None,
        "ess_min": finite_float(min(ess)) if ess else None,
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
            f"{spec.where('predict', 'query_points')}: points need {dataset.num_features} "
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
        From :func:`~pyro_bnn.app.spec.load_spec` (with overrides applied).
    out : path, optional
        The run directory; default ``runs/<model file stem>``.
    force : bool
        Replace an existing run directory (after the new one is complete).
    device
        ``"cpu"``, ``"cuda"``, ``"auto"``, ...: passed to the fit and to ``predict``.
    quiet : bool
        Log only to ``fit.log`` (no progress bar, nothing on stderr).
    progress : bool, optional
        Show the progress bar (default: when not ``quiet`` and stderr is a terminal, so
        that a log captured to a file does not fill with bar redraws).
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
    out = Path(out) if out is not None else default_run_dir(spec)
    check_out_dir(out, force)
    if progress is None:
        progress = not quiet and sys.stderr.isatty()
    dataset, run_data, data_warnings = _load_data(spec)
    model = spec.build_model(dataset.num_features, dataset.num_classes)
    if not is_main_process():
        # another process of a torchrun launch: take part in the (SVI) fit; rank 0 writes
        if spec.inference["method"] == "svi":
            fit_svi(
                model, dataset.x, dataset.y, standardize=spec.data["standardize"],
                progress=False, device=device, **spec.fit_kwargs(),
            )  # fmt: skip
        return None

    with atomic_directory(out, force=force) as tmp:
        log = _RunLogger(tmp / "fit.log", quiet=quiet)
        try:
            log.info(f"pyro-bnn fit: {spec.path or 'spec'} -> {out}")
            if command:
                log.info(f"command: {command}")
            for warning in data_warnings:
                log.warning(f"{warning.category.__name__}: {app_hints(str(warning.message))}")
            _log_setup(log, spec, dataset, run_data, model)
            posterior, fit_seconds = _fit(spec, model, dataset, log, progress, device)
            run = Run(
                path=out,
                spec=spec,
                posterior=posterior,
                standardizer=posterior.scaler
                or Standardizer.identity(dataset.num_features, spec.task),
                metrics={},
                data=run_data,
                device=device,
            )
            scores = _predict_and_score(run, dataset, log)
            run.metrics = _metrics_record(run, scores, fit_seconds, log, command)
            _write_files(tmp, run, dataset, scores)
            if spec.plots["enabled"]:
                _draw_plots(run, tmp, log)
            log.info(f"run directory complete: {out}")
        finally:
            log.close()
    run.path = out
    return run


def _load_data(spec: ModelSpec):
    """Step 1: the dataset, the run's copy of it in original units, and data warnings."""
    with warnings.catch_warnings(record=True) as data_warnings:  # logged in fit.log later
        warnings.simplefilter("always", UserWarning)
        dataset = spec.load_dataset()
    run_data = RunData(
        task=spec.task,
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
    return dataset, run_data, list(data_warnings)


def _log_setup(log: _RunLogger, spec: ModelSpec, dataset, run_data: RunData, model) -> None:
    """Log the data, the network and the inference settings."""
    num_test = 0 if dataset.x_test is None else dataset.x_test.shape[0]
    classes = f", {dataset.num_classes} classes" if dataset.num_classes else ""
    log.info(
        f"data: {run_data.source} ({spec.task}): {dataset.num_points} training rows, "
        f"{num_test} test rows, {dataset.num_features} input column(s){classes}"
    )
    log.info(
        f"model: hidden={list(model.hidden)} {model.activation}, "
        f"prior {model.prior!r}, likelihood {model.likelihood!r}, "
        f"{model.num_params} parameters"
    )
    settings = ", ".join(f"{k}={v}" for k, v in spec.fit_kwargs().items() if k != "dtype")
    log.info(f"inference: {spec.inference['method']} ({settings})")


def _fit(spec: ModelSpec, model, dataset, log: _RunLogger, progress: bool, device):
    """Step 2: fit with ``fit_svi`` or ``fit_nuts``; warnings go to the log.
    Returns the posterior and the fit time in seconds."""
    fit = fit_svi if spec.inference["method"] == "svi" else fit_nuts
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = log.showwarning
        posterior = fit(
            model, dataset.x, dataset.y, standardize=spec.data["standardize"],
            progress=progress, device=device, **spec.fit_kwargs(),
        )  # fmt: skip
    fit_seconds = time.perf_counter() - start
    log.info(f"fit finished in {fit_seconds:.1f} s")
    return posterior, fit_seconds


def _predict_and_score(run: Run, dataset, log: _RunLogger) -> dict[str, Any]:
    """Step 3: predictions and metrics on the training and test parts and the query
    points (warnings of the predictions go to the log)."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = log.showwarning
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
    points = run.data.query_points
    if points is not None:
        table = run.prediction_table(points)
        query = [
            {"x": point.tolist()} | {k: plain(v[i]) for k, v in table.items()}
            for i, point in enumerate(points)
        ]
        for row in query:
            log.info(f"query point {row['x']}: {_format_query(row)}")
    return {
        "train_pred": train_pred,
        "train": train_metrics,
        "test_pred": test_pred,
        "test": test_metrics,
        "query_points": query,
        "predict_seconds": predict_seconds,
    }


def _metrics_record(run: Run, scores, fit_seconds: float, log: _RunLogger, command) -> dict:
    """Step 4: the content of ``metrics.json``."""
    spec, posterior, device = run.spec, run.posterior, run.device
    metrics = {
        "name": spec.name,
        "description": spec.description,
        "task": spec.task,
        "method": spec.inference["method"],
        "guide": posterior.guide_type,
        "seed": spec.inference["seed"],
        "device": str(device) if device is not None else "cpu",
        "data": run.data.info(),
        "train": scores["train"],
        "test": scores["test"],
        "query_points": scores["query_points"],
        "fit_seconds": fit_seconds,
        "predict_seconds": scores["predict_seconds"],
        "diagnostics": diagnostics_summary(posterior),
        "warnings": list(log.warnings),
        "versions": library_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
    }
    return plain(metrics)


def _write_files(tmp: Path, run: Run, dataset, scores: Mapping[str, Any]) -> None:
    """Step 5: spec.toml, posterior.pt, data.json, data.npz, metrics.json, predictions.csv."""
    spec = run.spec
    header = (
        f"Resolved model specification written by pyro-bnn fit "
        f"(source: {spec.path or 'spec'}).\nRe-run it with: pyro-bnn fit <this file>"
    )
    atomic_text(tmp / "spec.toml", spec.to_toml(header=header))
    run.posterior.save(tmp / "posterior.pt")
    write_json(tmp / "data.json", run.data.info() | {"standardizer": run.standardizer.to_dict()})
    run.data.save_arrays(tmp / "data.npz")
    write_json(tmp / "metrics.json", run.metrics)
    if scores["test_pred"] is not None:
        x_out, y_out, pred_out = dataset.x_test, dataset.y_test, scores["test_pred"]
    else:
        x_out, y_out, pred_out = dataset.x, dataset.y, scores["train_pred"]
    write_csv(tmp / "predictions.csv", _predictions_with_data(run, x_out, y_out, pred_out))


def _draw_plots(run: Run, tmp: Path, log: _RunLogger) -> None:
    """Step 6: the plots, drawn into the temporary directory (failures are logged)."""
    out = run.path
    run.path = tmp
    try:
        written = make_plots(run, log=log)
    finally:
        run.path = out
    log.info(f"plots: {', '.join(str(out / 'plots' / p.name) for p in written)}")


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
