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
    r""":math:`c(k) = E\sqrt{\chi^2_k/k} = \sqrt{2/k}\,\Gamma(\frac{k+1}{2})/\Gamma(\frac k2)`."""
    k = np.asarray(k, dtype=float)
    return np.sqrt(2.0 / k) * np.exp(special.gammaln((k + 1) / 2) - special.gammaln(k / 2))


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


# ---------------------------------------------------------------- discrete (Wright–Fisher)

def expected_heterozygosity(probabilities, sample_size: int, steps):
    r""":math:`E[H(p_n)] = (1-1/M)^n H(q)` after ``steps`` = n multinomial resamplings."""
    q = np.asarray(probabilities, dtype=float)
    return (1 - 1 / sample_size) ** np.asarray(steps, dtype=float) * (1 - np.sum(q**2))


def loss_probability_one_step(probability, sample_size: int):
    r"""Chance a state of probability ``p`` gets no sample among ``M``: :math:`(1-p)^M`."""
    return (1 - np.asarray(probability, dtype=float)) ** sample_size


def survival_probability_first_order(probability, sample_size: int, steps):
    r"""Chance a state of probability ``q`` is still present after ``steps`` resamplings, ignoring drift.

    :math:`(1-(1-q)^M)^n`: only a lower-order guide (the frequency itself drifts), used to
    show why states with :math:`q \lesssim 1/M` vanish within a few generations.
    """
    return (1 - (1 - np.asarray(probability, dtype=float)) ** sample_size) ** np.asarray(steps, dtype=float)


def mean_absorption_time_two_states(q: float, sample_size: int) -> float:
    r"""Kimura's diffusion approximation of the mean time to absorption with two states.

    :math:`E[T] \approx -2M[q\ln q + (1-q)\ln(1-q)]` steps (a few per cent off at small M).
    """
    q = float(q)
    return -2 * sample_size * (q * np.log(q) + (1 - q) * np.log(1 - q))
