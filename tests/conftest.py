import os

import matplotlib
import pytest
from helpers import http_folder  # noqa: F401 (a fixture: a folder served on loopback)

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def isolated_run_store(tmp_path, monkeypatch):
    """Every test gets its own empty run store (no results leak between tests)."""
    monkeypatch.setenv("COLLAPSE_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("COLLAPSE_PROFILE", raising=False)
    yield tmp_path / "runs"
