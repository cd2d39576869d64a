"""Data source strings of model files: :func:`load_source` dispatches on the scheme.

::

    load_source("toy:gap")                      # TOY_DATASETS
    load_source("sklearn:digits")               # bundled with scikit-learn, no download
    load_source("csv:data/my.csv", target="price")
    load_source("uci:yacht", split=0)           # a bundled UCI set (see data/uci/README.md)
    load_source("uci:../shared/data/uci/power-plant", split=0)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pyro_bnn.validation import did_you_mean

from .csv import load_csv
from .dataset import Dataset
from .sklearn_sets import load_sklearn
from .toy import TOY_DATASETS
from .uci import bundled_uci_names, load_uci

__all__ = ["DATA_SCHEMES", "load_source"]

#: The schemes of a data source string ``<scheme>:<name or path>``.
DATA_SCHEMES = ("toy", "sklearn", "csv", "uci")


def _check_kwargs(function: Callable, kwargs: dict, source: str, skip: Sequence[str]) -> None:
    """Raise ``ValueError`` for an option that ``function`` does not take."""
    parameters = [name for name in inspect.signature(function).parameters if name not in skip]
    for key in kwargs:
        if key not in parameters:
            raise ValueError(
                f"data source '{source}' does not take option '{key}'"
                f"{did_you_mean(key, parameters)}; valid options: "
                f"{', '.join(parameters) if parameters else '(none)'}"
            )


def load_source(source: str, base_dir: str | Path | None = None, **kwargs: Any) -> Dataset:
    """Load a dataset from a model-file data source string.

    Parameters
    ----------
    source : str
        ``toy:<name>`` (a key of :data:`TOY_DATASETS`; kwargs go to the generator, e.g.
        ``num_points``, ``seed``), ``sklearn:<name>`` (:func:`load_sklearn`),
        ``csv:<path>`` (:func:`load_csv`; needs ``target=``), or ``uci:<folder>``
        (:func:`load_uci`; ``split=``; a bundled set's name such as ``uci:yacht``
        reads the bundled copy unless a folder of that name exists).
    base_dir : str or Path, optional
        Folder that relative ``csv:``/``uci:`` paths are resolved against (e.g. the
        folder of the model file); default: the current directory.
    **kwargs
        Options of the underlying loader; unknown ones are a ``ValueError``.

    Examples
    --------
    >>> load_source("toy:gap", num_points=40, seed=1).x.shape
    (40, 1)
    """
    if not isinstance(source, str):
        raise TypeError(f"data source must be a string like 'toy:gap', found {source!r}")
    scheme, sep, rest = source.partition(":")
    scheme, rest = scheme.strip(), rest.strip()
    if not sep:
        raise ValueError(
            f"data source '{source}' must look like '<scheme>:<name or path>' with scheme "
            f"one of {', '.join(DATA_SCHEMES)} (e.g. 'toy:gap', 'csv:data.csv')"
        )
    if scheme not in DATA_SCHEMES:
        raise ValueError(
            f"unknown data source scheme '{scheme}' in '{source}'"
            f"{did_you_mean(scheme, DATA_SCHEMES)}; valid schemes: {', '.join(DATA_SCHEMES)}"
        )
    if not rest:
        raise ValueError(f"data source '{source}' names no dataset after '{scheme}:'")
    if scheme == "toy":
        if rest not in TOY_DATASETS:
            raise ValueError(
                f"unknown toy dataset '{rest}'{did_you_mean(rest, TOY_DATASETS)}; "
                f"valid names: {', '.join(TOY_DATASETS)}"
            )
        _check_kwargs(TOY_DATASETS[rest], kwargs, source, skip=())
        return TOY_DATASETS[rest](**kwargs)
    if scheme == "sklearn":
        _check_kwargs(load_sklearn, kwargs, source, skip=("name",))
        return load_sklearn(rest)
    path = Path(rest).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    if scheme == "csv":
        _check_kwargs(load_csv, kwargs, source, skip=("path",))
        if kwargs.get("target") is None:
            raise ValueError(f"data source '{source}' needs the name of its target column")
        return load_csv(path, **kwargs)
    _check_kwargs(load_uci, kwargs, source, skip=("folder", "data_dir"))
    if rest in bundled_uci_names() and not path.is_dir():
        return load_uci(rest, **kwargs)  # a bundled set by name (uci:yacht)
    return load_uci(path, **kwargs)
