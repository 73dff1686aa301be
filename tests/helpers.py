"""Helpers shared by the tests: a local HTTP server on loopback (``serve_folder``, and the ``http_folder``
fixture that conftest.py provides) and the book's pages in table-of-contents order (``toc_files``)."""

import contextlib
import functools
import http.server
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def serve_folder(folder):
    """Serve ``folder`` on 127.0.0.1 at a free port; yields the base URL (no trailing slash)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def http_folder(tmp_path):
    """``(base_url, folder)``: an empty folder ``tmp_path / "www"`` served on loopback."""
    root = tmp_path / "www"
    root.mkdir()
    with serve_folder(root) as base:
        yield base, root


def toc_files() -> list[str]:
    """The book's pages in ``_toc.yml`` order, as paths without suffix (``chapters/gaussian``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [entry["file"] for entry in part["chapters"]]
    return files
