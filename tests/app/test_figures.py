"""The plots of a run directory (drawn with pyro_bnn.plots)."""

from __future__ import annotations

import pytest

from pyro_bnn.app import figures
from pyro_bnn.app.figures import make_plots
from pyro_bnn.plots.kinds import PLOT_KINDS


def test_make_plots_writes_the_requested_kinds(regression_run, tmp_path):
    written = make_plots(regression_run, kinds=["diagnostics", "calibration"], out_dir=tmp_path)
    assert [p.name for p in written] == ["diagnostics.png", "calibration.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


def test_predictive_check_kinds_draw_on_the_training_part(regression_run, tmp_path):
    written = make_plots(regression_run, kinds=["ppc", "prior_predictive"], out_dir=tmp_path)
    assert [p.name for p in written] == ["ppc.png", "prior_predictive.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)
    figure = figures._PLOT_DRAWERS["ppc"](regression_run)
    assert "training part" in figure._suptitle.get_text()
    assert len(figure.axes) == 2  # densities, test statistic


def test_unknown_kind_names_the_valid_ones(regression_run, tmp_path):
    valid = ", ".join(repr(kind) for kind in PLOT_KINDS)
    with pytest.raises(ValueError, match=f"plot kind must be one of {valid}, got 'ucertainty'"):
        make_plots(regression_run, kinds=["ucertainty"], out_dir=tmp_path)


def test_a_failing_plot_is_logged_not_raised(regression_run, tmp_path, monkeypatch):
    class Log:
        messages: list[str] = []

        def warning(self, message):
            self.messages.append(message)

    def broken(run):
        raise RuntimeError("no figure")

    monkeypatch.setitem(figures._PLOT_DRAWERS, "calibration", broken)
    log = Log()
    written = make_plots(regression_run, kinds=["calibration"], out_dir=tmp_path, log=log)
    assert written == [] and log.messages == [
        "the calibration plot failed: RuntimeError: no figure"
    ]


@pytest.mark.slow
def test_a_model_file_fits_laplace_and_draws_the_checks(tmp_path):
    from pyro_bnn.app.fit import fit_run

    from .helpers import TINY_REGRESSION, tiny

    spec = tiny(
        TINY_REGRESSION,
        **{"inference.guide": "laplace", "plots.enabled": True,
           "plots.kinds": ["ppc", "prior_predictive"]},
    )  # fmt: skip
    run = fit_run(spec, tmp_path / "laplace", quiet=True)
    assert run.posterior.guide_type == "laplace"
    assert sorted(p.name for p in (tmp_path / "laplace" / "plots").glob("*.png")) == [
        "ppc.png",
        "prior_predictive.png",
    ]


def test_a_1d_regression_run_shows_bands_and_epistemic_std_with_the_gaps_shaded(regression_run):
    figure = figures._plot_uncertainty(regression_run)
    bands, std = figure.axes
    data = regression_run.data
    assert bands.get_ylabel() == data.target_name and std.get_xlabel() == data.feature_names[0]
    assert std.get_ylabel() == "epistemic std"
    assert "epistemic std (mean function)" in std.get_legend().get_texts()[-1].get_text()


def test_the_1d_regression_legends_cover_no_data_and_no_curve(regression_run):
    """The bands' legend sits above the panel (title above it), and the epistemic std's
    legend above the curve: neither hides a training point or the std line."""
    import numpy as np

    figure = figures._plot_uncertainty(regression_run)
    figure.canvas.draw()  # constrained layout places the legends
    bands, std = figure.axes
    assert figure.get_suptitle() and not bands.get_title()
    legend = bands.get_legend().get_window_extent()
    assert legend.y0 >= bands.get_window_extent().y1 - 1  # outside the axes, above them
    line = std.get_lines()[0]
    points = std.transData.transform(np.column_stack(line.get_data()))
    box = std.get_legend().get_window_extent()
    inside = (
        (points[:, 0] > box.x0) & (points[:, 0] < box.x1)
        & (points[:, 1] > box.y0) & (points[:, 1] < box.y1)
    )  # fmt: skip
    assert not inside.any()
