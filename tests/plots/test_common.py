"""pyro_bnn.plots: numpy and torch predictions, saving figures, the tutorial script."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyro_bnn as pb
from pyro_bnn import plots

ROOT = Path(__file__).resolve().parents[2]


def test_plots_take_torch_predictions_as_numpy_ones(regression, classification):
    """predict(..., torch x) returns tensors: every figure draws the same numbers."""
    import torch

    post, x = regression["posterior"], regression["x_grid"]
    from_torch = pb.predict(post, torch.as_tensor(x), num_draws=100)
    assert isinstance(from_torch.mean, torch.Tensor)
    figures = [
        plots.plot_regression(p, x, regression["x"], regression["y"], num_function_draws=2)
        for p in (regression["bayes"], from_torch)
    ]
    for a, b in zip(figures[0].axes[0].lines, figures[1].axes[0].lines, strict=True):
        np.testing.assert_allclose(a.get_ydata(), b.get_ydata(), rtol=1e-6)
    on_data = pb.predict(post, torch.as_tensor(regression["x"]), num_draws=100)
    figures = [
        plots.plot_predicted_vs_observed(p, regression["y"])
        for p in (regression["on_data"], on_data)
    ]
    assert figures[0].axes[0].get_title() == figures[1].axes[0].get_title()
    c = classification
    grid = torch.as_tensor(c["grid"].points)
    probs = pb.predict(c["posterior"], grid, num_draws=100)
    figures = [
        plots.plot_classification(p, c["grid"].x1, c["grid"].x2, c["x"], c["y"])
        for p in (c["bayes"], probs)
    ]
    for a, b in zip(figures[0].axes[:3], figures[1].axes[:3], strict=True):
        np.testing.assert_allclose(
            np.asarray(a.collections[0].get_array()),
            np.asarray(b.collections[0].get_array()),
            rtol=1e-5,
            atol=1e-7,
        )


def test_save_figure_writes_a_png(tmp_path, regression):
    fig = plots.plot_regression(regression["bayes"], regression["x_grid"])
    path = plots.save_figure(fig, tmp_path / "sub" / "bands.png", dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["bands.png"]  # no temp file left
    with pytest.raises(ValueError, match="cannot tell the image format"):
        plots.save_figure(fig, tmp_path / "bands.unknown")


@pytest.mark.slow
def test_point_vs_bayes_script_fast_mode(tmp_path):
    env = dict(os.environ, PYRO_BNN_FAST="1", PYTHONWARNINGS="ignore")
    script = ROOT / "tutorials" / "point_vs_bayes.py"
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "P(class 1) at the star: MAP" in result.stdout
    for name in ("point_vs_bayes_regression.png", "point_vs_bayes_classification.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert not math.isnan(float(result.stdout.split("Bayesian ")[1].split(";")[0]))
