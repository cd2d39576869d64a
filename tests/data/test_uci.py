"""UCI-format folders: synthetic folders, errors, the real yacht set."""

from __future__ import annotations

import numpy as np
import pytest

from pyro_bnn.data import (
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


@pytest.mark.skipif(not YACHT.is_dir(), reason=f"UCI yacht folder not found at {YACHT}")
def test_load_uci_yacht_split_0():
    assert uci_num_splits(YACHT) == 20
    data = load_uci(YACHT, split=0)
    assert data.x.shape == (277, 6) and data.y.shape == (277,)
    assert data.x_test.shape == (31, 6) and data.y_test.shape == (31,)
    assert data.name == "yacht" and data.target_name == "column_6"
    both = np.concatenate([data.extra["train_index"], data.extra["test_index"]])
    assert sorted(both.tolist()) == list(range(308))
