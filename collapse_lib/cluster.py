"""Sweeps on a cluster: one Slurm array task per run (through submitit), requeued at its time limit,
resumed from the store; shared prerequisites built once under a file lock; the status of a sweep.

* :func:`submit` sends every unfinished run of a sweep to Slurm as one job array (or to
  submitit's local executor on one machine), all writing into one shared run store. Each task is
  a :class:`RunTask`: submitit's ``Checkpointable`` protocol. When Slurm signals the task before
  its time limit (``#SBATCH --signal=USR2@90``), submitit calls :meth:`RunTask.checkpoint`, which
  resubmits the same run, and requeues the task (``scontrol requeue``; the script carries
  ``#SBATCH --requeue``). The requeued task finds the run's finished generations in the store and
  resumes after the last of them, so the run ends with exactly the numbers of an uninterrupted one.
* shared prerequisites (the digit classifier, the language model's base and tokenizer (one per seed), the SmolLM2
  judge's scores) are made exactly once, whichever task gets there first, by
  :func:`collapse_lib.store.build_once`, under a lock file next to each.
* :func:`sweep_status` says, for each run of a sweep, whether it finished, stopped part way (and
  at which generation), never started, or failed (a submitted task writes ``failure.txt`` into
  its run's folder, with the error).

Only :func:`submit` needs submitit (``pip install -e '.[cluster]'``); without it the rest works, and
:class:`RunTask` is a plain class with the same ``checkpoint`` method.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .environment import usable_cores
from .store import LOCK, RESULT, Run, RunStore, _lock_holder, atomic_write_bytes
from .validation import SettingError

try:  # submitit recognises a task by its checkpoint() method; the base class is for readers and isinstance
    from submitit.helpers import Checkpointable
except ImportError:  # pragma: no cover - submitit is an optional dependency (the ``cluster`` extra)
    Checkpointable = object

#: The file a submitted task writes into its run's folder when the run raised an error.
FAILURE = "failure.txt"
#: The folder under the run store that holds submitit's files unless ``--logs`` names another.
LOGS = "submitit_logs"
#: Times a run may be requeued at its time limit before it is given up (``--max-requeues``).
MAX_REQUEUES = 20
CLUSTERS = ("slurm", "local")
#: The time limit of a task unless one is given: an hour on Slurm (a queue's usual short limit; a run
#: that needs longer is requeued and resumes); on one machine, where nothing else waits, thirty days
#: (submitit's local executor restarts a task at most six times).
DEFAULT_TIME = {"slurm": "1:00:00", "local": "30-00:00:00"}
#: Seconds before the time limit that submitit has the scheduler signal a task (its defaults).
SIGNAL_DELAY_S = {"slurm": 90, "local": 30}


# --- shared prerequisites -------------------------------------------------------------------------

# --- the runs of a request ------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    """One run of a sweep: its pinned overrides, seed, validated settings and folder in the store."""

    overrides: dict
    seed: int
    settings: dict
    folder: Path
    label: str   # the swept values and the seed, for people


def sweep_requests(experiment: str, profile: str, seeds, overrides: dict, store) -> list[Request]:
    """Every run of the sweep, validated (all of them before any is used) and located in ``store``."""
    from .experiments import pinned_overrides, resolve_settings, stored_run, validated_runs
    from .profiles import Sweep

    seeds = list(seeds)
    validated_runs(experiment, profile, [0], overrides)  # every combination, once: errors before anything
    swept = sorted(k for k, v in resolve_settings(experiment, profile, **overrides).items() if isinstance(v, Sweep))
    requests, folders = [], set()
    for pinned in pinned_overrides(experiment, profile, overrides):
        label = " ".join(f"{key}={pinned[key]}" for key in swept)
        for settings, seed in validated_runs(experiment, profile, seeds, pinned):
            folder = stored_run(experiment, settings, seed, store).path
            if folder not in folders:  # two values that validate to one run: it runs once
                folders.add(folder)
                name = f"seed={seed}" + (f" {label}" if label else "")
                requests.append(Request(pinned, seed, settings, folder, name))
    return requests


# --- one array task -------------------------------------------------------------------------------

def limit_threads(cores: int | None = None) -> int:
    """Make this process's thread pools use ``cores`` (default :func:`usable_cores`): torch's
    intra-op threads (now if torch is loaded, else through ``OMP_NUM_THREADS`` when it loads) and
    NumPy's BLAS. A thread count the user set in ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` is kept."""
    cores = cores or usable_cores()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, str(cores))
    threads = int(os.environ["OMP_NUM_THREADS"]) if os.environ["OMP_NUM_THREADS"].isdigit() else cores
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(max(1, threads))
    from threadpoolctl import threadpool_limits

    threadpool_limits(max(1, threads), user_api="blas")
    return threads


def record_failure(folder: Path, error: BaseException) -> None:
    """Write ``failure.txt`` into a run's folder: the error on its first line, then the traceback."""

    first = f"{type(error).__name__}: {error}".splitlines()[0] if str(error) else type(error).__name__
    text = first + "\n\n" + "".join(traceback.format_exception(error))
    atomic_write_bytes(Path(folder) / FAILURE, lambda handle: handle.write(text.encode()))


def read_failure(folder: Path) -> str | None:
    """The first line of a run's ``failure.txt``, or ``None`` if it has none."""
    try:
        return (Path(folder) / FAILURE).read_text().splitlines()[0] or "failed"
    except IndexError:
        return None
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:  # unreadable or damaged: say so rather than fail the status
        return f"failed (failure.txt unreadable: {error})"


class RunTask(Checkpointable):
    """One run as a submitit task: ``task()`` runs (or resumes) it into the store.

    It holds only the request (experiment, profile, seed, pinned overrides, the store's root and
    the run's folder as the submitting machine computed it): the settings are resolved and
    validated again on the node that runs the task, and the run's state lives in the store, not
    in the task. So :meth:`checkpoint`, which submitit calls when the task is signalled before its
    time limit, resubmits the very same task, and the requeued task resumes from the run's last
    finished generation.

    The task's thread pools use the cores it was allocated (:func:`limit_threads`), and so does an
    experiment's machine-only ``threads`` setting unless the request pins it. An error of the run
    is written to ``failure.txt`` in the run's folder (:func:`record_failure`) and raised again,
    so that submitit records it too.
    """

    def __init__(self, experiment: str, profile: str, seed: int, overrides: dict, store: str, folder: str,
                 cores: int | None = None):
        self.experiment, self.profile, self.seed = experiment, profile, seed
        self.overrides, self.store, self.folder = dict(overrides), str(store), str(folder)
        self.cores = cores  # None: what the scheduler allocated (usable_cores); the local executor sets a share

    def __repr__(self) -> str:
        return f"RunTask({self.experiment!r}, {self.profile!r}, seed={self.seed}, {self.overrides!r})"

    def __call__(self) -> str:
        from .experiments import get_experiment, run_experiment, stored_run, validated_runs

        folder = Path(self.folder)
        (folder / FAILURE).unlink(missing_ok=True)  # a new attempt: an earlier failure is no longer news
        try:
            cores = limit_threads(self.cores)
            store = RunStore(self.store)
            overrides = dict(self.overrides)
            experiment = get_experiment(self.experiment)
            if "threads" in experiment.machine_settings and "threads" not in overrides:
                overrides["threads"] = cores  # the allocation, not one thread (not part of the run's key)
            settings, seed = validated_runs(self.experiment, self.profile, [self.seed], overrides)[0]
            run = stored_run(self.experiment, settings, seed, store)
            if run.path != folder:
                print(f"note: this node keys the run as {run.path}, the submitting machine as {folder}",
                      flush=True)
            done = run.finished_generations()
            state = ("finished before" if run.is_finished() else
                     f"resuming after generation {done - 1}" if done else "starting")
            print(f"{self!r}: {cores} core(s); {state} ({run.path})", flush=True)
            run_experiment(self.experiment, self.profile, self.seed, store=store, **overrides)
        except Exception as error:  # a requeue exits with SystemExit, which is not a failure
            record_failure(folder, error)
            raise
        print(f"finished {run.path}", flush=True)
        return str(run.path)

    def checkpoint(self, *args, **kwargs):
        """Resubmit the same run (submitit calls this on the time-limit signal, then requeues)."""
        from submitit.helpers import DelayedSubmission

        print(f"{self!r}: time limit near; requeued, it resumes from its last finished generation", flush=True)
        return DelayedSubmission(self, *args, **kwargs)


# --- submission -----------------------------------------------------------------------------------

_TIME = re.compile(r"^(?:(?P<days>\d+)-)?(?P<clock>\d+(?::\d+){0,2})$")


def parse_time(text: str) -> float:
    """A time limit in Slurm's forms as minutes: ``90`` (minutes), ``MM:SS``, ``HH:MM:SS``,
    ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``."""
    match = _TIME.match(str(text).strip())
    if not match:
        raise SettingError(f"--time must be minutes or [D-]HH:MM:SS (as sbatch --time), got {text!r}; fix --time.")
    parts = [int(p) for p in match["clock"].split(":")]
    if match["days"] is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        parts += [0] * (3 - len(parts))
        minutes = int(match["days"]) * 1440 + parts[0] * 60 + parts[1] + parts[2] / 60
    elif len(parts) == 1:
        minutes = parts[0]
    elif len(parts) == 2:  # MM:SS
        minutes = parts[0] + parts[1] / 60
    else:
        minutes = parts[0] * 60 + parts[1] + parts[2] / 60
    if minutes <= 0:
        raise SettingError(f"--time must be longer than zero, got {text!r}; fix --time.")
    return minutes


@dataclass
class Submitted:
    """What :func:`submit` did: the tasks it sent, the runs it skipped (finished before), and, for
    the local executor (which waits), the runs that failed with their error line."""

    tasks: list
    jobs: list
    skipped: list
    logs: Path
    failed: list


def _executor(cluster: str, logs: Path, *, minutes: float, partition, gpus_per_task, cpus_per_task,
              array_parallelism, max_requeues: int, job_name: str):
    try:
        import submitit
    except ImportError:
        raise SettingError("submit needs submitit; install it with pip install -c constraints.txt -e '.[cluster]'.") \
            from None
    if cluster == "slurm":
        if shutil.which("sbatch") is None:
            raise SettingError("--cluster slurm needs Slurm's sbatch on PATH, not found here; run on the cluster's "
                               "login node, or use --cluster local on one machine.")
        try:
            executor = submitit.AutoExecutor(folder=logs / "%j", cluster="slurm", slurm_max_num_timeout=max_requeues)
        except RuntimeError:  # SlurmExecutor checks for srun
            raise SettingError("--cluster slurm needs Slurm (srun and sbatch on PATH), not found here; run on the "
                               "cluster's login node, or use --cluster local on one machine.") from None
        executor.update_parameters(name=job_name, timeout_min=max(1, int(-(-minutes // 1))),
                                   cpus_per_task=cpus_per_task, slurm_partition=partition,
                                   slurm_gpus_per_task=gpus_per_task, slurm_array_parallelism=array_parallelism,
                                   # one task per array element; Slurm refuses --gpus-per-task without --ntasks
                                   slurm_additional_parameters={"requeue": True, "ntasks": 1},
                                   # some Slurm versions (22.05) do not hand the job's --cpus-per-task to srun
                                   slurm_srun_args=["--cpus-per-task", str(cpus_per_task)] if cpus_per_task else None)
    else:
        executor = submitit.AutoExecutor(folder=logs / "%j", cluster="local", local_max_num_timeout=max_requeues)
        executor.update_parameters(name=job_name, local_timeout_min=minutes, local_gpus_per_node=gpus_per_task or 0)
    return executor


def submit(experiment: str, profile: str, seeds, overrides: dict, *, store=None, cluster: str = "slurm",
           logs=None, time_limit: str | float | None = None, partition: str | None = None,
           gpus_per_task: int | None = None, cpus_per_task: int | None = None,
           array_parallelism: int | None = None, max_requeues: int = MAX_REQUEUES, poll_s: float = 1.0,
           report: Callable[[str], None] | None = None) -> Submitted:
    """Submit every unfinished run of a sweep, one task each, into one shared ``store``.

    ``cluster="slurm"``: one job array (``#SBATCH --array=0-N%P``, ``P = array_parallelism``),
    returned at once. ``time_limit`` is per task (minutes, or text as ``sbatch --time``; default
    :data:`DEFAULT_TIME`). ``cluster="local"``: submitit's local executor on this machine, at most
    ``array_parallelism`` (default: the usable cores over ``cpus_per_task``) at a time; waits
    for all of them. Runs that have finished before are skipped. Every argument is checked before
    anything is submitted.
    """

    if cluster not in CLUSTERS:
        raise SettingError(f"--cluster must be one of {', '.join(CLUSTERS)}, got {cluster!r}.")
    if time_limit is None:
        time_limit = DEFAULT_TIME[cluster]
    minutes = time_limit if isinstance(time_limit, (int, float)) else parse_time(time_limit)
    for name, value in (("--gpus-per-task", gpus_per_task), ("--cpus-per-task", cpus_per_task),
                        ("--array-parallelism", array_parallelism), ("--max-requeues", max_requeues)):
        if value is not None and (not isinstance(value, int) or value < (0 if name == "--max-requeues" else 1)):
            raise SettingError(f"{name} must be a whole number >= {0 if name == '--max-requeues' else 1}, "
                               f"got {value!r}; fix {name}.")
    shortest = SIGNAL_DELAY_S[cluster] + 60
    if minutes * 60 < shortest:
        raise SettingError(f"--time must be at least {shortest // 60}:{shortest % 60:02d} (minutes:seconds) with "
                           f"--cluster {cluster}: the task is signalled {SIGNAL_DELAY_S[cluster]} s before its time "
                           f"limit to be requeued, got {time_limit!r}; fix --time.")
    report = report or (lambda line: print(line, file=sys.stderr))
    store = store if isinstance(store, RunStore) else RunStore(store)
    root = store.root.resolve()
    logs = Path(logs).expanduser().resolve() if logs is not None else root / LOGS
    requests = sweep_requests(experiment, profile, seeds, overrides, RunStore(root))
    todo = [r for r in requests if not (r.folder / RESULT).exists()]
    skipped = [r for r in requests if r not in todo]
    tasks = [RunTask(experiment, profile, r.seed, r.overrides, str(root), str(r.folder)) for r in todo]
    submitted = Submitted(tasks, [], skipped, logs, [])
    if not tasks:
        return submitted
    executor = _executor(cluster, logs, minutes=minutes, partition=partition, gpus_per_task=gpus_per_task,
                         cpus_per_task=cpus_per_task, array_parallelism=array_parallelism,
                         max_requeues=max_requeues, job_name=f"collapse-{experiment}")
    if cluster == "slurm":
        try:  # submitit echoes a refusing sbatch's stderr; its words go into the one error line instead
            with contextlib.redirect_stderr(io.StringIO()), executor.batch():
                submitted.jobs = [executor.submit(task) for task in tasks]
        except Exception as error:  # submitit's FailedJobError/FailedSubmissionError carry sbatch's own words
            said = [line.strip() for line in str(error).splitlines() if line.strip()]
            raise SettingError(f"sbatch refused the job array ({said[-1] if said else type(error).__name__}); "
                               "check --partition, --time, --gpus-per-task and --cpus-per-task.") from error
        return submitted
    parallelism = array_parallelism or max(1, usable_cores() // (cpus_per_task or 1))
    for task in tasks:  # the local executor confines nothing: each task takes its share of this machine's cores
        task.cores = cpus_per_task or max(1, usable_cores() // min(parallelism, len(tasks)))
    _run_locally(executor, tasks, submitted, parallelism, poll_s, report)
    return submitted


def _run_locally(executor, tasks, submitted: Submitted, parallelism: int, poll_s: float, report) -> None:
    """Submit to the local executor ``parallelism`` at a time and wait for every task."""
    pending, running = list(tasks), []
    try:
        while pending or running:
            while pending and len(running) < parallelism:
                task = pending.pop(0)
                job = executor.submit(task)
                submitted.jobs.append(job)
                running.append((task, job))
            time.sleep(poll_s)
            for task, job in list(running):
                if job.done():
                    running.remove((task, job))
                    failure = read_failure(Path(task.folder))
                    if failure is None:
                        try:
                            error = job.exception()
                        except Exception as problem:  # no result at all (the task was killed)
                            error = problem
                        if error is not None:
                            failure = (str(error).strip().splitlines() or [type(error).__name__])[-1]
                    if failure is None:
                        report(f"done seed={task.seed} {task.folder}")
                    else:
                        submitted.failed.append((task, failure))
                        report(f"failed seed={task.seed} {task.folder}: {failure}")
    except BaseException:
        for _, job in running:
            job.cancel(check=False)
        raise


# --- status ---------------------------------------------------------------------------------------

def run_state(folder: Path, n_generations: int | None) -> tuple[str, str]:
    """``(state, detail)`` of one run's folder: ``finished``; ``failed`` (with the error line);
    ``partial`` (with the generations saved); ``not started``. The detail of an unfinished run
    also names the process writing it, while one holds the run's lock."""

    folder = Path(folder)
    if (folder / RESULT).exists():
        return "finished", ""
    failure = read_failure(folder)
    saved = Run(folder, "", {}, 0).finished_generations() if folder.is_dir() else 0
    total = f" of {n_generations + 1}" if isinstance(n_generations, int) else ""
    reached = f"generations 0-{saved - 1}{total} saved" if saved else "no generation saved"
    writer = f"; being written by {_lock_holder(folder / LOCK)}" if (folder / LOCK).exists() else ""
    if failure is not None:
        return "failed", f"{failure} ({reached})"
    if saved or writer:  # a run being written has started, even before its first generation is saved
        return "partial", reached + writer
    return "not started", ""


def sweep_status(experiment: str, profile: str, seeds, overrides: dict, store=None) -> list[tuple[Request, str, str]]:
    """``[(request, state, detail)]`` for every run of a sweep in ``store`` (see :func:`run_state`)."""

    store = store if isinstance(store, RunStore) else RunStore(store)
    return [(r, *run_state(r.folder, r.settings.get("n_generations")))
            for r in sweep_requests(experiment, profile, seeds, overrides, store)]
