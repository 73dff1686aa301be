import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
from helpers import http_folder  # noqa: F401 (a fixture: a folder served on loopback)

from collapse_lib.environment import user_cache

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]


#: The user's cache before the tests move it: its data and models stay in use (no test downloads or converts again).
USER_CACHE = user_cache()


@pytest.fixture(autouse=True)
def isolated_run_store(tmp_path, monkeypatch):
    """Every test gets its own empty run store, and an empty user's run store (which chapters also search for
    headless runs, collapse_lib.store.search_stores): no results leak between tests, or in from the machine."""
    monkeypatch.setenv("COLLAPSE_CACHE", os.environ.get("COLLAPSE_CACHE") or str(USER_CACHE / "data"))
    monkeypatch.setenv("COLLAPSE_MODELS", os.environ.get("COLLAPSE_MODELS") or str(USER_CACHE / "models"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))
    monkeypatch.setenv("COLLAPSE_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("COLLAPSE_PROFILE", raising=False)
    yield tmp_path / "runs"


@pytest.fixture(scope="session")
def book_output(tmp_path_factory):
    """The folder that holds a ``_build/`` of the whole book at the ``smoke`` profile.

    ``.ci/run`` builds the book once with ``make book PROFILE=smoke`` and names that folder in
    ``$COLLAPSE_BUILT_BOOK``; the tests then read that build (the one CI checked with warnings as
    errors). Without it, the book is built here into a temporary folder (the user's ``_build`` is
    not touched). Other builders (the PDF) can build into the same folder and reuse its execution cache.
    """
    given = os.environ.get("COLLAPSE_BUILT_BOOK")
    if given:
        out = Path(given).resolve()
        assert (out / "_build" / "html" / "index.html").exists(), f"COLLAPSE_BUILT_BOOK={given} holds no built book"
        return out
    out = tmp_path_factory.mktemp("book")
    env = dict(os.environ, COLLAPSE_PROFILE="smoke", COLLAPSE_RUNS=str(out / "runs"))
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jupyter_book), "build", str(ROOT), "--path-output", str(out),
                             "--warningiserror", "--keep-going", "--builder", "html"],
                            env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out


@pytest.fixture(scope="session")
def built_book(book_output):
    """The HTML of the book built at the ``smoke`` profile (see :func:`book_output`)."""
    return book_output / "_build" / "html"
