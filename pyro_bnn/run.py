"""Old import path of run directories: use :mod:`pyro_bnn.app` (kept for scripts)."""

from .app.figures import make_plots  # noqa: F401
from .app.files import atomic_directory, check_out_dir, csv_text, write_csv, write_json  # noqa: F401
from .app.fit import diagnostics_summary, fit_run, library_versions  # noqa: F401
from .app.run_dir import (  # noqa: F401
    RUN_FILES,
    Run,
    RunData,
    default_run_dir,
    evaluate_prediction,
    load_run,
    prediction_columns,
)

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
