"""The data package keeps every import path of the former ``pyro_bnn/data.py`` module."""

import pyro_bnn as pb
import pyro_bnn.data as data
import pyro_bnn.streaming as old_streaming
from pyro_bnn.data import streaming

FORMER_NAMES = (
    "Dataset TableEncoding Standardizer TOY_DATASETS SKLEARN_DATASETS DATA_SCHEMES "
    "make_gap_regression make_linear_regression make_heteroscedastic make_two_class_ood "
    "make_two_moons load_sklearn load_csv load_csv_features load_csv_columns load_uci "
    "uci_num_splits load_source train_test_split TASKS MAX_CATEGORIES TWO_CLASS_MEANS "
    "TWO_CLASS_STD TWO_CLASS_STAR UCI_FILES"
).split()


def test_every_former_name_is_still_offered():
    missing = [name for name in FORMER_NAMES if not hasattr(data, name)]
    assert not missing
    assert set(data.__all__) <= set(dir(data))


def test_top_level_names_are_the_data_package_objects():
    assert pb.Dataset is data.Dataset and pb.Standardizer is data.Standardizer
    assert pb.load_csv is data.load_csv and pb.load_source is data.load_source
    assert pb.load_uci is data.load_uci


def test_the_former_streaming_module_re_exports_the_moved_one():
    for name in old_streaming.__all__:
        assert getattr(old_streaming, name) is getattr(streaming, name)
    assert pb.streaming.make_loader is streaming.make_loader
    assert data.NpyDataset is streaming.NpyDataset
