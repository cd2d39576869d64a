"""CSV loading: values, class labels, errors naming file, line and column."""

from __future__ import annotations

import numpy as np
import pytest

from pyro_bnn.data import (
    load_csv,
    load_csv_columns,
    load_csv_features,
)

from .helpers import write


def test_load_csv_regression(tmp_path):
    path = write(tmp_path / "houses.csv", "size,rooms,price\n50,2,100.5\n\n80,3,150\n120,4,230\n")
    data = load_csv(path, target="price")
    assert data.name == "houses" and data.task == "regression"
    assert data.feature_names == ("size", "rooms") and data.target_name == "price"
    np.testing.assert_array_equal(data.x, [[50, 2], [80, 3], [120, 4]])
    np.testing.assert_array_equal(data.y, [100.5, 150, 230])
    only_size = load_csv(path, target="price", features=["size"])
    assert only_size.x.shape == (3, 1)
    np.testing.assert_array_equal(load_csv_features(path, ["rooms", "size"])[:, 0], [2, 3, 4])


def test_load_csv_classification_with_string_labels(tmp_path):
    path = write(tmp_path / "flowers.csv", "a,b,species\n1,2,setosa\n3,4,virginica\n5,6,setosa\n")
    data = load_csv(path, target="species", task="classification")
    assert data.class_names == ("setosa", "virginica")
    np.testing.assert_array_equal(data.y, [0, 1, 0])
    assert data.y.dtype == np.int64
    fixed = load_csv(path, "species", task="classification", class_names=["virginica", "setosa"])
    np.testing.assert_array_equal(fixed.y, [1, 0, 1])
    with pytest.raises(
        ValueError,
        match="line 3 \\(data row 2\\), column 'species': unknown class label 'virginica'",
    ):
        load_csv(path, "species", task="classification", class_names=["setosa", "versicolor"])
    numeric = write(tmp_path / "n.csv", "a,label\n1,10\n2,2\n3,10\n")
    assert load_csv(numeric, "label", task="classification").class_names == ("2", "10")


@pytest.mark.parametrize(
    "content, kwargs, match",
    [
        (None, {}, "CSV file '.*missing.csv' not found"),
        ("", {}, "CSV file '.*bad.csv' is empty"),
        ("\n\n", {}, "is empty"),
        ("a,b,price\n", {}, "has a header but no data rows"),
        (
            "a,b,prices\n1,2,3\n",
            {},
            "no target column 'price' \\(did you mean 'prices'\\?\\); columns: a, b, prices",
        ),
        ("a,b,price\n1,2,3\n", {"features": ["a", "c"]}, "no feature column 'c'"),
        (
            "a,b,price\n1,2,3\n4,x,6\n",
            {},
            "line 3 \\(data row 2\\), column 'b': 'x' is not a number",
        ),
        (
            "a,b,price\n1,2,3\n\n4,5,6\n7,,9\n",
            {},
            "line 5 \\(data row 3\\), column 'b': an empty cell",
        ),
        (
            "a,b,price\n1,2,3\n4,NaN,6\n",
            {},
            "line 3 \\(data row 2\\), column 'b': missing value 'NaN'",
        ),
        (
            "a,b,price\n1,2,inf\n",
            {},
            "line 2 \\(data row 1\\), column 'price': 'inf' is not a finite",
        ),
        ("a,b,a\n1,2,3\n", {}, "line 1: duplicate column name 'a' \\(columns 1 and 3\\)"),
        (
            "a,b,price\n1,2,3\n1,2\n",
            {},
            "line 3 \\(data row 2\\): found 2 value\\(s\\) but the header has 3",
        ),
        ("a,,price\n1,2,3\n", {}, "column 2 has an empty name"),
        ("a,b,price\n1,2,3\n", {"features": ["a", "price"]}, "target column 'price' is also"),
    ],
)
def test_load_csv_errors_name_file_line_and_column(tmp_path, content, kwargs, match):
    path = tmp_path / ("missing.csv" if content is None else "bad.csv")
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_csv(path, target="price", **kwargs)


def test_load_csv_classification_empty_label(tmp_path):
    path = write(tmp_path / "c.csv", "a,label\n1,cat\n2, \n")
    with pytest.raises(
        ValueError, match="line 3 \\(data row 2\\), column 'label': an empty cell; every row"
    ):
        load_csv(path, "label", task="classification")


def test_load_csv_columns_copies_cells_as_written(tmp_path):
    path = write(tmp_path / "ids.csv", "id,x,note\n007,1.5,\nA-2,2,hello\n")
    columns = load_csv_columns(path, ["note", "id"])
    assert list(columns) == ["note", "id"]
    assert columns["id"].tolist() == ["007", "A-2"] and columns["note"].tolist() == ["", "hello"]
    with pytest.raises(ValueError, match="ids.csv' has no column 'ID' \\(did you mean 'id'\\?\\)"):
        load_csv_columns(path, ["ID"])
