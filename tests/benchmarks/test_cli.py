"""Tests for pyro_bnn.benchmarks.cli and the old entry point ``python -m pyro_bnn.benchmark``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pyro_bnn.benchmarks import main, read_rows, run_uci

from .helpers import fake_fit


def test_cli_main_runs_and_writes_table(synthetic_dir, tmp_path, capsys):
    out, table = tmp_path / "r.csv", tmp_path / "table.md"
    code = main(
        [
            "uci", "--data-dir", str(synthetic_dir), "--methods", "map,mc-dropout",
            "--splits", "1", "--preset", "tiny", "--out", str(out), "--table", str(table),
            "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    assert len(read_rows(out)) == 2
    printed = capsys.readouterr().out
    assert "| toyset |" in printed and "2 rows in" in printed
    assert table.read_text().startswith("Test log-likelihood per point")


def test_cli_report_only_fits_nothing(synthetic_dir, tmp_path, capsys):
    out = tmp_path / "r.csv"
    run_uci(synthetic_dir, methods=("map",), splits=2, out=out, quiet=True,
            fitters={"map": fake_fit})  # fmt: skip
    before = out.read_text()
    figure = str(tmp_path / "f.png")
    code = main(["uci", "--data-dir", str(synthetic_dir), "--methods", "svi,nuts",
                 "--out", str(out), "--report-only", "--figure", figure])  # fmt: skip
    assert code == 0
    assert out.read_text() == before
    printed = capsys.readouterr().out
    assert "map (ours)" in printed and "svi (ours)" not in printed
    assert "coverage_90 / crps" in printed
    assert (tmp_path / "f.png").is_file()


def test_cli_reports_bad_arguments(synthetic_dir, tmp_path, capsys):
    code = main(["uci", "--data-dir", str(synthetic_dir), "--methods", "svi,foo",
                 "--out", str(tmp_path / "r.csv")])  # fmt: skip
    assert code == 2
    assert "method must be one of 'svi'" in capsys.readouterr().err
    for option, value in (("--threads", "0"), ("--scale", "-1"), ("--max-splits", "toyset=x")):
        code = main(["uci", "--data-dir", str(synthetic_dir), option, value,
                     "--out", str(tmp_path / "r.csv")])  # fmt: skip
        assert code == 2
        assert option in capsys.readouterr().err
    code = main(["classification", "--report-only", "--out", str(tmp_path / "missing.csv")])
    assert code == 2
    assert "--report-only needs an existing --out file" in capsys.readouterr().err


def test_old_import_path_keeps_every_public_name():
    import pyro_bnn.benchmark as old
    import pyro_bnn.benchmarks as new

    for name in new.__all__:
        assert getattr(old, name) is getattr(new, name), name
    from pyro_bnn.benchmark import add_benchmark_arguments, run_benchmark  # noqa: F401


@pytest.mark.slow
def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "pyro_bnn.benchmark", "uci", "--help"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0
    assert "--data-dir" in result.stdout and "--methods" in result.stdout


def test_without_data_dir_the_bundled_sets_are_used(tmp_path, capsys):
    """No --data-dir: the UCI sets that ship with pyro_bnn (here yacht, one split, MAP)."""
    out = tmp_path / "r.csv"
    code = main(
        [
            "uci", "--datasets", "yacht", "--methods", "map", "--splits", "1",
            "--preset", "tiny", "--out", str(out), "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    rows = read_rows(out)
    assert [(row["dataset"], row["method"]) for row in rows] == [("yacht", "map")]


def test_cli_nuts_options_reach_the_settings():
    import argparse

    from pyro_bnn.benchmarks import add_benchmark_arguments
    from pyro_bnn.benchmarks.cli import _settings_from

    parser = add_benchmark_arguments(argparse.ArgumentParser())
    settings = _settings_from(parser.parse_args(["uci"]))
    assert (settings.nuts_noise, settings.nuts_chains) == ("learned", 4)
    args = parser.parse_args(["uci", "--nuts-noise", "validation", "--nuts-chains", "2"])
    assert (_settings_from(args).nuts_noise, _settings_from(args).nuts_chains) == ("validation", 2)
    with pytest.raises(SystemExit):
        parser.parse_args(["uci", "--nuts-noise", "fixed"])
    assert parser.parse_args(["classification"]).ood_classes == "5,6,7,8,9"
