"""The VAE models and the VAE experiment: the paper's parameter count, a loss that falls, generation n
trained only on generation n-1's decoder output, seeded determinism, and resuming after a kill."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import collapse_lib as cl
from collapse_lib.datasets import mnist
from collapse_lib.models.vae import VAE, DecodedImages, count_parameters

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COLLAPSE_DATA_DIR") or ROOT.parent / "shared" / "data")

#: A run small enough for tests: the MLP VAE, 1,000 images, 1 epoch.
TINY = dict(architecture="mlp", hidden=64, n_train=1000, epochs=1, n_generations=3, n_test=500, n_eval=200,
            n_grid=4, classifier_epochs=1, policy="replace")


@pytest.fixture(autouse=True)
def shared_data(monkeypatch):
    """Read MNIST from the shared copy when there is one (CI exports COLLAPSE_DATA_DIR too)."""
    if (SHARED / "mnist").is_dir():
        monkeypatch.setenv("COLLAPSE_DATA_DIR", str(SHARED))


@pytest.fixture(scope="module")
def images():
    """2,000 real training images, float32 in [0, 1]."""
    saved = os.environ.get("COLLAPSE_DATA_DIR")
    if (SHARED / "mnist").is_dir():
        os.environ["COLLAPSE_DATA_DIR"] = str(SHARED)
    try:
        return mnist.load_mnist().float_images()[:2000]
    finally:
        if saved is None:
            os.environ.pop("COLLAPSE_DATA_DIR", None)
        else:
            os.environ["COLLAPSE_DATA_DIR"] = saved


def test_the_paper_vae_has_the_official_parameter_count():
    assert count_parameters("conv", latent_dim=20, capacity=64) == 647_081
    assert VAE("conv").n_parameters() == 647_081
    assert count_parameters("mlp", latent_dim=20, hidden=400) == 652_824


def test_conv_vae_trains_samples_and_round_trips_its_parameters(images):
    model = VAE("conv", capacity=8, epochs=1, batch_size=32).fit(images[:64], np.random.default_rng(0))
    assert model.n_parameters() == count_parameters("conv", capacity=8)
    samples = model.generate(5, np.random.default_rng(1))
    assert samples.shape == (5, 28, 28) and samples.dtype == np.float32
    assert 0 <= samples.min() and samples.max() <= 1
    copy = VAE("conv", capacity=8).set_state(model.get_state())
    np.testing.assert_array_equal(copy.generate(5, np.random.default_rng(1)), samples)
    with pytest.raises(cl.SettingError, match="do not fit a VAE"):
        VAE("conv", capacity=16).set_state(model.get_state())



@pytest.mark.parametrize("channels_last", [False, True])
def test_the_folded_decoder_is_the_official_decoder_with_the_same_gradients(channels_last):
    """``fold_linear`` evaluates fc then conv2 as one affine map: same outputs and same gradient for every
    parameter as running the layers one by one (float64, so only rounding can differ)."""
    from collapse_lib.models.vae import build_networks

    torch.manual_seed(0)
    _, folded = build_networks("conv", 20, 16, 400, channels_last, fold_linear=True)
    _, layered = build_networks("conv", 20, 16, 400, channels_last, fold_linear=False)
    layered.load_state_dict(folded.state_dict())
    folded, layered = folded.double(), layered.double()
    z = torch.randn(37, 20, dtype=torch.float64)
    out_folded, out_layered = folded(z), layered(z)
    assert out_folded.shape == out_layered.shape == (37, 1, 28, 28)
    torch.testing.assert_close(out_folded, out_layered, rtol=1e-12, atol=1e-12)
    weights = torch.randn_like(out_layered)
    (out_folded * weights).sum().backward()
    (out_layered * weights).sum().backward()
    for (name, a), b in zip(folded.named_parameters(), layered.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12, msg=f"gradient of {name}")
    # and a wrong fold (the conv2 bias left out) would be caught by this comparison
    with torch.no_grad():
        folded.conv2.bias += 1.0
    assert (folded(z) - layered(z)).abs().max() > 1e-3

def test_a_tiny_vae_loss_falls(images):
    model = VAE("mlp", hidden=128, epochs=6, batch_size=128).fit(images, np.random.default_rng(0))
    loss = model.loss_history_
    assert loss.shape == (6,) and np.all(np.isfinite(loss))
    assert np.all(np.diff(loss) < 0), loss
    assert loss[-1] < 0.75 * loss[0], loss
    # the training loss is the negative ELBO: on held-out images it is close to the last epoch's
    held_out = model.negative_elbo(images[:500], np.random.default_rng(1))["negative_elbo"].mean()
    assert abs(held_out - loss[-1]) < 0.15 * loss[-1]


def test_decoded_images_are_the_previous_decoders_output_with_fresh_latents(images):
    previous = VAE("mlp", hidden=64, epochs=1).fit(images, np.random.default_rng(0))
    source = previous.sample(300, np.random.default_rng(1))
    assert isinstance(source, DecodedImages) and source.size == 300 and source.real is None
    stream = source.stream(chunk=256)
    first, second = stream.take(300), stream.take(300)
    # the images are sigmoid(decoder(z)) for z drawn from the source's own seed, chunk by chunk, in order
    generator = torch.Generator().manual_seed(source.seed)
    z = torch.cat([torch.randn(256, 20, generator=generator) for _ in range(3)])
    with torch.no_grad():
        expected = torch.sigmoid(previous.decoder(z))
    np.testing.assert_allclose(torch.cat([first, second]).numpy(), expected[:600].numpy(), rtol=1e-6, atol=1e-7)
    assert not torch.allclose(first, second)  # each draw decodes new latents
    fixed = VAE("mlp", hidden=64, resample_per_batch=False).set_state(previous.get_state())
    array = fixed.sample(300, np.random.default_rng(1))
    assert isinstance(array, np.ndarray) and array.shape == (300, 28, 28)
    binary = VAE("mlp", hidden=64, binarise=True).set_state(previous.get_state()).sample(50, np.random.default_rng(2))
    assert set(np.unique(binary.materialise())) <= {0.0, 1.0}


class SpyVAE(VAE):
    """Records what every generation was trained on."""

    fitted: list = []

    def fit(self, data, rng=None):
        SpyVAE.fitted.append((data, self))
        return super().fit(data, rng)


@pytest.mark.parametrize("policy, fraction", [("replace", 0.0), ("mix", 0.1)])
def test_generation_n_trains_only_on_generation_n_minus_1s_decoder(images, policy, fraction):
    SpyVAE.fitted = []
    real = images[:1000]
    cl.run_generations(lambda: SpyVAE("mlp", hidden=32, epochs=1), real, 3, 1000, policy, real_fraction=fraction,
                       real_sampler=lambda n, rng: real[rng.choice(len(real), n, replace=False)], seed=0,
                       record=lambda model, g: {"loss": model.loss_history_})
    assert SpyVAE.fitted[0][0] is real
    rows = {row.tobytes() for row in real}
    for (data, _), (_, previous) in zip(SpyVAE.fitted[1:], SpyVAE.fitted[:-1]):
        assert isinstance(data, DecodedImages)
        assert data.count == 1000 - round(fraction * 1000)
        for key, value in previous.decoder.state_dict().items():
            np.testing.assert_array_equal(data.decoder[key], value.numpy(), err_msg=key)
        if policy == "replace":
            assert data.real is None
        else:
            assert len(data.real) == 100 and all(row.tobytes() in rows for row in data.real)


def test_same_seed_same_numbers_and_another_seed_differs(isolated_run_store):
    a = cl.run_experiment("vae", "smoke", 0, store=cl.RunStore(isolated_run_store / "a"), **TINY)
    b = cl.run_experiment("vae", "smoke", 0, store=cl.RunStore(isolated_run_store / "b"), **TINY)
    c = cl.run_experiment("vae", "smoke", 1, store=cl.RunStore(isolated_run_store / "c"), **TINY)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert not np.array_equal(a["test_negative_elbo"], c["test_negative_elbo"])
    assert a["grid"].shape == (4, 4, 28, 28) and a["grid"].dtype == np.uint8
    assert a["class_counts"].shape == (4, 10) and np.all(a["class_counts"].sum(axis=1) == 200)
    assert a["latent_mu"].shape == (4, 200, 20)
    assert 0 <= a["class_entropy"].min() and a["class_entropy"].max() <= np.log(10) + 1e-9


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import collapse_lib as cl
    from collapse_lib.experiments import vae

    original = vae.sample_measures
    def measure_then_die(*args, **kwargs):
        measure_then_die.calls += 1
        if measure_then_die.calls == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)  # killed mid-generation, before it is saved
        return original(*args, **kwargs)
    measure_then_die.calls = 0
    vae.sample_measures = measure_then_die
    cl.run_experiment("vae", "smoke", 0, store=cl.RunStore(sys.argv[1]), **{SETTINGS})
""")


@pytest.mark.parametrize("policy", ["replace", "mix"])
def test_killed_mid_generation_resumes_identically(tmp_path, policy):
    settings = dict(TINY, policy=policy)
    script = KILL_SCRIPT.replace("{SETTINGS}", repr(settings))
    killed = subprocess.run([sys.executable, "-c", script, str(tmp_path / "a"), "3"], capture_output=True,
                            env=dict(os.environ))
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    runs = tmp_path / "a" / "vae"
    assert sorted(p.name for p in runs.rglob("gen_*.npz")) == ["gen_000000.npz", "gen_000001.npz"]
    # generation 0's model is also the reference every later generation is measured with (the loop keeps it)
    assert sorted(p.name for p in runs.rglob("params_*.npz")) == ["params_000000.npz", "params_000001.npz"]

    resumed = cl.run_experiment("vae", "smoke", 0, store=cl.RunStore(tmp_path / "a"), **settings)
    straight = cl.run_experiment("vae", "smoke", 0, store=cl.RunStore(tmp_path / "b"), **settings)
    assert resumed.keys() == straight.keys()
    for key in straight:
        np.testing.assert_array_equal(resumed[key], straight[key], err_msg=key)
    assert not list(runs.rglob("params_*.npz"))  # cleaned up once the run finished


@pytest.mark.parametrize("override, message", [
    (dict(architecture="resnet"), "unknown architecture 'resnet'; choose one of: conv, mlp"),
    (dict(policy="accumulate"), "with resample_per_batch=True the images are never stored"),
    (dict(precision="fp16"), "unknown precision 'fp16'"),
    (dict(n_train=100), r"n_train \(100\) must be at least batch_size \(256\)"),
    (dict(real_fraction=1.5, policy="mix"), r"real_fraction must be a fraction in \[0, 1\]"),
    (dict(epochs=0), "epochs must be >= 1"),
])
def test_bad_settings_are_rejected_before_any_work(override, message):
    with pytest.raises(cl.SettingError, match=message):
        cl.run_experiment("vae", "smoke", 0, **dict(TINY, **override))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_a_setting_error():
    with pytest.raises(cl.SettingError, match="device='cuda' but torch.cuda.is_available"):
        cl.run_experiment("vae", "smoke", 0, **dict(TINY, device="cuda"))


def test_the_profiles_state_the_papers_settings():
    paper = cl.resolve_settings("vae", "paper")
    assert (paper["architecture"], paper["capacity"], paper["latent_dim"], paper["epochs"], paper["batch_size"],
            paper["lr"], paper["weight_decay"], paper["n_generations"], paper["n_train"]) == (
        "conv", 64, 20, 30, 256, 1e-3, 1e-5, 20, 60000)
    table = cl.settings_table("vae", "book")
    assert "| `architecture` | conv | conv |" in table and "| `epochs` |" in table


def test_the_specs_choices_are_the_models():
    """The spec names the architectures and precisions without importing the model (which loads torch)."""
    from collapse_lib.experiments import vae as vae_experiment
    from collapse_lib.models import vae as vae_model

    assert (vae_experiment.ARCHITECTURES, vae_experiment.PRECISIONS) == (vae_model.ARCHITECTURES, vae_model.PRECISIONS)


def test_the_book_profile_runs_the_papers_network_with_the_papers_optimiser_and_20_generations():
    """Issue 15: ``book`` trains the paper's conv VAE (647,081 parameters), and differs from the paper only in
    the training per generation (images x epochs, in batches of 96 so that they make more steps), precision and
    the measurement sizes."""
    book, paper = cl.resolve_settings("vae", "book"), cl.resolve_settings("vae", "paper")
    assert count_parameters(book["architecture"], book["latent_dim"], book["capacity"], book["hidden"]) == 647_081
    same = ("architecture", "capacity", "latent_dim", "lr", "weight_decay", "beta", "n_generations",
            "resample_per_batch", "binarise", "real_fraction")
    assert (book["batch_size"], paper["batch_size"]) == (96, 256)
    assert {k: book[k] for k in same} == {k: paper[k] for k in same}
    assert book["precision"] == "bf16" and list(book["policy"]) == ["replace", "mix"]
    # trained enough per generation that the collapse is gradual (trial runs: 64 steps collapsed in 3 generations,
    # 128 steps of 256 kept 54% of the digit entropy at generation 5, 252 steps of 96 or 128 kept 74-78%)
    steps = -(-book["n_train"] // book["batch_size"]) * book["epochs"]
    assert steps >= 240 and book["n_train"] * book["epochs"] >= 24_000


def test_the_conv_vae_in_bfloat16_trains_on_decoded_images_and_repeats_itself(images):
    """The book's code path (conv VAE, bf16 autocast, fresh latents every batch) at a small capacity: a finite
    falling loss, and the same seed gives the same weights."""
    def generation(seed):
        first = VAE("conv", capacity=8, epochs=2, batch_size=64, precision="bf16").fit(images[:512],
                                                                                    np.random.default_rng(seed))
        source = first.sample(512, np.random.default_rng(seed + 1))
        second = VAE("conv", capacity=8, epochs=2, batch_size=64, precision="bf16").fit(source,
                                                                                     np.random.default_rng(seed + 2))
        return first, second

    a, b = generation(0)
    assert np.all(np.isfinite(b.loss_history_)) and a.loss_history_[-1] < a.loss_history_[0]
    again = generation(0)[1].get_state()
    for key, value in b.get_state().items():
        np.testing.assert_array_equal(value, again[key], err_msg=key)
    other = generation(5)[1].get_state()
    assert not np.array_equal(other["decoder.fc.weight"], again["decoder.fc.weight"])


def test_runs_side_by_side_do_not_wait_on_each_others_classifier():
    """The two policies of a seed run in two processes (the chapter's and the scorecard's sweep); the digit
    classifier they share is built before they start, so neither waits on the other's lock and prints that wait
    on the built page (the book's scorecard page did). Run from a fresh process, as a chapter's kernel or the
    command line runs it: stderr is then the sweep's alone."""
    code = ("import collapse_lib as cl; runs = cl.run_sweep('vae', 'smoke', [0], jobs=2); "
            "print([s['policy'] for s, _, _ in runs])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['replace', 'mix']"
    assert "being written by" not in done.stderr, done.stderr
