r"""Variational autoencoders for 28x28 images, with ``fit(data)`` and ``sample(n, rng)``.

Two architectures (latent size :math:`d`, 20 in the paper):

``"conv"``
    The paper's network (official ``VAE_experiments.ipynb``; capacity :math:`c` = 64):
    encoder Conv2d(1, c, 4, 2, 1) + ReLU, Conv2d(c, 2c, 4, 2, 1) + ReLU, then two Linear
    heads (2c·7·7 → d) for :math:`\mu` and :math:`\log\sigma^2`; decoder Linear(d → 2c·7·7),
    ConvTranspose2d(2c, c, 4, 2, 1) + ReLU, ConvTranspose2d(c, 1, 4, 2, 1), sigmoid.
    647,081 parameters at c = 64, d = 20.
``"mlp"``
    A small fully connected VAE, for tests and the ``smoke`` profile: 784 → hidden → (d, d) and
    d → hidden → 784 (652,824 parameters at hidden = 400, d = 20, about the same as the paper's). The
    ``book`` profile trains the conv VAE.

Both are trained as the official code trains them: loss = summed binary cross-entropy of the
pixel intensities (in [0, 1], not binarised) under the decoder's sigmoid means, plus
:math:`\beta\,\mathrm{KL}(q(z|x)\,\|\,\mathcal N(0, I))` with
:math:`\mathrm{KL} = -\tfrac12\sum(1+\log\sigma^2-\mu^2-\sigma^2)`; Adam (lr 1e-3, weight decay
1e-5), batch 256, a fresh, randomly initialised model every generation.

Sampling, and "fresh latents every batch"
-----------------------------------------
The official loop trains generation :math:`n` on ``prev_decoder(z)`` with a new
:math:`z\sim\mathcal N(0, I)` for every batch, so no synthetic image is ever seen twice. Here
``sample(n, rng)`` returns a :class:`DecodedImages`: a lazily decoded dataset that carries the
previous decoder's weights and a seed. The next model's ``fit`` draws fresh latents for every
image of every epoch from it (decoded in large chunks, which is the same distribution: every
training image gets its own independent :math:`z`). So :func:`collapse_lib.run_generations`
stays the one loop. ``resample_per_batch=False`` instead decodes one fixed synthetic set of
``n`` images (an array). Under policy ``mix``, real images are merged into a
:class:`DecodedImages` and shuffled into every epoch with the decoded ones.

Speed
-----
Most of the conv VAE's arithmetic is in its two middle convolutions. The decoder's ``fc`` and
``conv2`` have no nonlinearity between them, so :class:`ConvDecoder` evaluates them as one affine
map built from the weights at every step (same parameters, function and gradients; 25x less
work in that layer); this applies to the decoding of the previous generation too. Besides, ``fit``
avoids the official loop's overheads: no DataLoader (the batches are index slices of one array,
or decoded directly), decoding in large no-grad chunks, the loss on logits
(``binary_cross_entropy_with_logits``), a fused Adam step, channels-last convolutions, and an
explicit thread count (``threads``; 1 by default, because a shared machine punishes OpenMP
barriers). In float32 one generation trains 1.8-2.2x as fast as the official loop on two CPU
cores; ``precision="bf16"`` adds bfloat16 autocast, 2.7-3.6x on CPUs with AVX512-BF16 or AMX
(the loss and the optimiser state stay float32). ``benchmarks/README.md`` has the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import ModelParams
from ..validation import (InputArrayError, SettingError, check_choice, check_fitted, check_nonnegative_float,
                          check_positive_float, check_positive_int)
from .torch_utils import (arrays_to_state, deterministic, resolve_device, state_to_arrays, torch_seed,
                          torch_threads)

ARCHITECTURES = ("conv", "mlp")
PRECISIONS = ("fp32", "bf16")
IMAGE_SHAPE = (28, 28)
PIXELS = 28 * 28


# --- networks -------------------------------------------------------------------------------

class ConvEncoder(nn.Module):
    """The official encoder (layer names as in the notebook)."""

    def __init__(self, capacity: int, latent_dim: int):
        super().__init__()
        c = capacity
        self.conv1 = nn.Conv2d(1, c, kernel_size=4, stride=2, padding=1)       # c x 14 x 14
        self.conv2 = nn.Conv2d(c, 2 * c, kernel_size=4, stride=2, padding=1)   # 2c x 7 x 7
        self.fc_mu = nn.Linear(2 * c * 7 * 7, latent_dim)
        self.fc_logvar = nn.Linear(2 * c * 7 * 7, latent_dim)

    def forward(self, x):
        x = F.relu(self.conv1(x.reshape(-1, 1, *IMAGE_SHAPE)))
        x = F.relu(self.conv2(x)).flatten(1)
        return self.fc_mu(x), self.fc_logvar(x)


class ConvDecoder(nn.Module):
    r"""The official decoder; ``forward`` returns logits (the sigmoid is applied by the caller).

    Nothing nonlinear sits between ``fc`` and ``conv2`` (Linear, reshape, ConvTranspose2d), so their
    composition is one affine map :math:`z \mapsto zA + b` from :math:`\mathbb R^d` to
    :math:`\mathbb R^{c \times 14 \times 14}`. With ``fold_linear=True`` (the default) the forward
    pass builds :math:`A` by sending the :math:`d` rows of ``fc.weight``\ :sup:`T` and ``fc.bias``
    through ``conv2`` (a batch of :math:`d + 1` images instead of the whole batch), then multiplies.
    The parameters, the function and its gradients with respect to every parameter are the
    official network's (autograd differentiates through the construction of :math:`A`); only the
    order of the arithmetic changes, so results agree to rounding. The work of ``conv2`` per image
    drops from :math:`c\cdot 2c\cdot 16\cdot 49` multiply-adds (6.4 M at c = 64) to
    :math:`d\cdot c\cdot 196` (0.25 M). ``fold_linear=False`` runs the layers one by one.
    """

    def __init__(self, capacity: int, latent_dim: int, channels_last: bool = False, fold_linear: bool = True):
        super().__init__()
        c = self.capacity = capacity
        self.channels_last = channels_last
        self.fold_linear = fold_linear
        self.fc = nn.Linear(latent_dim, 2 * c * 7 * 7)
        self.conv2 = nn.ConvTranspose2d(2 * c, c, kernel_size=4, stride=2, padding=1)
        self.conv1 = nn.ConvTranspose2d(c, 1, kernel_size=4, stride=2, padding=1)

    def hidden(self, z):
        """``conv2(fc(z))`` before its ReLU, shape ``(n, c, 14, 14)``."""
        c = self.capacity
        if not self.fold_linear:
            x = self.fc(z).view(-1, 2 * c, 7, 7)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return self.conv2(x)
        basis = torch.cat([self.fc.weight.t(), self.fc.bias[None]]).view(-1, 2 * c, 7, 7)  # (d + 1, 2c, 7, 7)
        maps = F.conv_transpose2d(basis, self.conv2.weight, None, stride=2, padding=1)     # (d + 1, c, 14, 14)
        maps = maps.permute(0, 2, 3, 1) if self.channels_last else maps                    # channels innermost
        maps = maps.reshape(len(basis), -1)
        bias = maps[-1] + (self.conv2.bias.repeat(196) if self.channels_last
                           else self.conv2.bias.repeat_interleave(196))
        x = torch.addmm(bias, z, maps[:-1])
        if self.channels_last:  # (n, 14, 14, c) in memory = channels-last (n, c, 14, 14)
            return x.view(-1, 14, 14, c).permute(0, 3, 1, 2)
        return x.view(-1, c, 14, 14)

    def forward(self, z):
        return self.conv1(F.relu(self.hidden(z)))


class MLPEncoder(nn.Module):
    def __init__(self, hidden: int, latent_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(PIXELS, hidden)
        self.fc_mu = nn.Linear(hidden, latent_dim)
        self.fc_logvar = nn.Linear(hidden, latent_dim)

    def forward(self, x):
        h = F.relu(self.fc1(x.reshape(-1, PIXELS)))
        return self.fc_mu(h), self.fc_logvar(h)


class MLPDecoder(nn.Module):
    def __init__(self, hidden: int, latent_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(latent_dim, hidden)
        self.fc2 = nn.Linear(hidden, PIXELS)

    def forward(self, z):
        return self.fc2(F.relu(self.fc1(z))).view(-1, 1, *IMAGE_SHAPE)


def build_networks(architecture: str, latent_dim: int, capacity: int, hidden: int, channels_last: bool = False,
                   fold_linear: bool = True):
    """A fresh ``(encoder, decoder)`` pair (initialised from torch's global generator).

    ``fold_linear``: the conv decoder evaluates ``conv2(fc(z))`` as one affine map (see :class:`ConvDecoder`).
    """
    if architecture == "conv":
        encoder = ConvEncoder(capacity, latent_dim)
        decoder = ConvDecoder(capacity, latent_dim, channels_last, fold_linear)
        if channels_last:
            encoder, decoder = encoder.to(memory_format=torch.channels_last), decoder.to(memory_format=torch.channels_last)
        return encoder, decoder
    return MLPEncoder(hidden, latent_dim), MLPDecoder(hidden, latent_dim)


def count_parameters(architecture: str = "conv", latent_dim: int = 20, capacity: int = 64, hidden: int = 400) -> int:
    """Trainable parameters of encoder + decoder (647,081 for the paper's conv VAE)."""
    return sum(p.numel() for net in build_networks(architecture, latent_dim, capacity, hidden) for p in net.parameters())


def vae_loss(logits, x, mu, logvar, beta: float = 1.0):
    """``(reconstruction, kl)`` summed over the batch: BCE of ``x`` under ``sigmoid(logits)`` and the KL term."""
    reconstruction = F.binary_cross_entropy_with_logits(logits.float().reshape(x.shape), x, reduction="sum")
    mu, logvar = mu.float(), logvar.float()
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return reconstruction, kl


# --- helpers ----------------------------------------------------------------------------------

# --- the lazily decoded dataset ---------------------------------------------------------------

@dataclass
class DecodedImages:
    """``count`` images decoded by a frozen decoder from fresh latents each time they are drawn.

    Attributes
    ----------
    decoder : dict of ndarray
        The previous generation's decoder weights (``state_dict`` as NumPy arrays).
    config : dict
        ``architecture``, ``latent_dim``, ``capacity``, ``hidden`` of that decoder.
    count : int
        Synthetic images per epoch.
    seed : int
        Seed of the latent draws (the same seed gives the same images).
    binarise : bool
        Train on Bernoulli draws of the decoded means instead of the means (the code: False).
    real : ndarray or None
        Real images merged in (policy ``mix``), float32 in [0, 1], shape ``(n_real, 28, 28)``.
    """

    decoder: dict = field(repr=False)
    config: dict
    count: int
    seed: int
    binarise: bool = False
    real: np.ndarray | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return self.count + (0 if self.real is None else len(self.real))

    def merge(self, other) -> "DecodedImages":
        """Add real images (an array), as policy ``mix`` does."""
        if not isinstance(other, np.ndarray):
            raise SettingError("decoded images can only be merged with an array of real images (policy 'mix').")
        real = other if self.real is None else np.concatenate([self.real, other])
        return DecodedImages(self.decoder, self.config, self.count, self.seed, self.binarise, real)

    def subsample(self, n, rng):
        raise SettingError("policy 'accumulate-subsample' needs stored images: use resample_per_batch=False.")

    def to_arrays(self) -> dict:
        raise SettingError("policies that keep a pool of data need stored images: use resample_per_batch=False.")

    def stream(self, device: str = "cpu", precision: str = "fp32", chunk: int = 4096) -> "_DecodeStream":
        """An iterator-like source of freshly decoded images (see :meth:`_DecodeStream.take`)."""
        return _DecodeStream(self, device, precision, chunk)

    def materialise(self, device: str = "cpu") -> np.ndarray:
        """All ``count`` images decoded once (float32, ``(count, 28, 28)``), e.g. to look at them."""
        return self.stream(device).take(self.count).reshape(-1, *IMAGE_SHAPE).cpu().numpy()


class _DecodeStream:
    """Decodes ``chunk`` latents at a time with the frozen decoder and hands out images in order."""

    def __init__(self, source: DecodedImages, device: str, precision: str, chunk: int):
        c = source.config
        _, self.decoder = build_networks(c["architecture"], c["latent_dim"], c["capacity"], c["hidden"],
                                         channels_last=(c["architecture"] == "conv" and device == "cpu"))
        self.decoder.load_state_dict(arrays_to_state(source.decoder))
        self.decoder.to(device).eval().requires_grad_(False)
        self.latent_dim, self.device, self.chunk, self.binarise = c["latent_dim"], device, chunk, source.binarise
        self.autocast = precision == "bf16"
        self.generator = torch.Generator(device).manual_seed(source.seed)
        self.buffer, self.used = None, 0

    def _refill(self):
        z = torch.randn(self.chunk, self.latent_dim, generator=self.generator, device=self.device)
        with torch.no_grad(), torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.autocast):
            images = torch.sigmoid(self.decoder(z).float())
        if self.binarise:
            images = torch.bernoulli(images, generator=self.generator)
        self.buffer, self.used = images.contiguous(), 0

    def take(self, k: int):
        """The next ``k`` images, shape ``(k, 1, 28, 28)``; new latents as the buffer runs out."""
        parts = []
        while k > 0:
            if self.buffer is None or self.used == len(self.buffer):
                self._refill()
            step = min(k, len(self.buffer) - self.used)
            parts.append(self.buffer[self.used:self.used + step])
            self.used += step
            k -= step
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def _epoch_batches(data, batch_size: int, generator: torch.Generator, stream, real, device: str):
    """One epoch of shuffled batches (float32, ``(b, 1, 28, 28)``) from an array or decoded images."""
    if stream is None:
        order = torch.randperm(len(real), generator=generator)
        for index in order.split(batch_size):
            yield real[index.to(real.device)]
        return
    n_synthetic = data.count
    n_real = 0 if real is None else len(real)
    if n_real == 0:  # every slot is a fresh decoded image: no permutation needed
        for start in range(0, n_synthetic, batch_size):
            yield stream.take(min(batch_size, n_synthetic - start))
        return
    order = torch.randperm(n_synthetic + n_real, generator=generator)
    for index in order.split(batch_size):
        is_real = index >= n_synthetic
        k = int(len(index) - is_real.sum())
        parts = [stream.take(k)] if k else []
        if k < len(index):
            parts.append(real[(index[is_real] - n_synthetic).to(real.device)])
        yield parts[0] if len(parts) == 1 else torch.cat(parts)


# --- the model --------------------------------------------------------------------------------

class VAE(ModelParams):
    """A VAE with ``fit(data, rng)``, ``sample(n, rng)``, ``get_state()`` and ``set_state()``.

    Parameters
    ----------
    architecture : {"conv", "mlp"}
        The paper's convolutional VAE or a small MLP VAE (see the module docstring).
    latent_dim, capacity, hidden : int
        Latent size (20), conv capacity c (64), MLP hidden units (400).
    epochs, batch_size, lr, weight_decay, beta : training settings (paper: 30, 256, 1e-3, 1e-5, 1).
    resample_per_batch : bool
        ``sample`` returns lazily decoded images with fresh latents for every batch (the official
        code) or one fixed decoded set (an array).
    binarise : bool
        Synthetic training images are Bernoulli draws of the decoded means (the code: False).
    precision : {"fp32", "bf16"}
        bf16 autocast for the networks (the loss and the weights stay float32).
    device : {"cpu", "cuda", "auto"}
    threads : int or None
        torch intra-op threads during ``fit`` and evaluation (None: leave torch's setting).

    Attributes (after ``fit``)
    --------------------------
    encoder, decoder : torch modules (on ``device``).
    loss_history_ : ndarray, shape (epochs,)
        Mean training loss (negative ELBO, nats) per image in each epoch.
    batch_losses_ : ndarray
        The same per image, for every batch (for loss-curve comparisons).
    """

    sample_axis = 0

    def __init__(self, architecture: str = "conv", latent_dim: int = 20, capacity: int = 64, hidden: int = 400,
                 epochs: int = 30, batch_size: int = 256, lr: float = 1e-3, weight_decay: float = 1e-5,
                 beta: float = 1.0, resample_per_batch: bool = True, binarise: bool = False,
                 precision: str = "fp32", device: str = "cpu", threads: int | None = 1, decode_chunk: int = 4096):
        self.architecture = check_choice("architecture", architecture, ARCHITECTURES)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.capacity = check_positive_int("capacity", capacity)
        self.hidden = check_positive_int("hidden", hidden)
        self.epochs = check_positive_int("epochs", epochs)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.lr = check_positive_float("lr", lr)
        self.weight_decay = check_nonnegative_float("weight_decay", weight_decay)
        self.beta = check_positive_float("beta", beta)
        self.resample_per_batch, self.binarise = bool(resample_per_batch), bool(binarise)
        self.precision = check_choice("precision", precision, PRECISIONS)
        self.device = resolve_device(device)
        self.threads = None if threads is None else check_positive_int("threads", threads)
        self.decode_chunk = check_positive_int("decode_chunk", decode_chunk)
        self.encoder = self.decoder = None

    @property
    def config(self) -> dict:
        return dict(architecture=self.architecture, latent_dim=self.latent_dim, capacity=self.capacity,
                    hidden=self.hidden)

    @property
    def channels_last(self) -> bool:
        return self.architecture == "conv" and self.device == "cpu"

    def _build(self):
        self.encoder, self.decoder = build_networks(self.architecture, self.latent_dim, self.capacity, self.hidden,
                                                    self.channels_last)
        self.encoder.to(self.device)
        self.decoder.to(self.device)

    def n_parameters(self) -> int:
        if self.encoder is None:
            return count_parameters(self.architecture, self.latent_dim, self.capacity, self.hidden)
        return sum(p.numel() for net in (self.encoder, self.decoder) for p in net.parameters())

    def _check_fitted(self, action: str = "sample"):
        check_fitted(self, "encoder", action)

    def _as_tensor(self, images, name: str = "images") -> torch.Tensor:
        """Images as a tensor on the device, after checking shape ``(n, 28, 28)`` or ``(n, 784)``
        and finite intensities in [0, 1] (one pass over the array, negligible next to a network)."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim < 2 or (images.shape[-2:] != IMAGE_SHAPE and images.shape[-1] != PIXELS):
            raise InputArrayError(f"{name} must have shape (n, 28, 28) or (n, 784), got {images.shape}; "
                                  f"reshape the images (e.g. x.reshape(len(x), 28, 28)).")
        if images.size and not (np.isfinite(images).all() and images.min() >= 0.0 and images.max() <= 1.0):
            raise InputArrayError(f"{name} must be finite pixel intensities in [0, 1], got values in "
                                  f"[{float(np.nanmin(images)):g}, {float(np.nanmax(images)):g}]"
                                  f"{'' if np.isfinite(images).all() else ' and NaN/inf'}; divide uint8 images by 255.")
        x = torch.from_numpy(np.ascontiguousarray(images)).reshape(-1, 1, *IMAGE_SHAPE).to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    # -- fit -------------------------------------------------------------------------------------

    def fit(self, data, rng: np.random.Generator | None = None) -> "VAE":
        """Train a freshly initialised VAE on ``data`` for ``epochs`` epochs.

        ``data`` is an array of images in [0, 1] (``(n, 28, 28)`` or ``(n, 784)``), or a
        :class:`DecodedImages` (fresh latents every batch, optionally with real images mixed in).
        All randomness (initial weights, batch order, reparameterisation noise) comes from ``rng``.
        """
        seed = torch_seed(rng)
        generator = torch.Generator().manual_seed(seed)
        with torch_threads(self.threads), deterministic(self.device):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._build()
            noise = generator if self.device == "cpu" else torch.Generator(self.device).manual_seed(seed)
            if isinstance(data, DecodedImages):
                stream = data.stream(self.device, self.precision, self.decode_chunk)
                real = None if data.real is None or len(data.real) == 0 else self._as_tensor(data.real, "data.real")
                n_images = data.size
            else:
                stream, real = None, self._as_tensor(data, "data")
                n_images = len(real)
            if n_images < 1:
                raise SettingError("cannot fit a VAE to an empty dataset.")
            params = [p for net in (self.encoder, self.decoder) for p in net.parameters()]
            optimiser = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay,
                                         fused=self.device in ("cpu", "cuda"))
            self.encoder.train()
            self.decoder.train()
            epoch_losses, batch_losses = [], []
            for _ in range(self.epochs):
                losses, sizes = [], []
                for x in _epoch_batches(data, self.batch_size, generator, stream, real, self.device):
                    with torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                        mu, logvar = self.encoder(x)
                        eps = torch.randn(mu.shape, generator=noise, device=self.device, dtype=mu.dtype)
                        logits = self.decoder(mu + eps * torch.exp(0.5 * logvar))
                    reconstruction, kl = vae_loss(logits, x, mu, logvar)
                    loss = reconstruction + self.beta * kl
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                    losses.append(loss.detach())
                    sizes.append(len(x))
                losses, sizes = torch.stack(losses).cpu().numpy(), np.asarray(sizes)
                batch_losses.append(losses / sizes)
                epoch_losses.append(float(losses.sum() / sizes.sum()))
            self.batch_losses_ = np.concatenate(batch_losses)
            self.loss_history_ = np.asarray(epoch_losses)
            self.encoder.eval()
            self.decoder.eval()
        return self

    # -- sampling and evaluation -----------------------------------------------------------------

    def decoder_params(self) -> dict:
        self._check_fitted("decoder_params")
        return state_to_arrays(self.decoder)

    def sample(self, n: int, rng: np.random.Generator):
        """``n`` synthetic images for the next generation.

        ``resample_per_batch=True``: a :class:`DecodedImages` (fresh latents every time the next
        model draws a batch). Otherwise one fixed set of decoded means, float32 ``(n, 28, 28)``
        (Bernoulli draws of them if ``binarise``).
        """
        self._check_fitted("sample")
        n = check_positive_int("sample size", n)
        source = DecodedImages(self.decoder_params(), self.config, n, torch_seed(rng), self.binarise)
        if self.resample_per_batch:
            return source
        with torch_threads(self.threads):
            return source.materialise(self.device)

    def generate(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Decoded means of ``n`` latents :math:`z\\sim\\mathcal N(0, I)`, float32 ``(n, 28, 28)``."""
        self._check_fitted("generate")
        n = check_positive_int("n", n)
        with torch_threads(self.threads):
            stream = DecodedImages(self.decoder_params(), self.config, n, torch_seed(rng)).stream(self.device)
            return stream.take(n).reshape(-1, *IMAGE_SHAPE).cpu().numpy()

    def _batched(self, images, function, batch: int = 1024):
        x = self._as_tensor(images)
        with torch_threads(self.threads), torch.no_grad():
            outputs = [function(x[i:i + batch]) for i in range(0, len(x), batch)]
        return [torch.cat(parts).cpu().numpy() for parts in zip(*outputs)]

    def encode(self, images) -> tuple[np.ndarray, np.ndarray]:
        """The encoder's ``(mu, logvar)`` for images in [0, 1], each float32 ``(n, latent_dim)``."""
        self._check_fitted("encode")
        mu, logvar = self._batched(images, lambda x: tuple(t.float() for t in self.encoder(x)))
        return mu, logvar

    def negative_elbo(self, images, rng: np.random.Generator) -> dict:
        """Per-image negative ELBO (nats) of ``images`` in [0, 1], with one latent draw per image.

        Returns ``{"reconstruction": (n,), "kl": (n,), "negative_elbo": (n,)}``: the summed pixel BCE
        under the decoded means at :math:`z = \\mu + \\sigma\\varepsilon`, the KL term, and
        reconstruction + beta * kl (the training loss). Pixel intensities are not binary, so this is
        the official code's objective rather than a normalised log-likelihood bound.
        """
        self._check_fitted("negative_elbo")
        generator = torch.Generator(self.device).manual_seed(torch_seed(rng))

        def terms(x):
            mu, logvar = self.encoder(x)
            eps = torch.randn(mu.shape, generator=generator, device=self.device)
            logits = self.decoder(mu + eps * torch.exp(0.5 * logvar)).float().reshape(len(x), -1)
            target = x.reshape(len(x), -1)
            reconstruction = F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1)
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
            return reconstruction, kl

        reconstruction, kl = self._batched(images, terms)
        return {"reconstruction": reconstruction, "kl": kl, "negative_elbo": reconstruction + self.beta * kl}

    # -- parameters ------------------------------------------------------------------------------

    def get_state(self) -> dict:
        """Encoder and decoder weights as NumPy arrays (keys ``encoder.*``, ``decoder.*``) and the loss history."""
        self._check_fitted("get_state")
        params = {**state_to_arrays(self.encoder, "encoder."), **state_to_arrays(self.decoder, "decoder.")}
        params["loss_history"] = np.asarray(getattr(self, "loss_history_", np.zeros(0)))
        return params

    def set_state(self, params: dict) -> "VAE":
        """Load weights saved by :meth:`get_state` into a model of this configuration."""
        self._build()
        try:
            self.encoder.load_state_dict(arrays_to_state(params, "encoder."))
            self.decoder.load_state_dict(arrays_to_state(params, "decoder."))
        except RuntimeError as error:
            raise SettingError(f"these parameters do not fit a VAE with {self.config}: {error}") from None
        self.encoder.eval()
        self.decoder.eval()
        if "loss_history" in params:
            self.loss_history_ = np.asarray(params["loss_history"])
        return self
