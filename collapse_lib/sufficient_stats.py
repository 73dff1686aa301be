r"""Sufficient statistics: datasets summarised so that a generation costs O(1) per chain.

A Gaussian fitted by its sample mean and variance only ever needs
:math:`(M, \bar x, \sum (x-\bar x)^2)`; a categorical model only needs the counts.
These classes stand in for the raw samples in the generational loop. They support the
three operations a data policy needs: ``size``, ``merge`` (pool two datasets) and
``subsample`` (draw without replacement), or say clearly when one is impossible.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .validation import SettingError


class _ArrayFields:
    """The run store's format for a frozen dataclass of arrays (and an ``int`` count): one array per field."""

    def to_arrays(self) -> dict:
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict):
        return cls(**{f.name: int(arrays[f.name]) if f.type == "int" else np.asarray(arrays[f.name])
                      for f in fields(cls)})


@dataclass(frozen=True)
class GaussianStats(_ArrayFields):
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



@dataclass(frozen=True)
class CategoryCounts(_ArrayFields):
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



# ---------------------------------------------------------------------------------------------
# Multivariate data (issue 6): d-dimensional Gaussians and linear regression on a fixed design.
# ---------------------------------------------------------------------------------------------

def rows_by_random_keys(n_chains: int, total: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices ``(n_chains, n)`` of ``n`` of ``total`` rows per chain, drawn without replacement: the rows
    with the ``n`` smallest of ``total`` uniform keys (also :func:`collapse_lib.policies.subsample_dataset`'s draw)."""
    keys = rng.random((n_chains, total))
    return np.argpartition(keys, n - 1, axis=1)[:, :n] if n < total else np.argsort(keys, axis=1)


def _rows_without_replacement(n_chains: int, total: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices ``(n_chains, n)`` of ``n`` of ``total`` rows, drawn without replacement for each chain.

    When ``n`` is a large share of ``total``, by random keys (O(total) per chain). Otherwise, as a
    sequence of uniform draws in which repeats are rejected, which is sampling without replacement:
    a few more than ``n`` draws with replacement, of which each chain keeps its first ``n`` distinct
    values (O(n log n) per chain, whatever ``total`` is). The rare chain with fewer than ``n``
    distinct draws is drawn again by random keys; the event is symmetric in the rows, so every
    chain's subset is uniform either way.
    """
    if n > total:
        raise SettingError(f"cannot subsample {n} points from a pool of {total}.")
    if 2 * n > total:
        return rows_by_random_keys(n_chains, total, n, rng)
    repeats = n * n / (2 * total)  # about the expected number of repeats among the draws
    width = n + int(np.ceil(repeats + 4 * np.sqrt(repeats) + 4))
    draws = rng.integers(0, total, size=(n_chains, width))
    order = np.argsort(draws, axis=1, kind="stable")  # among equal draws, the earliest comes first
    ranked = np.take_along_axis(draws, order, axis=1)
    new_in_rank = np.concatenate([np.ones((n_chains, 1), bool), ranked[:, 1:] != ranked[:, :-1]], axis=1)
    first = np.empty_like(new_in_rank)
    np.put_along_axis(first, order, new_in_rank, axis=1)  # first occurrence of its value, in draw order
    keep = first & (np.cumsum(first, axis=1) <= n)
    short = keep.sum(axis=1) < n
    out = np.empty((n_chains, n), dtype=np.int64)
    out[~short] = draws[~short][keep[~short]].reshape(-1, n)
    if short.any():
        out[short] = rows_by_random_keys(int(short.sum()), total, n, rng)
    return out


@dataclass(frozen=True)
class MultivariateGaussianStats(_ArrayFields):
    r"""Count, mean vector and scatter matrix of ``count`` samples in :math:`\mathbb R^d`, per chain.

    The d-dimensional version of :class:`GaussianStats`.

    Attributes
    ----------
    count : int
        Samples per chain (the same for every chain).
    mean : ndarray, shape (n_chains, d)
        Sample mean :math:`\bar x` of each chain (data units).
    scatter : ndarray, shape (n_chains, d, d)
        :math:`\sum_j (x_j-\bar x)(x_j-\bar x)^\top` of each chain (squared data units).
    """

    count: int
    mean: np.ndarray
    scatter: np.ndarray

    @classmethod
    def from_samples(cls, samples: np.ndarray) -> "MultivariateGaussianStats":
        """Summarise samples of shape ``(n_chains, count, d)``."""
        samples = np.asarray(samples, dtype=float)
        if samples.ndim != 3:
            raise SettingError(f"samples must have shape (n_chains, count, d), got {samples.shape}.")
        mean = samples.mean(axis=1)
        centred = samples - mean[:, None, :]
        return cls(samples.shape[1], mean, np.einsum("cni,cnj->cij", centred, centred))

    @property
    def size(self) -> int:
        return self.count

    def merge(self, other: "MultivariateGaussianStats") -> "MultivariateGaussianStats":
        """Statistics of the union of two datasets (Chan et al.'s pairwise update, in d dimensions)."""
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        scatter = self.scatter + other.scatter + np.einsum("ci,cj->cij", delta, delta) * (self.count * other.count / n)
        return MultivariateGaussianStats(n, mean, scatter)

    def subsample(self, n: int, rng: np.random.Generator):
        raise SettingError(
            "policy 'accumulate-subsample' needs the individual samples, which sufficient "
            "statistics do not keep; use method='samples' (or 'auto') for this policy."
        )



@dataclass(frozen=True)
class PointSamples(_ArrayFields):
    """Literal d-dimensional samples, per chain: ``points`` of shape ``(n_chains, count, d)``.

    Unlike a bare array, :meth:`subsample` keeps every sample (row) whole: it picks the same
    rows in all ``d`` coordinates of a chain.
    """

    points: np.ndarray

    @property
    def size(self) -> int:
        return int(self.points.shape[1])

    def merge(self, other: "PointSamples") -> "PointSamples":
        return PointSamples(np.concatenate([self.points, other.points], axis=1))

    def subsample(self, n: int, rng: np.random.Generator) -> "PointSamples":
        """``n`` samples per chain, drawn without replacement, independently for each chain."""
        index = _rows_without_replacement(self.points.shape[0], self.size, n, rng)
        return PointSamples(np.take_along_axis(self.points, index[:, :, None], axis=1))



@dataclass(frozen=True)
class RegressionStats(_ArrayFields):
    r"""Sufficient statistics of a least-squares fit, per chain: :math:`X^\top X` and :math:`X^\top y`.

    Attributes
    ----------
    count : int
        Rows (labelled points) per chain.
    gram : ndarray, shape (n_chains, d, d)
        :math:`\sum_j x_j x_j^\top` (squared feature units).
    moment : ndarray, shape (n_chains, d)
        :math:`\sum_j x_j y_j` (feature times label units).

    Pooling two datasets adds both sums, so *accumulate* costs O(1) per generation.
    """

    count: int
    gram: np.ndarray
    moment: np.ndarray

    @property
    def size(self) -> int:
        return self.count

    def merge(self, other: "RegressionStats") -> "RegressionStats":
        return RegressionStats(self.count + other.count, self.gram + other.gram, self.moment + other.moment)

    def subsample(self, n: int, rng: np.random.Generator):
        raise SettingError(
            "policy 'accumulate-subsample' needs the individual labelled rows, which sufficient "
            "statistics do not keep; use method='samples' (or 'auto') for this policy."
        )



@dataclass(frozen=True)
class DesignLabels(_ArrayFields):
    """Labelled rows of a fixed design, per chain: which design row each sample is, and its label.

    Attributes
    ----------
    rows : ndarray of int32, shape (n_chains, count)
        Index of each sample's feature vector in the chain's fixed design matrix.
    labels : ndarray, shape (n_chains, count)
        Its label (label units).

    The design itself stays with the model; a pool of relabelled copies of it costs one
    index and one label per row.
    """

    rows: np.ndarray
    labels: np.ndarray

    @property
    def size(self) -> int:
        return int(self.labels.shape[1])

    def merge(self, other: "DesignLabels") -> "DesignLabels":
        return DesignLabels(np.concatenate([self.rows, other.rows], axis=1),
                            np.concatenate([self.labels, other.labels], axis=1))

    def subsample(self, n: int, rng: np.random.Generator) -> "DesignLabels":
        """``n`` labelled rows per chain, drawn without replacement, independently for each chain."""
        index = _rows_without_replacement(self.labels.shape[0], self.size, n, rng)
        return DesignLabels(np.take_along_axis(self.rows, index, axis=1), np.take_along_axis(self.labels, index, axis=1))

