r"""Plain functions that measure how far a fitted model has drifted from the truth.

All functions are vectorised: parameters may be arrays of any (broadcastable) shape,
typically ``(n_chains,)``.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

#: Quantile levels stored for every per-chain metric (the bands drawn in the book).
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def w2_squared_gaussian_1d(mu_a, sigma_a, mu_b, sigma_b):
    r"""Squared 2-Wasserstein distance between 1-D Gaussians: :math:`(\mu_a-\mu_b)^2 + (\sigma_a-\sigma_b)^2`.

    Units: squared data units.
    """
    return (np.asarray(mu_a) - mu_b) ** 2 + (np.asarray(sigma_a) - sigma_b) ** 2


def w2_squared_gaussian(mean_a, cov_a, mean_b, cov_b) -> float:
    r"""Squared 2-Wasserstein distance between two d-dimensional Gaussians.

    :math:`\|m_a-m_b\|^2 + \mathrm{tr}(S_a + S_b - 2 (S_b^{1/2} S_a S_b^{1/2})^{1/2})`.
    ``mean_*`` have shape (d,), ``cov_*`` shape (d, d).
    """
    root_b = linalg.sqrtm(np.asarray(cov_b, float))
    cross = linalg.sqrtm(root_b @ np.asarray(cov_a, float) @ root_b)
    trace = np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(np.real(cross))
    return float(np.sum((np.asarray(mean_a) - mean_b) ** 2) + max(trace, 0.0))


def w2_squared_to_gaussian(mean, cov, true_mean, true_cov) -> np.ndarray:
    r"""Squared 2-Wasserstein distance of a batch of Gaussians to one reference Gaussian.

    :math:`\|m-\mu\|^2 + \mathrm{tr}\,\hat\Sigma + \mathrm{tr}\,\Sigma
    - 2\,\mathrm{tr}\,(\Sigma^{1/2}\hat\Sigma\Sigma^{1/2})^{1/2}`, the batched version of
    :func:`w2_squared_gaussian`. ``mean`` has shape ``(n_chains, d)``, ``cov``
    ``(n_chains, d, d)``; the reference ``true_mean`` ``(d,)`` and ``true_cov`` ``(d, d)``. Returns
    shape ``(n_chains,)``, squared data units. The trace of the matrix square root is the sum of the
    square roots of the eigenvalues of the symmetric matrix :math:`\Sigma^{1/2}\hat\Sigma\Sigma^{1/2}`.
    """
    values, vectors = np.linalg.eigh(np.asarray(true_cov, dtype=float))
    root = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    cross = np.linalg.eigvalsh(root @ np.asarray(cov, dtype=float) @ root)
    trace = np.trace(cov, axis1=-2, axis2=-1) + np.trace(true_cov) - 2 * np.sqrt(np.clip(cross, 0.0, None)).sum(-1)
    return np.sum((np.asarray(mean) - true_mean) ** 2, axis=-1) + np.clip(trace, 0.0, None)


def heterozygosity(probabilities):
    r""":math:`H(p) = 1 - \sum_k p_k^2` along the last axis: the chance two draws differ."""
    p = np.asarray(probabilities, dtype=float)
    return 1.0 - np.sum(p**2, axis=-1)


def class_entropy(counts) -> np.ndarray:
    """Shannon entropy (nats) of class counts along the last axis; log(10) = 2.303 for 10 equal classes."""
    counts = np.asarray(counts, dtype=float)
    p = counts / counts.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.0 - np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=-1)


def fixed_state(probabilities):
    """Index of the state a chain is absorbed in (all mass on one state), else -1.

    ``probabilities`` has shape (..., K); returns int8 of shape (...).
    """
    p = np.asarray(probabilities)
    return np.where(p.max(axis=-1) >= 1.0, p.argmax(axis=-1), -1).astype(np.int8)


def first_true(flags, axis: int = 0):
    """Index of the first ``True`` along ``axis``, or -1 where there is none (e.g. absorption times)."""
    flags = np.asarray(flags, dtype=bool)
    index = flags.argmax(axis=axis)
    return np.where(flags.any(axis=axis), index, -1)


def chain_quantiles(values, quantiles=QUANTILES):
    """Quantiles over chains (last axis) of a per-chain metric; shape ``(len(quantiles), ...)``."""
    return np.quantile(np.asarray(values, dtype=float), quantiles, axis=-1)


def binomial_interval(successes, trials, level: float = 0.95):
    r"""Wilson score interval for a binomial proportion.

    ``successes`` and ``trials`` are counts (broadcastable arrays); returns ``(low, high)``,
    proportions in [0, 1] of the broadcast shape. Good coverage even near 0 or 1, unlike the
    normal approximation :math:`\hat p \pm z\sqrt{\hat p(1-\hat p)/n}`.
    """
    from scipy import stats

    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = stats.norm.ppf(0.5 + level / 2)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def absorption_times(fixed_state):
    """Multinomial draws until each chain is absorbed, from a recorded ``fixed_state`` array.

    ``fixed_state`` has shape (n_generations + 1, n_chains) (as recorded by the
    ``wright_fisher`` experiment: the absorbing state of generation ``g``'s model, or -1).
    Generation ``g``'s model has been through ``g + 1`` draws, so the time is the first
    generation with ``fixed_state >= 0``, plus one. Returns int64 of shape (n_chains,);
    -1 for a chain not absorbed by the last generation.
    """
    first = first_true(np.asarray(fixed_state) >= 0, axis=0)
    return np.where(first >= 0, first + 1, -1).astype(np.int64)


def mean_and_standard_error(values, axis: int = -1):
    r"""Monte Carlo mean and its standard error :math:`s/\sqrt n` along ``axis``.

    Returns ``(mean, standard_error)``, in the units of ``values``, each with ``axis`` removed.
    """
    v = np.asarray(values, dtype=float)
    n = v.shape[axis]
    return v.mean(axis=axis), v.std(axis=axis, ddof=1) / np.sqrt(n)


def gaussian_overlaps(means_a, covariances_a, means_b, covariances_b):
    r"""Overlap integrals of Gaussians, every component of ``a`` with every component of ``b``.

    :math:`\int \mathcal N(x; a_i, A_i)\,\mathcal N(x; b_j, B_j)\,dx = \mathcal N(a_i - b_j;\, 0,\, A_i + B_j)`.
    ``means_*`` have shape (..., K, d) and ``covariances_*`` (..., K, d, d), leading axes
    broadcast; returns (..., K_a, K_b), in inverse data units to the power d.
    """
    ma, mb = np.asarray(means_a, dtype=float), np.asarray(means_b, dtype=float)
    ca, cb = np.asarray(covariances_a, dtype=float), np.asarray(covariances_b, dtype=float)
    d = ma.shape[-1]
    chol = np.linalg.cholesky(ca[..., :, None, :, :] + cb[..., None, :, :, :])  # (..., K_a, K_b, d, d)
    diff = ma[..., :, None, :] - mb[..., None, :, :]
    # |L^{-1} diff|^2 by forward substitution (d is small), and log det = 2 sum log diag L
    solved = []
    for i in range(d):
        value = diff[..., i]
        for j in range(i):
            value = value - chol[..., i, j] * solved[j]
        solved.append(value / chol[..., i, i])
    mahalanobis = sum(z * z for z in solved)
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    return np.exp(-0.5 * (d * np.log(2 * np.pi) + log_det + mahalanobis))


def l2_squared_gmm(weights_a, means_a, covariances_a, weights_b, means_b, covariances_b):
    r"""Squared :math:`L^2` distance between two Gaussian-mixture densities, in closed form.

    :math:`\lVert p-q\rVert_2^2 = \int p^2 + \int q^2 - 2\int pq`, each integral a weighted sum of
    :func:`gaussian_overlaps` over pairs of components (the metric of the paper's SI Fig. 8).
    ``weights_*`` have shape (..., K), ``means_*`` (..., K, d), ``covariances_*`` (..., K, d, d);
    leading axes broadcast (e.g. ``n_chains`` fitted mixtures against one true mixture), and the
    two mixtures may have different numbers of components. Returns (...), in inverse data units
    to the power d, clipped at 0 against rounding.
    """
    wa, wb = np.asarray(weights_a, dtype=float), np.asarray(weights_b, dtype=float)

    def cross(w1, m1, c1, w2, m2, c2):
        return (w1[..., :, None] * w2[..., None, :] * gaussian_overlaps(m1, c1, m2, c2)).sum(axis=(-2, -1))

    pp = cross(wa, means_a, covariances_a, wa, means_a, covariances_a)
    qq = cross(wb, means_b, covariances_b, wb, means_b, covariances_b)
    pq = cross(wa, means_a, covariances_a, wb, means_b, covariances_b)
    return np.maximum(pp + qq - 2.0 * pq, 0.0)
