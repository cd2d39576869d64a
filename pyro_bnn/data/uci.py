"""Folders in the UCI benchmark format (Hernández-Lobato & Adams 2015): :func:`load_uci`.

A folder holds ``data.txt`` (whitespace-separated numbers, one row per data point),
``index_features.txt`` (0-based feature columns), ``index_target.txt`` (0-based target
column), ``n_splits.txt``, and for each split ``i`` the 0-based row indices
``index_train_<i>.txt`` and ``index_test_<i>.txt``. Any folder in this format works;
nothing is assumed about the dataset.

A folder is found in one of three ways (see :func:`uci_folder`): a path; a name under
``data_dir``; or the name of a set bundled with the package (:func:`bundled_uci_names`,
the folders under ``pyro_bnn/data/uci/``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pyro_bnn.validation import did_you_mean

from .dataset import Dataset

__all__ = [
    "BUNDLED_UCI_DIR",
    "UCI_FILES",
    "bundled_uci_names",
    "load_uci",
    "uci_folder",
    "uci_num_splits",
]

#: The files every UCI-format folder holds (besides the per-split index files).
UCI_FILES = ("data.txt", "index_features.txt", "index_target.txt", "n_splits.txt")

#: Where the UCI sets bundled with the package live, one folder per set.
BUNDLED_UCI_DIR = Path(__file__).resolve().parent / "uci"


def bundled_uci_names() -> tuple[str, ...]:
    """Names of the UCI-format sets bundled with the package (sorted; may be empty)."""
    if not BUNDLED_UCI_DIR.is_dir():
        return ()
    return tuple(
        sorted(
            entry.name
            for entry in BUNDLED_UCI_DIR.iterdir()
            if entry.is_dir() and (entry / "n_splits.txt").is_file()
        )
    )


def uci_folder(folder: str | Path, data_dir: str | Path | None = None) -> Path:
    """The checked folder of a UCI-format dataset.

    Parameters
    ----------
    folder : str or Path
        With ``data_dir``: the set's folder name inside it. Without: a bare name (a
        ``str`` without a path separator) of a bundled set (:func:`bundled_uci_names`),
        or else the path of the folder (write ``./yacht`` for a folder of your own that
        shares a bundled set's name).
    data_dir : str or Path, optional
        A folder holding sets in the same format, one folder per set.

    Raises
    ------
    ValueError
        If the folder does not exist or lacks one of :data:`UCI_FILES`.
    """
    bundled = bundled_uci_names()
    bare_name = isinstance(folder, str) and "/" not in folder and "\\" not in folder
    if data_dir is not None:
        path = Path(data_dir).expanduser() / folder
    elif bare_name and folder in bundled:
        path = BUNDLED_UCI_DIR / folder
    else:
        path = Path(folder).expanduser()
    if not path.is_dir():
        hint = ""
        if data_dir is None and bare_name and bundled:
            hint = f"{did_you_mean(folder, bundled)}; bundled UCI sets: {', '.join(bundled)}"
        raise ValueError(f"UCI dataset folder '{path}' not found (or not a folder){hint}")
    missing = [name for name in UCI_FILES if not (path / name).is_file()]
    if missing:
        raise ValueError(
            f"UCI dataset folder '{path}' is missing {', '.join(missing)}; a dataset folder "
            "holds data.txt, index_features.txt, index_target.txt, n_splits.txt and "
            "index_train_<i>.txt / index_test_<i>.txt for each split i"
        )
    return path


def _load_integers(path: Path, what: str) -> np.ndarray:
    """Load whitespace-separated integers (written as ``3`` or ``3.0``) as int64 ``(K,)``."""
    try:
        values = np.loadtxt(path, dtype=np.float64, ndmin=1)
    except (ValueError, OSError) as error:
        raise ValueError(f"cannot read {what} from '{path}': {error}") from None
    values = values.reshape(-1)
    if values.size == 0:
        raise ValueError(f"'{path}' is empty; expected {what}")
    bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"'{path}': {what} must be non-negative integers, found {values[position]!r} "
            f"(value {position + 1})"
        )
    return values.astype(np.int64)


def uci_num_splits(folder: str | Path, *, data_dir: str | Path | None = None) -> int:
    """Number of train/test splits of a UCI-format folder (from ``n_splits.txt``).

    ``folder`` and ``data_dir`` as in :func:`load_uci`.
    """
    folder = uci_folder(folder, data_dir)
    values = _load_integers(folder / "n_splits.txt", "the number of splits")
    if values.size != 1 or values[0] < 1:
        raise ValueError(
            f"'{folder / 'n_splits.txt'}' must hold one integer >= 1, found {values.tolist()}"
        )
    return int(values[0])


def load_uci(folder: str | Path, split: int = 0, *, data_dir: str | Path | None = None) -> Dataset:
    """Load one train/test split of a dataset in the UCI benchmark format.

    Parameters
    ----------
    folder : str or Path
        The dataset folder, or the name of a bundled set (``"yacht"``), or with
        ``data_dir`` the name of a folder inside it (see :func:`uci_folder`).
    split : int
        Split index in ``[0, uci_num_splits(folder) - 1]``.
    data_dir : str or Path, optional
        A folder of sets in the same format, one folder per set (e.g.
        ``../shared/data/uci``).

    Returns
    -------
    Dataset
        Regression; ``x``/``y`` the training rows, ``x_test``/``y_test`` the test rows, in
        raw units (standardize with :class:`Standardizer` fit on the training part).
        ``feature_names`` are ``column_<j>`` (the column in ``data.txt``); ``extra`` holds
        ``split``, ``num_splits``, ``train_index`` and ``test_index``.

    Examples
    --------
    >>> load_uci("yacht", split=0).x_test.shape  # bundled with the package
    (31, 6)
    >>> load_uci("power-plant", split=0, data_dir="../shared/data/uci")  # doctest: +SKIP
    """
    folder = uci_folder(folder, data_dir)
    num_splits = uci_num_splits(folder)
    if isinstance(split, bool) or not isinstance(split, int | np.integer):
        raise TypeError(f"split must be an integer, found {type(split).__name__}")
    if not 0 <= split < num_splits:
        raise ValueError(
            f"split {split} is out of range: '{folder}' has {num_splits} splits "
            f"(0 to {num_splits - 1})"
        )
    data, features, target = _read_uci_table(folder)
    train, test = _read_split(folder, split, num_splits, num_rows=data.shape[0])
    x, y = data[:, features], data[:, target]
    return Dataset(
        x=x[train],
        y=y[train],
        task="regression",
        name=folder.resolve().name,
        feature_names=tuple(f"column_{int(c)}" for c in features),
        target_name=f"column_{target}",
        x_test=x[test],
        y_test=y[test],
        extra={
            "split": int(split),
            "num_splits": num_splits,
            "train_index": train,
            "test_index": test,
        },
    )


def _read_uci_table(folder: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """``data.txt`` as float64 ``(rows, columns)``, the feature columns and the target column."""
    data_path = folder / "data.txt"
    try:
        data = np.loadtxt(data_path, dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise ValueError(f"cannot read '{data_path}': {error}") from None
    if data.size == 0:
        raise ValueError(f"'{data_path}' holds no rows")
    num_columns = data.shape[1]
    features = _load_integers(folder / "index_features.txt", "feature column indices")
    target_values = _load_integers(folder / "index_target.txt", "the target column index")
    if target_values.size != 1:
        raise ValueError(
            f"'{folder / 'index_target.txt'}' must hold one column index, "
            f"found {target_values.size}"
        )
    target = int(target_values[0])
    for column, what in [(int(c), "index_features.txt") for c in features] + [
        (target, "index_target.txt")
    ]:
        if column >= num_columns:
            raise ValueError(
                f"'{folder / what}' names column {column} but '{data_path}' has "
                f"{num_columns} columns (0 to {num_columns - 1})"
            )
    if target in features:
        raise ValueError(f"target column {target} is also listed in '{folder}/index_features.txt'")
    used = np.concatenate([features, [target]])
    bad_rows = np.flatnonzero(~np.isfinite(data[:, used]).all(axis=1))
    if bad_rows.size:
        raise ValueError(
            f"'{data_path}': row {int(bad_rows[0]) + 1} (of the data rows, 1-based) holds "
            f"NaN or inf in a used column ({bad_rows.size} row(s) affected)"
        )
    return data, features, target


def _read_split(
    folder: Path, split: int, num_splits: int, num_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """The train and test row indices of one split (checked: in range and disjoint)."""
    indices = {}
    for part in ("train", "test"):
        path = folder / f"index_{part}_{split}.txt"
        if not path.is_file():
            raise ValueError(
                f"'{path}' not found: n_splits.txt says {num_splits} splits, but split {split} "
                f"has no {part} index file"
            )
        rows = _load_integers(path, f"{part} row indices")
        if rows.max() >= num_rows:
            raise ValueError(
                f"'{path}' names row {int(rows.max())} but '{folder / 'data.txt'}' has "
                f"{num_rows} rows (0 to {num_rows - 1})"
            )
        indices[part] = rows
    overlap = np.intersect1d(indices["train"], indices["test"])
    if overlap.size:
        raise ValueError(
            f"split {split} of '{folder}': {overlap.size} row(s) are in both the train and the "
            f"test index (e.g. row {int(overlap[0])}); train and test must be disjoint"
        )
    return indices["train"], indices["test"]
