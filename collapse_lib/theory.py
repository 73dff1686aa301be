r"""Closed forms of the paper's theory, to draw against simulation.

Indexing used throughout the library: the model of *generation* ``g`` is fitted to the
dataset :math:`D_g` of :math:`M_g` points; :math:`D_0` is real data from
:math:`\mathcal N(\mu, \sigma^2)`. In the paper's notation this model has parameters
:math:`(\mu_{g+1}, \sigma_{g+1})`. Functions that take ``sample_sizes`` (the array
:math:`M_0..M_n`) return one value per generation ``g = 0..n``.

For a fit with ``ddof`` (1 = unbiased, 0 = maximum likelihood) the variance factor of one
step is :math:`S_i = \chi^2_{k_i}/(M_i - \mathrm{ddof})` with :math:`k_i = M_i - 1`.

Every function checks its arguments first (sample sizes whole numbers large enough for the
formula, standard deviations and traces >= 0, probabilities in [0, 1] and summing to 1, ``ddof``
0 or 1) and raises :class:`~collapse_lib.validation.SettingError` for a bad setting, or its
subclass :class:`~collapse_lib.validation.InputArrayError` for a bad array, naming the argument.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .validation import (InputArrayError, SettingError, as_array, check_fraction, check_int, check_nonnegative_float,
                         check_positive_float, check_positive_int, check_probabilities)


def _sizes(sample_sizes, minimum: int = 1, why: str = "", name: str = "sample_sizes") -> np.ndarray:
    """``sample_sizes`` as a float array ``(n+1,)`` of whole numbers >= ``minimum`` (one per generation)."""
    m = np.atleast_1d(as_array(name, sample_sizes, shape_hint="(n+1,), one size per generation"))
    if m.ndim != 1 or m.size == 0:
        raise InputArrayError(f"{name} must be one sample size per generation, shape (n+1,), got shape {m.shape}.")
    if np.any(m != np.round(m)):
        raise InputArrayError(f"{name} must be whole numbers (points per generation), got {m[m != np.round(m)][0]:g}.")
    if np.any(m < minimum):
        first = int(np.argmax(m < minimum))
        raise InputArrayError(f"{name} must all be >= {minimum}{why}, got {name}[{first}] = {m[first]:g}; "
                              f"use larger samples.")
    return m


def _ddof(ddof) -> int:
    return check_int("ddof", ddof, minimum=0, maximum=1)


def _scale(name: str, value, positive: bool = False) -> np.ndarray:
    """A finite standard deviation (or trace) >= 0 (> 0 with ``positive``), scalar or array."""
    value = as_array(name, value)
    if np.any(value < 0) or (positive and np.any(value == 0)):
        raise InputArrayError(f"{name} must be {'> 0' if positive else '>= 0'} (a standard deviation or a trace), "
                              f"got {value.tolist()}.")
    return value


def _unit_interval(name: str, value, open_ends: bool = False) -> np.ndarray:
    value = as_array(name, value)
    bad = (value <= 0) | (value >= 1) if open_ends else (value < 0) | (value > 1)
    if np.any(bad):
        interval = "(0, 1), strictly between 0 and 1" if open_ends else "[0, 1]"
        raise InputArrayError(f"{name} must be a probability in {interval}, got {value.tolist()}.")
    return value


_CHI = " (a variance needs M - 1 >= 1 degrees of freedom)"


def _whole(name: str, value, low: int, high: int | None = None, why: str = "") -> np.ndarray:
    """Whole numbers in ``low..high`` as an int array (same shape)."""
    array = as_array(name, value)
    if np.any(array != np.round(array)):
        raise InputArrayError(f"{name} must be whole numbers {why}, got {array.tolist()}.")
    if np.any(array < low) or (high is not None and np.any(array > high)):
        allowed = f"{low}..{high}" if high is not None else f">= {low}"
        raise InputArrayError(f"{name} must lie in {allowed} {why}, got values in "
                              f"{float(array.min()):g}..{float(array.max()):g}.")
    return array.astype(np.int64)


def _steps(steps, minimum: int, why: str = "") -> np.ndarray:
    """Numbers of multinomial draws: whole numbers >= ``minimum``."""
    array = as_array("steps", steps)
    if np.any(array != np.round(array)) or np.any(array < minimum):
        raise InputArrayError(f"steps must be whole numbers >= {minimum}{why}, got {array.tolist()}.")
    return array


def chi_mean_factor(k):
    r""":math:`c(k) = E\sqrt{\chi^2_k/k} = \sqrt{2/k}\,\Gamma(\frac{k+1}{2})/\Gamma(\frac k2)`.

    ``k`` (degrees of freedom, > 0) of any shape; returns that shape.
    For large ``k`` the difference of two ``gammaln`` values loses precision, so there the
    asymptotic series :math:`\log c(k) = -\tfrac1{4k} + \tfrac1{24k^3} + O(k^{-5})` is used.
    """
    k = as_array("k", k)
    if np.any(k <= 0):
        raise InputArrayError(f"k (degrees of freedom) must be > 0, got the minimum {float(k.min()):g}.")
    small = np.minimum(k, 1e3)
    exact = np.sqrt(2.0 / small) * np.exp(special.gammaln((small + 1) / 2) - special.gammaln(small / 2))
    large = np.exp(-1.0 / (4 * k) + 1.0 / (24 * k**3))
    return np.where(k < 1e3, exact, large)


def expected_variance(sigma, sample_sizes, ddof: int = 1):
    r""":math:`E[\hat\sigma_g^2] = \sigma^2 \prod_{i\le g} (M_i-1)/(M_i-\mathrm{ddof})`.

    Constant for ``ddof=1`` (G1, a martingale); :math:`\sigma^2((M-1)/M)^{g+1}` for ``ddof=0``.
    ``sample_sizes`` (n+1,), each >= ddof + 1; returns (n+1,).
    """
    ddof = _ddof(ddof)
    sigma = _scale("sigma", sigma)
    m = _sizes(sample_sizes, ddof + 1, " (the variance estimate divides by M - ddof)")
    return sigma**2 * np.cumprod((m - 1) / (m - ddof))


def expected_sigma(sigma, sample_sizes, ddof: int = 1):
    r""":math:`E[\hat\sigma_g] = \sigma\prod_{i\le g}\sqrt{k_i/(M_i-\mathrm{ddof})}\,c(k_i)`; ``sample_sizes`` >= 2."""
    ddof = _ddof(ddof)
    sigma = _scale("sigma", sigma)
    m = _sizes(sample_sizes, 2, _CHI)
    return sigma * np.cumprod(np.sqrt((m - 1) / (m - ddof)) * chi_mean_factor(m - 1))


def expected_mean_sq_error(sigma, sample_sizes, ddof: int = 1):
    r""":math:`E[(\hat\mu_g-\mu)^2] = \sum_{i\le g} E[\sigma_i^2]/M_i` (G3).

    :math:`\sigma_i^2` is the variance :math:`D_i` is drawn with (:math:`\sigma^2` for
    :math:`i=0`). For ``ddof=1`` this is :math:`\sigma^2\sum_{i\le g} 1/M_i`.
    """
    ddof = _ddof(ddof)
    sigma = _scale("sigma", sigma)
    m = _sizes(sample_sizes, ddof + 1, " (the variance estimate divides by M - ddof)")
    drawn_with = np.concatenate([[sigma**2], expected_variance(sigma, m, ddof)[:-1]])
    return np.cumsum(drawn_with / m)


def expected_sigma_sq_error(sigma, sample_sizes, ddof: int = 1):
    r""":math:`E[(\hat\sigma_g-\sigma)^2] = E\hat\sigma_g^2 - 2\sigma E\hat\sigma_g + \sigma^2` (G4).

    For ``ddof=1``: :math:`2\sigma^2(1-\prod_{i\le g} c(M_i-1)) \approx \tfrac{\sigma^2}{2}\sum 1/M_i`.
    """
    return expected_variance(sigma, sample_sizes, ddof) - 2 * sigma * expected_sigma(sigma, sample_sizes, ddof) + sigma**2


def expected_w2_squared(sigma, sample_sizes, ddof: int = 1):
    r"""Exact :math:`E[W_2^2(\mathcal N(\mu,\sigma^2), \mathcal N(\hat\mu_g,\hat\sigma_g^2))]` = (G3) + (G4)."""
    return expected_mean_sq_error(sigma, sample_sizes, ddof) + expected_sigma_sq_error(sigma, sample_sizes, ddof)


def w2_squared_first_order(sigma, sample_sizes):
    r"""The paper's first-order form (G5): :math:`\tfrac32\sigma^2\sum_{i\le g} 1/M_i` (``ddof=1``)."""
    sigma = _scale("sigma", sigma)
    return 1.5 * sigma**2 * np.cumsum(1.0 / _sizes(sample_sizes))


def marginal_variance(sigma, sample_sizes, ddof: int = 1):
    r""":math:`\mathrm{Var}(X)` of a point drawn from generation ``g``'s model (G2).

    :math:`E\hat\sigma_g^2 + E(\hat\mu_g-\mu)^2`; for ``ddof=1``
    :math:`\sigma^2(1+\sum_{i\le g}1/M_i)`, for ``ddof=0`` exactly :math:`\sigma^2` at constant M.
    """
    return expected_variance(sigma, sample_sizes, ddof) + expected_mean_sq_error(sigma, sample_sizes, ddof)


def log_variance_moments(sigma, sample_sizes, ddof: int = 1):
    r"""Mean and standard deviation of :math:`\log\hat\sigma_g^2` (G6).

    :math:`\log\hat\sigma_g^2 = \log\sigma^2 + \sum_{i\le g}\log S_i` with
    :math:`E\log S_i = \psi(k_i/2) + \log 2 - \log(M_i-\mathrm{ddof})` and
    :math:`\mathrm{Var}\log S_i = \psi'(k_i/2)`. The mean drifts down by about
    :math:`1/M` per generation, so :math:`\hat\sigma_g \to 0` almost surely. ``sigma`` > 0,
    ``sample_sizes`` >= 2.
    """
    ddof = _ddof(ddof)
    sigma = _scale("sigma", sigma, positive=True)
    m = _sizes(sample_sizes, 2, _CHI)
    k = m - 1
    step_mean = special.digamma(k / 2) + np.log(2.0) - np.log(m - ddof)
    step_var = special.polygamma(1, k / 2)
    return np.log(sigma**2) + np.cumsum(step_mean), np.sqrt(np.cumsum(step_var))


def sd_of_variance(sigma, sample_sizes, ddof: int = 1):
    r"""Standard deviation of :math:`\hat\sigma_g^2` over chains, one value per generation ``g``.

    :math:`\hat\sigma_g^2 = \sigma^2\prod_{i\le g} S_i` with independent :math:`S_i`, and
    :math:`E S_i^2 = k_i(k_i+2)/(M_i-\mathrm{ddof})^2`, so
    :math:`\mathrm{sd} = \sqrt{\sigma^4\prod_{i\le g} E S_i^2 - (E\hat\sigma_g^2)^2}` (units of
    :math:`\sigma^2`; shape ``(n+1,)``). Divided by :math:`\sqrt{N}` it is the Monte Carlo standard
    error of the mean of :math:`\hat\sigma_g^2` over ``N`` chains; relative to the mean it is
    :math:`\sqrt{\prod_{i\le g}(1+2/k_i) - 1}` for either ``ddof``, which grows like
    :math:`e^{g/M}` at constant M: the expectation is carried by ever rarer chains.
    """
    ddof = _ddof(ddof)
    sigma = _scale("sigma", sigma)
    m = _sizes(sample_sizes, ddof + 1, " (the variance estimate divides by M - ddof)")
    k = m - 1
    second = sigma**4 * np.cumprod(k * (k + 2) / (m - ddof) ** 2)
    return np.sqrt(np.maximum(second - expected_variance(sigma, m, ddof) ** 2, 0.0))


# ---------------------------------------------------------------- discrete (Wright–Fisher)

def expected_heterozygosity(probabilities, sample_size: int, steps):
    r""":math:`E[H(p_n)] = (1-1/M)^n H(q)` after ``steps`` = n multinomial resamplings.

    ``probabilities`` (K,) sum to 1; ``steps`` (any shape, >= 0) -> that shape.
    """
    q = as_array("probabilities", probabilities, ndim=1, shape_hint="(K,)")
    check_probabilities("probabilities", q)
    sample_size = check_positive_int("sample_size", sample_size)
    steps = _steps(steps, 0)
    return (1 - 1 / sample_size) ** steps * (1 - np.sum(q**2))


def loss_probability_one_step(probability, sample_size: int):
    r"""Chance a state of probability ``p`` gets no sample among ``M``: :math:`(1-p)^M` (shape of ``probability``)."""
    probability = _unit_interval("probability", probability)
    return (1 - probability) ** check_positive_int("sample_size", sample_size)


def mean_absorption_time_two_states(q: float, sample_size: int) -> float:
    r"""Kimura's diffusion approximation of the mean time to absorption with two states.

    :math:`E[T] \approx -2M[q\ln q + (1-q)\ln(1-q)]` steps (a few per cent off at small M).
    ``q`` strictly between 0 and 1 (at 0 or 1 the chain starts absorbed).
    """
    q = float(_unit_interval("q", q, open_ends=True))
    sample_size = check_positive_int("sample_size", sample_size)
    return -2 * sample_size * (q * np.log(q) + (1 - q) * np.log(1 - q))


def _binomial_transition_matrix(sample_size: int) -> np.ndarray:
    r"""Transition matrix of one state's count under Wright–Fisher resampling, shape (M+1, M+1).

    Row ``c`` is :math:`\mathrm{Binomial}(M, c/M)` over the next count ``0..M``.
    """
    from scipy import stats

    m = int(sample_size)
    counts = np.arange(m + 1)
    return stats.binom.pmf(counts[None, :], m, counts[:, None] / m)


def wright_fisher_count_distribution(probabilities, sample_size: int, steps):
    r"""Exact distribution of each state's count after ``steps`` multinomial draws.

    The count :math:`C_k` of one state in a Wright–Fisher chain is itself a Markov chain
    (the state against all the others): :math:`C^{(1)}_k \sim \mathrm{Binomial}(M, q_k)`
    and :math:`C^{(t+1)}_k \mid C^{(t)}_k \sim \mathrm{Binomial}(M, C^{(t)}_k/M)`.

    Parameters
    ----------
    probabilities : array, shape (K,)
        The original probabilities :math:`q_k`.
    sample_size : int
        M, samples per generation.
    steps : int or array of int >= 1, shape (n,)
        Numbers of multinomial draws. The model of library generation ``g`` has been
        through ``g + 1`` draws.

    Returns
    -------
    ndarray, shape (n, K, M+1)
        ``out[i, k, c]`` = :math:`P(C_k = c)` after ``steps[i]`` draws (probabilities; each
        row over ``c`` sums to 1). Cost: ``max(steps)`` products with an (M+1)^2 matrix.
    """
    from scipy import stats

    q = as_array("probabilities", probabilities, ndim=1, shape_hint="(K,)")
    check_probabilities("probabilities", q)
    steps = np.atleast_1d(_steps(steps, 1, " (the first draw is from q itself)")).astype(int)
    if steps.ndim != 1:
        raise InputArrayError(f"steps must be an int or a 1-D array, shape (n,), got shape {steps.shape}.")
    m = check_positive_int("sample_size", sample_size)
    transition = _binomial_transition_matrix(m)
    current = stats.binom.pmf(np.arange(m + 1)[None, :], m, q[:, None])  # after one draw, (K, M+1)
    out = np.empty((steps.size, q.size, m + 1))
    order = np.argsort(steps)
    done = 1
    for index in order:
        while done < steps[index]:
            current = current @ transition
            done += 1
        out[index] = current
    return out


def state_presence_probability(probabilities, sample_size: int, steps):
    r"""Exact chance that each state still has mass after ``steps`` draws: :math:`P(C_k > 0)`.

    ``probabilities`` shape (K,), ``steps`` shape (n,) (each >= 1); returns shape (n, K).
    After one draw it is :math:`1-(1-q_k)^M` (:func:`loss_probability_one_step`).
    """
    return 1.0 - wright_fisher_count_distribution(probabilities, sample_size, steps)[..., 0]


def absorption_probability(probabilities, sample_size: int, steps):
    r"""Exact chance that a Wright–Fisher chain is absorbed (a delta) after ``steps`` draws.

    The chain is absorbed in state k iff :math:`C_k = M`; these events are disjoint, so
    :math:`P(\text{absorbed}) = \sum_k P(C_k = M)`. ``probabilities`` shape (K,),
    ``steps`` shape (n,) (each >= 1); returns shape (n,).
    """
    return wright_fisher_count_distribution(probabilities, sample_size, steps)[..., -1].sum(axis=-1)


def mean_absorption_time_two_states_exact(q: float, sample_size: int) -> float:
    r"""Exact mean number of multinomial draws until a two-state chain is absorbed.

    Solves :math:`(I - Q)\,t = \mathbf 1` on the transient counts ``1..M-1`` of the
    binomial chain (:math:`Q` its transient block), then averages over the first draw:
    :math:`E[T] = 1 + \sum_{c=1}^{M-1} \binom{M}{c} q^c (1-q)^{M-c}\, t_c`. Units: draws
    (generations of resampling); compare :func:`mean_absorption_time_two_states`.
    """
    from scipy import stats

    q = float(_unit_interval("q", q))
    m = check_int("sample_size", sample_size, minimum=2)
    transient = _binomial_transition_matrix(m)[1:m, 1:m]
    times = np.linalg.solve(np.eye(m - 1) - transient, np.ones(m - 1))
    first = stats.binom.pmf(np.arange(1, m), m, q)
    return float(1.0 + first @ times)


# ------------------------------------------------- what prevents collapse (replace vs accumulate)
#
# Policies as in collapse_lib.policies. Under "accumulate" generation g fits the pool of
# N_g = M_0 + ... + M_g points, in which the newest batch has weight M_g / N_g; under "replace"
# N_g = M_g. The error a new batch adds is proportional to M_g / N_g^2: 1/M under replace, and
# 1/(M (g+1)^2) under accumulate at constant M, whose sum converges to pi^2/6 / M.

def _pool_sizes(sample_sizes, policy: str) -> np.ndarray:
    """:math:`N_g`: the points generation ``g`` is fitted to (``replace`` or ``accumulate``)."""
    m = _sizes(sample_sizes)
    if policy == "replace":
        return m
    if policy == "accumulate":
        return np.cumsum(m)
    raise SettingError(f"this closed form covers the policies 'replace' and 'accumulate', not {policy!r}; "
                       f"pass policy='replace' or 'accumulate'.")


def regression_first_fit_error(sigma, dim: int, design_size: int):
    r"""Expected test error of ordinary least squares on real data: :math:`\sigma^2 d/(T-d-1)`.

    For a Gaussian design :math:`X\in\mathbb R^{T\times d}` (i.i.d. :math:`\mathcal N(0,1)`
    entries) and labels :math:`Xw^*+\sigma\varepsilon`, :math:`\hat w - w^* = (X^\top X)^{-1}X^\top\sigma\varepsilon`
    and the noise-free test error over :math:`x\sim\mathcal N(0, I_d)` is :math:`\|\hat w-w^*\|^2`,
    whose mean is :math:`\sigma^2\,\mathrm{tr}\,E[(X^\top X)^{-1}] = \sigma^2 d/(T-d-1)` (the mean
    of an inverse Wishart). Needs :math:`T > d + 1`. Units: squared label units.
    """
    sigma = _scale("sigma", sigma)
    dim = check_positive_int("dim", dim)
    design_size = check_positive_int("design_size", design_size)
    if design_size <= dim + 1:
        raise SettingError(f"the mean test error is finite only for design_size > dim + 1; got T={design_size}, d={dim}.")
    return sigma**2 * dim / (design_size - dim - 1)


def regression_test_error(sigma, dim: int, design_size: int, sample_sizes, policy: str = "replace"):
    r"""Expected test error of the regression fitted at generation ``g`` to its own predictions.

    ``sample_sizes`` are the rows :math:`M_g = k_g T` of each generation (``k_g`` relabelled
    copies of the fixed design; the real data, ``g = 0``, usually one copy). Then

    .. math::
        E[\mathcal E_g] = \sigma^2\,\frac{d}{T-d-1}\;T\sum_{i\le g}\frac{M_i}{N_i^2},

    which is :math:`\sigma^2\frac{d}{T-d-1}\,n` under *replace* and
    :math:`\sigma^2\frac{d}{T-d-1}\sum_{i=1}^{n} i^{-2} < \frac{\pi^2}6\sigma^2\frac{d}{T-d-1}`
    under *accumulate* at one copy per generation, with :math:`n = g+1` fits. Exact (the noise level
    is known, so nothing but the coefficients is re-estimated). Shape ``(n+1,)``.
    """
    first = regression_first_fit_error(sigma, dim, design_size)
    m = _sizes(sample_sizes)
    pooled = _pool_sizes(m, policy)
    return first * design_size * np.cumsum(m / pooled**2)


def _mix_coefficients(trace_cov, size, n_real, ddof):
    r"""One step of the *mix* recursion of :math:`(m, t) = (E\|\hat\mu-\mu\|^2, E\,\mathrm{tr}\hat\Sigma)`:
    returns ``A`` (2x2) and ``b`` (2,) with ``(m', t') = A (m, t) + b``."""
    n_gen = size - n_real
    denominator = size - ddof
    a = np.array([
        [(n_gen / size) ** 2, n_gen / size**2],
        [n_gen * n_real / (size * denominator), (max(n_gen - 1, 0) + (n_real / size if n_gen else 0.0)) / denominator],
    ])
    b = np.array([n_real * trace_cov / size**2,
                  (max(n_real - 1, 0) + (n_gen / size if n_real else 0.0)) * trace_cov / denominator])
    return a, b


def multivariate_gaussian_errors(trace_cov, sample_sizes, policy: str = "replace", real_fraction: float = 0.0,
                                 ddof: int = 1):
    r"""Exact :math:`E\|\hat\mu_g-\mu\|^2` and :math:`E\,\mathrm{tr}\,\hat\Sigma_g` of the d-dimensional Gaussian recursion.

    Only :math:`\mathrm{tr}\,\Sigma` (``trace_cov``) of the truth enters. Generation 0 fits
    :math:`M_0` real points: :math:`\mathrm{tr}\Sigma/M_0` and :math:`\mathrm{tr}\Sigma\,(M_0-1)/(M_0-\mathrm{ddof})`.
    Then, with :math:`m, t` the two moments of the previous generation:

    ``replace``
        :math:`m' = m + t/M`, :math:`t' = t\,(M-1)/(M-\mathrm{ddof})`; for ``ddof = 1``
        :math:`m_g = \mathrm{tr}\Sigma\sum_{i\le g}1/M_i` (G3 in d dimensions).
    ``accumulate`` (the pool of :math:`N_g` points)
        :math:`m' = m + (M_g/N_g^2)\,t` and :math:`t' = t\,(1 - M_g/(N_g(N_g-\mathrm{ddof})))`;
        at constant M, :math:`m_g \approx \frac{\mathrm{tr}\Sigma}{M}\sum_{i=1}^{g+1} i^{-2}`.
    ``mix`` (:math:`r` fresh real points and :math:`M-r` generated, ``r = round(real_fraction M)``)
        :math:`m' = ((M-r)/M)^2 m + (M-r)\,t/M^2 + r\,\mathrm{tr}\Sigma/M^2`, and
        :math:`t'` from the pooled scatter of the two groups (see :func:`_mix_coefficients`).

    ``fixed-real`` (the same :math:`r = M_0` real points every generation plus :math:`s = M_g` generated)
        with :math:`E_r = \mathrm{tr}\Sigma/r` the error of the real set's own mean, :math:`n = r + s`
        and :math:`\lambda = s/n`, the excess :math:`u = m - E_r` follows
        :math:`u' = \lambda^2 u + \lambda t/n` from :math:`u_0 = 0`, and
        :math:`t' = [(r-1)\mathrm{tr}\Sigma + (s-1+r/n)\,t + (rs/n)\,u]/(n-\mathrm{ddof})`
        (the mean of the real set is fixed, so :math:`E[(\bar x_R-\mu)\cdot(\hat\mu_g-\mu)] = E_r`
        at every generation). See :func:`fixed_real_limit`.

    Each step is linear in :math:`(m, t)` because every increment has conditional mean zero, so
    the recursion is exact for any sample sizes. ``accumulate-subsample`` has no closed form here.
    Returns two arrays of shape ``(n+1,)`` (squared data units).
    """
    from .policies import make_policy

    ddof = _ddof(ddof)
    trace_cov = check_nonnegative_float("trace_cov", trace_cov)
    m_sizes = _sizes(sample_sizes, ddof + 1, " (the covariance estimate divides by M - ddof)")
    data_policy = make_policy(policy, real_fraction)
    if policy == "accumulate-subsample":
        raise SettingError("no closed form for 'accumulate-subsample'; use replace, accumulate or mix.")
    pooled = np.cumsum(m_sizes)
    mean_error, trace = np.empty(m_sizes.size), np.empty(m_sizes.size)
    mean_error[0] = trace_cov / m_sizes[0]
    trace[0] = trace_cov * (m_sizes[0] - 1) / (m_sizes[0] - ddof)
    for g in range(1, m_sizes.size):
        size, m, t = m_sizes[g], mean_error[g - 1], trace[g - 1]
        if policy == "fixed-real":
            r, own = m_sizes[0], trace_cov / m_sizes[0]
            n_all = r + size
            lam, u = size / n_all, m - own
            mean_error[g] = own + lam**2 * u + lam * t / n_all
            trace[g] = ((r - 1) * trace_cov + (size - 1 + r / n_all) * t + r * size / n_all * u) / (n_all - ddof)
            continue
        if policy == "accumulate":
            n_pool = pooled[g]
            mean_error[g] = m + size / n_pool**2 * t
            trace[g] = t * (1 - size / (n_pool * (n_pool - ddof)))
            continue
        a, b = _mix_coefficients(trace_cov, size, data_policy.n_real(int(size)), ddof)
        mean_error[g], trace[g] = a @ np.array([m, t]) + b
    return mean_error, trace


def fixed_real_limit(trace_cov, real_size: int, sample_size: int, ddof: int = 1):
    r"""The limits of :func:`multivariate_gaussian_errors` under ``fixed-real`` at constant M, as generations grow.

    With :math:`r` real points kept, :math:`s` generated per generation, :math:`n = r+s` and
    :math:`\lambda = s/n` (Bertrand et al.'s proportion of generated data), the fixed point of the
    linear step is

    .. math::
        m^* = \frac{\mathrm{tr}\Sigma}{r} + \frac{\lambda\,t^*}{n(1-\lambda^2)},

    the real set's own error plus a bounded excess: the chain never leaves the neighbourhood of
    the first fit, but it never gets closer to the truth than the real data allow either.
    Returns ``(m*, t*)`` (squared data units).
    """
    ddof = _ddof(ddof)
    trace_cov = check_nonnegative_float("trace_cov", trace_cov)
    r = check_int("real_size", real_size, minimum=ddof + 1)
    s = check_int("sample_size", sample_size, minimum=1)
    n = r + s
    lam = s / n
    # (u, t) -> A (u, t) + b, with u = m - tr/r
    a = np.array([[lam**2, lam / n], [r * s / n / (n - ddof), (s - 1 + r / n) / (n - ddof)]])
    b = np.array([0.0, (r - 1) * trace_cov / (n - ddof)])
    u_star, t_star = np.linalg.solve(np.eye(2) - a, b)
    return float(trace_cov / r + u_star), float(t_star)


def log_det_moments(dim: int, sample_sizes, ddof: int = 1):
    r"""Mean and standard deviation of :math:`\log\det\hat\Sigma_g - \log\det\Sigma` under *replace* (G6 in d dimensions).

    Each fit multiplies the covariance by an independent factor: :math:`\hat\Sigma_g = F\,\frac{W}{M_g-\mathrm{ddof}}\,F^\top`
    with :math:`FF^\top = \hat\Sigma_{g-1}` and :math:`W\sim W_d(M_g-1, I)`, and by Bartlett's
    decomposition :math:`\log\det W = \sum_{i<d}\log\chi^2_{M_g-1-i}` with independent terms. So
    :math:`\log\det\hat\Sigma_g - \log\det\Sigma` is a sum over :math:`i \le g` of independent steps with

    .. math::
        E = \sum_{j<d}\Bigl[\psi\bigl(\tfrac{M_i-1-j}{2}\bigr) + \log 2\Bigr] - d\log(M_i-\mathrm{ddof})
        \approx -\frac{d(d+1)}{2M_i},
        \qquad \mathrm{Var} = \sum_{j<d}\psi'\bigl(\tfrac{M_i-1-j}{2}\bigr) \approx \frac{2d}{M_i}:

    the volume collapses :math:`(d+1)/2` times faster than :math:`d` independent variances would. Needs
    :math:`M_i > d` (else the fit is singular). For ``dim = 1`` this is :func:`log_variance_moments`
    less :math:`\log\sigma^2`. Returns two arrays of shape ``(n+1,)`` (natural log units).
    """
    ddof = _ddof(ddof)
    dim = check_positive_int("dim", dim)
    m = _sizes(sample_sizes, dim + 1, f" (dim + 1: a non-singular covariance in dim = {dim} needs more points "
                                      f"than dimensions)")
    shape = (m[:, None] - 1 - np.arange(dim)[None, :]) / 2
    step_mean = (special.digamma(shape) + np.log(2.0)).sum(axis=1) - dim * np.log(m - ddof)
    step_var = special.polygamma(1, shape).sum(axis=1)
    return np.cumsum(step_mean), np.sqrt(np.cumsum(step_var))


def multivariate_gaussian_mix_limit(trace_cov, sample_size: int, real_fraction: float, ddof: int = 1):
    r"""The limits of :func:`multivariate_gaussian_errors` under ``mix`` at constant M, as generations grow.

    The fixed point :math:`(m^*, t^*)` of the linear step, with :math:`\gamma = r/M` the realised
    fraction of fresh real points. For ``ddof = 1`` it is

    .. math::
        m^* = \frac{\mathrm{tr}\Sigma}{M\,[\gamma(2-\gamma) - (1-\gamma)^2/(M-1)]},
        \qquad t^* = \mathrm{tr}\Sigma + \frac{(1-\gamma)M}{M-1}\,m^*,

    finite for every :math:`r \ge 1` and close to :math:`\mathrm{tr}\Sigma/(M\gamma(2-\gamma))`
    once :math:`\gamma M \gg 1`: the fitted covariance absorbs the spread of the mean. Returns
    ``(inf, nan)`` when no real point is drawn (``round(real_fraction M) = 0``), where the error
    grows without bound. Units: squared data units.
    """
    from .policies import make_policy

    ddof = _ddof(ddof)
    trace_cov = check_nonnegative_float("trace_cov", trace_cov)
    sample_size = check_int("sample_size", sample_size, minimum=ddof + 1)
    n_real = make_policy("mix", real_fraction).n_real(sample_size)
    if n_real == 0:
        return np.inf, np.nan
    a, b = _mix_coefficients(trace_cov, float(sample_size), n_real, ddof)
    m_star, t_star = np.linalg.solve(np.eye(2) - a, b)
    return float(m_star), float(t_star)


def subset_mass_variance(mass, sample_sizes, policy: str = "replace", real_fraction: float = 0.0):
    r"""Variance over chains of the probability a categorical model gives a fixed set of states.

    For a set :math:`A` with original mass :math:`q = q(A)` (``mass``), the fitted
    :math:`p_g(A)` is a martingale under every policy here, :math:`E\,p_g(A) = q`, and its
    variance :math:`V_g` follows from the binomial draws: :math:`V_0 = q(1-q)/M_0`, then

    * ``replace`` / ``accumulate``: :math:`V' = V + (M_g/N_g^2)\,(q(1-q) - V)`, so under replace
      :math:`V_g = q(1-q)\,[1-\prod_{i\le g}(1-1/M_i)]\to q(1-q)` (all or nothing), while under
      accumulate it converges to about :math:`q(1-q)\,\frac{\pi^2}{6M}`;
    * ``mix`` with :math:`r` fresh real points: :math:`V' = ((M-r)/M)^2 V + [(M-r)(q(1-q)-V) + r\,q(1-q)]/M^2`.

    ``mass`` may be an array (one set per entry); returns shape ``(n+1,) + mass.shape``
    (squared probability).
    """
    from .policies import make_policy

    q = _unit_interval("mass", mass)
    spread = q * (1 - q)
    m = _sizes(sample_sizes)
    data_policy = make_policy(policy, real_fraction)
    if policy == "accumulate-subsample":
        raise SettingError("no closed form for 'accumulate-subsample'; use replace, accumulate or mix.")
    pooled = np.cumsum(m) if policy == "accumulate" else m
    out = np.empty((m.size,) + q.shape)
    out[0] = spread / m[0]
    for g in range(1, m.size):
        v = out[g - 1]
        if policy == "mix":
            n_real = data_policy.n_real(int(m[g]))
            n_gen = m[g] - n_real
            out[g] = (n_gen / m[g]) ** 2 * v + (n_gen * (spread - v) + n_real * spread) / m[g] ** 2
        else:
            out[g] = v + m[g] / pooled[g] ** 2 * (spread - v)
    return out


def loss_time_cdf(sample_size: int, counts, horizon: int):
    r"""Exact :math:`P(T_k \le g)`, ``g = 0..horizon``: the chance a state with count ``k`` is lost within g resamplings.

    Under *replace* a state's count is a two-state Wright-Fisher chain,
    :math:`C' \mid C \sim \mathrm{Binomial}(M, C/M)`, and the state is lost when it reaches 0.
    ``counts`` (shape ``(K,)``, each in ``1..M``) are the counts in the data of generation 0;
    the result has shape ``(horizon + 1, K)`` (probabilities; row 0 is zero). Cost: ``horizon``
    products of a vector with an ``(M+1) x (M+1)`` matrix.
    """
    m = check_positive_int("sample_size", sample_size)
    counts = np.atleast_1d(_whole("counts", counts, 1, m, "(a state's count among the M samples)"))
    if counts.ndim != 1:
        raise InputArrayError(f"counts must be an int or a 1-D array, shape (K,), got shape {counts.shape}.")
    horizon = check_int("horizon", horizon, minimum=0)
    transition = _binomial_transition_matrix(m)
    state = np.zeros((counts.size, m + 1))
    state[np.arange(counts.size), counts] = 1.0
    out = np.empty((horizon + 1, counts.size))
    out[0] = 0.0
    for g in range(1, horizon + 1):
        state = state @ transition
        out[g] = state[:, 0]
    return out


def mean_loss_time_given_loss(sample_size: int, counts):
    r"""Exact mean number of resamplings until a state with count ``k`` is lost, given that it is lost.

    A state of count ``k`` is lost with probability :math:`1-k/M` (else it is fixed). Conditioning
    the binomial chain on loss (Doob's h-transform with :math:`h(c) = 1 - c/M`) gives the transient
    kernel :math:`Q^*_{cc'} = Q_{cc'}h(c')/h(c)`, and the mean times solve :math:`(I-Q^*)t = \mathbf 1`
    on the counts ``1..M-1``. Compare :func:`mean_loss_time_diffusion`. Shape of ``counts``; units:
    generations (resamplings).
    """
    m = check_int("sample_size", sample_size, minimum=2)
    counts = _whole("counts", counts, 1, m - 1, "(a count of M is fixed, never lost)")
    c = np.arange(1, m)
    h = 1.0 - c / m
    conditioned = _binomial_transition_matrix(m)[1:m, 1:m] * h[None, :] / h[:, None]
    times = np.linalg.solve(np.eye(m - 1) - conditioned, np.ones(m - 1))
    return times[counts - 1]


def mean_loss_time_diffusion(sample_size: int, counts):
    r"""Diffusion approximation of :func:`mean_loss_time_given_loss`: :math:`2k\ln(M/k)/(1-k/M)`.

    Kimura and Ohta's mean time to loss of a neutral allele at frequency :math:`p = k/M`,
    :math:`-2Mp\ln p/(1-p)` for a haploid population of M: close to linear in the original count
    k (up to the slowly varying logarithm), as Suresh et al. find for maximum-likelihood estimation.
    """
    sample_size = check_positive_int("sample_size", sample_size)
    k = as_array("counts", counts)
    if np.any(k <= 0) or np.any(k >= sample_size):
        raise InputArrayError(f"counts must lie strictly between 0 and sample_size = {sample_size} (a lost or fixed "
                              f"state has no time to loss), got values in {float(k.min()):g}..{float(k.max()):g}.")
    return 2 * k * np.log(sample_size / k) / (1 - k / sample_size)


# ---------------------------------------------------------------------------------------------
# The debate (chapter "debate"): strong collapse, tails and scaling laws, temperature, biased sampling
# ---------------------------------------------------------------------------------------------

def strong_collapse_test_error(sigma, dim: int, sample_sizes, shift: float, synthetic_fraction: float):
    r"""Expected test error of least squares trained on ``n`` points of which a fraction ``p`` have biased labels.

    The real rows have labels :math:`x^\top w^* + \sigma\varepsilon`, the synthetic rows
    :math:`x^\top(w^*+\Delta) + \sigma\varepsilon` with :math:`\|\Delta\| =` ``shift``, all
    :math:`x\sim\mathcal N(0, I_d)`; :math:`n_s = \mathrm{round}(pn)` rows are synthetic. Then
    :math:`\hat w - w^* = A^{-1}B\Delta + A^{-1}X^\top\sigma\varepsilon` with :math:`A = X^\top X` and
    :math:`B` the synthetic rows' Gram matrix, and to first order in :math:`1/n` (Dohmatob, Feng,
    Subramonian and Kempe's strong collapse, in its simplest, isotropic form)

    .. math::
        E\|\hat w - w^*\|^2 = \underbrace{\frac{\sigma^2 d}{n-d-1}}_{\to 0}
        + \underbrace{p^2\|\Delta\|^2}_{\text{plateau}} + \frac{p(1-p)(d+1)\|\Delta\|^2}{n} + O(n^{-2}),

    with the realised :math:`p = n_s/n`. The noise term is exact; the bias term's second-order
    terms cancel in the mean, so the formula is within Monte Carlo error from :math:`n \gtrsim 20d`.
    Returns an array shaped like ``sample_sizes`` (squared label units).
    """
    sigma = _scale("sigma", sigma)
    dim = check_positive_int("dim", dim)
    n = _sizes(sample_sizes, dim + 2, " (the least-squares error is finite only for n > dim + 1)")
    shift = check_nonnegative_float("shift", shift)
    fraction = check_fraction("synthetic_fraction", synthetic_fraction)
    p = np.round(fraction * n) / n
    return sigma**2 * dim / (n - dim - 1) + p**2 * shift**2 + p * (1 - p) * (dim + 1) * shift**2 / n


def tail_cut_distribution(probabilities, cutoff: int, clean_fraction: float = 0.0):
    r"""The distribution training data are drawn from when a generator has lost the tail.

    The generator keeps only the ``cutoff`` most probable facts, renormalised; a fraction
    ``clean_fraction`` :math:`\pi` of the data is drawn from the clean distribution instead:
    :math:`q_k = \pi p_k + (1-\pi)\,p_k\,1[k\le k_0]/P(k\le k_0)`. ``cutoff = 0`` means no cut (clean data).
    """
    p = as_array("probabilities", probabilities, ndim=1)
    p = p / p.sum()
    cutoff = check_int("cutoff", cutoff, minimum=0, maximum=p.size)
    clean = check_fraction("clean_fraction", clean_fraction)
    if cutoff == 0:
        return p
    head = np.where(np.arange(p.size) < cutoff, p, 0.0)
    return clean * p + (1 - clean) * head / head.sum()


def tail_cut_test_error(probabilities, sample_sizes, cutoff: int, clean_fraction: float = 0.0):
    r"""Expected test error of a model that memorises every fact it has seen (Dohmatob et al.'s *A Tale of Tails*).

    Facts :math:`k` are asked with the Zipf probabilities :math:`p_k` (``probabilities``, in
    decreasing order); the model answers fact :math:`k` correctly iff it appeared at least once among
    :math:`T` training samples drawn i.i.d. from :math:`q` (:func:`tail_cut_distribution`). The
    test error is then exactly

    .. math::  E[\mathcal E_T] = \sum_k p_k\,(1-q_k)^T ,

    which for clean data falls like :math:`T^{-(1-1/\beta)}` (Zipf exponent :math:`\beta`), and with
    the tail cut at :math:`k_0` plateaus at the lost mass :math:`\sum_{k>k_0}p_k` (about
    :math:`k_0^{-(\beta-1)}`). Returns an array shaped like ``sample_sizes``.
    """
    p = as_array("probabilities", probabilities, ndim=1)
    p = p / p.sum()
    q = tail_cut_distribution(p, cutoff, clean_fraction)
    t = _sizes(sample_sizes)
    return np.array([np.sum(p * np.exp(size * np.log1p(-np.minimum(q, 1 - 1e-300)))) for size in t])


def tail_cut_error_sd(probabilities, sample_sizes, cutoff: int, clean_fraction: float = 0.0):
    r"""An upper bound on the standard deviation of the test error of :func:`tail_cut_test_error` over training sets.

    The error is :math:`\sum_k p_k U_k` with :math:`U_k` = fact :math:`k` unseen,
    :math:`P(U_k) = (1-q_k)^T`. Under multinomial sampling the :math:`U_k` are negatively
    correlated (:math:`(1-q_i-q_j)^T \le (1-q_i)^T(1-q_j)^T`), so
    :math:`\sqrt{\sum_k p_k^2 P(U_k)(1-P(U_k))}` bounds the standard deviation from above.
    """
    p = as_array("probabilities", probabilities, ndim=1)
    p = p / p.sum()
    q = tail_cut_distribution(p, cutoff, clean_fraction)
    t = _sizes(sample_sizes)
    unseen = np.exp(t[:, None] * np.log1p(-np.minimum(q, 1 - 1e-300))[None, :])
    return np.sqrt(np.sum(p**2 * unseen * (1 - unseen), axis=1))


def tempered(probabilities, temperature: float, steps: int = 1):
    r"""A categorical distribution after ``steps`` rounds of sampling at ``temperature`` with infinite data.

    Sampling at temperature :math:`\tau` draws from :math:`p^{1/\tau}/Z`; refitting to infinitely many
    such samples returns that distribution, so after :math:`g` rounds
    :math:`p_g \propto p_0^{1/\tau^g}`: a point mass on the mode for :math:`\tau<1`, the uniform
    distribution on the support for :math:`\tau>1`, no change at :math:`\tau=1` (Marchi et al.).
    Works along the last axis.
    """
    p = as_array("probabilities", probabilities, min_ndim=1)
    temperature = check_positive_float("temperature", temperature)
    steps = check_int("steps", steps, minimum=0)
    with np.errstate(divide="ignore"):
        logp = np.log(p) * temperature ** (-float(steps))
    logp = logp - logp.max(axis=-1, keepdims=True)
    out = np.exp(logp)
    return out / out.sum(axis=-1, keepdims=True)


def truncated_variance_factor(truncation):
    r"""Variance of :math:`\mathcal N(0,1)` restricted to :math:`[-a, a]`: :math:`v(a) = 1 - 2a\varphi(a)/(2\Phi(a)-1)`.

    ``truncation = 0`` means no truncation and gives 1.
    """
    a = check_nonnegative_float("truncation", truncation)
    if a == 0:
        return 1.0
    phi = np.exp(-a * a / 2) / np.sqrt(2 * np.pi)
    return float(1 - 2 * a * phi / special.erf(a / np.sqrt(2)))


def self_corrected_mean_error(sigma, sample_size: int, n_generations: int, correction: float,
                              corrector_bias: float = 0.0, ddof: int = 1):
    r"""Exact :math:`E(\hat\mu_g-\mu)^2` of a 1-D Gaussian whose samples are self-corrected before reuse.

    Gillman et al. (2024) retrain on generated samples that a correction step moves towards the true
    distribution. Here the corrector's target is :math:`\mathcal N(\mu^*, \sigma^2)` with
    :math:`\mu^* = \mu + \delta\sigma` (``corrector_bias`` δ; 0 is an exact corrector), and each sample moves a
    share λ (``correction``) of the way along the optimal-transport map from the fitted model to it,
    :math:`x' = x + \lambda\,[\mu^* + (\sigma/\hat\sigma)(x-\hat\mu) - x]`. The corrected points are
    :math:`\mathcal N(\hat\mu', s^2)` with :math:`\hat\mu' = (1-\lambda)\hat\mu + \lambda\mu^*` and
    :math:`s = (1-\lambda)\hat\sigma + \lambda\sigma`, so with :math:`k = M-1`, :math:`c(k) = E\sqrt{\chi^2_k/k}`
    and :math:`f = k/(M-\mathrm{ddof})` the moments follow exactly

    .. math::
        E\hat\sigma_{g+1} = c(k)\sqrt f\,\bigl((1-\lambda)E\hat\sigma_g + \lambda\sigma\bigr),\qquad
        E\hat\sigma^2_{g+1} = f\,E s_g^2,\qquad
        E s_g^2 = (1-\lambda)^2E\hat\sigma_g^2 + 2\lambda(1-\lambda)\sigma E\hat\sigma_g + \lambda^2\sigma^2,

    .. math::
        E\hat\mu_{g+1} = (1-\lambda)E\hat\mu_g + \lambda\mu^*,\qquad
        E\hat\mu_{g+1}^2 = (1-\lambda)^2E\hat\mu_g^2 + 2\lambda(1-\lambda)\mu^* E\hat\mu_g + \lambda^2\mu^{*2}
        + E s_g^2/M,

    from generation 0 fitted to M real points (μ = 0 here). Without correction this is (G3),
    :math:`(g+1)\sigma^2/M` under ``ddof`` = 1; for λ > 0 it is bounded, near
    :math:`\delta^2\sigma^2 + \sigma^2/(M\lambda(2-\lambda))`: exponentially stable, at the corrector's view.
    Returns an array of shape ``(n_generations + 1,)`` (squared data units).
    """
    sigma = float(_scale("sigma", sigma))
    ddof = _ddof(ddof)
    size = check_int("sample_size", sample_size, minimum=ddof + 2)
    n_gen = check_int("n_generations", n_generations, minimum=0)
    lam = check_fraction("correction", correction)
    target = check_nonnegative_float("corrector_bias", corrector_bias) * sigma
    k = size - 1
    f = k / (size - ddof)
    c = float(np.exp(special.gammaln((k + 1) / 2) - special.gammaln(k / 2)) * np.sqrt(2 / k))
    a, b = c * np.sqrt(f) * sigma, f * sigma**2          # E sigma_0, E sigma_0^2
    m, q = 0.0, sigma**2 / size                        # E mu_0, E mu_0^2
    out = np.empty(n_gen + 1)
    out[0] = q
    for g in range(1, n_gen + 1):
        s2 = (1 - lam) ** 2 * b + 2 * lam * (1 - lam) * sigma * a + lam**2 * sigma**2
        m, q = (1 - lam) * m + lam * target, ((1 - lam) ** 2 * q + 2 * lam * (1 - lam) * target * m
                                              + lam**2 * target**2 + s2 / size)
        a, b = c * np.sqrt(f) * ((1 - lam) * a + lam * sigma), f * s2
        out[g] = q
    return out


def biased_sampling_moments(sigma, sample_size: int, n_generations: int, truncation, real_fraction: float = 0.0,
                            ddof: int = 1):
    r"""Exact :math:`E(\hat\mu_g-\mu)^2` and :math:`E\hat\sigma_g^2` of a 1-D Gaussian that samples for quality.

    Each generation draws its :math:`s = M - r` generated points from the fitted
    :math:`\mathcal N(\hat\mu,\hat\sigma^2)` *restricted to* :math:`\hat\mu \pm a\hat\sigma` (``truncation`` a:
    quality over diversity, a stand-in for the sampling bias of Alemohammad et al.), plus
    :math:`r = \mathrm{round}(\gamma M)` fresh real points (policy ``mix``). The truncated points have
    mean :math:`\hat\mu` and variance :math:`v(a)\hat\sigma^2` (:func:`truncated_variance_factor`), so the
    moments follow the linear step of the ``mix`` recursion with :math:`t` replaced by
    :math:`v(a)\,t` for the generated points:

    .. math::
        m' = \Bigl(\frac sM\Bigr)^2 m + \frac{s\,v t}{M^2} + \frac{r\sigma^2}{M^2},\qquad
        t' = \frac{(r-1)^+\sigma^2 + (s-1)^+ v t + \frac{rs}{M}\bigl(m + \sigma^2/r + v t/s\bigr)}{M-\mathrm{ddof}} .

    Without real data :math:`E\hat\sigma_g^2 = \sigma^2[v(a)(M-1)/(M-\mathrm{ddof})]^g`: the
    diversity collapses geometrically, at rate :math:`v(a)` per generation instead of
    :math:`(M-1)/M`. With :math:`\gamma > 0` it settles near :math:`\gamma\sigma^2/(1-(1-\gamma)v)`.
    Returns two arrays of shape ``(n_generations + 1,)`` (squared data units).
    """
    sigma = _scale("sigma", sigma)
    ddof = _ddof(ddof)
    size = check_int("sample_size", sample_size, minimum=ddof + 2)
    n_gen = check_int("n_generations", n_generations, minimum=0)
    v = truncated_variance_factor(truncation)
    r = int(round(check_fraction("real_fraction", real_fraction) * size))
    s = size - r
    var = sigma**2
    m, t = np.empty(n_gen + 1), np.empty(n_gen + 1)
    m[0], t[0] = var / size, var * (size - 1) / (size - ddof)
    for g in range(1, n_gen + 1):
        vt = v * t[g - 1]
        m[g] = (s / size) ** 2 * m[g - 1] + s * vt / size**2 + r * var / size**2
        cross = (r * s / size) * (m[g - 1] + var / r + vt / s) if r and s else 0.0
        t[g] = (max(r - 1, 0) * var + max(s - 1, 0) * vt + cross) / (size - ddof)
    return m, t


def curated(probabilities, reward, mode: str = "curate", steps: int = 1, real=None, real_share: float = 0.0):
    r"""A categorical distribution after ``steps`` rounds of filtered retraining with infinite samples.

    ``mode = "curate"`` (Ferbach et al.): each kept sample is the better of two independent draws by the
    Bradley–Terry rule, :math:`P(k \text{ beats } j) = e^{r_k}/(e^{r_k}+e^{r_j})`, so
    :math:`C(p)_k = 2p_k\sum_j p_j\,e^{r_k}/(e^{r_k}+e^{r_j})`.
    ``mode = "verify"`` (a verifier that accepts a sample of state :math:`k` with probability
    :math:`a_k` = ``reward``, as in Feng et al.'s selection): :math:`C(p)_k = p_k a_k/\sum_j p_j a_j`.
    With ``real`` (the real distribution) and ``real_share`` :math:`\rho`, each round refits to
    :math:`\rho\,\text{real} + (1-\rho)\,C(p)` (policy ``fixed-real`` with a share :math:`\rho` of real data).
    Without real data the loop maximises the reward: all mass goes to its maximisers.
    Works along the last axis; returns the distribution after each round, shape ``(steps + 1, K)``.
    """
    p = as_array("probabilities", probabilities, ndim=1)
    r = as_array("reward", reward, ndim=1)
    if mode not in ("curate", "verify"):
        raise SettingError(f"mode must be 'curate' or 'verify', got {mode!r}.")
    if r.shape != p.shape:
        raise InputArrayError(f"reward must have one value per state, shape {p.shape}, got {r.shape}.")
    if mode == "verify" and (np.any(r < 0) or np.any(r > 1) or not np.any(r > 0)):
        raise InputArrayError("a verifier's acceptance probabilities must lie in [0, 1], not all 0.")
    steps = check_int("steps", steps, minimum=0)
    share = check_fraction("real_share", real_share)
    base = p if real is None else as_array("real", real, ndim=1)
    out = [p / p.sum()]
    win = np.exp(r)[:, None] / (np.exp(r)[:, None] + np.exp(r)[None, :])  # win[k, j] = P(k beats j)
    for _ in range(steps):
        q = out[-1]
        new = 2 * q * (win @ q) if mode == "curate" else q * r / np.sum(q * r)
        out.append(share * base / base.sum() + (1 - share) * new / new.sum())
    return np.array(out)


def weighted_mean_error(sigma, real_size: int, synthetic_size: int, real_weight: float, n_generations: int):
    r"""Exact :math:`E(\hat\mu_g-\mu)^2` of a mean refitted to fresh real and synthetic data with a weight on the real part.

    Each generation draws :math:`n` fresh real points and :math:`m` points of the previous model
    :math:`\mathcal N(\hat\mu_g, \sigma^2)` (the variance is known) and sets
    :math:`\hat\mu_{g+1} = w\,\bar x_{\rm real} + (1-w)\,\bar x_{\rm syn}` (He, Xu and Cheng's weighted
    scheme in its simplest case). Then :math:`V_0 = \sigma^2/n` and
    :math:`V_{g+1} = w^2\sigma^2/n + (1-w)^2(V_g + \sigma^2/m)`, with the limit
    :math:`V^* = \frac{\sigma^2}{n}\,\frac{w^2 + (1-w)^2\rho}{w(2-w)}`, :math:`\rho = n/m`.
    Returns an array of shape ``(n_generations + 1,)`` (squared data units).
    """
    sigma = _scale("sigma", sigma)
    n = check_positive_int("real_size", real_size)
    m = check_positive_int("synthetic_size", synthetic_size)
    w = check_fraction("real_weight", real_weight)
    steps = check_int("n_generations", n_generations, minimum=0)
    v = np.empty(steps + 1)
    v[0] = sigma**2 / n
    for g in range(steps):
        v[g + 1] = w**2 * sigma**2 / n + (1 - w) ** 2 * (v[g] + sigma**2 / m)
    return v


def optimal_real_weight(real_size: int, synthetic_size: int) -> float:
    r"""The weight on the real data that minimises the limit of :func:`weighted_mean_error`.

    Setting the derivative of :math:`(w^2 + (1-w)^2\rho)/(w(2-w))` to zero gives :math:`w^2 = \rho(1-w)`, so
    :math:`w^* = (\sqrt{\rho^2+4\rho}-\rho)/2` with :math:`\rho = n/m`; for as much real as synthetic data
    (:math:`\rho = 1`) it is :math:`(\sqrt5-1)/2 = 1/\varphi \approx 0.618`, the reciprocal of the golden ratio
    (this book's derivation, for the Gaussian mean with known variance).
    """
    rho = check_positive_int("real_size", real_size) / check_positive_int("synthetic_size", synthetic_size)
    return float((np.sqrt(rho**2 + 4 * rho) - rho) / 2)


# ---------------------------------------------------------------------------------------------
# The single Gaussian under accumulate-subsample (chapter "gaussian", SI Fig. 4)
# ---------------------------------------------------------------------------------------------

def expected_subsample_mean_sq_error(sigma, sample_size: int, n_generations: int) -> np.ndarray:
    r"""First-order closed form of :math:`\mathbb E(\hat\mu_g-\mu)^2` under *accumulate-subsample* (SI Fig. 4).

    The pool of generation :math:`g` holds :math:`N_g=(g+1)M` points and has mean :math:`m_g`; the fit is the mean
    of :math:`M` of them drawn without replacement, :math:`\hat\mu_g=m_g+s_g`, whose subsampling error has
    variance :math:`\sigma^2 f_g/M` with the finite-population factor :math:`f_g=(N_g-M)/(N_g-1)`. The new batch
    of generation :math:`g` has mean :math:`\hat\mu_{g-1}+\varepsilon_g` (variance :math:`\sigma^2/M`) and
    weight :math:`1/(g+1)` in the pool, so :math:`m_g=m_{g-1}+(s_{g-1}+\varepsilon_g)/(g+1)`: martingale steps.
    Taking every point's variance as :math:`\sigma^2` (exact to first order in :math:`1/M`),

    .. math::

        \mathbb E(\hat\mu_g-\mu)^2=\frac{\sigma^2}{M}\Big[1+\sum_{k=1}^{g}\frac{1+f_{k-1}}{(k+1)^2}+f_g\Big]
        \;\to\;\frac{\sigma^2}{M}\Big(2+\sum_{k\ge1}\frac{2-1/k}{(k+1)^2}\Big)\approx 2.94\,\frac{\sigma^2}{M},

    between *accumulate*'s :math:`\tfrac{\pi^2}{6}\sigma^2/M` and *replace*'s :math:`(g+1)\sigma^2/M`. ``sigma``
    (>= 0, data units), ``sample_size`` M (>= 1), ``n_generations`` n (>= 0); returns ``(n + 1,)`` for the
    generations ``0..n``, in squared data units.
    """
    _scale("sigma", sigma)
    m = float(check_positive_int("sample_size", sample_size))
    n_generations = check_int("n_generations", n_generations, minimum=0)
    g = np.arange(n_generations + 1, dtype=float)
    pool = (g + 1) * m
    f = (pool - m) / np.maximum(pool - 1, 1)  # 0 at generation 0 (the fit uses the whole real sample)
    steps = np.concatenate([[0.0], (1 + f[:-1]) / (g[1:] + 1) ** 2])
    return sigma**2 / m * (1 + np.cumsum(steps) + f)


# ---------------------------------------------------------------------------------------------
# Gaussian mixtures (chapter "gmm"): the expressivity error and the expected total variance
# ---------------------------------------------------------------------------------------------

def moment_matched_gaussian(weights, means, covariances) -> dict:
    r"""The single Gaussian with a mixture's mean and covariance: its best one-component fit with unlimited data.

    Maximum likelihood over Gaussians matches the first two moments, :math:`m = \sum_k w_k\mu_k` and
    :math:`C = \sum_k w_k(\Sigma_k + \mu_k\mu_k^\top) - mm^\top`. ``weights`` (..., K), ``means`` (..., K, d),
    ``covariances`` (..., K, d, d) (squared data units); returns mixture parameters with K = 1 and the same
    leading axes: ``weights`` (..., 1), ``means`` (..., 1, d), ``covariances`` (..., 1, d, d).
    """
    from .models.gmm import mixture_moments

    mean, cov = mixture_moments(weights, means, covariances)
    return dict(weights=np.ones(mean.shape[:-1] + (1,)), means=mean[..., None, :], covariances=cov[..., None, :, :])


def expressivity_error(weights, means, covariances):
    r"""The functional expressivity error of a single Gaussian for a mixture: the squared :math:`L^2` distance
    from the mixture to its :func:`moment_matched_gaussian`, the error a one-component fit keeps with unlimited data.

    ``weights`` (..., K), ``means`` (..., K, d), ``covariances`` (..., K, d, d), e.g. one of
    :func:`collapse_lib.distributions.gmm_truth`; returns a ``float`` for one mixture, ``(...)`` for a batch,
    in inverse data units to the power d (see :func:`collapse_lib.metrics.l2_squared_gmm`). Zero for a single
    Gaussian.
    """
    from .metrics import l2_squared_gmm

    best = moment_matched_gaussian(weights, means, covariances)
    out = l2_squared_gmm(best["weights"], best["means"], best["covariances"], weights, means, covariances)
    return float(out) if np.ndim(out) == 0 else out


def expected_total_variance(total_variance: float, sample_sizes, reg_covar: float, d: int = 2) -> np.ndarray:
    r"""Expected trace of a fitted mixture's covariance at every generation, for any mixture (policy *replace*).

    After every M-step the mixture's mean and covariance are exactly the sample mean and the
    maximum-likelihood (``ddof = 0``) sample covariance, plus ``reg_covar`` on the diagonal. The
    expected sample covariance of ``M`` points is :math:`\frac{M-1}{M}` times the covariance they
    were drawn from, whatever its shape, so with :math:`T_g` the trace of generation ``g``'s
    mixture covariance and :math:`T` the truth's (``total_variance``, e.g.
    :func:`collapse_lib.metrics.mixture_total_variance` of the truth),

    .. math:: \mathbb E\,T_g = T\prod_{i\le g}\rho_i + d\,\texttt{reg\_covar}\sum_{j\le g}\prod_{j<i\le g}\rho_i,
              \qquad \rho_i = \frac{M_i - 1}{M_i}.

    ``sample_sizes`` gives :math:`M_0..M_n` (shape ``(n+1,)``), ``d`` the dimension; returns ``(n+1,)``, one value
    per generation, in squared data units.
    """
    check_nonnegative_float("total_variance", total_variance)
    check_nonnegative_float("reg_covar", reg_covar)
    d = check_positive_int("d", d)
    sizes = np.asarray(sample_sizes, dtype=float)
    rho = (sizes - 1) / sizes
    decay = expected_variance(1.0, sizes, ddof=0)  # prod_{i <= g} rho_i
    added = np.zeros_like(decay)
    for g in range(sizes.size):
        added[g] = (added[g - 1] * rho[g] if g else 0.0) + d * reg_covar
    return total_variance * decay + added


# ---------------------------------------------------------------------------------------------
# The d-dimensional Gaussian (chapters "prevention" and "debate"): the unit of the error of the mean
# ---------------------------------------------------------------------------------------------

def gaussian_error_unit(settings: dict) -> tuple[float, float]:
    r"""``(tr Σ, tr Σ / M)`` for the settings of a d-dimensional Gaussian experiment (``prevention_*``,
    ``debate_fixed_real``: ``dim``, ``spectrum``, ``sample_size``).

    :math:`\mathrm{tr}\,\Sigma` is the total variance of :func:`collapse_lib.distributions.true_covariance`;
    :math:`\mathrm{tr}\,\Sigma/M` is the exact :math:`E\lVert\hat\mu - \mu\rVert^2` of one fit to ``M`` real
    points, the unit in which the chapters and the scorecard measure the error of the mean. Both in squared
    data units.
    """
    from .distributions import true_covariance

    trace = float(np.trace(true_covariance(settings["dim"], settings["spectrum"])))
    return trace, trace / settings["sample_size"]


# ---------------------------------------------------------------------------------------------
# Verify and curate (chapter "debate"): the filter's reward
# ---------------------------------------------------------------------------------------------

def filter_reward(n_states: int, favourite: int, reward_scale: float, mode: str) -> np.ndarray:
    r"""The reward (``curate``) or acceptance probability (``verify``) of each state, for :func:`curated`:
    the filter prefers state ``favourite`` (0-based).

    ``curate``: :math:`r_k = ` ``reward_scale`` for the favourite, 0 elsewhere (a Bradley–Terry reward, in
    nats of odds). ``verify``: the favourite is always accepted, every other state with probability
    :math:`e^{-\text{reward\_scale}}`. Returns ``(n_states,)``.
    """
    if mode not in ("curate", "verify"):
        raise SettingError(f"mode must be 'curate' or 'verify', got {mode!r}.")
    n_states = check_int("n_states", n_states, minimum=1)
    favourite = check_int("favourite", favourite, minimum=0, maximum=n_states - 1)
    reward_scale = check_nonnegative_float("reward_scale", reward_scale)
    if mode == "curate":
        reward = np.zeros(n_states)
        reward[favourite] = reward_scale
        return reward
    accept = np.full(n_states, np.exp(-reward_scale))
    accept[favourite] = 1.0
    return accept
