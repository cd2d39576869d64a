"""Are the defaults good? Classification calibration and convergence of the default schedules.

1. Classification calibration: scikit-learn's breast cancer and digits tables (a fixed
   stratified split, seed 0, 25% test; x standardized with training statistics), the
   ``BayesianMLP`` that ``models/csv_classification.toml`` (breast cancer) and
   ``models/digits.toml`` (digits) build, fitted with ``fit_svi`` and the file's guide and
   schedule, under the file's prior, layerwise priors of weight scale 1, 3, 6, 10, and the
   file with the other activation (tanh or ReLU); test NLL, ECE and accuracy against
   scikit-learn's ``LogisticRegression`` (default C) on the same standardized inputs;
   one NUTS fit per table with the file's prior (``--no-nuts`` to skip).
2. Convergence of the default schedules: every file in models/ (SVI, with the file's
   schedule; NUTS files with the spec defaults for SVI unless they set one), the
   diabetes and breast cancer tables through ``models/csv_regression.toml`` and
   ``models/csv_classification.toml`` (the CLI route) and with the library defaults (a
   model file with no [inference] section: the Python API route); records
   whether :func:`pyro_bnn.inference.convergence.elbo_still_improving` flags the ELBO
   history, and the trend statistics. ELBO curves go to ``bench/results/elbo_curves.png``.

    python bench/bench_defaults.py [--quick] [--no-nuts] [--seeds 1] [--longer 2]

Writes ``bench/results/defaults.json`` (``defaults_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Any

import common
import numpy as np
import torch

import pyro_bnn as pb
from pyro_bnn.inference.convergence import elbo_still_improving, elbo_trend
from pyro_bnn.inference.laplace import is_at_mode
from pyro_bnn.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT / "models"
PRIOR_SCALES = (1.0, 3.0, 6.0, 10.0)

# The classification set-ups: the model file each table is fitted with (network, prior
# and SVI schedule are read from the file, so the bench follows the files).
CLASSIFICATION = {
    "breast_cancer": "models/csv_classification.toml",
    "digits": "models/digits.toml",
}


def _classification_spec(name: str, prior_scale: float | None = None, **model: Any):
    """The model file of ``name`` with its data source set to the scikit-learn table
    (and ``model`` values, e.g. ``activation="tanh"``, overriding the file's)."""
    overrides: dict[str, Any] = {"data.source": f"sklearn:{name}", "inference.method": "svi"}
    if prior_scale is not None:
        overrides["model.prior_scale"] = prior_scale
    overrides |= {f"model.{key}": value for key, value in model.items()}
    return load_spec(ROOT / CLASSIFICATION[name], overrides)


def _split(name: str, seed: int = 0):
    from sklearn.model_selection import train_test_split

    dataset = pb.data.load_sklearn(name)
    x_train, x_test, y_train, y_test = train_test_split(
        dataset.x, dataset.y, test_size=0.25, random_state=seed, stratify=dataset.y
    )
    scaler = pb.Standardizer.fit(x_train, y_train, task="classification")
    return scaler.transform_x(x_train), scaler.transform_x(x_test), y_train, y_test


def _probs(prediction) -> np.ndarray:
    probs = prediction.probs
    probs = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
    if probs.ndim == 2 and probs.shape[1] == 1:
        probs = probs[:, 0]
    if probs.ndim == 1:  # P(class 1) of a binary problem
        probs = np.stack([1 - probs, probs], axis=1)
    return probs


def _scores(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {
        "nll": round(pb.metrics.nll(probs, y), 4),
        "ece": round(pb.metrics.expected_calibration_error(probs, y), 4),
        "accuracy": round(pb.metrics.accuracy(probs, y), 4),
        "brier": round(pb.metrics.brier(probs, y), 4),
    }


def _prior_scale(spec) -> float:
    """The weight scale the file's network gets (its own, or the library's for the task)."""
    scale = spec.model["prior_scale"]
    return pb.nets.default_weight_scale(spec.task) if scale is None else scale


def _classifier(
    name: str, in_features: int, num_classes: int, prior_scale: float | None, **model: Any
):
    return _classification_spec(name, prior_scale, **model).build_model(in_features, num_classes)


def calibration(
    quick: bool, nuts: bool, nuts_scale: float | None, scales: tuple[float, ...] = PRIOR_SCALES
) -> dict[str, Any]:
    """Test NLL/ECE/accuracy of the BNN (the file's prior, then a sweep) and of logistic regression.

    ``nuts_scale`` None: NUTS with the model file's prior scale.
    """
    from sklearn.linear_model import LogisticRegression

    results: dict[str, Any] = {}
    for name, like in CLASSIFICATION.items():
        spec = _classification_spec(name)
        # the file's whole SVI set-up (guide, schedule, particles, rank), not a copy of parts
        schedule = {k: v for k, v in spec.fit_kwargs().items() if k not in ("seed", "dtype")}
        x_train, x_test, y_train, y_test = _split(name)
        num_classes = int(max(y_train.max(), y_test.max()) + 1)
        logistic = LogisticRegression(max_iter=5000).fit(x_train, y_train)
        rows: dict[str, Any] = {
            "setup": {
                "like": like,
                "hidden": list(spec.model["hidden"]),
                "activation": spec.model["activation"],
                "likelihood": spec.model["likelihood"],
                "file_prior_scale": _prior_scale(spec),
                **schedule,
                "num_train": int(len(y_train)),
                "num_test": int(len(y_test)),
            },
            "logistic_regression": _scores(logistic.predict_proba(x_test), y_test),
            "svi": {},
        }
        if quick:
            schedule["num_steps"] = 200
        # the file, a prior-scale sweep, and the file with the other activation
        other = "tanh" if spec.model["activation"] != "tanh" else "relu"
        sweep: list[tuple[str, float | None, dict[str, Any]]] = [("model_file", None, {})]
        sweep += [(f"prior_scale_{s:g}", s, {}) for s in (scales[:1] if quick else scales)]
        sweep.append((f"activation_{other}", None, {"activation": other}))
        for label, scale, changes in sweep:
            model = _classifier(name, x_train.shape[1], num_classes, scale, **changes)
            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                posterior = pb.fit_svi(
                    model,
                    x_train,
                    y_train,
                    seed=0,
                    progress=False,
                    **schedule,
                    standardize=False,
                )
            seconds = time.perf_counter() - start
            prediction = pb.predict(posterior, x_test, num_draws=200 if quick else 1000)
            row = _scores(_probs(prediction), y_test)
            row["fit_seconds"] = round(seconds, 1)
            row["convergence_warning"] = elbo_still_improving(
                posterior.diagnostics["elbo"], num_steps=schedule["num_steps"], lr=schedule["lr"]
            )
            row["library_warnings"] = [str(w.message)[:200] for w in caught]
            rows["svi"][label] = row
        if nuts:
            model = _classifier(name, x_train.shape[1], num_classes, nuts_scale)
            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                posterior = pb.fit_nuts(
                    model,
                    x_train,
                    y_train,
                    num_samples=50 if quick else 300,
                    warmup_steps=50 if quick else 300,
                    seed=0,
                    progress=False,
                    standardize=False,
                )
            row = _scores(_probs(pb.predict(posterior, x_test)), y_test)
            row["fit_seconds"] = round(time.perf_counter() - start, 1)
            row["prior_scale"] = _prior_scale(spec) if nuts_scale is None else nuts_scale
            row["library_warnings"] = [str(w.message)[:200] for w in caught]
            rows["nuts"] = row
        results[name] = rows
    return results


# ----------------------------------------------------------------------- convergence


def _model_cases() -> list[tuple[str, Path, dict[str, Any]]]:
    """(label, model file, overrides) for every bundled model file and the two tables."""
    cases = []
    tables = {"csv_regression": "diabetes", "csv_classification": "breast_cancer"}
    for path in sorted(MODELS_DIR.glob("*.toml")):
        overrides: dict[str, Any] = {"inference.method": "svi"}
        label = path.stem
        if path.stem in tables:  # generic files for a user's table: on the two tables
            overrides["data.source"] = f"sklearn:{tables[path.stem]}"
            label = f"{path.stem}:{tables[path.stem]}"
        cases.append((label, path, overrides))
    return cases


def _table_spec(name: str, task: str, overrides: dict[str, Any]):
    """A model file with only [model] task and [data] source: every other value default."""
    from pyro_bnn.spec import parse_spec

    sections = {"model": {"task": task}, "data": {"source": f"sklearn:{name}"}}
    spec = parse_spec(sections)
    return spec.with_overrides(overrides) if overrides else spec


def _fit_history(spec, seed: int) -> tuple[list[float], dict[str, Any]]:
    dataset = spec.load_dataset()
    likelihood = spec.model["likelihood"]
    scaler = pb.Standardizer.fit(
        dataset.x,
        dataset.y,
        task=spec.task,
        standardize_y=spec.task == "regression" and likelihood != "poisson",
    )
    model = spec.build_model(dataset.num_features, dataset.num_classes)
    kwargs = spec.fit_kwargs() | {"seed": seed}
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        posterior = pb.fit_svi(
            model,
            scaler.transform_x(dataset.x),
            scaler.transform_y(dataset.y),
            progress=False,
            **kwargs,
            standardize=False,
        )
    info = {
        "fit_seconds": round(time.perf_counter() - start, 1),
        "library_warnings": [str(w.message)[:200] for w in caught],
    }
    if "laplace" in posterior.diagnostics:  # fit_svi trusts a Newton-polished mode over Adam's
        info["laplace_at_mode"] = is_at_mode(posterior.diagnostics["laplace"])
    return [float(v) for v in posterior.diagnostics["elbo"]], info


def _judge(history: list[float], inference: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """The detector's verdict and both of its comparisons (see elbo_still_improving).

    A Laplace fit that ends at a mode is not flagged, as in ``fit_svi``."""
    recent = elbo_trend(history)
    since_half = elbo_trend(history, earlier_end=0.5)
    message = elbo_still_improving(
        history, num_steps=len(history), lr=inference["lr"], guide=inference["guide"]
    )
    return {
        "flagged": message is not None and not info.get("laplace_at_mode", False),
        "recent_improvement_nats": round(recent.improvement, 3),
        "recent_z": round(recent.z, 2),
        "since_half_improvement_nats": round(since_half.improvement, 3),
        "since_half_z": round(since_half.z, 2),
        "autocorrelation": round(recent.autocorrelation, 2),
        "final_elbo_mean_last_10pct": round(float(np.mean(history[-recent.window :])), 3),
    }


def convergence(quick: bool, seeds: int, longer: float) -> tuple[dict[str, Any], dict]:
    """Fit every case with its default schedule (and ``longer`` x the steps for reference)."""
    specs = [(label, load_spec(path, overrides)) for label, path, overrides in _model_cases()]
    specs.append(("table:diabetes", _table_spec("diabetes", "regression", {})))
    specs.append(("table:breast_cancer", _table_spec("breast_cancer", "classification", {})))
    results: dict[str, Any] = {}
    curves: dict[str, list[float]] = {}
    for label, spec in specs:
        if quick:
            spec = spec.with_overrides({"inference.num_steps": 100}, origin="--quick")
        inference = spec.inference
        entry: dict[str, Any] = {
            "schedule": {
                k: inference[k] for k in ("guide", "num_steps", "lr", "lr_decay", "batch_size")
            },
            "model": {k: spec.model[k] for k in ("hidden", "prior", "prior_scale", "likelihood")},
            "seeds": {},
        }
        for seed in range(1 if quick else seeds):
            print(f"{label}: seed {seed}", file=sys.stderr, flush=True)
            history, info = _fit_history(spec, seed)
            entry["seeds"][str(seed)] = _judge(history, inference, info) | info
            if seed == 0:
                curves[label] = history
        if not quick and longer > 1:
            steps = int(inference["num_steps"] * longer)
            long_spec = spec.with_overrides({"inference.num_steps": steps}, origin="bench")
            history, info = _fit_history(long_spec, 0)
            entry[f"x{longer:g}_steps"] = _judge(history, long_spec.inference, info) | info
            curves[f"{label} (x{longer:g})"] = history
        entry["flagged_any_seed"] = any(s["flagged"] for s in entry["seeds"].values())
        results[label] = entry
    return results, curves


def verdicts(runs: dict) -> dict[str, str]:
    """Panel titles: flagged, a Laplace fit whose L-BFGS polish reached the mode, or levelled."""
    titles = {}
    for label, entry in runs.items():
        seed = entry["seeds"]["0"]
        if seed["flagged"]:
            titles[label] = "STILL RISING"
        elif seed.get("laplace_at_mode"):
            titles[label] = "Laplace, at a mode after L-BFGS (curve: Adam)"
        else:
            titles[label] = "levelled off"
    return titles


def plot_curves(curves: dict[str, list[float]], titles: dict[str, str], path: Path) -> None:
    """A panel per history: the last 60% of the steps, raw and as a running mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in curves if "(x" not in n]
    columns = 3
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.2 * rows), squeeze=False)
    for axis, name in zip(axes.flat, names, strict=False):
        history = np.asarray(curves[name])
        half = int(len(history) * 0.4)  # the last 60%: the three windows compared
        steps = np.arange(len(history))[half:]
        tail = history[half:]
        axis.plot(steps, tail, color="0.8", lw=0.5, label="per step")
        width = max(1, len(history) // 50)
        smooth = np.convolve(tail, np.ones(width) / width, mode="valid")
        axis.plot(steps[width - 1 :], smooth, color="C0", lw=1.5, label=f"mean of {width}")
        window = max(20, len(history) // 10)
        num = len(history)
        for start, stop, colour in (
            (num // 2 - window, num // 2, "C2"),
            (num - 2 * window, num - window, "C1"),
            (num - window, num, "C3"),
        ):
            part = np.sort(history[start:stop])
            trimmed = part[int(0.2 * len(part)) : len(part) - int(0.2 * len(part))]
            axis.hlines(trimmed.mean(), max(start, half), stop - 1, colour, lw=2)
        low, high = np.percentile(smooth, [1, 99])
        pad = 0.5 * (high - low) + 1e-9
        axis.set_ylim(low - pad, high + pad)
        longer = next((n for n in curves if n.startswith(f"{name} (x")), None)
        if longer is not None:
            axis.axhline(np.mean(curves[longer][-len(curves[longer]) // 10 :]), color="k", ls=":")
        verdict = titles.get(name, "levelled off")
        axis.set_title(f"{name}: {verdict}", fontsize=9, color="C3" if "RISING" in verdict else "k")
        axis.set_xlabel("step (last 60%)", fontsize=8)
        axis.set_ylabel("ELBO", fontsize=8)
        axis.tick_params(labelsize=7)
    for axis in list(axes.flat)[len(names) :]:
        axis.axis("off")
    longer_runs = any("(x" in name for name in curves)
    figure.suptitle(
        "ELBO of the default schedules (seed 0), last 60% of the steps. Bars: trimmed means of "
        "the last 10% (red), the 10% before (orange) and the 10% before the half-way point "
        "(green)" + ("; dotted: last-10% mean of a run with more steps" if longer_runs else ""),
        fontsize=9,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--no-nuts", action="store_true", help="skip the NUTS calibration rows")
    parser.add_argument("--seeds", type=int, default=1, help="fit seeds per schedule (default 1)")
    parser.add_argument(
        "--longer", type=float, default=2.0, help="reference run with this many times the steps"
    )
    parser.add_argument(
        "--nuts-prior-scale", type=float, default=None, help="default: the model file's"
    )
    parser.add_argument(
        "--prior-scales", type=float, nargs="+", default=list(PRIOR_SCALES), help="SVI prior scales"
    )
    parser.add_argument("--skip", choices=("calibration", "convergence"), default=None)
    parser.add_argument(
        "--histories", type=Path, default=None, help="save the ELBO histories (.npz)"
    )
    args = parser.parse_args()
    threads = common.set_threads(args.threads)
    result: dict[str, Any] = {
        "benchmark": "defaults",
        "quick": args.quick,
        "machine": common.machine_info(threads),
    }
    if args.skip != "calibration":
        result["calibration"] = calibration(
            args.quick, not args.no_nuts, args.nuts_prior_scale, tuple(args.prior_scales)
        )
    if args.skip != "convergence":
        runs, curves = convergence(args.quick, args.seeds, args.longer)
        result["convergence"] = runs
        if args.histories is not None:
            np.savez(args.histories, **{k: np.asarray(v) for k, v in curves.items()})
        if not args.no_save:
            name = "elbo_curves_quick.png" if args.quick else "elbo_curves.png"
            plot_curves(curves, verdicts(runs), common.RESULTS_DIR / name)
    common.emit(result, "defaults", args)


if __name__ == "__main__":
    main()
