"""Model files: reading, validation of the whole spec, overrides, data sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyro_bnn.app.spec import (
    SCHEMA,
    ModelSpec,
    SpecError,
    describe_model_file,
    load_spec,
    parse_spec,
)

from .helpers import MINIMAL, MODEL_FILES, MODELS, write


def test_bundled_model_files_exist():
    names = {p.stem for p in MODEL_FILES}
    assert {
        "regression_gap",
        "linear_regression",
        "classification_ood",
        "heteroscedastic",
        "two_moons",
        "digits",
        "uci_regression",
    } <= names


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_bundled_model_files_parse_and_describe_themselves(path):
    spec = load_spec(path)
    assert spec.description, f"{path.name} needs a leading comment line"
    assert describe_model_file(path) == spec.description
    assert spec.model["likelihood"] is not None


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_resolved_spec_round_trips_through_toml(path, tmp_path):
    spec = load_spec(path)
    text = spec.to_toml(header="a header\nwith two lines")
    again = load_spec(write(tmp_path, text))
    for section, values in spec.sections.items():
        for key, value in values.items():
            if spec.is_relevant(section, key) and key != "source":
                assert again.sections[section][key] == value, (section, key)
    assert again.description == spec.description


def test_defaults_are_filled_in():
    spec = parse_spec({"data": {"source": "toy:gap"}})
    for section, keys in SCHEMA.items():
        assert set(spec.sections[section]) == set(keys)
    assert spec.model["likelihood"] == "gaussian"
    assert spec.inference["method"] == "svi"
    classification = parse_spec(
        {"model": {"task": "classification"}, "data": {"source": "toy:two_moons"}}
    )
    assert classification.model["likelihood"] == "categorical"


def test_error_names_the_file(tmp_path):
    path = write(tmp_path, MINIMAL + "[model]\nhiden = [3]\n")
    with pytest.raises(
        SpecError, match=rf"{path.name}: unknown key 'hiden'.*did you mean 'hidden'"
    ):
        load_spec(path)


def test_source_is_required(tmp_path):
    with pytest.raises(SpecError, match=r"\[data\] source is required"):
        load_spec(write(tmp_path, "[model]\nhidden = [3]\n"))


def test_likelihood_must_fit_the_task(tmp_path):
    path = write(tmp_path, MINIMAL + '[model]\nlikelihood = "bernoulli"\n')
    with pytest.raises(
        SpecError, match=r"'bernoulli' is a classification likelihood but task = 'regression'"
    ):
        load_spec(path)


def test_key_for_another_likelihood_is_an_error(tmp_path):
    path = write(tmp_path, MINIMAL + "[model]\ndf = 3.0\n")
    with pytest.raises(SpecError, match=r"df applies to likelihood 'studentt' only"):
        load_spec(path)


def test_invalid_toml_reports_line(tmp_path):
    path = write(tmp_path, MINIMAL + "[model]\nhidden = 3 3\nactivation = 'tanh'\n")
    with pytest.raises(SpecError, match=rf"{path.name}: invalid TOML: .*line 4"):
        load_spec(path)


def test_section_must_be_a_table(tmp_path):
    with pytest.raises(SpecError, match=r"'model' must be a section"):
        load_spec(write(tmp_path, 'model = "big"\n' + MINIMAL))


def test_missing_file():
    with pytest.raises(SpecError, match=r"model file 'nope.toml' not found"):
        load_spec("nope.toml")


def test_override_applies_and_errors_name_the_command_line(tmp_path):
    path = write(tmp_path, MINIMAL)
    spec = load_spec(path, ["inference.num_steps=7", "model.hidden=[4, 3]"])
    assert spec.inference["num_steps"] == 7 and spec.model["hidden"] == [4, 3]
    with pytest.raises(
        SpecError, match=r"inference\.num_steps \(set on the command line\) must be an integer"
    ):
        load_spec(path, ["inference.num_steps=many"])


def test_with_overrides_and_with_data(tmp_path):
    spec = load_spec(write(tmp_path, MINIMAL)).with_overrides({"data.num_points": 30})
    assert spec.data["num_points"] == 30
    csv_path = tmp_path / "table.csv"
    csv_path.write_text("a,b\n1,2\n3,4\n")
    moved = spec.with_data(str(csv_path), target="b")
    assert moved.data["source"] == f"csv:{csv_path}"
    assert moved.data["target"] == "b" and moved.data["num_points"] is None
    folder = tmp_path / "uci_like"
    folder.mkdir()
    assert spec.with_data(str(folder)).data["source"] == f"uci:{folder}"
    assert spec.with_data("sklearn:digits").data["source"] == "sklearn:digits"


def test_relative_data_paths_try_cwd_then_file_folder_then_parent(tmp_path, monkeypatch):
    def table(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x,y\n1,2\n2,3\n3,5\n4,4\n5,6\n")
        return path

    (tmp_path / "repo" / "models").mkdir(parents=True)
    elsewhere = tmp_path / "a" / "b"
    elsewhere.mkdir(parents=True)
    model_file = write(
        tmp_path / "repo" / "models", '[data]\nsource = "csv:../shared/t.csv"\ntarget = "y"\n'
    )
    spec = load_spec(model_file)
    monkeypatch.chdir(elsewhere)
    with pytest.raises(SpecError, match=r"'\.\./shared/t\.csv' not found \(looked in .*a/b"):
        spec.resolved_source()
    # 3rd: the parent of the model file's folder (repo/ -> ../shared = tmp/shared)
    beside_repo = table(tmp_path / "shared" / "t.csv")
    assert spec.resolved_source() == f"csv:{beside_repo}"
    # 2nd: the model file's folder (models/ -> ../shared = repo/shared)
    in_repo = table(tmp_path / "repo" / "shared" / "t.csv")
    assert spec.resolved_source() == f"csv:{in_repo}"
    # 1st: the current directory (a/b -> ../shared = a/shared)
    from_cwd = table(tmp_path / "a" / "shared" / "t.csv")
    assert spec.resolved_source() == f"csv:{from_cwd}"
    assert spec.load_dataset().num_points == 4


def test_load_dataset_splits_and_checks_the_task(tmp_path):
    spec = parse_spec(
        {"data": {"source": "toy:gap", "num_points": 50, "test_fraction": 0.2, "seed": 3}}
    )
    dataset = spec.load_dataset()
    assert dataset.x.shape == (40, 1) and dataset.x_test.shape == (10, 1)
    wrong = parse_spec({"model": {"task": "classification"}, "data": {"source": "toy:gap"}})
    with pytest.raises(
        SpecError,
        match=r"task = 'classification' but the data source 'toy:gap' is a regression dataset",
    ):
        wrong.load_dataset()
    csv_spec = parse_spec({"data": {"source": f"csv:{tmp_path / 'x.csv'}"}})
    with pytest.raises(SpecError, match=r"needs the target column"):
        csv_spec.load_dataset()
    toy_only = parse_spec({"data": {"source": "sklearn:digits", "num_points": 20}})
    with pytest.raises(SpecError, match=r"only a toy: source takes 'num_points'"):
        toy_only.load_dataset()


def test_model_spec_is_a_dataclass_with_sections():
    spec = parse_spec({"data": {"source": "toy:gap"}})
    assert isinstance(spec, ModelSpec) and spec.name == "spec"
    assert ("data", "source") in spec.explicit and ("model", "hidden") not in spec.explicit


def test_csv_model_files_are_bundled_with_a_default_table():
    for name, task, source in (
        ("csv_regression", "regression", "sklearn:diabetes"),
        ("csv_classification", "classification", "sklearn:breast_cancer"),
    ):
        spec = load_spec(MODELS / f"{name}.toml")
        assert spec.task == task and spec.data["source"] == source
        assert f"pyro-bnn fit {name} --data my.csv --target COLUMN" in spec.description


def test_descriptions_come_from_the_data_given_on_the_command_line(tmp_path):
    spec = load_spec(MODELS / "uci_regression.toml")
    assert "concrete" in spec.description
    table = tmp_path / "my.csv"
    table.write_text("a,price\n1,2\n3,4\n")
    moved = spec.with_data(str(table), target="price")
    assert moved.description == "my.csv: regression of 'price' (model file uci_regression.toml)"
    assert "concrete" not in moved.to_toml()
    again = load_spec(write(tmp_path, moved.to_toml(), "resolved.toml"))
    assert again.description == moved.description  # what load_run reads back
    folder = tmp_path / "concrete"
    folder.mkdir()
    assert spec.with_data(str(folder)).description.startswith("UCI folder 'concrete': regression")
    by_set = load_spec(MODELS / "digits.toml", ["data.source=sklearn:iris"])
    assert by_set.description == "sklearn:iris: classification (model file digits.toml)"
    assert load_spec(MODELS / "digits.toml").description.startswith("Handwritten digits")


def test_with_data_keeps_command_line_csv_keys_and_drops_the_files(tmp_path):
    path = write(tmp_path, '[data]\nsource = "csv:a.csv"\ntarget = "y"\nexclude = ["note"]\n')
    spec = load_spec(path, ['data.features=["a", "b"]', "data.num_points=30"])
    moved = spec.with_data(str(tmp_path / "b.csv"), target="z")
    assert moved.data["features"] == ["a", "b"]  # --set, applies to a csv: kept
    assert moved.data["exclude"] is None  # the file's own: dropped
    assert moved.data["num_points"] is None  # --set, but only for toy: sources


def test_exclude_and_categorical_are_csv_only(tmp_path):
    path = write(tmp_path, '[data]\nsource = "toy:gap"\nexclude = ["id"]\n')
    with pytest.raises(SpecError, match="\\[data\\] exclude: only a csv: source takes 'exclude'"):
        load_spec(path).load_dataset()
    with pytest.raises(
        SpecError,
        match='\\[data\\] exclude must be a list of strings \\(e.g. \\["a", "b"\\]\\), found "id"',
    ):
        load_spec(write(tmp_path, '[data]\nsource = "toy:gap"\nexclude = "id"\n'))


def test_csv_data_errors_give_model_file_hints(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text(
        "id,sex,label\n" + "".join(f"r{i},{'MF'[i % 2]},{'ab'[i % 2]}\n" for i in range(30))
    )
    regression = load_spec(MODELS / "csv_regression.toml")
    with pytest.raises(
        SpecError,
        match="column 'id' holds text with 30 different values.*leave it out with --exclude id "
        '\\(or \\[data\\] exclude = \\["id"\\]\\)',
    ):
        regression.with_data(str(table), target="label").load_dataset()
    spec = regression.with_data(str(table), target="label").with_overrides({"data.exclude": ["id"]})
    with pytest.raises(
        SpecError,
        match="^CSV file '.*t.csv', line 2 \\(data row 1\\), column 'label': 'a' is "
        "not a number: the target holds text labels \\('a', 'b'\\).*for class labels fit "
        "models/csv_classification.toml",
    ):
        spec.load_dataset()
    classification = load_spec(MODELS / "csv_classification.toml", ['data.exclude=["id"]'])
    dataset = classification.with_data(str(table), target="label").load_dataset()
    assert dataset.feature_names == ("sex=F", "sex=M") and dataset.class_names == ("a", "b")


def test_a_bundled_uci_set_is_read_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = load_spec(write(tmp_path, '[data]\nsource = "uci:yacht"\n'))
    assert spec.resolved_source() == "uci:yacht"
    assert spec.load_dataset().x.shape[1] == 6
    assert 'source = "uci:yacht"' in spec.to_toml()
    (tmp_path / "yacht").mkdir()  # a folder of that name wins, as in load_source
    assert spec.resolved_source() == f"uci:{tmp_path / 'yacht'}"
