"""The run store: finished generations on disk, written atomically, keyed by what makes the numbers.

Layout::

    <root>/<experiment>/<key>/settings.json      what produced the run (for people; never read for the key)
    <root>/<experiment>/<key>/.lock              while a process writes the run (see :func:`writer_lock`)
    <root>/<experiment>/<key>/gen_000042.npz     one finished generation's record (while running)
    <root>/<experiment>/<key>/params_000042.npz  the fitted state of generation 0 (the reference) and of the two newest
    <root>/<experiment>/<key>/result.npz         the whole run, once it has finished

``key`` (:func:`settings_key`) is a hash of the experiment's name, its result version, its settings
as asked and validated without the machine-only ones (device, threads), the seed and, for an
experiment that reads a dataset, the identity of the data actually used
(:func:`collapse_lib.experiments.run_key` builds it). The same run therefore has the same key on
every machine, and a run on other data never has the key of one on the real data.

Reliability:

* every file is written to a temporary name in the same folder and then renamed (``os.replace``),
  so a run killed at any moment leaves only whole files behind; files get the permissions the
  user's umask allows (``0o666 & ~umask``), like any file the user creates;
* one process at a time writes a run (:meth:`Run.writing`); a second one waits, then reuses the
  result or resumes what the first left if it died;
* resuming checks every saved file (:meth:`Run.resume`): a damaged, empty or missing one is named
  in one line on stderr and the run resumes from the last intact generation whose model is saved,
  so it ends with exactly the numbers of an uninterrupted run; a damaged ``result.npz`` is named
  and recomputed; stray temporary files are removed and ``settings.json`` rewritten when it is
  missing or damaged.

The root is ``$COLLAPSE_RUNS`` when set (a relative value is read against the directory it was
given in), else ``<user cache>/collapse_lib/runs``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from .environment import runs_root, user_runs_root

RESULT = "result.npz"
SETTINGS = "settings.json"
LOCK = ".lock"
#: Seconds a writer on another host may go without refreshing its lock before a waiting process
#: takes the run over (a dead writer on the same host is noticed at once, by its process id).
LEASE_SECONDS = 120.0

_GENERATION = re.compile(r"gen_(\d{6})\.npz")
_PARAMS = re.compile(r"params_(\d{6})\.npz")


def default_root() -> Path:
    """``$COLLAPSE_RUNS`` or ``<user cache>/collapse_lib/runs`` (:func:`collapse_lib.environment.runs_root`)."""
    return runs_root()


def settings_key(experiment: str, settings: dict, seed: int, version: int, data: str | None = None) -> str:
    """A stable 16-hex-digit key for one run.

    ``settings`` should hold only what changes the numbers (the experiments pass their settings
    without the machine-only ones); ``data`` is the identity of the dataset the run reads (``None``:
    none, and then the key is what it was before datasets had identities).
    """
    content = {"experiment": experiment, "settings": settings, "seed": seed, "version": version}
    if data is not None:
        content["data"] = data
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def warn(message: str) -> None:
    """One line on stderr, as the run store reports a file it repaired or a writer it waits for."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _why(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return type(error).__name__ + (f": {text[0]}" if text else "")


def _flatten(groups: dict) -> dict:
    return {f"{group}/{name}": value for group, arrays in groups.items() if arrays is not None
            for name, value in arrays.items()}


def _unflatten(flat) -> dict:
    groups: dict = {}
    for key in flat.files:
        group, name = key.split("/", 1)
        groups.setdefault(group, {})[name] = flat[key]
    return groups


def read_npz(path: Path) -> dict:
    """Every array of an ``.npz`` file, read in full (so a damaged member raises here, not later)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """This process's umask, read without changing it where the system allows (Linux ``/proc``); read at
    every write, since a process may change its umask."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # elsewhere the only way to read it is to set it (for an instant) and set it back
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, writer, durable: bool = False) -> None:
    """Call ``writer(file)`` on a temporary file next to ``path``, then rename it into place.

    The rename makes the write atomic against the process being killed at any moment;
    ``durable=True`` also flushes the file to disk first (``fsync``), against power loss. The
    file gets mode ``0o666 & ~umask`` (``tempfile.mkstemp`` creates ``0o600``), so that others
    read it as the user's umask allows, as they would any file the user creates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            with contextlib.suppress(OSError, NotImplementedError, AttributeError):  # no fchmod on Windows
                os.fchmod(handle.fileno(), 0o666 & ~current_umask())
            writer(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        # Ctrl-C inside the writer can surface as another error raised while the writer cleans up
        # (np.savez's zip file: "Can't close the ZIP file..."): report the interruption itself
        cause = error.__context__
        while cause is not None and not isinstance(cause, KeyboardInterrupt):
            cause = cause.__context__
        if cause is not None and not isinstance(error, KeyboardInterrupt):
            raise KeyboardInterrupt from error
        raise


def save_npz(path: Path, arrays: dict, durable: bool = False) -> None:
    """Write ``arrays`` (name -> ndarray) to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, lambda handle: np.savez(handle, **arrays), durable)


def _lock_holder(path: Path) -> str:
    """Who holds the lock file ``path``, from its record (``pid=`` and ``host=`` lines)."""
    try:
        fields = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    except OSError:
        return "another process"
    if "pid" not in fields:
        return "another process"
    return f"process {fields['pid']} on {fields.get('host', 'an unknown host')}"


@contextlib.contextmanager
def writer_lock(path: Path, what: str | None = None):
    """Hold the lock file ``path`` for the ``with`` block; wait (saying so once on stderr) while another holds it.

    The lock is filelock's :class:`~filelock.SoftFileLease`: the file is created with
    ``O_CREAT | O_EXCL`` and records the holder's host and process id, and the holder refreshes it
    from a background thread. Why this lock and not the ``flock`` of :class:`filelock.FileLock`:

    * exclusive creation is coherent on the shared and cluster file systems a run store lives on
      (NFS, Lustre, GPFS, BeeGFS), where ``flock`` is unsupported or, on some, only local to one host;
    * a holder that dies on this host is noticed at once (its process id is gone), so a waiting
      process takes over immediately; one that dies on another host is taken over once its lock
      has gone :data:`LEASE_SECONDS` unrefreshed.

    A lease can in principle expire under a holder that was frozen longer than that (suspended,
    swapped out); the two writers then write the same files atomically with the same numbers, so
    the store stays whole.
    """
    import filelock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def lost(compromise) -> None:
        warn(f"the lock {path} was lost ({compromise.reason}); another process may now write {what or path.parent}")

    lock = filelock.SoftFileLease(path, lease_duration=LEASE_SECONDS, on_compromise=lost)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        warn(f"{what or path.parent} is being written by {_lock_holder(path)}; waiting for it to finish")
        lock.acquire(timeout=-1, poll_interval=0.2)
    try:
        yield
    finally:
        lock.release()


class RunFileError(RuntimeError):
    """A file of a run is unreadable; the message names it."""


class Run:
    """One run's folder: its finished generations and, once complete, its result.

    ``settings`` are the run's portable settings (those of its key), ``data`` the identity of
    its data (or ``None``).
    """

    def __init__(self, path: Path, experiment: str, settings: dict, seed: int, data: str | None = None,
                 version: int = 1):
        self.path, self.experiment, self.settings, self.seed = Path(path), experiment, settings, seed
        self.data, self.version = data, version

    def __repr__(self) -> str:
        return f"Run({self.experiment!r}, seed={self.seed}, path='{self.path}')"

    @property
    def key(self) -> str:
        return self.path.name

    @property
    def store(self) -> "RunStore":
        """The store this run lives in (a run's folder is ``<root>/<experiment>/<key>``)."""
        return RunStore(self.path.parent.parent)

    def _generation_path(self, generation: int) -> Path:
        return self.path / f"gen_{generation:06d}.npz"

    def _params_path(self, generation: int) -> Path:
        return self.path / f"params_{generation:06d}.npz"

    def _numbered(self, pattern: re.Pattern) -> list[int]:
        if not self.path.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.path.iterdir() if (m := pattern.fullmatch(p.name)))

    # --- the result ------------------------------------------------------------------------------

    def saved_models(self) -> list[int]:
        """The generations whose fitted model is saved: generation 0 and the newest two while the run is under way
        (see :meth:`save_generation`), none once it is finished."""
        return self._numbered(_PARAMS)

    def is_finished(self) -> bool:
        return (self.path / RESULT).exists()

    def load_result(self) -> dict:
        """The finished run's arrays; raises :class:`RunFileError` naming the file if it is damaged."""
        try:
            return read_npz(self.path / RESULT)
        except Exception as error:
            raise RunFileError(f"the stored result {self.path / RESULT} is unreadable ({_why(error)}); "
                               "running the experiment again recomputes it.") from error

    def intact_result(self, repair: bool = False) -> dict | None:
        """The finished run's arrays, or ``None`` when there is no result or it is damaged.

        With ``repair=True`` (only while holding the run, see :meth:`writing`) a damaged result is
        named on stderr and removed, so that the run is computed again.
        """
        if not self.is_finished():
            return None
        try:
            result = self.load_result()
        except RunFileError as error:
            if repair:
                warn(f"{self.path / RESULT} is damaged ({_why(error.__cause__)}); computing the run again")
                (self.path / RESULT).unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):  # a read-only store is still read
            self._check_settings_file()
        return result

    def save_result(self, result: dict) -> None:
        """Save the finished run and remove its per-generation files."""
        save_npz(self.path / RESULT, result, durable=True)
        for pattern in ("gen_*.npz", "params_*.npz", ".*.tmp"):
            for path in self.path.glob(pattern):
                path.unlink(missing_ok=True)

    # --- settings.json ---------------------------------------------------------------------------

    def _settings_info(self) -> dict | None:
        try:
            info = json.loads((self.path / SETTINGS).read_text())
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) and "settings" in info else None

    def _write_settings(self, info: dict) -> None:
        text = json.dumps(info, indent=2, sort_keys=True, default=str) + "\n"
        atomic_write_bytes(self.path / SETTINGS, lambda handle: handle.write(text.encode()))

    def _base_info(self) -> dict:
        return {"experiment": self.experiment, "version": self.version, "key": self.key, "seed": self.seed,
                "settings": self.settings, "data": self.data}

    def _check_settings_file(self) -> dict:
        """``settings.json``, rewritten first when it is missing or damaged."""
        info = self._settings_info()
        if info is None:
            if (self.path / SETTINGS).exists():
                warn(f"{self.path / SETTINGS} is damaged; writing it again")
            info = self._base_info()
            self._write_settings(info)
        return info

    def record_machine(self, resolved: dict, device: str) -> None:
        """Add to ``settings.json`` the settings this machine resolved for the run and its device.

        ``settings`` (the key's) and ``resolved`` differ where a setting is resolved per machine
        (``device="auto"``, ``data="auto"``); ``devices`` lists every device that worked on the run.
        """
        info = {**(self._settings_info() or {}), **self._base_info()}
        info["resolved"] = resolved
        info.setdefault("device", device)
        devices = list(info.get("devices") or [])
        if device not in devices:
            devices.append(device)
        info["devices"] = devices
        self._write_settings(info)

    # --- writing ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self):
        """Hold this run for writing: one process at a time (see :func:`writer_lock`).

        On entry, temporary files that a killed writer left are removed and ``settings.json`` is
        written if it is missing or damaged.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        with writer_lock(self.path / LOCK, f"run {self.path}"):
            for stray in self.path.glob(".*.tmp"):
                stray.unlink(missing_ok=True)
            self._check_settings_file()
            yield self

    def finished_generations(self) -> int:
        """How many consecutive generations, from 0, have a file (without reading them)."""
        count = 0
        while self._generation_path(count).exists():
            count += 1
        return count

    def save_generation(self, generation: int, record: dict, params: dict, added: dict | None) -> None:
        """Save one finished generation (atomically).

        The record (and the data added to the pool) of every generation is kept; the model's fitted
        state for generation 0 (the run's reference model, see :class:`collapse_lib.loop.Generation`) and
        for the two newest ones, so that a damaged newest file still leaves a model to resume from.
        Order of writes: the state, then the generation's record, then the state of two generations
        back is removed (never generation 0's), so a kill between any two steps leaves the state of
        the last finished generation.
        """
        if generation == 0:
            self.path.mkdir(parents=True, exist_ok=True)
            if not (self.path / SETTINGS).exists():
                self._write_settings(self._base_info())
        save_npz(self._params_path(generation), params)
        save_npz(self._generation_path(generation), _flatten({"record": record, "added": added}))
        if generation >= 3:
            self._params_path(generation - 2).unlink(missing_ok=True)

    def load_generation(self, generation: int) -> dict:
        """``{"record": ..., "added": ..., "params": ...}`` of a saved generation.

        ``params`` is ``None`` unless the generation's model is saved (the two newest).
        """
        groups = self._read_generation(generation)
        if self._params_path(generation).exists():
            groups["params"] = read_npz(self._params_path(generation))
        return groups

    def load_record(self, generation: int) -> dict:
        """The record of a saved generation, without its model's state (which a running writer may remove)."""
        return self._read_generation(generation)["record"]

    def _read_generation(self, generation: int) -> dict:
        with np.load(self._generation_path(generation), allow_pickle=False) as flat:
            groups = _unflatten(flat)
        if "record" not in groups:
            raise ValueError("it holds no record")
        groups.setdefault("added", None)
        groups["params"] = None
        return groups

    def discard_generations(self, reason: str | None = None) -> None:
        """Remove every saved generation, so that the run starts again from generation 0."""
        if reason:
            warn(f"{reason}; starting the run {self.path} again from generation 0")
        for generation in self._numbered(_GENERATION):
            self._generation_path(generation).unlink(missing_ok=True)
        for generation in self._numbered(_PARAMS):
            self._params_path(generation).unlink(missing_ok=True)

    def resume(self) -> list[dict]:
        """The saved generations to resume from, each ``{"record", "added", "params"}``, after checking them.

        Every generation file is read in full. A damaged, empty or missing one, and a damaged or
        missing model file, is named in one line on stderr; the run then resumes from the newest
        generation before the first problem whose model is saved (one of the two newest
        generations), or starts again from generation 0 if there is none (or if generation 0's
        state, the reference model, is missing or damaged). Files past the resume point are removed.
        The last returned generation has ``params``, and so does generation 0.
        """
        saved, problems = [], []
        generation = 0
        while self._generation_path(generation).exists():
            try:
                saved.append(self._read_generation(generation))
            except Exception as error:
                problems.append(f"{self._generation_path(generation)} is damaged ({_why(error)})")
                break
            generation += 1
        count = len(saved)
        later = [g for g in self._numbered(_GENERATION) if g > count]
        if later and not problems:
            problems.append(f"{self._generation_path(count)} is missing (generation {later[-1]} is saved)")
        start = 0
        for last in (count - 1, count - 2):
            if last < 0:
                break
            path = self._params_path(last)
            if not path.exists():
                if last == count - 1 and not later:  # gen_{last} was saved after its parameters
                    problems.append(f"{path} is missing")
                continue
            try:
                params = read_npz(path)
            except Exception as error:
                problems.append(f"{path} is damaged ({_why(error)})")
                continue
            saved = saved[: last + 1]
            saved[-1]["params"] = params
            start = last + 1
            break
        if start >= 2:  # the reference model (generation 0's state) must be there too
            reference = self._params_path(0)
            try:
                saved[0]["params"] = read_npz(reference)
            except FileNotFoundError:
                problems.append(f"{reference} (the reference model) is missing")
                start = 0
            except Exception as error:
                problems.append(f"{reference} (the reference model) is damaged ({_why(error)})")
                start = 0
        if start == 0:
            saved = []
        if problems:
            then = (f"resuming {self.path} after generation {start - 1}" if start else
                    f"starting the run {self.path} again from generation 0 (no intact earlier generation has "
                    "its model saved)")
            for problem in problems:
                warn(f"{problem}; {then}")
        for g in self._numbered(_GENERATION):
            if g >= start:
                self._generation_path(g).unlink(missing_ok=True)
        for g in self._numbered(_PARAMS):
            if g >= start or (0 < g < start - 2):
                self._params_path(g).unlink(missing_ok=True)
        return saved

    def readable(self, name: str) -> bool:
        """Whether the ``.npz`` file ``name`` of this run can be read in full."""
        try:
            read_npz(self.path / name)
        except Exception:
            return False
        return True


class RunStore:
    """Runs on disk under ``root`` (default :func:`default_root`)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()

    def __repr__(self) -> str:
        return f"RunStore('{self.root}')"

    def artifact(self, kind: str, key: str, build: Callable[[], dict], *, filename: str | None = None,
                 what: str | None = None) -> dict:
        """A prerequisite shared by many runs (a base model, a classifier, a judge's scores), built once.

        The store's one cache: ``<root>/<kind>/<key>/<filename>``, or ``<root>/<kind>/<key>.npz`` without a
        ``filename``. ``build()`` returns a dict of arrays, which is saved atomically; every later call (in any
        process, on any node sharing the store) reads it back. Builders that race are serialised by
        :func:`build_once` (the first builds, the others wait); a damaged file is named and built again.
        ``key`` must hold everything that changes the arrays (settings, data identity, seed, version).
        Returns the arrays.
        """
        path = self.root / kind / (f"{key}.npz" if filename is None else Path(key) / filename)
        built: dict = {}

        def make() -> None:
            built.update(build())
            save_npz(path, built)

        build_once(path, make, what or f"the shared {kind.replace('_', ' ')} {path}")
        return built if built else read_npz(path)

    def run(self, experiment: str, settings: dict, seed: int, version: int = 1, data: str | None = None) -> Run:
        """The run of ``experiment`` with these (portable) ``settings``, ``seed`` and ``data`` identity
        (it may not exist yet); see :func:`collapse_lib.experiments.stored_run`."""
        key = settings_key(experiment, settings, seed, version, data)
        return Run(self.root / experiment / key, experiment, settings, seed, data, version)


def search_stores() -> list[RunStore]:
    """The run stores that runs made headless are looked for in, in this order: the default one
    (:func:`default_root`: ``$COLLAPSE_RUNS``, which is ``_runs/`` inside ``make book``) and the user's own
    (:func:`collapse_lib.environment.user_runs_root`, where ``python -m collapse_lib run`` writes by default and
    which ``make book`` never clears), each folder once. A run's key holds its settings, seed, data and version, so
    a run found in either is the run asked for."""
    roots = list(dict.fromkeys(Path(root).expanduser().resolve() for root in (default_root(), user_runs_root())))
    return [RunStore(root) for root in roots]


# --- shared prerequisites (a base model, a classifier, a judge's scores): built once, whoever comes first ---

def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of an artifact: ``<artifact>.lock``, next to it."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _intact(path: Path) -> bool:
    """True if ``path`` exists and, for a ``.npz`` archive, every array in it reads back whole."""
    if not path.exists():
        return False
    if path.suffix != ".npz":
        return True
    try:
        with np.load(path, allow_pickle=False) as saved:
            for key in saved.files:
                saved[key]
        return True
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return False


def build_once(path: str | os.PathLike, build: Callable[[], None], what: str | None = None) -> Path:
    """Make the file ``path`` by calling ``build()`` unless it exists whole; return ``path``.

    ``build`` must write ``path`` itself, atomically (as :func:`collapse_lib.store.save_npz` does).
    Processes that race here (array tasks on many nodes sharing one store, a sweep's workers) take
    the lock file next to the artifact (:func:`lock_path`) with the run store's
    :func:`writer_lock` (a lease by exclusive file creation, coherent on cluster
    file systems, taken over from a holder that died): the first builds, the others wait (saying
    so once on stderr) and then find the file. A build that fails releases the lock and the next
    caller builds. A damaged or empty file (a ``.npz`` that does not read back whole) is named in one
    line on stderr and built again, so one bad file never blocks every later run.
    """
    path = Path(path)
    if _intact(path):
        return path
    with writer_lock(lock_path(path), what or f"the shared prerequisite {path}"):
        if not _intact(path):
            if path.exists():
                warn(f"{path} is damaged; building it again")
                path.unlink()
            build()
    return path
