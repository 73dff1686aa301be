"""What the environment tells the library, read in one place.

============================  ===========================================================
variable                      meaning
============================  ===========================================================
``COLLAPSE_DATA_DIR``         a folder of datasets laid out like ``shared/data``
                              (``mnist/``, ``wikitext-2-raw/``); see :func:`data_dir`
``COLLAPSE_CACHE``            where downloads are cached; default: the user's cache folder
                              (``$XDG_CACHE_HOME/collapse_lib/data``, ``~/.cache/...``)
``COLLAPSE_RUNS``             the run store; default ``<user cache>/collapse_lib/runs``
``COLLAPSE_OFFLINE``          ``1``/``true``/``yes``: never touch the network (``0``/``false``/``no``:
                              the default); any other value is an error
``COLLAPSE_PROFILE``          the profile of a book build (``make book PROFILE=...``); it
                              replaces a chapter's default, never a profile passed explicitly
``SLURM_CPUS_PER_TASK``       set by Slurm: caps :func:`usable_cores` (the default ``--jobs`` and
                              a submitted task's thread count) at the cores allocated
============================  ===========================================================

A relative folder is resolved **once**, against the directory it was given in, and the
absolute path is written back into the environment, so that every process started later (a
chapter's kernel, which runs in ``chapters/``; a sweep's workers) reads the same folder. The
directory it was given in is ``$PWD``, the shell's working directory, which a kernel started in
another folder inherits; without it, the current directory.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Callable

from .validation import SettingError

APP = "collapse_lib"
TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class EnvironmentSettingError(SettingError):
    """An environment variable has a value the library cannot use; the message names it and the fix."""


def _given_in() -> Path:
    """The directory a relative path in the environment was given in: ``$PWD`` if it names the
    current directory or a real folder, else the current directory."""
    pwd = os.environ.get("PWD")
    return Path(pwd) if pwd and Path(pwd).is_absolute() and Path(pwd).is_dir() else Path.cwd()


def env_folder(name: str) -> Path | None:
    """The folder named by environment variable ``name`` as an absolute path, or ``None`` if unset.

    A relative value is resolved against the directory it was given in (see the module) and the
    absolute path is stored back in ``os.environ[name]``.
    """
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = (_given_in() / path).resolve()
        os.environ[name] = str(path)
    return path


def user_cache() -> Path:
    """The user's cache folder for this library (platformdirs: ``$XDG_CACHE_HOME/collapse_lib`` on Linux,
    ``~/Library/Caches/collapse_lib`` on macOS, ``%LOCALAPPDATA%\\collapse_lib\\Cache`` on Windows)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def cache_dir() -> Path:
    """Where downloaded datasets are cached: ``$COLLAPSE_CACHE`` or ``<user cache>/data``."""
    return env_folder("COLLAPSE_CACHE") or user_cache() / "data"


def runs_root() -> Path:
    """The default run store: ``$COLLAPSE_RUNS`` or :func:`user_runs_root`."""
    return env_folder("COLLAPSE_RUNS") or user_runs_root()


def user_runs_root() -> Path:
    """The user's own run store, ``<user cache>/runs``: where ``python -m collapse_lib run`` writes when
    ``$COLLAPSE_RUNS`` is unset; ``make book`` reads it but never clears it."""
    return user_cache() / "runs"


def offline() -> bool:
    """``$COLLAPSE_OFFLINE`` as a boolean; every loader checks it before it downloads anything."""
    value = os.environ.get("COLLAPSE_OFFLINE", "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise EnvironmentSettingError(f"COLLAPSE_OFFLINE={value!r} is not a yes/no value; use 1 (offline) or 0, "
                                  "or unset it.")


def usable_cores() -> int:
    """The CPU cores this process may run on: what a scheduler allocated, not the node's count.

    The smallest of the process's CPU affinity mask (Linux; a Slurm task confined by cgroups or
    ``task/affinity`` sees only its cores there) and ``$SLURM_CPUS_PER_TASK`` (set by Slurm to
    ``--cpus-per-task`` even where the task is not confined). Without an affinity mask (macOS,
    Windows) the machine's count; a missing or unreadable ``SLURM_CPUS_PER_TASK`` is ignored.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        cores = os.cpu_count() or 1
    allocated = os.environ.get("SLURM_CPUS_PER_TASK", "").strip()
    if allocated.isdigit() and int(allocated) > 0:
        cores = min(cores, int(allocated))
    return max(1, cores)


#: The variables that decide where datasets are read from.
DATA_VARIABLES = ("COLLAPSE_DATA_DIR", "COLLAPSE_CACHE", "COLLAPSE_OFFLINE", "XDG_CACHE_HOME", "HOME", "PWD")


def data_environment() -> tuple:
    """The values of :data:`DATA_VARIABLES`: what decides which data a process reads."""
    return tuple(os.environ.get(name, "") for name in DATA_VARIABLES)


def memoise_per_data_environment(key: Callable[..., object] | None = None):
    """Decorator: the library's one in-process memo of loaded data (a dataset read, which source a run reads).

    The decorated function runs once per :func:`data_environment` and per ``key(*args, **kwargs)`` (default:
    the arguments); only the latest result is kept, so memory holds one dataset. ``key`` can add what else
    changes the result, e.g. the files' modification times. ``function.cache_clear()`` forgets it.
    """
    def decorate(function):
        memo: dict = {}

        @functools.wraps(function)
        def memoised(*args, **kwargs):
            token = (data_environment(), key(*args, **kwargs) if key is not None else (args, tuple(sorted(kwargs.items()))))
            if token not in memo:
                memo.clear()
                memo[token] = function(*args, **kwargs)
            return memo[token]

        memoised.cache_clear = memo.clear
        return memoised
    return decorate
