"""Old import path of the model-file layer: use :mod:`pyro_bnn.app.spec` (kept for scripts)."""

from .app.schema import (  # noqa: F401
    LIKELIHOOD_NAMES,
    LIKELIHOOD_TASK,
    PLOT_KINDS,
    PRIOR_NAMES,
    SCHEMA,
    SECTIONS,
    TASKS,
    Key,
    SpecError,
    did_you_mean,
)
from .app.spec import (  # noqa: F401
    ModelSpec,
    describe_model_file,
    load_spec,
    parse_override,
    parse_spec,
)
from .app.toml_writer import to_toml  # noqa: F401

__all__ = [
    "SpecError",
    "ModelSpec",
    "SCHEMA",
    "SECTIONS",
    "load_spec",
    "parse_spec",
    "parse_override",
    "to_toml",
    "describe_model_file",
]
