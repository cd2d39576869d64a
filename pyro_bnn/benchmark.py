"""Benchmarks on real data: the UCI regression protocol and scikit-learn classification.

The code lives in the package :mod:`pyro_bnn.benchmarks`; this module keeps the old
import path (``from pyro_bnn.benchmark import run_uci, ...``) and the command
``python -m pyro_bnn.benchmark {uci,classification} ...``.
"""

from __future__ import annotations

import sys

from .benchmarks import *  # noqa: F403 (the old import path)
from .benchmarks import __all__  # noqa: F401
from .benchmarks.cli import main

if __name__ == "__main__":
    sys.exit(main())
