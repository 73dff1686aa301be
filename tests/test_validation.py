"""Bad input stops before any work, with a message naming the setting and its allowed range."""

import subprocess
import sys

import pytest

import collapse_lib as cl
from collapse_lib.validation import SettingError


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(sample_size=-5), "sample_size must be >= 1, got -5"),
        (dict(sample_size=0), "sample_size must be >= 1, got 0"),
        (dict(n_generations=0), "n_generations must be >= 1, got 0"),
        (dict(n_chains=0), "n_chains must be >= 1"),
        (dict(policy="mix", real_fraction=1.5), "real_fraction must be a fraction in [0, 1], got 1.5"),
        (dict(policy="mix", real_fraction=-0.1), "real_fraction must be a fraction in [0, 1], got -0.1"),
        (dict(policy="forget"), "unknown policy 'forget'; choose one of: replace, accumulate, accumulate-subsample, mix"),
        (dict(real_fraction=0.2), "only applies to policy 'mix'"),
        (dict(ddof=2), "ddof must be <= 1, got 2"),
        (dict(sample_size=2.5), "sample_size must be an integer, got 2.5"),
        (dict(bogus=1), "unknown setting(s) bogus for experiment 'gaussian'"),
    ],
)
def test_bad_gaussian_settings_name_the_problem(overrides, message):
    settings = dict(sample_size=100, ddof=1, policy="replace")
    settings.update(overrides)
    with pytest.raises(SettingError) as error:
        cl.run_experiment("gaussian", "smoke", 0, **settings)
    assert message in str(error.value)


def test_unknown_profile_experiment_and_bad_seed():
    with pytest.raises(SettingError, match="unknown profile 'huge'; choose one of: smoke, book, paper"):
        cl.run_experiment("gaussian", "huge", 0, sample_size=100, ddof=1, policy="replace")
    with pytest.raises(SettingError, match="unknown experiment 'gmm_typo'"):
        cl.run_experiment("gmm_typo", "smoke", 0)
    with pytest.raises(SettingError, match="seed must be an integer, got 1.5"):
        cl.run_experiment("wright_fisher", "smoke", 1.5)
    with pytest.raises(SettingError, match="seed must be >= 0, got -1"):
        cl.run_experiment("wright_fisher", "smoke", -1)


def test_sweep_needs_single_values():
    with pytest.raises(SettingError, match="sweeps .* pass one value"):
        cl.run_experiment("gaussian", "smoke", 0)


def test_bad_input_stops_before_any_work(isolated_run_store):
    """A sweep with one bad member writes nothing at all."""
    with pytest.raises(SettingError, match="sample_size"):
        cl.run_sweep("gaussian", "smoke", [0, 1], sample_size=cl.Sweep([100, -1]))
    assert not isolated_run_store.exists() or not any(isolated_run_store.rglob("*.npz"))


def test_loop_rejects_bad_arguments():
    model = lambda: cl.GaussianModel(1)  # noqa: E731
    real = cl.GaussianModel.from_params(0, 1, 3).sample(10, cl.generation_rng(0, 0, "data"))
    with pytest.raises(SettingError, match="n_generations must be >= 1"):
        cl.run_generations(model, real, 0, 10)
    with pytest.raises(SettingError, match="policy 'mix' draws fresh real data: pass real_sampler"):
        cl.run_generations(model, real, 3, 10, "mix", real_fraction=0.5)
    with pytest.raises(SettingError, match=r"one size per generation 0..3 \(4 values\)"):
        cl.run_generations(model, real, 3, [10, 10])
    with pytest.raises(SettingError, match=r"sample_sizes\[1\] must be >= 1, got -10"):
        cl.run_generations(model, real, 3, [10, -10, 10, 10])


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "gaussian", "--profile", "enormous"], "unknown profile 'enormous'"),
        (["run", "gaussian", "--seed", "x"], "seed must be an integer"),
        (["run", "gaussian", "--set", "sample_size=-4"], "sample_size must be >= 1, got -4"),
        (["run", "gaussian", "--set", "policy=mix", "--set", "real_fraction=2"], "real_fraction must be a fraction in [0, 1]"),
        (["run", "nothing"], "unknown experiment 'nothing'"),
        (["run", "gaussian", "--set", "colour=red"], "unknown setting 'colour'"),
    ],
)
def test_cli_bad_input_exit_code_and_message(args, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "collapse_lib", *args, "--store", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr
    assert not any(tmp_path.rglob("*.npz"))


def test_nonnegative_float_accepts_zero_and_names_the_setting_otherwise():
    from collapse_lib.validation import check_nonnegative_float

    assert check_nonnegative_float("weight_decay", 0) == 0.0
    assert check_nonnegative_float("weight_decay", "1e-5") == 1e-5
    for bad in (-1e-9, float("nan"), float("inf")):
        with pytest.raises(SettingError, match=r"weight_decay must be a finite number >= 0"):
            check_nonnegative_float("weight_decay", bad)
    with pytest.raises(SettingError, match=r"separation must be a number >= 0, got 'wide'"):
        check_nonnegative_float("separation", "wide")
    with pytest.raises(SettingError, match=r"weight_decay must be a finite number >= 0"):
        cl.run_experiment("vae", "smoke", 0, policy="replace", weight_decay=-1)
