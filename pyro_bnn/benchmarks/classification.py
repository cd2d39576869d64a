"""Classification benchmark on scikit-learn's bundled data, with a held-out-class OOD task.

Digits and breast cancer, random 80/20 splits; accuracy, NLL, Brier, ECE. On digits the
classes 5-9 are held out of training (:data:`OOD_CLASSES`; the classifier learns 0-4),
and the AUROC of the mutual information (and of the predictive entropy) for telling
held-out test images apart from test images of the training classes is reported.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence

import numpy as np

from .. import metrics
from ..data import Standardizer, load_sklearn
from ..validation import check_choice, check_positive_int
from .methods import CLASSIFICATION_METHODS, Setup, fit_predict, methods_for
from .results import CLASSIFICATION_COLUMNS, ProgressLog, run_plan
from .settings import PRESETS, Settings

__all__ = ["CLASSIFICATION_DATASETS", "OOD_CLASSES", "ood_aurocs", "run_classification"]

CLASSIFICATION_DATASETS = ("digits", "breast_cancer")
#: Digits classes held out of training by default: train on 0-4, 5-9 are out of distribution.
OOD_CLASSES = (5, 6, 7, 8, 9)


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


def ood_aurocs(inside, outside) -> tuple[float, float]:
    """AUROC of mutual information and of predictive entropy for flagging OOD inputs.

    ``inside``/``outside``: classification predictions of in-distribution and held-out
    test inputs; the held-out ones are the positives (a higher score means "more OOD").

    Returns
    -------
    auroc_mi, auroc_entropy : float
    """
    return (
        metrics.auroc(inside.mutual_information, outside.mutual_information),
        metrics.auroc(inside.entropy, outside.entropy),
    )


def run_classification(
    datasets: Sequence[str] = CLASSIFICATION_DATASETS,
    methods: Sequence[str] = CLASSIFICATION_METHODS,
    splits: int = 3,
    out: str | os.PathLike = "classification_results.csv",
    settings: Settings | None = None,
    hidden: int = 50,
    nuts_hidden: int = 10,
    ood_classes: Sequence[int] = OOD_CLASSES,
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
    (``nuts_hidden`` units). ``fitters`` replaces registered fit functions (tests).

    Returns
    -------
    rows, failures : list of dict, list of str
        All rows in ``out`` and a message per fit that raised.
    """
    settings = settings or PRESETS["standard"]
    for name in datasets:
        check_choice(name, "classification dataset", CLASSIFICATION_DATASETS)
    for method in methods:
        check_choice(method, "method", methods_for("classification"))
    check_positive_int(splits, "splits")

    def run_one(name: str, split: int, method: str, tag: str, log: ProgressLog) -> dict:
        data = _classification_data(name, split, ood_classes if name == "digits" else ())
        width = (nuts_hidden if method == "nuts" else hidden,)
        setup = Setup(
            "classification", data["x"].shape[1], data["num_classes"], width, split, progress
        )
        inputs = [data["x_test"]] + ([data["x_ood"]] if data["x_ood"] is not None else [])
        start = time.perf_counter()
        predictions, _ = fit_predict(method, setup, data["x"], data["y"], inputs, settings, fitters)
        seconds = time.perf_counter() - start
        scores = metrics.evaluate(predictions[0], data["y_test"])
        auroc_mi = auroc_entropy = math.nan
        if len(predictions) > 1:
            auroc_mi, auroc_entropy = ood_aurocs(*predictions)
        row = {"dataset": name, "method": method, "split": split}
        row |= {k: scores[k] for k in ("accuracy", "nll", "brier", "ece")}
        row |= {"ood_auroc_mi": auroc_mi, "ood_auroc_entropy": auroc_entropy}
        row["fit_seconds"] = seconds
        log(
            f"{tag}: acc {row['accuracy']:.3f}  nll {row['nll']:.3f}  brier {row['brier']:.3f}  "
            f"ece {row['ece']:.3f}  auroc(MI) {auroc_mi:.3f}  ({seconds:.1f}s)"
        )
        return row

    plan = [(d, s, m) for d in datasets for s in range(splits) for m in methods]
    return run_plan(plan, out, CLASSIFICATION_COLUMNS, run_one, resume=resume, quiet=quiet)
