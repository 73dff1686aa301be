r"""A one-dimensional Gaussian fitted by its sample mean and standard deviation, batched over chains.

This is the model of the paper's Theorem 3.1 (``ddof=1``, unbiased variance) and of the
official notebook (``ddof=0``, ``np.std``). One instance holds ``n_chains`` independent
models, so thousands of recursive chains advance together.

Two ways to sample, with the same distribution:

``method="sufficient"``
    Draw the sufficient statistics of ``n`` samples directly: the sample mean is
    :math:`\mathcal N(\mu, \sigma^2/n)` and the centred sum of squares is
    :math:`\sigma^2\chi^2_{n-1}`, independent of it. A generation costs O(1) per chain,
    whatever ``n`` is.
``method="samples"``
    Draw the ``n`` points themselves (what the official code does), O(n) per chain.

The book runs this model through :func:`collapse_lib.run_generations` (``run_experiment("gaussian", ...)``).
A sampler of the *replace* recursion vectorised over generations as well as chains, which the book does not
use, lives with the benchmarks (``benchmarks/vectorised_gaussian.py``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..spec import Options
from .base import ModelParams
from ..sufficient_stats import GaussianStats
from ..validation import (InputArrayError, SettingError, as_array, broadcast_shape, check_fitted,
                          check_nonnegative, check_positive_int)

METHODS = ("sufficient", "samples")


class GaussianModel(ModelParams):
    """``n_chains`` independent 1-D Gaussians with ``fit(data)`` and ``sample(n, rng)``.

    Parameters
    ----------
    ddof : {0, 1}
        Delta degrees of freedom of the variance estimate: 1 is unbiased (the theorem),
        0 is the maximum-likelihood estimate (the official code).
    method : {"sufficient", "samples"}
        What :meth:`sample` returns: :class:`~collapse_lib.sufficient_stats.GaussianStats`
        or an array of shape ``(n_chains, n)``.

    Attributes
    ----------
    mu_ : ndarray, shape (n_chains,)
        Fitted mean (data units), set by :meth:`fit`.
    sigma_ : ndarray, shape (n_chains,)
        Fitted standard deviation (data units), set by :meth:`fit`.
    """

    sample_axis = 1

    _parameter_constraints: ClassVar[dict] = {"ddof": Options((0, 1)), "method": Options(METHODS)}

    def __init__(self, ddof: int = 1, method: str = "sufficient"):
        self.ddof, self.method = ddof, method
        self._validate_params()

    @classmethod
    def from_params(cls, mu, sigma, n_chains: int = 1, ddof: int = 1, method: str = "sufficient") -> "GaussianModel":
        """A model set to known parameters (e.g. the true distribution), broadcast to ``n_chains``."""
        n_chains = check_positive_int("n_chains", n_chains)
        mu, sigma = as_array("mu", mu), as_array("sigma", sigma)
        if broadcast_shape(mu=mu, sigma=sigma, n_chains=np.empty(n_chains)) != (n_chains,):
            raise InputArrayError(f"mu {mu.shape} and sigma {sigma.shape} must be scalars or of shape (n_chains,) = "
                                  f"({n_chains},).")
        model = cls(ddof, method)
        return model.set_state({"mu": np.broadcast_to(mu, (n_chains,)).copy(),
                                 "sigma": np.broadcast_to(sigma, (n_chains,)).copy()})

    def fit(self, data, rng=None) -> "GaussianModel":
        """Fit every chain to its data: ``GaussianStats`` or an array of shape ``(n_chains, M)``.

        The data must be finite (checked on the statistics, O(n_chains), so NaN or inf anywhere in a
        chain's samples is caught without another pass over them).
        """
        stats = data if isinstance(data, GaussianStats) else GaussianStats.from_samples(data)
        if stats.count - self.ddof < 1:
            raise SettingError(f"fitting with ddof={self.ddof} needs at least {self.ddof + 1} samples, got {stats.count}.")
        mean = np.asarray(stats.mean, dtype=float)
        m2 = np.asarray(stats.m2, dtype=float)
        if mean.ndim != 1 or m2.shape != mean.shape:
            raise InputArrayError(f"GaussianStats.mean and .m2 must both have shape (n_chains,), got {mean.shape} and "
                                  f"{m2.shape}.")
        if not (np.isfinite(mean).all() and np.isfinite(m2).all()):
            raise InputArrayError("data contain non-finite values (NaN or inf): the fitted mean or sum of squares of "
                                  f"{int(np.count_nonzero(~(np.isfinite(mean) & np.isfinite(m2))))} chain(s) is not "
                                  "finite; clean the data first.")
        check_nonnegative("GaussianStats.m2", m2, "sums of squares")
        self.mu_ = mean
        self.sigma_ = np.sqrt(m2 / (stats.count - self.ddof))
        return self

    def sample(self, n: int, rng: np.random.Generator):
        """``n`` samples per chain, as statistics or as an array ``(n_chains, n)`` (see ``method``)."""
        check_fitted(self, "mu_")
        n = check_positive_int("sample size", n)
        mu, sigma = self.mu_, self.sigma_
        if self.method == "samples":
            return rng.normal(mu[:, None], sigma[:, None], size=(mu.size, n))
        mean = mu + sigma * rng.standard_normal(mu.size) / np.sqrt(n)
        m2 = sigma**2 * rng.chisquare(n - 1, size=mu.size) if n > 1 else np.zeros_like(mu)
        return GaussianStats(n, mean, m2)

    @property
    def n_chains(self) -> int:
        check_fitted(self, "mu_", "n_chains")
        return int(self.mu_.size)

    def get_state(self) -> dict:
        check_fitted(self, "mu_", "get_state")
        return {"mu": self.mu_, "sigma": self.sigma_}

    def set_state(self, params: dict) -> "GaussianModel":
        """Set ``{"mu": (n_chains,), "sigma": (n_chains,)}``: finite, ``sigma >= 0``."""
        mu = as_array("mu", params["mu"], ndim=1, shape_hint="(n_chains,)")
        sigma = as_array("sigma", params["sigma"], ndim=1, shape_hint="(n_chains,)")
        if sigma.shape != mu.shape:
            raise InputArrayError(f"mu and sigma must have the same shape (n_chains,), got {mu.shape} and {sigma.shape}.")
        check_nonnegative("sigma", sigma, "standard deviations")
        self.mu_, self.sigma_ = mu, sigma
        return self

