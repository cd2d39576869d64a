"""Run-directory files: CSV text."""

from __future__ import annotations

import numpy as np
import pytest

from pyro_bnn.app.files import csv_text


def test_csv_text_formats_numbers_and_strings():
    text = csv_text({"a": np.array([1.5, np.nan]), "b": np.array(["x,y", "z"], dtype=object)})
    assert text == 'a,b\n1.5,"x,y"\nnan,z\n'
    with pytest.raises(ValueError, match=r"different lengths"):
        csv_text({"a": [1, 2], "b": [1]})
