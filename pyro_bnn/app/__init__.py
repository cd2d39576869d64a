"""The application layer: model files, run directories and the ``pyro-bnn`` command line.

Built on the public API of :mod:`pyro_bnn` only. A model file (TOML) becomes a
:class:`ModelSpec` (:func:`load_spec`); :func:`fit_run` fits it and writes a run
directory that :func:`load_run` reads back into a :class:`Run`.

Example
-------
>>> from pyro_bnn.app import fit_run, load_run, load_spec
>>> run = fit_run(load_spec("models/regression_gap.toml"), "runs/demo")  # doctest: +SKIP
>>> load_run("runs/demo").metrics["test"]  # doctest: +SKIP
"""

from .figures import make_plots
from .fit import fit_run
from .run_dir import Run, RunData, load_run
from .spec import ModelSpec, SpecError, load_spec, parse_spec

__all__ = [
    "ModelSpec",
    "SpecError",
    "load_spec",
    "parse_spec",
    "Run",
    "RunData",
    "fit_run",
    "load_run",
    "make_plots",
]
