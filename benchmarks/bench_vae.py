"""Benchmarks of the VAE chapter: training throughput of one generation against the official loop.

The baseline reproduces the training loop of ``VAE_experiments.ipynb`` (github.com/Zakahler/curse_recurse)
for a generation after the first, as ``shared/reference/paper-setup.md`` section 3.3 describes it: the
notebook's convolutional VAE (capacity 64, latent 20, 647,081 parameters; its layers follow the
``dl4g`` VAE tutorial the notebook builds on), summed BCE + KL, Adam (lr 1e-3, weight decay 1e-5),
batch 256; a ``torch.utils.data.DataLoader`` over MNIST with ``ToTensor()`` (shuffled, batch 256) whose
batches are used only for their size, and for each batch ``z = torch.randn(...)`` decoded by the previous
generation's decoder under ``no_grad``. We run it on the CPU instead of ``'cuda'``. torchvision is not
installed, so its ``MNIST`` dataset is replaced by a dataset that does the same per item (a PIL image
from the uint8 array, then ``ToTensor``: float32 / 255, shape (1, 28, 28)).

The library side is ``collapse_lib.models.vae.VAE("conv").fit(previous.sample(n, rng))`` for one epoch
of the same number of images: fresh latents for every image, decoded in chunks, the decoder's ``fc`` and
``conv2`` evaluated as one affine map (see ``ConvDecoder``), channels-last convolutions, the loss on logits, a fused Adam step, no DataLoader; with ``precision="bf16"``
(bfloat16 autocast) where the CPU has native bf16 (AVX512-BF16 or AMX), and in float32.

Each side runs the first ``N`` batches of a generation (throughput is the same for every batch of the 30
epochs) once with ``torch.set_num_threads(2)`` (the 2 cores) and once with 1 thread, interleaved; each
side's throughput is the faster of the two, because on a machine shared with other jobs two OpenMP threads
can be several times slower than one (every parallel region waits for a descheduled thread). The per-batch
loss curves of the two sides are compared with each other and with the official loop's seed-to-seed spread.
``book/vae`` times the chapter's ``book`` sweep from an empty run store.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from collapse_lib.datasets import mnist
from collapse_lib.models.torch_utils import torch_threads
from collapse_lib.models.vae import VAE
from harness import Result, benchmark

THREADS = 2
BATCH = 256
LATENT = 20
CAPACITY = 64


# --- the official notebook's model and loop (baseline) ------------------------------------------

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        c = CAPACITY
        self.conv1 = nn.Conv2d(in_channels=1, out_channels=c, kernel_size=4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(in_channels=c, out_channels=c * 2, kernel_size=4, stride=2, padding=1)
        self.fc_mu = nn.Linear(in_features=c * 2 * 7 * 7, out_features=LATENT)
        self.fc_logvar = nn.Linear(in_features=c * 2 * 7 * 7, out_features=LATENT)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = x.view(x.size(0), -1)
        return self.fc_mu(x), self.fc_logvar(x)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        c = CAPACITY
        self.fc = nn.Linear(in_features=LATENT, out_features=c * 2 * 7 * 7)
        self.conv2 = nn.ConvTranspose2d(in_channels=c * 2, out_channels=c, kernel_size=4, stride=2, padding=1)
        self.conv1 = nn.ConvTranspose2d(in_channels=c, out_channels=1, kernel_size=4, stride=2, padding=1)

    def forward(self, x):
        x = self.fc(x)
        x = x.view(x.size(0), CAPACITY * 2, 7, 7)
        x = F.relu(self.conv2(x))
        return torch.sigmoid(self.conv1(x))


class VariationalAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()

    def forward(self, x):
        latent_mu, latent_logvar = self.encoder(x)
        latent = self.latent_sample(latent_mu, latent_logvar)
        return self.decoder(latent), latent_mu, latent_logvar

    def latent_sample(self, mu, logvar):
        if self.training:
            std = logvar.mul(0.5).exp_()
            eps = torch.empty_like(std).normal_()
            return eps.mul(std).add_(mu)
        return mu


def vae_loss(recon_x, x, mu, logvar, variational_beta=1.0):
    recon_loss = F.binary_cross_entropy(recon_x.view(-1, 784), x.view(-1, 784), reduction="sum")
    kl_divergence = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return recon_loss + variational_beta * kl_divergence


class TorchvisionStyleMNIST(Dataset):
    """What ``torchvision.datasets.MNIST(transform=transforms.ToTensor())`` does per item."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.data, self.targets = torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        img = Image.fromarray(self.data[index].numpy(), mode="L")
        tensor = torch.from_numpy(np.array(img, np.uint8, copy=True)).view(28, 28, 1).permute(2, 0, 1)
        return tensor.contiguous().to(torch.float32).div(255), int(self.targets[index])


def official_generation(previous: VariationalAutoencoder, dataset: Dataset, n_batches: int, seed: int) -> list:
    """One generation of the notebook's loop after the first, stopped after ``n_batches`` batches.

    Returns the loss per image of every batch."""
    torch.manual_seed(seed)
    vae = VariationalAutoencoder()
    optimizer = torch.optim.Adam(params=vae.parameters(), lr=1e-3, weight_decay=1e-5)
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True)
    vae.train()
    losses = []
    while len(losses) < n_batches:  # the notebook's epochs (more than one only on a small dataset)
        for image_batch, _ in loader:
            if len(losses) == n_batches:
                break
            with torch.no_grad():
                z = torch.randn(image_batch.size(0), LATENT)
                image_batch = previous.decoder(z)
            image_batch_recon, latent_mu, latent_logvar = vae(image_batch)
            loss = vae_loss(image_batch_recon, image_batch, latent_mu, latent_logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item() / len(image_batch))
    return losses


# --- setup ----------------------------------------------------------------------------------------

def bf16_native() -> bool:
    """Whether oneDNN runs bfloat16 natively here (AVX512-BF16 or AMX), not emulated."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


_STATE: dict = {}


def setup(quick: bool):
    """MNIST, and a previous generation: the conv VAE trained briefly on real images (shared by both
    sides: the official loop decodes with a copy of its decoder)."""
    if "previous" not in _STATE:
        data = mnist.load_mnist()
        images = data.float_images()
        precision = "bf16" if bf16_native() else "fp32"
        real = images[: 8 * BATCH if quick else 40 * BATCH]
        previous = VAE("conv", epochs=1 if quick else 2, precision=precision, threads=THREADS).fit(
            real, np.random.default_rng(0))
        official_previous = VariationalAutoencoder()
        official_previous.load_state_dict({k: torch.from_numpy(v) for k, v in previous.get_state().items()
                                           if k != "loss_history"})
        official_previous.eval()
        _STATE.update(data=data, previous=previous, official_previous=official_previous,
                      dataset=TorchvisionStyleMNIST(data.train_images, data.train_labels))
    return _STATE


def timed(function):
    start = time.perf_counter()
    out = function()
    return time.perf_counter() - start, out


def smoothed(curve, window: int = 5) -> np.ndarray:
    curve = np.asarray(curve, dtype=float)
    return np.convolve(curve, np.ones(window) / window, mode="valid")


@benchmark("vae/generation-throughput-vs-official")
def throughput_vs_official(ctx):
    """Images per second of one generation's training (conv VAE, batch 256, fresh latents per batch) on
    the 2 cores: the library's fit (bf16 autocast where native) against the notebook's loop, each at the
    faster of 1 and 2 torch threads."""
    state = setup(ctx.quick)
    n_batches = 12 if ctx.quick else 40
    n_images = n_batches * BATCH
    previous = state["previous"]
    fast = "bf16" if bf16_native() else "fp32"

    def library(seed: int, precision: str):
        source = previous.sample(n_images, np.random.default_rng(seed))
        model = VAE("conv", epochs=1, precision=precision, threads=None)  # the thread count set around it
        return model.fit(source, np.random.default_rng(seed + 100)).batch_losses_

    def official(seed: int):
        return official_generation(state["official_previous"], state["dataset"], n_batches, seed)

    runs = {}  # (side, threads) -> (seconds, per-batch losses); seed 0 at 2 threads, seed 1 at 1 thread
    for threads, seed in ((THREADS, 0), (1, 1)):
        with torch_threads(threads):
            official_generation(state["official_previous"], state["dataset"], 2, 99)  # warm-up
            library(99, fast)
            # interleaved, so that load from other jobs hits both sides alike
            runs[("official", threads)] = timed(lambda: official(seed))
            runs[(fast, threads)] = timed(lambda: library(seed, fast))
            if fast != "fp32":
                runs[("fp32", threads)] = timed(lambda: library(seed, "fp32"))

    speed = {key: n_images / seconds for key, (seconds, _) in runs.items()}
    best = {side: max((speed[(side, t)], t) for t in (THREADS, 1)) for side in {"official", fast, "fp32"}}
    measured = "; ".join(f"{side} {speed[(side, t)]:.0f} img/s at {t} thread{'s' if t > 1 else ''}"
                         for side, t in runs)
    where = f"{n_batches} batches of {BATCH} ({n_images} images), one run each"
    results = [Result.ratio(
        "vae/generation-throughput-vs-official", best[fast][0] / best["official"][0], at_least=2,
        detail=f"library {fast} {best[fast][0]:.0f} img/s ({best[fast][1]} threads) vs official loop "
               f"{best['official'][0]:.0f} img/s ({best['official'][1]} threads), each at its faster thread count; "
               f"{measured}; {where}")]
    if fast != "fp32":
        results.append(Result.ratio(
            "vae/generation-throughput-fp32-vs-official", best["fp32"][0] / best["official"][0],
            detail=f"library fp32 {best['fp32'][0]:.0f} img/s ({best['fp32'][1]} threads), each at its faster "
                   "thread count"))
    curves = {key: smoothed(losses) for key, (_, losses) in runs.items()}
    seed_gap = np.max(np.abs(curves[("official", THREADS)] - curves[("official", 1)]))
    mean_official = (curves[("official", THREADS)] + curves[("official", 1)]) / 2
    mean_ours = (curves[(fast, THREADS)] + curves[(fast, 1)]) / 2
    gap = np.max(np.abs(mean_ours - mean_official))
    last = {key: float(np.mean(losses[-10:])) for key, (_, losses) in runs.items()}
    results.append(Result(
        "vae/loss-curve-vs-official", gap / seed_gap, "x", "<", 2.0,
        detail=f"max |library {fast} - official| of the mean loss curves (seeds 0 and 1, 5-batch moving average) "
               f"over the official seed-to-seed max gap ({gap:.1f} / {seed_gap:.1f} nats per image); mean loss of "
               "the last 10 batches: " + ", ".join(f"{name} seed {0 if t == THREADS else 1} {value:.1f}"
                                                  for (name, t), value in last.items())))
    return results


@benchmark("book/vae")
def book_profile(ctx):
    """The VAE chapter's book sweep from an empty run store, as the chapter runs it: the paper's conv VAE in
    bfloat16, both policies x 21 generations, ``N_SEEDS["book"]`` = 1 seed, ``jobs=2`` (one process per policy,
    one torch thread each). Target: 6 minutes (issue 15)."""
    import tempfile

    import collapse_lib as cl

    profile = "smoke" if ctx.quick else "book"
    with tempfile.TemporaryDirectory(prefix="bench-vae-") as root:
        start = time.perf_counter()
        cl.run_sweep("vae", profile, [0], store=cl.RunStore(root), jobs=2)
        seconds = time.perf_counter() - start
    return Result.time("book/vae", seconds, below=360 if not ctx.quick else None,
                       detail=f"2 runs (replace, mix; seed 0), jobs=2, empty run store"
                              + (" (QUICK: smoke profile)" if ctx.quick else ""))
