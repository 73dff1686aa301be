"""The run store: finished generations on disk, written atomically, keyed by settings and seed.

Layout::

    <root>/<experiment>/<key>/settings.json      what produced the run (for people)
    <root>/<experiment>/<key>/gen_000042.npz     one finished generation's record (while running)
    <root>/<experiment>/<key>/params_000042.npz  the newest finished generation's model (while running)
    <root>/<experiment>/<key>/result.npz         the whole run, once it has finished

``key`` is a hash of the experiment's name, its result version, its full settings and the
seed. Every file is written to a temporary name in the same folder and then renamed
(``os.replace``), so a run killed at any moment leaves only whole files behind. The root is
``$COLLAPSE_RUNS`` when set (a relative value is read against the directory it was given in), else
``<user cache>/collapse_lib/runs``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .environment import runs_root

RESULT = "result.npz"


def default_root() -> Path:
    """``$COLLAPSE_RUNS`` or ``<user cache>/collapse_lib/runs`` (:func:`collapse_lib.environment.runs_root`)."""
    return runs_root()


def settings_key(experiment: str, settings: dict, seed: int, version: int) -> str:
    """A stable 16-hex-digit key for one run."""
    text = json.dumps({"experiment": experiment, "settings": settings, "seed": seed, "version": version},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _flatten(groups: dict) -> dict:
    return {f"{group}/{name}": value for group, arrays in groups.items() if arrays is not None
            for name, value in arrays.items()}


def _unflatten(flat) -> dict:
    groups: dict = {}
    for key in flat.files:
        group, name = key.split("/", 1)
        groups.setdefault(group, {})[name] = flat[key]
    return groups


def atomic_write_bytes(path: Path, writer, durable: bool = False) -> None:
    """Call ``writer(file)`` on a temporary file next to ``path``, then rename it into place.

    The rename makes the write atomic against the process being killed at any moment;
    ``durable=True`` also flushes the file to disk first (``fsync``), against power loss.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            writer(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npz(path: Path, arrays: dict, durable: bool = False) -> None:
    """Write ``arrays`` (name -> ndarray) to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, lambda handle: np.savez(handle, **arrays), durable)


class Run:
    """One run's folder: its finished generations and, once complete, its result."""

    def __init__(self, path: Path, experiment: str, settings: dict, seed: int):
        self.path, self.experiment, self.settings, self.seed = Path(path), experiment, settings, seed

    def __repr__(self) -> str:
        return f"Run({self.experiment!r}, seed={self.seed}, path='{self.path}')"

    @property
    def store(self) -> "RunStore":
        """The store this run lives in (a run's folder is ``<root>/<experiment>/<key>``)."""
        return RunStore(self.path.parent.parent)

    def _generation_path(self, generation: int) -> Path:
        return self.path / f"gen_{generation:06d}.npz"

    def is_finished(self) -> bool:
        return (self.path / RESULT).exists()

    def finished_generations(self) -> int:
        """How many consecutive generations, from 0, are saved."""
        count = 0
        while self._generation_path(count).exists():
            count += 1
        return count

    def _params_path(self, generation: int) -> Path:
        return self.path / f"params_{generation:06d}.npz"

    def save_generation(self, generation: int, record: dict, params: dict, added: dict | None) -> None:
        """Save one finished generation (atomically).

        The record (and the data added to the pool) of every generation is kept; the model's
        parameters only for the newest one, which is all that resuming needs. Order of writes:
        parameters, then the generation's record, then the previous parameters are removed, so
        a kill between any two steps leaves the parameters of the last finished generation.
        """
        if generation == 0:
            self.path.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"experiment": self.experiment, "seed": self.seed, "settings": self.settings},
                              indent=2, sort_keys=True, default=str)
            atomic_write_bytes(self.path / "settings.json", lambda h: h.write(text.encode()))
        save_npz(self._params_path(generation), params)
        save_npz(self._generation_path(generation), _flatten({"record": record, "added": added}))
        if generation > 0:
            self._params_path(generation - 1).unlink(missing_ok=True)

    def load_generation(self, generation: int) -> dict:
        """``{"record": ..., "added": ..., "params": ...}`` of a saved generation.

        ``params`` is ``None`` except for the last finished generation.
        """
        with np.load(self._generation_path(generation), allow_pickle=False) as flat:
            groups = _unflatten(flat)
        groups.setdefault("added", None)
        groups["params"] = None
        if self._params_path(generation).exists():
            with np.load(self._params_path(generation), allow_pickle=False) as params:
                groups["params"] = {key: params[key] for key in params.files}
        return groups

    def save_result(self, result: dict) -> None:
        """Save the finished run and remove its per-generation files."""
        save_npz(self.path / RESULT, result, durable=True)
        for pattern in ("gen_*.npz", "params_*.npz", ".*.tmp"):
            for path in self.path.glob(pattern):
                path.unlink()

    def load_result(self) -> dict:
        """The finished run's arrays; raises a clear error if the file is damaged."""
        try:
            with np.load(self.path / RESULT, allow_pickle=False) as data:
                return {key: data[key] for key in data.files}
        except (zipfile.BadZipFile, ValueError, EOFError, OSError) as error:
            raise RuntimeError(
                f"the stored result {self.path / RESULT} is unreadable ({error}); delete that folder "
                "to recompute the run."
            ) from error


class RunStore:
    """Runs on disk under ``root`` (default :func:`default_root`)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()

    def __repr__(self) -> str:
        return f"RunStore('{self.root}')"

    def run(self, experiment: str, settings: dict, seed: int, version: int = 1) -> Run:
        """The run of ``experiment`` with these ``settings`` and ``seed`` (it may not exist yet)."""
        key = settings_key(experiment, settings, seed, version)
        return Run(self.root / experiment / key, experiment, settings, seed)
