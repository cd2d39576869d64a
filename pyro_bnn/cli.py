"""Old import path of the command line: use :mod:`pyro_bnn.app.cli` (kept for scripts
and for ``pyro-bnn`` launchers installed before the move)."""

import sys

from .app.cli import build_parser, main  # noqa: F401
from .app.cli_commands import InputError, find_models_dir, resolve_model_file  # noqa: F401

__all__ = ["main", "build_parser", "find_models_dir", "resolve_model_file"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
