"""Download with checksums into a cache, atomically; the data directory named by the environment.

Where the data come from, in order (each loader follows it):

1. ``$COLLAPSE_DATA_DIR`` (a folder laid out like ``shared/data``: ``mnist/``, ``wikitext-2-raw/``); when
   it is set, a dataset missing from it is an error that names the file, never a silent fallback;
2. the cache, ``$COLLAPSE_CACHE`` or the user's cache folder (:func:`collapse_lib.environment.cache_dir`);
3. a download from the dataset's public mirrors, verified by sha256 before it enters the cache
   (never when ``$COLLAPSE_OFFLINE`` is set);
4. offline: real data that an installed package ships, and the output says so.

A file enters the cache only whole and verified: it is streamed to a temporary name in the cache
folder, checked, then renamed. A corrupt or truncated download never replaces anything.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..environment import env_folder, offline


class DataError(RuntimeError):
    """A dataset is missing, corrupt or cannot be fetched; the message says how to fix it."""


def data_dir() -> Path | None:
    """``$COLLAPSE_DATA_DIR`` as an absolute folder if set (it must exist), else ``None``.

    A relative value is resolved against the directory it was given in
    (:func:`collapse_lib.environment.env_folder`), so a chapter's kernel, which runs in
    ``chapters/``, reads the same folder as the shell that started it.
    """
    value = os.environ.get("COLLAPSE_DATA_DIR")
    path = env_folder("COLLAPSE_DATA_DIR")
    if path is None:
        return None
    if not path.is_dir():
        raise DataError(f"COLLAPSE_DATA_DIR={value!r} is not a folder ({path} does not exist); point it at a "
                        "folder of datasets (laid out like shared/data) or unset it.")
    return path


def sha256_of(data: bytes | os.PathLike | str) -> str:
    """The sha256 hex digest of ``data`` (bytes) or of the file at that path."""
    digest = hashlib.sha256()
    if isinstance(data, (bytes, bytearray)):
        digest.update(data)
    else:
        with open(data, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def download_verified(urls: list[str], destination: os.PathLike | str, sha256: str, timeout: float = 30.0) -> Path:
    """Fetch the first mirror in ``urls`` whose content has checksum ``sha256`` into ``destination``.

    Returns the path. If ``destination`` already holds a file with that checksum nothing is
    downloaded. Raises :class:`DataError` naming every mirror tried and what went wrong.
    """
    destination = Path(destination)
    if destination.exists() and sha256_of(destination) == sha256:
        return destination
    if offline():
        raise DataError(f"{destination.name} is not in the cache and COLLAPSE_OFFLINE is set, so it was not "
                        "downloaded; unset COLLAPSE_OFFLINE or set COLLAPSE_DATA_DIR to a folder that has it.")
    destination.parent.mkdir(parents=True, exist_ok=True)
    problems = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                for block in iter(lambda: response.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != sha256:
                problems.append(f"{url}: checksum {digest.hexdigest()[:16]}... does not match {sha256[:16]}...")
                continue
            os.replace(tmp, destination)
            return destination
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            problems.append(f"{url}: {getattr(error, 'reason', error)}")
        finally:
            Path(tmp).unlink(missing_ok=True)
    raise DataError(
        f"could not fetch {destination.name}: " + "; ".join(problems)
        + ". Check the network, or download the file yourself and set COLLAPSE_DATA_DIR to its folder."
    )
