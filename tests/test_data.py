"""Tests for pyro_bnn.data: toy sets, loaders, data sources, splitting, standardizing."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from pyro_bnn.data import (
    SKLEARN_DATASETS,
    TOY_DATASETS,
    Dataset,
    Standardizer,
    TableEncoding,
    load_csv,
    load_csv_columns,
    load_csv_features,
    load_sklearn,
    load_source,
    load_uci,
    make_gap_regression,
    make_heteroscedastic,
    make_linear_regression,
    make_two_class_ood,
    make_two_moons,
    train_test_split,
    uci_num_splits,
)

from .csv_tables import write_breast_cancer_csv, write_diabetes_csv

REPO_ROOT = Path(__file__).resolve().parents[1]
YACHT = REPO_ROOT.parent / "shared" / "data" / "uci" / "yacht"


# --------------------------------------------------------------------------- toy sets


@pytest.mark.parametrize("name", sorted(TOY_DATASETS))
def test_toy_sets_are_deterministic_by_seed(name):
    first, again, other = (TOY_DATASETS[name](seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(first.x, again.x)
    np.testing.assert_array_equal(first.y, again.y)
    assert not np.array_equal(first.x, other.x)


@pytest.mark.parametrize(
    "name, task, num_features",
    [
        ("gap", "regression", 1),
        ("linear", "regression", 1),
        ("heteroscedastic", "regression", 1),
        ("two_class_ood", "classification", 2),
        ("two_moons", "classification", 2),
    ],
)
def test_toy_sets_shapes_and_tasks(name, task, num_features):
    data = TOY_DATASETS[name](num_points=37)
    assert isinstance(data, Dataset)
    assert data.task == task and data.name == name
    assert data.x.shape == (37, num_features) and data.x.dtype == np.float64
    assert data.y.shape == (37,)
    assert len(data.feature_names) == num_features
    assert not data.has_test
    if task == "classification":
        assert data.y.dtype == np.int64
        assert data.num_classes == 2 and set(np.unique(data.y)) == {0, 1}
    else:
        assert data.y.dtype == np.float64 and data.num_classes is None


def test_gap_has_no_points_in_the_gap_and_half_on_each_side():
    data = make_gap_regression(num_points=1000, noise=0.0, seed=1)
    x = data.x[:, 0]
    assert not np.any((x > -1.0) & (x < 1.0))
    assert x.min() >= -4.0 and x.max() <= 4.0
    assert np.sum(x < 0) == 500
    np.testing.assert_allclose(data.y, np.sin(x) + 0.1 * x)
    # the noise has the requested standard deviation
    noisy = make_gap_regression(num_points=4000, noise=0.15, seed=1)
    residual = noisy.y - (np.sin(noisy.x[:, 0]) + 0.1 * noisy.x[:, 0])
    assert abs(residual.std() - 0.15) < 0.01


def test_linear_regression_returns_true_coefficients():
    data = make_linear_regression(num_points=400, in_features=3, noise=0.0, seed=2)
    weights, bias = data.extra["weights"], data.extra["bias"]
    assert weights.shape == (3,)
    np.testing.assert_allclose(data.y, data.x @ weights + bias)
    # two clusters, so the middle of the range is empty
    assert not np.any(np.abs(data.x + 0.5) < 0.1)


def test_heteroscedastic_noise_grows_with_abs_x():
    data = make_heteroscedastic(num_points=4000, seed=0)
    x, residual = data.x[:, 0], data.y - np.sin(data.x[:, 0])
    inner, outer = residual[np.abs(x) < 1], residual[np.abs(x) > 3]
    assert outer.std() > 3 * inner.std()
    np.testing.assert_allclose(data.extra["noise_std"], 0.05 + 0.2 * np.abs(x))


def test_two_class_ood_query_point_is_far_from_both_blobs():
    data = make_two_class_ood(seed=0)
    star = data.extra["query_points"]
    assert star.shape == (1, 2)
    distances = np.linalg.norm(data.x - star, axis=1)
    assert distances.min() > 4.0
    for label in (0, 1):
        np.testing.assert_allclose(
            data.x[data.y == label].mean(axis=0), data.extra["means"][label], atol=0.3
        )
    assert np.sum(data.y == 0) == 100


def test_two_moons_geometry():
    clean = make_two_moons(num_points=101, noise=0.0, seed=0)
    outer, inner = clean.x[clean.y == 0], clean.x[clean.y == 1]
    assert len(outer) == 50 and len(inner) == 51
    # class 0 on the upper unit half circle, class 1 on the lower circle around (1, 0.5)
    np.testing.assert_allclose(np.linalg.norm(outer, axis=1), 1.0)
    assert np.all(outer[:, 1] >= -1e-12)
    np.testing.assert_allclose(np.linalg.norm(inner - [1.0, 0.5], axis=1), 1.0)
    assert np.all(inner[:, 1] <= 0.5 + 1e-12)
    # end points as in sklearn.datasets.make_moons
    assert any(np.allclose(p, [1.0, 0.0]) for p in outer)
    assert any(np.allclose(p, [-1.0, 0.0]) for p in outer)
    assert any(np.allclose(p, [0.0, 0.5]) for p in inner)
    assert any(np.allclose(p, [2.0, 0.5]) for p in inner)
    noisy = make_two_moons(num_points=101, noise=0.1, seed=0)
    assert np.linalg.norm(noisy.x - clean.x, axis=1).mean() == pytest.approx(
        0.1 * np.sqrt(np.pi / 2), rel=0.25
    )


def test_two_moons_matches_sklearn_without_noise():
    datasets = pytest.importorskip("sklearn.datasets")
    ours = make_two_moons(num_points=60, noise=0.0)
    theirs_x, theirs_y = datasets.make_moons(n_samples=60, noise=0.0, shuffle=False)
    for label in (0, 1):
        mine = ours.x[ours.y == label]
        other = theirs_x[theirs_y == label]
        np.testing.assert_allclose(mine[np.lexsort(mine.T)], other[np.lexsort(other.T)])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: make_gap_regression(num_points=1), "num_points must be an integer >= 2"),
        (lambda: make_gap_regression(noise=-1.0), "noise must be a finite number >= 0"),
        (lambda: make_linear_regression(in_features=0), "in_features must be an integer >= 1"),
        (lambda: make_two_moons(num_points=2.5), "num_points must be an integer"),
    ],
)
def test_toy_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- Dataset


def test_dataset_validates_its_arrays():
    with pytest.raises(ValueError, match="training part: x contains NaN at row 1"):
        Dataset(np.array([[0.0], [np.nan]]), np.zeros(2), "regression", "d", ("a",), "y")
    with pytest.raises(ValueError, match="different lengths"):
        Dataset(np.zeros((3, 1)), np.zeros(2), "regression", "d", ("a",), "y")
    with pytest.raises(ValueError, match="feature_names has 2 name"):
        Dataset(np.zeros((3, 1)), np.zeros(3), "regression", "d", ("a", "b"), "y")
    with pytest.raises(ValueError, match="task must be one of regression, classification"):
        Dataset(np.zeros((3, 1)), np.zeros(3), "regresion", "d", ("a",), "y")
    with pytest.raises(ValueError, match="class labels must be integers, found 0.5"):
        Dataset(np.zeros((2, 1)), np.array([0, 0.5]), "classification", "d", ("a",), "y")
    with pytest.raises(ValueError, match="found label 2"):
        Dataset(
            np.zeros((2, 1)),
            np.array([0, 2]),
            "classification",
            "d",
            ("a",),
            "y",
            class_names=("a", "b"),
        )
    with pytest.raises(ValueError, match="test part: x contains inf"):
        Dataset(
            np.zeros((2, 1)), np.zeros(2), "regression", "d", ("a",), "y",
            x_test=np.array([[np.inf]]), y_test=np.zeros(1),
        )  # fmt: skip
    with pytest.raises(ValueError, match="both be given"):
        Dataset(
            np.zeros((2, 1)), np.zeros(2), "regression", "d", ("a",), "y", x_test=np.zeros((1, 1))
        )


def test_dataset_train_test_split_and_repr():
    data = make_gap_regression(num_points=50).train_test_split(0.2, seed=0)
    assert data.x.shape == (40, 1) and data.x_test.shape == (10, 1)
    assert "x_test=(10, 1)" in repr(data)
    with pytest.raises(ValueError, match="already has a test part"):
        data.train_test_split(0.2)


# --------------------------------------------------------------------------- splitting


def test_train_test_split_partitions_rows_deterministically():
    x = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_fraction=0.3, seed=5)
    assert x_train.shape == (7, 2) and x_test.shape == (3, 2)
    assert y_train.dtype == y.dtype
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(10))
    np.testing.assert_array_equal(x_train[:, 0], 2 * y_train)  # rows stay paired
    again = train_test_split(x, y, test_fraction=0.3, seed=5)
    np.testing.assert_array_equal(again[3], y_test)
    other = train_test_split(x, y, test_fraction=0.3, seed=6)
    assert not np.array_equal(other[3], y_test)
    # tiny fractions still leave one test row
    assert train_test_split(x, y, 0.01, 0)[1].shape == (1, 2)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, "0.2"])
def test_train_test_split_bad_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction must be a number in"):
        train_test_split(np.zeros((5, 1)), np.zeros(5), fraction, 0)


def test_train_test_split_bad_data():
    with pytest.raises(ValueError, match="different lengths"):
        train_test_split(np.zeros((5, 1)), np.zeros(4), 0.2, 0)
    with pytest.raises(ValueError, match="cannot split 1 row"):
        train_test_split(np.zeros((1, 1)), np.zeros(1), 0.5, 0)


# --------------------------------------------------------------------------- Standardizer


def test_standardizer_round_trip_and_inverse_scaling():
    rng = np.random.default_rng(0)
    x = rng.normal([3.0, -200.0], [2.0, 50.0], size=(500, 2))
    y = rng.normal(40.0, 7.0, size=500)
    scaler = Standardizer.fit(x, y)
    x_standard, y_standard = scaler.transform_x(x), scaler.transform_y(y)
    np.testing.assert_allclose(x_standard.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(x_standard.std(axis=0), 1.0)
    np.testing.assert_allclose(y_standard.std(), 1.0)
    np.testing.assert_allclose(scaler.inverse_x(x_standard), x)
    np.testing.assert_allclose(scaler.inverse_y_mean(y_standard), y)
    y_std = y.std()
    np.testing.assert_allclose(scaler.inverse_y_var(np.array([1.0, 4.0])), [y_std**2, 4 * y_std**2])
    np.testing.assert_allclose(scaler.inverse_y_std(np.array([2.0])), [2 * y_std])
    np.testing.assert_allclose(scaler.inverse_y_log_prob(np.array([0.0])), [-np.log(y_std)])
    # torch tensors in, tensors of the same dtype out
    mean = scaler.inverse_y_mean(torch.zeros(3, dtype=torch.float32))
    assert isinstance(mean, torch.Tensor) and mean.dtype == torch.float32
    assert torch.allclose(mean, torch.full((3,), float(y.mean())))


def test_standardizer_to_dict_is_json_and_round_trips():
    data = make_linear_regression(num_points=30, in_features=3)
    scaler = Standardizer.fit(data.x, data.y)
    restored = Standardizer.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(restored.transform_x(data.x), scaler.transform_x(data.x))
    np.testing.assert_array_equal(restored.transform_y(data.y), scaler.transform_y(data.y))
    assert restored.task == "regression"
    with pytest.raises(ValueError, match="missing key\\(s\\): y_std"):
        Standardizer.from_dict({k: v for k, v in scaler.to_dict().items() if k != "y_std"})


def test_standardizer_constant_column_guard():
    x = np.column_stack([np.full(10, 3.7), np.arange(10.0), np.full(10, 1e9)])
    y = np.full(10, 5.0)
    scaler = Standardizer.fit(x, y)
    np.testing.assert_array_equal(scaler.x_std[[0, 2]], [1.0, 1.0])
    assert scaler.x_std[1] == pytest.approx(np.arange(10.0).std())
    assert float(scaler.y_std) == 1.0
    transformed = scaler.transform_x(x)
    assert np.isfinite(transformed).all()
    np.testing.assert_allclose(transformed[:, [0, 2]], 0.0, atol=1e-6)
    # a genuinely small (non-constant) scale is still standardized
    small = Standardizer.fit(np.zeros((4, 1)), np.array([0.0, 1e-6, 2e-6, 3e-6]))
    assert float(small.y_std) == pytest.approx(np.array([0.0, 1e-6, 2e-6, 3e-6]).std())


def test_standardizer_classification_standardizes_x_only():
    data = make_two_class_ood()
    scaler = Standardizer.fit(data.x, data.y, task="classification")
    assert scaler.task == "classification"
    np.testing.assert_array_equal(scaler.transform_y(data.y), data.y)
    np.testing.assert_allclose(scaler.transform_x(data.x).mean(axis=0), 0.0, atol=1e-12)
    probs = np.array([[0.2, 0.8]])
    np.testing.assert_array_equal(scaler.inverse_y_mean(probs), probs)


def test_standardizer_errors():
    scaler = Standardizer.fit(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="x of shape \\(2, 3\\) does not match .* \\(N, 2\\)"):
        scaler.transform_x(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="x of shape \\(4,\\) does not match"):
        scaler.transform_x(np.zeros(4))
    with pytest.raises(ValueError, match="x contains NaN at row 0"):
        Standardizer.fit(np.array([[np.nan]]), np.zeros(1))
    identity = Standardizer.identity(2)
    np.testing.assert_array_equal(identity.transform_x(np.ones((1, 2))), np.ones((1, 2)))


# --------------------------------------------------------------------------- CSV


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


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


# --------------------------------------------------------------------------- text columns


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


def test_load_csv_columns_copies_cells_as_written(tmp_path):
    path = write(tmp_path / "ids.csv", "id,x,note\n007,1.5,\nA-2,2,hello\n")
    columns = load_csv_columns(path, ["note", "id"])
    assert list(columns) == ["note", "id"]
    assert columns["id"].tolist() == ["007", "A-2"] and columns["note"].tolist() == ["", "hello"]
    with pytest.raises(ValueError, match="ids.csv' has no column 'ID' \\(did you mean 'id'\\?\\)"):
        load_csv_columns(path, ["ID"])


# --------------------------------------------------------------------------- UCI folders


def make_uci_folder(folder: Path, num_rows: int = 10, num_splits: int = 2) -> np.ndarray:
    """A tiny synthetic dataset in the UCI benchmark format (target in the middle column)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    data = rng.normal(size=(num_rows, 4))
    np.savetxt(folder / "data.txt", data)
    (folder / "index_features.txt").write_text("0\n1\n3\n")
    (folder / "index_target.txt").write_text("2\n")
    (folder / "n_splits.txt").write_text(f"{num_splits}\n")
    for split in range(num_splits):
        order = np.random.default_rng(split).permutation(num_rows)
        np.savetxt(folder / f"index_train_{split}.txt", order[:8], fmt="%d")
        np.savetxt(folder / f"index_test_{split}.txt", order[8:], fmt="%d")
    return data


def test_load_uci_synthetic_folder(tmp_path):
    folder = tmp_path / "toyset"
    data = make_uci_folder(folder)
    assert uci_num_splits(folder) == 2
    split = load_uci(folder, split=1)
    order = np.random.default_rng(1).permutation(10)
    assert split.name == "toyset" and split.task == "regression"
    np.testing.assert_allclose(split.x, data[order[:8]][:, [0, 1, 3]])
    np.testing.assert_allclose(split.y, data[order[:8], 2])
    np.testing.assert_allclose(split.x_test, data[order[8:]][:, [0, 1, 3]])
    np.testing.assert_allclose(split.y_test, data[order[8:], 2])
    assert split.feature_names == ("column_0", "column_1", "column_3")
    assert split.target_name == "column_2" and split.extra["num_splits"] == 2
    same = load_source(f"uci:{folder}", split=1)
    np.testing.assert_array_equal(same.y_test, split.y_test)
    relative = load_source("uci:toyset", base_dir=tmp_path)
    np.testing.assert_array_equal(relative.y, load_uci(folder).y)


def test_load_uci_errors(tmp_path):
    with pytest.raises(ValueError, match="UCI dataset folder '.*nowhere' not found"):
        load_uci(tmp_path / "nowhere")
    folder = tmp_path / "set"
    make_uci_folder(folder)
    with pytest.raises(ValueError, match="split 2 is out of range: .* has 2 splits \\(0 to 1\\)"):
        load_uci(folder, split=2)
    with pytest.raises(ValueError, match="split -1 is out of range"):
        load_uci(folder, split=-1)
    (folder / "index_test_1.txt").unlink()
    with pytest.raises(ValueError, match="index_test_1.txt' not found: n_splits.txt says 2"):
        load_uci(folder, split=1)
    (folder / "index_train_0.txt").write_text("0\n1\n99\n")
    with pytest.raises(ValueError, match="names row 99 but .* has 10 rows"):
        load_uci(folder, split=0)
    (folder / "index_train_0.txt").write_text("0\n1\n")
    (folder / "index_test_0.txt").write_text("1\n2\n")
    with pytest.raises(ValueError, match="train and test must be disjoint"):
        load_uci(folder, split=0)
    (folder / "index_target.txt").write_text("7\n")
    with pytest.raises(ValueError, match="names column 7 but .* has 4 columns"):
        load_uci(folder, split=0)
    (folder / "n_splits.txt").unlink()
    with pytest.raises(ValueError, match="is missing n_splits.txt"):
        load_uci(folder)


@pytest.mark.skipif(not YACHT.is_dir(), reason=f"UCI yacht folder not found at {YACHT}")
def test_load_uci_yacht_split_0():
    assert uci_num_splits(YACHT) == 20
    data = load_uci(YACHT, split=0)
    assert data.x.shape == (277, 6) and data.y.shape == (277,)
    assert data.x_test.shape == (31, 6) and data.y_test.shape == (31,)
    assert data.name == "yacht" and data.target_name == "column_6"
    both = np.concatenate([data.extra["train_index"], data.extra["test_index"]])
    assert sorted(both.tolist()) == list(range(308))


# --------------------------------------------------------------------------- scikit-learn


def test_load_sklearn_digits():
    pytest.importorskip("sklearn")
    data = load_sklearn("digits")
    assert data.x.shape == (1797, 64) and data.y.shape == (1797,)
    assert data.task == "classification" and data.num_classes == 10
    assert data.class_names == tuple(str(k) for k in range(10))
    diabetes = load_source("sklearn:diabetes")
    assert diabetes.task == "regression" and diabetes.x.shape == (442, 10)
    assert diabetes.feature_names[0] == "age"


def test_load_sklearn_unknown_name():
    with pytest.raises(
        ValueError, match="unknown scikit-learn dataset 'digit' \\(did you mean 'digits'"
    ):
        load_sklearn("digit")
    assert set(SKLEARN_DATASETS) == {"digits", "breast_cancer", "iris", "wine", "diabetes"}


def test_load_sklearn_missing_sklearn_gives_install_hint(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        load_sklearn("iris")


# --------------------------------------------------------------------------- load_source


def test_load_source_toy_with_options():
    data = load_source("toy:gap", num_points=40, seed=1)
    np.testing.assert_array_equal(data.x, make_gap_regression(num_points=40, seed=1).x)


def test_load_source_csv(tmp_path):
    write(tmp_path / "d.csv", "a,t\n1,2\n3,4\n")
    assert load_source("csv:d.csv", base_dir=tmp_path, target="t").y.tolist() == [2.0, 4.0]
    with pytest.raises(ValueError, match="needs the name of its target column"):
        load_source(f"csv:{tmp_path / 'd.csv'}")


@pytest.mark.parametrize(
    "source, kwargs, match",
    [
        ("tyo:gap", {}, "unknown data source scheme 'tyo' .*did you mean 'toy'.*valid schemes: "
         "toy, sklearn, csv, uci"),
        ("gap", {}, "must look like '<scheme>:<name or path>'"),
        ("toy:", {}, "names no dataset"),
        ("toy:two_moon", {}, "unknown toy dataset 'two_moon' \\(did you mean 'two_moons'\\?\\); "
         "valid names: gap, linear"),
        ("toy:gap", {"num_point": 3},
         "does not take option 'num_point' \\(did you mean 'num_points'"),
        ("sklearn:iris", {"seed": 0}, "does not take option 'seed'; valid options: \\(none\\)"),
        ("uci:somewhere", {"splt": 1}, "did you mean 'split'"),
    ],
)  # fmt: skip
def test_load_source_errors(source, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_source(source, **kwargs)
