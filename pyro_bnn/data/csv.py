"""CSV files with a header row (no pandas needed): :func:`load_csv` and friends.

Text columns are one-hot encoded (:class:`~pyro_bnn.data.TableEncoding`), and the
encoding learned from a training table reads new tables the same way::

    train = load_csv("patients.csv", target="progression")
    x_new = load_csv_features("new_patients.csv", train.encoding)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from pyro_bnn.validation import did_you_mean

from .dataset import Dataset, check_task
from .encoding import TableEncoding, encode_features, features_and_categories
from .table import (
    MISSING_TEXT,
    column_index,
    describe,
    is_number,
    names_list,
    numeric_columns,
    read_csv_table,
    select_features,
    sorted_labels,
)

__all__ = ["load_csv", "load_csv_columns", "load_csv_features"]


def load_csv(
    path: str | Path,
    target: str,
    features: Sequence[str] | TableEncoding | None = None,
    task: str = "regression",
    class_names: Sequence[str] | None = None,
    delimiter: str = ",",
    *,
    exclude: Sequence[str] = (),
    categorical: Sequence[str] = (),
    categories: Mapping[str, Sequence[str]] | None = None,
) -> Dataset:
    """Load a CSV file with a header row (no pandas needed).

    Text columns (e.g. ``sex`` with values ``F``/``M``) are one-hot encoded: one 0/1
    column per category (``sex=F``, ``sex=M``); the categories are kept in
    ``dataset.encoding`` so that new tables are read the same way with
    ``load_csv_features(path, dataset.encoding)``.

    Parameters
    ----------
    path : str or Path
        The file. The first non-blank line holds unique column names.
    target : str
        Name of the target column.
    features : list of str or TableEncoding, optional
        Input columns in this order; default: every column except ``target`` and
        ``exclude``. A :class:`TableEncoding` (``train.encoding``) fixes the columns
        and the categories of the text columns: use it to read test data like the
        training data.
    task : str
        ``"regression"`` (numeric target) or ``"classification"`` (any labels, text or
        numbers, mapped to ``0..K-1``; ``class_names[k]`` keeps the original label).
        It is not guessed from the data: class labels written as numbers (0/1) are
        common, and a regression on them would go unnoticed.
    class_names : list of str, optional
        Classification only: a fixed label order (e.g. from the training data when
        loading test data); labels not in it are an error. Default: the sorted distinct
        labels (numerically if they are all numbers).
    delimiter : str
        Field separator.
    exclude : list of str
        Columns that are not inputs (identifiers, notes), when ``features`` is not given.
    categorical : list of str
        Columns to one-hot encode even though their values look like numbers (codes
        such as a region number). Columns whose values are all text are found
        automatically.
    categories : dict, optional
        ``{column: [category, ...]}``: a fixed encoding (e.g. ``train.encoding.categories``):
        these columns are one-hot encoded with these categories (a value not among them is
        an error) and every other input column must hold numbers.

    Returns
    -------
    Dataset
        Named after the file's stem; ``x: (N, D)`` with ``D`` the number of encoded
        columns (``dataset.feature_names``, ``dataset.encoding``).

    Raises
    ------
    ValueError
        Naming the file, the line (1-based, as shown in an editor; the header is line 1)
        and the column: missing or empty file, missing target/feature column (with the
        list of columns and "did you mean"), duplicate column names, rows with the wrong
        number of values, text in a number column, a text target with
        ``task="regression"``, an unknown category, a text column with too many distinct
        values (an identifier), empty or NaN/inf cells.

    Example
    -------
    >>> train = load_csv("patients.csv", target="progression")  # doctest: +SKIP
    >>> x_new = load_csv_features("new_patients.csv", train.encoding)  # doctest: +SKIP
    """
    path = Path(path)
    check_task(task)
    header, rows = read_csv_table(path, delimiter)
    return dataset_from_rows(
        path, header, rows, target, features, task, class_names, exclude, categorical,
        categories, name=path.stem,
    )  # fmt: skip


def dataset_from_rows(
    path, header, rows, target, features, task, class_names, exclude, categorical,
    categories, name: str,
) -> Dataset:  # fmt: skip
    """:func:`load_csv` after reading: ``header`` and ``(location, cells)`` text ``rows``
    (from a file, or from a table in memory whose name stands in for ``path``) to a
    :class:`Dataset`."""
    check_task(task)
    features, categories = features_and_categories(features, categories)
    exclude = names_list(exclude, "exclude")
    categorical = names_list(categorical, "categorical")
    target_index = column_index(path, header, target, "target")
    if target in exclude:
        raise ValueError(f"the target column '{target}' is also listed in exclude")
    feature_columns = select_features(path, header, features, target, exclude)
    for column in categorical:
        if column not in [n for _, n in feature_columns]:
            raise ValueError(
                f"categorical names '{column}', which is not an input column"
                f"{did_you_mean(column, [n for _, n in feature_columns])}; input columns: "
                f"{', '.join(n for _, n in feature_columns)}"
            )
    x, encoding = encode_features(path, rows, feature_columns, categories, categorical)
    if task == "regression":
        if class_names is not None:
            raise ValueError("class_names is only meaningful for task='classification'")
        y = _regression_target(path, rows, target_index, target)
    else:
        y, class_names = _class_labels(path, rows, target_index, target, class_names)
    return Dataset(
        x=x,
        y=y,
        task=task,
        name=name,
        feature_names=encoding.feature_names,
        target_name=target,
        class_names=None if class_names is None else tuple(class_names),
        encoding=encoding,
    )


def _class_labels(
    path: Path, rows, target_index: int, target: str, class_names: Sequence[str] | None
) -> tuple[np.ndarray, list[str]]:
    """The target column as int64 codes ``(N,)`` and the label of each code.

    ``class_names`` fixes the label order (labels not in it are an error); default:
    the sorted distinct labels.
    """
    labels = []
    for where, cells in rows:
        label = cells[target_index].strip()
        if label.lower() in MISSING_TEXT:
            shown = "an empty cell" if not label else f"missing value '{label}'"
            raise ValueError(
                f"{describe(path)}, {where}, column '{target}': {shown}; every row "
                "needs a class label"
            )
        labels.append(label)
    if class_names is None:
        distinct = sorted_labels(labels)
    else:
        distinct = [str(c) for c in class_names]
        if len(set(distinct)) != len(distinct):
            raise ValueError("class_names must be distinct")
    code_of = {label: code for code, label in enumerate(distinct)}
    y = np.empty(len(labels), dtype=np.int64)
    for row_index, ((where, _), label) in enumerate(zip(rows, labels, strict=True)):
        if label not in code_of:
            raise ValueError(
                f"{describe(path)}, {where}, column '{target}': unknown class label "
                f"'{label}'{did_you_mean(label, distinct)}; known classes: {', '.join(distinct)}"
            )
        y[row_index] = code_of[label]
    return y, distinct


def _regression_target(path: Path, rows, target_index: int, target: str) -> np.ndarray:
    """The target column as numbers; text labels get a hint to use classification."""
    cells = [cells[target_index].strip() for _, cells in rows]
    given = [text for text in cells if text.lower() not in MISSING_TEXT]
    if given and not any(is_number(text) for text in given):
        row_index = next(i for i, text in enumerate(cells) if text.lower() not in MISSING_TEXT)
        labels = sorted_labels(given)
        shown = ", ".join(f"'{label}'" for label in labels[:5]) + (
            ", ..." if len(labels) > 5 else ""
        )
        raise ValueError(
            f"{describe(path)}, {rows[row_index][0]}, column '{target}': "
            f"'{cells[row_index]}' is not a number: the target holds text labels ({shown}), "
            f'which task="regression" cannot fit; for class labels use task="classification"'
        )
    y = numeric_columns(path, rows, [(target_index, target)])[:, 0]
    values = np.unique(y)
    if values.size == 2 and np.all(values == np.round(values)):
        warnings.warn(
            f"{describe(path)}: the target '{target}' holds only the values "
            f"{values[0]:g} and {values[1]:g}, fitted as a regression; for class labels use "
            'task="classification"',
            UserWarning,
            stacklevel=4,  # the caller of load_csv or load_table
        )
    return y


def load_csv_features(
    path: str | Path,
    features: Sequence[str] | TableEncoding,
    delimiter: str = ",",
    *,
    categories: Mapping[str, Sequence[str]] | None = None,
) -> np.ndarray:
    """Read only the input columns of a CSV file (e.g. new inputs to predict on).

    Other columns (such as a target or an identifier) are ignored. Errors as in
    :func:`load_csv`.

    Parameters
    ----------
    path : str or Path
        The file.
    features : list of str or TableEncoding
        The input columns, or the encoding of the training data (``train.encoding``,
        or ``run.data.encoding``): its text columns are one-hot encoded with the
        categories seen in training, and an unseen value is a ``ValueError`` naming
        the column, the value and the known categories.
    delimiter : str
        Field separator.
    categories : dict, optional
        ``{column: [category, ...]}`` for text columns when ``features`` is a list;
        every other column must hold numbers.

    Returns
    -------
    np.ndarray
        ``x: (N, D)`` float64 in the column order of ``features`` (text columns expanded
        to one column per category).
    """
    path = Path(path)
    header, rows = read_csv_table(path, delimiter)
    return features_from_rows(path, header, rows, features, categories)


def features_from_rows(source, header, rows, features, categories) -> np.ndarray:
    """:func:`load_csv_features` after reading (from a file or a table in memory)."""
    features, categories = features_and_categories(features, categories)
    columns = select_features(source, header, features, target=None)
    x, _ = encode_features(source, rows, columns, categories or {})
    return x


def load_csv_columns(
    path: str | Path, columns: Sequence[str], delimiter: str = ","
) -> dict[str, np.ndarray]:
    """The cells of some columns of a CSV file as text, unchanged (e.g. ID columns to
    copy next to predictions).

    Returns
    -------
    dict
        ``{column: (N,) object array of str}`` in the order of ``columns``. Empty
        cells are kept as empty strings.
    """
    path = Path(path)
    names = names_list(columns, "columns")
    header, rows = read_csv_table(path, delimiter)
    indices = [(column_index(path, header, name, ""), name) for name in names]
    return {
        name: np.asarray([cells[index].strip() for _, cells in rows], dtype=object)
        for index, name in indices
    }
