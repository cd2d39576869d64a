"""Benchmarks on real data: the UCI regression protocol and scikit-learn classification.

UCI regression (``pyro-bnn benchmark uci`` or ``python -m pyro_bnn.benchmark uci``):
the standard protocol of Hernández-Lobato & Adams (2015) and Gal & Ghahramani
(2016) on folders in the UCI split format (see :func:`pyro_bnn.data.load_uci`).
For every dataset, method and split: standardize x and y with the training
statistics (constant columns get scale 1), fit a 1-hidden-layer ReLU network
(50 units; 100 for protein), predict the test split and report, in original
units of y, ``rmse``, ``test_ll`` (mean log predictive density), ``coverage_90``
and ``crps``. Hyper-parameters are chosen on a validation part carved from the
training split (never the test split). Rows are written to the CSV after every
fit, so a crash in one split loses nothing; ``--resume`` skips finished rows.

Classification (``benchmark classification``): digits and breast cancer from
scikit-learn, random 80/20 splits; accuracy, NLL, Brier, ECE; on digits some
classes are held out of training and the AUROC of the mutual information
(and of the predictive entropy) for telling them apart is reported.

Methods: ``svi`` (AutoNormal), ``svi-lowrank``, ``nuts`` (small sets only),
``map``, ``mc-dropout``, ``ensemble``, ``swag``; see :data:`REGRESSION_METHODS`.
The full documented run and its results: ``bench/results/uci/``.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from . import metrics
from .baselines import fit_ensemble, fit_map, fit_mc_dropout, fit_swag
from .data import Standardizer, load_sklearn, load_uci, uci_num_splits
from .inference import fit_nuts, fit_svi
from .likelihoods import Categorical, Gaussian
from .nets import BayesianMLP
from .posterior import atomic_write
from .predictive import Prediction, predict
from .priors import LayerwiseNormal

__all__ = [
    "REGRESSION_METHODS",
    "CLASSIFICATION_METHODS",
    "REGRESSION_COLUMNS",
    "CLASSIFICATION_COLUMNS",
    "PUBLISHED",
    "Settings",
    "run_uci",
    "run_classification",
    "summarize",
    "format_table",
    "format_calibration_table",
    "format_classification_table",
    "goal_report",
    "read_rows",
    "plot_published_comparison",
    "add_benchmark_arguments",
    "run_benchmark",
    "main",
]

REGRESSION_METHODS = ("svi", "svi-lowrank", "nuts", "map", "mc-dropout", "ensemble", "swag")
CLASSIFICATION_METHODS = ("map", "svi", "nuts", "mc-dropout", "ensemble", "swag")
REGRESSION_COLUMNS = (
    "dataset",
    "method",
    "split",
    "rmse",
    "test_ll",
    "coverage_90",
    "crps",
    "fit_seconds",
)
CLASSIFICATION_COLUMNS = (
    "dataset",
    "method",
    "split",
    "accuracy",
    "nll",
    "brier",
    "ece",
    "ood_auroc_mi",
    "ood_auroc_entropy",
    "fit_seconds",
)
CLASSIFICATION_DATASETS = ("digits", "breast_cancer")

# --------------------------------------------------------------------------- published numbers

#: Published test RMSE and test log-likelihood (mean, standard error over splits), original
#: units, on exactly these splits. Copied from ``shared/data/uci/PUBLISHED.md``, which cites:
#: VI (Graves 2011) and PBP (Hernández-Lobato & Adams 2015) as reported by Gal & Ghahramani
#: 2016 (ICML, Table 1); "MC dropout" = Gal & Ghahramani 2016 with the ± converted to a
#: standard error (DropoutUncertaintyExps README, 2016 "10x epochs" results); "MC dropout
#: 2018" = the grid-search re-run in yaringal/DropoutUncertaintyExps @ 6eb4497 (4000 epochs);
#: "Deep Ensembles" = Lakshminarayanan et al. 2017 (NeurIPS, Table 1, sign of NLL flipped).
PUBLISHED: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    "concrete": {
        "VI": {"rmse": (7.19, 0.12), "test_ll": (-3.39, 0.02)},
        "PBP": {"rmse": (5.67, 0.09), "test_ll": (-3.16, 0.02)},
        "MC dropout": {"rmse": (5.23, 0.12), "test_ll": (-3.04, 0.02)},
        "MC dropout 2018": {"rmse": (4.826, 0.161), "test_ll": (-2.937, 0.025)},
        "Deep Ensembles": {"rmse": (6.03, 0.58), "test_ll": (-3.06, 0.18)},
    },
    "energy": {
        "VI": {"rmse": (2.65, 0.08), "test_ll": (-2.39, 0.03)},
        "PBP": {"rmse": (1.80, 0.05), "test_ll": (-2.04, 0.02)},
        "MC dropout": {"rmse": (1.66, 0.04), "test_ll": (-1.99, 0.02)},
        "MC dropout 2018": {"rmse": (0.539, 0.014), "test_ll": (-1.212, 0.005)},
        "Deep Ensembles": {"rmse": (2.09, 0.29), "test_ll": (-1.38, 0.22)},
    },
    "power-plant": {
        "VI": {"rmse": (4.33, 0.04), "test_ll": (-2.89, 0.01)},
        "PBP": {"rmse": (4.12, 0.03), "test_ll": (-2.84, 0.01)},
        "MC dropout": {"rmse": (4.02, 0.04), "test_ll": (-2.80, 0.01)},
        "MC dropout 2018": {"rmse": (4.014, 0.037), "test_ll": (-2.808, 0.009)},
        "Deep Ensembles": {"rmse": (4.11, 0.17), "test_ll": (-2.79, 0.04)},
    },
    "protein-tertiary-structure": {
        "VI": {"rmse": (4.84, 0.03), "test_ll": (-2.99, 0.01)},
        "PBP": {"rmse": (4.73, 0.01), "test_ll": (-2.97, 0.00)},
        "MC dropout": {"rmse": (4.36, 0.01), "test_ll": (-2.89, 0.00)},
        "MC dropout 2018": {"rmse": (4.274, 0.021), "test_ll": (-2.871, 0.001)},
        "Deep Ensembles": {"rmse": (4.71, 0.06), "test_ll": (-2.83, 0.02)},
    },
    "wine-quality-red": {
        "VI": {"rmse": (0.65, 0.01), "test_ll": (-0.98, 0.01)},
        "PBP": {"rmse": (0.64, 0.01), "test_ll": (-0.97, 0.01)},
        "MC dropout": {"rmse": (0.62, 0.01), "test_ll": (-0.93, 0.01)},
        "MC dropout 2018": {"rmse": (0.622, 0.008), "test_ll": (-0.928, 0.013)},
        "Deep Ensembles": {"rmse": (0.64, 0.04), "test_ll": (-0.94, 0.12)},
    },
    "yacht": {
        "VI": {"rmse": (6.89, 0.67), "test_ll": (-3.43, 0.16)},
        "PBP": {"rmse": (1.02, 0.05), "test_ll": (-1.63, 0.02)},
        "MC dropout": {"rmse": (1.11, 0.09), "test_ll": (-1.55, 0.03)},
        "MC dropout 2018": {"rmse": (0.666, 0.049), "test_ll": (-1.250, 0.015)},
        "Deep Ensembles": {"rmse": (1.58, 0.48), "test_ll": (-1.18, 0.21)},
    },
}
#: Other spellings of the dataset folder names.
_PUBLISHED_ALIASES = {
    "power": "power-plant",
    "protein": "protein-tertiary-structure",
    "wine-red": "wine-quality-red",
    "wine": "wine-quality-red",
}
#: Published columns shown next to ours in the summary table.
TABLE_REFERENCES = ("PBP", "MC dropout", "MC dropout 2018", "Deep Ensembles")


def published(dataset: str) -> dict[str, dict[str, tuple[float, float]]]:
    """Published results for a dataset folder name (``{}`` when there are none)."""
    return PUBLISHED.get(_PUBLISHED_ALIASES.get(dataset, dataset), {})


# --------------------------------------------------------------------------- settings


@dataclass
class Settings:
    """Fit budgets of every method (see ``--preset``); ``scale`` multiplies steps/epochs.

    Attributes
    ----------
    svi_steps, svi_lr, svi_init_scale : SVI optimisation (``fit_svi``)
    svi_full_batch_max : full-batch SVI up to this many training points, else minibatches
    svi_batch_size : minibatch size above that
    noise_prior_scale : HalfNormal scale of a learned noise ``sigma`` (standardized y)
    svi_noise, nuts_noise : ``"learned"`` (latent ``sigma``) or ``"validation"`` (``sigma``
        fixed at the validation RMSE of a MAP fit; NUTS then starts from that MAP fit)
    nuts_warmup, nuts_samples, nuts_chains, nuts_max_points : NUTS budget; larger
        training sets are skipped
    nuts_target_accept, nuts_max_tree_depth : NUTS settings
    map_max_steps, map_max_epochs : MAP budget (epochs = min(max_epochs, steps / batches))
    dropout_max_steps, dropout_epochs : MC-dropout budget (paper: 400 epochs, 200 protein)
    dropout_grid, tau_grid : MC-dropout grid (tau in standardized-y units)
    dropout_passes : test-time dropout masks
    ensemble_max_steps, ensemble_max_epochs, ensemble_members : deep-ensemble budget
    swag_epochs, swag_max_steps, swag_draws : SWAG collection stage (after the MAP fit)
    validation_fraction : part of the training split used to choose hyper-parameters
    """

    svi_steps: int = 3000
    svi_lr: float = 1e-2
    svi_init_scale: float = 1e-3
    svi_full_batch_max: int = 2000
    svi_batch_size: int = 1024
    noise_prior_scale: float = 1.0
    nuts_warmup: int = 300
    nuts_samples: int = 300
    nuts_chains: int = 1
    nuts_max_points: int = 1500
    nuts_target_accept: float = 0.8
    nuts_max_tree_depth: int = 8
    svi_noise: str = "learned"
    nuts_noise: str = "validation"
    map_max_steps: int = 4000
    map_max_epochs: int = 1000
    dropout_max_steps: int = 3000
    dropout_epochs: int = 4000
    dropout_grid: tuple[float, ...] = (0.005, 0.01, 0.05, 0.1)
    tau_grid: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)
    dropout_passes: int = 1000
    ensemble_max_steps: int = 4000
    ensemble_max_epochs: int = 1000
    ensemble_members: int = 5
    swag_epochs: int = 50
    swag_max_steps: int = 2000
    swag_draws: int = 100
    validation_fraction: float = 0.2
    scale: float = 1.0
    extra: dict = field(default_factory=dict)

    def steps(self, value: int, minimum: int = 1) -> int:
        """``value * scale`` rounded, at least ``minimum``."""
        return max(minimum, int(round(value * self.scale)))


PRESETS = {
    "standard": Settings(),
    # CI / smoke test: every code path, seconds per fit.
    "tiny": Settings(
        svi_steps=30,
        nuts_warmup=10,
        nuts_samples=10,
        map_max_steps=30,
        map_max_epochs=5,
        dropout_max_steps=30,
        dropout_epochs=5,
        dropout_grid=(0.01, 0.05),
        tau_grid=(1.0, 10.0),
        dropout_passes=50,
        ensemble_max_steps=30,
        ensemble_max_epochs=5,
        ensemble_members=2,
        swag_epochs=3,
        swag_max_steps=10,
        swag_draws=10,
    ),
}


def _batch_for(num_rows: int, small_batch: int, large_batch: int = 512) -> int:
    """The papers' minibatch size for small sets; a larger one above 2,000 points so a
    fixed step budget still covers enough epochs."""
    return small_batch if num_rows <= 2000 else large_batch


def _epochs_for(num_rows: int, batch_size: int, max_steps: int, max_epochs: int) -> int:
    """Epochs so that the number of steps stays within ``max_steps`` (at least one epoch)."""
    batches = max(1, math.ceil(num_rows / batch_size))
    return max(1, min(max_epochs, max_steps // batches))


# --------------------------------------------------------------------------- regression fits


NOISE_MODES = ("learned", "validation")


def _regression_model(
    in_features: int, hidden: tuple[int, ...], settings: Settings, sigma: float | None = None
):
    likelihood = (
        Gaussian(sigma_prior_scale=settings.noise_prior_scale)
        if sigma is None
        else Gaussian(sigma=sigma)
    )
    return BayesianMLP(
        in_features, 1, hidden=hidden, activation="relu", prior=LayerwiseNormal(),
        likelihood=likelihood,
    )  # fmt: skip


def _map_fit(x, y, hidden, settings: Settings, seed: int, progress: bool):
    """MAP with the number of epochs chosen on a validation part of the training data."""
    batch = _batch_for(x.shape[0], 128)
    epochs = _epochs_for(
        x.shape[0], batch, settings.steps(settings.map_max_steps), settings.map_max_epochs
    )
    return fit_map(
        _regression_model(x.shape[1], hidden, settings),
        x,
        y,
        num_epochs=epochs,
        batch_size=batch,
        validation_fraction=settings.validation_fraction,
        standardize=False,  # the benchmark standardizes the split itself
        seed=seed,
        progress=progress,
    )


def _swag_fit(model, x, y, settings: Settings, seed: int, progress: bool):
    """SWAG from a MAP fit whose length is chosen on validation data (as for ``map``)."""
    batch = _batch_for(x.shape[0], 128)
    epochs = _epochs_for(
        x.shape[0], batch, settings.steps(settings.map_max_steps), settings.map_max_epochs
    )
    swag_epochs = max(
        2,
        _epochs_for(
            x.shape[0], batch, settings.steps(settings.swag_max_steps), settings.swag_epochs
        ),
    )
    return fit_swag(
        model,
        x,
        y,
        num_epochs=epochs,
        swag_epochs=swag_epochs,
        num_draws=settings.swag_draws,
        batch_size=batch,
        validation_fraction=settings.validation_fraction,
        standardize=False,  # the benchmark standardizes the split itself
        seed=seed,
        progress=progress,
    )


def _bnn_noise(mode: str, x, y, hidden, settings: Settings, seed: int, progress: bool):
    """``(sigma or None, MAP fit or None)`` for a BNN's noise ``mode``.

    ``"learned"``: ``sigma ~ HalfNormal(noise_prior_scale)`` is a latent site.
    ``"validation"``: ``sigma`` is fixed at the validation RMSE (standardized units) of
    a MAP fit of the same network, a plug-in chosen on the validation part of the
    training split (like MC dropout's tau); the MAP fit also initialises NUTS.
    """
    if mode not in NOISE_MODES:
        raise ValueError(f"unknown noise mode {mode!r}; valid: {', '.join(NOISE_MODES)}")
    if mode == "learned":
        return None, None
    fit = _map_fit(x, y, hidden, settings, seed, progress)
    return max(fit.diagnostics["validation_rmse"], 1e-3), fit


def _fit_predict_regression(
    method: str,
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    hidden: tuple[int, ...],
    settings: Settings,
    seed: int,
    progress: bool,
) -> tuple[Prediction, dict]:
    """Fit ``method`` on standardized training data; predict the standardized test inputs."""
    num_rows = x.shape[0]
    if method in ("svi", "svi-lowrank"):
        sigma, _ = _bnn_noise(settings.svi_noise, x, y, hidden, settings, seed, progress)
        model = _regression_model(x.shape[1], hidden, settings, sigma)
        batch = None if num_rows <= settings.svi_full_batch_max else settings.svi_batch_size
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            posterior = fit_svi(
                model,
                x,
                y,
                standardize=False,  # already standardized with the split's statistics
                guide="normal" if method == "svi" else "lowrank",
                num_steps=settings.steps(settings.svi_steps),
                lr=settings.svi_lr,
                init_scale=settings.svi_init_scale,
                batch_size=batch,
                seed=seed,
                progress=progress,
            )
        info = {
            "sigma": sigma if sigma is not None else float(posterior.draws["sigma"].mean()),
            "warnings": [str(w.message) for w in caught],
        }
        return predict(posterior, x_test, num_draws=1000, seed=seed), info
    if method == "nuts":
        sigma, map_fit = _bnn_noise(settings.nuts_noise, x, y, hidden, settings, seed, progress)
        model = _regression_model(x.shape[1], hidden, settings, sigma)
        init = "map"
        if map_fit is not None:
            init = {k: v[0] for k, v in map_fit.draws.items() if k.startswith("layers.")}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            posterior = fit_nuts(
                model,
                x,
                y,
                standardize=False,  # already standardized with the split's statistics
                num_samples=settings.steps(settings.nuts_samples, 4),
                warmup_steps=settings.steps(settings.nuts_warmup),
                num_chains=settings.nuts_chains,
                target_accept_prob=settings.nuts_target_accept,
                max_tree_depth=settings.nuts_max_tree_depth,
                init=init,
                seed=seed,
                progress=progress,
            )
        info = {
            "sigma": sigma if sigma is not None else float(posterior.draws["sigma"].mean()),
            "divergences": posterior.diagnostics.get("divergences"),
            "mean_tree_depth": posterior.diagnostics["chains"][0].get("mean_tree_depth"),
            "warnings": [str(w.message) for w in caught],
        }
        return predict(posterior, x_test, seed=seed), info
    if method == "map":
        fit = _map_fit(x, y, hidden, settings, seed, progress)
        info = {"num_epochs": fit.diagnostics["num_epochs"]}
    elif method == "swag":
        fit = _swag_fit(
            _regression_model(x.shape[1], hidden, settings), x, y, settings, seed, progress
        )
        info = {
            "map_epochs": fit.diagnostics["map_epochs"],
            "swag_epochs": fit.diagnostics["swag_epochs"],
        }
    elif method == "mc-dropout":
        batch = _batch_for(num_rows, 128)
        epochs = _epochs_for(
            num_rows, batch, settings.steps(settings.dropout_max_steps), settings.dropout_epochs
        )
        fit = fit_mc_dropout(
            BayesianMLP(x.shape[1], 1, hidden, "relu"),
            x,
            y,
            dropout=settings.dropout_grid,
            tau=settings.tau_grid,
            num_epochs=epochs,
            batch_size=batch,
            num_passes=settings.dropout_passes,
            validation_fraction=settings.validation_fraction,
            standardize=False,
            seed=seed,
            progress=progress,
        )
        info = {k: fit.diagnostics[k] for k in ("dropout", "tau", "num_epochs")}
    elif method == "ensemble":
        batch = _batch_for(num_rows, 100)
        epochs = _epochs_for(
            num_rows,
            batch,
            settings.steps(settings.ensemble_max_steps),
            settings.ensemble_max_epochs,
        )
        fit = fit_ensemble(
            BayesianMLP(x.shape[1], 1, hidden, "relu"),
            x,
            y,
            num_members=settings.ensemble_members,
            num_epochs=epochs,
            batch_size=batch,
            validation_fraction=settings.validation_fraction,
            standardize=False,
            seed=seed,
            progress=progress,
        )
        info = {"num_epochs": fit.diagnostics["num_epochs"]}
    else:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(REGRESSION_METHODS)}")
    return fit.predict(x_test, seed=seed), info


# --------------------------------------------------------------------------- CSV rows


def _format_value(value) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def _write_rows(path: Path, columns: Sequence[str], rows: list[dict]) -> None:
    """Rewrite the whole CSV atomically (small files): a crash never leaves half a row."""

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns))
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _format_value(row[k]) for k in columns})

    atomic_write(path, write)


def read_rows(path: str | os.PathLike) -> list[dict]:
    """Rows of a benchmark CSV: text columns as strings, numbers as floats (``split`` int)."""
    rows = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            parsed = {}
            for key, value in row.items():
                if key in ("dataset", "method"):
                    parsed[key] = value
                elif key == "split":
                    parsed[key] = int(value)
                else:
                    parsed[key] = float(value) if value not in ("", None) else math.nan
            rows.append(parsed)
    return rows


class _Log:
    """Progress lines on stderr (silenced with ``quiet``)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            elapsed = time.perf_counter() - self.start
            print(f"[{elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- UCI protocol


def _uci_hidden(dataset: str, hidden: int | None) -> tuple[int, ...]:
    if hidden is not None:
        return (hidden,)
    return (100,) if dataset.startswith("protein") else (50,)


def _list_uci_datasets(data_dir: Path) -> list[str]:
    return sorted(
        p.name for p in data_dir.iterdir() if p.is_dir() and (p / "n_splits.txt").is_file()
    )


def run_uci(
    data_dir: str | os.PathLike,
    datasets: Sequence[str] | None = None,
    methods: Sequence[str] = ("svi", "map", "mc-dropout", "ensemble"),
    splits: int | None = None,
    out: str | os.PathLike = "uci_results.csv",
    settings: Settings | None = None,
    split_limits: dict[str, int] | None = None,
    hidden: int | None = None,
    resume: bool = False,
    progress: bool = False,
    quiet: bool = False,
    fitters: dict[str, Callable] | None = None,
) -> tuple[list[dict], list[str]]:
    """Run the UCI regression protocol; write one CSV row per dataset × method × split.

    Parameters
    ----------
    data_dir : path
        Folder holding one sub-folder per dataset in the UCI split format.
    datasets : sequence of str, optional
        Sub-folder names (default: all in ``data_dir``).
    methods : sequence of str
        From :data:`REGRESSION_METHODS`.
    splits : int, optional
        First ``splits`` splits of each dataset (default: all).
    out : path
        CSV file, rewritten atomically after every fit.
    settings : Settings
        Fit budgets (default ``PRESETS["standard"]``).
    split_limits : dict, optional
        Per-dataset cap on the number of splits (e.g. ``{"protein-tertiary-structure": 2}``).
    hidden : int, optional
        Hidden width for all datasets (default 50, 100 for protein).
    resume : bool
        Keep the rows already in ``out`` and skip their (dataset, method, split).
    fitters : dict, optional
        Replacement fit functions per method (for tests), same signature as the
        internal ``_fit_predict_regression``.

    Returns
    -------
    rows, failures : list of dict, list of str
        All rows in ``out`` and a message per fit that raised.
    """
    settings = settings or PRESETS["standard"]
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ValueError(f"--data-dir '{data_dir}' is not a folder")
    available = _list_uci_datasets(data_dir)
    datasets = list(datasets) if datasets else available
    for name in datasets:
        if name not in available:
            raise ValueError(
                f"dataset {name!r} not found in '{data_dir}'; available: {', '.join(available)}"
            )
    for method in methods:
        if method not in REGRESSION_METHODS:
            raise ValueError(f"unknown method {method!r}; valid: {', '.join(REGRESSION_METHODS)}")
    if splits is not None and (
        isinstance(splits, bool) or not isinstance(splits, int) or splits < 1
    ):
        raise ValueError(f"splits must be a positive integer, got {splits!r}")
    out = Path(out)
    rows: list[dict] = read_rows(out) if resume and out.is_file() else []
    done = {(r["dataset"], r["method"], r["split"]) for r in rows}
    failures: list[str] = []
    log = _Log(quiet)
    fitters = fitters or {}

    plan = []
    for name in datasets:
        count = uci_num_splits(data_dir / name)
        count = min(count, splits) if splits else count
        if split_limits and name in split_limits:
            count = min(count, split_limits[name])
        for split in range(count):
            for method in methods:
                plan.append((name, split, method))
    _write_rows(out, REGRESSION_COLUMNS, rows)
    cache: dict = {}
    for position, (name, split, method) in enumerate(plan, 1):
        tag = f"[{position}/{len(plan)}] {name} split {split} {method}"
        if (name, method, split) in done:
            log(f"{tag}: already in {out}, skipped")
            continue
        try:
            if (name, split) not in cache:
                cache.clear()
                dataset = load_uci(data_dir / name, split)
                standardizer = Standardizer.fit(dataset.x, dataset.y)
                cache[(name, split)] = (dataset, standardizer)
            dataset, standardizer = cache[(name, split)]
            if method == "nuts" and dataset.num_points > settings.nuts_max_points:
                log(
                    f"{tag}: skipped (NUTS only on training sets up to "
                    f"{settings.nuts_max_points} points; this one has {dataset.num_points})"
                )
                continue
            x = standardizer.transform_x(dataset.x)
            y = standardizer.transform_y(dataset.y)
            x_test = standardizer.transform_x(dataset.x_test)
            y_test = standardizer.transform_y(dataset.y_test)
            fit = fitters.get(method, _fit_predict_regression)
            start = time.perf_counter()
            prediction, info = fit(
                method, x, y, x_test, _uci_hidden(name, hidden), settings, split, progress
            )
            seconds = time.perf_counter() - start
            scores = metrics.evaluate(
                prediction, y_test, levels=(0.9,), y_scale=float(standardizer.y_std)
            )
        except Exception as error:  # one failed fit must not lose the others
            message = f"{tag} FAILED: {type(error).__name__}: {error}"
            failures.append(message)
            log(message)
            if not quiet:
                traceback.print_exc(file=sys.stderr)
            continue
        row = {
            "dataset": name,
            "method": method,
            "split": split,
            "rmse": scores["rmse"],
            "test_ll": scores["test_ll"],
            "coverage_90": scores["coverage_90"],
            "crps": scores["crps"],
            "fit_seconds": seconds,
        }
        rows.append(row)
        _write_rows(out, REGRESSION_COLUMNS, rows)
        details = ", ".join(f"{k}={_short(v)}" for k, v in info.items() if k != "warnings")
        log(
            f"{tag}: rmse {row['rmse']:.3f}  test_ll {row['test_ll']:.3f}  "
            f"cov90 {row['coverage_90']:.2f}  ({seconds:.1f}s{'; ' + details if details else ''})"
        )
        for message in info.get("warnings", []):
            log(f"    warning: {message.splitlines()[0][:160]}")
    return rows, failures


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# --------------------------------------------------------------------------- summary


def summarize(rows: Sequence[dict], columns: Sequence[str] = ("rmse", "test_ll")) -> list[dict]:
    """Mean and standard error over splits per (dataset, method).

    Returns dicts with ``dataset``, ``method``, ``num_splits`` and, per column,
    ``<column>_mean`` and ``<column>_se`` (std over splits / sqrt(n); NaN for one split).
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["method"]), []).append(row)
    summary = []
    for (dataset, method), group in groups.items():
        entry = {"dataset": dataset, "method": method, "num_splits": len(group)}
        for column in columns:
            values = np.array([float(r[column]) for r in group], dtype=float)
            entry[f"{column}_mean"] = float(values.mean())
            entry[f"{column}_se"] = (
                float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan
            )
        summary.append(entry)
    return summary


def _mean_se(mean: float, se: float, digits: int) -> str:
    if math.isnan(se):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def _digits(dataset: str) -> int:
    return 3 if "wine" in dataset else 2


def format_table(rows: Sequence[dict], metric: str = "test_ll") -> str:
    """Markdown table: ours (mean ± s.e. over splits, n) next to the published numbers.

    ``metric`` is ``"test_ll"`` (higher is better) or ``"rmse"`` (lower is better).
    """
    if metric not in ("test_ll", "rmse"):
        raise ValueError(f"metric must be 'test_ll' or 'rmse', got {metric!r}")
    summary = summarize(rows, (metric,))
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = [m for m in REGRESSION_METHODS if any(r["method"] == m for r in rows)]
    methods += sorted({r["method"] for r in rows} - set(methods))
    lookup = {(s["dataset"], s["method"]): s for s in summary}
    header = (
        ["dataset"]
        + [f"{m} (ours)" for m in methods]
        + [f"{r} (published)" for r in TABLE_REFERENCES]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for dataset in datasets:
        digits = _digits(dataset)
        cells = [dataset]
        for method in methods:
            entry = lookup.get((dataset, method))
            if entry is None:
                cells.append("—")
            else:
                text = _mean_se(entry[f"{metric}_mean"], entry[f"{metric}_se"], digits)
                cells.append(f"{text} (n={entry['num_splits']})")
        reference = published(dataset)
        for name in TABLE_REFERENCES:
            value = reference.get(name, {}).get(metric)
            cells.append("—" if value is None else _mean_se(value[0], value[1], digits))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_calibration_table(rows: Sequence[dict]) -> str:
    """Markdown table of 90% interval coverage and CRPS (original units), mean ± s.e."""
    summary = {(s["dataset"], s["method"]): s for s in summarize(rows, ("coverage_90", "crps"))}
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = [m for m in REGRESSION_METHODS if any(r["method"] == m for r in rows)]
    header = ["dataset"] + [f"{m}: coverage_90 / crps" for m in methods]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for dataset in datasets:
        cells = [dataset]
        for method in methods:
            entry = summary.get((dataset, method))
            if entry is None:
                cells.append("—")
                continue
            coverage = _mean_se(entry["coverage_90_mean"], entry["coverage_90_se"], 2)
            crps = _mean_se(entry["crps_mean"], entry["crps_se"], _digits(dataset))
            cells.append(f"{coverage} / {crps}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goal_report(
    rows: Sequence[dict], methods: Sequence[str] = ("svi", "svi-lowrank", "nuts")
) -> str:
    """Plain-words check of the goals: test LL ≥ PBP's, and > published MC dropout's.

    Compares means only (our standard errors are printed in the table).
    """
    summary = {(s["dataset"], s["method"]): s for s in summarize(rows, ("test_ll",))}
    lines = []
    for method in methods:
        datasets = [d for (d, m) in summary if m == method]
        if not datasets:
            continue
        pbp_wins, dropout_wins, compared = [], [], 0
        for dataset in datasets:
            reference = published(dataset)
            if not reference:
                continue
            compared += 1
            ours = summary[(dataset, method)]["test_ll_mean"]
            if ours >= reference["PBP"]["test_ll"][0]:
                pbp_wins.append(dataset)
            if ours > reference["MC dropout"]["test_ll"][0]:
                dropout_wins.append(dataset)
        if compared:
            lines.append(
                f"{method}: test LL ≥ PBP on {len(pbp_wins)}/{compared} "
                f"({', '.join(pbp_wins) or 'none'}); > MC dropout (GG16) on "
                f"{len(dropout_wins)}/{compared} ({', '.join(dropout_wins) or 'none'})"
            )
    return "\n".join(lines)


def plot_published_comparison(
    rows: Sequence[dict], path: str | os.PathLike, metric: str = "test_ll"
):
    """Figure: per dataset, our methods (mean ± s.e.) against the published numbers.

    Returns the matplotlib figure (also saved to ``path``).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    summary = {(s["dataset"], s["method"]): s for s in summarize(rows, (metric,))}
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = [m for m in REGRESSION_METHODS if any(r["method"] == m for r in rows)]
    references = ("VI", "PBP", "MC dropout", "MC dropout 2018", "Deep Ensembles")
    columns = min(3, len(datasets))
    num_rows = math.ceil(len(datasets) / columns)
    fig, axes = plt.subplots(
        num_rows, columns, figsize=(4.6 * columns, 3.4 * num_rows), squeeze=False
    )
    ours_color, theirs_color = "tab:blue", "tab:gray"
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        labels, means, errors, colors = [], [], [], []
        for method in methods:
            entry = summary.get((dataset, method))
            if entry is None:
                continue
            labels.append(f"{method} (n={entry['num_splits']})")
            means.append(entry[f"{metric}_mean"])
            errors.append(0.0 if math.isnan(entry[f"{metric}_se"]) else entry[f"{metric}_se"])
            colors.append(ours_color)
        reference = published(dataset)
        for name in references:
            if name in reference:
                labels.append(name)
                means.append(reference[name][metric][0])
                errors.append(reference[name][metric][1])
                colors.append(theirs_color)
        positions = np.arange(len(labels))
        ax.errorbar(
            means, positions, xerr=errors, fmt="none", ecolor="black", elinewidth=1, capsize=2
        )
        ax.scatter(means, positions, c=colors, zorder=3)
        if reference:
            ax.axvline(reference["PBP"][metric][0], color="tab:orange", lw=1, ls="--", label="PBP")
        ax.set_yticks(positions, labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(dataset, fontsize=10)
        ax.set_xlabel(
            "test log-likelihood (higher is better)" if metric == "test_ll" else "test RMSE"
        )
        low = min(means)
        high = max(means)
        # Keep catastrophic values from squashing the rest: clip the axis, mark clipped points.
        if metric == "test_ll" and reference:
            floor = min(v[metric][0] for v in reference.values()) - 1.5
            if low < floor:
                ax.set_xlim(floor, high + 0.1 * (high - floor) + 0.05)
                for position, mean in zip(positions, means, strict=True):
                    if mean < floor:
                        ax.annotate(
                            f"← {mean:.1f}",
                            (floor, position),
                            fontsize=7,
                            va="center",
                            xytext=(2, 0),
                            textcoords="offset points",
                            color="tab:red",
                        )
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(datasets) :]:
        ax.axis("off")
    title = "UCI test log-likelihood: ours (blue, mean ± s.e.) vs published (gray); dashed: PBP"
    fig.suptitle(title if columns > 1 else title.replace(": ", ":\n"), fontsize=10)
    fig.tight_layout()
    path = Path(path)

    def write(tmp: str) -> None:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")

    atomic_write(path, write)
    return fig


# --------------------------------------------------------------------------- classification


def _classification_data(name: str, split: int, ood_classes: Sequence[int], test_fraction=0.2):
    """Standardized train/test (and OOD) arrays for one random split of a sklearn dataset."""
    dataset = load_sklearn(name)
    rng = np.random.default_rng(1000 + split)
    order = rng.permutation(dataset.num_points)
    num_test = int(round(test_fraction * dataset.num_points))
    test, train = order[:num_test], order[num_test:]
    x, y = dataset.x, dataset.y
    held_out = np.isin(y, list(ood_classes)) if ood_classes else np.zeros_like(y, dtype=bool)
    kept = [k for k in range(dataset.num_classes) if k not in set(ood_classes)]
    relabel = np.full(dataset.num_classes, -1)
    relabel[kept] = np.arange(len(kept))
    train_in = train[~held_out[train]]
    test_in = test[~held_out[test]]
    test_out = test[held_out[test]]
    standardizer = Standardizer.fit(x[train_in], task="classification")
    return {
        "x": standardizer.transform_x(x[train_in]),
        "y": relabel[y[train_in]],
        "x_test": standardizer.transform_x(x[test_in]),
        "y_test": relabel[y[test_in]],
        "x_ood": standardizer.transform_x(x[test_out]) if test_out.size else None,
        "num_classes": len(kept),
    }


def _fit_predict_classification(
    method: str, data: dict, hidden: tuple[int, ...], settings: Settings, seed: int, progress: bool
):
    """Fit on the training part; return predictions on (test, OOD or None)."""
    x, y, k = data["x"], data["y"], data["num_classes"]
    inputs = [data["x_test"]] + ([data["x_ood"]] if data["x_ood"] is not None else [])
    num_rows = x.shape[0]

    def model():
        return BayesianMLP(x.shape[1], k, hidden, "relu", LayerwiseNormal(), Categorical())

    if method in ("svi", "nuts"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if method == "svi":
                posterior = fit_svi(
                    model(),
                    x,
                    y,
                    standardize=False,  # already standardized with the split's statistics
                    guide="normal",
                    num_steps=settings.steps(settings.svi_steps),
                    lr=settings.svi_lr,
                    init_scale=settings.svi_init_scale,
                    seed=seed,
                    progress=progress,
                )
            else:
                posterior = fit_nuts(
                    model(),
                    x,
                    y,
                    standardize=False,  # already standardized with the split's statistics
                    num_samples=settings.steps(settings.nuts_samples, 4),
                    warmup_steps=settings.steps(settings.nuts_warmup),
                    num_chains=settings.nuts_chains,
                    seed=seed,
                    progress=progress,
                )
        return [
            predict(posterior, z, num_draws=1000 if method == "svi" else None, seed=seed)
            for z in inputs
        ]
    if method == "map":
        epochs = _epochs_for(
            num_rows, 128, settings.steps(settings.map_max_steps), settings.map_max_epochs
        )
        fit = fit_map(
            model(),
            x,
            y,
            num_epochs=epochs,
            validation_fraction=settings.validation_fraction,
            standardize=False,
            seed=seed,
            progress=progress,
        )
    elif method == "mc-dropout":
        epochs = _epochs_for(
            num_rows, 128, settings.steps(settings.dropout_max_steps), settings.dropout_epochs
        )
        fit = fit_mc_dropout(
            model(),
            x,
            y,
            dropout=settings.dropout_grid,
            num_epochs=epochs,
            num_passes=settings.dropout_passes,
            validation_fraction=settings.validation_fraction,
            standardize=False,
            seed=seed,
            progress=progress,
        )
    elif method == "swag":
        fit = _swag_fit(model(), x, y, settings, seed, progress)
    elif method == "ensemble":
        epochs = _epochs_for(
            num_rows, 100, settings.steps(settings.ensemble_max_steps), settings.ensemble_max_epochs
        )
        fit = fit_ensemble(
            model(),
            x,
            y,
            num_members=settings.ensemble_members,
            num_epochs=epochs,
            validation_fraction=settings.validation_fraction,
            standardize=False,
            seed=seed,
            progress=progress,
        )
    else:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(CLASSIFICATION_METHODS)}")
    return [fit.predict(z, seed=seed) for z in inputs]


def run_classification(
    datasets: Sequence[str] = CLASSIFICATION_DATASETS,
    methods: Sequence[str] = CLASSIFICATION_METHODS,
    splits: int = 3,
    out: str | os.PathLike = "classification_results.csv",
    settings: Settings | None = None,
    hidden: int = 50,
    nuts_hidden: int = 10,
    ood_classes: Sequence[int] = (8, 9),
    resume: bool = False,
    progress: bool = False,
    quiet: bool = False,
    fitters: dict[str, Callable] | None = None,
) -> tuple[list[dict], list[str]]:
    """Classification benchmark on scikit-learn's bundled data; one CSV row per fit.

    Random 80/20 splits (seeded by the split index), x standardized with training
    statistics. On ``digits`` the classes ``ood_classes`` are removed from training
    and test; the fitted classifier then scores the held-out-class test images, and
    ``ood_auroc_mi`` / ``ood_auroc_entropy`` are the AUROC of mutual information /
    predictive entropy for separating them from in-distribution test images
    (NaN on datasets without held-out classes). NUTS uses a smaller network
    (``nuts_hidden`` units).
    """
    settings = settings or PRESETS["standard"]
    for name in datasets:
        if name not in CLASSIFICATION_DATASETS:
            raise ValueError(
                f"unknown classification dataset {name!r}; valid: "
                f"{', '.join(CLASSIFICATION_DATASETS)}"
            )
    for method in methods:
        if method not in CLASSIFICATION_METHODS:
            raise ValueError(
                f"unknown method {method!r}; valid: {', '.join(CLASSIFICATION_METHODS)}"
            )
    if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
        raise ValueError(f"splits must be a positive integer, got {splits!r}")
    out = Path(out)
    rows: list[dict] = read_rows(out) if resume and out.is_file() else []
    done = {(r["dataset"], r["method"], r["split"]) for r in rows}
    failures: list[str] = []
    log = _Log(quiet)
    fitters = fitters or {}
    plan = [(d, s, m) for d in datasets for s in range(splits) for m in methods]
    _write_rows(out, CLASSIFICATION_COLUMNS, rows)
    for position, (name, split, method) in enumerate(plan, 1):
        tag = f"[{position}/{len(plan)}] {name} split {split} {method}"
        if (name, method, split) in done:
            log(f"{tag}: already in {out}, skipped")
            continue
        try:
            data = _classification_data(name, split, ood_classes if name == "digits" else ())
            width = (nuts_hidden if method == "nuts" else hidden,)
            fit = fitters.get(method, _fit_predict_classification)
            start = time.perf_counter()
            predictions = fit(method, data, width, settings, split, progress)
            seconds = time.perf_counter() - start
            scores = metrics.evaluate(predictions[0], data["y_test"])
            auroc_mi = auroc_entropy = math.nan
            if len(predictions) > 1:
                inside, outside = predictions
                auroc_mi = metrics.auroc(inside.mutual_information, outside.mutual_information)
                auroc_entropy = metrics.auroc(inside.entropy, outside.entropy)
        except Exception as error:
            message = f"{tag} FAILED: {type(error).__name__}: {error}"
            failures.append(message)
            log(message)
            if not quiet:
                traceback.print_exc(file=sys.stderr)
            continue
        row = {
            "dataset": name,
            "method": method,
            "split": split,
            **{k: scores[k] for k in ("accuracy", "nll", "brier", "ece")},
            "ood_auroc_mi": auroc_mi,
            "ood_auroc_entropy": auroc_entropy,
            "fit_seconds": seconds,
        }
        rows.append(row)
        _write_rows(out, CLASSIFICATION_COLUMNS, rows)
        log(
            f"{tag}: acc {row['accuracy']:.3f}  nll {row['nll']:.3f}  brier {row['brier']:.3f}  "
            f"ece {row['ece']:.3f}  auroc(MI) {auroc_mi:.3f}  ({seconds:.1f}s)"
        )
    return rows, failures


def format_classification_table(rows: Sequence[dict]) -> str:
    """Markdown table of mean ± s.e. over splits of every classification metric."""
    columns = ("accuracy", "nll", "brier", "ece", "ood_auroc_mi", "ood_auroc_entropy")
    summary = summarize(rows, columns)
    header = ["dataset", "method", "n"] + list(columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in summary:
        cells = [entry["dataset"], entry["method"], str(entry["num_splits"])]
        for column in columns:
            mean = entry[f"{column}_mean"]
            cells.append("—" if math.isnan(mean) else _mean_se(mean, entry[f"{column}_se"], 3))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _split_limits(text: str | None) -> dict[str, int]:
    limits = {}
    for part in _comma_list(text or ""):
        name, _, value = part.partition("=")
        if not value.strip().isdigit() or int(value) < 1:
            raise ValueError(
                f"--max-splits entry {part!r} must look like DATASET=N with N a positive integer"
            )
        limits[name.strip()] = int(value)
    return limits


def add_benchmark_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``benchmark`` sub-commands (``uci``, ``classification``) to ``parser``.

    ``run_benchmark(parser.parse_args(...))`` then runs the chosen one.
    """
    suite = parser.add_subparsers(dest="suite", metavar="{uci,classification}", required=True)

    def common(sub: argparse.ArgumentParser, default_out: str, default_methods: str, choices):
        sub.add_argument(
            "--methods",
            default=default_methods,
            help=f"comma-separated methods from: {', '.join(choices)} (default: {default_methods})",
        )
        sub.add_argument("--splits", type=int, default=None, help="use the first N splits")
        sub.add_argument("--out", default=default_out, help="CSV written after every fit")
        sub.add_argument("--table", default=None, help="also write the markdown summary here")
        sub.add_argument(
            "--preset",
            choices=sorted(PRESETS),
            default="standard",
            help="fit budgets: 'standard' (the documented run) or 'tiny' (smoke test, seconds)",
        )
        sub.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="multiply every step/epoch budget of the preset by this factor",
        )
        sub.add_argument(
            "--resume", action="store_true", help="keep and skip rows already in --out"
        )
        sub.add_argument(
            "--report-only",
            action="store_true",
            help="fit nothing: print the summary (and --table/--figure) of the rows in --out",
        )
        sub.add_argument("--nuts-warmup", type=int, default=None, help="NUTS warm-up steps")
        sub.add_argument("--nuts-samples", type=int, default=None, help="NUTS draws kept")
        sub.add_argument("--nuts-chains", type=int, default=None, help="NUTS chains")
        sub.add_argument(
            "--threads",
            type=int,
            default=1,
            help="torch CPU threads (default 1: small networks run fastest on one thread)",
        )
        sub.add_argument("--progress", action="store_true", help="progress bars inside each fit")
        sub.add_argument("--quiet", action="store_true", help="no progress lines")

    uci = suite.add_parser(
        "uci",
        help="UCI regression benchmark (standard splits, published comparison)",
        description="UCI regression benchmark on folders in the standard split format.",
    )
    uci.add_argument("--data-dir", required=True, help="folder with one sub-folder per dataset")
    uci.add_argument(
        "--datasets", default=None, help="comma-separated sub-folder names (default: all)"
    )
    common(uci, "uci_results.csv", "svi,map,mc-dropout,ensemble", REGRESSION_METHODS)
    uci.add_argument(
        "--max-splits",
        default=None,
        help="per-dataset split caps, e.g. 'protein-tertiary-structure=2'",
    )
    uci.add_argument(
        "--hidden", type=int, default=None, help="hidden units (default 50; protein 100)"
    )
    uci.add_argument("--figure", default=None, help="write the test-LL comparison figure here")
    uci.add_argument(
        "--nuts-max-points",
        type=int,
        default=None,
        help="run NUTS only on training sets up to this size (default 1500)",
    )

    classification = suite.add_parser(
        "classification",
        help="digits / breast cancer: accuracy, NLL, Brier, ECE, OOD AUROC",
        description="Classification benchmark on scikit-learn's bundled datasets.",
    )
    classification.add_argument(
        "--datasets",
        default=",".join(CLASSIFICATION_DATASETS),
        help=f"comma-separated, from {', '.join(CLASSIFICATION_DATASETS)}",
    )
    common(
        classification,
        "classification_results.csv",
        ",".join(CLASSIFICATION_METHODS),
        CLASSIFICATION_METHODS,
    )
    classification.add_argument("--hidden", type=int, default=50, help="hidden units")
    classification.add_argument(
        "--nuts-hidden",
        type=int,
        default=10,
        help="hidden units of the NUTS network",
    )
    classification.add_argument(
        "--ood-classes",
        default="8,9",
        help="digits classes held out of training for the OOD AUROC ('none' to keep all)",
    )
    return parser


def _settings_from(args) -> Settings:
    if args.scale <= 0 or not math.isfinite(args.scale):
        raise ValueError(f"--scale must be a positive number, got {args.scale}")
    settings = replace(PRESETS[args.preset], scale=args.scale)
    for option, attribute in (
        ("nuts_max_points", "nuts_max_points"),
        ("nuts_warmup", "nuts_warmup"),
        ("nuts_samples", "nuts_samples"),
        ("nuts_chains", "nuts_chains"),
    ):
        value = getattr(args, option, None)
        if value is not None:
            settings = replace(settings, **{attribute: value})
    return settings


def run_benchmark(args: argparse.Namespace) -> int:
    """Run the benchmark chosen by :func:`add_benchmark_arguments`; returns the exit code.

    0 when every fit ran, 1 when some fits failed (their rows are missing, the
    others are in the CSV), 2 for invalid arguments.
    """
    try:
        settings = _settings_from(args)
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be a positive integer, got {args.threads}")
            torch.set_num_threads(args.threads)
        methods = _comma_list(args.methods)
        start = time.perf_counter()
        if args.report_only:
            if not Path(args.out).is_file():
                raise ValueError(
                    f"--report-only needs an existing --out file; '{args.out}' is missing"
                )
            rows, failures = read_rows(args.out), []
        if args.suite == "uci":
            rows, failures = (
                (rows, failures)
                if args.report_only
                else run_uci(
                    args.data_dir,
                    datasets=_comma_list(args.datasets) if args.datasets else None,
                    methods=methods,
                    splits=args.splits,
                    out=args.out,
                    settings=settings,
                    split_limits=_split_limits(args.max_splits),
                    hidden=args.hidden,
                    resume=args.resume,
                    progress=args.progress,
                    quiet=args.quiet,
                )
            )
            text = "\n\n".join(
                [
                    "Test log-likelihood per point (original units; mean ± s.e. over splits)",
                    format_table(rows, "test_ll"),
                    "Test RMSE (original units)",
                    format_table(rows, "rmse"),
                    "Coverage of the central 90% interval (ideal 0.90) / CRPS (original units)",
                    format_calibration_table(rows),
                    goal_report(rows),
                ]
            )
            if args.figure and rows:
                plot_published_comparison(rows, args.figure)
        elif args.suite == "classification":
            ood = (
                []
                if args.ood_classes.strip().lower() == "none"
                else [int(c) for c in _comma_list(args.ood_classes)]
            )
            rows, failures = (
                (rows, failures)
                if args.report_only
                else run_classification(
                    datasets=_comma_list(args.datasets),
                    methods=methods,
                    splits=args.splits or 3,
                    out=args.out,
                    settings=settings,
                    hidden=args.hidden,
                    nuts_hidden=args.nuts_hidden,
                    ood_classes=ood,
                    resume=args.resume,
                    progress=args.progress,
                    quiet=args.quiet,
                )
            )
            text = format_classification_table(rows)
        else:
            raise ValueError(f"unknown benchmark {args.suite!r}; valid: uci, classification")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    text += f"\n\n{len(rows)} rows in {args.out}; wall time {seconds:.0f} s"
    if failures:
        text += f"\n{len(failures)} fit(s) failed:\n" + "\n".join(failures)
    print(text)
    if args.table:
        atomic_write(args.table, lambda tmp: Path(tmp).write_text(text + "\n"))
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pyro_bnn.benchmark {uci,classification} ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m pyro_bnn.benchmark", description=__doc__.split("\n\n")[0]
    )
    add_benchmark_arguments(parser)
    return run_benchmark(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
