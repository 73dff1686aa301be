"""Every experiment is one typed spec (collapse_lib.spec): defaults, constraints, meanings, paper values and the
three profiles in one place, validated once; the command line and the chapters' tables read the same fields."""

import dataclasses

import pytest

import collapse_lib as cl
from collapse_lib import cli
from collapse_lib.experiments import EXPERIMENTS, get_experiment, settings_table
from collapse_lib.models.gaussian import GaussianModel
from collapse_lib.models.gmm import GaussianMixtureModel
from collapse_lib.profiles import PROFILE_NAMES
from collapse_lib.spec import ExperimentSpec, Interval, Options, setting


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_setting_is_declared_once_with_a_meaning(name):
    spec = get_experiment(name).spec
    assert issubclass(spec, ExperimentSpec) and dataclasses.is_dataclass(spec)
    for f in dataclasses.fields(spec):
        assert f.metadata["help"].strip(), f"{name}.{f.name} has no meaning"
        assert f.metadata["constraint"].describe()
    assert set(spec.profiles) <= set(PROFILE_NAMES)
    table = settings_table(name, "smoke")
    shown = {line.split("`")[1] for line in table.splitlines()[2:]}
    assert shown == set(cl.resolve_settings(name, "smoke"))  # every setting a run has, each with its meaning


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_the_defaults_validate_and_a_mistyped_setting_is_refused(name):
    spec = get_experiment(name).spec
    assert isinstance(spec.validate({}), dict)
    with pytest.raises(cl.SettingError, match="unknown setting"):
        spec.validate({"not_a_setting": 1})


def test_a_profile_that_names_no_setting_is_caught_when_it_is_registered():
    @dataclasses.dataclass(frozen=True)
    class Broken(ExperimentSpec):
        size: int = setting(3, Interval(int, 1, None), "points")
        profiles = {"smoke": {"sise": 2}}

    with pytest.raises(TypeError, match="unknown settings"):
        Broken.check_profiles()


@pytest.mark.parametrize("name, key, text, expected", [
    ("gaussian", "sample_size", "100", 100), ("gaussian", "sigma", "2.5", 2.5), ("gaussian", "ddof", "1", 1),
    ("gaussian", "policy", "accumulate", "accumulate"), ("vae", "binarise", "yes", True),
    ("language_model", "epochs", "none", None), ("debate_strong", "sample_sizes", "10,100", [10, 100]),
])
def test_set_is_parsed_by_the_setting_s_type(name, key, text, expected):
    assert cli.parse_overrides(name, [f"{key}={text}"]) == {key: expected}


@pytest.mark.parametrize("name, key, text, message", [
    ("gaussian", "sample_size", "many", "sample_size must be a number, got 'many'"),
    ("gaussian", "ddof", "2", "ddof must be <= 1, got 2"),
    ("vae", "binarise", "maybe", "binarise must be true or false"),
    ("gaussian", "policy", "forget", "unknown policy 'forget'"),
])
def test_a_bad_set_value_names_the_setting_and_the_range(name, key, text, message):
    with pytest.raises(cl.SettingError, match=message):
        get_experiment(name).validate(cli.parse_overrides(name, [f"{key}={text}"]))


def test_a_model_s_constraint_is_the_spec_s_constraint():
    """The allowed values of a setting that reaches a model are written once, in the model's constraint table."""
    assert get_experiment("gaussian").spec.constraint("ddof") is GaussianModel._parameter_constraints["ddof"]
    for name in ("n_components", "tol", "max_iter", "reg_covar"):
        assert get_experiment("gmm").spec.constraint(name) is GaussianMixtureModel._parameter_constraints[name]
    with pytest.raises(cl.SettingError, match="ddof must be <= 1, got 3"):
        GaussianModel(ddof=3)


def test_a_preset_shares_the_runner_and_the_constraints_with_other_defaults():
    base, preset = get_experiment("gmm"), get_experiment("gmm_policies")
    assert preset.runner is base.runner
    assert preset.spec.constraint("tol") is base.spec.constraint("tol")
    assert preset.profile("smoke") != base.profile("smoke")


def test_the_command_line_lists_each_setting_with_its_meaning(capsys):
    assert cli.main(["list", "gaussian"]) == 0
    out = capsys.readouterr().out
    for f in dataclasses.fields(get_experiment("gaussian").spec):
        assert f"  {f.name} = " in out and f.metadata["help"][:30] in out


def test_options_keep_the_type_of_their_values():
    assert Options((0, 1)).check("ddof", 1.0) == 1 and isinstance(Options((0, 1)).check("ddof", 1.0), int)
    assert Options(("a", "b")).parse("x", " b ") == "b"
