"""The UCI regression protocol (Hernández-Lobato & Adams 2015; Gal & Ghahramani 2016).

For every dataset, split and method: standardize x and y with the training split's
statistics (constant columns get scale 1), fit the method (a 1-hidden-layer ReLU
network, 50 units, 100 for protein), predict the test split and score it in original
units of y: ``rmse``, ``test_ll`` (mean log predictive density), ``coverage_90``, ``crps``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import metrics
from ..data import Standardizer, load_uci, uci_num_splits
from ..validation import check_choice, check_positive_int, did_you_mean
from .methods import Setup, fit_predict, methods_for
from .results import REGRESSION_COLUMNS, ProgressLog, run_plan
from .settings import PRESETS, Settings

__all__ = ["run_uci", "list_uci_datasets", "PROTOCOL_SPLITS", "protocol_splits"]

#: Splits of the full protocol per dataset: all 20 of the four small sets, 5 of the two
#: large ones (the standard folders of power-plant hold 20; 5 fit a 2-core budget).
PROTOCOL_SPLITS = {
    "yacht": 20,
    "energy": 20,
    "concrete": 20,
    "wine-quality-red": 20,
    "power-plant": 5,
    "protein-tertiary-structure": 5,
}


def protocol_splits(dataset: str, available: int) -> int:
    """Splits the protocol runs of ``dataset`` (all ``available`` for an unknown set)."""
    return min(available, PROTOCOL_SPLITS.get(dataset, available))


def _uci_hidden(dataset: str, hidden: int | None) -> tuple[int, ...]:
    if hidden is not None:
        return (hidden,)
    return (100,) if dataset.startswith("protein") else (50,)


def list_uci_datasets(data_dir: str | os.PathLike) -> list[str]:
    """Sub-folders of ``data_dir`` in the UCI split format (with ``n_splits.txt``), sorted."""
    return sorted(
        p.name for p in Path(data_dir).iterdir() if p.is_dir() and (p / "n_splits.txt").is_file()
    )


def _plan(data_dir: Path, datasets, methods, splits, split_limits) -> list[tuple[str, int, str]]:
    plan = []
    for name in datasets:
        count = uci_num_splits(data_dir / name)
        if split_limits and name in split_limits:  # replaces the protocol's number
            count = min(count, split_limits[name])
        else:
            count = protocol_splits(name, count)
        count = min(count, splits) if splits else count
        plan += [(name, split, method) for split in range(count) for method in methods]
    return plan


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


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
        Registered regression methods (``methods_for("regression")``).
    splits : int, optional
        First ``splits`` splits of each dataset (default: the protocol's,
        :data:`PROTOCOL_SPLITS`: 20 of the small sets, 5 of power-plant and protein).
    out : path
        CSV file, rewritten atomically after every fit.
    settings : Settings
        Fit budgets (default ``PRESETS["standard"]``).
    split_limits : dict, optional
        Per-dataset number of splits instead of the protocol's (e.g.
        ``{"protein-tertiary-structure": 2}``, ``{"power-plant": 20}``).
    hidden : int, optional
        Hidden width for all datasets (default 50, 100 for protein).
    resume : bool
        Keep the rows already in ``out`` and skip their (dataset, method, split).
    progress, quiet : bool
        Progress bars inside each fit; no progress lines.
    fitters : dict, optional
        Replacement fit functions per method (for tests), with the signature of the
        registered ones: ``fit(setup, x, y, settings) -> Fitted``.

    Returns
    -------
    rows, failures : list of dict, list of str
        All rows in ``out`` and a message per fit that raised.
    """
    settings = settings or PRESETS["standard"]
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ValueError(f"--data-dir '{data_dir}' is not a folder")
    available = list_uci_datasets(data_dir)
    datasets = list(datasets) if datasets else available
    for name in datasets:
        if name not in available:
            raise ValueError(
                f"dataset {name!r} not found in '{data_dir}'{did_you_mean(name, available)}; "
                f"available: {', '.join(available)}"
            )
    for method in methods:
        check_choice(method, "method", methods_for("regression"))
    check_positive_int(splits, "splits", allow_none=True)
    cache: dict = {}

    def run_one(name: str, split: int, method: str, tag: str, log: ProgressLog) -> dict:
        if (name, split) not in cache:
            cache.clear()
            dataset = load_uci(data_dir / name, split)
            cache[(name, split)] = (dataset, Standardizer.fit(dataset.x, dataset.y))
        dataset, standardizer = cache[(name, split)]
        setup = Setup(
            "regression", dataset.x.shape[1], 1, _uci_hidden(name, hidden), split, progress
        )
        start = time.perf_counter()
        (prediction,), info = fit_predict(
            method,
            setup,
            standardizer.transform_x(dataset.x),
            standardizer.transform_y(dataset.y),
            [standardizer.transform_x(dataset.x_test)],
            settings,
            fitters,
        )
        seconds = time.perf_counter() - start
        y_test = standardizer.transform_y(dataset.y_test)
        scores = metrics.evaluate(
            prediction, y_test, levels=(0.9,), y_scale=float(standardizer.y_std)
        )
        row = {"dataset": name, "method": method, "split": split}
        row |= {k: scores[k] for k in ("rmse", "test_ll", "coverage_90", "crps")}
        row["fit_seconds"] = seconds
        details = ", ".join(f"{k}={_short(v)}" for k, v in info.items() if k != "warnings")
        log(
            f"{tag}: rmse {row['rmse']:.3f}  test_ll {row['test_ll']:.3f}  "
            f"cov90 {row['coverage_90']:.2f}  ({seconds:.1f}s{'; ' + details if details else ''})"
        )
        for message in info["warnings"]:
            log(f"    warning: {message.splitlines()[0][:160]}")
        return row

    plan = _plan(data_dir, datasets, methods, splits, split_limits)
    return run_plan(plan, out, REGRESSION_COLUMNS, run_one, resume=resume, quiet=quiet)
