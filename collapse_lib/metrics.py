r"""Plain functions that measure how far a fitted model has drifted from the truth.

All functions are vectorised over chains: a batch of ``n_chains`` models gives ``n_chains``
values (one per chain, never a sum over chains); the shapes are stated in each docstring.
Every function checks its inputs once (shapes that agree, finite values, covariances positive
semi-definite, probabilities and counts non-negative and summing correctly) and raises
:class:`~collapse_lib.validation.InputArrayError` (a ``ValueError``) naming the argument.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from .validation import (InputArrayError, as_array, broadcast_shape, check_counts, check_covariance,
                            check_eigenvalues, check_nonnegative, check_probabilities, check_same,
                            check_square, check_symmetric)

#: Quantile levels stored for every per-chain metric (the bands drawn in the book).
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def w2_squared_gaussian_1d(mu_a, sigma_a, mu_b, sigma_b):
    r"""Squared 2-Wasserstein distance between 1-D Gaussians: :math:`(\mu_a-\mu_b)^2 + (\sigma_a-\sigma_b)^2`.

    Arguments broadcast (e.g. ``mu_a, sigma_a`` of shape ``(n_chains,)`` against scalars ``mu_b,
    sigma_b`` give ``(n_chains,)``, one value per chain); standard deviations must be >= 0.
    Units: squared data units.
    """
    arrays = {"mu_a": mu_a, "sigma_a": sigma_a, "mu_b": mu_b, "sigma_b": sigma_b}
    arrays = {name: as_array(name, value) for name, value in arrays.items()}
    broadcast_shape(**arrays)
    check_nonnegative("sigma_a", arrays["sigma_a"], "standard deviations")
    check_nonnegative("sigma_b", arrays["sigma_b"], "standard deviations")
    return (arrays["mu_a"] - arrays["mu_b"]) ** 2 + (arrays["sigma_a"] - arrays["sigma_b"]) ** 2


def _gaussian_args(mean_name, mean, cov_name, cov):
    """Check one side of a Gaussian pair: ``mean`` (..., d) and ``cov`` (..., d, d), finite and symmetric."""
    mean = as_array(mean_name, mean, min_ndim=1, shape_hint="(..., d)")
    cov = as_array(cov_name, cov, min_ndim=2, finite=False, shape_hint="(..., d, d)")  # check_symmetric: finite
    check_square(cov_name, cov)
    check_same(mean_name, mean.shape[-1], cov_name, cov.shape[-1], "the dimension d")
    check_symmetric(cov_name, cov)
    return mean, cov


def _symmetric_root(values, vectors):
    r""":math:`V\,\mathrm{diag}(\sqrt{\lambda})\,V^\top` of batched eigen-decompositions (negative rounding clipped)."""
    return (vectors * np.sqrt(np.clip(values, 0.0, None))[..., None, :]) @ np.swapaxes(vectors, -1, -2)


def w2_squared_gaussian(mean_a, cov_a, mean_b, cov_b):
    r"""Squared 2-Wasserstein distance between d-dimensional Gaussians, one value per pair (per chain).

    :math:`\|m_a-m_b\|^2 + \mathrm{tr}(S_a + S_b - 2 (S_b^{1/2} S_a S_b^{1/2})^{1/2})`.

    Shapes: ``mean_*`` ``(..., d)``, ``cov_*`` ``(..., d, d)``; the batch axes ``...`` broadcast.
    One pair: means ``(d,)``, covariances ``(d, d)`` -> a ``float``. A batch of chains against one
    Gaussian: ``mean_a (n_chains, d)``, ``cov_a (n_chains, d, d)`` -> ``(n_chains,)`` (never the sum
    over chains; :func:`w2_squared_to_gaussian` is the faster form of this case). Covariances must be
    symmetric positive semi-definite (within a relative ``1e-8``). Units: squared data units.
    The matrix square roots come from symmetric eigen-decompositions (the same numbers as
    ``scipy.linalg.sqrtm`` up to rounding).
    """
    ma, ca = _gaussian_args("mean_a", mean_a, "cov_a", cov_a)
    mb, cb = _gaussian_args("mean_b", mean_b, "cov_b", cov_b)
    check_same("mean_a", ma.shape[-1], "mean_b", mb.shape[-1], "the dimension d")
    batch = broadcast_shape(mean_a=ma[..., 0], cov_a=ca[..., 0, 0], mean_b=mb[..., 0], cov_b=cb[..., 0, 0])
    values_a = np.linalg.eigvalsh(ca)
    check_eigenvalues("cov_a", values_a)
    values_b, vectors_b = np.linalg.eigh(cb)
    check_eigenvalues("cov_b", values_b)
    root_b = _symmetric_root(values_b, vectors_b)
    cross = np.linalg.eigvalsh(root_b @ ca @ root_b)
    trace = (np.trace(ca, axis1=-2, axis2=-1) + np.trace(cb, axis1=-2, axis2=-1)
             - 2 * np.sqrt(np.clip(cross, 0.0, None)).sum(axis=-1))
    out = np.broadcast_to(np.sum((ma - mb) ** 2, axis=-1) + np.clip(trace, 0.0, None), batch)
    return float(out) if out.ndim == 0 else out.copy()


def w2_squared_to_gaussian(mean, cov, true_mean, true_cov) -> np.ndarray:
    r"""Squared 2-Wasserstein distance of a batch of Gaussians to one reference Gaussian.

    :math:`\|m-\mu\|^2 + \mathrm{tr}\,\hat\Sigma + \mathrm{tr}\,\Sigma
    - 2\,\mathrm{tr}\,(\Sigma^{1/2}\hat\Sigma\Sigma^{1/2})^{1/2}`, the batched version of
    :func:`w2_squared_gaussian`. Shapes: ``mean (n_chains, d)``, ``cov (n_chains, d, d)``, the
    reference ``true_mean (d,)`` and ``true_cov (d, d)`` -> ``(n_chains,)``, one value per chain,
    squared data units. The trace of the matrix square root is the sum of the square roots of the
    eigenvalues of the symmetric matrix :math:`\Sigma^{1/2}\hat\Sigma\Sigma^{1/2}`.

    Every covariance must be symmetric positive semi-definite (within a relative ``1e-8``). The
    check of ``cov`` reuses those eigenvalues (Sylvester's law of inertia: with :math:`\Sigma`
    invertible, :math:`\Sigma^{1/2}\hat\Sigma\Sigma^{1/2}` has a negative eigenvalue exactly when
    :math:`\hat\Sigma` has), so it adds no eigen-decomposition per chain.
    """
    mean = as_array("mean", mean, min_ndim=1, shape_hint="(n_chains, d)")
    cov = as_array("cov", cov, min_ndim=2, finite=False, shape_hint="(n_chains, d, d)")  # check_symmetric: finite
    check_square("cov", cov)
    check_same("mean", mean.shape[-1], "cov", cov.shape[-1], "the dimension d")
    true_mean = as_array("true_mean", true_mean, ndim=1, shape_hint="(d,)")
    true_cov = as_array("true_cov", true_cov, ndim=2, finite=False, shape_hint="(d, d)")
    check_square("true_cov", true_cov, true_mean.size)
    check_same("mean", mean.shape[-1], "true_mean", true_mean.size, "the dimension d")
    broadcast_shape(mean=mean[..., 0], cov=cov[..., 0, 0])
    trace_cov = np.trace(cov, axis1=-2, axis2=-1)
    check_symmetric("cov", cov, scale=trace_cov)  # reuses the traces the distance needs
    check_symmetric("true_cov", true_cov)
    values, vectors = np.linalg.eigh(true_cov)
    check_eigenvalues("true_cov", values)
    root = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    cross = np.linalg.eigvalsh(root @ cov @ root)
    if values[0] > 1e-8 * values[-1]:  # true_cov invertible: the inertia of cov is that of cross
        check_eigenvalues("cov", cross)
    else:
        check_eigenvalues("cov", np.linalg.eigvalsh(cov))
    trace = trace_cov + np.trace(true_cov) - 2 * np.sqrt(np.clip(cross, 0.0, None)).sum(-1)
    return np.sum((mean - true_mean) ** 2, axis=-1) + np.clip(trace, 0.0, None)


def heterozygosity(probabilities):
    r""":math:`H(p) = 1 - \sum_k p_k^2` along the last axis: the chance two draws differ.

    ``probabilities (..., K)`` (e.g. ``(n_chains, K)``) -> ``(...)`` (``(n_chains,)``), one value per
    chain. Each row must be probabilities: non-negative, summing to 1 (within ``1e-6``).
    """
    p = as_array("probabilities", probabilities, min_ndim=1, finite=False, shape_hint="(..., K)")
    check_probabilities("probabilities", p)  # also checks that p is finite
    return 1.0 - np.sum(p**2, axis=-1)


def entropy(probabilities) -> np.ndarray:
    r"""Shannon entropy :math:`-\sum_k p_k\log p_k` (nats) of probabilities along the last axis: ``(..., K)`` -> ``(...)``."""
    p = as_array("probabilities", probabilities, min_ndim=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=-1)


def class_entropy(counts) -> np.ndarray:
    """Shannon entropy (nats) of class counts along the last axis; log(10) = 2.303 for 10 equal classes.

    ``counts (..., K)`` (e.g. ``(n_chains, 10)``) -> ``(...)``, one value per row. Counts must be
    finite, non-negative, with at least one in every row.
    """
    counts = as_array("counts", counts, min_ndim=1, finite=False, shape_hint="(..., K)")
    check_counts("counts", counts)  # also checks that counts are finite
    p = counts / counts.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.0 - np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=-1)


def fixed_state(probabilities):
    """Index of the state a chain is absorbed in (all mass on one state), else -1.

    ``probabilities (..., K)`` (rows of probabilities summing to 1) -> int8 of shape ``(...)``.
    """
    p = as_array("probabilities", probabilities, min_ndim=1, finite=False, shape_hint="(..., K)")
    check_probabilities("probabilities", p)  # also checks that p is finite
    return np.where(p.max(axis=-1) >= 1.0, p.argmax(axis=-1), -1).astype(np.int8)


def _check_axis(name: str, axis, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise InputArrayError(f"axis must be an integer in [{-ndim}, {ndim - 1}] for {name} with {ndim} axes, "
                              f"got {axis!r}.")
    return int(axis)


def first_true(flags, axis: int = 0):
    """Index of the first ``True`` along ``axis``, or -1 where there is none (e.g. absorption times).

    ``flags`` of shape ``(n, ...)`` with ``axis=0`` -> ``(...)``: ``axis`` is removed.
    """
    flags = np.asarray(flags, dtype=bool)
    if flags.ndim < 1:
        raise InputArrayError(f"flags must have at least one axis, got shape {flags.shape}; pass an array of "
                              f"booleans such as one per generation.")
    axis = _check_axis("flags", axis, flags.ndim)
    index = flags.argmax(axis=axis)
    return np.where(flags.any(axis=axis), index, -1)


class Quantile(IntEnum):
    """The position of each level of :data:`QUANTILES` on the quantile axis of a :func:`chain_quantiles` result.

    Read a stored quantile array by name, never by number: ``result["sigma_q"][:, Quantile.MEDIAN]`` is the
    median over chains per generation. The quantile axis is the first of :func:`chain_quantiles`'s result, so
    the second of a per-generation record ``(n_generations + 1, 5)``; each record's docstring gives its shape
    (e.g. ``component_std_q`` ``(n_generations + 1, 5, K)``, ``tail_mass_q`` ``(n_generations + 1, L, 5)``).

    ``Q05`` (level 0.05), ``Q25`` (0.25, the lower quartile), ``MEDIAN`` (0.5), ``Q75`` (0.75, the upper
    quartile), ``Q95`` (0.95); :attr:`level` gives the level.
    """

    Q05 = 0
    Q25 = 1
    MEDIAN = 2
    Q75 = 3
    Q95 = 4

    @property
    def level(self) -> float:
        """The quantile level in [0, 1], ``QUANTILES[self]``."""
        return QUANTILES[self]


def chain_quantiles(values, quantiles=QUANTILES):
    """Quantiles over chains (last axis) of a per-chain metric.

    ``values (..., n_chains)`` -> ``(len(quantiles), ...)``; ``quantiles`` in [0, 1]. Infinite values
    are allowed (e.g. the log-determinant of a collapsed covariance). At the default levels, index the
    quantile axis with :class:`Quantile` (``Quantile.MEDIAN``, ...).
    """
    values = as_array("values", values, min_ndim=1, finite=False, shape_hint="(..., n_chains)")
    if values.shape[-1] < 1:
        raise InputArrayError(f"values must have at least one chain on its last axis, got shape {values.shape}.")
    q = as_array("quantiles", quantiles)
    if np.any((q < 0) | (q > 1)):
        raise InputArrayError(f"quantiles must lie in [0, 1], got {q.tolist()}; pass levels such as 0.05 or 0.5.")
    return np.quantile(values, q, axis=-1)


def binomial_interval(successes, trials, level: float = 0.95):
    r"""Wilson score interval for a binomial proportion.

    ``successes`` and ``trials`` are counts (broadcastable arrays, ``0 <= successes <= trials``,
    ``trials >= 1``); returns ``(low, high)``, proportions in [0, 1] of the broadcast shape, at
    ``level`` in (0, 1). Good coverage even near 0 or 1, unlike the normal approximation
    :math:`\hat p \pm z\sqrt{\hat p(1-\hat p)/n}`.
    """
    from scipy import stats

    k = as_array("successes", successes)
    n = as_array("trials", trials)
    broadcast_shape(successes=k, trials=n)
    if np.any(n < 1):
        raise InputArrayError(f"trials must be >= 1, got the minimum {float(n.min()):g}; an interval needs at least "
                              f"one trial.")
    check_nonnegative("successes", k, "counts")
    if np.any(k > n):
        raise InputArrayError("successes must be <= trials, got more successes than trials; check the order of "
                              "the two arguments (successes, trials).")
    level = float(as_array("level", level, ndim=0))
    if not 0.0 < level < 1.0:
        raise InputArrayError(f"level must lie in (0, 1), got {level}; e.g. 0.95 for a 95 % interval.")
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
    states = as_array("fixed_state", fixed_state, min_ndim=1, shape_hint="(n_generations + 1, n_chains)")
    if np.any(states < -1) or np.any(states != np.round(states)):
        raise InputArrayError("fixed_state must hold whole numbers >= -1 (a state index, or -1 for not absorbed), "
                              "as recorded by fixed_state(); got other values.")
    first = first_true(states >= 0, axis=0)
    return np.where(first >= 0, first + 1, -1).astype(np.int64)


def mean_and_standard_error(values, axis: int = -1):
    r"""Monte Carlo mean and its standard error :math:`s/\sqrt n` along ``axis``.

    ``values`` with ``n >= 2`` entries along ``axis`` (e.g. ``(n_chains,)``); returns
    ``(mean, standard_error)``, in the units of ``values``, each with ``axis`` removed.
    """
    v = as_array("values", values, min_ndim=1)
    axis = _check_axis("values", axis, v.ndim)
    n = v.shape[axis]
    if n < 2:
        raise InputArrayError(f"values needs at least 2 entries along axis {axis} for a standard error, got shape "
                              f"{v.shape}.")
    return v.mean(axis=axis), v.std(axis=axis, ddof=1) / np.sqrt(n)


def _mixture_args(side: str, weights, means, covariances, *, with_weights: bool = True):
    """Check one mixture: ``weights`` (..., K), ``means`` (..., K, d), ``covariances`` (..., K, d, d)."""
    m = as_array(f"means_{side}", means, min_ndim=2, shape_hint="(..., K, d)")
    c = as_array(f"covariances_{side}", covariances, min_ndim=3, finite=False, shape_hint="(..., K, d, d)")
    check_square(f"covariances_{side}", c, m.shape[-1])
    check_same(f"means_{side}", m.shape[-2], f"covariances_{side}", c.shape[-3], "the number of components K")
    broadcast_shape(**{f"means_{side}": m[..., 0, 0], f"covariances_{side}": c[..., 0, 0, 0]})
    check_covariance(f"covariances_{side}", c)
    if not with_weights:
        return m, c
    w = as_array(f"weights_{side}", weights, min_ndim=1, finite=False, shape_hint="(..., K)")
    check_probabilities(f"weights_{side}", w)
    check_same(f"weights_{side}", w.shape[-1], f"means_{side}", m.shape[-2], "the number of components K")
    broadcast_shape(**{f"weights_{side}": w[..., 0], f"means_{side}": m[..., 0, 0]})
    return w, m, c


def gaussian_overlaps(means_a, covariances_a, means_b, covariances_b):
    r"""Overlap integrals of Gaussians, every component of ``a`` with every component of ``b``.

    :math:`\int \mathcal N(x; a_i, A_i)\,\mathcal N(x; b_j, B_j)\,dx = \mathcal N(a_i - b_j;\, 0,\, A_i + B_j)`.
    ``means_*`` have shape (..., K, d) and ``covariances_*`` (..., K, d, d) (symmetric positive
    semi-definite), leading axes broadcast; returns (..., K_a, K_b), in inverse data units to the power d.
    """
    ma, ca = _mixture_args("a", None, means_a, covariances_a, with_weights=False)
    mb, cb = _mixture_args("b", None, means_b, covariances_b, with_weights=False)
    check_same("means_a", ma.shape[-1], "means_b", mb.shape[-1], "the dimension d")
    broadcast_shape(means_a=ma[..., 0, 0], means_b=mb[..., 0, 0])
    return _gaussian_overlaps(ma, ca, mb, cb)


def _gaussian_overlaps(ma, ca, mb, cb):
    """:func:`gaussian_overlaps` on checked float arrays."""
    d = ma.shape[-1]
    try:
        chol = np.linalg.cholesky(ca[..., :, None, :, :] + cb[..., None, :, :, :])  # (..., K_a, K_b, d, d)
    except np.linalg.LinAlgError:
        raise InputArrayError("covariances_a[i] + covariances_b[j] is singular for some pair of components (both "
                              "covariances singular in a common direction), so the overlap is not a finite density; "
                              "add a small multiple of the identity (reg_covar) to the covariances.") from None
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
    ``weights_*`` have shape (..., K) (each row summing to 1), ``means_*`` (..., K, d),
    ``covariances_*`` (..., K, d, d) (positive semi-definite); leading axes broadcast (e.g.
    ``n_chains`` fitted mixtures against one true mixture: ``(n_chains, K)...`` and ``(K,)...``
    -> ``(n_chains,)``, one value per chain), and the two mixtures may have different numbers of
    components. Returns (...), in inverse data units to the power d, clipped at 0 against rounding.
    """
    wa, ma, ca = _mixture_args("a", weights_a, means_a, covariances_a)
    wb, mb, cb = _mixture_args("b", weights_b, means_b, covariances_b)
    check_same("means_a", ma.shape[-1], "means_b", mb.shape[-1], "the dimension d")
    broadcast_shape(weights_a=wa[..., 0], means_a=ma[..., 0, 0], weights_b=wb[..., 0], means_b=mb[..., 0, 0])

    def cross(w1, m1, c1, w2, m2, c2):
        return (w1[..., :, None] * w2[..., None, :] * _gaussian_overlaps(m1, c1, m2, c2)).sum(axis=(-2, -1))

    pp = cross(wa, ma, ca, wa, ma, ca)
    qq = cross(wb, mb, cb, wb, mb, cb)
    pq = cross(wa, ma, ca, wb, mb, cb)
    return np.maximum(pp + qq - 2.0 * pq, 0.0)


#: The definitions of collapse that :func:`collapse_indicators` tests, in the order of its result.
COLLAPSE_DEFINITIONS = {
    "risk rises": "the error against the truth at the last generation exceeds the first fit's by more than 3 "
                  "standard errors",
    "risk diverges": "the error rises and keeps rising: its increase over the second half of the run is at least a "
                     "third of its increase over the first half (linear growth gives 1, a bounded error about 0)",
    "spread to zero": "the typical chain's variance (or entropy) has fallen below a tenth of the first fit's",
    "tail lost": "the typical chain has lost more than half of the original tail mass",
    "support to a point": "most chains have put (almost) all their mass on one point or state",
    "forgets": "values seen once in the real data are typically gone before the run ends",
    "scaling flattened": "the learning curve's log-log slope over its last decade of data is flatter than -0.25 "
                         "(the clean curves here fall with slopes -1/2 to -1)",
}


def collapse_indicators(*, risk=None, risk_se=None, spread=None, tail_mass=None, on_one_point=None,
                        forgotten=None, curve=None) -> dict:
    r"""Which definitions of collapse (:data:`COLLAPSE_DEFINITIONS`) a run meets: ``True``, ``False`` or ``None``.

    Schaeffer et al. (2025) count eight definitions of model collapse in use; this function tests
    the seven that the book's runs can measure, each from the series a run records (``None``: the
    run does not measure it). Every series has generations along its first axis.

    risk, risk_se : ndarray ``(n+1,)``
        Mean error against the truth (test risk, squared error of the mean, KL, ...) and its standard error.
    spread : ndarray ``(n+1,)``
        The typical (median) chain's variance or entropy; compared with generation 0's.
    tail_mass : ndarray ``(n+1,)``
        The typical chain's mass on the original tail; compared with generation 0's.
    on_one_point : ndarray ``(n+1,)``
        Fraction of chains whose model has become a point (or one state).
    forgotten : float
        Fraction of the values seen once in the real data that are lost by the end of the run.
    curve : tuple ``(sizes, errors)``
        A learning curve (error against training-set size): ``scaling flattened`` tests its last decade.
    """
    out = dict.fromkeys(COLLAPSE_DEFINITIONS)
    if risk is not None:
        risk = as_array("risk", risk, ndim=1)
        se = np.zeros_like(risk) if risk_se is None else as_array("risk_se", risk_se, ndim=1)
        out["risk rises"] = bool(risk[-1] - risk[0] > 3 * np.hypot(se[-1], se[0]))
        half = risk[len(risk) // 2]
        out["risk diverges"] = bool(out["risk rises"] and risk[-1] - half > (half - risk[0]) / 3)
    if spread is not None:
        spread = as_array("spread", spread, ndim=1)
        out["spread to zero"] = bool(spread[-1] < 0.1 * spread[0])
    if tail_mass is not None:
        tail_mass = as_array("tail_mass", tail_mass, ndim=1)
        out["tail lost"] = bool(tail_mass[-1] < 0.5 * tail_mass[0])
    if on_one_point is not None:
        out["support to a point"] = bool(as_array("on_one_point", on_one_point, ndim=1)[-1] > 0.5)
    if forgotten is not None:
        out["forgets"] = bool(float(forgotten) > 0.5)
    if curve is not None:
        sizes, errors = (as_array(name, v, ndim=1) for name, v in zip(("sizes", "errors"), curve))
        last = sizes >= sizes[-1] / 10
        if last.sum() < 2 or np.any(errors[last] <= 0):
            raise InputArrayError("curve needs at least two positive errors over its last decade of sizes.")
        slope = np.polyfit(np.log(sizes[last]), np.log(errors[last]), 1)[0]
        out["scaling flattened"] = bool(slope > -0.25)
    return out


# ---------------------------------------------------------------------------------------------
# Wright–Fisher chains (chapter "theory"): absorption, fixation and the states still present
# ---------------------------------------------------------------------------------------------

def _fixed_states(fixed_state) -> np.ndarray:
    """A recorded ``fixed_state`` array (whole numbers >= -1), kept in its own integer dtype."""
    states = np.asarray(fixed_state)
    checked = as_array("fixed_state", states, min_ndim=1, shape_hint="(..., n_chains)")
    if np.any(checked < -1) or np.any(checked != np.round(checked)):
        raise InputArrayError("fixed_state must hold whole numbers >= -1 (a state index, or -1 for not absorbed), "
                              "as recorded by fixed_state(); got other values.")
    return states


def absorbed_fraction(fixed_state):
    """Fraction of chains absorbed in one state (all mass on it), from a recorded ``fixed_state``.

    ``fixed_state`` (..., n_chains) as :func:`fixed_state` returns it (the absorbing state, or -1),
    e.g. the ``wright_fisher`` experiment's ``(n_generations + 1, n_chains)`` -> ``(...)``, one
    fraction in [0, 1] per generation.
    """
    return (_fixed_states(fixed_state) >= 0).mean(axis=-1)


def fixation_counts(fixed_state, n_states: int) -> np.ndarray:
    """How many chains are fixed in (absorbed by) each state: the fixation frequencies times ``n_chains``.

    ``fixed_state`` (n_chains,) as :func:`fixed_state` returns it (e.g. the last generation of a
    ``wright_fisher`` run); returns int64 ``(n_states,)``. Chains not absorbed (-1) are in no state.
    """
    states = _fixed_states(fixed_state)
    if states.ndim != 1:
        raise InputArrayError(f"fixed_state must be one generation, shape (n_chains,), got shape {states.shape}.")
    n_states = int(n_states)
    if states.size and states.max() >= n_states:
        raise InputArrayError(f"fixed_state holds state {int(states.max())}, but n_states = {n_states}.")
    return np.bincount(states[states >= 0].astype(np.int64), minlength=n_states).astype(np.int64)


def presence_fraction(probabilities):
    """Fraction of chains whose model still gives each state some probability.

    ``probabilities (n_chains, K)`` -> ``(K,)``, fractions in [0, 1]: the chance that a state survives,
    compared in the theory chapter with :func:`collapse_lib.theory.state_presence_probability`.
    """
    p = as_array("probabilities", probabilities, ndim=2, shape_hint="(n_chains, K)")
    return (p > 0).mean(axis=0)


# ---------------------------------------------------------------------------------------------
# Tails of a categorical distribution (chapters "prevention" and "debate")
# ---------------------------------------------------------------------------------------------

def tail_sets(probabilities, levels) -> np.ndarray:
    r"""Indicator ``(K, L)`` of the states beyond each quantile level :math:`\alpha` of the original.

    ``probabilities`` (K,) are the original distribution, its states ordered from the most to the least
    probable; ``levels`` (L,) in [0, 1]. State ``k`` is beyond level :math:`\alpha` when the states before it
    already carry at least :math:`\alpha` of the mass: the tail is what lies past the :math:`\alpha`-quantile
    of the rank. Returns floats 0 or 1, ready for :func:`tail_mass`.
    """
    probabilities = as_array("probabilities", probabilities, ndim=1, shape_hint="(K,)")
    levels = as_array("levels", levels, ndim=1, shape_hint="(L,)")
    if np.any((levels < 0) | (levels > 1)):
        raise InputArrayError(f"levels must lie in [0, 1] (quantile levels), got {levels.tolist()}.")
    before = np.cumsum(probabilities) - probabilities
    return (before[:, None] >= np.asarray(levels, dtype=float)[None, :] - 1e-12).astype(float)


def tail_mass(probabilities, tails):
    """The probability each model gives each tail of the original distribution.

    ``probabilities`` (..., K) (e.g. ``(n_chains, K)``), ``tails`` (K, L) from :func:`tail_sets`;
    returns (..., L), probabilities.
    """
    p = as_array("probabilities", probabilities, min_ndim=1, shape_hint="(..., K)")
    tails = as_array("tails", tails, ndim=2, shape_hint="(K, L)")
    check_same("probabilities", p.shape[-1], "tails", tails.shape[0], "the number of states K")
    return p @ tails


def support_size(probabilities):
    """Number of states with non-zero probability, per model: ``(..., K)`` -> int ``(...)``."""
    p = as_array("probabilities", probabilities, min_ndim=1, shape_hint="(..., K)")
    return (p > 0).sum(axis=-1)


def survivors_by_count(probabilities, original_counts, max_count: int) -> np.ndarray:
    """How many (chain, state) pairs whose count in the real data was ``k`` still have probability > 0.

    ``probabilities`` (n_chains, K), the models of one generation; ``original_counts`` (n_chains, K), whole
    numbers, each state's count in generation 0's data. Returns int64 ``(max_count,)`` for ``k = 1..max_count``
    (a state absent from the real data is never counted): the survival of rare values, whose loss times
    :func:`loss_time_moments` summarises.
    """
    p = as_array("probabilities", probabilities, ndim=2, shape_hint="(n_chains, K)")
    counts = np.asarray(original_counts)
    if counts.shape != p.shape or not np.issubdtype(counts.dtype, np.integer):
        raise InputArrayError(f"original_counts must be whole numbers of the shape of probabilities {p.shape}, got "
                              f"{counts.dtype} of shape {counts.shape}.")
    bins = int(max_count) + 1
    present = p > 0
    return np.bincount(np.minimum(counts[present], bins), minlength=bins + 1)[1:bins].astype(np.int64)


def loss_time_moments(lost_by, generations) -> tuple[np.ndarray, np.ndarray]:
    """Mean and second moment of the generation at which a value is lost, among the values lost by the last one.

    ``lost_by`` ``(G + 1, K)``: the fraction lost by each generation, for each of ``K`` groups (an observed
    fraction, or an exact distribution function such as :func:`collapse_lib.theory.loss_time_cdf`);
    ``generations`` ``(G + 1,)``. Returns two ``(K,)`` arrays, in generations and squared generations.
    """
    lost_by = as_array("lost_by", lost_by, ndim=2, shape_hint="(G + 1, K)")
    generations = as_array("generations", generations, ndim=1, shape_hint="(G + 1,)")
    check_same("lost_by", lost_by.shape[0], "generations", generations.size, "the number of generations")
    weights = np.diff(lost_by, axis=0) / lost_by[-1]
    return (generations[1:, None] * weights).sum(axis=0), (generations[1:, None] ** 2 * weights).sum(axis=0)


def unseen_mass(counts, probabilities):
    """The probability of the values a training set never saw: the test error of a model that memorises.

    ``counts`` (n_chains, K), each training set's count of every value; ``probabilities`` (K,), how often each
    value is asked. Returns ``(n_chains,)``, probabilities (Dohmatob et al.'s *A Tale of Tails*; its exact
    mean is :func:`collapse_lib.theory.tail_cut_test_error`).
    """
    counts = np.asarray(counts)
    p = as_array("probabilities", probabilities, ndim=1, shape_hint="(K,)")
    if counts.ndim < 1 or counts.shape[-1] != p.size:
        raise InputArrayError(f"counts must have shape (n_chains, {p.size}) (one count per value), got {counts.shape}.")
    return (counts == 0) @ p


# ---------------------------------------------------------------------------------------------
# The d-dimensional Gaussian (chapter "prevention"): the volume of the fitted covariance
# ---------------------------------------------------------------------------------------------

#: Log of the smallest positive double: the floor of a recorded log-determinant (:func:`log_det_ratio`).
LOG_TINY = float(np.log(np.finfo(float).tiny))


def log_det_ratio(cov, true_cov):
    r""":math:`\log\det\hat\Sigma - \log\det\Sigma` (natural log), the log of the fitted volume over the truth's.

    ``cov`` (..., d, d) (e.g. ``(n_chains, d, d)``), ``true_cov`` (d, d) -> ``(...)``. A covariance that has
    become numerically singular (floats are discrete) counts as :data:`LOG_TINY`, so that quantiles over
    chains stay finite.
    """
    cov = as_array("cov", cov, min_ndim=2, finite=False, shape_hint="(..., d, d)")
    check_square("cov", cov)
    true_cov = as_array("true_cov", true_cov, ndim=2, shape_hint="(d, d)")
    check_square("true_cov", true_cov, cov.shape[-1])
    sign, logdet = np.linalg.slogdet(cov)
    return np.where(sign > 0, np.maximum(logdet, LOG_TINY), LOG_TINY) - np.linalg.slogdet(true_cov)[1]


# ---------------------------------------------------------------------------------------------
# Gaussian mixtures (chapters "gmm" and "prevention"): spread and the KL estimate
# ---------------------------------------------------------------------------------------------

def mixture_total_variance(weights, means, covariances):
    r"""Total variance :math:`\mathrm{tr}\,C` of mixtures, :math:`C = \sum_k w_k(\Sigma_k + \mu_k\mu_k^\top) - mm^\top`.

    ``weights`` (..., K), ``means`` (..., K, d), ``covariances`` (..., K, d, d) (e.g. ``n_chains`` fitted
    mixtures, or one true mixture of :mod:`collapse_lib.distributions`); returns ``(...)`` (a ``float`` for
    one mixture), squared data units. The mixture's spread is :math:`\sqrt{\mathrm{tr}\,C/d}`.
    """
    from .models.gmm import mixture_moments

    w = as_array("weights", weights, min_ndim=1, shape_hint="(..., K)")
    m = as_array("means", means, min_ndim=2, shape_hint="(..., K, d)")
    c = as_array("covariances", covariances, min_ndim=3, shape_hint="(..., K, d, d)")
    check_square("covariances", c, m.shape[-1])
    check_same("weights", w.shape[-1], "means", m.shape[-2], "the number of components K")
    out = np.trace(mixture_moments(w, m, c)[1], axis1=-2, axis2=-1)
    return float(out) if out.ndim == 0 else out


def component_spreads(covariances):
    r"""Each component's spread :math:`\sqrt{\mathrm{tr}\,\Sigma_k/d}`, sorted from smallest to largest.

    ``covariances`` (..., K, d, d) -> ``(..., K)``, in data units.
    """
    c = as_array("covariances", covariances, min_ndim=3, shape_hint="(..., K, d, d)")
    check_square("covariances", c)
    return np.sort(np.sqrt(np.trace(c, axis1=-2, axis2=-1) / c.shape[-1]), axis=-1)


def kl_estimate(truth_log_likelihood, model_log_likelihood):
    r"""Monte Carlo estimate of :math:`KL(p\,\|\,q)` (nats), one per chain.

    :math:`KL(p\,\|\,q) = E_{x\sim p}[\log p(x) - \log q(x)]`, estimated on points drawn from the truth
    :math:`p`: pass the mean log-likelihood per chain of the same points under the truth and under the model
    (``(n_chains,)`` each, e.g. :meth:`collapse_lib.models.gmm.GaussianMixtureModel.score`). Returns
    ``(n_chains,)``, nats; it can fall below 0 by Monte Carlo error.
    """
    truth = as_array("truth_log_likelihood", truth_log_likelihood, finite=False)
    model = as_array("model_log_likelihood", model_log_likelihood, finite=False)
    broadcast_shape(truth_log_likelihood=truth, model_log_likelihood=model)
    return truth - model


# ---------------------------------------------------------------------------------------------
# Images (chapter "vae"): the latent spread and the pixel variance
# ---------------------------------------------------------------------------------------------

def latent_spread(latent_means) -> float:
    """Standard deviation of all the latent means of a set of images, pooled over images and dimensions.

    ``latent_means`` (n_images, latent_dim), e.g. the generation-0 encoder's means of a generation's samples;
    returns a ``float`` in latent units (computed in the array's own dtype). A spread that falls means the
    images crowd into a smaller part of the original latent space.
    """
    values = np.asarray(latent_means)
    as_array("latent_means", values, min_ndim=1, finite=False, shape_hint="(n_images, latent_dim)")
    return values.ravel().std()


def pixel_variance(images) -> np.ndarray:
    """Variance over a set of images of each pixel: ``(n_images, height, width)`` -> ``(height, width)``.

    In the images' own dtype and units (intensity in [0, 1] squared for the VAE's images); its mean over
    pixels is the pixel variance of the VAE chapter.
    """
    images = np.asarray(images)
    as_array("images", images, min_ndim=2, finite=False, shape_hint="(n_images, height, width)")
    return images.reshape(len(images), -1).var(axis=0).reshape(images.shape[1:])


# ---------------------------------------------------------------------------------------------
# Text (chapter "language_model"): perplexity, repetition and diversity
# ---------------------------------------------------------------------------------------------

def perplexity(losses) -> float:
    """The paper's perplexity: ``exp`` of the mean block loss (nats per token).

    ``losses`` (n_blocks,), each block's mean token loss; equal-length blocks, so this is also the
    token-weighted mean. The paper averages per batch; the two agree when every batch is full.
    """
    return float(np.exp(np.mean(losses)))


def data_perplexities(results: list, generation: int) -> np.ndarray:
    """The perplexities under the generation-0 model of the blocks of dataset ``generation``, pooled over runs.

    ``results`` are ``language_model`` runs of one setting (their ``data_perplexity`` and ``data_is_real``,
    ``(n_generations + 1, M)`` each): all blocks at generation 0 (the real ones), only the generated
    continuations after it (the real blocks mixed in by setting 2 are left out). Returns a 1-D array of
    perplexities.
    """
    return np.concatenate([r["data_perplexity"][generation][~r["data_is_real"][generation] if generation
                                                             else slice(None)] for r in results])


def distinct_ngram_fraction(blocks, n: int = 4) -> float:
    """Mean over blocks of (distinct n-grams) / (n-grams): 1 when no n-gram repeats within a block.

    ``blocks`` (n_blocks, length) of token ids; a block shorter than ``n`` counts as 1.
    """
    blocks = np.asarray(blocks)
    if blocks.ndim != 2:
        raise InputArrayError(f"blocks must have shape (n_blocks, length), got {blocks.shape}.")
    n = int(n)
    if blocks.shape[1] < n:
        return 1.0
    grams = np.lib.stride_tricks.sliding_window_view(blocks, n, axis=1)
    fractions = [len({tuple(g) for g in row}) / len(row) for row in grams]
    return float(np.mean(fractions))


def corpus_diversity(texts, real_texts=None, rare_count: int = 2) -> dict:
    """Corpus-level diversity of a generation's text (whitespace-separated words).

    ``vocabulary``: distinct words; ``entropy``: unigram entropy in bits; and, when ``real_texts`` is
    given, ``rare_survival``: the fraction of the real text's rare words (those it holds at most
    ``rare_count`` times) that occur in ``texts`` at all.
    """
    from collections import Counter

    counts = Counter(word for text in texts for word in str(text).split())
    total = sum(counts.values())
    p = np.array(list(counts.values()), dtype=float) / max(total, 1)
    out = {"vocabulary": len(counts), "entropy": float(-(p * np.log2(p)).sum()) if total else 0.0}
    if real_texts is not None:
        real = Counter(word for text in real_texts for word in str(text).split())
        rare = [w for w, c in real.items() if c <= rare_count]
        out["rare_survival"] = float(np.mean([w in counts for w in rare])) if rare else float("nan")
    return out
