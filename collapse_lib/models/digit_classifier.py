"""A small digit classifier trained on real MNIST: the instrument that reads generated digits.

The VAE chapter asks which digits a generation draws. A fully connected network
(784 → hidden → 10, ReLU, Adam) trained on the real training images answers it; its
accuracy on the real test images is reported next to every use. The VAE experiment trains it once
per data source and settings, seeded, and caches it in the run store
(:func:`collapse_lib.experiments.vae.trained_classifier`); this module never touches the store.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import ModelParams
from ..validation import (InputArrayError, check_fitted, check_positive_float, check_positive_int)
from .torch_utils import arrays_to_state, state_to_arrays, torch_seed, torch_threads

VERSION = 1


class DigitClassifier(ModelParams):
    """``fit(images, labels, rng)``, ``predict_proba(images)``; images float in [0, 1], ``(n, 28, 28)``."""

    def __init__(self, hidden: int = 256, epochs: int = 3, batch_size: int = 128, lr: float = 1e-3,
                 threads: int | None = 1):
        self.hidden = check_positive_int("hidden", hidden)
        self.epochs = check_positive_int("epochs", epochs)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.lr = check_positive_float("lr", lr)
        self.threads = threads
        self.network = None

    def _build(self):
        self.network = nn.Sequential(nn.Flatten(), nn.Linear(784, self.hidden), nn.ReLU(), nn.Linear(self.hidden, 10))

    @staticmethod
    def _tensor(images) -> torch.Tensor:
        images = np.asarray(images, dtype=np.float32)
        if images.ndim < 2 or images[0].size != 784:
            raise InputArrayError(f"images must have shape (n, 28, 28) or (n, 784), got {images.shape}; reshape them.")
        if images.size and not (np.isfinite(images).all() and images.min() >= 0.0 and images.max() <= 1.0):
            raise InputArrayError(f"images must be finite pixel intensities in [0, 1], got values in "
                                  f"[{float(np.nanmin(images)):g}, {float(np.nanmax(images)):g}]; divide uint8 "
                                  f"images by 255.")
        return torch.from_numpy(np.ascontiguousarray(images.reshape(len(images), 784)))

    def fit(self, images, labels, rng: np.random.Generator | None = None) -> "DigitClassifier":
        x = self._tensor(images)
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(x) or len(x) < 1:
            raise InputArrayError(f"labels must have shape (n,) with one label per image, got {labels.shape} for "
                                  f"{len(x)} images.")
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 9:
            raise InputArrayError(f"labels must be integer digit classes 0..9, got {labels.dtype} values in "
                                  f"{labels.min()}..{labels.max()}.")
        y = torch.from_numpy(labels.astype(np.int64))
        seed = torch_seed(rng)
        generator = torch.Generator().manual_seed(seed)
        with torch_threads(self.threads):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._build()
            optimiser = torch.optim.Adam(self.network.parameters(), lr=self.lr, fused=True)
            self.network.train()
            for _ in range(self.epochs):
                for index in torch.randperm(len(x), generator=generator).split(self.batch_size):
                    loss = F.cross_entropy(self.network(x[index]), y[index])
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
            self.network.eval()
        return self

    def predict_proba(self, images) -> np.ndarray:
        """Class probabilities, float32 ``(n, 10)``."""
        check_fitted(self, "network", "predict_proba")
        with torch_threads(self.threads), torch.no_grad():
            return torch.softmax(self.network(self._tensor(images)), dim=1).numpy()

    def predict(self, images) -> np.ndarray:
        return self.predict_proba(images).argmax(axis=1)

    def accuracy(self, images, labels) -> float:
        return float(np.mean(self.predict(images) == np.asarray(labels)))

    def get_state(self) -> dict:
        check_fitted(self, "network", "get_state")
        return state_to_arrays(self.network)

    def set_state(self, params: dict) -> "DigitClassifier":
        self._build()
        self.network.load_state_dict(arrays_to_state(params))
        self.network.eval()
        return self
