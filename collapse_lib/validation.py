"""Input checks that stop bad settings, and bad arrays, before any work starts.

Every check raises :class:`SettingError` (a ``ValueError``) whose message names the
setting, the value that was given and the range that is allowed, so that a reader can
fix the call without reading the source.

Array inputs of metrics, closed forms and models are checked here too:

* :class:`InputArrayError`, a :class:`SettingError` (so a ``ValueError``, and the command line
  prints it as a clean one-line error): an array argument has the wrong shape, a non-finite
  value, a covariance that is not positive semi-definite, probabilities or counts that are
  negative or do not sum correctly. The message names the argument, says what was found and
  what is allowed, and how to fix the call.
* :class:`NotFittedError` (a ``ValueError`` and an ``AttributeError``, as in scikit-learn): a
  model is used (``sample``, ``score``, ``get_state``...) before ``fit`` or ``set_state``.

The array checks are cheap (a pass over the array, or eigenvalues the caller computes anyway)
and are meant to run once at a public entry point, never inside an inner loop.
"""

from __future__ import annotations

import numbers
from functools import lru_cache
from typing import Iterable

import numpy as np


class SettingError(ValueError):
    """A setting is outside its allowed range; the message says which and how to fix it."""


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` or raise if it is not an integer in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise SettingError(
                f"{name} must be an integer, got {value!r} ({type(value).__name__}); "
                f"pass a whole number such as {minimum if minimum is not None else 0}."
            )
    value = int(value)
    if minimum is not None and value < minimum:
        raise SettingError(f"{name} must be >= {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise SettingError(f"{name} must be <= {maximum}, got {value}.")
    return value


def check_positive_int(name: str, value) -> int:
    """An integer >= 1 (sample sizes, chain counts, generation counts)."""
    return check_int(name, value, minimum=1)


#: The most generations a run may ask for: the paper's longest run has 2,050, and per-generation
#: schedules and records are allocated up front, so a mistyped count must not exhaust memory.
MAX_GENERATIONS = 1_000_000


def check_generations(value, name: str = "n_generations") -> int:
    """A number of generations in ``[1, MAX_GENERATIONS]``."""
    return check_int(name, value, minimum=1, maximum=MAX_GENERATIONS)


def check_seed(value) -> int:
    """A seed is a non-negative integer (NumPy's SeedSequence needs one)."""
    return check_int("seed", value, minimum=0)


def check_fraction(name: str, value) -> float:
    """A real number in the closed interval [0, 1]."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SettingError(f"{name} must be a number in [0, 1], got {value!r}.") from None
    if not np.isfinite(value) or not 0.0 <= value <= 1.0:
        raise SettingError(f"{name} must be a fraction in [0, 1], got {value}.")
    return value


def check_positive_float(name: str, value) -> float:
    """A finite real number > 0 (standard deviations, growth ratios)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SettingError(f"{name} must be a positive number, got {value!r}.") from None
    if not np.isfinite(value) or value <= 0:
        raise SettingError(f"{name} must be a finite number > 0, got {value}.")
    return value


def check_nonnegative_float(name: str, value) -> float:
    """A finite real number >= 0 (weight decay, a separation, an exponent)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SettingError(f"{name} must be a number >= 0, got {value!r}.") from None
    if not np.isfinite(value) or value < 0:
        raise SettingError(f"{name} must be a finite number >= 0, got {value}.")
    return value


def check_finite_settings(settings: dict) -> dict:
    """Every number among ``settings`` (also inside lists) is finite: NaN or infinity is refused for every
    setting of every experiment, before its own validator runs."""
    for name, value in settings.items():
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            if isinstance(item, (float, np.floating)) and not np.isfinite(item):
                raise SettingError(f"{name} must be a finite number, got {item!r}.")
    return settings


def check_choice(name: str, value, allowed: Iterable) -> object:
    """``value`` must be one of ``allowed``; the message lists them."""
    allowed = list(allowed)
    if value not in allowed:
        raise SettingError(
            f"unknown {name} {value!r}; choose one of: {', '.join(map(str, allowed))}."
        )
    return value


def check_finite_array(name: str, array) -> np.ndarray:
    """Return ``array`` as a float array, raising if it holds NaN or infinity."""
    array = np.asarray(array, dtype=float)
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise SettingError(f"{name} contains {bad} non-finite value(s) (NaN or inf); clean the data first.")
    return array


# --- array inputs of metrics, closed forms and models ---------------------------------------------

#: Relative tolerance of the positive semi-definiteness and symmetry checks: an eigenvalue may be
#: as low as ``-PSD_RTOL`` times the largest absolute eigenvalue of its matrix (rounding), no lower.
PSD_RTOL = 1e-8
#: Arrays up to this size are checked element by element (fewer NumPy calls); larger ones by their sum first.
_SMALL = 1 << 14
#: Absolute tolerance on a sum of probabilities (rows of fitted frequencies sum to 1 up to rounding).
SUM_ATOL = 1e-6


class InputArrayError(SettingError):
    """An array argument is unusable; the message names it, what was found, what is allowed and the fix."""


class NotFittedError(ValueError, AttributeError):
    """A model was used before it was fitted (scikit-learn's convention: ``ValueError`` and ``AttributeError``)."""


def check_fitted(model, attribute: str, action: str = "sample") -> None:
    """Raise :class:`NotFittedError` unless ``model`` has ``attribute`` (set by ``fit``/``set_state``) not ``None``."""
    if getattr(model, attribute, None) is None:
        name = type(model).__name__
        raise NotFittedError(f"this {name} is not fitted yet: call fit(data) or set_state(params) before {action}() "
                             f"(fit sets {attribute}).")


def as_array(name: str, value, *, ndim: int | None = None, min_ndim: int = 0, finite: bool = True,
             shape_hint: str = "") -> np.ndarray:
    """``value`` as a float array; raise :class:`InputArrayError` if it is not numeric, has the wrong
    number of axes (exactly ``ndim``, or at least ``min_ndim``) or, with ``finite``, holds NaN or inf."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputArrayError(f"{name} must be an array of numbers{shape_hint and ' of shape ' + shape_hint}, "
                              f"got {_describe(value)}; pass a NumPy array or nested lists of numbers.") from None
    if (ndim is not None and array.ndim != ndim) or array.ndim < min_ndim:
        hint = f" {shape_hint}" if shape_hint else ""
        if ndim is not None and array.ndim != ndim:
            raise InputArrayError(f"{name} must have {_axes(ndim)}{hint}, got shape {array.shape}; reshape it "
                                  f"to that shape.")
        raise InputArrayError(f"{name} must have at least {_axes(min_ndim)}{hint}, got shape {array.shape}; "
                              f"reshape it to that shape.")
    if finite:
        check_finite(name, array)
    return array


def check_finite(name: str, array: np.ndarray) -> None:
    """Raise :class:`InputArrayError` if ``array`` holds NaN or infinity.

    Large arrays take a fast path: the sum of finite numbers is finite (unless it overflows, when the
    exact check runs).
    """
    if array.size > _SMALL:
        with np.errstate(all="ignore"):
            if np.isfinite(np.sum(array)):
                return
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(np.asarray(array)))
        first = tuple(int(i) for i in bad[0]) if bad.size else ()
        raise InputArrayError(f"{name} contains {len(bad)} non-finite value(s) (NaN or inf), the first"
                              f"{_at(first) or ' one'}; only finite numbers are allowed: clean or drop those entries first.")


def _axes(n: int) -> str:
    return "no axes (a single number)" if n == 0 else f"{n} axis" if n == 1 else f"{n} axes"


def _at(index: tuple) -> str:
    """`` at index (i, j)`` for an entry of an array with axes, nothing for a single value or matrix."""
    return f" at index {index}" if index else ""


def _describe(value) -> str:
    text = repr(value)
    return (text if len(text) <= 60 else text[:57] + "...") + f" ({type(value).__name__})"


def check_nonnegative(name: str, array: np.ndarray, what: str = "values") -> None:
    """Raise :class:`InputArrayError` if some entry of ``array`` is negative."""
    if array.size == 0 or not array.min() < 0:
        return
    index = tuple(int(i) for i in np.argwhere(array < 0)[0])
    raise InputArrayError(f"{name} must be non-negative {what}, got {float(array[index]):g}"
                          f"{_at(index)}; pass {what} >= 0.")


def _row_sums(array: np.ndarray) -> np.ndarray:
    """Sums along the last axis, by a matrix-vector product (much faster than ``sum(axis=-1)`` for short rows)."""
    return array @ np.ones(array.shape[-1])


def check_probabilities(name: str, p: np.ndarray, atol: float = SUM_ATOL) -> None:
    """``p`` (..., K): finite, non-negative and summing to 1 along the last axis (within ``atol``).

    Fast path, three NumPy calls: the row sums (a NaN or inf makes its row's sum NaN or inf, and the
    comparisons below false), their largest distance from 1, and the smallest entry. The slow path
    only runs to say what is wrong.
    """
    if p.ndim < 1 or p.shape[-1] < 1:
        raise InputArrayError(f"{name} must have shape (..., K) with K >= 1 states, got shape {p.shape}.")
    total = _row_sums(p)
    if p.size == 0 or (np.abs(total - 1.0).max() <= atol and p.min() >= 0):
        return
    check_finite(name, p)
    check_nonnegative(name, p, "probabilities")
    off = np.abs(total - 1.0) > atol
    index = tuple(int(i) for i in np.argwhere(off)[0]) if total.ndim else ()
    raise InputArrayError(f"{name} must sum to 1 along its last axis (probabilities over K states), but the "
                          f"row{_at(index)} sums to {float(total[index]):.6g}; normalise it "
                          f"(p / p.sum(axis=-1, keepdims=True)), or pass counts to a function that takes counts.")


def check_counts(name: str, counts: np.ndarray) -> np.ndarray:
    """``counts`` (..., K): finite, non-negative, and at least one count in every row.

    Returns the row totals ``(...)``. Fast path as in :func:`check_probabilities`.
    """
    if counts.ndim < 1 or counts.shape[-1] < 1:
        raise InputArrayError(f"{name} must have shape (..., K) with K >= 1 categories, got shape {counts.shape}.")
    total = _row_sums(counts)
    if total.size == 0 or (total.min() > 0 and total.max() < np.inf and counts.min() >= 0):
        return total
    check_finite(name, counts)
    check_nonnegative(name, counts, "counts")
    empty = total <= 0
    index = tuple(int(i) for i in np.argwhere(empty)[0]) if empty.ndim else ()
    raise InputArrayError(f"{name} has a row with no counts at all{_at(index)}; every row needs at least "
                          f"one observation: drop empty rows first.")


def check_square(name: str, cov: np.ndarray, dim: int | None = None) -> None:
    """``cov`` has shape (..., d, d) (with ``d == dim`` when given)."""
    if cov.ndim < 2 or cov.shape[-1] != cov.shape[-2] or (dim is not None and cov.shape[-1] != dim):
        wanted = "(..., d, d)" if dim is None else f"(..., {dim}, {dim})"
        raise InputArrayError(f"{name} must be square covariance matrices of shape {wanted}, got shape {cov.shape}; "
                              f"its last two axes must both be the dimension d of the means.")


def traces(cov: np.ndarray) -> np.ndarray:
    """Traces of matrices ``(..., d, d)`` -> ``(...)``, from a strided view of the diagonals (fast for small d)."""
    d = cov.shape[-1]
    flat = cov.reshape(-1, d * d)
    return (flat[:, ::d + 1] @ np.ones(d)).reshape(cov.shape[:-2])


@lru_cache(maxsize=None)
def _antisymmetric_weights(d: int) -> np.ndarray:
    """Flattened (d*d,) weights ``A`` with ``A[i, j] = -A[j, i] = sqrt(p_k)`` for the pairs ``i < j`` (``p_k``
    the k-th prime): square roots of distinct primes are linearly independent over the rationals, so
    the asymmetries of a matrix cannot cancel in ``sum(S * A)`` short of rounding."""
    pairs = d * (d - 1) // 2
    primes, candidate = [], 2
    while len(primes) < pairs:
        if all(candidate % p for p in primes if p * p <= candidate):
            primes.append(candidate)
        candidate += 1
    upper, lower = np.triu_indices(d, 1)
    weights = np.zeros(d * d)
    weights[upper * d + lower] = np.sqrt(primes)
    weights[lower * d + upper] = -np.sqrt(primes)
    weights.setflags(write=False)
    return weights, float(np.abs(weights).sum()), np.ones(d)


def check_symmetric(name: str, cov: np.ndarray, rtol: float = PSD_RTOL, scale=None) -> None:
    r"""``cov`` (..., d, d) is symmetric up to about ``rtol`` times the size of each matrix.

    Fast path, one matrix-vector product: :math:`|\sum_{ij} S_{ij}A_{ij}|` with the antisymmetric
    weights of :func:`_antisymmetric_weights` (zero for a symmetric matrix) against ``rtol`` times
    the weights' sum times ``scale`` (default the absolute trace, which bounds every entry of a
    positive semi-definite matrix; pass the traces when they are computed anyway). Matrices that
    fail it are compared exactly with their transposes, relative to their largest entry. A matrix
    with NaN or inf fails it too, so this also checks that ``cov`` is finite (for its caller).
    """
    d = cov.shape[-1]
    if d < 2 or cov.size == 0:
        check_finite(name, cov)
        return
    flat = cov.reshape(-1, d * d)
    weights, weight_sum, ones = _antisymmetric_weights(d)
    if scale is None:
        scale = flat[:, ::d + 1] @ ones  # the traces
    else:
        scale = np.asarray(scale, dtype=float)
        scale = scale.reshape(-1) if scale.size == len(flat) else np.broadcast_to(scale, cov.shape[:-2]).reshape(-1)
    # NaN or inf anywhere in a matrix makes its projection or its trace NaN/inf: "not <=" flags it too
    suspect = ~(np.abs(flat @ weights) <= (rtol * weight_sum) * np.abs(scale))
    if not suspect.any():
        return
    check_finite(name, cov)
    rows = np.flatnonzero(suspect)
    matrices = flat[rows].reshape(-1, d, d)
    asym = np.abs(matrices - np.swapaxes(matrices, -1, -2)).max(axis=(-2, -1))
    bad = asym > rtol * np.maximum(np.abs(matrices).max(axis=(-2, -1)), np.finfo(float).tiny)
    if np.any(bad):
        first = int(np.flatnonzero(bad)[0])
        index = tuple(int(i) for i in np.unravel_index(rows[first], cov.shape[:-2])) if cov.ndim > 2 else ()
        raise InputArrayError(f"{name} must be symmetric; the matrix{_at(index)} differs from its transpose by "
                              f"{float(asym[first]):.3g}; symmetrise it with (S + S.T) / 2.")


def check_eigenvalues(name: str, values: np.ndarray, rtol: float = PSD_RTOL) -> None:
    """Eigenvalues ``values`` (..., d) of symmetric matrices, in ascending order (as ``eigvalsh`` and
    ``eigh`` return them): none below ``-rtol`` times the largest absolute eigenvalue of its matrix."""
    lowest = values[..., 0]
    if values.size == 0 or not lowest.min() < 0:
        return
    scale = np.maximum(np.abs(lowest), np.abs(values[..., -1]))
    bad = lowest < -rtol * np.maximum(scale, np.finfo(float).tiny)
    if np.any(bad):
        index = tuple(int(i) for i in np.argwhere(np.atleast_1d(bad))[0]) if values.ndim > 1 else ()
        raise InputArrayError(f"{name} must be positive semi-definite (a covariance), but the matrix{_at(index)} "
                              f"has the eigenvalue {float(np.atleast_1d(lowest)[index or 0]):.6g} < 0; pass a "
                              f"covariance (e.g. A @ A.T, or clip negative eigenvalues to 0).")


def check_covariance(name: str, cov: np.ndarray, dim: int | None = None) -> np.ndarray:
    """``cov`` (..., d, d): square, finite, symmetric and positive semi-definite within :data:`PSD_RTOL`.

    Returns the eigenvalues (..., d). One symmetric eigen-decomposition per matrix: use it at a
    public entry, not per iteration.
    """
    check_square(name, cov, dim)
    check_symmetric(name, cov)  # also checks that cov is finite
    values = np.linalg.eigvalsh(cov)
    check_eigenvalues(name, values)
    return values


def check_same(name_a: str, value_a: int, name_b: str, value_b: int, what: str) -> None:
    """Two sizes that must agree (e.g. the dimension d of a mean and of its covariance)."""
    if value_a != value_b:
        raise InputArrayError(f"{name_a} and {name_b} must agree on {what}, got {value_a} and {value_b}; "
                              f"pass arrays of matching shapes.")


def broadcast_shape(**arrays) -> tuple:
    """The broadcast shape of the named arrays, or :class:`InputArrayError` naming them and their shapes."""
    shapes = [np.shape(a) for a in arrays.values()]
    if all(shape == shapes[0] for shape in shapes):
        return shapes[0]
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items())
        raise InputArrayError(f"the shapes of {', '.join(arrays)} do not broadcast together ({shapes}); "
                              f"pass arrays of one batch shape (e.g. (n_chains,)) or scalars.") from None
