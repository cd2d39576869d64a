"""Fixtures of the benchmark tests: one torch thread, a synthetic UCI data folder."""

from __future__ import annotations

import pytest
import torch

from .helpers import write_uci_folder


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def synthetic_dir(tmp_path):
    """A data folder holding one synthetic dataset, ``toyset`` (3 splits of 50/10 rows)."""
    write_uci_folder(tmp_path / "data" / "toyset")
    return tmp_path / "data"
