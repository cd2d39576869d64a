"""Tests for pyro_bnn.benchmarks.published: the embedded numbers and their lookup."""

from __future__ import annotations

import re

from pyro_bnn.benchmarks.published import PUBLISHED, published

from .helpers import SHARED_UCI, needs_shared


def test_lookup_by_folder_name_and_alias():
    assert published("yacht")["PBP"]["test_ll"] == (-1.63, 0.02)
    assert published("protein") is PUBLISHED["protein-tertiary-structure"]
    assert published("wine") is PUBLISHED["wine-quality-red"]
    assert published("toyset") == {}


@needs_shared
def test_embedded_published_numbers_match_published_md():
    """The PBP and MC-dropout (as s.e.) columns of Table B in PUBLISHED.md."""
    text = (SHARED_UCI / "PUBLISHED.md").read_text()
    table_b = text.split("## Table B")[1].split("\n\n")[1]
    names = {"power": "power-plant", "protein": "protein-tertiary-structure",
             "wine-red": "wine-quality-red"}  # fmt: skip
    number = r"(−?[\d.]+) ± ([\d.]+)"
    checked = 0
    for line in table_b.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        dataset = names.get(cells[0], cells[0])
        for column, name in ((2, "PBP"), (4, "MC dropout"), (7, "Deep Ensembles")):
            mean, se = re.match(number, cells[column]).groups()
            assert PUBLISHED[dataset][name]["test_ll"] == (
                float(mean.replace("−", "-")),
                float(se),
            ), (dataset, name)
            checked += 1
    assert checked == 18
