"""scikit-learn's bundled sets."""

from __future__ import annotations

import pytest

from pyro_bnn.data import (
    SKLEARN_DATASETS,
    load_sklearn,
    load_source,
)


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
