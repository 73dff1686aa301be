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


def heterozygosity(probabilities):
    r""":math:`H(p) = 1 - \sum_k p_k^2` along the last axis: the chance two draws differ."""
    p = np.asarray(probabilities, dtype=float)
    return 1.0 - np.sum(p**2, axis=-1)


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
