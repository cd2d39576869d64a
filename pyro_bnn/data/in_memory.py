"""Tables held in memory (a pandas DataFrame, a dict of columns, a structured array):
:func:`load_table` and :func:`load_table_features`, the in-memory twins of
:func:`~pyro_bnn.data.load_csv` and :func:`~pyro_bnn.data.load_csv_features`.

The table goes through the same reading as a CSV file (its cells are read as text, so
numbers, text columns and missing values are handled exactly as in a file, with the
same errors), and text columns are one-hot encoded the same way::

    train = load_table(houses, target="price")           # houses: a DataFrame or a dict
    x_new = load_table_features(new_houses, train.encoding)

pandas is not needed: anything with ``.columns`` and ``table[column]`` (a DataFrame),
a ``{column: values}`` mapping, or a numpy structured array is a table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real

import numpy as np

from .csv import dataset_from_rows, features_from_rows
from .dataset import Dataset
from .encoding import TableEncoding
from .table import InMemoryTable, names_list

__all__ = ["load_table", "load_table_features"]


def load_table(
    table,
    target: str,
    features: Sequence[str] | TableEncoding | None = None,
    task: str = "regression",
    class_names: Sequence[str] | None = None,
    *,
    exclude: Sequence[str] = (),
    categorical: Sequence[str] = (),
    categories: Mapping[str, Sequence[str]] | None = None,
    name: str = "table",
) -> Dataset:
    """A :class:`Dataset` from a table in memory, with text columns one-hot encoded.

    Everything is as in :func:`~pyro_bnn.data.load_csv` (the target column, the input
    columns, ``exclude``, ``categorical``, ``categories``, ``task`` and ``class_names``,
    and the checks), for a table that is already in memory. Errors name the table
    (``name``), the row (0-based position) and the column.

    Parameters
    ----------
    table : DataFrame, dict or structured array
        A pandas ``DataFrame``, a ``{column: values}`` dict (every column one-dimensional
        and of the same length), or a numpy structured array. Number columns are read as
        numbers, text columns (str, bool or pandas categories) as categories; ``None``
        and NaN are missing values, which are an error (remove or fill them first).
    target : str
        Name of the target column.
    features, task, class_names, exclude, categorical, categories
        As in :func:`~pyro_bnn.data.load_csv`.
    name : str
        The data set's name, used in error messages.

    Returns
    -------
    Dataset
        ``x: (N, D)`` float64 with ``D`` the number of encoded columns
        (``dataset.feature_names``, ``dataset.encoding``), ``y: (N,)``.

    Example
    -------
    >>> houses = {"size": [50.0, 80.0, 120.0], "city": ["Lyon", "Paris", "Lyon"],
    ...           "price": [2.0, 5.5, 4.0]}
    >>> train = load_table(houses, target="price")
    >>> train.feature_names
    ('size', 'city=Lyon', 'city=Paris')
    >>> load_table_features({"size": [60.0], "city": ["Paris"]}, train.encoding).tolist()
    [[60.0, 0.0, 1.0]]
    """
    header, rows = _table_rows(table)
    return dataset_from_rows(
        InMemoryTable(name), header, rows, target, features, task, class_names, exclude,
        categorical, categories, name=name,
    )  # fmt: skip


def load_table_features(
    table,
    features: Sequence[str] | TableEncoding,
    *,
    categories: Mapping[str, Sequence[str]] | None = None,
    name: str = "table",
) -> np.ndarray:
    """Only the input columns of a table in memory, as ``x: (N, D)`` (e.g. to predict on).

    As :func:`~pyro_bnn.data.load_csv_features`: pass the training data's encoding
    (``train.encoding``) and text columns are one-hot encoded with the categories seen
    in training (an unseen value is a ``ValueError`` naming the column, the value and
    the known categories); other columns, such as a target, are ignored.
    """
    header, rows = _table_rows(table)
    return features_from_rows(InMemoryTable(name), header, rows, features, categories)


def _table_rows(table) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The column names and ``("row i", [cell text, ...])`` rows of a table in memory."""
    names, columns = _columns(table)
    names = names_list(names, "the table's columns")
    if not names:
        raise ValueError("the table has no columns")
    for column_name, column in zip(names, columns, strict=True):
        if column.ndim != 1:
            raise ValueError(
                f"column '{column_name}' must be one-dimensional (one value per row), "
                f"found shape {column.shape}"
            )
    lengths = {len(column) for column in columns}
    if len(lengths) > 1:
        sizes = ", ".join(f"'{n}' {len(c)}" for n, c in zip(names, columns, strict=True))
        raise ValueError(f"the table's columns differ in length: {sizes}")
    if lengths == {0}:
        raise ValueError("the table has no rows")
    texts = [_column_texts(column) for column in columns]
    rows = [(f"row {i}", list(cells)) for i, cells in enumerate(zip(*texts, strict=True))]
    return names, rows


def _columns(table) -> tuple[list, list[np.ndarray]]:
    """``(names, columns)`` of a DataFrame, a mapping or a structured array."""
    if isinstance(table, np.ndarray):
        if table.dtype.names is None:
            raise TypeError(
                "load_table needs a table with named columns (a DataFrame, a dict of "
                "columns or a structured array); a plain numeric array can go to the fit "
                "functions as it is"
            )
        return list(table.dtype.names), [table[n].reshape(-1) for n in table.dtype.names]
    if isinstance(table, Mapping):
        names = list(table.keys())
        return names, [_as_array(table[column_name]) for column_name in names]
    if hasattr(table, "columns") and hasattr(table, "__getitem__"):  # a DataFrame
        names = list(table.columns)
        names_list(names, "the table's columns")  # duplicates are an error, not a frame
        return names, [_as_array(table[column_name]) for column_name in names]
    raise TypeError(
        "load_table needs a table: a pandas DataFrame, a dict {column: values} or a numpy "
        f"structured array, found {type(table).__name__}"
    )


def _as_array(values) -> np.ndarray:
    try:
        return np.asarray(values)
    except ValueError:  # ragged: one value per row is checked by the caller
        return np.asarray(values, dtype=object)


def _column_texts(column: np.ndarray) -> list[str]:
    """A column's cells as the text a CSV file would hold (numbers exactly: the shortest
    text that reads back as the same float)."""
    if column.dtype.kind == "f":
        return list(map(repr, column.astype(np.float64).tolist()))
    if column.dtype.kind in "iu":
        return list(map(str, column.tolist()))
    return [_cell_text(value) for value in column.tolist()]


def _cell_text(value) -> str:
    """One cell of a text or mixed column as text; ``None`` and NaN are missing."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        number = float(value)
        return "nan" if math.isnan(number) else repr(number)
    text = str(value)
    return "" if text in ("nan", "NaT", "<NA>") else text
