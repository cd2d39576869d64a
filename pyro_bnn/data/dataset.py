"""The :class:`Dataset` every loader returns: numpy arrays plus the names needed to report.

* ``x: (N, D)`` float64 inputs,
* ``y: (N,)`` float64 targets for ``task="regression"`` or int64 labels in
  ``[0, K - 1]`` for ``task="classification"``,
* optionally a held-out part ``x_test: (M, D)``, ``y_test: (M,)`` (UCI splits, or
  :meth:`Dataset.train_test_split`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from pyro_bnn.validation import check_choice, check_labels, check_xy

from .encoding import TableEncoding
from .split import train_test_split

__all__ = ["Dataset", "TASKS"]

#: The tasks a dataset (and a :class:`~pyro_bnn.data.Standardizer`) can have.
TASKS = ("regression", "classification")


def check_task(task: str) -> str:
    """Raise ``ValueError`` unless ``task`` is one of :data:`TASKS`."""
    return check_choice(task, "task", TASKS)


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A dataset as numpy arrays, plus the names needed to report results.

    Attributes
    ----------
    x : np.ndarray
        Inputs ``(N, D)``, float64.
    y : np.ndarray
        Targets ``(N,)``: float64 for regression, int64 labels in ``[0, K-1]`` for
        classification.
    task : str
        ``"regression"`` or ``"classification"``.
    name : str
        Short name (``"gap"``, ``"digits"``, the CSV file stem, the UCI folder name).
    feature_names : tuple of str
        One name per column of ``x``.
    target_name : str
        Name of the target column.
    x_test, y_test : np.ndarray or None
        Held-out part with the same layout, if the source defines one (UCI splits) or
        after :meth:`train_test_split`.
    class_names : tuple of str or None
        Classification only: ``class_names[k]`` is the original label of class ``k``
        (e.g. the strings of a CSV column). ``None`` for regression.
    extra : dict
        Source-specific extras, e.g. the true coefficients of a toy set
        (``extra["weights"]``) or the far query points of ``two_class_ood``
        (``extra["query_points"]``).
    encoding : TableEncoding
        How the input columns of the source table became the columns of ``x``
        (text columns one-hot encoded, see :class:`TableEncoding`); read new tables
        the same way with ``load_csv_features(path, dataset.encoding)``. Default:
        one number column per feature name.

    The dataclass is frozen (fields cannot be reassigned); use
    ``dataclasses.replace`` to derive a modified copy.
    """

    x: np.ndarray
    y: np.ndarray
    task: str
    name: str
    feature_names: tuple[str, ...]
    target_name: str
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    encoding: TableEncoding | None = None

    def __post_init__(self) -> None:
        check_task(self.task)
        x, y = _as_xy_arrays(self.x, self.y, self.task, "training part")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        if (self.x_test is None) != (self.y_test is None):
            raise ValueError("x_test and y_test must both be given or both be None")
        if self.x_test is not None:
            x_test, y_test = _as_xy_arrays(self.x_test, self.y_test, self.task, "test part")
            if x_test.shape[1] != x.shape[1]:
                raise ValueError(
                    f"x_test has {x_test.shape[1]} feature column(s) but x has {x.shape[1]}"
                )
            object.__setattr__(self, "x_test", x_test)
            object.__setattr__(self, "y_test", y_test)
        names = tuple(str(n) for n in self.feature_names)
        if len(names) != x.shape[1]:
            raise ValueError(
                f"feature_names has {len(names)} name(s) but x has {x.shape[1]} column(s)"
            )
        object.__setattr__(self, "feature_names", names)
        if self.task == "classification":
            if self.class_names is None:
                labels = [int(y.max())] + ([] if self.y_test is None else [int(self.y_test.max())])
                object.__setattr__(
                    self, "class_names", tuple(str(k) for k in range(max(labels) + 1))
                )
            else:
                object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
            num_classes = len(self.class_names)
            check_labels(torch.from_numpy(y), num_classes)
            if self.y_test is not None:
                check_labels(torch.from_numpy(self.y_test), num_classes)
        elif self.class_names is not None:
            raise ValueError("class_names is only meaningful for task='classification'")
        object.__setattr__(self, "extra", dict(self.extra or {}))
        if self.encoding is None:
            object.__setattr__(self, "encoding", TableEncoding(names))
        elif not isinstance(self.encoding, TableEncoding):
            raise TypeError(
                f"encoding must be a TableEncoding, found {type(self.encoding).__name__}"
            )
        elif self.encoding.feature_names != names:
            raise ValueError(
                f"encoding gives feature names {list(self.encoding.feature_names)} but "
                f"feature_names is {list(names)}"
            )

    @property
    def num_points(self) -> int:
        """Number of (training) rows ``N``."""
        return int(self.x.shape[0])

    @property
    def num_features(self) -> int:
        """Number of input columns ``D``."""
        return int(self.x.shape[1])

    @property
    def num_classes(self) -> int | None:
        """Number of classes ``K`` (classification), ``None`` for regression."""
        return None if self.class_names is None else len(self.class_names)

    @property
    def has_test(self) -> bool:
        """Whether a held-out part (``x_test``, ``y_test``) is present."""
        return self.x_test is not None

    def train_test_split(self, test_fraction: float, seed: int = 0) -> Dataset:
        """Return a copy whose ``x``/``y`` are a random training part and ``x_test``/``y_test``
        the rest (see :func:`train_test_split`). Fails if a test part already exists."""
        if self.has_test:
            raise ValueError(
                f"dataset '{self.name}' already has a test part ({self.x_test.shape[0]} rows); "
                "split its training part explicitly with train_test_split(x, y, ...) if needed"
            )
        x_train, x_test, y_train, y_test = train_test_split(self.x, self.y, test_fraction, seed)
        return replace(self, x=x_train, y=y_train, x_test=x_test, y_test=y_test)

    def __repr__(self) -> str:
        test = "None" if self.x_test is None else f"{tuple(self.x_test.shape)}"
        classes = "" if self.class_names is None else f", num_classes={self.num_classes}"
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, x={tuple(self.x.shape)}, "
            f"y={tuple(self.y.shape)}, x_test={test}{classes}, "
            f"target_name={self.target_name!r})"
        )


def _as_xy_arrays(x, y, task: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate with :func:`check_xy` and return ``x: (N, D)`` float64 and ``y`` as numpy."""
    try:
        x_tensor, y_tensor = check_xy(x, y, in_features=None, dtype=torch.float64)
    except (ValueError, TypeError) as error:
        raise type(error)(f"{part}: {error}") from None
    x_array = x_tensor.numpy()
    if task == "classification":
        labels = y_tensor
        if labels.dim() != 1:
            raise ValueError(f"{part}: class labels must be 1-D, found shape {tuple(labels.shape)}")
        check_labels(labels, num_classes=int(labels.max()) + 1 if labels.numel() else 1)
        return x_array, labels.numpy().astype(np.int64)
    return x_array, y_tensor.numpy()


def numbered_feature_names(num_features: int) -> tuple[str, ...]:
    """``("x0", "x1", ...)``: names for columns that have none."""
    return tuple(f"x{i}" for i in range(num_features))
