"""Realistic CSV tables for tests: scikit-learn's bundled diabetes and breast-cancer data
written the way people keep them (an ID column, a text column, text class labels)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest


def write_diabetes_csv(path: Path, rows: slice = slice(None)) -> Path:
    """``id,age,sex,bmi,...,target`` with ``id`` = ``P0000``... and ``sex`` as ``M``/``F``
    (scikit-learn codes it 1/2 without saying which is which; the mapping is arbitrary)."""
    datasets = pytest.importorskip("sklearn.datasets")
    bunch = datasets.load_diabetes(scaled=False)
    names = list(bunch.feature_names)
    sex = names.index("sex")
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *names, "target"])
        for i in range(len(bunch.target))[rows]:
            cells = [f"{value:g}" for value in bunch.data[i]]
            cells[sex] = "M" if bunch.data[i, sex] == 1 else "F"
            writer.writerow([f"P{i:04d}", *cells, f"{bunch.target[i]:g}"])
    return path


def write_breast_cancer_csv(path: Path, rows: slice = slice(None)) -> Path:
    """``id,<30 measurements>,diagnosis`` with ``diagnosis`` = ``malignant``/``benign``."""
    datasets = pytest.importorskip("sklearn.datasets")
    bunch = datasets.load_breast_cancer()
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *(n.replace(" ", "_") for n in bunch.feature_names), "diagnosis"])
        for i in range(len(bunch.target))[rows]:
            cells = [f"{value:g}" for value in bunch.data[i]]
            writer.writerow([f"B{i:04d}", *cells, bunch.target_names[bunch.target[i]]])
    return path
