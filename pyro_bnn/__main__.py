"""``python -m pyro_bnn ...`` runs the ``pyro-bnn`` command line."""

import sys

from .app.cli import main

if __name__ == "__main__":
    sys.exit(main())
