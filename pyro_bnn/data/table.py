"""Reading tables: cells with their line numbers, number parsing, column selection.

The helpers of :mod:`pyro_bnn.data.csv`, :mod:`pyro_bnn.data.in_memory` and
:mod:`pyro_bnn.data.encoding`; every error names the file (or the in-memory table), the
line (1-based, as shown in an editor) or row, and the column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pyro_bnn.validation import did_you_mean

#: Cell texts read as a missing value (compared lower-case, after stripping).
MISSING_TEXT = {"", "na", "n/a", "nan", "null", "none", "?"}


class InMemoryTable(str):
    """The name of a table held in memory (a dict of columns, a DataFrame), passed where
    the helpers below take a CSV path: only error messages use it."""


def describe(source) -> str:
    """How error messages name a table: ``CSV file 'data.csv'`` or ``table 'houses'``."""
    if isinstance(source, InMemoryTable):
        return f"table '{source}'"
    return f"CSV file '{source}'"


def read_csv_table(path: str | Path, delimiter: str) -> tuple[list[str], list[tuple[str, list]]]:
    """Read a CSV file into its header and ``(line_number, cells)`` rows.

    Each row comes with its location for error messages, ``"line 5 (data row 3)"``:
    the 1-based line number as shown in an editor (the header is line 1; blank lines
    count as lines but are skipped) and the 1-based number among the data rows.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{describe(path)} not found")
    if path.is_dir():
        raise ValueError(f"CSV path '{path}' is a folder, expected a file")
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as error:
        raise ValueError(f"cannot read CSV file '{path}': {error.strerror}") from None
    with handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header: list[str] | None = None
        header_line = 0
        rows: list[tuple[str, list]] = []
        try:
            for cells in reader:
                if not cells or all(not c.strip() for c in cells):
                    continue
                if header is None:
                    header = [c.strip() for c in cells]
                    header_line = reader.line_num
                else:
                    rows.append((f"line {reader.line_num} (data row {len(rows) + 1})", cells))
        except (csv.Error, UnicodeDecodeError) as error:
            raise ValueError(
                f"{describe(path)}, line {reader.line_num}: cannot parse ({error})"
            ) from None
    if header is None:
        raise ValueError(f"{describe(path)} is empty: expected a header row with column names")
    for index, name in enumerate(header):
        if not name:
            raise ValueError(
                f"{describe(path)}, line {header_line}: column {index + 1} has an empty name"
            )
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        if name in seen:
            raise ValueError(
                f"{describe(path)}, line {header_line}: duplicate column name '{name}' "
                f"(columns {seen[name] + 1} and {index + 1}); column names must be unique"
            )
        seen[name] = index
    if not rows:
        raise ValueError(f"{describe(path)} has a header but no data rows")
    for where, cells in rows:
        if len(cells) != len(header):
            raise ValueError(
                f"{describe(path)}, {where}: found {len(cells)} value(s) but the header "
                f"has {len(header)} columns"
            )
    return header, rows


def column_index(path: Path, header: list[str], name: str, role: str) -> int:
    """The 0-based index of column ``name``; unknown names get a did-you-mean hint."""
    if name not in header:
        role = f"{role} " if role else ""
        raise ValueError(
            f"{describe(path)} has no {role}column '{name}'{did_you_mean(name, header)}; "
            f"columns: {', '.join(header)}"
        )
    return header.index(name)


def parse_number(path: Path, where: str, column: str, text: str) -> float:
    """One cell as a finite float; missing or non-numeric cells are an error."""
    stripped = text.strip()
    if stripped.lower() in MISSING_TEXT:
        shown = "an empty cell" if not stripped else f"missing value '{stripped}'"
        raise ValueError(
            f"{describe(path)}, {where}, column '{column}': {shown}; "
            "remove or fill in missing values"
        )
    try:
        value = float(stripped)
    except ValueError:
        raise ValueError(
            f"{describe(path)}, {where}, column '{column}': '{stripped}' is not a number"
        ) from None
    if not math.isfinite(value):
        raise ValueError(
            f"{describe(path)}, {where}, column '{column}': '{stripped}' is not a finite number"
        )
    return value


def numeric_columns(path: Path, rows: list[tuple[str, list]], columns: list[tuple[int, str]]):
    """The cells of ``columns`` (``(index, name)`` pairs) as float64 ``(N, len(columns))``."""
    values = np.empty((len(rows), len(columns)), dtype=np.float64)
    for row_index, (where, cells) in enumerate(rows):
        for col_position, (col_index, col_name) in enumerate(columns):
            values[row_index, col_position] = parse_number(path, where, col_name, cells[col_index])
    return values


def names_list(value, what: str) -> list[str]:
    """A list of distinct column names (a single string is a ``TypeError``)."""
    if isinstance(value, str):
        raise TypeError(f"{what} must be a list of column names, not a single string")
    names = [str(name) for name in value]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"{what} lists column(s) more than once: {', '.join(duplicates)}")
    return names


def select_features(
    path: Path,
    header: list[str],
    features: Sequence[str] | None,
    target: str | None,
    exclude: Sequence[str] = (),
) -> list[tuple[int, str]]:
    """The ``(index, name)`` input columns: ``features`` in order, or every column except
    ``target`` and ``exclude``."""
    for name in exclude:
        column_index(path, header, name, "excluded")
    if features is None:
        names = [name for name in header if name != target and name not in exclude]
        if not names:
            besides = [f"the target '{target}'"] if target is not None else []
            besides += [f"the excluded {', '.join(exclude)}"] if exclude else []
            raise ValueError(
                f"{describe(path)} has no feature columns besides {' and '.join(besides)}"
            )
    else:
        names = names_list(features, "features")
        if not names:
            raise ValueError("features is empty; give at least one column name (or None for all)")
        if target is not None and target in names:
            raise ValueError(f"the target column '{target}' is also listed in features")
        both = [name for name in names if name in exclude]
        if both:
            raise ValueError(f"column(s) {', '.join(both)} are both in features and in exclude")
    return [(column_index(path, header, name, "feature"), name) for name in names]


def _label_sort_key(labels: Sequence[str]):
    try:
        numbers = {label: float(label) for label in labels}
    except ValueError:
        return lambda label: label
    return lambda label: numbers[label]


def sorted_labels(labels) -> list[str]:
    """The distinct labels, sorted numerically if they all look like numbers."""
    distinct = sorted(set(labels))
    return sorted(distinct, key=_label_sort_key(distinct))


def is_number(text: str) -> bool:
    """Whether ``text`` parses as a float."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def column_cells(path: Path, rows, col_index: int, name: str) -> list[str]:
    """The stripped cells of one column; empty or NA cells are an error."""
    cells = []
    for where, row in rows:
        text = row[col_index].strip()
        if text.lower() in MISSING_TEXT:
            shown = "an empty cell" if not text else f"missing value '{text}'"
            raise ValueError(
                f"{describe(path)}, {where}, column '{name}': {shown}; "
                "remove or fill in missing values"
            )
        cells.append(text)
    return cells
