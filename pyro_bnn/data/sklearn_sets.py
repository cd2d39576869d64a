"""scikit-learn's bundled datasets (the ``sklearn:<name>`` data sources; no download)."""

from __future__ import annotations

import numpy as np

from pyro_bnn.validation import did_you_mean

from .dataset import Dataset, numbered_feature_names

__all__ = ["SKLEARN_DATASETS", "load_sklearn"]

#: Bundled scikit-learn datasets (shipped with the package, no download): name -> task.
SKLEARN_DATASETS: dict[str, str] = {
    "digits": "classification",
    "breast_cancer": "classification",
    "iris": "classification",
    "wine": "classification",
    "diabetes": "regression",
}


def load_sklearn(name: str) -> Dataset:
    """Load one of scikit-learn's bundled datasets (no network access).

    Parameters
    ----------
    name : str
        One of ``digits``, ``breast_cancer``, ``iris``, ``wine`` (classification) or
        ``diabetes`` (regression).

    Returns
    -------
    Dataset
        ``x: (N, D)`` float64; ``y`` int64 labels (with ``class_names``) or float64
        targets. No test part: use :meth:`Dataset.train_test_split`.
    """
    if name not in SKLEARN_DATASETS:
        raise ValueError(
            f"unknown scikit-learn dataset '{name}'{did_you_mean(name, SKLEARN_DATASETS)}; "
            f"valid names: {', '.join(SKLEARN_DATASETS)}"
        )
    try:
        from sklearn import datasets as sklearn_datasets
    except ImportError:
        raise ImportError(
            f"loading 'sklearn:{name}' needs scikit-learn: pip install scikit-learn"
        ) from None
    bunch = getattr(sklearn_datasets, f"load_{name}")()
    task = SKLEARN_DATASETS[name]
    x = np.asarray(bunch.data, dtype=np.float64)
    feature_names = getattr(bunch, "feature_names", None)
    if feature_names is None or len(feature_names) != x.shape[1]:
        feature_names = numbered_feature_names(x.shape[1])
    if task == "classification":
        return Dataset(
            x=x,
            y=np.asarray(bunch.target, dtype=np.int64),
            task=task,
            name=name,
            feature_names=tuple(str(n) for n in feature_names),
            target_name="class",
            class_names=tuple(str(c) for c in bunch.target_names),
        )
    return Dataset(
        x=x,
        y=np.asarray(bunch.target, dtype=np.float64),
        task=task,
        name=name,
        feature_names=tuple(str(n) for n in feature_names),
        target_name="target" if name != "diabetes" else "disease_progression",
    )
