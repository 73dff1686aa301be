r"""One-dimensional Gaussians fitted by their sample mean and variance whose samples are altered before reuse.

Two positions of the debate around the paper (:mod:`collapse_lib.experiments.debate`) change what a
fitted :math:`\mathcal N(\hat\mu, \hat\sigma^2)` emits, not how it is fitted:

:class:`TruncatedSamplingGaussian`
    Quality over diversity (Alemohammad et al. 2024): samples only within ``truncation`` fitted
    standard deviations of the mean.
:class:`SelfCorrectingGaussian`
    Self-correction (Gillman et al. 2024): every sample is moved a share λ of the way towards a
    corrector's target.

Both hold ``n_chains`` independent models; a dataset is an array ``(n_chains, M)`` with the samples
along axis 1 (``sample_axis = 1``), in data units. The fitted state is ``mean_`` and ``var_``.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .base import ModelParams
from ..validation import check_fitted


class _MomentGaussian(ModelParams):
    """``n_chains`` 1-D Gaussians fitted by the sample mean and the variance with ``ddof`` (shared by the two
    models of this module; a subclass defines ``sample``)."""

    sample_axis = 1

    def fit(self, data, rng=None):
        """Fit every chain to its samples, an array ``(n_chains, M)``: ``mean_`` and ``var_`` (ddof ``ddof``)."""
        data = np.asarray(data, dtype=float)
        self.mean_, self.var_ = data.mean(axis=1), data.var(axis=1, ddof=self.ddof)
        return self

    def get_state(self) -> dict:
        check_fitted(self, "mean_", "get_state")
        return {"mean": self.mean_, "var": self.var_}

    def set_state(self, params: dict):
        """Set ``{"mean": (n_chains,), "var": (n_chains,)}`` (data units and squared data units)."""
        self.mean_, self.var_ = np.asarray(params["mean"]), np.asarray(params["var"])
        return self


class TruncatedSamplingGaussian(_MomentGaussian):
    """``n_chains`` 1-D Gaussians that sample only within ``truncation`` fitted standard deviations of the mean.

    Parameters
    ----------
    truncation : float
        :math:`a \\ge 0`: samples are drawn from the fitted Gaussian truncated to
        :math:`[\\hat\\mu - a\\hat\\sigma, \\hat\\mu + a\\hat\\sigma]` (in fitted standard deviations;
        0: no truncation).
    ddof : {0, 1}
        Delta degrees of freedom of the variance estimate: 1 is unbiased, 0 maximum likelihood.

    Attributes
    ----------
    mean_ : ndarray, shape (n_chains,)
        Fitted mean (data units), set by :meth:`fit`.
    var_ : ndarray, shape (n_chains,)
        Fitted variance (squared data units), set by :meth:`fit`.
    """

    def __init__(self, truncation: float = 0.0, ddof: int = 1):
        self.truncation, self.ddof = truncation, ddof

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` samples per chain of the truncated Gaussian (by inverting its CDF): shape ``(n_chains, n)``."""
        check_fitted(self, "mean_")
        a = self.truncation
        low = special.ndtr(-a) if a > 0 else 0.0
        u = rng.uniform(low, 1 - low, size=(self.mean_.size, n))
        return self.mean_[:, None] + np.sqrt(self.var_)[:, None] * special.ndtri(u)


class SelfCorrectingGaussian(_MomentGaussian):
    r"""``n_chains`` 1-D Gaussians whose samples are corrected before reuse.

    A sample :math:`x` of the fitted :math:`\mathcal N(\hat\mu, \hat\sigma^2)` is moved a share λ
    (``correction``) of the way along the optimal-transport map to the corrector's target
    :math:`\mathcal N(\delta, 1)` (the truth is :math:`\mathcal N(0, 1)`; ``corrector_bias`` δ ≠ 0 is a
    corrector with the wrong physics): :math:`x' = x + \lambda\,[\delta + (x-\hat\mu)/\hat\sigma - x]`.

    Parameters
    ----------
    correction : float
        λ, the share of the way each sample is moved (0: no correction, 1: the target itself).
    corrector_bias : float
        δ, the mean of the corrector's target (in units of the true standard deviation; 0: an exact corrector).
    ddof : {0, 1}
        As for :class:`TruncatedSamplingGaussian`; the fitted ``mean_`` and ``var_`` are the same too.
    """

    def __init__(self, correction: float = 0.0, corrector_bias: float = 0.0, ddof: int = 1):
        self.correction, self.corrector_bias, self.ddof = correction, corrector_bias, ddof

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` corrected samples per chain: shape ``(n_chains, n)``."""
        check_fitted(self, "mean_")
        sd = np.sqrt(self.var_)[:, None]
        x = self.mean_[:, None] + sd * rng.standard_normal((self.mean_.size, n))
        target = self.corrector_bias + (x - self.mean_[:, None]) / np.where(sd > 0, sd, 1.0)
        return x + self.correction * (target - x)
