"""Tables in memory (load_table, load_table_features): the same result as the CSV file
they would be, and the same clear errors, naming the table, the row and the column."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.data import load_csv, load_csv_features, load_table, load_table_features

from ..csv_tables import write_breast_cancer_csv, write_diabetes_csv


def _columns_of(path) -> dict[str, list]:
    """The CSV file as a dict of columns: numbers as floats, text as str (as a user has it)."""
    with open(path, newline="") as handle:
        header, *rows = list(csv.reader(handle))

    def cell(text):
        try:
            return float(text)
        except ValueError:
            return text

    return {name: [cell(row[i]) for row in rows] for i, name in enumerate(header)}


def _same_dataset(a, b):
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.feature_names == b.feature_names and a.encoding.categories == b.encoding.categories
    assert a.class_names == b.class_names and a.task == b.task


def test_a_dict_of_columns_reads_as_its_csv_file(tmp_path):
    path = write_diabetes_csv(tmp_path / "diabetes.csv")
    from_file = load_csv(path, target="target", exclude=["id"])
    table = _columns_of(path)
    from_memory = load_table(table, target="target", exclude=["id"], name="diabetes")
    _same_dataset(from_memory, from_file)
    assert from_memory.encoding.categories == {"sex": ("F", "M")} and from_memory.name == "diabetes"
    np.testing.assert_array_equal(load_table_features(table, from_file.encoding), from_file.x)


def test_text_class_labels_as_in_a_file(tmp_path):
    path = write_breast_cancer_csv(tmp_path / "cancer.csv", rows=slice(0, 60))
    from_file = load_csv(path, target="diagnosis", exclude=["id"], task="classification")
    table = _columns_of(path)
    _same_dataset(
        load_table(table, target="diagnosis", exclude=["id"], task="classification"), from_file
    )


def test_a_dataframe_keeps_float32_numbers_exactly_and_one_hot_encodes_its_categories():
    pandas = pytest.importorskip("pandas")
    sizes = np.array([50.1, 80.3, 120.7, 64.9], dtype=np.float32)
    frame = pandas.DataFrame(
        {
            "size": sizes,
            "rooms": np.array([2, 3, 5, 2], dtype=np.int64),
            "city": pandas.Categorical(["Lyon", "Paris", "Lyon", "Nice"]),
            "garden": [True, False, True, True],
            "price": [2.0, 5.5, 4.0, 2.5],
        }
    )
    data = load_table(frame, target="price")
    assert data.feature_names == (
        "size", "rooms", "city=Lyon", "city=Nice", "city=Paris", "garden=False", "garden=True",
    )  # fmt: skip
    np.testing.assert_array_equal(data.x[:, 0], sizes.astype(np.float64))  # not rounded
    np.testing.assert_array_equal(data.x[:, 2:5], [[1, 0, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]])
    new = pandas.DataFrame({"city": ["Nice"], "size": [70.0], "rooms": [3], "garden": [False]})
    np.testing.assert_array_equal(
        load_table_features(new, data.encoding), [[70.0, 3.0, 0.0, 1.0, 0.0, 1.0, 0.0]]
    )


def test_a_structured_array_is_a_table():
    table = np.array(
        [(1.5, "a", 3.0), (2.5, "b", 4.0), (3.5, "a", 6.0)],
        dtype=[("x", "f8"), ("group", "U1"), ("y", "f8")],
    )
    data = load_table(table, target="y")
    np.testing.assert_array_equal(data.x, [[1.5, 1, 0], [2.5, 0, 1], [3.5, 1, 0]])
    np.testing.assert_array_equal(data.y, [3.0, 4.0, 6.0])


HOUSES = {"size": [50.0, 80.0, 120.0], "city": ["Lyon", "Paris", "Lyon"], "price": [2.0, 5.5, 4]}


@pytest.mark.parametrize(
    "change, kwargs, error, match",
    [
        ({"size": [50.0, None, 120.0]}, {}, ValueError,
         "table 'houses', row 1, column 'size': an empty cell; remove or fill in"),
        ({"size": [50.0, float("nan"), 120.0]}, {}, ValueError,
         "table 'houses', row 1, column 'size': missing value 'nan'"),
        ({"size": [50.0, "big", 120.0]}, {}, ValueError,
         "table 'houses', row 1, column 'size': 'big' is not a number"),
        ({"size": [50.0, 80.0]}, {}, ValueError,
         "columns differ in length: 'size' 2, 'city' 3, 'price' 3"),
        ({"size": [[50.0, 1], [80.0, 2], [120.0, 3]]}, {}, ValueError,
         "column 'size' must be one-dimensional"),
        ({}, {"target": "prize"}, ValueError,
         "table 'houses' has no target column 'prize' \\(did you mean 'price'\\?\\)"),
    ],
)  # fmt: skip
def test_errors_name_the_table_the_row_and_the_column(change, kwargs, error, match):
    arguments = {"target": "price", "name": "houses"} | kwargs
    with pytest.raises(error, match=match):
        load_table(HOUSES | change, **arguments)


def test_an_unseen_category_in_new_rows_names_it_and_the_known_ones():
    train = load_table(HOUSES, target="price")
    with pytest.raises(ValueError, match="row 0, column 'city': unknown category 'Nice'.*'Lyon'"):
        load_table_features({"size": [70.0], "city": ["Nice"]}, train.encoding)


def test_what_is_not_a_table_is_refused_with_the_accepted_kinds():
    with pytest.raises(TypeError, match="plain numeric array can go to the fit functions"):
        load_table(np.zeros((3, 2)), target="y")
    with pytest.raises(TypeError, match="a pandas DataFrame, a dict .* found list"):
        load_table([[1, 2]], target="y")
    with pytest.raises(ValueError, match="the table has no rows"):
        load_table({"a": [], "y": []}, target="y")


def test_text_in_the_fit_functions_points_to_load_table():
    x = np.array([[50.0, "Lyon"], [80.0, "Paris"]], dtype=object)
    with pytest.raises(TypeError, match=r"pb.load_table\(table, target=...\)"):
        pb.fit_svi(pb.BayesianMLP(2, 1), x, [1.0, 2.0], num_steps=1, progress=False)


def test_a_table_fits_and_predicts_end_to_end():
    train = pb.load_table(HOUSES, target="price")
    posterior = pb.fit_svi(
        pb.BayesianMLP(train.num_features, 1, hidden=(4,)), train.x, train.y, num_steps=20,
        progress=False,
    )  # fmt: skip
    x_new = load_table_features({"city": ["Paris"], "size": [90.0]}, train.encoding)
    prediction = pb.predict(posterior, x_new, num_draws=10)
    assert torch.as_tensor(prediction.mean).shape == (1,)
    assert np.isfinite(np.asarray(prediction.mean)).all()


def test_the_csv_reading_is_unchanged_for_files(tmp_path):
    path = write_diabetes_csv(tmp_path / "d.csv", rows=slice(0, 30))
    data = load_csv(path, target="target", exclude=["id"])
    np.testing.assert_array_equal(load_csv_features(path, data.encoding), data.x)
    with pytest.raises(ValueError, match=f"CSV file '{path}' has no target column 'tagret'"):
        load_csv(path, target="tagret")


def test_text_labels_in_the_fit_functions_point_to_a_classification_table():
    with pytest.raises(TypeError, match='y must hold numbers.*task="classification"'):
        pb.fit_svi(
            pb.BayesianMLP(1, 2, likelihood=pb.Categorical()), [[0.0], [1.0]], ["no", "yes"],
            num_steps=1, progress=False,
        )  # fmt: skip
