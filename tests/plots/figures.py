"""Reading back what a figure drew."""

from __future__ import annotations

import numpy as np


def legend_texts(legend) -> list[str]:
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def band_range(collection) -> tuple[float, float]:
    ys = np.concatenate([path.vertices[:, 1] for path in collection.get_paths()])
    return float(ys.min()), float(ys.max())


# --------------------------------------------------------------------------- plot_regression
