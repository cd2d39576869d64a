"""The schema of model files: key checks, error messages, overrides, defaults."""

from __future__ import annotations

import inspect

import pytest

import pyro_bnn as pb
from pyro_bnn.app.schema import SCHEMA, library_default
from pyro_bnn.app.spec import (
    SpecError,
    load_spec,
    parse_override,
    parse_spec,
)
from pyro_bnn.guides import GUIDES
from pyro_bnn.inference import svi

from .helpers import MINIMAL, write


def test_unknown_key_suggests_the_closest(tmp_path):
    path = write(tmp_path, MINIMAL + "[inference]\nnum_step = 100\n")
    with pytest.raises(
        SpecError,
        match=r"unknown key 'num_step' in \[inference\] \(did you mean 'num_steps'\?\); "
        r"valid keys: .*num_steps",
    ):
        load_spec(path)


def test_unknown_section(tmp_path):
    path = write(tmp_path, MINIMAL + "[inferense]\nmethod = 'svi'\n")
    with pytest.raises(
        SpecError, match=r"unknown section \[inferense\] \(did you mean 'inference'\?\)"
    ):
        load_spec(path)


def test_wrong_type_names_key_expected_and_found(tmp_path):
    path = write(tmp_path, MINIMAL + '[inference]\nnum_steps = "100"\n')
    with pytest.raises(
        SpecError,
        match=r"\[inference\] num_steps must be an integer >= 1, found \"100\" \(a string\)",
    ):
        load_spec(path)


def test_float_where_integer_expected(tmp_path):
    path = write(tmp_path, MINIMAL + "[inference]\nnum_steps = 10.5\n")
    with pytest.raises(SpecError, match=r"num_steps must be an integer"):
        load_spec(path)


def test_bool_is_not_a_number(tmp_path):
    path = write(tmp_path, MINIMAL + "[inference]\nlr = true\n")
    with pytest.raises(SpecError, match=r"lr must be a number > 0, found true \(a boolean\)"):
        load_spec(path)


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("data", "test_fraction", 1.0, r"\[data\] test_fraction must be a number >= 0 and < 1"),
        ("inference", "lr", -0.1, r"lr must be a number > 0, found -0.1"),
        ("inference", "target_accept_prob", 1, r"target_accept_prob must be a number > 0 and < 1"),
        ("model", "hidden", [10, 0], r"hidden must be a list of integers >= 1"),
        ("plots", "dpi", 5, r"dpi must be an integer >= 20 and <= 1200"),
        ("model", "sigma", "fixed", r"sigma must be a number > 0 or the string 'learned'"),
    ],
)
def test_out_of_range_values(section, key, value, message):
    raw = {"data": {"source": "toy:gap"}}
    raw.setdefault(section, {})[key] = value
    with pytest.raises(SpecError, match=message):
        parse_spec(raw, path="m.toml")


def test_choice_typo_suggests(tmp_path):
    path = write(tmp_path, MINIMAL + '[inference]\nguide = "lowrnk"\n')
    with pytest.raises(
        SpecError,
        match=r"guide must be one of 'normal', 'lowrank', 'mvn', 'delta', 'laplace' "
        r"\(did you mean 'lowrank'\?\)",
    ):
        load_spec(path)


def test_plot_kind_typo(tmp_path):
    path = write(tmp_path, MINIMAL + '[plots]\nkinds = ["uncertainity"]\n')
    with pytest.raises(SpecError, match=r"did you mean 'uncertainty'"):
        load_spec(path)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("inference.num_steps=500", ("inference.num_steps", 500)),
        ("inference.lr=1e-3", ("inference.lr", 0.001)),
        ("inference.guide=lowrank", ("inference.guide", "lowrank")),
        ('inference.guide="mvn"', ("inference.guide", "mvn")),
        ("model.hidden=[20, 20]", ("model.hidden", [20, 20])),
        ("model.hidden=[]", ("model.hidden", [])),
        ("plots.enabled=false", ("plots.enabled", False)),
        (" data.source = toy:gap ", ("data.source", "toy:gap")),
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("num_steps=5", r"expected section\.key=value"),
        ("inference.num_steps", r"expected section\.key=value"),
        ("inferense.num_steps=5", r"unknown section 'inferense' \(did you mean 'inference'\?\)"),
        ("inference.num_step=5", r"unknown key 'num_step' in \[inference\] \(did you mean"),
    ],
)
def test_bad_override(text, message):
    with pytest.raises(SpecError, match=message):
        parse_override(text)


# --------------------------------------------------------------------------- defaults

# [section] key -> (library function or class, its parameter): the schema reads these.
LIBRARY_DEFAULTS = {
    ("model", "activation"): (pb.BayesianMLP, "activation"),
    ("model", "bias_scale"): (pb.LayerwiseNormal, "bias_scale"),
    ("model", "sigma_prior_scale"): (pb.Gaussian, "sigma_prior_scale"),
    ("model", "df"): (pb.StudentT, "df"),
    ("model", "min_scale"): (pb.HeteroscedasticGaussian, "min_scale"),
    ("inference", "seed"): (pb.fit_svi, "seed"),
    ("inference", "guide"): (pb.fit_svi, "guide"),
    ("inference", "num_steps"): (pb.fit_svi, "num_steps"),
    ("inference", "batch_size"): (pb.fit_svi, "batch_size"),
    ("inference", "num_particles"): (pb.fit_svi, "num_particles"),
    ("inference", "init_scale"): (pb.fit_svi, "init_scale"),
    ("inference", "rank"): (pb.fit_svi, "rank"),
    ("inference", "num_samples"): (pb.fit_nuts, "num_samples"),
    ("inference", "warmup_steps"): (pb.fit_nuts, "warmup_steps"),
    ("inference", "num_chains"): (pb.fit_nuts, "num_chains"),
    ("inference", "target_accept_prob"): (pb.fit_nuts, "target_accept_prob"),
    ("inference", "max_tree_depth"): (pb.fit_nuts, "max_tree_depth"),
    ("inference", "jit_compile"): (pb.fit_nuts, "jit_compile"),
    ("inference", "init"): (pb.fit_nuts, "init"),
}


@pytest.mark.parametrize("section, key", sorted(LIBRARY_DEFAULTS))
def test_schema_defaults_are_the_library_defaults(section, key):
    function, name = LIBRARY_DEFAULTS[section, key]
    assert SCHEMA[section][key].default == inspect.signature(function).parameters[name].default


def test_every_fit_setting_of_the_schema_has_the_library_default():
    """Every [inference] key that is a fit_svi/fit_nuts parameter has its default; lr and
    lr_decay (None in the signature) have the values fit_svi resolves None to."""
    checked = set()
    for function in (pb.fit_svi, pb.fit_nuts):
        for name, parameter in inspect.signature(function).parameters.items():
            if name not in SCHEMA["inference"] or name == "dtype":
                continue
            default = parameter.default
            if name == "lr":
                default = svi.DEFAULT_LR
            elif name == "lr_decay":
                default = svi.DEFAULT_LR_DECAY
            assert SCHEMA["inference"][name].default == default, name
            checked.add(name)
    assert checked >= {"num_steps", "lr", "lr_decay", "num_particles", "num_samples"}
    assert checked >= {"warmup_steps", "guide", "init_scale", "max_tree_depth", "init"}


def test_lr_none_means_the_schema_default():
    """fit_svi(lr=None) uses the learning rate the schema writes into a resolved spec."""
    posterior = pb.fit_svi(
        pb.BayesianMLP(1, hidden=[2]),
        [[0.0], [1.0]],
        [0.0, 1.0],
        num_steps=2,
        progress=False,
        check_collapse=False,
        check_convergence=False,
    )
    assert posterior.diagnostics["lr"] == SCHEMA["inference"]["lr"].default
    assert posterior.diagnostics["lr_decay"] == SCHEMA["inference"]["lr_decay"].default


def test_prior_scale_default_agrees_for_every_prior():
    """One prior_scale key feeds the three priors: their defaults must agree."""
    default = library_default(pb.LayerwiseNormal, "weight_scale")
    assert library_default(pb.IIDNormal, "scale") == default
    assert library_default(pb.HierarchicalNormal, "scale_prior") == default
    assert library_default(pb.StudentT, "sigma_prior_scale") == default


@pytest.mark.parametrize(
    "task, likelihood", [("regression", "gaussian"), ("classification", "categorical")]
)
def test_a_file_without_prior_scale_builds_the_librarys_default_prior(task, likelihood):
    """No prior_scale in the file: the same prior as BayesianMLP(prior=None) for the task."""
    spec = parse_spec(
        {"model": {"task": task, "likelihood": likelihood}, "data": {"source": "toy:gap"}}
    )
    built = spec.build_model(3, 4 if task == "classification" else None)
    library = pb.BayesianMLP(3, 4 if task == "classification" else 1, likelihood=built.likelihood)
    assert SCHEMA["model"]["prior_scale"].default is None
    assert built.prior.weight_scale == library.prior.weight_scale
    assert built.prior.weight_scale == (3.0 if task == "classification" else 1.0)


def test_guide_choices_are_the_library_guides():
    assert SCHEMA["inference"]["guide"].choices == GUIDES
