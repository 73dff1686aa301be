"""An interrupted run resumes from its last finished generation and ends with identical numbers."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import collapse_lib as cl

SETTINGS = dict(sample_size=50, ddof=1, policy="accumulate", n_generations=60, n_chains=300)

KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import collapse_lib as cl
    from collapse_lib.experiments import gaussian

    original = gaussian.record_gaussian
    def record_then_die(model, mu, sigma, keep):
        record_then_die.calls += 1
        if record_then_die.calls == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)  # killed mid-generation, before it is saved
        return original(model, mu, sigma, keep)
    record_then_die.calls = 0
    gaussian.record_gaussian = record_then_die
    cl.run_experiment("gaussian", "smoke", 0, store=cl.RunStore(sys.argv[1]), **{SETTINGS})
""").replace("{SETTINGS}", repr(SETTINGS))


def stored_generations(root):
    return sorted(root.rglob("gen_*.npz"))


@pytest.mark.parametrize("policy", ["accumulate", "replace"])
def test_killed_mid_generation_resumes_identically(tmp_path, policy):
    settings = dict(SETTINGS, policy=policy)
    script = KILL_SCRIPT.replace(repr(SETTINGS), repr(settings))
    killed = subprocess.run([sys.executable, "-c", script, str(tmp_path / "a"), "24"], capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert len(stored_generations(tmp_path / "a")) == 23  # generations 0..22 finished
    # generation 0's model (the reference) and the two newest finished generations' (one to fall back on if the
    # newest is damaged)
    assert sorted(p.name for p in (tmp_path / "a").rglob("params_*.npz")) == ["params_000000.npz", "params_000021.npz",
                                                                              "params_000022.npz"]
    assert not list((tmp_path / "a").rglob("result.npz"))

    resumed = cl.run_experiment("gaussian", "smoke", 0, store=cl.RunStore(tmp_path / "a"), **settings)
    straight = cl.run_experiment("gaussian", "smoke", 0, store=cl.RunStore(tmp_path / "b"), **settings)
    assert resumed.keys() == straight.keys()
    for key in straight:
        np.testing.assert_array_equal(resumed[key], straight[key], err_msg=key)


def test_cli_run_killed_from_outside_resumes_identically(tmp_path):
    args = [sys.executable, "-m", "collapse_lib", "run", "gaussian", "--profile", "smoke", "--seed", "1",
            "--set", "sample_size=100", "--set", "ddof=0", "--set", "policy=accumulate",
            "--set", "n_generations=3000", "--set", "n_chains=2000"]
    process = subprocess.Popen(args + ["--store", str(tmp_path / "a")], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(stored_generations(tmp_path / "a")) < 50 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = len(stored_generations(tmp_path / "a"))
    assert 50 <= finished < 3001, "the run should have been interrupted part-way"
    assert subprocess.run(args + ["--store", str(tmp_path / "a")], capture_output=True).returncode == 0
    assert subprocess.run(args + ["--store", str(tmp_path / "b")], capture_output=True).returncode == 0
    settings = cl.experiments.validated_runs("gaussian", "smoke", 1, dict(
        sample_size=100, ddof=0, policy="accumulate", n_generations=3000, n_chains=2000))[0][0]
    a = cl.experiments.stored_run("gaussian", settings, 1, cl.RunStore(tmp_path / "a")).load_result()
    b = cl.experiments.stored_run("gaussian", settings, 1, cl.RunStore(tmp_path / "b")).load_result()
    for key in b:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
