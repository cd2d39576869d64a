"""Helpers shared by the data tests: small files written on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
YACHT = REPO_ROOT.parent / "shared" / "data" / "uci" / "yacht"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def make_uci_folder(folder: Path, num_rows: int = 10, num_splits: int = 2) -> np.ndarray:
    """A tiny synthetic dataset in the UCI benchmark format (target in the middle column)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    data = rng.normal(size=(num_rows, 4))
    np.savetxt(folder / "data.txt", data)
    (folder / "index_features.txt").write_text("0\n1\n3\n")
    (folder / "index_target.txt").write_text("2\n")
    (folder / "n_splits.txt").write_text(f"{num_splits}\n")
    for split in range(num_splits):
        order = np.random.default_rng(split).permutation(num_rows)
        np.savetxt(folder / f"index_train_{split}.txt", order[:8], fmt="%d")
        np.savetxt(folder / f"index_test_{split}.txt", order[8:], fmt="%d")
    return data
