"""The ``pyro-bnn`` command line: fit model files, predict, evaluate, compare, plot, benchmark.

Exit codes: 0 success, 2 bad usage or bad input (one line on stderr that names the
file, row, column or key; no traceback), 1 internal error, 130 interrupted. Set
``PYRO_BNN_DEBUG=1`` to see the traceback of any error.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib import metadata

from ..plots.kinds import PLOT_KINDS, describe_plot_kinds
from .cli_commands import (
    PROG,
    InputError,
    benchmark_command,
    compare_command,
    evaluate_command,
    find_models_dir,
    fit_command,
    models_command,
    plot_command,
    predict_command,
    resolve_model_file,
)

__all__ = ["main", "build_parser", "find_models_dir", "resolve_model_file", "InputError"]


def _version() -> str:
    try:
        return metadata.version("pyro-bnn")
    except metadata.PackageNotFoundError:  # pragma: no cover - not installed
        from .. import __version__

        return __version__


# --------------------------------------------------------------------------- the parser


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


_FIT_EPILOG = f"""\
examples:
  {PROG} fit csv_regression --data my.csv --target price --out runs/price
  {PROG} fit csv_classification --data patients.csv --target diagnosis --out runs/dx
  {PROG} fit models/regression_gap.toml --out runs/demo
  {PROG} fit regression_gap --method nuts --set inference.num_samples=300
  {PROG} fit models/two_moons.toml --set model.hidden=[10,10] --set inference.warmup_steps=200

Your own table: csv_regression (a numeric target) or csv_classification (class
labels, text or numbers). Every other column is an input; text columns (sex =
F/M) are one-hot encoded with the categories kept in the run; leave out ID
columns with --exclude id. Titles and metrics.json then name your file and target.

--set takes section.key=value with the value as a TOML literal (500, 0.01, true,
[20, 20], "text"); a bare word is read as a string (inference.guide=lowrank).
--data reads a CSV file (with --target COLUMN), a UCI-format folder, or any data
source string (toy:gap, sklearn:digits). The run directory gets spec.toml,
posterior.pt, metrics.json, predictions.csv, plots/*.png and fit.log; it is
written atomically, and an existing one is replaced only with --force.
"""

_PREDICT_EPILOG = f"""\
examples:
  {PROG} predict runs/demo --data new_inputs.csv --out predictions.csv
  {PROG} predict runs/price --data new_houses.csv --keep id --out predictions.csv

The CSV needs the run's input columns by name (other columns are ignored); a
text column must hold categories seen in training. Output columns, in original
units: the --keep columns (copied as written), the inputs, then mean, std (total),
epistemic_std, aleatoric_std, lower_90, upper_90 (regression) or prob_<class>,
predicted_class, confidence, entropy, expected_entropy, mutual_information
(classification). Without --out the CSV goes to stdout.
"""

_EVALUATE_EPILOG = f"""\
examples:
  {PROG} evaluate runs/demo                      # the run's own test part
  {PROG} evaluate runs/price --data holdout.csv --out holdout_metrics.json

Prints metrics as JSON in original units: rmse, mae, test_ll, crps, coverage_*,
calibration_error (regression) or accuracy, nll, brier, ece (classification).
"""

_COMPARE_EPILOG = f"""\
examples:
  {PROG} compare runs/width10 runs/width50
  {PROG} compare runs/svi runs/nuts --out comparison.json

Scores each run by PSIS-LOO (ArviZ's az.compare) on the training data its run
directory holds (the runs must share it): elpd_loo (the log predictive density
of each training point when it is left out, summed over the points, in original
units; higher is better), its standard error, the difference to the best model
and its standard error, p_loo (effective number of parameters) and the stacking
weight, best model first. For SVI runs the draws come from the variational
approximation, so LOO inherits its errors. Pareto k above
the limit flags points where LOO is unreliable; the note below the table says how
many and what to do. Needs ArviZ: pip install "pyro-bnn[arviz]".
"""

_PLOT_EPILOG = f"""\
examples:
  {PROG} plot runs/demo
  {PROG} plot runs/demo --kind uncertainty --out figures/

kinds:
{describe_plot_kinds(indent="  ", width=80)}
"""

_MODELS_EPILOG = f"""\
example:
  {PROG} models

Lists ./models/*.toml, or the models/ folder of the repository pyro-bnn was
installed from, with the first comment line of each file.
"""

_BENCHMARK_EPILOG = f"""\
examples:
  {PROG} benchmark uci --datasets yacht --splits 2     # the UCI sets bundled with pyro_bnn
  {PROG} benchmark uci --data-dir ../shared/data/uci --datasets power-plant --splits 5
  {PROG} benchmark classification --datasets digits --preset tiny
"""

_MAIN_EPILOG = f"""\
examples:
  {PROG} models
  {PROG} fit models/regression_gap.toml --out runs/demo
  {PROG} fit csv_regression --data my.csv --target price --out runs/price
  {PROG} predict runs/demo --data new.csv --out preds.csv
  {PROG} evaluate runs/demo
  {PROG} compare runs/demo runs/wide
  {PROG} plot runs/demo

'{PROG} COMMAND --help' explains each command.
"""


def _benchmark_available() -> bool:
    try:
        return importlib.util.find_spec("pyro_bnn.benchmarks") is not None
    except (ImportError, ValueError):  # pragma: no cover
        return False


def _device_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, cuda:1, mps or auto (a GPU if there is one); default cpu",
    )
    sub.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads for torch (default 1: these networks are small and extra "
        "threads mostly add overhead; raise it for wide networks or big data)",
    )


def _add_command(
    commands, name: str, handler: Callable, help: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    sub = commands.add_parser(
        name, help=help, description=description, epilog=epilog, formatter_class=_Formatter
    )
    sub.set_defaults(handler=handler)
    return sub


def _add_fit(commands) -> None:
    fit = _add_command(
        commands,
        "fit",
        fit_command,
        help="fit a model file and write a run directory",
        description="Fit the network of a model file to its data (or --data) with SVI or "
        "NUTS and write a run directory with the posterior, metrics, predictions and plots.",
        epilog=_FIT_EPILOG,
    )
    fit.add_argument(
        "model", metavar="MODEL.toml", help="model file (or the name of a bundled one)"
    )
    fit.add_argument("--data", metavar="PATH", help="CSV file, UCI folder or source string")
    fit.add_argument("--target", metavar="COLUMN", help="target column of a CSV file")
    fit.add_argument(
        "--exclude",
        action="append",
        metavar="COLUMN",
        help="a CSV column that is not an input, e.g. an ID (repeatable or comma-separated)",
    )
    fit.add_argument("--method", choices=("svi", "nuts"), help="override [inference] method")
    fit.add_argument("--out", metavar="DIR", help="run directory (default: runs/<model file name>)")
    fit.add_argument("--seed", type=int, help="override [inference] seed")
    fit.add_argument(
        "--set",
        action="append",
        metavar="SECTION.KEY=VALUE",
        help="override a model-file value (repeatable)",
    )
    fit.add_argument("--force", action="store_true", help="replace an existing run directory")
    fit.add_argument(
        "--quiet", action="store_true", help="no progress bar or log on stderr (fit.log only)"
    )
    fit.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="data-parallel SVI in N processes (launched through torchrun)",
    )
    _device_options(fit)


def _add_predict(commands) -> None:
    predict = _add_command(
        commands,
        "predict",
        predict_command,
        help="predict with uncertainty for the rows of a CSV file",
        description="Write predictions with uncertainty (original units) for new inputs.",
        epilog=_PREDICT_EPILOG,
    )
    predict.add_argument("run_dir", metavar="RUN_DIR", help="a run directory from 'fit'")
    predict.add_argument("--data", metavar="PATH", required=True, help="CSV file with inputs")
    predict.add_argument("--out", metavar="FILE", help="output CSV (default: stdout)")
    predict.add_argument(
        "--keep",
        action="append",
        metavar="COLUMN",
        help="copy this column of the input CSV (e.g. an ID) into the output; repeatable or "
        "comma-separated (--keep id,name)",
    )
    predict.add_argument("--level", type=float, default=None, help="interval level (0.9)")
    predict.add_argument("--num-draws", type=int, default=None, help="posterior draws")
    predict.add_argument("--seed", type=int, default=None, help="seed of the draws")
    _device_options(predict)


def _add_evaluate(commands) -> None:
    evaluate = _add_command(
        commands,
        "evaluate",
        evaluate_command,
        help="metrics of a run on labelled data (JSON)",
        description="Score a run's predictions against labelled data; metrics in "
        "original units as JSON on stdout.",
        epilog=_EVALUATE_EPILOG,
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="a run directory from 'fit'")
    evaluate.add_argument(
        "--data", metavar="PATH", help="CSV with inputs and target (default: the test part)"
    )
    evaluate.add_argument("--target", metavar="COLUMN", help="target column (default: the run's)")
    evaluate.add_argument("--out", metavar="FILE", help="also write the JSON here")
    evaluate.add_argument("--num-draws", type=int, default=None, help="posterior draws")
    evaluate.add_argument("--seed", type=int, default=None, help="seed of the draws")
    _device_options(evaluate)


def _add_compare(commands) -> None:
    compare = _add_command(
        commands,
        "compare",
        compare_command,
        help="compare runs of the same data by LOO (needs ArviZ)",
        description="Compare fitted runs of the same training data by PSIS-LOO, best first.",
        epilog=_COMPARE_EPILOG,
    )
    compare.add_argument(
        "run_dirs", metavar="RUN_DIR", nargs="+", help="two or more run directories from 'fit'"
    )
    compare.add_argument("--out", metavar="FILE", help="also write the table as JSON here")
    _device_options(compare)


def _add_plot(commands) -> None:
    plot = _add_command(
        commands,
        "plot",
        plot_command,
        help="(re)draw the plots of a run",
        description="Draw the plots of a run directory as PNG files.",
        epilog=_PLOT_EPILOG,
    )
    plot.add_argument("run_dir", metavar="RUN_DIR", help="a run directory from 'fit'")
    plot.add_argument(
        "--kind",
        action="append",
        choices=PLOT_KINDS,
        help="plot kind (repeatable; default: the run's [plots] kinds)",
    )
    plot.add_argument("--out", metavar="DIR", help="output folder (default: RUN_DIR/plots)")
    _device_options(plot)


def _add_benchmark(commands) -> None:
    from ..benchmarks import add_benchmark_arguments

    benchmark = _add_command(
        commands,
        "benchmark",
        benchmark_command,
        help="UCI regression / classification benchmark against baselines",
        description="Run the UCI regression or the classification benchmark.",
        epilog=_BENCHMARK_EPILOG,
    )
    add_benchmark_arguments(benchmark)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pyro-bnn`` (all sub-commands)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Bayesian neural networks on Pyro with honest uncertainty: fit a model "
        "file with SVI or NUTS and get predictions, metrics and plots.",
        epilog=_MAIN_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_fit(commands)
    _add_predict(commands)
    _add_evaluate(commands)
    _add_compare(commands)
    _add_plot(commands)
    _add_command(
        commands,
        "models",
        models_command,
        help="list the bundled model files",
        description="List the bundled model files with a one-line description.",
        epilog=_MODELS_EPILOG,
    )
    if _benchmark_available():
        _add_benchmark(commands)
    return parser


# --------------------------------------------------------------------------- main


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pyro-bnn`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 2
    args.argv = argv
    debug = os.environ.get("PYRO_BNN_DEBUG", "") not in ("", "0")
    try:
        threads = getattr(args, "threads", None)
        if threads is not None and threads < 1:
            raise InputError(f"--threads must be a positive integer, got {threads}")
        if args.command != "benchmark" and "threads" in vars(args):
            import torch

            torch.set_num_threads(threads or 1)
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `pyro-bnn predict ... | head`: the reader left
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (InputError, ValueError, TypeError, FloatingPointError, FileNotFoundError) as error:
        if debug:
            traceback.print_exc()
        print(f"{PROG} {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except Exception as error:
        if debug:
            traceback.print_exc()
        print(
            f"{PROG} {args.command}: internal error: {type(error).__name__}: {_one_line(error)} "
            f"(set PYRO_BNN_DEBUG=1 for the traceback; please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
