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
