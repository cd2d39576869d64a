"""Command line of the benchmark: ``python -m pyro_bnn.benchmark`` and ``pyro-bnn benchmark``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from ..data.uci import BUNDLED_UCI_DIR
from ..posterior import atomic_write
from ..validation import check_positive_float, check_positive_int
from .classification import CLASSIFICATION_DATASETS, OOD_CLASSES, run_classification
from .methods import methods_for
from .report import format_classification_table, format_uci_report, plot_published_comparison
from .results import read_rows
from .settings import NOISE_MODES, PRESETS, Settings
from .uci import run_uci

__all__ = ["add_benchmark_arguments", "run_benchmark", "main"]

DESCRIPTION = (
    "Benchmarks on real data: the UCI regression protocol and scikit-learn classification."
)


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


def _add_common(sub: argparse.ArgumentParser, default_out: str, default_methods: str, choices):
    """Options shared by both suites: methods, splits, output, budgets, threads."""
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
    sub.add_argument("--resume", action="store_true", help="keep and skip rows already in --out")
    sub.add_argument(
        "--report-only",
        action="store_true",
        help="fit nothing: print the summary (and --table/--figure) of the rows in --out",
    )
    sub.add_argument("--nuts-warmup", type=int, default=None, help="NUTS warm-up steps")
    sub.add_argument("--nuts-samples", type=int, default=None, help="NUTS draws kept")
    sub.add_argument(
        "--nuts-chains",
        type=int,
        default=None,
        help="NUTS chains (default 4, each from its own MAP fit)",
    )
    sub.add_argument(
        "--nuts-noise",
        choices=NOISE_MODES,
        default=None,
        help="NUTS noise: 'learned' (default) or 'validation' (fixed at a MAP fit's "
        "validation RMSE, the plug-in of earlier runs)",
    )
    sub.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: small networks run fastest on one thread)",
    )
    sub.add_argument("--progress", action="store_true", help="progress bars inside each fit")
    sub.add_argument("--quiet", action="store_true", help="no progress lines")


def _add_uci(suite) -> None:
    uci = suite.add_parser(
        "uci",
        help="UCI regression benchmark (standard splits, published comparison)",
        description="UCI regression benchmark on folders in the standard split format.",
    )
    uci.add_argument(
        "--data-dir",
        default=None,
        help="folder with one sub-folder per dataset (default: the sets bundled with pyro_bnn: "
        "concrete, energy, wine-quality-red, yacht)",
    )
    uci.add_argument(
        "--datasets", default=None, help="comma-separated sub-folder names (default: all)"
    )
    _add_common(uci, "uci_results.csv", "svi,map,mc-dropout,ensemble", methods_for("regression"))
    uci.add_argument(
        "--max-splits",
        default=None,
        help="per-dataset number of splits instead of the protocol's (all 20 of the small "
        "sets, 5 of power-plant and protein), e.g. 'protein-tertiary-structure=2,power-plant=20'",
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


def _add_classification(suite) -> None:
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
    methods = methods_for("classification")
    _add_common(classification, "classification_results.csv", ",".join(methods), methods)
    classification.add_argument("--hidden", type=int, default=50, help="hidden units")
    classification.add_argument(
        "--nuts-hidden",
        type=int,
        default=10,
        help="hidden units of the NUTS network",
    )
    classification.add_argument(
        "--ood-classes",
        default=",".join(str(c) for c in OOD_CLASSES),
        help="digits classes held out of training for the OOD AUROC ('none' to keep all; "
        "default: train on 0-4, 5-9 out of distribution)",
    )


def add_benchmark_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``benchmark`` sub-commands (``uci``, ``classification``) to ``parser``.

    ``run_benchmark(parser.parse_args(...))`` then runs the chosen one.
    """
    suite = parser.add_subparsers(dest="suite", metavar="{uci,classification}", required=True)
    _add_uci(suite)
    _add_classification(suite)
    return parser


def _settings_from(args: argparse.Namespace) -> Settings:
    check_positive_float(args.scale, "--scale")
    settings = replace(PRESETS[args.preset], scale=args.scale)
    for name in ("nuts_max_points", "nuts_warmup", "nuts_samples", "nuts_chains", "nuts_noise"):
        value = getattr(args, name, None)
        if value is not None:
            settings = replace(settings, **{name: value})
    return settings


def _run_suite(args: argparse.Namespace, settings: Settings) -> tuple[list[dict], list[str], str]:
    """Fit (or, with ``--report-only``, read) the rows; ``(rows, failures, summary text)``."""
    if args.report_only:
        if not Path(args.out).is_file():
            raise ValueError(f"--report-only needs an existing --out file; '{args.out}' is missing")
        rows, failures = read_rows(args.out), []
    common = dict(
        methods=_comma_list(args.methods), out=args.out, settings=settings, hidden=args.hidden,
        resume=args.resume, progress=args.progress, quiet=args.quiet,
    )  # fmt: skip
    if args.suite == "uci":
        if not args.report_only:
            rows, failures = run_uci(
                args.data_dir or BUNDLED_UCI_DIR,
                datasets=_comma_list(args.datasets) if args.datasets else None,
                splits=args.splits,
                split_limits=_split_limits(args.max_splits),
                **common,
            )
        if args.figure and rows:
            plot_published_comparison(rows, args.figure)
        return rows, failures, format_uci_report(rows)
    if args.suite == "classification":
        if not args.report_only:
            none = args.ood_classes.strip().lower() == "none"
            rows, failures = run_classification(
                datasets=_comma_list(args.datasets),
                splits=args.splits or 3,
                nuts_hidden=args.nuts_hidden,
                ood_classes=[] if none else [int(c) for c in _comma_list(args.ood_classes)],
                **common,
            )
        return rows, failures, format_classification_table(rows)
    raise ValueError(f"unknown benchmark {args.suite!r}; valid: uci, classification")


def run_benchmark(args: argparse.Namespace) -> int:
    """Run the benchmark chosen by :func:`add_benchmark_arguments`; returns the exit code.

    0 when every fit ran, 1 when some fits failed (their rows are missing, the
    others are in the CSV), 2 for invalid arguments.
    """
    try:
        settings = _settings_from(args)
        if args.threads is not None:
            torch.set_num_threads(check_positive_int(args.threads, "--threads"))
        start = time.perf_counter()
        rows, failures, text = _run_suite(args, settings)
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
    """``python -m pyro_bnn.benchmark {uci,classification} ...``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m pyro_bnn.benchmark", description=DESCRIPTION)
    add_benchmark_arguments(parser)
    return run_benchmark(parser.parse_args(argv))
