r"""Closed forms of the paper's theory, to draw against simulation.

Indexing used throughout the library: the model of *generation* ``g`` is fitted to the
dataset :math:`D_g` of :math:`M_g` points; :math:`D_0` is real data from
:math:`\mathcal N(\mu, \sigma^2)`. In the paper's notation this model has parameters
:math:`(\mu_{g+1}, \sigma_{g+1})`. Functions that take ``sample_sizes`` (the array
:math:`M_0..M_n`) return one value per generation ``g = 0..n``.

For a fit with ``ddof`` (1 = unbiased, 0 = maximum likelihood) the variance factor of one
step is :math:`S_i = \chi^2_{k_i}/(M_i - \mathrm{ddof})` with :math:`k_i = M_i - 1`.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def _sizes(sample_sizes) -> np.ndarray:
    return np.atleast_1d(np.asarray(sample_sizes, dtype=float))


def chi_mean_factor(k):
    r""":math:`c(k) = E\sqrt{\chi^2_k/k} = \sqrt{2/k}\,\Gamma(\frac{k+1}{2})/\Gamma(\frac k2)`.

    For large ``k`` the difference of two ``gammaln`` values loses precision, so there the
    asymptotic series :math:`\log c(k) = -\tfrac1{4k} + \tfrac1{24k^3} + O(k^{-5})` is used.
    """
    k = np.asarray(k, dtype=float)
    small = np.minimum(k, 1e3)
    exact = np.sqrt(2.0 / small) * np.exp(special.gammaln((small + 1) / 2) - special.gammaln(small / 2))
    large = np.exp(-1.0 / (4 * k) + 1.0 / (24 * k**3))
    return np.where(k < 1e3, exact, large)


def expected_variance(sigma, sample_sizes, ddof: int = 1):
    r""":math:`E[\hat\sigma_g^2] = \sigma^2 \prod_{i\le g} (M_i-1)/(M_i-\mathrm{ddof})`.

    Constant for ``ddof=1`` (G1, a martingale); :math:`\sigma^2((M-1)/M)^{g+1}` for ``ddof=0``.
    """
    m = _sizes(sample_sizes)
    return sigma**2 * np.cumprod((m - 1) / (m - ddof))


def expected_sigma(sigma, sample_sizes, ddof: int = 1):
    r""":math:`E[\hat\sigma_g] = \sigma\prod_{i\le g}\sqrt{k_i/(M_i-\mathrm{ddof})}\,c(k_i)`."""
    m = _sizes(sample_sizes)
    return sigma * np.cumprod(np.sqrt((m - 1) / (m - ddof)) * chi_mean_factor(m - 1))


def expected_mean_sq_error(sigma, sample_sizes, ddof: int = 1):
    r""":math:`E[(\hat\mu_g-\mu)^2] = \sum_{i\le g} E[\sigma_i^2]/M_i` (G3).

    :math:`\sigma_i^2` is the variance :math:`D_i` is drawn with (:math:`\sigma^2` for
    :math:`i=0`). For ``ddof=1`` this is :math:`\sigma^2\sum_{i\le g} 1/M_i`.
    """
    m = _sizes(sample_sizes)
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
    :math:`1/M` per generation, so :math:`\hat\sigma_g \to 0` almost surely.
    """
    m = _sizes(sample_sizes)
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
    m = _sizes(sample_sizes)
    k = m - 1
    second = sigma**4 * np.cumprod(k * (k + 2) / (m - ddof) ** 2)
    return np.sqrt(np.maximum(second - expected_variance(sigma, m, ddof) ** 2, 0.0))


# ---------------------------------------------------------------- discrete (Wright–Fisher)

def expected_heterozygosity(probabilities, sample_size: int, steps):
    r""":math:`E[H(p_n)] = (1-1/M)^n H(q)` after ``steps`` = n multinomial resamplings."""
    q = np.asarray(probabilities, dtype=float)
    return (1 - 1 / sample_size) ** np.asarray(steps, dtype=float) * (1 - np.sum(q**2))


def loss_probability_one_step(probability, sample_size: int):
    r"""Chance a state of probability ``p`` gets no sample among ``M``: :math:`(1-p)^M`."""
    return (1 - np.asarray(probability, dtype=float)) ** sample_size


def mean_absorption_time_two_states(q: float, sample_size: int) -> float:
    r"""Kimura's diffusion approximation of the mean time to absorption with two states.

    :math:`E[T] \approx -2M[q\ln q + (1-q)\ln(1-q)]` steps (a few per cent off at small M).
    """
    q = float(q)
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

    q = np.atleast_1d(np.asarray(probabilities, dtype=float))
    steps = np.atleast_1d(np.asarray(steps, dtype=int))
    if np.any(steps < 1):
        raise ValueError("steps must be >= 1 (the first draw is from q itself).")
    m = int(sample_size)
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

    m = int(sample_size)
    transient = _binomial_transition_matrix(m)[1:m, 1:m]
    times = np.linalg.solve(np.eye(m - 1) - transient, np.ones(m - 1))
    first = stats.binom.pmf(np.arange(1, m), m, float(q))
    return float(1.0 + first @ times)
