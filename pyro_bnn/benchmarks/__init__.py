"""Benchmarks on real data: the UCI regression protocol and scikit-learn classification.

Run them with ``pyro-bnn benchmark {uci,classification} ...`` or
``python -m pyro_bnn.benchmark {uci,classification} ...``; the full documented run
and its results are in ``bench/results/uci/``. The modules:

- :mod:`~pyro_bnn.benchmarks.published`: published PBP / MC dropout / deep-ensemble numbers
- :mod:`~pyro_bnn.benchmarks.settings`: fit budgets (:class:`Settings`) and presets
- :mod:`~pyro_bnn.benchmarks.methods`: the method registry (name → fit function)
- :mod:`~pyro_bnn.benchmarks.uci`: the UCI regression protocol (:func:`run_uci`)
- :mod:`~pyro_bnn.benchmarks.classification`: digits / breast cancer with an OOD task
- :mod:`~pyro_bnn.benchmarks.results`: CSV rows, resuming, the loop over fits
- :mod:`~pyro_bnn.benchmarks.report`: tables and the comparison figure
- :mod:`~pyro_bnn.benchmarks.cli`: the command line

The benchmark uses only the library's public API (``fit_svi``, ``fit_nuts``,
``pyro_bnn.baselines.fit_*``, ``predict``, ``metrics``, the data loaders).
"""

from .classification import CLASSIFICATION_DATASETS, OOD_CLASSES, ood_aurocs, run_classification
from .cli import add_benchmark_arguments, main, run_benchmark
from .methods import (
    CLASSIFICATION_METHODS,
    METHODS,
    REGRESSION_METHODS,
    Fitted,
    Method,
    Setup,
    Skipped,
    fit_predict,
    methods_for,
    register,
)
from .published import PUBLISHED, TABLE_REFERENCES, published
from .report import (
    estimate_protocol_seconds,
    format_calibration_table,
    format_classification_table,
    format_table,
    format_time_table,
    format_uci_report,
    goal_report,
    plot_published_comparison,
    summarize,
)
from .results import CLASSIFICATION_COLUMNS, REGRESSION_COLUMNS, read_rows
from .settings import NOISE_MODES, PRESETS, Settings
from .uci import PROTOCOL_SPLITS, run_uci

__all__ = [
    "REGRESSION_METHODS",
    "CLASSIFICATION_METHODS",
    "CLASSIFICATION_DATASETS",
    "REGRESSION_COLUMNS",
    "CLASSIFICATION_COLUMNS",
    "PUBLISHED",
    "TABLE_REFERENCES",
    "NOISE_MODES",
    "PRESETS",
    "Settings",
    "METHODS",
    "Method",
    "Setup",
    "Fitted",
    "Skipped",
    "register",
    "methods_for",
    "fit_predict",
    "published",
    "run_uci",
    "PROTOCOL_SPLITS",
    "run_classification",
    "OOD_CLASSES",
    "ood_aurocs",
    "summarize",
    "format_table",
    "format_calibration_table",
    "format_classification_table",
    "format_uci_report",
    "goal_report",
    "format_time_table",
    "estimate_protocol_seconds",
    "read_rows",
    "plot_published_comparison",
    "add_benchmark_arguments",
    "run_benchmark",
    "main",
]
