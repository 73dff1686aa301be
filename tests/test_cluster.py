"""Sweeps on a cluster without a cluster: submitit's local executor end to end, a requeue at the time
limit that resumes to identical arrays, the Slurm array script (sbatch replaced by a stub), prerequisites
built once by racing processes, the cores a scheduler allocates, and the status of a sweep."""

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import collapse_lib as cl
from collapse_lib import cli, cluster, environment, experiments
from collapse_lib.experiments import EXPERIMENTS, stored_run, validated_runs
from collapse_lib.store import Run

submitit = pytest.importorskip("submitit")

ROOT = Path(__file__).resolve().parents[1]
#: A tiny Gaussian sweep: 2 sample sizes x 2 seeds, 11 generations of 20 chains.
REQUEST = ["gaussian", "--profile", "smoke", "--seed", "0-1", "--set", "sample_size=10,20", "--set", "ddof=0",
           "--set", "policy=replace", "--set", "n_chains=20", "--set", "n_generations=10"]
SINGLE = dict(sample_size=10, ddof=0, policy="replace", n_chains=20, n_generations=10)


@pytest.fixture(autouse=True)
def no_process_wide_thread_limits(monkeypatch):
    """A task called in this process counts its cores but leaves the test process's thread pools alone
    (the real :func:`cluster.limit_threads` runs in the tasks' own processes)."""
    monkeypatch.setattr(cluster, "limit_threads", lambda cores=None: cores or environment.usable_cores())


def results_in(store_root, args=REQUEST):
    """``{run folder name: arrays}`` of every run of the request ``args`` (all must have finished)."""
    overrides = cli.parse_overrides(args[0], [args[i + 1] for i, word in enumerate(args) if word == "--set"])
    seeds = list(cli.parse_seeds(args[args.index("--seed") + 1]))
    found = {}
    for settings, seed in validated_runs(args[0], args[args.index("--profile") + 1], seeds, overrides):
        run = stored_run(args[0], settings, seed, cl.RunStore(store_root))
        assert run.is_finished(), run
        found[run.path.name] = run.load_result()
    return found


def assert_same_arrays(first: dict, second: dict):
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


# --- the cores a task may use ---------------------------------------------------------------------

def test_usable_cores_are_the_allocation_not_the_node(monkeypatch):
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert environment.usable_cores() == affinity
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert environment.usable_cores() == 1
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", str(affinity + 50))  # never more than the process may run on
    assert environment.usable_cores() == affinity
    for unreadable in ("", "two", "0", "-3"):
        monkeypatch.setenv("SLURM_CPUS_PER_TASK", unreadable)
        assert environment.usable_cores() == affinity, unreadable
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows: the machine's count, capped
    assert environment.usable_cores() == 1


def test_runs_default_jobs_are_the_allocation(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")  # on a node with more cores: a sweep runs one process
    assert cli.main(["run", *REQUEST, "--store", str(tmp_path)]) == 0
    assert f"4 run(s) at profile 'smoke', seed(s) 0-1 into {tmp_path} (1 process(es))" in capsys.readouterr().err


def test_a_task_sets_torch_threads_to_its_allocation():
    script = textwrap.dedent("""
        import torch
        from collapse_lib.cluster import limit_threads
        print(limit_threads(), torch.get_num_threads())
    """)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", script], env={**env, "SLURM_CPUS_PER_TASK": "1"},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1"]


def test_a_task_gives_an_experiments_threads_setting_its_allocation_unless_pinned(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(cluster, "limit_threads", lambda cores=None: 3)  # as if Slurm allocated 3 cores
    monkeypatch.setattr(experiments, "run_experiment", lambda name, profile, seed, store=None, **o: seen.append(o))
    for request in ({"setting": 1}, {"setting": 1, "threads": 2}):
        cluster.RunTask("language_model", "smoke", 0, request, str(tmp_path), str(tmp_path / "run"))()
    cluster.RunTask("gaussian", "smoke", 0, SINGLE, str(tmp_path), str(tmp_path / "run"))()
    assert [o.get("threads") for o in seen] == [3, 2, None], "threads is machine-only: the key is the same"


# --- the local executor end to end ----------------------------------------------------------------

def test_local_executor_runs_the_sweep_to_the_numbers_of_run(tmp_path, capsys):
    code = cli.main(["submit", *REQUEST, "--store", str(tmp_path / "submitted"), "--cluster", "local"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err.count("done seed=") == 4 and "4 of 4 run(s) finished" in captured.err
    assert cli.main(["run", *REQUEST, "--store", str(tmp_path / "run"), "--jobs", "1"]) == 0
    submitted, direct = results_in(tmp_path / "submitted"), results_in(tmp_path / "run")
    assert submitted.keys() == direct.keys() and len(direct) == 4, "the same run keys"
    for key in direct:
        assert_same_arrays(submitted[key], direct[key])
    logs = list((tmp_path / "submitted" / cluster.LOGS).glob("*/*_log.out"))
    assert len(logs) == 4, "submitit's files under the store by default"
    cores = environment.usable_cores()
    share = max(1, cores // min(cores, 4))  # as many at a time as there are cores: each gets its share
    assert all(f": {share} core(s); starting" in log.read_text() for log in logs)
    capsys.readouterr()
    assert cli.main(["submit", *REQUEST, "--store", str(tmp_path / "submitted"), "--cluster", "local"]) == 0
    assert "all 4 run(s) have finished; nothing to submit" in capsys.readouterr().err


# --- a time limit: requeue and resume -------------------------------------------------------------

class TimeLimit(BaseException):
    """What the time-limit signal does to a task: an exit that is not an error of the run."""


def test_a_task_stopped_at_its_time_limit_resumes_through_its_checkpoint(tmp_path, monkeypatch):
    store = tmp_path / "store"
    settings, seed = validated_runs("gaussian", "smoke", [3], SINGLE)[0]
    folder = stored_run("gaussian", settings, seed, cl.RunStore(store)).path
    task = cluster.RunTask("gaussian", "smoke", 3, SINGLE, str(store), str(folder))
    assert isinstance(task, submitit.helpers.Checkpointable)
    original, saved = Run.save_generation, []

    def stop_after_generation_3(self, generation, *args, **kwargs):
        original(self, generation, *args, **kwargs)
        if generation == 3:
            raise TimeLimit

    def spy(self, generation, *args, **kwargs):
        saved.append(generation)
        original(self, generation, *args, **kwargs)

    with monkeypatch.context() as patch, pytest.raises(TimeLimit):
        patch.setattr(Run, "save_generation", stop_after_generation_3)
        task()
    assert cluster.run_state(folder, 10) == ("partial", "generations 0-3 of 11 saved")
    assert not (folder / cluster.FAILURE).exists(), "a requeue is not a failure"
    delayed = task.checkpoint()  # what submitit calls on the signal, then pickles for the requeued task
    delayed.dump(tmp_path / "requeued.pkl")
    requeued = submitit.helpers.DelayedSubmission.load(tmp_path / "requeued.pkl")
    monkeypatch.setattr(Run, "save_generation", spy)
    assert requeued.result() == str(folder)
    monkeypatch.setattr(Run, "save_generation", original)
    assert saved[0] == 4, "resumed after the last finished generation, not from the start"
    whole = cl.run_experiment("gaussian", "smoke", 3, store=cl.RunStore(tmp_path / "whole"), **SINGLE)
    assert_same_arrays(stored_run("gaussian", settings, seed, cl.RunStore(store)).load_result(), whole)


def test_the_time_limit_signal_requeues_a_local_task_that_resumes_to_identical_arrays(tmp_path):
    """The real path: submitit's handler catches the signal Slurm sends before the limit (USR2),
    calls checkpoint(), and the local executor restarts the task (Slurm would ``scontrol requeue`` it)."""
    psutil = pytest.importorskip("psutil")
    long = {**SINGLE, "n_chains": 5, "n_generations": 1500}  # seconds, saving a generation every few ms
    store = tmp_path / "store"
    settings, seed = validated_runs("gaussian", "smoke", [0], long)[0]
    folder = stored_run("gaussian", settings, seed, cl.RunStore(store)).path
    executor = submitit.AutoExecutor(folder=tmp_path / "logs", cluster="local", local_max_num_timeout=3)
    executor.update_parameters(timeout_min=10)
    job = executor.submit(cluster.RunTask("gaussian", "smoke", 0, long, str(store), str(folder)))
    deadline = time.time() + 120
    while not (folder / "gen_000002.npz").exists():
        assert time.time() < deadline and not job.done(), "the task never got going"
        time.sleep(0.01)
    task_processes = psutil.Process(job._process.pid).children()
    assert len(task_processes) == 1
    task_processes[0].send_signal(signal.SIGUSR2)
    assert job.result() == str(folder)
    log = Path(job.paths.stdout).read_text() + Path(job.paths.stderr).read_text()
    assert "Requeued job" in log and "time limit near; requeued" in log
    assert "resuming after generation" in log, log[-2000:]
    whole = cl.run_experiment("gaussian", "smoke", 0, store=cl.RunStore(tmp_path / "whole"), **long)
    assert_same_arrays(stored_run("gaussian", settings, seed, cl.RunStore(store)).load_result(), whole)


# --- the Slurm array script -----------------------------------------------------------------------

def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """``sbatch`` (keeps the script it is given, answers with a job id) and ``srun`` stubs on PATH."""
    bin_dir, kept = tmp_path / "bin", tmp_path / "sbatch"
    bin_dir.mkdir()
    kept.mkdir()
    stub(bin_dir, "sbatch", f'cp "$1" {kept}/script.sh\necho "$@" >> {kept}/calls\necho "Submitted batch job 4242"\n')
    stub(bin_dir, "srun", "exit 0\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir, kept


def test_submit_writes_one_slurm_array_with_the_resources_and_requeue(fake_slurm, tmp_path, capsys):
    _, kept = fake_slurm
    store = tmp_path / "store"
    code = cli.main(["submit", *REQUEST, "--seed", "0-2", "--store", str(store), "--partition", "gpu",
                     "--time", "2:30:00", "--gpus-per-task", "1", "--cpus-per-task", "4",
                     "--array-parallelism", "3"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert len((kept / "calls").read_text().splitlines()) == 1, "one sbatch call: one array"
    script = (kept / "script.sh").read_text()
    for line in ("#SBATCH --array=0-5%3", "#SBATCH --partition=gpu", "#SBATCH --time=150",
                 "#SBATCH --gpus-per-task=1", "#SBATCH --cpus-per-task=4", "#SBATCH --requeue",
                 "#SBATCH --signal=USR2@90", "#SBATCH --job-name=collapse-gaussian", "#SBATCH --ntasks=1"):
        assert line in script.splitlines(), (line, script)
    assert f"{sys.executable} -u -m submitit.core._submit" in script, "the tasks run this interpreter"
    srun = next(line for line in script.splitlines() if line.startswith("srun "))
    assert "--cpus-per-task 4" in srun, "the task's step gets the cores of its allocation"
    assert str(store.resolve() / cluster.LOGS) in script, "submitit's files under the store by default"
    lines = captured.out.splitlines()
    assert [line.split()[3] for line in lines] == [f"4242_{i}" for i in range(6)]
    assert "Follow them with:" in captured.err and " status gaussian " in captured.err
    tasks = [submitit.helpers.DelayedSubmission.load(path).function
             for path in sorted((store / cluster.LOGS).glob("4242_*/*_submitted.pkl"))]
    assert sorted((t.seed, t.overrides["sample_size"]) for t in tasks) == [(s, n) for s in range(3) for n in (10, 20)]
    assert {Path(t.folder).name for t in tasks} == set(results_keys(store, "0-2"))
    assert all(t.store == str(store.resolve()) for t in tasks), "one shared store, as an absolute path"


def results_keys(store, seeds):
    overrides = cli.parse_overrides("gaussian", [REQUEST[i + 1] for i, w in enumerate(REQUEST) if w == "--set"])
    return [stored_run("gaussian", s, seed, cl.RunStore(store)).path.name
            for s, seed in validated_runs("gaussian", "smoke", list(cli.parse_seeds(seeds)), overrides)]


def test_finished_runs_are_not_submitted_again(fake_slurm, tmp_path, capsys):
    _, kept = fake_slurm
    store = tmp_path / "store"
    cl.run_experiment("gaussian", "smoke", 0, store=cl.RunStore(store), **{**SINGLE, "sample_size": 20})
    assert cli.main(["submit", *REQUEST, "--store", str(store)]) == 0
    script = (kept / "script.sh").read_text().splitlines()
    assert "#SBATCH --array=0-2%3" in script and "#SBATCH --time=60" in script, "an hour unless --time says"
    assert "1 finished before, skipped" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--time", "soon"], "--time must be minutes or [D-]HH:MM:SS (as sbatch --time), got 'soon'; fix --time."),
    (["--time", "0"], "--time must be longer than zero"),
    (["--time", "2"], "--time must be at least 2:30 (minutes:seconds) with --cluster slurm: the task is signalled "
                      "90 s before its time limit to be requeued, got '2'; fix --time."),
    (["--set", "sample_size=-4"], "sample_size"),
])
def test_submit_mistakes_are_one_line_and_exit_2(fake_slurm, tmp_path, capsys, args, message):
    assert cli.main(["submit", *REQUEST, "--store", str(tmp_path), *args]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1, err
    assert not (fake_slurm[1] / "calls").exists(), "nothing submitted"


def test_a_refused_or_missing_sbatch_is_one_line_and_exit_2(fake_slurm, tmp_path, capsys, monkeypatch):
    bin_dir, _ = fake_slurm
    stub(bin_dir, "sbatch", 'echo "sbatch: error: invalid partition specified: nope" >&2\nexit 1\n')
    assert cli.main(["submit", *REQUEST, "--store", str(tmp_path), "--partition", "nope"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "sbatch refused the job array" in err and "invalid partition specified: nope" in err, err
    assert len(err.strip().splitlines()) == 1, err
    monkeypatch.setenv("PATH", "/nonexistent")
    assert cli.main(["submit", *REQUEST, "--store", str(tmp_path)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "needs Slurm's sbatch on PATH" in err and "--cluster local" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("text, minutes", [("90", 90), ("1:30", 1.5), ("2:00:00", 120), ("1-00", 1440),
                                           ("1-2:30", 1590), ("0-00:00:30", 0.5)])
def test_time_limits_are_read_as_sbatch_reads_them(text, minutes):
    assert cluster.parse_time(text) == pytest.approx(minutes)


# --- prerequisites built once ---------------------------------------------------------------------

GATE = """
import sys, time
from pathlib import Path
marker, go, ready, store = (Path(p) for p in sys.argv[1:5])
{setup}
ready.touch()
while not go.exists():
    time.sleep(0.01)
{call}
"""


def race(tmp_path, setup: str, call: str, n: int = 3) -> list[str]:
    """Run ``n`` processes that do ``setup``, wait at one gate, then all do ``call`` at once; return
    the lines the builds wrote into the marker file."""
    go, marker = tmp_path / "go", tmp_path / "builds"
    marker.touch()
    script = GATE.format(setup=textwrap.dedent(setup), call=textwrap.dedent(call))
    processes = [subprocess.Popen([sys.executable, "-c", script, str(marker), str(go), str(tmp_path / f"ready{i}"),
                                   str(tmp_path / "store")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for i in range(n)]
    deadline = time.time() + 120
    while not all((tmp_path / f"ready{i}").exists() for i in range(n)):
        assert time.time() < deadline and all(p.poll() is None for p in processes), \
            [p.communicate() for p in processes if p.poll() is not None]
        time.sleep(0.02)
    go.touch()
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    return marker.read_text().splitlines()


def test_racing_processes_train_the_digit_classifier_once(tmp_path):
    setup = """
        import numpy as np
        from types import SimpleNamespace
        import collapse_lib as cl
        from collapse_lib.models import digit_classifier as dc
        from collapse_lib.experiments.vae import trained_classifier
        original = dc.DigitClassifier.fit
        def counted(self, *args, **kwargs):
            with open(marker, "a") as handle:
                handle.write("built\\n")
            time.sleep(1.0)  # a slow build: the others arrive while it runs
            return original(self, *args, **kwargs)
        dc.DigitClassifier.fit = counted
        rng = np.random.default_rng(0)
        mnist = SimpleNamespace(train_images=rng.integers(0, 256, (64, 28, 28), dtype=np.uint8),
                                train_labels=rng.integers(0, 10, 64), fallback=True, checksums={}, source="test")
    """
    call = """
    model = trained_classifier(mnist, epochs=1, hidden=8, store=cl.RunStore(store))
    print(float(model.predict_proba(mnist.train_images[:4] / 255.0).sum()))
    """
    assert race(tmp_path, setup, call, n=2) == ["built"]
    assert len(list((tmp_path / "store" / "digit_classifier").glob("*/params.npz"))) == 1


def test_racing_processes_build_the_language_models_base_once(tmp_path):
    shared = ROOT / "shared" / "data"
    data = os.environ.get("COLLAPSE_DATA_DIR") or (str(shared) if (shared / "wikitext-2-raw").is_dir() else None)
    if not data or not (Path(data) / "wikitext-2-raw").is_dir():
        pytest.skip("WikiText-2 is not on this machine (COLLAPSE_DATA_DIR)")
    setup = f"""
        import os
        os.environ["COLLAPSE_DATA_DIR"] = {data!r}
        import collapse_lib as cl
        from collapse_lib.experiments import language_model as lm_exp
        original = lm_exp._build_base
        def counted(*args, **kwargs):
            with open(marker, "a") as handle:
                handle.write("built\\n")
            return original(*args, **kwargs)
        lm_exp._build_base = counted
        tiny = dict(vocab_size=300, d_model=16, n_layers=1, n_heads=2, d_ff=32, n_train_blocks=10,
                    n_valid_blocks=4, n_test_blocks=8, block_size=16, n_new_tokens=8, base_epochs=1,
                    base_max_blocks=40)
        settings = cl.resolve_settings("language_model", "smoke", setting=1, **tiny)
    """
    call = "lm_exp.prepare(settings, cl.RunStore(store), seed=0)"
    assert race(tmp_path, setup, call, n=2) == ["built"]
    base = list((tmp_path / "store" / "language_model_base").glob("*/base.npz"))
    assert len(base) == 1


def test_a_failed_build_leaves_the_next_caller_to_build(tmp_path):
    target, calls = tmp_path / "thing.npz", []

    def failing():
        calls.append("failed")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        cl.store.build_once(target, failing)
    cl.store.build_once(target, lambda: (calls.append("built"), cl.store.save_npz(target, {"x": np.zeros(1)})))
    cl.store.build_once(target, lambda: calls.append("again"))
    assert calls == ["failed", "built"]


# --- status ---------------------------------------------------------------------------------------

def test_status_names_finished_partial_failed_and_not_started_runs(tmp_path, monkeypatch, capsys):
    store = tmp_path / "store"
    request = ["gaussian", "--profile", "smoke", "--seed", "0-3", "--set", "sample_size=10", *REQUEST[7:]]
    folders = {}
    for seed in range(4):
        settings, _ = validated_runs("gaussian", "smoke", [seed], SINGLE)[0]
        folders[seed] = stored_run("gaussian", settings, seed, cl.RunStore(store)).path
    cl.run_experiment("gaussian", "smoke", 0, store=cl.RunStore(store), **SINGLE)  # finished

    original = Run.save_generation

    def stop_after_generation_4(self, generation, *args, **kwargs):
        original(self, generation, *args, **kwargs)
        if generation == 4:
            raise TimeLimit

    def boom(settings, seed, run=None, progress=False):
        raise RuntimeError("the node's disk is full")

    with monkeypatch.context() as patch, pytest.raises(TimeLimit):  # partial
        patch.setattr(Run, "save_generation", stop_after_generation_4)
        cluster.RunTask("gaussian", "smoke", 1, SINGLE, str(store), str(folders[1]))()
    with monkeypatch.context() as patch, pytest.raises(RuntimeError):  # failed
        patch.setitem(EXPERIMENTS, "gaussian", dataclasses.replace(EXPERIMENTS["gaussian"], runner=boom))
        cluster.RunTask("gaussian", "smoke", 2, SINGLE, str(store), str(folders[2]))()
    capsys.readouterr()
    assert cli.main(["status", *request, "--store", str(store)]) == 0
    captured = capsys.readouterr()
    rows = {int(line.split("seed=")[1].split()[0]): line for line in captured.out.splitlines()}
    assert rows[0].startswith("finished ") and str(folders[0]) in rows[0]
    assert rows[1].startswith("partial ") and "generations 0-4 of 11 saved" in rows[1]
    assert rows[2].startswith("failed ") and "RuntimeError: the node's disk is full (no generation saved)" in rows[2]
    assert rows[3].startswith("not started ")
    (folders[1] / ".lock").write_text("pid=4242\nhost=node17\n")  # as the store's writer lock records its holder
    assert cluster.run_state(folders[1], 10) == ("partial", "generations 0-4 of 11 saved; being written by "
                                                            "process 4242 on node17")
    assert "1 finished, 1 partial, 1 not started, 1 failed (of 4)" in captured.err
    assert "Traceback" in (folders[2] / cluster.FAILURE).read_text(), "the whole traceback is kept in the file"


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 not a whole archive"])
def test_a_damaged_prerequisite_is_named_and_built_again(damage, tmp_path, capsys):
    path = tmp_path / "prereq" / "params.npz"
    builds = []

    def build():
        builds.append(1)
        cl.store.save_npz(path, {"w": np.arange(3.0)})

    cl.store.build_once(path, build)
    cl.store.build_once(path, build)
    assert len(builds) == 1, "a whole file is reused"
    path.write_bytes(damage)
    cl.store.build_once(path, build)
    assert len(builds) == 2 and f"{path} is damaged" in capsys.readouterr().err
    with np.load(path) as saved:
        np.testing.assert_array_equal(saved["w"], np.arange(3.0))
