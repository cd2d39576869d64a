"""Datasets and standardization: toy sets, scikit-learn sets, CSV files, UCI folders.

Every loader returns a :class:`Dataset` holding plain numpy arrays (``x: (N, D)``
float64; ``y: (N,)`` float64 targets or int64 labels in ``[0, K - 1]``; optionally a
held-out ``x_test``, ``y_test``). One concept per module:

=================  ===========================================================
``dataset``        :class:`Dataset`
``toy``            toy sets made on the fly (:data:`TOY_DATASETS`)
``sklearn_sets``   scikit-learn's bundled sets (:func:`load_sklearn`)
``csv``            CSV files (:func:`load_csv`, :func:`load_csv_features`, ...)
``in_memory``      tables in memory, e.g. a DataFrame (:func:`load_table`, ...)
``encoding``       one-hot text columns (:class:`TableEncoding`)
``table``          reading CSV cells with line numbers (helpers of ``csv``)
``uci``            folders in the UCI split format (:func:`load_uci`)
``sources``        model-file source strings (:func:`load_source`)
``split``          random train/test split (:func:`train_test_split`)
``scaling``        :class:`Standardizer`
``streaming``      data larger than memory (:class:`NpyDataset`, :func:`make_loader`)
=================  ===========================================================

Data sources as written in model files are parsed by :func:`load_source`::

    load_source("toy:gap")
    load_source("sklearn:digits")
    load_source("csv:data/my.csv", target="price")
    load_source("uci:yacht", split=0)           # a bundled UCI set (see data/uci/README.md)
    load_source("uci:../shared/data/uci/power-plant", split=0)
"""

from .csv import load_csv, load_csv_columns, load_csv_features
from .dataset import TASKS, Dataset
from .encoding import MAX_CATEGORIES, TableEncoding
from .in_memory import load_table, load_table_features
from .scaling import Standardizer
from .sklearn_sets import SKLEARN_DATASETS, load_sklearn
from .sources import DATA_SCHEMES, load_source
from .split import train_test_split
from .streaming import (
    BatchIndexSampler,
    NpyDataset,
    make_loader,
    save_npy_chunks,
    streaming_standardizer,
)
from .toy import (
    TOY_DATASETS,
    TWO_CLASS_MEANS,
    TWO_CLASS_STAR,
    TWO_CLASS_STD,
    make_gap_regression,
    make_heteroscedastic,
    make_linear_regression,
    make_two_class_ood,
    make_two_moons,
)
from .uci import (
    BUNDLED_UCI_DIR,
    UCI_FILES,
    bundled_uci_names,
    load_uci,
    uci_folder,
    uci_num_splits,
)

__all__ = [
    "Dataset",
    "TableEncoding",
    "Standardizer",
    "TOY_DATASETS",
    "SKLEARN_DATASETS",
    "DATA_SCHEMES",
    "make_gap_regression",
    "make_linear_regression",
    "make_heteroscedastic",
    "make_two_class_ood",
    "make_two_moons",
    "load_sklearn",
    "load_csv",
    "load_csv_features",
    "load_csv_columns",
    "load_table",
    "load_table_features",
    "load_uci",
    "uci_num_splits",
    "uci_folder",
    "bundled_uci_names",
    "load_source",
    "train_test_split",
    "NpyDataset",
    "BatchIndexSampler",
    "make_loader",
    "streaming_standardizer",
    "save_npy_chunks",
    "TASKS",
    "MAX_CATEGORIES",
    "TWO_CLASS_MEANS",
    "TWO_CLASS_STD",
    "TWO_CLASS_STAR",
    "UCI_FILES",
    "BUNDLED_UCI_DIR",
]
