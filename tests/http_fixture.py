"""A local HTTP server on loopback for download tests (import ``serve_folder`` or the ``http_folder`` fixture)."""

import contextlib
import functools
import http.server
import threading

import pytest


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
