r"""Sufficient statistics: datasets summarised so that a generation costs O(1) per chain.

A Gaussian fitted by its sample mean and variance only ever needs
:math:`(M, \bar x, \sum (x-\bar x)^2)`; a categorical model only needs the counts.
These classes stand in for the raw samples in the generational loop. They support the
three operations a data policy needs: ``size``, ``merge`` (pool two datasets) and
``subsample`` (draw without replacement), or say clearly when one is impossible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validation import SettingError


@dataclass(frozen=True)
class GaussianStats:
    r"""Count, mean and centred sum of squares of ``count`` scalar samples, per chain.

    Attributes
    ----------
    count : int
        Samples per chain (the same for every chain).
    mean : ndarray, shape (n_chains,)
        Sample mean :math:`\bar x` of each chain.
    m2 : ndarray, shape (n_chains,)
        :math:`\sum_j (x_j-\bar x)^2` of each chain (squared data units).
    """

    count: int
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def from_samples(cls, samples: np.ndarray) -> "GaussianStats":
        """Summarise samples of shape ``(n_chains, count)``."""
        samples = np.asarray(samples, dtype=float)
        if samples.ndim != 2:
            raise SettingError(f"samples must have shape (n_chains, count), got {samples.shape}.")
        mean = samples.mean(axis=1)
        m2 = ((samples - mean[:, None]) ** 2).sum(axis=1)
        return cls(samples.shape[1], mean, m2)

    @property
    def size(self) -> int:
        return self.count

    def merge(self, other: "GaussianStats") -> "GaussianStats":
        """Statistics of the union of two datasets (Chan et al.'s pairwise update)."""
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        m2 = self.m2 + other.m2 + delta**2 * (self.count * other.count / n)
        return GaussianStats(n, mean, m2)

    def subsample(self, n: int, rng: np.random.Generator) -> "GaussianStats":
        raise SettingError(
            "policy 'accumulate-subsample' needs the individual samples, which sufficient "
            "statistics do not keep; use method='samples' for this policy."
        )

    def to_arrays(self) -> dict:
        return {"count": np.asarray(self.count), "mean": self.mean, "m2": self.m2}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "GaussianStats":
        return cls(int(arrays["count"]), np.asarray(arrays["mean"]), np.asarray(arrays["m2"]))


@dataclass(frozen=True)
class CategoryCounts:
    """How many of the samples fell in each of ``K`` categories, per chain.

    Attributes
    ----------
    counts : ndarray of int64, shape (n_chains, K)
        Every row sums to the same sample size.
    """

    counts: np.ndarray

    @property
    def size(self) -> int:
        return int(self.counts[0].sum())

    def merge(self, other: "CategoryCounts") -> "CategoryCounts":
        return CategoryCounts(self.counts + other.counts)

    def subsample(self, n: int, rng: np.random.Generator) -> "CategoryCounts":
        """Draw ``n`` of the samples without replacement (multivariate hypergeometric)."""
        rows = [rng.multivariate_hypergeometric(row, n) for row in self.counts]
        return CategoryCounts(np.stack(rows).astype(np.int64))

    def to_arrays(self) -> dict:
        return {"counts": self.counts}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "CategoryCounts":
        return cls(np.asarray(arrays["counts"]))
