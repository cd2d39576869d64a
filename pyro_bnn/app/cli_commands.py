"""The commands of ``pyro-bnn``: one function per sub-command, plus finding model files.

Each ``*_command(args)`` takes the parsed arguments and returns the exit code;
:mod:`pyro_bnn.app.cli` builds the parser and reports errors.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ..data import load_csv, load_csv_columns, load_csv_features
from ..distributed import launch, under_torchrun
from ..validation import did_you_mean
from .figures import make_plots
from .files import check_out_dir, csv_text, write_csv, write_json
from .fit import fit_run
from .run_dir import default_run_dir, evaluate_prediction, load_run
from .spec import describe_model_file, load_spec

__all__ = [
    "PROG",
    "InputError",
    "find_models_dir",
    "resolve_model_file",
    "fit_command",
    "predict_command",
    "evaluate_command",
    "plot_command",
    "compare_command",
    "models_command",
    "benchmark_command",
]

PROG = "pyro-bnn"


class InputError(Exception):
    """Bad usage or bad input: reported in one line, exit code 2."""


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
            names = sorted(p.stem for p in folder.glob("*.toml"))
            raise InputError(
                f"model file '{name}' not found{did_you_mean(stem, names)}; "
                f"bundled models: {', '.join(names)} (pyro-bnn models lists them)"
            )
    raise InputError(f"model file '{name}' not found")


# --------------------------------------------------------------------------- commands


def fit_command(args: argparse.Namespace) -> int:
    """``pyro-bnn fit``: see ``pyro-bnn fit --help``."""

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

    return load_run(run_dir, device=device)


def _read_inputs(run, path: str) -> object:

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


def predict_command(args: argparse.Namespace) -> int:
    """``pyro-bnn predict``: see ``pyro-bnn predict --help``."""

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


def evaluate_command(args: argparse.Namespace) -> int:
    """``pyro-bnn evaluate``: see ``pyro-bnn evaluate --help``."""

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


def plot_command(args: argparse.Namespace) -> int:
    """``pyro-bnn plot``: see ``pyro-bnn plot --help``."""

    run = _load_run(args.run_dir, device=args.device)
    kinds = args.kind or list(run.spec.plots["kinds"])
    out_dir = Path(args.out) if args.out else Path(args.run_dir) / "plots"
    written = make_plots(run, kinds=kinds, out_dir=out_dir)
    for path in written:
        print(path)
    return 0


def compare_command(args: argparse.Namespace) -> int:
    """``pyro-bnn compare``: see ``pyro-bnn compare --help``."""
    from ..workflow import compare

    if len(args.run_dirs) < 2:
        raise InputError("compare needs at least two run directories")
    names = [Path(run_dir).name or str(run_dir) for run_dir in args.run_dirs]
    if len(set(names)) < len(names):  # same folder names in different places
        names = [str(run_dir) for run_dir in args.run_dirs]
    if len(set(names)) < len(names):
        raise InputError("compare: a run directory is given twice")
    runs = [_load_run(run_dir, device=args.device) for run_dir in args.run_dirs]
    first = runs[0].data
    for name, run in zip(names[1:], runs[1:], strict=True):
        same = run.data.x_train.shape == first.x_train.shape and (
            (run.data.x_train == first.x_train).all() and (run.data.y_train == first.y_train).all()
        )
        if not same:
            raise InputError(
                f"runs '{names[0]}' and '{name}' were fitted on different training data; "
                "LOO compares models of the same data"
            )
    try:
        table = compare(
            {name: run.posterior for name, run in zip(names, runs, strict=True)},
            first.x_train,
            first.y_train,
            warn=False,
        )
    except ImportError as error:
        raise InputError(str(error)) from None
    columns = ["rank", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight", "warning"]
    print(table[columns].to_string(float_format=lambda value: f"{value:.2f}"))
    print()
    print(table.attrs["note"])
    if args.out:
        result = {
            "runs": dict(zip(names, map(str, args.run_dirs), strict=True)),
            "table": json.loads(table.drop(columns=["scale"]).to_json(orient="index")),
            "pareto_k": table.attrs["pareto_k"],
            "note": table.attrs["note"],
        }
        write_json(args.out, result)
    return 0


def models_command(args: argparse.Namespace) -> int:
    """``pyro-bnn models``: see ``pyro-bnn models --help``."""

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


def benchmark_command(args: argparse.Namespace) -> int:
    """``pyro-bnn benchmark``: see ``pyro-bnn benchmark --help``."""
    from ..benchmarks import run_benchmark

    return run_benchmark(args)
