r"""A d-dimensional Gaussian fitted by its sample mean and covariance, batched over chains.

The multivariate version of :class:`~collapse_lib.models.gaussian.GaussianModel` (Nature's
Theorem 3.1 is stated in d dimensions). One instance holds ``n_chains`` independent models.

Two ways to sample, with the same distribution:

``method="sufficient"``
    Draw the sufficient statistics of ``n`` samples directly: the sample mean is
    :math:`\mathcal N(\mu, \Sigma/n)` and the scatter matrix
    :math:`\sum_j (x_j-\bar x)(x_j-\bar x)^\top` is Wishart, :math:`W_d(n-1, \Sigma)`,
    independent of it (drawn by Bartlett's decomposition). A generation costs
    :math:`O(d^3)` per chain, whatever ``n`` is.
``method="samples"``
    Draw the ``n`` points themselves, as :class:`~collapse_lib.sufficient_stats.PointSamples`
    (needed by the *accumulate-subsample* policy).
"""

from __future__ import annotations

import numpy as np

from ..sufficient_stats import MultivariateGaussianStats, PointSamples
from ..validation import SettingError, check_choice, check_int, check_positive_int

METHODS = ("sufficient", "samples")


def covariance_factor(cov: np.ndarray) -> np.ndarray:
    r"""A matrix :math:`F` with :math:`FF^\top = \Sigma`, for a batch of covariances ``(..., d, d)``.

    The Cholesky factor where every matrix is positive definite; otherwise (a singular fit, e.g.
    from fewer than ``d + 1`` samples) the symmetric square root from an eigendecomposition,
    with negative rounding errors clipped to zero.
    """
    cov = np.asarray(cov, dtype=float)
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(cov)
        return vectors * np.sqrt(np.clip(values, 0.0, None))[..., None, :]


def standard_wishart(dof: int, dim: int, n_chains: int, rng: np.random.Generator) -> np.ndarray:
    r"""``n_chains`` independent draws of :math:`W_d(k, I)`, shape ``(n_chains, d, d)``.

    For :math:`k \ge d`, Bartlett's decomposition: :math:`AA^\top` with :math:`A` lower
    triangular, :math:`A_{ii}^2 \sim \chi^2_{k-i}` (``i = 0..d-1``) and standard normal entries
    below the diagonal, :math:`O(d^2)` random numbers per draw. For :math:`k < d` (a singular
    Wishart) :math:`Z^\top Z` with :math:`Z` a :math:`k\times d` standard normal matrix.
    ``dof = 0`` gives zero matrices.
    """
    dof = check_int("dof", dof, minimum=0)
    if dof == 0:
        return np.zeros((n_chains, dim, dim))
    if dof < dim:
        z = rng.standard_normal((n_chains, dof, dim))
        return np.einsum("cki,ckj->cij", z, z)
    lower = np.tril(rng.standard_normal((n_chains, dim, dim)), k=-1)
    diagonal = np.sqrt(rng.chisquare(dof - np.arange(dim), size=(n_chains, dim)))
    lower[:, np.arange(dim), np.arange(dim)] = diagonal
    return lower @ np.swapaxes(lower, 1, 2)


class MultivariateGaussianModel:
    """``n_chains`` independent d-dimensional Gaussians with ``fit(data)`` and ``sample(n, rng)``.

    Parameters
    ----------
    ddof : {0, 1}
        Delta degrees of freedom of the covariance estimate: 1 is unbiased (the theorem), 0 the
        maximum-likelihood estimate (``np.cov(bias=True)``, Kazdan et al.'s code).
    method : {"sufficient", "samples"}
        What :meth:`sample` returns: :class:`~collapse_lib.sufficient_stats.MultivariateGaussianStats`
        or :class:`~collapse_lib.sufficient_stats.PointSamples`.

    Attributes
    ----------
    mean_ : ndarray, shape (n_chains, d)
        Fitted mean vectors (data units).
    cov_ : ndarray, shape (n_chains, d, d)
        Fitted covariance matrices (squared data units).
    """

    sample_axis = 1

    def __init__(self, ddof: int = 1, method: str = "sufficient"):
        self.ddof = check_int("ddof", ddof, minimum=0, maximum=1)
        self.method = check_choice("method", method, METHODS)

    @classmethod
    def from_params(cls, mean, cov, n_chains: int = 1, ddof: int = 1,
                    method: str = "sufficient") -> "MultivariateGaussianModel":
        """A model set to a known mean ``(d,)`` and covariance ``(d, d)`` (e.g. the truth), repeated over chains."""
        n_chains = check_positive_int("n_chains", n_chains)
        mean = np.asarray(mean, dtype=float)
        cov = np.asarray(cov, dtype=float)
        if mean.ndim != 1 or cov.shape != (mean.size, mean.size):
            raise SettingError(f"mean must have shape (d,) and cov (d, d); got {mean.shape} and {cov.shape}.")
        if not np.allclose(cov, cov.T) or np.linalg.eigvalsh(cov).min() < 0:
            raise SettingError("cov must be a symmetric positive semi-definite matrix.")
        return cls(ddof, method).set_params({"mean": np.tile(mean, (n_chains, 1)),
                                             "cov": np.tile(cov, (n_chains, 1, 1))})

    def fit(self, data, rng=None) -> "MultivariateGaussianModel":
        """Fit every chain: ``MultivariateGaussianStats``, ``PointSamples`` or an array ``(n_chains, M, d)``."""
        if isinstance(data, MultivariateGaussianStats):
            stats = data
        else:
            stats = MultivariateGaussianStats.from_samples(data.points if isinstance(data, PointSamples) else data)
        if stats.count - self.ddof < 1:
            raise SettingError(f"fitting with ddof={self.ddof} needs at least {self.ddof + 1} samples, got {stats.count}.")
        self.mean_ = np.asarray(stats.mean, dtype=float)
        self.cov_ = np.asarray(stats.scatter, dtype=float) / (stats.count - self.ddof)
        return self

    def sample(self, n: int, rng: np.random.Generator):
        """``n`` samples per chain, as statistics or as points (see ``method``)."""
        n = check_positive_int("sample size", n)
        factor = covariance_factor(self.cov_)
        n_chains, dim = self.mean_.shape
        if self.method == "samples":
            z = rng.standard_normal((n_chains, n, dim))
            return PointSamples(self.mean_[:, None, :] + z @ np.swapaxes(factor, 1, 2))
        mean = self.mean_ + np.einsum("cij,cj->ci", factor, rng.standard_normal((n_chains, dim))) / np.sqrt(n)
        scatter = factor @ standard_wishart(n - 1, dim, n_chains, rng) @ np.swapaxes(factor, 1, 2)
        return MultivariateGaussianStats(n, mean, scatter)

    @property
    def n_chains(self) -> int:
        return int(self.mean_.shape[0])

    def get_params(self) -> dict:
        return {"mean": self.mean_, "cov": self.cov_}

    def set_params(self, params: dict) -> "MultivariateGaussianModel":
        self.mean_ = np.asarray(params["mean"], dtype=float)
        self.cov_ = np.asarray(params["cov"], dtype=float)
        return self
