"""UCI-format folders: synthetic folders, errors, the bundled sets, data_dir."""

from __future__ import annotations

import numpy as np
import pytest

import pyro_bnn as pb
from pyro_bnn.data import (
    BUNDLED_UCI_DIR,
    bundled_uci_names,
    load_source,
    load_uci,
    uci_num_splits,
)

from .helpers import YACHT, make_uci_folder


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


def test_load_uci_yacht_split_0():
    assert uci_num_splits("yacht") == 20
    data = load_uci("yacht", split=0)
    assert data.x.shape == (277, 6) and data.y.shape == (277,)
    assert data.x_test.shape == (31, 6) and data.y_test.shape == (31,)
    assert data.name == "yacht" and data.target_name == "column_6"
    both = np.concatenate([data.extra["train_index"], data.extra["test_index"]])
    assert sorted(both.tolist()) == list(range(308))


# --------------------------------------------------------------------------- bundled sets

BUNDLED = {  # name: (rows, features, training rows, test rows)
    "concrete": (1030, 8, 927, 103),
    "energy": (768, 8, 691, 77),
    "wine-quality-red": (1599, 11, 1439, 160),
    "yacht": (308, 6, 277, 31),
}


def test_the_four_bundled_sets_load_by_name():
    assert bundled_uci_names() == tuple(sorted(BUNDLED))
    for name, (num_rows, num_features, num_train, num_test) in BUNDLED.items():
        assert uci_num_splits(name) == 20
        for split in (0, 19):
            data = pb.data.load_uci(name, split=split)
            assert data.name == name and data.task == "regression"
            assert data.x.shape == (num_train, num_features)
            assert data.x_test.shape == (num_test, num_features)
            both = np.concatenate([data.extra["train_index"], data.extra["test_index"]])
            assert sorted(both.tolist()) == list(range(num_rows))
    yacht = load_uci("yacht", split=3)
    np.testing.assert_array_equal(load_source("uci:yacht", split=3).y_test, yacht.y_test)
    np.testing.assert_array_equal(load_uci(BUNDLED_UCI_DIR / "yacht", split=3).y, yacht.y)


def test_bundled_splits_are_those_of_the_published_procedure():
    """Hernández-Lobato & Adams (2015): RandomState(1), a permutation per split, 90 % train."""
    for name, (num_rows, _, num_train, _) in BUNDLED.items():
        rng = np.random.RandomState(1)
        for split in range(20):
            order = rng.choice(range(num_rows), num_rows, replace=False)
            data = load_uci(name, split=split)
            assert num_train == int(round(0.9 * num_rows))
            np.testing.assert_array_equal(data.extra["train_index"], order[:num_train])
            np.testing.assert_array_equal(data.extra["test_index"], order[num_train:])


@pytest.mark.skipif(not YACHT.is_dir(), reason=f"UCI yacht folder not found at {YACHT}")
def test_bundled_yacht_equals_the_shared_copy():
    shared = load_uci("yacht", split=5, data_dir=YACHT.parent)
    bundled = load_uci("yacht", split=5)
    assert shared.extra["num_splits"] == bundled.extra["num_splits"] == 20
    np.testing.assert_array_equal(shared.x, bundled.x)
    np.testing.assert_array_equal(shared.y_test, bundled.y_test)


def test_data_dir_serves_other_sets_in_the_same_format(tmp_path):
    data = make_uci_folder(tmp_path / "sets" / "toyset")
    assert uci_num_splits("toyset", data_dir=tmp_path / "sets") == 2
    split = load_uci("toyset", split=1, data_dir=tmp_path / "sets")
    np.testing.assert_array_equal(split.y, load_uci(tmp_path / "sets" / "toyset", split=1).y)
    assert split.name == "toyset" and split.y_test.shape == (2,)
    every_target = np.concatenate([split.y, split.y_test])
    np.testing.assert_allclose(np.sort(every_target), np.sort(data[:, 2]))
    with pytest.raises(ValueError, match="UCI dataset folder '.*sets/yacht' not found"):
        load_uci("yacht", data_dir=tmp_path / "sets")  # data_dir is not mixed with bundled


def test_a_folder_of_your_own_named_like_a_bundled_set(tmp_path):
    own = make_uci_folder(tmp_path / "yacht")
    assert load_uci(tmp_path / "yacht").x.shape == (8, 3)  # a Path is always a path
    relative = load_source("uci:yacht", base_dir=tmp_path)  # an existing folder wins
    assert relative.x.shape == (8, 3) and relative.y.tolist() == [
        own[row, 2] for row in relative.extra["train_index"]
    ]


def test_an_unknown_name_lists_the_bundled_sets():
    with pytest.raises(
        ValueError,
        match="'yatch' not found .*did you mean 'yacht'.*bundled UCI sets: concrete, energy, "
        "wine-quality-red, yacht",
    ):
        load_uci("yatch")
