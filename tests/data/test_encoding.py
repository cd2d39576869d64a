"""One-hot text columns (TableEncoding) in load_csv and load_csv_features."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from pyro_bnn.data import (
    Dataset,
    TableEncoding,
    load_csv,
    load_csv_features,
)

from ..csv_tables import write_breast_cancer_csv, write_diabetes_csv
from .helpers import write


def test_load_csv_one_hot_encodes_a_text_column_of_a_real_table(tmp_path):
    path = write_diabetes_csv(tmp_path / "diabetes.csv")
    data = load_csv(path, target="target", exclude=["id"])
    assert data.encoding.columns == ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
    assert data.encoding.categories == {"sex": ("F", "M")}
    assert data.feature_names[:4] == ("age", "sex=F", "sex=M", "bmi")
    assert data.x.shape == (442, 11)
    sex = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")["sex"]
    np.testing.assert_array_equal(data.x[:, 1], sex == "F")
    np.testing.assert_array_equal(data.x[:, 2], sex == "M")
    np.testing.assert_array_equal(data.encoding.decode(data.x)["sex"], sex)
    # new tables are read with the training encoding; other columns (id, target) ignored
    np.testing.assert_array_equal(load_csv_features(path, data.encoding), data.x)
    again = load_csv(path, target="target", features=data.encoding)
    np.testing.assert_array_equal(again.x, data.x)
    assert again.encoding.categories == data.encoding.categories


def test_categories_learned_in_training_are_kept_for_new_tables(tmp_path):
    train = load_csv(write(tmp_path / "t.csv", "age,sex,y\n30,M,1\n40,F,2\n50,M,3\n"), "y")
    only_f = write(tmp_path / "new.csv", "sex,age\nF,35\nF,45\n")
    x = load_csv_features(only_f, train.encoding)  # one category present: still 2 columns
    np.testing.assert_array_equal(x, [[35, 1, 0], [45, 1, 0]])
    unseen = write(tmp_path / "unseen.csv", "age,sex\n35,F\n45,X\n")
    with pytest.raises(
        ValueError,
        match="unseen.csv', line 3 \\(data row 2\\), column 'sex': unknown category 'X'; "
        "the categories seen in training are 'F', 'M'",
    ):
        load_csv_features(unseen, train.encoding)
    with pytest.raises(ValueError, match="column 'sex': unknown category 'Male'"):
        load_csv(write(tmp_path / "m.csv", "age,sex,y\n1,Male,2\n"), "y", features=train.encoding)
    # the encoding is fixed: a text value in a number column is an error, not a new category
    with pytest.raises(ValueError, match="column 'age': 'old' is not a number"):
        load_csv_features(write(tmp_path / "o.csv", "age,sex\nold,F\n"), train.encoding)


@pytest.mark.parametrize(
    "content, match",
    [
        ("a,sex,y\n1,M,2\n2,,3\n", "line 3 \\(data row 2\\), column 'sex': an empty cell; remove"),
        ("a,sex,y\n1,M,2\n2,NA,3\n", "line 3 \\(data row 2\\), column 'sex': missing value 'NA'"),
        (
            "a,b,y\n1,2,3\n4,x,6\n7,8,9\n",
            "line 3 \\(data row 2\\), column 'b': 'x' is not a number \\(2 other cell\\(s\\) of "
            "the column are numbers\\); fix the cell, or treat every value of the column as a "
            "category with categorical=\\['b'\\]",
        ),
    ],
)
def test_text_columns_keep_clear_errors(tmp_path, content, match):
    with pytest.raises(ValueError, match=match):
        load_csv(write(tmp_path / "bad.csv", content), target="y")


def test_an_identifier_column_is_refused_with_a_hint_and_can_be_excluded(tmp_path):
    path = write_diabetes_csv(tmp_path / "diabetes.csv", rows=slice(0, 40))
    with pytest.raises(
        ValueError,
        match="column 'id' holds text with 40 different values in 40 rows \\('P0000', "
        "'P0001', 'P0002', ...\\).*leave it out with exclude=\\['id'\\]",
    ):
        load_csv(path, target="target")
    assert "id" not in load_csv(path, target="target", exclude=["id"]).encoding.columns
    forced = load_csv(path, target="target", categorical=["id"])
    assert len(forced.encoding.categories["id"]) == 40 and forced.x.shape[1] == 41 + 10
    with pytest.raises(ValueError, match="no excluded column 'idd' \\(did you mean 'id'\\?\\)"):
        load_csv(path, target="target", exclude=["idd"])
    with pytest.raises(ValueError, match="the target column 'target' is also listed in exclude"):
        load_csv(path, target="target", exclude=["target"])
    with pytest.raises(ValueError, match="column\\(s\\) id are both in features and in exclude"):
        load_csv(path, target="target", features=["id", "age"], exclude=["id"])
    with pytest.raises(TypeError, match="exclude must be a list of column names, not a single"):
        load_csv(path, target="target", exclude="id")


def test_categorical_one_hot_encodes_number_codes_in_numeric_order(tmp_path):
    path = write(tmp_path / "r.csv", "region,size,y\n10,1,1\n2,2,2\n10,3,3\n1,4,4\n")
    data = load_csv(path, "y", categorical=["region"])
    assert data.feature_names == ("region=1", "region=2", "region=10", "size")
    np.testing.assert_array_equal(data.x[:, :3], [[0, 0, 1], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="categorical names 'regio', which is not an input column "
                       "\\(did you mean 'region'\\?\\)"):  # fmt: skip
        load_csv(path, "y", categorical=["regio"])


def test_text_target_with_the_default_task_suggests_classification(tmp_path):
    path = write_breast_cancer_csv(tmp_path / "cancer.csv")
    with pytest.raises(
        ValueError,
        match="cancer.csv', line 2 \\(data row 1\\), column 'diagnosis': 'malignant' is not a "
        "number: the target holds text labels \\('benign', 'malignant'\\), which "
        'task="regression" cannot fit; for class labels use task="classification"',
    ):
        load_csv(path, target="diagnosis", exclude=["id"])
    data = load_csv(path, target="diagnosis", exclude=["id"], task="classification")
    assert data.class_names == ("benign", "malignant") and data.x.shape == (569, 30)
    assert data.encoding.categories == {}
    # a typo in a numeric target is a plain "not a number", not a class-label hint
    typo = write(tmp_path / "typo.csv", "a,y\n1,2.5\n2,3..1\n3,4\n")
    with pytest.raises(ValueError, match="column 'y': '3..1' is not a number$"):
        load_csv(typo, target="y")


def test_a_two_valued_numeric_target_fitted_as_regression_warns(tmp_path):
    path = write(tmp_path / "b.csv", "a,y\n1,0\n2,1\n3,1\n")
    with pytest.warns(UserWarning, match="the target 'y' holds only the values 0 and 1, fitted "
                      'as a regression; for class labels use task="classification"'):  # fmt: skip
        load_csv(path, target="y")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_csv(path, target="y", task="classification")
        load_csv(write(tmp_path / "c.csv", "a,y\n1,0.5\n2,1\n3,1\n"), target="y")


def test_table_encoding_round_trip_and_errors():
    encoding = TableEncoding(("sex", "age"), {"sex": ["M", "F"]})
    assert encoding.feature_names == ("sex=M", "sex=F", "age") and encoding.num_features == 3
    assert TableEncoding.from_dict(json.loads(json.dumps(encoding.to_dict()))).feature_names == (
        encoding.feature_names
    )
    decoded = encoding.decode(np.array([[0.0, 1.0, 41.0], [1.0, 0.0, 52.0]]))
    assert decoded["sex"].tolist() == ["F", "M"] and decoded["age"].tolist() == [41.0, 52.0]
    with pytest.raises(ValueError, match="x must have shape \\(N, 3\\) \\(columns sex=M, sex=F"):
        encoding.decode(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="categories names column 'sx', which is not one of"):
        TableEncoding(("sex",), {"sx": ["M"]})
    with pytest.raises(ValueError, match="column 'sex' has no categories"):
        TableEncoding(("sex",), {"sex": []})
    with pytest.raises(ValueError, match="the categories of column 'sex' lists column\\(s\\)"):
        TableEncoding(("sex",), {"sex": ["M", "M"]})
    with pytest.raises(ValueError, match="encoding gives feature names \\['a'\\] but"):
        Dataset(np.zeros((2, 1)), np.zeros(2), "regression", "d", ("b",), "y",
                encoding=TableEncoding(("a",)))  # fmt: skip
