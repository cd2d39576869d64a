"""``python -m pyro_bnn.benchmarks`` (same as ``python -m pyro_bnn.benchmark``)."""

import sys

from .cli import main

sys.exit(main())
