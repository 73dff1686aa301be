"""One writer per run: a second process on the same run waits and reuses the result (or resumes the
run if the first died); a sweep runs repeated pairs once; a sweep's workers die with their parent."""

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import collapse_lib as cl
from collapse_lib.experiments import EXPERIMENTS, Sweep, run_sweep, validated_runs

SETTINGS = dict(sample_size=50, ddof=1, policy="accumulate", n_generations=60, n_chains=300)

WRITER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import numpy as np
    import collapse_lib as cl
    from collapse_lib.experiments import gaussian

    root, marks, name, pause = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    original_loop, original_record = gaussian.run_generations, gaussian.record_gaussian
    calls = []

    def computing(*args, **kwargs):
        (marks / f"computed.{name}").touch()
        return original_loop(*args, **kwargs)

    def slow_record(*args):
        calls.append(1)
        if len(calls) == 5:
            (marks / f"five.{name}").touch()
        time.sleep(pause)
        return original_record(*args)

    gaussian.run_generations, gaussian.record_gaussian = computing, slow_record
    (marks / f"ready.{name}").touch()
    while not (marks / "go").exists():
        time.sleep(0.01)
    result = cl.run_experiment("gaussian", "smoke", 0, store=cl.RunStore(root), **SETTINGS)
    np.savez(marks / f"result.{name}.npz", **result)
    print(f"recorded {len(calls)} generations", flush=True)
""").replace("SETTINGS", repr(SETTINGS))


def start(root, marks, name, pause):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(marks), name, str(pause)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, seconds=120.0):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def straight(tmp_path):
    return cl.run_experiment("gaussian", "smoke", 0, store=cl.RunStore(tmp_path / "straight"), **SETTINGS)


def assert_same(a, b):
    assert a.keys() == b.keys()
    for key in b:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_second_writer_waits_and_reuses_the_result(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    writers = {name: start(tmp_path / "runs", marks, name, 0.03) for name in ("a", "b")}
    try:
        wait_for(lambda: all((marks / f"ready.{name}").exists() for name in writers))
        (marks / "go").touch()
        outputs = {name: process.communicate(timeout=300) for name, process in writers.items()}
    finally:
        for process in writers.values():
            process.kill()
    for name, process in writers.items():
        assert process.returncode == 0, outputs[name][1][-3000:]
    assert len(list(marks.glob("computed.*"))) == 1  # one computed, the other loaded its result
    waited = [name for name, (_, err) in outputs.items() if "is being written by" in err]
    assert len(waited) == 1, outputs
    results = {name: dict(np.load(marks / f"result.{name}.npz")) for name in writers}
    assert_same(results["a"], results["b"])
    assert_same(results["a"], straight(tmp_path))


def test_a_waiting_writer_resumes_the_run_when_the_first_dies(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "go").touch()
    first = start(tmp_path / "runs", marks, "first", 0.2)
    second = None
    try:
        wait_for(lambda: (marks / "five.first").exists())
        second = start(tmp_path / "runs", marks, "second", 0.0)
        err = []
        wait_for(lambda: err.append(second.stderr.readline()) or "is being written by" in err[-1])
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
        out, _ = second.communicate(timeout=300)
    finally:
        for process in (first, second):
            if process is not None:
                process.kill()
    assert second.returncode == 0
    recorded = int(out.split("recorded ")[1].split()[0])
    assert 0 < recorded < SETTINGS["n_generations"] + 1 - 4  # it resumed the generations the first saved
    assert_same(dict(np.load(marks / "result.second.npz")), straight(tmp_path))


def test_repeated_pairs_of_a_sweep_run_once(tmp_path, monkeypatch):
    calls = []
    experiment = EXPERIMENTS["gaussian"]

    def counting(settings, seed, **kwargs):
        calls.append((settings["policy"], seed))
        return experiment.runner(settings, seed, **kwargs)

    monkeypatch.setitem(EXPERIMENTS, "gaussian", dataclasses.replace(experiment, runner=counting))
    overrides = dict(SETTINGS, policy=Sweep(["accumulate", "replace", "accumulate"]))
    assert len(validated_runs("gaussian", "smoke", [0, 0, 1], overrides)) == 4
    results = run_sweep("gaussian", "smoke", [0, 0, 1], store=cl.RunStore(tmp_path), **overrides)
    assert [(s["policy"], seed) for s, seed, _ in results] == [("accumulate", 0), ("accumulate", 1),
                                                              ("replace", 0), ("replace", 1)]
    assert sorted(calls) == [("accumulate", 0), ("accumulate", 1), ("replace", 0), ("replace", 1)]


PARENT = textwrap.dedent("""
    import os, sys, time
    import collapse_lib.experiments as experiments
    from collapse_lib.experiments import worker_pool

    if sys.argv[2] == "fallback":  # the portable watcher thread instead of prctl
        experiments._set_parent_death_signal = lambda: False
    if sys.argv[2] == "spawn":  # a fresh worker, as once PyTorch is loaded (worker_start_method)
        experiments.worker_start_method = lambda: "spawn"

    def work(path):
        with open(path + ".tmp", "w") as handle:
            handle.write(str(os.getpid()))
        os.replace(path + ".tmp", path)
        time.sleep(120)

    if __name__ == "__main__":
        pool = worker_pool(1)
        pool.submit(work, sys.argv[1])
        time.sleep(120)
""")


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")  # a zombie has exited
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["prctl", "fallback", "spawn"])
def test_a_pool_worker_dies_when_its_parent_is_killed(tmp_path, how):
    pid_file = tmp_path / "worker.pid"
    script = tmp_path / "parent.py"  # a file: a spawned worker re-reads its parent's script to find `work`
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file), how])
    worker = None
    try:
        wait_for(pid_file.exists, 60)
        worker = int(pid_file.read_text())
        assert not gone(worker)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.time() + 10
        while not gone(worker) and time.time() < deadline:
            time.sleep(0.05)
        assert gone(worker), "the worker outlived its parent"
    finally:
        parent.kill()
        if worker is not None and not gone(worker):
            os.kill(worker, signal.SIGKILL)


def test_a_sweep_side_by_side_after_torch_has_run_here_finishes(tmp_path):
    """Workers forked from a process that has already run PyTorch inherit its thread pool with locks held and
    hung in their first torch call (a notebook that trains a VAE, then calls run_sweep(jobs=2)). Once torch is
    loaded the pool starts fresh workers (worker_start_method), and the sweep finishes; before, this hung."""
    script = tmp_path / "trained_then_sweeps.py"
    script.write_text(textwrap.dedent("""
        import sys
        import torch
        import collapse_lib as cl
        from collapse_lib.experiments import worker_start_method

        if __name__ == "__main__":
            x = torch.randn(256, 256, requires_grad=True)
            for _ in range(10):
                (x @ x).sum().backward()  # torch's thread pool is up, as after training a model
            runs = cl.run_sweep("vae", "smoke", [0], jobs=2, store=cl.RunStore(sys.argv[1]))
            print(worker_start_method(), [s["policy"] for s, _, _ in runs])
    """))
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "runs")], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "spawn ['replace', 'mix']"


def test_workers_are_forked_while_torch_is_not_loaded():
    code = "import sys, collapse_lib.experiments as e; print(e.worker_start_method(), 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "fork False", done.stderr
