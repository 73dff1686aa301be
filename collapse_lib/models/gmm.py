r"""Gaussian mixtures with full covariances, fitted by EM to many independent datasets at once.

The paper's mixture experiment fits ``sklearn.mixture.GaussianMixture(n_components=2,
covariance_type="full", tol=1e-5, max_iter=2000)`` (k-means initialisation, ``reg_covar=1e-6``)
to 1000 points, samples 1000 new points from it, and repeats for 2050 generations. One instance of
:class:`GaussianMixtureModel` holds ``n_chains`` such mixtures and fits all of them together, with
the same algorithm and the same stopping rule as scikit-learn, applied to each chain separately.

How the batch is made fast
--------------------------
A data point :math:`x\in\mathbb R^d` enters EM only through the features
:math:`\phi(x) = (1,\ x_i,\ x_i x_j\ (i\le j))`, a vector of length
:math:`n_f = 1 + d + d(d+1)/2` (6 for :math:`d=2`):

* the E-step needs :math:`\log w_k + \log\mathcal N(x;\mu_k,\Sigma_k)`, a quadratic function of
  :math:`x` and so a linear function :math:`c_k\cdot\phi(x)` of the features, with
  :math:`c_k` computed from :math:`(w_k, \mu_k, \Sigma_k^{-1}, \log\det\Sigma_k)`;
* the M-step needs :math:`\sum_i r_{ik}`, :math:`\sum_i r_{ik}x_i` and
  :math:`\sum_i r_{ik}x_i x_i^\top`, that is :math:`\sum_i r_{ik}\phi(x_i)`.

So one EM iteration over a batch of chains is two batched matrix products with the
``(n_chains, n_f, M)`` feature array, plus a log-sum-exp over components; everything else works on
arrays of size ``(n_chains, K, d, d)``. The data of every chain are centred on their own mean first
(covariances do not change; means are shifted back at the end), which keeps the moment form of
the covariance :math:`\sum r x x^\top/N - \mu\mu^\top` accurate: covariances are at least
``reg_covar`` so the precision is at most ``1/reg_covar``, and the rounding error of a log
density is about :math:`10^{-16}\,\lVert x-\bar x\rVert^2/\texttt{reg\_covar}`.

Chains converge after different numbers of iterations. Each chain stops when its own mean
log-likelihood changes by less than ``tol`` (scikit-learn's rule), its parameters are stored, and
its row is moved behind the rows still iterating, so that the next iteration works on a prefix of
the working arrays and the cost is the sum of the chains' own iteration counts. When only a few
chains are left (up to :data:`_SCALAR_MAX` components), the small per-iteration arithmetic (the
2-D M-step and k-means centre updates) runs on Python floats, which is much faster than NumPy
calls on arrays of a few numbers; it performs the same floating-point operations in the same
order (and takes its logarithms from ``np.log``), so the numbers are the same bits. Large batches
are split into blocks fitted in parallel threads (NumPy releases the GIL inside its loops). The
numbers depend neither on the split, nor on the other chains in the batch, nor on the memory
layout of the data (the tests check all three).

Initialisation is scikit-learn's: k-means (k-means++ seeding with ``2 + int(log K)`` local
trials, then Lloyd iterations until the labels stop changing or the squared centre shift is at
most ``1e-4`` times the mean per-feature variance, at most 300 iterations), and the initial
mixture is the M-step of the hard k-means labels. It differs in two details that matter only
for degenerate data: an empty k-means cluster keeps its previous centre (scikit-learn moves it
to a far point), and the random numbers are drawn from the NumPy ``Generator`` given to
:meth:`GaussianMixtureModel.fit`, so the same seed gives the same fit.

Degenerate data
---------------
Collapsed data (all points equal, or on a line) do not crash the fit: ``reg_covar`` is added to
every covariance's diagonal (as scikit-learn does) and :attr:`GaussianMixtureModel.regularised_`
records, per chain, whether some component's fitted covariance had an eigenvalue below
``reg_covar`` before that addition, i.e. whether the floor decided its size. A covariance that is
still not positive definite after it (rounding) has its eigenvalues raised to ``reg_covar``, which
is recorded the same way.
"""

from __future__ import annotations

from typing import ClassVar

import math
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np

from ..spec import POSITIVE, POSITIVE_INT, OrNone
from .base import ModelParams
from ..environment import usable_cores
from ..sufficient_stats import PointSamples
from ..validation import (InputArrayError, SettingError, as_array, check_covariance, check_fitted, check_positive_int,
                          check_probabilities)

LOG_2PI = float(np.log(2 * np.pi))
#: scikit-learn adds this to every component's total responsibility (avoids division by zero).
_NK_EPS = 10 * np.finfo(np.float64).eps
#: Up to this many (chain, component) pairs in the working arrays, the small-array arithmetic of
#: k-means (K = 2) and of the 2-D M-step runs on Python floats, with the same results: faster than
#: NumPy calls on arrays of a few numbers.
_SCALAR_MAX = 8
#: Above this log density ratio of two components, exp() could overflow: the log-sum-exp then takes
#: the largest term out instead.
_LOG_RATIO_MAX = 700.0
#: A thread gets at least this many chains (smaller blocks do not pay for the thread).
_MIN_CHAINS_PER_THREAD = 8

KMEANS_MAX_ITER = 300  # scikit-learn's KMeans defaults
KMEANS_TOL = 1e-4


# ---------------------------------------------------------------------------------------------
# Features and the two halves of EM. Layouts: data features ``ft`` (B, n_f, M); weighted feature
# sums ``stats`` and log-density coefficients (B, n_f, K), so that one feature of every chain and
# component, ``stats[:, f]``, is a small contiguous (B, K) array when B = 1.
# ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _layout(d: int):
    """Index arrays of the feature vector (1, x_i, x_i x_j for i <= j) in dimension ``d``.

    Returns ``(i, j, sym, quad_factor)``: the pairs of the quadratic features, the (d, d) map from
    a matrix entry to its feature index, and the factor turning a precision entry into the
    coefficient of its feature in the log density (-1/2 on the diagonal, -1 off it).
    """
    i, j = np.triu_indices(d)
    sym = np.empty((d, d), dtype=np.intp)
    sym[i, j] = 1 + d + np.arange(i.size)
    sym[j, i] = sym[i, j]
    quad_factor = np.where(i == j, -0.5, -1.0)[:, None]
    return i, j, sym, quad_factor


def _features(x: np.ndarray):
    """The features of every chain's data ``x`` (B, M, d) centred on its mean, laid out as
    (B, n_f, M), and the means (B, d).

    The means are computed from a contiguous copy of the data, so the numbers do not depend on the
    memory layout of ``x``.
    """
    n_chains, n_samples, d = x.shape
    i, j, _, _ = _layout(d)
    ft = np.empty((n_chains, 1 + d + i.size, n_samples))
    ft[:, 0] = 1.0
    points = ft[:, 1:1 + d]
    points[...] = x.transpose(0, 2, 1)
    center = np.add.reduce(points, axis=-1) / n_samples
    points -= center[:, :, None]
    for f, (a, b) in enumerate(zip(i, j)):
        np.multiply(ft[:, 1 + a], ft[:, 1 + b], out=ft[:, 1 + d + f])
    return ft, center


def _squares(ft: np.ndarray, d: int) -> np.ndarray:
    """Per-coordinate squares of the points, from their features: (B, d, M)."""
    sym = _layout(d)[2]
    return ft[:, sym[np.arange(d), np.arange(d)]]


def _weighted_sums(ft: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``sum_i weights[b, k, i] * phi(x_bi)`` for every feature: shape (B, n_f, K)."""
    return np.matmul(ft, weights.transpose(0, 2, 1))


def _one_hot(labels: np.ndarray, n_components: int) -> np.ndarray:
    """Hard responsibilities (B, K, M) of integer labels (B, M)."""
    return (labels[:, None, :] == np.arange(n_components)[None, :, None]).astype(np.float64)


def _m_step(stats: np.ndarray, d: int, reg_covar: float):
    r"""Mixture parameters from responsibility-weighted feature sums ``stats`` (B, n_f, K).

    The formulas of scikit-learn's ``_estimate_gaussian_parameters`` (``nk`` includes its
    ``10 eps``), written with sums of :math:`x` and :math:`x x^\top` instead of a pass over the
    data: :math:`\Sigma = S_2/n_k - \mu\mu^\top (2 - N/n_k)` equals
    :math:`\sum_i r_i (x_i-\mu)(x_i-\mu)^\top / n_k` with :math:`\mu = S_1/n_k`.
    Returns ``weights`` (B, K), ``means`` (B, K, d), ``covariances`` (B, K, d, d).
    """
    _, _, sym, _ = _layout(d)
    total = stats[:, 0]
    nk = total + _NK_EPS
    means = (stats[:, 1:1 + d] / nk[:, None]).transpose(0, 2, 1)
    covariances = np.moveaxis(stats[:, sym], -1, 1) / nk[..., None, None]
    covariances -= means[..., :, None] * means[..., None, :] * (2.0 - total / nk)[..., None, None]
    covariances += reg_covar * np.eye(d)
    return nk / nk.sum(axis=-1, keepdims=True), means, covariances


def _repair(covariances: np.ndarray, floor: float):
    """Raise every eigenvalue below ``floor`` to ``floor``; returns (covariances, repaired (B, K))."""
    values, vectors = np.linalg.eigh(covariances)
    repaired = (values < floor).any(axis=-1) | ~np.isfinite(values).all(axis=-1)
    values = np.where(np.isfinite(values), np.maximum(values, floor), floor)
    fixed = (vectors * values[..., None, :]) @ np.swapaxes(vectors, -1, -2)
    return np.where(repaired[..., None, None], fixed, covariances), repaired


def _ensure_positive_definite(covariances: np.ndarray, floor: float):
    """``covariances``, with those that are not positive definite repaired, and which were (B, K)."""
    try:
        np.linalg.cholesky(covariances)
        return covariances, np.zeros(covariances.shape[:-2], dtype=bool)
    except np.linalg.LinAlgError:
        return _repair(covariances, floor)


def _log_density_coefficients(weights, means, covariances, floor):
    """Coefficients ``C`` (B, n_f, K) with ``C[b, :, k] . phi(x) = log w_k + log N(x; mu_k, Sigma_k)``.

    Returns ``(C, repaired)``: covariances that are not positive definite are repaired first
    (:func:`_repair`) and ``repaired`` (B, K) says which, or is ``None`` if none was.
    """
    d = means.shape[-1]
    i, j, _, quad_factor = _layout(d)
    repaired = None
    try:
        chol = np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        covariances, repaired = _repair(covariances, floor)
        chol = np.linalg.cholesky(covariances)
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    precision = np.linalg.inv(covariances)
    precision_mean = np.matmul(precision, means[..., None])[..., 0]
    coefficients = np.empty((means.shape[0], 1 + d + i.size, means.shape[1]))
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    coefficients[:, 0] = log_weights - 0.5 * (d * LOG_2PI + log_det + (means * precision_mean).sum(axis=-1))
    coefficients[:, 1:1 + d] = precision_mean.transpose(0, 2, 1)
    coefficients[:, 1 + d:] = np.moveaxis(precision[..., i, j], -1, 1) * quad_factor
    return coefficients, repaired


def _covariance_2d(total, sx, sy, sxx, sxy, syy, reg_covar):
    """The M-step of one component in 2-D from its weighted sums (see :func:`_m_step`), written
    with arithmetic operators only: the same operations, hence the same numbers, on NumPy arrays
    (many components at once) and on Python floats (a few, where it is much faster than NumPy
    calls on tiny arrays). Returns ``(nk, mx, my, a, b, c, det)``: the total responsibility, the
    mean, the covariance ``[[a, b], [b, c]]`` and its determinant."""
    nk = total + _NK_EPS
    inv = 1.0 / nk
    mx, my = sx * inv, sy * inv
    factor = 2.0 - total * inv
    a = sxx * inv - mx * mx * factor + reg_covar
    b = sxy * inv - mx * my * factor
    c = syy * inv - my * my * factor + reg_covar
    return nk, mx, my, a, b, c, a * c - b * b


def _density_coefficients_2d(mx, my, a, b, c, det, log_det):
    r"""Coefficients of (1, x, y, xx, xy, yy) in :math:`\log\mathcal N(x; \mu, \Sigma)`, operators
    only (see :func:`_covariance_2d`)."""
    inv_det = 1.0 / det
    pxx, pxy, pyy = c * inv_det, -b * inv_det, a * inv_det
    pmx, pmy = pxx * mx + pxy * my, pxy * mx + pyy * my
    constant = -0.5 * (mx * pmx + my * pmy + log_det) - LOG_2PI
    return constant, pmx, pmy, -0.5 * pxx, -pxy, -0.5 * pyy


def _coefficients_2d(stats: np.ndarray, reg_covar: float):
    """:func:`_log_density_coefficients` of the M-step of ``stats`` (B, 6, K), in closed form for d = 2.

    The same numbers as the general path up to rounding (the 2 x 2 inverse and determinant written
    out), with a fraction of its per-call overhead. Up to :data:`_SCALAR_MAX` components the
    arithmetic runs on Python floats, with bit-for-bit the results of the array version (logarithms
    come from ``np.log`` in both). Returns ``None`` if a covariance is not positive definite (the
    general path then repairs it).
    """
    n_chains, _, n_components = stats.shape
    if n_chains * n_components > _SCALAR_MAX:
        nk, mx, my, a, b, c, det = _covariance_2d(*(stats[:, f] for f in range(6)), reg_covar)
        if not ((det > 0).all() and (a > 0).all()):  # also False for NaN
            return None
        constant, *rest = _density_coefficients_2d(mx, my, a, b, c, det, np.log(det))
        log_weights = np.log(nk) - np.log(nk.sum(axis=-1, keepdims=True))
        return np.stack([constant + log_weights, *rest], axis=1)
    pairs = [_covariance_2d(*row, reg_covar) for chain in stats.transpose(0, 2, 1).tolist() for row in chain]
    if not all(pair[6] > 0 and pair[3] > 0 for pair in pairs):
        return None
    totals = []
    for first in range(0, len(pairs), n_components):  # sum of nk over each chain's components
        total = pairs[first][0]
        for pair in pairs[first + 1:first + n_components]:
            total += pair[0]
        totals.append(total)
    size = len(pairs)
    logs = np.log(np.array([p[6] for p in pairs] + [p[0] for p in pairs] + totals)).tolist()
    values = []
    for index, pair in enumerate(pairs):
        constant, *rest = _density_coefficients_2d(*pair[1:], logs[index])
        values.append([constant + (logs[size + index] - logs[2 * size + index // n_components]), *rest])
    return np.array(values).reshape(n_chains, n_components, 6).transpose(0, 2, 1)


def _coefficients_from_stats(stats: np.ndarray, d: int, reg_covar: float):
    """Log-density coefficients (B, n_f, K) of the mixture that the M-step makes of ``stats``.

    Returns ``(coefficients, repaired)``, ``repaired`` being ``None`` or (B, K) (see :func:`_repair`).
    """
    if d == 2:
        coefficients = _coefficients_2d(stats, reg_covar)
        if coefficients is not None:
            return coefficients, None
    return _log_density_coefficients(*_m_step(stats, d, reg_covar), reg_covar)


def _log_prob(coefficients: np.ndarray, ft: np.ndarray) -> np.ndarray:
    """``log w_k + log N(x_i; mu_k, Sigma_k)`` for every chain, component and point: (B, K, M)."""
    return np.matmul(coefficients.transpose(0, 2, 1), ft)


def _log_normaliser_and_responsibilities(log_prob: np.ndarray):
    """Turn ``log_prob`` (B, K, M) into responsibilities in place; return the mean log-likelihood (B,)."""
    n_components = log_prob.shape[1]
    if n_components == 1:
        bound = np.add.reduce(log_prob[:, 0], axis=-1) / log_prob.shape[-1]
        log_prob.fill(1.0)
        return bound
    if n_components > 2:
        return _normalise_by_max(log_prob)
    # Two components: relative to component 0, one exponential per point. A row in which the
    # density ratio could overflow (log ratio above 700) takes the general path instead; each row's
    # choice depends on its own numbers only.
    log_ratio = np.subtract(log_prob[:, 1], log_prob[:, 0])
    if not np.maximum.reduce(log_ratio, axis=None) > _LOG_RATIO_MAX:  # the usual case, one test for all rows
        return _normalise_two(log_prob, log_ratio)
    risky = np.maximum.reduce(log_ratio, axis=-1) > _LOG_RATIO_MAX
    bound = np.empty(log_prob.shape[0])
    for rows, normalise in ((np.flatnonzero(risky), _normalise_by_max), (np.flatnonzero(~risky), None)):
        if rows.size:
            part = log_prob[rows]
            bound[rows] = normalise(part) if normalise else _normalise_two(part, log_ratio[rows])
            log_prob[rows] = part
    return bound


def _normalise_two(log_prob: np.ndarray, log_ratio: np.ndarray):
    r"""Two components, :math:`q = p_0 (1 + e^{\ell_1-\ell_0})`: see :func:`_log_normaliser_and_responsibilities`."""
    first, second = log_prob[:, 0], log_prob[:, 1]
    base = np.add.reduce(first, axis=-1)
    ratio = np.exp(log_ratio, out=log_ratio)
    total = ratio + 1.0
    np.divide(1.0, total, out=first)
    np.multiply(ratio, first, out=second)
    np.log(total, out=total)
    return (base + np.add.reduce(total, axis=-1)) / log_prob.shape[-1]


def _normalise_by_max(log_prob: np.ndarray):
    """Any number of components, the log-sum-exp with the largest term taken out."""
    top = log_prob.max(axis=1)
    np.subtract(log_prob, top[:, None], out=log_prob)
    np.exp(log_prob, out=log_prob)
    total = log_prob.sum(axis=1)
    np.divide(log_prob, total[:, None], out=log_prob)
    np.log(total, out=total)
    total += top
    return np.add.reduce(total, axis=-1) / total.shape[-1]


def _retire(done: np.ndarray, arrays) -> int:
    """Move the finished rows (``done``, a mask over the rows in use) behind the others, in place.

    The rows still iterating then form a prefix of every array in ``arrays`` (full-size working
    arrays whose first ``done.size`` rows are in use), so the next iteration works on views and
    no finished row is computed again. Only finished rows in the prefix are overwritten, each
    by a row from behind it. Returns the number of rows still iterating.
    """
    finished = np.flatnonzero(done)
    n_left = done.size - finished.size
    holes = finished[finished < n_left]
    if holes.size:
        movers = np.flatnonzero(~done[n_left:]) + n_left
        for array in arrays:
            array[holes] = array[movers]
    return n_left


# ---------------------------------------------------------------------------------------------
# k-means initialisation (scikit-learn's algorithm, batched)
# ---------------------------------------------------------------------------------------------

def n_local_trials(n_components: int) -> int:
    """scikit-learn's number of k-means++ candidates per centre: ``2 + int(log K)``."""
    return 2 + int(np.log(n_components))


def _kmeans_plusplus(ft: np.ndarray, d: int, n_components: int, uniforms: np.ndarray) -> np.ndarray:
    """Greedy k-means++ seeding of every chain, from the features ``ft`` (B, n_f, M) of the points;
    ``uniforms`` (B, 1 + (K-1) T) in [0, 1). Returns the centres as (B, d, K)."""
    n_chains, _, n_samples = ft.shape
    points_t = ft[:, 1:1 + d]  # (B, d, M)
    trials = n_local_trials(n_components)
    centers = np.empty((n_chains, d, n_components))
    rows = np.arange(n_chains)
    first = np.minimum((uniforms[:, 0] * n_samples).astype(np.intp), n_samples - 1)  # (B,)
    centers[:, :, 0] = points_t[rows, :, first]

    def squared_distances(chosen):  # (B, d, P) -> (B, P, M)
        out = points_t[:, 0, None, :] - chosen[:, 0, :, None]
        np.square(out, out=out)
        for j in range(1, d):
            part = points_t[:, j, None, :] - chosen[:, j, :, None]
            out += np.square(part, out=part)
        return out

    closest = squared_distances(centers[:, :, :1])[:, 0]  # (B, M)
    potential = np.add.reduce(closest, axis=-1)
    for c in range(1, n_components):
        targets = uniforms[:, 1 + (c - 1) * trials: 1 + c * trials] * potential[:, None]  # (B, T)
        cumulative = np.cumsum(closest, axis=-1)
        candidates = np.count_nonzero(cumulative[:, None, :] < targets[:, :, None], axis=-1)  # searchsorted, left
        np.minimum(candidates, n_samples - 1, out=candidates)
        chosen = points_t[rows[:, None], :, candidates].transpose(0, 2, 1)  # (B, d, T)
        distances = np.minimum(squared_distances(chosen), closest[:, None, :])  # (B, T, M)
        candidate_potential = np.add.reduce(distances, axis=-1)
        best = candidate_potential.argmin(axis=-1)
        centers[:, :, c] = chosen[rows, :, best]
        if c + 1 < n_components:
            closest = distances[rows, best]
            potential = candidate_potential[rows, best]
    return centers


def _decision(centers: np.ndarray) -> np.ndarray:
    r"""What the assignment step needs of the centres (B, d, K).

    For K = 2, the linear test (B, 1 + d) that is negative where a point is nearer to centre 1:
    :math:`|x-c_1|^2 - |x-c_0|^2 = (c_1+c_0)\cdot(c_1-c_0) - 2(c_1-c_0)\cdot x`. Otherwise the
    coefficients (B, 1 + d, K) of :math:`|c|^2 - 2 c\cdot x` (the :math:`|x|^2` term is common).
    """
    if centers.shape[-1] == 2:
        diff = centers[:, :, 1] - centers[:, :, 0]
        return np.concatenate([((centers[:, :, 1] + centers[:, :, 0]) * diff).sum(axis=1, keepdims=True),
                               -2.0 * diff], axis=1)
    return np.concatenate([(centers * centers).sum(axis=1, keepdims=True), -2.0 * centers], axis=1)


def _assign(ft_linear: np.ndarray, decision: np.ndarray, totals: np.ndarray, n_components: int):
    """One Lloyd assignment: labels (B, M) of the nearest centres, and the sums (B, 1 + d, K) of
    ``(1, x)`` over each cluster. ``ft_linear`` are the features ``(1, x)`` (B, 1 + d, M) and
    ``totals`` their sums over all points (B, 1 + d, 1)."""
    if n_components == 2:
        labels = np.matmul(decision[:, None, :], ft_linear) < 0.0  # (B, 1, M)
        in_one = _weighted_sums(ft_linear, labels.astype(np.float64))
        return labels[:, 0], np.concatenate([totals - in_one, in_one], axis=-1)
    labels = _log_prob(decision, ft_linear).argmin(axis=1)
    return labels, _weighted_sums(ft_linear, _one_hot(labels, n_components))


def _update_centers(sums: np.ndarray, centers: np.ndarray):
    """Lloyd's update: the cluster means (an empty cluster keeps its centre), the squared shift
    of the centres (B,) and the new :func:`_decision`."""
    n_chains, d, n_components = centers.shape
    counts = sums[:, :1]
    new = np.where(counts > 0, sums[:, 1:] / np.maximum(counts, 1.0), centers)
    moved = (new - centers) ** 2
    shift = moved[:, 0, 0]
    for j, k in np.ndindex(d, n_components):  # a fixed order of summation (see _lloyd_two_scalar)
        if j or k:
            shift = shift + moved[:, j, k]
    return new, shift, _decision(new)


def _two_decision(centres) -> list:
    """:func:`_decision` of one chain's two centres on Python floats (``centres[j] = [c0_j, c1_j]``)."""
    diff = [c1 - c0 for c0, c1 in centres]
    total = (centres[0][1] + centres[0][0]) * diff[0]
    for (c0, c1), q in zip(centres[1:], diff[1:]):
        total += (c1 + c0) * q
    return [total] + [-2.0 * q for q in diff]


def _lloyd_two_scalar(ft_linear, totals, centers, tolerance, iterations):
    """Lloyd's iterations for K = 2 on a few chains, with the centres on Python floats.

    The same operations in the same order as :func:`_assign`, :func:`_update_centers` and
    :func:`_decision`, hence the same numbers, without the cost of NumPy calls on arrays of a few
    numbers. Runs at most ``iterations`` iterations (the last one stops every chain); returns the
    final centres (B, d, 2) and their :func:`_decision` (B, 1 + d).
    """
    n_chains, d, _ = centers.shape
    sums_all = totals[:, :, 0].tolist()
    old = centers.tolist()  # old[b][j] = [centre 0, centre 1] of coordinate j
    limits = tolerance.tolist()
    decisions = [_two_decision(chain) for chain in old]
    done = [False] * n_chains
    for iteration in range(iterations):
        labels = np.matmul(np.array(decisions)[:, None, :], ft_linear) < 0.0
        in_one = _weighted_sums(ft_linear, labels.astype(np.float64))[:, :, 0].tolist()
        for b in range(n_chains):
            if done[b]:
                continue
            n1 = in_one[b][0]
            n0 = sums_all[b][0] - n1
            new = [[(sums_all[b][1 + j] - in_one[b][1 + j]) / n0 if n0 > 0 else old[b][j][0],
                    in_one[b][1 + j] / n1 if n1 > 0 else old[b][j][1]] for j in range(d)]
            shift = None
            for (a0, a1), (c0, c1) in zip(new, old[b]):
                for term in ((a0 - c0) ** 2, (a1 - c1) ** 2):
                    shift = term if shift is None else shift + term
            decisions[b] = _two_decision(new)
            old[b] = new
            done[b] = shift <= limits[b] or iteration == iterations - 1
        if all(done):
            break
    return np.array(old), np.array(decisions)


def _kmeans(ft, d, n_components, uniforms, max_iter=KMEANS_MAX_ITER, tol=KMEANS_TOL):
    """Batched Lloyd k-means of the points with features ``ft`` (B, n_f, M), with scikit-learn's
    stopping rules. Returns the feature sums of the final clusters (B, n_f, K): the statistics of
    the hard (one-hot) responsibilities that EM starts from."""
    feature_totals = np.add.reduce(ft, axis=-1)  # (B, n_f)
    if n_components == 1:
        return feature_totals[:, :, None]
    # scikit-learn's _tolerance: tol times the mean over coordinates of the variance (the data
    # are centred), per chain
    squares = _layout(d)[2][np.arange(d), np.arange(d)]
    tolerance = np.add.reduce(feature_totals[:, squares], axis=-1) * (tol / (d * ft.shape[-1]))
    centers = _kmeans_plusplus(ft, d, n_components, uniforms)
    ft_linear = ft[:, :1 + d]
    totals = feature_totals[:, :1 + d, None]
    floats = n_components == 2 and d == 2  # few chains: the loop on Python floats
    if floats and ft.shape[0] * n_components <= _SCALAR_MAX:
        _, decision = _lloyd_two_scalar(ft_linear, totals, centers, tolerance, max_iter)
        return _cluster_sums(ft, feature_totals, decision, n_components)
    decision = _decision(centers)
    final = centers.copy()
    index = np.arange(ft.shape[0])  # chain of each working row
    work_ft = ft_linear.copy()  # rows are reordered as chains finish
    totals = totals.copy()
    n = ft.shape[0]  # rows in use
    for iteration in range(max_iter):
        if floats and n * n_components <= _SCALAR_MAX:
            final[index[:n]] = _lloyd_two_scalar(work_ft[:n], totals[:n], centers, tolerance[:n],
                                                 max_iter - iteration)[0]
            break
        _, sums = _assign(work_ft[:n], decision, totals[:n], n_components)
        centers, shift, decision = _update_centers(sums, centers)
        # scikit-learn stops when the labels did not change ("strict convergence") or the squared
        # shift is at most the tolerance. Unchanged labels give the same centres again, a shift of
        # exactly 0, so the second test covers the first.
        done = shift <= tolerance[:n]
        if iteration == max_iter - 1:
            done[:] = True
        if not np.logical_or.reduce(done):
            continue
        final[index[:n][done]] = centers[done]
        n_left = _retire(done, (work_ft, totals, tolerance, index, centers, decision))
        centers, decision, n = centers[:n_left], decision[:n_left], n_left
        if n == 0:
            break
    return _cluster_sums(ft, feature_totals, _decision(final), n_components)


def _cluster_sums(ft: np.ndarray, feature_totals: np.ndarray, decision: np.ndarray, n_components: int):
    """Feature sums (B, n_f, K) over the clusters of the nearest centres (see :func:`_decision`);
    ``feature_totals`` (B, n_f) are the sums over all points."""
    ft_linear = ft[:, :decision.shape[1]]
    if n_components == 2:
        nearer_one = np.matmul(decision[:, None, :], ft_linear) < 0.0  # (B, 1, M)
        in_one = _weighted_sums(ft, nearer_one.astype(np.float64))  # (B, n_f, 1)
        return np.concatenate([feature_totals[:, :, None] - in_one, in_one], axis=-1)
    return _weighted_sums(ft, _one_hot(_log_prob(decision, ft_linear).argmin(axis=1), n_components))


# ---------------------------------------------------------------------------------------------
# EM
# ---------------------------------------------------------------------------------------------

def _em(ft, stats, d, tol, max_iter, reg_covar):
    """Run EM on every chain, starting from the M-step of ``stats``, until each chain's own convergence.

    ``stats`` (B, n_f, K) are responsibility-weighted feature sums (for k-means labels: one-hot
    weights). Returns ``(stats, n_iter, converged, lower_bound, repaired)``: the sums of the last
    E-step of each chain (its fitted parameters are their M-step), its iterations, whether it
    converged, scikit-learn's ``lower_bound_`` (the mean log-likelihood at that E-step) and
    whether a covariance had to be repaired on the way. The rows of ``ft`` are reordered in place.
    """
    n_chains = ft.shape[0]
    out = stats.copy()
    n_iter = np.zeros(n_chains, dtype=np.int64)
    converged = np.zeros(n_chains, dtype=bool)
    lower_bound = np.full(n_chains, -np.inf)
    repaired_any = np.zeros(n_chains, dtype=bool)

    index = np.arange(n_chains)  # chain of each working row
    previous = np.full(n_chains, -np.inf)
    n = n_chains  # rows in use; ``ft`` is reordered in place as chains finish
    for iteration in range(1, max_iter + 1):
        coefficients, repaired = _coefficients_from_stats(stats, d, reg_covar)
        if repaired is not None:
            repaired_any[index[:n][repaired.any(axis=-1)]] = True
        log_prob = _log_prob(coefficients, ft[:n])
        bound = _log_normaliser_and_responsibilities(log_prob)
        stats = _weighted_sums(ft[:n], log_prob)
        if n == 1:  # one chain left: the same test on Python floats, without four NumPy calls
            change_value = abs(float(bound[0]) - float(previous[0]))
            previous = bound
            if change_value >= tol and iteration < max_iter:
                continue
            change, done = np.array([change_value]), np.ones(1, dtype=bool)
        else:
            change = np.abs(bound - previous)
            previous = bound
            done = change < tol
            if iteration == max_iter:
                done[:] = True
            if not np.logical_or.reduce(done):
                continue
        chains = index[:n][done]
        out[chains] = stats[done]
        n_iter[chains] = iteration
        converged[chains] = change[done] < tol
        lower_bound[chains] = bound[done]
        n = _retire(done, (ft, index, stats, previous))
        stats, previous = stats[:n], previous[:n]
        if n == 0:
            break
    return out, n_iter, converged, lower_bound, repaired_any


def _smallest_eigenvalue_2d(a, b, c, det, sqrt):
    """Smallest eigenvalue of ``[[a, b], [b, c]]``, as ``det`` over the largest one (accurate even
    when it is tiny); operators only (see :func:`_covariance_2d`), ``sqrt`` is ``np.sqrt`` or
    ``math.sqrt`` (both correctly rounded)."""
    half = 0.5 * (a - c)
    return det / (0.5 * (a + c) + sqrt(half * half + b * b))


def _params_from_stats(stats: np.ndarray, d: int, reg_covar: float):
    """The fitted mixtures (the M-step of the final sums) and, per component, whether it was
    *floored*: an eigenvalue of its covariance below ``reg_covar`` before ``reg_covar`` was added,
    or not positive definite (then repaired, see :func:`_repair`). Returns ``weights`` (B, K),
    ``means`` (B, K, d), ``covariances`` (B, K, d, d) and ``floored`` (B, K)."""
    n_chains, _, n_components = stats.shape
    if d == 2 and n_chains * n_components <= _SCALAR_MAX:  # closed form on Python floats
        pairs = [_covariance_2d(*row, reg_covar) for chain in stats.transpose(0, 2, 1).tolist() for row in chain]
        if all(pair[6] > 0 and pair[3] > 0 for pair in pairs):
            weights, means, covariances, floored = [], [], [], []
            for first in range(0, len(pairs), n_components):
                chain = pairs[first:first + n_components]
                total = chain[0][0]
                for pair in chain[1:]:
                    total += pair[0]
                for nk, mx, my, a, b, c, det in chain:
                    weights.append(nk / total)
                    means.append([mx, my])
                    covariances.append([[a, b], [b, c]])
                    floored.append(_smallest_eigenvalue_2d(a, b, c, det, math.sqrt) < 2.0 * reg_covar)
            shape = (n_chains, n_components)
            return (np.array(weights).reshape(shape), np.array(means).reshape(shape + (2,)),
                    np.array(covariances).reshape(shape + (2, 2)), np.array(floored).reshape(shape))
    elif d == 2:  # the same, on arrays
        nk, mx, my, a, b, c, det = _covariance_2d(*(stats[:, f] for f in range(6)), reg_covar)
        if (det > 0).all() and (a > 0).all():
            covariances = np.stack([np.stack([a, b], axis=-1), np.stack([b, c], axis=-1)], axis=-2)
            return (nk / nk.sum(axis=-1, keepdims=True), np.stack([mx, my], axis=-1), covariances,
                    _smallest_eigenvalue_2d(a, b, c, det, np.sqrt) < 2.0 * reg_covar)
    weights, means, covariances = _m_step(stats, d, reg_covar)
    covariances, repaired = _ensure_positive_definite(covariances, reg_covar)
    return weights, means, covariances, repaired | (np.linalg.eigvalsh(covariances)[..., 0] < 2.0 * reg_covar)


def _fit_block(x, uniforms, n_components, tol, max_iter, reg_covar, init_only=False):
    """Fit every chain of ``x`` (B, M, d); see :meth:`GaussianMixtureModel.fit`."""
    d = x.shape[-1]
    ft, center = _features(x)
    stats = _kmeans(ft, d, n_components, uniforms)
    if not init_only:
        stats, n_iter, converged, lower_bound, repaired = _em(ft, stats, d, tol, max_iter, reg_covar)
    weights, means, covariances, floored = _params_from_stats(stats, d, reg_covar)
    params = dict(weights=weights, means=means + center[:, None, :], covariances=covariances)
    if init_only:
        return params
    return dict(params, n_iter=n_iter, converged=converged, lower_bound=lower_bound,
                regularised=floored.any(axis=-1) | repaired)


def check_mixture_data(data, n_components: int) -> np.ndarray:
    """Validate a batch of datasets for a ``n_components`` mixture; return it as float64 (B, M, d)."""
    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 3:
        raise SettingError(f"mixture data must have shape (n_chains, n_samples, n_features), got shape {x.shape}; "
                           "for a single dataset X of shape (n_samples, n_features) pass X[None].")
    n_chains, n_samples, d = x.shape
    if n_chains < 1 or d < 1:
        raise SettingError(f"mixture data need at least one chain and one feature, got shape {x.shape}.")
    if n_samples < n_components:
        raise SettingError(f"fitting n_components={n_components} needs at least {n_components} samples per chain, "
                           f"got n_samples={n_samples}.")
    if not np.logical_and.reduce(np.isfinite(x), axis=None):
        bad = np.flatnonzero(~np.isfinite(x).all(axis=(1, 2)))
        raise SettingError(f"mixture data contain non-finite values (NaN or inf) in {bad.size} chain(s) "
                           f"(first: chain {int(bad[0])}); clean the data first.")
    return x


class GaussianMixtureModel(ModelParams):
    """``n_chains`` independent Gaussian mixtures with full covariances, fitted by EM.

    Parameters
    ----------
    n_components : int
        Components ``K`` of every mixture (>= 1).
    tol : float
        EM stops for a chain when its mean log-likelihood changes by less than ``tol`` between
        iterations (scikit-learn's rule; the paper uses 1e-5).
    max_iter : int
        At most this many EM iterations per chain (the paper: 2000).
    reg_covar : float
        Added to the diagonal of every covariance (> 0; scikit-learn's default 1e-6).
    n_threads : int, optional
        Threads that fit blocks of chains in parallel; default: the usable cores, with at least
        8 chains per thread. The numbers do not depend on it.

    Attributes (after ``fit``)
    --------------------------
    weights_ : ndarray, shape (n_chains, K)
    means_ : ndarray, shape (n_chains, K, d), data units
    covariances_ : ndarray, shape (n_chains, K, d, d), squared data units
    n_iter_ : ndarray of int, shape (n_chains,)
        EM iterations of each chain.
    converged_ : ndarray of bool, shape (n_chains,)
    lower_bound_ : ndarray, shape (n_chains,)
        Mean log-likelihood per point at the last E-step (scikit-learn's ``lower_bound_``).
    regularised_ : ndarray of bool, shape (n_chains,)
        Whether ``reg_covar`` decided the size of some component's covariance (an eigenvalue
        below ``reg_covar`` before it was added), or a covariance had to be repaired.
    """

    sample_axis = 1

    _parameter_constraints: ClassVar[dict] = {
        "n_components": POSITIVE_INT,
        "tol": POSITIVE,          # EM stops when the mean log-likelihood (nats per point) changes by less
        "max_iter": POSITIVE_INT,
        "reg_covar": POSITIVE,    # added to every covariance's diagonal (squared data units)
        "n_threads": OrNone(POSITIVE_INT, "all cores"),
    }

    def __init__(self, n_components: int = 2, tol: float = 1e-5, max_iter: int = 2000, reg_covar: float = 1e-6,
                 n_threads: int | None = None):
        self.n_components, self.tol, self.max_iter, self.reg_covar = n_components, tol, max_iter, reg_covar
        self.n_threads = n_threads
        self._validate_params()

    @classmethod
    def from_params(cls, weights, means, covariances, n_chains: int | None = None, **options) -> "GaussianMixtureModel":
        """A mixture with known parameters: ``weights`` (K,), ``means`` (K, d), ``covariances``
        (K, d, d), repeated over ``n_chains``; or already batched, with a leading chain axis.

        Checks: finite values, weights that are probabilities (non-negative, summing to 1), and
        symmetric positive semi-definite covariances.
        """
        w = as_array("weights", weights, min_ndim=1, shape_hint="(K,) or (n_chains, K)")
        m = as_array("means", means, min_ndim=2, shape_hint="(K, d) or (n_chains, K, d)")
        c = as_array("covariances", covariances, min_ndim=3, shape_hint="(K, d, d) or (n_chains, K, d, d)")
        check_probabilities("weights", w)
        check_covariance("covariances", c)
        if n_chains is not None:
            n_chains = check_positive_int("n_chains", n_chains)
            w, m, c = (np.broadcast_to(a, (n_chains,) + a.shape).copy() for a in (w, m, c))
        model = cls(n_components=w.shape[-1], **options)
        return model.set_state({"weights": w, "means": m, "covariances": c})

    # --- fitting --------------------------------------------------------------------------------

    def _uniforms(self, n_chains: int, rng) -> np.ndarray:
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return rng.random((n_chains, 1 + (self.n_components - 1) * n_local_trials(self.n_components)))

    def _threads(self, n_chains: int) -> int:
        most = n_chains // _MIN_CHAINS_PER_THREAD
        if most < 2:
            return 1
        return max(1, min(self.n_threads if self.n_threads is not None else usable_cores(), most))

    def _run_blocks(self, x, uniforms, init_only=False) -> dict:
        args = (self.n_components, self.tol, self.max_iter, self.reg_covar, init_only)
        threads = self._threads(x.shape[0])
        if threads == 1:
            return _fit_block(x, uniforms, *args)
        blocks = np.array_split(np.arange(x.shape[0]), threads)
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(lambda rows: _fit_block(x[rows], uniforms[rows], *args), blocks))
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

    def fit(self, data, rng=None) -> "GaussianMixtureModel":
        """Fit every chain to its data, an array of shape ``(n_chains, M, d)``.

        ``rng`` (a ``numpy.random.Generator`` or a seed) draws the k-means++ seeds; the same data
        and the same ``rng`` give the same fit.
        """
        x = check_mixture_data(data, self.n_components)
        result = self._run_blocks(x, self._uniforms(x.shape[0], rng))
        self.set_state(result)
        self.n_iter_, self.converged_ = result["n_iter"], result["converged"]
        self.lower_bound_, self.regularised_ = result["lower_bound"], result["regularised"]
        return self

    def initial_params(self, data, rng=None) -> dict:
        """The starting point :meth:`fit` uses with the same ``rng``: the M-step of the k-means labels.

        Handy to start scikit-learn from the same point (``weights_init``, ``means_init``,
        ``precisions_init``). Returns ``weights`` (B, K), ``means`` (B, K, d), ``covariances``
        (B, K, d, d).
        """
        x = check_mixture_data(data, self.n_components)
        return self._run_blocks(x, self._uniforms(x.shape[0], rng), init_only=True)

    # --- using a fitted mixture -------------------------------------------------------------------

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points from every chain's mixture: shape ``(n_chains, n, d)``.

        Component counts are multinomial (binomial for two components); as in scikit-learn, the
        points come grouped by component.
        The array is a view of a ``(n_chains, d, n)`` array (the layout :meth:`fit` works in).
        """
        check_fitted(self, "weights_")
        n = check_positive_int("sample size", n)
        n_chains, n_components, d = self.means_.shape
        try:
            chol = np.linalg.cholesky(self.covariances_)
        except np.linalg.LinAlgError:
            raise InputArrayError("covariances_ must be positive definite to sample, but some chain's component "
                                  "covariance is singular or not a covariance; refit, or set parameters whose "
                                  "covariances have reg_covar added to their diagonal.") from None
        noise = rng.standard_normal((n_chains, d, n))
        out = np.matmul(chol[:, 0], noise)
        out += self.means_[:, 0, :, None]
        if n_components == 2:  # binomial counts: the multinomial's distribution, a fraction of its cost
            part = np.matmul(chol[:, 1], noise)
            part += self.means_[:, 1, :, None]
            for chain, start in enumerate(rng.binomial(n, np.minimum(self.weights_[:, 0], 1.0)).tolist()):
                out[chain, :, start:] = part[chain, :, start:]
        elif n_components > 2:
            counts = rng.multinomial(n, self.weights_)
            starts = np.cumsum(counts, axis=1) - counts  # where each component's points begin
            for k in range(1, n_components):
                part = np.matmul(chol[:, k], noise)
                part += self.means_[:, k, :, None]
                for chain, (start, count) in enumerate(zip(starts[:, k].tolist(), counts[:, k].tolist())):
                    out[chain, :, start:start + count] = part[chain, :, start:start + count]
        return out.transpose(0, 2, 1)

    def score(self, data) -> np.ndarray:
        """Mean log-likelihood per point of every chain's data under its mixture: shape (n_chains,)."""
        check_fitted(self, "weights_", "score")
        x = check_mixture_data(data, 1)
        if x.shape[0] != self.n_chains or x.shape[-1] != self.means_.shape[-1]:
            raise SettingError(f"data of shape {x.shape} do not match {self.n_chains} chains in "
                               f"{self.means_.shape[-1]} dimensions.")
        ft, center = _features(x)
        coefficients, _ = _log_density_coefficients(self.weights_, self.means_ - center[:, None, :],
                                                    self.covariances_, self.reg_covar)
        log_prob = _log_prob(coefficients, ft)
        return _log_normaliser_and_responsibilities(log_prob)

    @property
    def n_chains(self) -> int:
        check_fitted(self, "weights_", "n_chains")
        return int(self.weights_.shape[0])

    def get_state(self) -> dict:
        check_fitted(self, "weights_", "get_state")
        return {"weights": self.weights_, "means": self.means_, "covariances": self.covariances_}

    def set_state(self, params: dict) -> "GaussianMixtureModel":
        """Set ``weights`` (B, K), ``means`` (B, K, d), ``covariances`` (B, K, d, d): shapes that agree,
        finite values and weights summing to 1 are checked here (O(B K d^2)); covariances must be
        positive definite to sample (checked there, by the Cholesky factorisation sampling needs)."""
        w = as_array("weights", params["weights"])
        m = as_array("means", params["means"])
        c = as_array("covariances", params["covariances"])
        if w.ndim != 2 or m.shape[:2] != w.shape or c.shape != m.shape + m.shape[-1:]:
            raise SettingError(f"mixture parameters must have shapes (B, K), (B, K, d), (B, K, d, d); got "
                               f"{w.shape}, {m.shape}, {c.shape}.")
        if w.shape[1] != self.n_components:
            raise SettingError(f"parameters have {w.shape[1]} components, the model n_components={self.n_components}.")
        check_probabilities("weights", w)
        self.weights_, self.means_, self.covariances_ = w, m, c
        return self


class PointMixture(GaussianMixtureModel):
    """A :class:`GaussianMixtureModel` whose samples are :class:`~collapse_lib.sufficient_stats.PointSamples`,
    so that the *accumulate-subsample* policy draws whole points (not coordinates independently).

    Its parameters, fitted state and fit are the mixture's; :meth:`fit` also takes ``PointSamples``.
    """

    def fit(self, data, rng=None) -> "PointMixture":
        """Fit every chain to its points: :class:`~collapse_lib.sufficient_stats.PointSamples` or an array of
        shape ``(n_chains, M, d)`` (see :meth:`GaussianMixtureModel.fit`)."""
        return super().fit(data.points if isinstance(data, PointSamples) else data, rng=rng)

    def sample(self, n: int, rng: np.random.Generator) -> PointSamples:
        """``n`` points from every chain's mixture, as ``PointSamples`` of shape ``(n_chains, n, d)``."""
        return PointSamples(super().sample(n, rng))


def mixture_moments(weights, means, covariances):
    r"""Mean and covariance of mixtures: :math:`m = \sum_k w_k\mu_k`,
    :math:`C = \sum_k w_k(\Sigma_k + \mu_k\mu_k^\top) - m m^\top`.

    Batched over leading axes: ``weights`` (..., K), ``means`` (..., K, d), ``covariances``
    (..., K, d, d); returns ``(mean (..., d), covariance (..., d, d))``.
    """
    w = np.asarray(weights, dtype=float)
    m = np.asarray(means, dtype=float)
    c = np.asarray(covariances, dtype=float)
    mean = (w[..., None] * m).sum(axis=-2)
    centred = m - mean[..., None, :]
    cov = (w[..., None, None] * (c + centred[..., :, None] * centred[..., None, :])).sum(axis=-3)
    return mean, cov
