"""The pyro-bnn command line: help, exit codes, one-line errors, predict/evaluate/plot.

Most cases call ``main(argv)`` in-process (the same code the entry point runs, and
much faster than a new Python per case); the ones marked "subprocess" run the
installed ``pyro-bnn`` entry point to check what a user's shell sees.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyro_bnn.app.cli import main

from ..csv_tables import write_breast_cancer_csv, write_diabetes_csv

REPO = Path(__file__).resolve().parents[2]
GAP = str(REPO / "models" / "regression_gap.toml")
TWO_MOONS = str(REPO / "models" / "two_moons.toml")
FAST = [
    "--set",
    "inference.method=svi",
    "--set",
    "inference.num_steps=30",
    "--set",
    "predict.num_draws=30",
    "--set",
    "predict.grid=20",
    "--set",
    "plots.function_draws=3",
]
COMMANDS = ["fit", "predict", "evaluate", "compare", "plot", "models", "benchmark"]


def entry_point() -> list[str]:
    exe = shutil.which("pyro-bnn")
    return [exe] if exe else [sys.executable, "-m", "pyro_bnn"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    assert lines[0].startswith("pyro-bnn ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def gap_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "gap"
    assert main(["fit", GAP, "--out", str(out), "--quiet", *FAST]) == 0
    return out


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(capsys, command):
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0
    assert "example" in out and f"pyro-bnn {command}" in out


def test_main_help_and_version(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "examples:" in out
    for command in COMMANDS:
        assert command in out
    code, out, _ = run_cli(capsys, "--version")
    from importlib.metadata import version

    assert code == 0 and out.strip() == f"pyro-bnn {version('pyro-bnn')}"


def test_bad_usage_exits_2(capsys):
    code, _, err = run_cli(capsys, "fit")
    assert code == 2 and "required: MODEL.toml" in err
    code, _, err = run_cli(capsys, "fit", GAP, "--method", "hmc")
    assert code == 2 and "invalid choice: 'hmc'" in err
    code, _, err = run_cli(capsys, "frobnicate")
    assert code == 2 and "invalid choice" in err


@pytest.mark.slow
def test_help_and_errors_through_the_entry_point():
    """subprocess: the installed command, as a user's shell runs it."""
    done = subprocess.run(
        [*entry_point(), "fit", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "pyro-bnn fit models/regression_gap.toml" in done.stdout
    done = subprocess.run(
        [*entry_point(), "fit", GAP, "--set", "inference.num_step=5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert_one_line_error(done.stderr, "unknown key 'num_step'", "did you mean 'num_steps'")


# --------------------------------------------------------------------------- models


def test_models_lists_bundled_files_with_descriptions(capsys):
    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    for path in sorted((REPO / "models").glob("*.toml")):
        line = next(line for line in out.splitlines() if line.strip().startswith(path.stem))
        assert len(line.split(path.stem, 1)[1].strip()) > 20  # a real description


def test_fit_accepts_a_bundled_model_name(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "fit", "regresion_gap", "--quiet")
    assert code == 2
    assert_one_line_error(err, "model file 'regresion_gap' not found", "'regression_gap'")


def test_no_progress_bar_when_stderr_is_not_a_terminal(capsys, tmp_path):
    # pytest's capture is not a terminal, as when a user redirects the log to a file:
    # the log lines come through, the bar's redraws do not.
    code, _, err = run_cli(capsys, "fit", GAP, "--out", tmp_path / "run", *FAST)
    assert code == 0
    assert "fit finished" in err
    assert "it/s" not in err and "\r" not in err


# --------------------------------------------------------------------------- fit errors


def bad_csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("x,y\n1,2\n2,nan\n3,4\n", ["data.csv", "line 3 (data row 2)", "column 'y'", "nan"]),
        ("x,y\n1,2\ntwo,3\n3,4\n", ["data.csv", "line 3", "column 'x'", "'two' is not a number"]),
        ("x,z\n1,2\n2,3\n", ["data.csv", "no target column 'y'", "columns: x, z"]),
        ("", ["data.csv", "is empty"]),
        ("x,y\n", ["data.csv", "no data rows"]),
    ],
    ids=["nan", "text", "missing-target", "empty", "header-only"],
)
def test_bad_csv_exits_2_with_one_line_and_no_output(capsys, tmp_path, text, fragments):
    data = bad_csv(tmp_path, text)
    out = tmp_path / "run"
    code, _, err = run_cli(
        capsys, "fit", GAP, "--data", data, "--target", "y", "--out", out, "--quiet", *FAST
    )
    assert code == 2
    assert_one_line_error(err, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


@pytest.mark.parametrize(
    "extra, fragments",
    [
        ("[inference]\nnum_step = 10\n", ["unknown key 'num_step'", "did you mean 'num_steps'"]),
        ('[inference]\nnum_steps = "ten"\n', ["num_steps must be an integer", '"ten"']),
        ('[model]\nactivation = "tahn"\n', ["activation must be one of", "did you mean 'tanh'"]),
        ("[model]\nhidden = [10\n", ["invalid TOML"]),
    ],
    ids=["typo-key", "wrong-type", "typo-choice", "syntax"],
)
def test_bad_model_file_exits_2(capsys, tmp_path, extra, fragments):
    model = tmp_path / "model.toml"
    model.write_text('[data]\nsource = "toy:gap"\n' + extra)
    code, _, err = run_cli(capsys, "fit", model, "--out", tmp_path / "run", "--quiet")
    assert code == 2
    assert_one_line_error(err, "model.toml", *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.toml"]


def test_existing_run_needs_force(capsys, gap_run):
    code, _, err = run_cli(capsys, "fit", GAP, "--out", gap_run, "--quiet", *FAST)
    assert code == 2
    assert_one_line_error(err, "already exists", "--force")


def test_internal_error_exits_1(capsys, tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("something broke inside")

    monkeypatch.setattr("pyro_bnn.app.fit.fit_svi", crash)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "fit", GAP, "--out", out, "--quiet", *FAST)
    assert code == 1
    assert_one_line_error(err, "internal error: RuntimeError: something broke inside")
    assert list(tmp_path.iterdir()) == []


def test_fit_on_a_users_csv(capsys, tmp_path):
    rows = ["size,rooms,price"] + [f"{i},{i % 4 + 1},{2.0 * i + 1.5}" for i in range(30)]
    data = bad_csv(tmp_path, "\n".join(rows) + "\n", "houses.csv")
    out = tmp_path / "run"
    code, stdout, _ = run_cli(
        capsys, "fit", REPO / "models" / "linear_regression.toml", "--data", data,
        "--target", "price", "--method", "svi", "--seed", "3", "--out", out, "--quiet", *FAST,
    )  # fmt: skip
    assert code == 0 and f"wrote {out}" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["feature_names"] == ["size", "rooms"]
    assert metrics["data"]["target_name"] == "price" and metrics["seed"] == 3
    assert metrics["method"] == "svi"
    spec_text = (out / "spec.toml").read_text()
    assert f'source = "csv:{data}"' in spec_text and 'target = "price"' in spec_text


# --------------------------------------------------------------------------- predict


def test_predict_writes_original_unit_columns(capsys, gap_run, tmp_path):
    data = bad_csv(tmp_path, "x,other\n-3.0,a\n0.0,b\n3.0,c\n")
    out = tmp_path / "preds.csv"
    code, _, _ = run_cli(capsys, "predict", gap_run, "--data", data, "--out", out)
    assert code == 0
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["x"]) for r in rows] == [-3.0, 0.0, 3.0]
    assert list(rows[0]) == [
        "x",
        "mean",
        "std",
        "epistemic_std",
        "aleatoric_std",
        "lower_90",
        "upper_90",
    ]
    for row in rows:
        assert float(row["lower_90"]) < float(row["mean"]) < float(row["upper_90"])
    # Without --out the CSV goes to stdout; --level changes the interval columns.
    code, stdout, _ = run_cli(capsys, "predict", gap_run, "--data", data, "--level", "0.5")
    assert code == 0 and stdout.splitlines()[0].endswith("lower_50,upper_50")


def test_predict_bad_inputs(capsys, gap_run, tmp_path):
    data = bad_csv(tmp_path, "z\n1.0\n")
    out = tmp_path / "preds.csv"
    code, _, err = run_cli(capsys, "predict", gap_run, "--data", data, "--out", out)
    assert code == 2
    assert_one_line_error(err, "no feature column 'x'")
    assert not out.exists()


def test_corrupt_posterior_exits_2(capsys, gap_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(gap_run, copy)
    (copy / "posterior.pt").write_bytes((copy / "posterior.pt").read_bytes()[:100])
    data = bad_csv(tmp_path, "x\n1.0\n")
    out = tmp_path / "preds.csv"
    for command in (
        ["predict", copy, "--data", data, "--out", out],
        ["evaluate", copy],
        ["plot", copy, "--out", tmp_path / "figs"],
    ):
        code, _, err = run_cli(capsys, *command)
        assert code == 2
        assert_one_line_error(err, "posterior.pt", "corrupt or truncated")
    assert not out.exists() and not (tmp_path / "figs").exists()


def test_missing_run_directory(capsys, tmp_path):
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "nope")
    assert code == 2
    assert_one_line_error(err, "run directory", "nope", "not found")


# --------------------------------------------------------------------------- evaluate


def test_evaluate_on_the_test_part_and_on_a_csv(capsys, gap_run, tmp_path):
    code, stdout, _ = run_cli(capsys, "evaluate", gap_run)
    assert code == 0
    result = json.loads(stdout)
    stored = json.loads((gap_run / "metrics.json").read_text())["test"]
    assert result["metrics"]["rmse"] == pytest.approx(stored["rmse"], rel=1e-6)
    data = bad_csv(tmp_path, "y,x\n0.5,-3\n0.1,0\n0.2,3\n")
    out = tmp_path / "metrics.json"
    code, stdout, _ = run_cli(capsys, "evaluate", gap_run, "--data", data, "--out", out)
    assert code == 0 and result != json.loads(stdout)
    assert json.loads(out.read_text())["num_points"] == 3
    bad = bad_csv(tmp_path, "x\n1\n", "no_target.csv")
    code, _, err = run_cli(capsys, "evaluate", gap_run, "--data", bad)
    assert code == 2
    assert_one_line_error(err, "no_target.csv", "no target column 'y'")


# --------------------------------------------------------------------------- compare


def test_compare_ranks_runs_of_the_same_data_by_loo(capsys, gap_run, tmp_path):
    pytest.importorskip("arviz")
    wide = tmp_path / "gap_wide"
    assert (
        main(["fit", GAP, "--out", str(wide), "--quiet", *FAST, "--set", "model.hidden=[8]"]) == 0
    )
    capsys.readouterr()  # the fit's own output
    out = tmp_path / "comparison.json"
    code, stdout, _ = run_cli(capsys, "compare", gap_run, wide, "--out", out)
    assert code == 0
    lines = stdout.splitlines()
    assert "elpd_loo" in lines[0] and "p_loo" in lines[0]
    assert {lines[1].split()[0], lines[2].split()[0]} == {"gap", "gap_wide"}
    assert "Pareto k" in stdout  # the note, in words
    result = json.loads(out.read_text())
    assert set(result["table"]) == {"gap", "gap_wide"} and set(result["pareto_k"]) == {
        "gap",
        "gap_wide",
    }
    best = min(result["table"], key=lambda name: result["table"][name]["rank"])
    assert lines[1].split()[0] == best


def test_compare_refuses_one_run_and_runs_of_different_data(capsys, gap_run, tmp_path):
    code, _, err = run_cli(capsys, "compare", gap_run)
    assert code == 2
    assert_one_line_error(err, "at least two run directories")
    other = tmp_path / "gap_other"
    assert main(["fit", GAP, "--out", str(other), "--quiet", *FAST, "--set", "data.seed=5"]) == 0
    code, _, err = run_cli(capsys, "compare", gap_run, other)
    assert code == 2
    assert_one_line_error(err, "different training data")


# --------------------------------------------------------------------------- plot


def test_plot_redraws_selected_kinds(capsys, gap_run, tmp_path):
    out = tmp_path / "figures"
    code, stdout, _ = run_cli(capsys, "plot", gap_run, "--kind", "uncertainty", "--out", out)
    assert code == 0
    assert [p.name for p in out.iterdir()] == ["uncertainty.png"]
    assert (out / "uncertainty.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stdout.strip() == str(out / "uncertainty.png")
    code, _, _ = run_cli(capsys, "plot", gap_run)
    assert code == 0
    assert sorted(p.name for p in (gap_run / "plots").iterdir()) == [
        "calibration.png",
        "diagnostics.png",
        "uncertainty.png",
    ]


# --------------------------------------------------------------------------- a user's table


@pytest.fixture(scope="module")
def diabetes_run(tmp_path_factory) -> tuple[Path, Path]:
    """csv_regression on 150 rows of diabetes (sex as M/F, an id column), tiny budget."""
    folder = tmp_path_factory.mktemp("diabetes")
    table = write_diabetes_csv(folder / "diabetes.csv", rows=slice(0, 150))
    out = folder / "run"
    code = main(
        ["fit", "csv_regression", "--data", str(table), "--target", "target", "--exclude", "id",
         "--out", str(out), "--quiet", *FAST]
    )  # fmt: skip
    assert code == 0
    return out, table


def test_fit_help_and_models_recommend_the_csv_model_files(capsys):
    code, out, _ = run_cli(capsys, "fit", "--help")
    assert code == 0
    assert "pyro-bnn fit csv_regression --data my.csv --target price" in out
    assert "pyro-bnn fit csv_classification --data" in out and "--exclude" in out
    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    assert "your own table: pyro-bnn fit csv_regression --data my.csv --target COLUMN" in out
    assert "csv_classification for class labels" in out


@pytest.mark.slow
def test_fit_a_table_with_a_text_column_and_predict_with_kept_ids(capsys, diabetes_run, tmp_path):
    out, table = diabetes_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["description"] == (
        "diabetes.csv: regression of 'target' (model file csv_regression.toml)"
    )
    assert metrics["data"]["encoding"]["categories"] == {"sex": ["F", "M"]}
    assert "id" not in metrics["data"]["encoding"]["columns"]
    # new rows, columns in another order, an extra column; keep two of them
    new = bad_csv(tmp_path, "".join(table.read_text().splitlines(keepends=True)[:4]), "new.csv")
    preds = tmp_path / "preds.csv"
    code, _, _ = run_cli(
        capsys, "predict", out, "--data", new, "--keep", "id", "--keep", "target,sex",
        "--out", preds,
    )  # fmt: skip
    assert code == 0
    with open(preds) as handle:
        rows = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == ["P0000", "P0001", "P0002"]
    names = list(rows[0])
    assert names[:4] == ["id", "target", "sex", "age"] and names.count("sex") == 1
    assert names[-6:] == ["mean", "std", "epistemic_std", "aleatoric_std", "lower_90", "upper_90"]
    assert [row["sex"] for row in rows] == ["F", "M", "F"]


@pytest.mark.slow
def test_predict_keep_and_unseen_category_errors(capsys, diabetes_run, tmp_path):
    out, table = diabetes_run
    code, _, err = run_cli(capsys, "predict", out, "--data", table, "--keep", "ID")
    assert code == 2
    assert_one_line_error(err, "diabetes.csv' has no column 'ID' (did you mean 'id'?)")
    code, _, err = run_cli(capsys, "predict", out, "--data", table, "--keep", "id,")
    assert code == 2
    assert_one_line_error(err, "--keep 'id,': empty column name")
    lines = table.read_text().splitlines(keepends=True)
    unseen = bad_csv(tmp_path, lines[0] + lines[1].replace(",F,", ",female,"), "unseen.csv")
    code, _, err = run_cli(capsys, "predict", out, "--data", unseen)
    assert code == 2
    assert_one_line_error(
        err, "line 2 (data row 1), column 'sex': unknown category 'female'",
        "the categories seen in training are 'F', 'M'",
    )  # fmt: skip
    code, stdout, _ = run_cli(capsys, "evaluate", out, "--data", table)
    assert code == 0 and json.loads(stdout)["num_points"] == 150


def test_fit_explains_text_targets_and_identifier_columns(capsys, tmp_path):
    cancer = write_breast_cancer_csv(tmp_path / "cancer.csv", rows=slice(0, 60))
    base = ["fit", "csv_regression", "--data", cancer, "--target", "diagnosis", "--quiet"]
    code, _, err = run_cli(capsys, *base, "--out", tmp_path / "a")
    assert code == 2
    assert_one_line_error(err, "column 'id' holds text with 60 different values",
                          '--exclude id (or [data] exclude = ["id"])')  # fmt: skip
    code, _, err = run_cli(capsys, *base, "--exclude", "id", "--out", tmp_path / "b")
    assert code == 2
    assert_one_line_error(
        err, "column 'diagnosis': 'malignant' is not a number",
        "for class labels fit models/csv_classification.toml",
    )  # fmt: skip
    out = tmp_path / "c"
    code, _, _ = run_cli(
        capsys, "fit", "csv_classification", "--data", cancer, "--target", "diagnosis",
        "--exclude", "id", "--out", out, "--quiet", *FAST,
    )  # fmt: skip
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["description"].startswith("cancer.csv: classification of 'diagnosis'")
    assert metrics["data"]["class_names"] == ["benign", "malignant"]
    assert not list(tmp_path.glob("[ab]"))
