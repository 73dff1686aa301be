"""The experiments of the book: a registry, single runs through the run store, and sweeps.

An experiment is a function ``runner(settings, seed, run, progress) -> dict of arrays``
plus its default settings and a validator. :func:`run_experiment` fills in the defaults
and the profile, validates everything before any work, and returns the stored result if
the run has finished before (or resumes it if it was interrupted).
"""

from __future__ import annotations

import itertools
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from ..profiles import Sweep, profile_settings
from ..store import RunStore
from ..validation import SettingError, check_choice, check_finite_settings, check_seed


@dataclass(frozen=True)
class Experiment:
    """A registered experiment."""

    name: str
    runner: Callable
    defaults: dict
    validate: Callable[[dict], dict]
    description: str
    version: int = 1
    paper: dict = field(default_factory=dict)  # the paper's value of each setting that has one


EXPERIMENTS: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def get_experiment(name: str) -> Experiment:
    check_choice("experiment", name, EXPERIMENTS)
    return EXPERIMENTS[name]


def resolve_settings(name: str, profile: str = "book", **overrides) -> dict:
    """Defaults, then the profile, then ``overrides``; unknown setting names are an error.

    The result may hold :class:`~collapse_lib.profiles.Sweep` values.
    """
    experiment = get_experiment(name)
    settings = dict(experiment.defaults)
    settings.update(profile_settings(name, profile))
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


def validated_runs(name: str, profile: str, seeds, overrides: dict) -> list[tuple[dict, int]]:
    """All (settings, seed) pairs of a sweep, each validated before any of them runs."""
    experiment = get_experiment(name)
    seeds = [check_seed(s) for s in (seeds if isinstance(seeds, (list, tuple, range)) else [seeds])]
    settings = resolve_settings(name, profile, **overrides)
    return [(experiment.validate(check_finite_settings(single)), seed) for single in expand_sweep(settings)
            for seed in seeds]


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


def stored_run(name: str, settings: dict, seed: int, store: RunStore | None = None):
    """The :class:`~collapse_lib.store.Run` that holds (or will hold) one validated run."""
    return (store or RunStore()).run(name, settings, seed, get_experiment(name).version)


def _run_one(name: str, settings: dict, seed: int, store: RunStore | None, progress: bool) -> dict:
    experiment = get_experiment(name)
    run = stored_run(name, settings, seed, store)
    if run.is_finished():
        return run.load_result()
    result = experiment.runner(settings, seed, run=run, progress=progress)
    run.save_result(result)
    return result


def _run_one_star(args):
    name, settings, seed, root, progress = args
    _run_one(name, settings, seed, RunStore(root), progress)
    return settings, seed


def run_sweep(name: str, profile: str = "book", seeds=0, *, store: RunStore | None = None, jobs: int = 1,
              progress: bool = False, **overrides) -> list[tuple[dict, int, dict]]:
    """Run every (settings, seed) of a sweep into the store and return ``[(settings, seed, result)]``.

    ``jobs > 1`` runs them in that many independent processes; each run is independent,
    so the numbers do not depend on ``jobs``.
    """
    store = store or RunStore()
    runs = validated_runs(name, profile, seeds, overrides)
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
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
    """A Markdown table of the settings a chapter ran with, beside the paper's where it has one."""
    experiment = get_experiment(name)
    settings = resolve_settings(name, profile, **overrides)
    rows = ["| setting | this build (profile `%s`) | paper |" % profile, "|---|---|---|"]
    for key in sorted(settings):
        value = settings[key]
        shown = ", ".join(map(str, value)) if isinstance(value, (Sweep, list)) else str(value)
        rows.append(f"| `{key}` | {shown} | {experiment.paper.get(key, '')} |")
    return "\n".join(rows)
