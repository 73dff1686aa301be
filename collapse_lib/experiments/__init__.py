"""The experiments of the book: a registry, single runs through the run store, and sweeps.

An experiment is a function ``runner(settings, seed, run, progress) -> dict of arrays``
plus its typed spec (:mod:`collapse_lib.spec`): every setting's default, constraint, meaning and paper
value, and the three scale profiles, declared once. :func:`run_experiment` fills in the defaults
and the profile, validates everything before any work, and returns the stored result if
the run has finished before (or resumes it if it was interrupted).

Same seed, same numbers: a run's key (:func:`run_key`) holds everything that changes its numbers
(the validated settings, the seed, the identity of the data it reads) and nothing that does not
(the machine-only settings, such as ``device`` and ``threads``). Validated settings are portable:
what a machine resolves for itself (``device="auto"``, ``data="auto"``, sizes clamped to the data)
is resolved when the run starts (:func:`resolve_run`) and recorded in the run's ``settings.json``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..profiles import Sweep, check_profile
from ..spec import ExperimentSpec
from ..store import Run, RunStore, settings_key
from ..validation import SettingError, check_choice, check_finite_settings, check_seed


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: its ``runner(settings, seed, run, progress) -> dict of arrays`` and its typed
    ``spec`` (:class:`~collapse_lib.spec.ExperimentSpec`), which holds every setting's default, constraint,
    meaning and paper value, the machine-only settings (``device``, ``threads``: left out of the run's key),
    the three profiles, and the hooks ``resolve`` (the settings as this machine runs them, called when a run
    starts) and ``data_identity`` (the data a run reads, part of its key). ``version`` is the version of the
    runner's results: a change that moves a number a run records bumps it (a newly recorded quantity that moves
    no other need not: older runs then lack it).
    """

    name: str
    runner: Callable
    spec: type[ExperimentSpec]
    description: str
    version: int = 1

    @property
    def defaults(self) -> dict:
        return self.spec.defaults()

    @property
    def paper(self) -> dict:
        return self.spec.paper_values()

    @property
    def machine_settings(self) -> tuple:
        return self.spec.machine_settings()

    def validate(self, settings: dict) -> dict:
        return self.spec.validate(settings)

    def profile(self, profile: str) -> dict:
        """The settings ``profile`` changes (may hold :class:`~collapse_lib.profiles.Sweep` values)."""
        check_profile(profile)
        return dict(self.spec.profiles.get(profile, {}))


EXPERIMENTS: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def register_spec(name: str, runner: Callable, spec: type[ExperimentSpec], description: str,
                  version: int = 1) -> Experiment:
    """Register experiment ``name``: ``runner(settings, seed, run, progress)`` with the settings of ``spec``."""
    spec.check_profiles()
    return register(Experiment(name, runner, spec, description, version))


def get_experiment(name: str) -> Experiment:
    check_choice("experiment", name, EXPERIMENTS)
    return EXPERIMENTS[name]


def resolve_settings(name: str, profile: str = "book", **overrides) -> dict:
    """Defaults, then the profile, then ``overrides``; unknown setting names are an error.

    The result may hold :class:`~collapse_lib.profiles.Sweep` values.
    """
    experiment = get_experiment(name)
    settings = dict(experiment.defaults)
    settings.update(experiment.profile(profile))
    unknown = sorted(set(overrides) - set(settings))
    if unknown:
        raise SettingError(f"unknown setting(s) {', '.join(unknown)} for experiment {name!r}; "
                           f"known settings: {', '.join(sorted(settings))}.")
    settings.update(overrides)
    return settings


def expand_sweep(settings: dict) -> list[dict]:
    """Every combination of the :class:`Sweep` values in ``settings``, as single-run settings."""
    keys = [k for k, v in settings.items() if isinstance(v, Sweep)]
    combos = itertools.product(*(settings[k] for k in keys))
    return [{**settings, **dict(zip(keys, combo))} for combo in combos]


def pinned_overrides(name: str, profile: str, overrides: dict) -> list[dict]:
    """The overrides that make each combination of a sweep one run: the user's own single values, with
    every swept setting (the user's or the profile's) pinned to this combination's value.

    Never what a machine resolves (device, data, threads): these are what ``--print-commands`` prints
    and what a submitted task validates on its own node.
    """
    settings = resolve_settings(name, profile, **overrides)
    swept = [key for key, value in settings.items() if isinstance(value, Sweep)]
    fixed = {key: value for key, value in overrides.items() if not isinstance(value, Sweep)}
    return [{**fixed, **{key: single[key] for key in swept}} for single in expand_sweep(settings)]


def validated_runs(name: str, profile: str, seeds, overrides: dict) -> list[tuple[dict, int]]:
    """All (settings, seed) pairs of a sweep, each validated before any of them runs.

    A pair that repeats another (``--seed 0,0``, ``policy=accumulate,accumulate``, or two values
    that validate to the same run) is kept once, at its first place.
    """
    experiment = get_experiment(name)
    seeds = [check_seed(s) for s in (seeds if isinstance(seeds, (list, tuple, range)) else [seeds])]
    settings = resolve_settings(name, profile, **overrides)
    runs, seen = [], set()
    for single in expand_sweep(settings):
        validated = experiment.validate(check_finite_settings(single))
        for seed in seeds:
            # all validated settings, machine-only ones too: a sweep over ``data`` keeps each source (the
            # data's identity, which tells them apart in the key, is not read during validation); a
            # repeat that still maps to one run is serialised by the run's lock
            token = json.dumps([validated, seed], sort_keys=True, default=str)
            if token not in seen:
                seen.add(token)
                runs.append((validated, seed))
    return runs


def run_experiment(name: str, profile: str = "book", seed: int = 0, *, store: RunStore | None = None,
                   progress: bool = False, **overrides) -> dict:
    """Run (or load) one run of experiment ``name`` and return its arrays.

    Every setting must be a single value after the profile and ``overrides`` are applied;
    pass a value for each swept setting (see :func:`resolve_settings`).
    """
    runs = validated_runs(name, profile, seed, overrides)
    if len(runs) != 1:
        swept = [k for k, v in resolve_settings(name, profile, **overrides).items() if isinstance(v, Sweep)]
        raise SettingError(f"profile {profile!r} sweeps {', '.join(swept)} for {name!r}; pass one value of "
                           f"each (e.g. {swept[0]}=...) or use run_sweep.")
    settings, seed = runs[0]
    return _run_one(name, settings, seed, store, progress)


def portable_settings(name: str, settings: dict) -> dict:
    """Validated ``settings`` without the experiment's machine-only ones (the settings of the key)."""
    machine = get_experiment(name).machine_settings
    return {key: value for key, value in settings.items() if key not in machine}


def data_identity(name: str, settings: dict) -> str | None:
    """The identity of the data a run of ``name`` with these settings reads on this machine (``None``: no dataset)."""
    return get_experiment(name).spec.data_identity(settings)


def run_key(name: str, settings: dict, seed: int) -> str:
    """The key of one run: a hash of the experiment, its version, the validated ``settings`` without
    the machine-only ones, the ``seed`` and the identity of the data (see the module).

    ``settings`` are one run's validated settings (as :func:`validated_runs` returns them); the run's
    folder is ``<store root>/<name>/<key>`` (:func:`stored_run`).
    """
    return settings_key(name, portable_settings(name, settings), seed, get_experiment(name).version,
                        data_identity(name, settings))


def stored_run(name: str, settings: dict, seed: int, store: RunStore | None = None):
    """The :class:`~collapse_lib.store.Run` that holds (or will hold) one validated run."""
    experiment = get_experiment(name)
    return (store or RunStore()).run(name, portable_settings(name, settings), seed, experiment.version,
                                     data_identity(name, settings))


def stored_results(name: str, profile: str = "book", seeds=0, store: RunStore | Sequence[RunStore] | None = None,
                   partial: bool = False, **overrides) -> list[tuple[dict, int, dict]]:
    """``[(settings, seed, result)]`` of the runs of a sweep that are already finished in the run store; nothing
    is computed (for runs of hours that are made headless, e.g. ``language_model_pretrained``, and drawn by a
    chapter when present).

    ``store`` may be a list of stores (e.g. :func:`collapse_lib.store.search_stores`), searched in order: a run is
    taken from the first that holds it finished. ``partial=True`` adds the runs still under way that have finished
    at least generation 0 (from the store where most generations are finished): their ``result`` holds each
    recorded quantity stacked over the finished generations (``generation`` says which) and
    ``"finished": False``; a finished run's result has ``"finished": True``. Given a list of stores, every
    result also says in ``"store"`` which folder it came from.
    """
    several = not (store is None or isinstance(store, (RunStore, str, os.PathLike)))
    stores = [s if isinstance(s, RunStore) else RunStore(s) for s in (store if several else [store or RunStore()])]
    found = []
    for settings, seed in validated_runs(name, profile, seeds, overrides):
        runs = [stored_run(name, settings, seed, s) for s in stores]
        done = next((run for run in runs if run.is_finished()), None)
        under_way = max(runs, key=Run.finished_generations, default=None) if partial and done is None else None
        if done is not None:
            result = {**done.load_result(), **({"finished": True} if partial else {})}
        elif under_way is not None and under_way.finished_generations():
            records = [under_way.load_record(g) for g in range(under_way.finished_generations())]
            result = {key: np.stack([r[key] for r in records]) for key in records[0]}
            result.update(generation=np.arange(len(records)), finished=False)
        else:
            continue
        if several:
            result["store"] = str((done or under_way).store.root)
        found.append((settings, seed, result))
    return found


def resolve_run(name: str, settings: dict) -> dict:
    """The settings a run of ``name`` computes with on this machine (``"auto"`` values resolved)."""
    return get_experiment(name).spec.resolve(dict(settings))


def _run_one(name: str, settings: dict, seed: int, store: RunStore | None, progress: bool) -> dict:
    experiment = get_experiment(name)
    run = stored_run(name, settings, seed, store)
    result = run.intact_result()
    if result is not None:
        return result
    with run.writing():  # one writer per run: a second process waits here, then finds the result
        result = run.intact_result(repair=True)
        if result is not None:
            return result
        resolved = resolve_run(name, settings)
        run.record_machine(resolved, str(resolved.get("device", "cpu")))
        result = experiment.runner(resolved, seed, run=run, progress=progress)
        run.save_result(result)
    return result


def _run_one_star(args):
    name, settings, seed, root, progress = args
    _run_one(name, settings, seed, RunStore(root), progress)
    return settings, seed


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(0.5)


def _set_parent_death_signal() -> bool:
    """Linux: ask the kernel to SIGKILL this process when its parent dies; whether that worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def die_with_parent(parent: int) -> None:
    """End this process when process ``parent`` (the one that started it) dies.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, so the kernel kills it at once (a worker killed
    mid-generation leaves only whole files, and its run lock is taken over at once); the kernel
    watches the parent's thread that started the worker, which for :func:`worker_pool` is the
    thread that submits the work and waits for it. Elsewhere, or if that call fails: a daemon
    thread that checks ``os.getppid()`` twice a second.
    """
    if _set_parent_death_signal():
        if os.getppid() != parent:  # it died before the call
            os._exit(1)
        return
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="watch-parent").start()


def worker_start_method() -> str:
    """How :func:`worker_pool` starts its workers: ``"spawn"`` (a fresh interpreter) once this process has
    loaded PyTorch, else ``"fork"``.

    A process forked after its parent has run PyTorch (a VAE trained in a notebook, say) inherits PyTorch's
    thread pool with its locks held and can hang in its first torch call. A fresh worker imports the library
    again (about a second) and is still this process's child, so :func:`die_with_parent` holds; but a fresh
    worker also re-reads the script that started it, so a script must call :func:`run_sweep` under
    ``if __name__ == "__main__":`` (notebooks and ``python -m collapse_lib`` need nothing). Without PyTorch
    loaded, forking is safe and costs nothing.
    """
    return "spawn" if "torch" in sys.modules else "fork"


def worker_pool(jobs: int) -> ProcessPoolExecutor:
    """A pool of ``jobs`` processes that stop when this process dies (see :func:`die_with_parent`), started
    as :func:`worker_start_method` says."""
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(worker_start_method()),
                               initializer=die_with_parent, initargs=(os.getpid(),))


def run_sweep(name: str, profile: str = "book", seeds=0, *, store: RunStore | None = None, jobs: int = 1,
              progress: bool = False, **overrides) -> list[tuple[dict, int, dict]]:
    """Run every (settings, seed) of a sweep into the store and return ``[(settings, seed, result)]``.

    Repeated (settings, seed) pairs run once (see :func:`validated_runs`). ``jobs > 1`` runs them
    in that many independent processes, which stop if this one dies; each run is independent,
    so the numbers do not depend on ``jobs``.
    """
    return run_validated(name, validated_runs(name, profile, seeds, overrides), store=store, jobs=jobs,
                         progress=progress)


def run_validated(name: str, runs: list[tuple[dict, int]], *, store: RunStore | None = None, jobs: int = 1,
                  progress: bool = False) -> list[tuple[dict, int, dict]]:
    """Run (or load) validated ``(settings, seed)`` pairs (from :func:`validated_runs`, perhaps of several
    sweeps) into the store, ``jobs`` at a time in independent processes; ``[(settings, seed, result)]``."""
    store = store or RunStore()
    if jobs > 1:
        pending = [(s, seed) for s, seed in runs if not stored_run(name, s, seed, store).is_finished()]
        with worker_pool(max(1, min(jobs, len(runs)))) as pool:
            if len(pending) > 1:  # what the runs share, built first, side by side (in workers, so that this
                # process stays free of torch and its workers can be forked), then the runs side by side
                builds = get_experiment(name).spec.shared_builds(pending, store)
                for done in [pool.submit(build, *args) for build, args in builds]:
                    done.result()
            list(pool.map(_run_one_star, [(name, s, seed, store.root, progress) for s, seed in runs]))
    return [(s, seed, _run_one(name, s, seed, store, progress)) for s, seed in runs]


def _register_all() -> None:
    """Import every module of this package: each registers its experiments."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_register_all()


def settings_table(name: str, profile: str, **overrides) -> str:
    """A Markdown table of the settings a chapter ran with, beside the paper's where it has one, and what
    each means (from the experiment's spec: the same fields as the command line's help)."""
    experiment = get_experiment(name)
    settings = resolve_settings(name, profile, **overrides)
    spec = experiment.spec
    rows = ["| setting | this build (profile `%s`) | paper | meaning |" % profile, "|---|---|---|---|"]
    for key in sorted(settings):
        value = settings[key]
        shown = ", ".join(map(str, value)) if isinstance(value, (Sweep, list)) else str(value)
        meaning = spec.help(key).replace("|", "\\|")
        rows.append(f"| `{key}` | {shown} | {experiment.paper.get(key, '')} | {meaning} |")
    return "\n".join(rows)
