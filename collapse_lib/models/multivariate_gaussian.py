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

from typing import ClassVar

import numpy as np

from ..spec import Options
from .base import ModelParams
from ..sufficient_stats import MultivariateGaussianStats, PointSamples
from ..validation import (InputArrayError, SettingError, as_array, check_covariance, check_eigenvalues, check_finite,
                          check_fitted, check_int, check_positive_int, check_square, check_symmetric)

METHODS = ("sufficient", "samples")


def covariance_factor(cov: np.ndarray) -> np.ndarray:
    r"""A matrix :math:`F` with :math:`FF^\top = \Sigma`, for a batch of covariances ``(..., d, d)``.

    The Cholesky factor where every matrix is positive definite; otherwise (a singular fit, e.g.
    from fewer than ``d + 1`` samples) the symmetric square root from an eigendecomposition,
    with negative rounding errors clipped to zero. A matrix with a clearly negative eigenvalue
    (below ``-1e-8`` times its largest) is not a covariance: :class:`~.checks.InputArrayError`.
    The check costs nothing when the Cholesky factorisation succeeds.
    """
    cov = np.asarray(cov, dtype=float)
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        check_finite("cov", cov)
        values, vectors = np.linalg.eigh(cov)
        check_eigenvalues("cov", values)
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


class MultivariateGaussianModel(ModelParams):
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

    _parameter_constraints: ClassVar[dict] = {"ddof": Options((0, 1)), "method": Options(METHODS)}

    def __init__(self, ddof: int = 1, method: str = "sufficient"):
        self.ddof, self.method = ddof, method
        self._validate_params()

    @classmethod
    def from_params(cls, mean, cov, n_chains: int = 1, ddof: int = 1,
                    method: str = "sufficient") -> "MultivariateGaussianModel":
        """A model set to a known mean ``(d,)`` and covariance ``(d, d)`` (e.g. the truth), repeated over chains."""
        n_chains = check_positive_int("n_chains", n_chains)
        mean = as_array("mean", mean, ndim=1, shape_hint="(d,)")
        cov = as_array("cov", cov, ndim=2, shape_hint="(d, d)")
        check_covariance("cov", cov, mean.size)
        return cls(ddof, method).set_state({"mean": np.tile(mean, (n_chains, 1)),
                                             "cov": np.tile(cov, (n_chains, 1, 1))})

    def fit(self, data, rng=None) -> "MultivariateGaussianModel":
        """Fit every chain: ``MultivariateGaussianStats``, ``PointSamples`` or an array ``(n_chains, M, d)``.

        Checks (O(n_chains d^2), on the statistics, so NaN or inf anywhere in a chain's samples is
        caught without another pass over them): mean ``(n_chains, d)`` and scatter ``(n_chains, d, d)``
        finite, the scatter symmetric with a non-negative diagonal. Positive semi-definiteness of
        the fitted covariances is checked when sampling, where it is free (:func:`covariance_factor`).
        """
        if isinstance(data, MultivariateGaussianStats):
            stats = data
        else:
            stats = MultivariateGaussianStats.from_samples(data.points if isinstance(data, PointSamples) else data)
        if stats.count - self.ddof < 1:
            raise SettingError(f"fitting with ddof={self.ddof} needs at least {self.ddof + 1} samples, got {stats.count}.")
        mean = as_array("data (its mean)", stats.mean, ndim=2, shape_hint="(n_chains, d)")
        scatter = as_array("data (its scatter matrix)", stats.scatter, ndim=3, finite=False,
                           shape_hint="(n_chains, d, d)")  # check_symmetric: finite
        check_square("data (its scatter matrix)", scatter, mean.shape[1])
        if scatter.shape[0] != mean.shape[0]:
            raise InputArrayError(f"MultivariateGaussianStats.mean {mean.shape} and .scatter {scatter.shape} must have "
                                  f"the same number of chains.")
        check_symmetric("data (its scatter matrix)", scatter)
        if scatter.size and scatter.reshape(len(scatter), -1)[:, ::scatter.shape[-1] + 1].min() < 0:
            raise InputArrayError("data (its scatter matrix) has a negative diagonal entry, so it is not a sum of "
                                  "squares; pass the statistics of real samples (MultivariateGaussianStats.from_samples).")
        self.mean_ = mean
        self.cov_ = scatter / (stats.count - self.ddof)
        return self

    def sample(self, n: int, rng: np.random.Generator):
        """``n`` samples per chain, as statistics or as points (see ``method``)."""
        check_fitted(self, "mean_")
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
        check_fitted(self, "mean_", "n_chains")
        return int(self.mean_.shape[0])

    def get_state(self) -> dict:
        check_fitted(self, "mean_", "get_state")
        return {"mean": self.mean_, "cov": self.cov_}

    def set_state(self, params: dict) -> "MultivariateGaussianModel":
        """Set ``{"mean": (n_chains, d), "cov": (n_chains, d, d)}``: finite and symmetric (positive
        semi-definiteness is checked when sampling)."""
        mean = as_array("mean", params["mean"], ndim=2, shape_hint="(n_chains, d)")
        cov = as_array("cov", params["cov"], ndim=3, finite=False, shape_hint="(n_chains, d, d)")
        check_square("cov", cov, mean.shape[1])
        if cov.shape[0] != mean.shape[0]:
            raise InputArrayError(f"mean {mean.shape} and cov {cov.shape} must have the same number of chains.")
        check_symmetric("cov", cov)
        self.mean_, self.cov_ = mean, cov
        return self
