"""The ``pyro-bnn`` command line: fit model files, predict, evaluate, plot, benchmark.

Exit codes: 0 success, 2 bad usage or bad input (one line on stderr that names the
file, row, column or key; no traceback), 1 internal error, 130 interrupted. Set
``PYRO_BNN_DEBUG=1`` to see the traceback of any error.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import sys
import traceback
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from .plots.kinds import PLOT_KINDS, describe_plot_kinds

__all__ = ["main", "build_parser", "find_models_dir", "resolve_model_file"]

PROG = "pyro-bnn"


class InputError(Exception):
    """Bad usage or bad input: reported in one line, exit code 2."""


def _version() -> str:
    try:
        return metadata.version("pyro-bnn")
    except metadata.PackageNotFoundError:  # pragma: no cover - not installed
        from .. import __version__

        return __version__


# --------------------------------------------------------------------------- model files


def find_models_dir() -> Path | None:
    """The folder of bundled model files.

    ``./models`` if it holds ``*.toml`` files (so a user's own copies win), else the
    ``models/`` folder of the repository this package was installed from (an
    editable or source install). ``None`` if neither exists.
    """
    candidates = [Path.cwd() / "models", Path(__file__).resolve().parents[2] / "models"]
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("*.toml")):
            return candidate
    return None


def resolve_model_file(name: str) -> Path:
    """``name`` as given if it exists, else a bundled model file of that name
    (``regression_gap`` or ``regression_gap.toml``)."""
    path = Path(name)
    if path.exists():
        return path
    if os.sep not in name and "/" not in name:
        folder = find_models_dir()
        if folder is not None:
            stem = name[:-5] if name.endswith(".toml") else name
            bundled = folder / f"{stem}.toml"
            if bundled.is_file():
                return bundled
            from .spec import did_you_mean

            names = sorted(p.stem for p in folder.glob("*.toml"))
            raise InputError(
                f"model file '{name}' not found{did_you_mean(stem, names)}; "
                f"bundled models: {', '.join(names)} (pyro-bnn models lists them)"
            )
    raise InputError(f"model file '{name}' not found")


# --------------------------------------------------------------------------- commands


def _cmd_fit(args: argparse.Namespace) -> int:
    from .run_dir import default_run_dir, fit_run
    from .spec import load_spec

    model_file = resolve_model_file(args.model)
    overrides = list(args.set or [])
    if args.method:
        overrides.append(f"inference.method={args.method}")
    if args.seed is not None:
        overrides.append(f"inference.seed={args.seed}")
    exclude = _column_list(args.exclude, "--exclude")
    if exclude:
        overrides.append(f"data.exclude={json.dumps(exclude)}")
    spec = load_spec(model_file, overrides)
    if args.data is not None:
        spec = spec.with_data(args.data, target=args.target)
    elif args.target is not None:
        spec = spec.with_overrides({"data.target": args.target})
    out = Path(args.out) if args.out else default_run_dir(spec)
    if args.nproc is not None and args.nproc != 1:
        from ..distributed import launch, under_torchrun
        from .run_dir import check_out_dir

        if args.nproc < 1:
            raise InputError(f"--nproc must be a positive integer, got {args.nproc}")
        if spec.inference["method"] != "svi":
            raise InputError(
                "--nproc splits an SVI fit over processes; this fit uses NUTS (its chains "
                "are independent: set [inference] num_chains), or add --method svi"
            )
        if not under_torchrun():  # re-run this command in N processes through torchrun
            check_out_dir(out, args.force)
            return launch(args.argv, args.nproc)
    command = " ".join(shlex.quote(a) for a in [PROG, *args.argv])
    run = fit_run(
        spec, out, force=args.force, device=args.device, quiet=args.quiet, command=command
    )
    if run is None:  # another process of a torchrun launch: rank 0 writes the run
        return 0
    metrics = run.metrics.get("test") or run.metrics.get("train") or {}
    part = "test" if run.metrics.get("test") else "train"
    shown = ", ".join(
        f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float) and k in _HEADLINE
    )
    print(f"wrote {out}  ({part}: {shown})")
    plots = sorted((out / "plots").glob("*.png")) if (out / "plots").is_dir() else []
    for plot in plots:
        print(f"  {plot}")
    return 0


_HEADLINE = ("rmse", "test_ll", "coverage_90", "crps", "accuracy", "nll", "ece")


def _load_run(run_dir: str, device=None):
    from .run_dir import load_run

    return load_run(run_dir, device=device)


def _read_inputs(run, path: str) -> object:
    from ..data import load_csv_features

    return load_csv_features(path, run.data.encoding)


def _column_list(values: Sequence[str] | None, option: str) -> list[str]:
    """``--keep a --keep b,c`` -> ``["a", "b", "c"]`` (in order, each once)."""
    names: list[str] = []
    for value in values or []:
        for name in value.split(","):
            name = name.strip()
            if not name:
                raise InputError(f"{option} '{value}': empty column name")
            if name not in names:
                names.append(name)
    return names


def _cmd_predict(args: argparse.Namespace) -> int:
    from ..data import load_csv_columns
    from .run_dir import csv_text, write_csv

    keep = _column_list(args.keep, "--keep")
    run = _load_run(args.run_dir, device=args.device)
    x = _read_inputs(run, args.data)
    columns = dict(load_csv_columns(args.data, keep)) if keep else {}
    for name, values in run.data.encoding.decode(x).items():
        if name not in columns:  # a kept input column is copied once, as written
            columns[name] = values
    pred = run.predict(x, num_draws=args.num_draws, seed=args.seed)
    table = run.prediction_table(x, level=args.level, prediction=pred)
    for name, values in table.items():
        columns[name if name not in columns else f"{name}_pred"] = values
    if args.out:
        write_csv(args.out, columns)
        print(f"wrote {len(x)} predictions to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(csv_text(columns))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ..data import load_csv
    from .run_dir import evaluate_prediction, write_json

    run = _load_run(args.run_dir, device=args.device)
    if args.data is None:
        if run.data.x_test is None:
            raise InputError(
                f"run '{args.run_dir}' has no test part; pass --data FILE.csv to evaluate on"
            )
        x, y, source = run.data.x_test, run.data.y_test, "the run's test part"
    else:
        target = args.target or run.data.target_name
        dataset = load_csv(
            args.data,
            target=target,
            features=run.data.encoding,
            task=run.task,
            class_names=run.data.class_names,
        )
        x, y, source = dataset.x, dataset.y, args.data
    pred = run.predict(x, num_draws=args.num_draws, seed=args.seed)
    result = {
        "run": str(args.run_dir),
        "data": str(source),
        "num_points": int(len(y)),
        "metrics": evaluate_prediction(pred, y),
    }
    text = json.dumps(result, indent=2)
    if args.out:
        write_json(args.out, result)
    print(text)
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from .run_dir import make_plots

    run = _load_run(args.run_dir, device=args.device)
    kinds = args.kind or list(run.spec.plots["kinds"])
    out_dir = Path(args.out) if args.out else Path(args.run_dir) / "plots"
    written = make_plots(run, kinds=kinds, out_dir=out_dir)
    for path in written:
        print(path)
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from .spec import describe_model_file

    folder = find_models_dir()
    if folder is None:
        raise InputError(
            "no models/ folder found (looked in ./models and next to the installed package); "
            "run from the repository root"
        )
    files = sorted(folder.glob("*.toml"))
    width = max(len(p.stem) for p in files)
    print(f"model files in {folder}:")
    for path in files:
        print(f"  {path.stem:<{width}}  {describe_model_file(path)}")
    print(f"\nfit one with: {PROG} fit {files[0].relative_to(folder.parent)} --out runs/demo")
    print(
        f"your own table: {PROG} fit csv_regression --data my.csv --target COLUMN "
        "(csv_classification for class labels)"
    )
    return 0


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from ..benchmark import run_benchmark

    return run_benchmark(args)


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
  {PROG} benchmark uci --data-dir ../shared/data/uci --datasets yacht --splits 2
  {PROG} benchmark classification --datasets digits --preset tiny
"""

_MAIN_EPILOG = f"""\
examples:
  {PROG} models
  {PROG} fit models/regression_gap.toml --out runs/demo
  {PROG} fit csv_regression --data my.csv --target price --out runs/price
  {PROG} predict runs/demo --data new.csv --out preds.csv
  {PROG} evaluate runs/demo
  {PROG} plot runs/demo

'{PROG} COMMAND --help' explains each command.
"""


def _benchmark_available() -> bool:
    try:
        return importlib.util.find_spec("pyro_bnn.benchmark") is not None
    except (ImportError, ValueError):  # pragma: no cover
        return False


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

    def device_option(sub: argparse.ArgumentParser) -> None:
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

    fit = commands.add_parser(
        "fit",
        help="fit a model file and write a run directory",
        description="Fit the network of a model file to its data (or --data) with SVI or "
        "NUTS and write a run directory with the posterior, metrics, predictions and plots.",
        epilog=_FIT_EPILOG,
        formatter_class=_Formatter,
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
    device_option(fit)
    fit.set_defaults(handler=_cmd_fit)

    predict = commands.add_parser(
        "predict",
        help="predict with uncertainty for the rows of a CSV file",
        description="Write predictions with uncertainty (original units) for new inputs.",
        epilog=_PREDICT_EPILOG,
        formatter_class=_Formatter,
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
    device_option(predict)
    predict.set_defaults(handler=_cmd_predict)

    evaluate = commands.add_parser(
        "evaluate",
        help="metrics of a run on labelled data (JSON)",
        description="Score a run's predictions against labelled data; metrics in "
        "original units as JSON on stdout.",
        epilog=_EVALUATE_EPILOG,
        formatter_class=_Formatter,
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="a run directory from 'fit'")
    evaluate.add_argument(
        "--data", metavar="PATH", help="CSV with inputs and target (default: the test part)"
    )
    evaluate.add_argument("--target", metavar="COLUMN", help="target column (default: the run's)")
    evaluate.add_argument("--out", metavar="FILE", help="also write the JSON here")
    evaluate.add_argument("--num-draws", type=int, default=None, help="posterior draws")
    evaluate.add_argument("--seed", type=int, default=None, help="seed of the draws")
    device_option(evaluate)
    evaluate.set_defaults(handler=_cmd_evaluate)

    plot = commands.add_parser(
        "plot",
        help="(re)draw the plots of a run",
        description="Draw the plots of a run directory as PNG files.",
        epilog=_PLOT_EPILOG,
        formatter_class=_Formatter,
    )
    plot.add_argument("run_dir", metavar="RUN_DIR", help="a run directory from 'fit'")
    plot.add_argument(
        "--kind",
        action="append",
        choices=PLOT_KINDS,
        help="plot kind (repeatable; default: the run's [plots] kinds)",
    )
    plot.add_argument("--out", metavar="DIR", help="output folder (default: RUN_DIR/plots)")
    device_option(plot)
    plot.set_defaults(handler=_cmd_plot)

    models = commands.add_parser(
        "models",
        help="list the bundled model files",
        description="List the bundled model files with a one-line description.",
        epilog=_MODELS_EPILOG,
        formatter_class=_Formatter,
    )
    models.set_defaults(handler=_cmd_models)

    if _benchmark_available():
        from ..benchmark import add_benchmark_arguments

        benchmark = commands.add_parser(
            "benchmark",
            help="UCI regression / classification benchmark against baselines",
            description="Run the UCI regression or the classification benchmark.",
            epilog=_BENCHMARK_EPILOG,
            formatter_class=_Formatter,
        )
        add_benchmark_arguments(benchmark)
        benchmark.set_defaults(handler=_cmd_benchmark)
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
