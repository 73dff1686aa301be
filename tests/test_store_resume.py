"""Self-healing resume: a damaged, empty or missing file of an interrupted run is named in one line on
stderr and the run resumes from the last intact generation, with exactly the numbers of an
uninterrupted run; stray temporary files and a damaged settings.json are repaired; files are as
readable as the user's umask allows."""

import json
import os
import stat

import numpy as np
import pytest

import collapse_lib as cl
from collapse_lib.experiments import gaussian, stored_run, validated_runs

SETTINGS = dict(sample_size=50, ddof=1, policy="accumulate", n_generations=30, n_chains=200)
STOP = 20  # the interrupted run saved generations 0..19


def the_run(store):
    settings, seed = validated_runs("gaussian", "smoke", 0, SETTINGS)[0]
    return stored_run("gaussian", settings, seed, store)


def run(store):
    return cl.run_experiment("gaussian", "smoke", 0, store=store, **SETTINGS)


def interrupted(store, monkeypatch, at=STOP):
    """Run until generation ``at`` is being recorded (generations 0..at-1 saved); return the run folder."""
    original, calls = gaussian.record_gaussian, []

    def stop(*args):
        calls.append(1)
        if len(calls) == at + 1:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(gaussian, "record_gaussian", stop)
    with pytest.raises(KeyboardInterrupt):
        run(store)
    monkeypatch.setattr(gaussian, "record_gaussian", original)
    folder = the_run(store).path
    assert sorted(p.name for p in folder.glob("gen_*.npz"))[-1] == f"gen_{at - 1:06d}.npz"
    return folder


def resumed(store, monkeypatch):
    """The resumed run's result and how many generations it computed."""
    original, calls = gaussian.record_gaussian, []

    def count(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(gaussian, "record_gaussian", count)
    result = run(store)
    monkeypatch.setattr(gaussian, "record_gaussian", original)
    return result, len(calls)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    return run(cl.RunStore(tmp_path_factory.mktemp("straight")))


def assert_same(result, straight):
    assert result.keys() == straight.keys()
    for key in straight:
        np.testing.assert_array_equal(result[key], straight[key], err_msg=key)


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def empty(path):
    path.write_bytes(b"")


N = SETTINGS["n_generations"] + 1


@pytest.mark.parametrize("name, damage, computed, said", [
    # the newest generation: resume after the one before it (its model is the second one kept)
    ("gen_000019.npz", truncate, N - 19, "after generation 18"),
    ("gen_000019.npz", empty, N - 19, "after generation 18"),
    ("params_000019.npz", truncate, N - 19, "after generation 18"),
    ("params_000019.npz", empty, N - 19, "after generation 18"),
    ("params_000019.npz", os.remove, N - 19, "after generation 18"),
    # a gap in the middle: no model before it is kept, so the run starts again from generation 0
    ("gen_000007.npz", truncate, N, "again from generation 0"),
    ("gen_000007.npz", empty, N, "again from generation 0"),
    ("gen_000007.npz", os.remove, N, "again from generation 0"),
])
def test_a_damaged_or_missing_file_is_named_and_the_run_resumes_identically(
        tmp_path, monkeypatch, capsys, straight, name, damage, computed, said):
    store = cl.RunStore(tmp_path)
    folder = interrupted(store, monkeypatch)
    damage(folder / name)
    capsys.readouterr()
    result, count = resumed(store, monkeypatch)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and str(folder / name) in lines[0] and said in lines[0], err
    assert count == computed
    assert_same(result, straight)
    assert not list(folder.glob("gen_*.npz")) and not list(folder.glob("params_*.npz"))


def test_two_damaged_newest_files_fall_back_to_the_second_model(tmp_path, monkeypatch, capsys, straight):
    store = cl.RunStore(tmp_path)
    folder = interrupted(store, monkeypatch)
    truncate(folder / "gen_000019.npz")
    empty(folder / "params_000018.npz")  # the model to fall back on is damaged too: start again
    result, count = resumed(store, monkeypatch)
    err = capsys.readouterr().err
    assert "gen_000019.npz is damaged" in err and "params_000018.npz is damaged" in err
    assert "again from generation 0" in err and count == N
    assert_same(result, straight)


def test_an_intact_interrupted_run_resumes_silently(tmp_path, monkeypatch, capsys, straight):
    store = cl.RunStore(tmp_path)
    interrupted(store, monkeypatch)
    capsys.readouterr()
    result, count = resumed(store, monkeypatch)
    assert count == N - STOP and "warning" not in capsys.readouterr().err
    assert_same(result, straight)


def test_stray_temporary_files_are_removed_when_the_run_is_opened(tmp_path, monkeypatch, straight):
    store = cl.RunStore(tmp_path)
    folder = interrupted(store, monkeypatch)
    stray = [folder / ".gen_000020.npz.k3j2_x.tmp", folder / ".params_000020.npz.a8b9.tmp"]
    for path in stray:
        path.write_bytes(b"half a file")
    result, count = resumed(store, monkeypatch)
    assert not any(path.exists() for path in stray) and count == N - STOP
    assert_same(result, straight)


def test_a_damaged_or_missing_settings_file_is_written_again(tmp_path, monkeypatch, capsys, straight):
    store = cl.RunStore(tmp_path)
    folder = interrupted(store, monkeypatch)
    (folder / "settings.json").write_text('{"experiment": "gauss')
    result, _ = resumed(store, monkeypatch)
    assert f"{folder / 'settings.json'} is damaged" in capsys.readouterr().err
    info = json.loads((folder / "settings.json").read_text())
    assert info["seed"] == 0 and info["settings"]["n_chains"] == 200 and info["device"] == "cpu"
    assert info["resolved"]["policy"] == "accumulate" and info["key"] == folder.name
    (folder / "settings.json").unlink()  # a finished run: written again when it is next loaded
    assert_same(run(store), straight)
    assert json.loads((folder / "settings.json").read_text())["settings"] == info["settings"]
    (folder / "settings.json").write_bytes(b"")
    capsys.readouterr()
    assert_same(run(store), straight)
    assert f"{folder / 'settings.json'} is damaged" in capsys.readouterr().err
    assert json.loads((folder / "settings.json").read_text())["key"] == folder.name


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_are_readable_as_the_umask_allows(tmp_path, monkeypatch, umask, mode):
    old = os.umask(umask)
    try:
        store = cl.RunStore(tmp_path)
        folder = interrupted(store, monkeypatch, at=3)
        while_running = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
        run(store)
        finished = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    finally:
        os.umask(old)
    assert set(finished) == {"settings.json", "result.npz"}
    assert "gen_000002.npz" in while_running and "params_000002.npz" in while_running
    assert set(while_running.values()) | set(finished.values()) == {mode}, (while_running, finished)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask


def test_an_interrupt_inside_a_write_is_reported_as_the_interrupt(tmp_path):
    """Ctrl-C inside np.savez surfaces as a ValueError from zipfile's cleanup; the store reports the
    interruption (so the CLI prints its one line), and leaves no temporary file."""
    from collapse_lib.store import atomic_write_bytes

    def writer(handle):
        try:
            raise KeyboardInterrupt
        finally:
            raise ValueError("Can't close the ZIP file while there is an open writing handle on it.")

    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(tmp_path / "x.npz", writer)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", [truncate, os.remove])
def test_a_damaged_or_missing_reference_model_is_named_and_the_run_starts_again(
        tmp_path, monkeypatch, capsys, straight, damage):
    """Generation 0's saved model is every later generation's reference (collapse_lib.loop.Generation): without it a
    resumed run could not measure against it, so the file is named and the run starts again, with the same numbers."""
    store = cl.RunStore(tmp_path)
    folder = interrupted(store, monkeypatch)
    damage(folder / "params_000000.npz")
    result, computed = resumed(store, monkeypatch)
    err = capsys.readouterr().err
    assert "params_000000.npz (the reference model)" in err and "again from generation 0" in err
    assert computed == N
    assert_same(result, straight)


def test_stored_results_show_a_run_under_way_only_when_asked(tmp_path, monkeypatch, straight):
    store = cl.RunStore(tmp_path)
    assert cl.stored_results("gaussian", "smoke", 0, store, **SETTINGS) == []
    interrupted(store, monkeypatch)  # generations 0..STOP-1 saved
    assert cl.stored_results("gaussian", "smoke", 0, store, **SETTINGS) == []  # finished runs only
    (settings, seed, partial), = cl.stored_results("gaussian", "smoke", 0, store, partial=True, **SETTINGS)
    assert partial["finished"] is False and seed == 0 and settings["n_generations"] == SETTINGS["n_generations"]
    np.testing.assert_array_equal(partial["generation"], np.arange(STOP))
    shared = [key for key in partial if key in straight and key != "generation"]
    assert shared  # the recorded quantities, stacked over the finished generations
    for key in shared:
        np.testing.assert_array_equal(partial[key], straight[key][:STOP], err_msg=key)
    run(store)
    (_, _, whole), = cl.stored_results("gaussian", "smoke", 0, store, partial=True, **SETTINGS)
    assert whole["finished"] is True
    assert_same({k: v for k, v in whole.items() if k != "finished"}, straight)


def test_stored_results_search_several_stores_finished_first_then_the_furthest_run(tmp_path, monkeypatch, straight):
    """Runs made headless live in the user's store while a book reads its own (collapse_lib.store.search_stores):
    a run is taken from the first store that holds it finished, else (partial=True) from the one where it got
    furthest, and the result names its store."""
    empty_store, behind, ahead = (cl.RunStore(tmp_path / name) for name in ("book", "behind", "ahead"))
    stores = [empty_store, behind, ahead]
    assert cl.stored_results("gaussian", "smoke", 0, stores, partial=True, **SETTINGS) == []
    interrupted(behind, monkeypatch, at=5)
    interrupted(ahead, monkeypatch, at=STOP)
    assert cl.stored_results("gaussian", "smoke", 0, stores, **SETTINGS) == []  # finished runs only
    (_, _, partial), = cl.stored_results("gaussian", "smoke", 0, stores, partial=True, **SETTINGS)
    assert partial["finished"] is False and partial["store"] == str(ahead.root)
    np.testing.assert_array_equal(partial["generation"], np.arange(STOP))
    run(behind)  # finished in a later store than one where it is still under way: the finished one wins
    (_, _, whole), = cl.stored_results("gaussian", "smoke", 0, stores, partial=True, **SETTINGS)
    assert whole["finished"] is True and whole["store"] == str(behind.root)
    assert_same({k: v for k, v in whole.items() if k not in ("finished", "store")}, straight)
    (_, _, alone), = cl.stored_results("gaussian", "smoke", 0, behind, **SETTINGS)
    assert "store" not in alone  # one store: results as before
    (_, _, listed), = cl.stored_results("gaussian", "smoke", 0, [behind], **SETTINGS)
    assert listed["store"] == str(behind.root)  # a list, even of one: the result says where it came from
    assert cl.stored_results("gaussian", "smoke", 0, [], partial=True, **SETTINGS) == []


def test_search_stores_are_the_default_store_then_the_users_own_each_once(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COLLAPSE_RUNS", str(tmp_path / "book_runs"))
    own = cl.environment.user_runs_root()
    assert own.is_relative_to(tmp_path / "cache")
    assert [s.root for s in cl.store.search_stores()] == [(tmp_path / "book_runs").resolve(), own.resolve()]
    monkeypatch.delenv("COLLAPSE_RUNS")
    assert [s.root for s in cl.store.search_stores()] == [own.resolve()]
