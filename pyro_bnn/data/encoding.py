"""One-hot encoding of text columns: :class:`TableEncoding` and how it is learned."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pyro_bnn.validation import did_you_mean

from .table import (
    column_cells,
    describe,
    is_number,
    names_list,
    numeric_columns,
    sorted_labels,
)

__all__ = ["MAX_CATEGORIES", "TableEncoding"]

#: A text column with more distinct values than this is refused (an identifier or free
#: text, not a category) unless it is listed in ``categorical=``.
MAX_CATEGORIES = 50


@dataclass(frozen=True, eq=False)
class TableEncoding:
    """How the input columns of a table become the columns of ``x``.

    Number columns are copied as they are; a text column (e.g. ``sex`` with values
    ``F`` and ``M``) becomes one 0/1 column per category, named ``"sex=F"``,
    ``"sex=M"`` (one-hot encoding). The categories are learned from the training
    table (sorted; numerically if they all look like numbers) and kept, so new
    tables are encoded the same way; a value that was not seen in training is an
    error naming the column, the value and the known categories.

    Attributes
    ----------
    columns : tuple of str
        The input columns of the table, in order.
    categories : dict
        ``{column: (category, ...)}`` for the text columns; the other columns hold
        numbers.

    Example
    -------
    >>> encoding = TableEncoding(("age", "sex"), {"sex": ("F", "M")})
    >>> encoding.feature_names
    ('age', 'sex=F', 'sex=M')
    >>> encoding.decode(np.array([[50.0, 0.0, 1.0]]))["sex"].tolist()
    ['M']
    """

    columns: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        columns = tuple(names_list(self.columns, "columns"))
        if not isinstance(self.categories, Mapping):
            raise TypeError(
                "categories must be a dict {column: [category, ...]}, found "
                f"{type(self.categories).__name__}"
            )
        categories: dict[str, tuple[str, ...]] = {}
        for name, values in self.categories.items():
            if name not in columns:
                raise ValueError(
                    f"categories names column '{name}', which is not one of the columns "
                    f"{', '.join(columns)}"
                )
            values = tuple(names_list(values, f"the categories of column '{name}'"))
            if not values:
                raise ValueError(f"column '{name}' has no categories")
            categories[name] = values
        # keep the table's column order
        ordered = {name: categories[name] for name in columns if name in categories}
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "categories", ordered)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """One name per column of ``x``: a number column's name, ``"column=category"``
        for each category of a text column."""
        names: list[str] = []
        for name in self.columns:
            if name in self.categories:
                names += [f"{name}={value}" for value in self.categories[name]]
            else:
                names.append(name)
        return tuple(names)

    @property
    def num_features(self) -> int:
        """Number of columns of ``x`` ``D``."""
        return len(self.feature_names)

    def decode(self, x) -> dict[str, np.ndarray]:
        """``x: (N, D)`` back to the table's columns: ``{column: (N,)}``, floats for
        number columns and the category (an ``object`` array of str) for text columns.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"x must have shape (N, {self.num_features}) (columns "
                f"{', '.join(self.feature_names)}), found {x.shape}"
            )
        table: dict[str, np.ndarray] = {}
        position = 0
        for name in self.columns:
            if name in self.categories:
                values = self.categories[name]
                block = x[:, position : position + len(values)]
                table[name] = np.asarray([values[k] for k in block.argmax(axis=1)], dtype=object)
                position += len(values)
            else:
                table[name] = x[:, position]
                position += 1
        return table

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable dict; see :meth:`from_dict`."""
        return {
            "columns": list(self.columns),
            "categories": {name: list(values) for name, values in self.categories.items()},
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TableEncoding:
        """Rebuild from :meth:`to_dict` output."""
        if not isinstance(values, Mapping) or "columns" not in values:
            raise ValueError(f"expected a dict from TableEncoding.to_dict, found {values!r}")
        return cls(tuple(values["columns"]), dict(values.get("categories") or {}))

    def __repr__(self) -> str:
        return f"TableEncoding(columns={self.columns!r}, categories={self.categories!r})"


def _one_hot(path: Path, rows, name: str, cells: list[str], known: Sequence[str]) -> np.ndarray:
    code_of = {value: code for code, value in enumerate(known)}
    block = np.zeros((len(cells), len(known)), dtype=np.float64)
    for row_index, text in enumerate(cells):
        if text not in code_of:
            shown = ", ".join(f"'{value}'" for value in known)
            raise ValueError(
                f"{describe(path)}, {rows[row_index][0]}, column '{name}': unknown category "
                f"'{text}'{did_you_mean(text, known)}; the categories seen in training are "
                f"{shown}"
            )
        block[row_index, code_of[text]] = 1.0
    return block


def _learn_categories(
    path: Path, rows, name: str, cells: list[str], forced: bool, numbers: int
) -> list[str]:
    distinct = sorted_labels(cells)
    if forced:
        return distinct
    if numbers:  # some cells are numbers, some text: a typo, most likely
        row_index = next(i for i, text in enumerate(cells) if not is_number(text))
        raise ValueError(
            f"{describe(path)}, {rows[row_index][0]}, column '{name}': "
            f"'{cells[row_index]}' is not a number ({numbers} other cell(s) of the column are "
            f"numbers); fix the cell, or treat every value of the column as a category with "
            f"categorical=['{name}']"
        )
    if len(distinct) > MAX_CATEGORIES or (len(distinct) == len(cells) >= 20):
        examples = ", ".join(f"'{value}'" for value in distinct[:3])
        raise ValueError(
            f"{describe(path)}, column '{name}' holds text with {len(distinct)} different "
            f"values in {len(cells)} rows ({examples}, ...): an identifier or free text, not "
            f"categories to one-hot encode (at most {MAX_CATEGORIES}); leave it out with "
            f"exclude=['{name}'] (or encode it anyway with categorical=['{name}'])"
        )
    return distinct


def encode_features(
    path: Path,
    rows,
    columns: list[tuple[int, str]],
    categories: Mapping[str, Sequence[str]] | None,
    categorical: Sequence[str] = (),
) -> tuple[np.ndarray, TableEncoding]:
    """The feature columns as ``x: (N, D)`` and their :class:`TableEncoding`.

    ``categories=None`` learns the encoding: a column whose cells are all text (or
    that is listed in ``categorical``) is one-hot encoded. Otherwise the encoding is
    fixed: the columns in ``categories`` are text with those categories, the others
    must hold numbers.
    """
    blocks: list[np.ndarray] = []
    learned: dict[str, tuple[str, ...]] = {}
    for col_index, name in columns:
        if categories is not None and name not in categories:
            blocks.append(numeric_columns(path, rows, [(col_index, name)]))
            continue
        cells = column_cells(path, rows, col_index, name)
        if categories is not None:
            known = [str(value) for value in categories[name]]
        else:
            numbers = sum(is_number(text) for text in cells)
            if numbers == len(cells) and name not in categorical:
                blocks.append(numeric_columns(path, rows, [(col_index, name)]))
                continue
            known = _learn_categories(path, rows, name, cells, name in categorical, numbers)
        learned[name] = tuple(known)
        blocks.append(_one_hot(path, rows, name, cells, known))
    encoding = TableEncoding(tuple(name for _, name in columns), learned)
    return np.concatenate(blocks, axis=1), encoding


def features_and_categories(features, categories):
    """Split ``features`` given as a :class:`TableEncoding` into (columns, categories)."""
    if isinstance(features, TableEncoding):
        if categories is not None:
            raise TypeError("give categories= or features=TableEncoding(...), not both")
        return list(features.columns), dict(features.categories)
    if categories is not None:
        if not isinstance(categories, Mapping):
            raise TypeError(
                "categories must be a dict {column: [category, ...]} (e.g. "
                f"dataset.encoding.categories), found {type(categories).__name__}"
            )
        categories = {
            str(name): names_list(values, f"the categories of column '{name}'")
            for name, values in categories.items()
        }
    return features, categories
