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
============================  ===========================================================

A relative folder is resolved **once**, against the directory it was given in, and the
absolute path is written back into the environment, so that every process started later (a
chapter's kernel, which runs in ``chapters/``; a sweep's workers) reads the same folder. The
directory it was given in is ``$PWD``, the shell's working directory, which a kernel started in
another folder inherits; without it, the current directory.
"""

from __future__ import annotations

import os
from pathlib import Path

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
    """The default run store: ``$COLLAPSE_RUNS`` or ``<user cache>/runs``."""
    return env_folder("COLLAPSE_RUNS") or user_cache() / "runs"


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
    """The CPU cores this process may run on: its affinity mask where the system has one (Linux),
    else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return os.cpu_count() or 1
