"""A small TOML writer for resolved model files (``tomllib`` only reads)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["to_toml"]


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        text = repr(value)
        return text if any(c in text for c in ".en") else f"{text}.0"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item, where) for item in value) + "]"
    raise TypeError(f"cannot write {where} = {value!r} as TOML ({type(value).__name__})")


def to_toml(sections: Mapping[str, Mapping[str, Any]]) -> str:
    """Write ``{section: {key: value}}`` as TOML (flat values: bool, int, float, str,
    and lists of them or of lists); ``None`` values are left out.

    >>> print(to_toml({"model": {"hidden": [20], "task": "regression"}}), end="")
    [model]
    hidden = [20]
    task = "regression"
    """
    blocks = []
    for section, values in sections.items():
        lines = [f"[{section}]"]
        for key, value in values.items():
            if value is None:
                continue
            lines.append(f"{key} = {_toml_value(value, f'{section}.{key}')}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
