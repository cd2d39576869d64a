"""Writing run-directory files: atomic text, CSV and JSON files and the atomic directory."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..posterior import atomic_write

__all__ = [
    "atomic_text",
    "csv_text",
    "write_csv",
    "write_json",
    "plain",
    "as_numpy",
    "finite_float",
    "check_out_dir",
    "atomic_directory",
]


def finite_float(value) -> float | None:
    """``float(value)``, or ``None`` for NaN and infinities (JSON has neither)."""
    value = float(value)
    return value if math.isfinite(value) else None


def as_numpy(value) -> np.ndarray:
    """A tensor or array-like as a float64 numpy array (on the CPU)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def plain(value):
    """Tensors/arrays/numpy scalars → JSON-able values; NaN/inf → None."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return finite_float(value)
    return value


def atomic_text(path: Path, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)

    atomic_write(path, write)


def _format_cell(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, np.integer | int) and not isinstance(value, bool):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "nan"
    return format(value, ".8g")


def csv_text(columns: Mapping[str, Sequence]) -> str:
    """Named equal-length columns as CSV text with a header row."""
    names = list(columns)
    lengths = {len(columns[name]) for name in names}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths: {sorted(lengths)}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in zip(*(columns[name] for name in names), strict=True):
        writer.writerow([_format_cell(value) for value in row])
    return buffer.getvalue()


def write_csv(path: str | os.PathLike, columns: Mapping[str, Sequence]) -> None:
    """Write named columns to a CSV file atomically."""
    atomic_text(Path(path), csv_text(columns))


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write JSON (NaN/inf as null) atomically."""
    atomic_text(Path(path), json.dumps(plain(value), indent=2, allow_nan=False) + "\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _looks_like_run(path: Path) -> bool:
    return path.is_dir() and (
        not any(path.iterdir()) or (path / "spec.toml").exists() or (path / "posterior.pt").exists()
    )


def check_out_dir(out: str | os.PathLike, force: bool) -> Path:
    """Fail early (``ValueError``) if ``out`` cannot become a run directory."""
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise ValueError(f"output path '{out}' exists and is not a directory")
        if not force:
            raise ValueError(
                f"run directory '{out}' already exists; pass --force to replace it "
                "(or choose another --out)"
            )
        if not _looks_like_run(out):
            raise ValueError(
                f"'{out}' is not empty and does not look like a run directory (no spec.toml); "
                "refusing to replace it even with --force"
            )
    return out


@contextmanager
def atomic_directory(out: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Build a directory in a temporary folder next to ``out``; rename it into place at the end.

    On any exception (or interrupt) the temporary folder (and any parent folders
    this created) is removed and ``out`` is untouched. With ``force``, an existing
    ``out`` is swapped out only after the new directory is complete.
    """
    out = Path(out).absolute()
    check_out_dir(out, force)
    created = [parent for parent in out.parents if not parent.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        check_out_dir(out, force)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            old.rmdir()
            os.replace(out, old)
            try:
                os.replace(tmp, out)
            except BaseException:
                os.replace(old, out)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for parent in created:  # innermost first
            try:
                parent.rmdir()
            except OSError:
                break
        raise
