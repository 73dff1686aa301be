r"""Linear regression fitted to its own predictions, on a fixed Gaussian design, batched over chains.

The setting of Gerstgrasser et al. (2024) and Kazdan et al. (2024): a design
:math:`X\in\mathbb R^{T\times d}` with i.i.d. :math:`\mathcal N(0,1)` entries is drawn once per
chain and kept; the real labels are :math:`y = Xw^* + \sigma\varepsilon`. Every generation fits
ordinary least squares, :math:`\hat w = (X^\top X)^{-1}X^\top y` over its training rows, and
*relabels the same design* with its own predictions plus fresh noise,
:math:`y' = X\hat w + \sigma\varepsilon'` (the noise level :math:`\sigma` is known, not fitted).

Two ways to sample, with the same distribution:

``method="sufficient"``
    Draw the sufficient statistics of the relabelled design directly:
    :math:`X^\top y' = X^\top X\hat w + \sigma L z` with :math:`LL^\top = X^\top X` and
    :math:`z\sim\mathcal N(0, I_d)`. Only the Gram matrix :math:`G = X^\top X` is needed, and it
    can itself be drawn as a Wishart :math:`W_d(T, I)` without forming :math:`X`. A generation
    costs :math:`O(d^2)` per chain, and pooling (*accumulate*) adds two sums.
``method="samples"``
    Draw the labels themselves, as :class:`~collapse_lib.sufficient_stats.DesignLabels`
    (needed by the *accumulate-subsample* policy, which picks individual rows of the pool).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .base import ModelParams
from ..sufficient_stats import DesignLabels, RegressionStats
from ..validation import (InputArrayError, SettingError, as_array, check_choice, check_fitted, check_positive_float,
                          check_positive_int)
from .multivariate_gaussian import standard_wishart

METHODS = ("sufficient", "samples")


@dataclass(frozen=True)
class FixedDesign:
    r"""One fixed design per chain: the Gram matrices and, if kept, the design rows themselves.

    Attributes
    ----------
    gram : ndarray, shape (n_chains, d, d)
        :math:`G = X^\top X` of each chain.
    rows : ndarray, shape (n_chains, T, d), or None
        The design :math:`X` itself; needed only to draw or fit literal labelled rows.
    n_rows : int
        :math:`T`, rows per design.
    """

    gram: np.ndarray
    rows: np.ndarray | None
    n_rows: int

    @classmethod
    def gaussian(cls, n_chains: int, n_rows: int, dim: int, rng: np.random.Generator,
                 keep_rows: bool = True) -> "FixedDesign":
        r"""Designs with i.i.d. :math:`\mathcal N(0,1)` entries; with ``keep_rows=False`` only
        :math:`G\sim W_d(T, I)` is drawn (Bartlett), which has the same distribution as :math:`X^\top X`."""
        n_chains, n_rows, dim = (check_positive_int(k, v) for k, v in
                                 (("n_chains", n_chains), ("design_size", n_rows), ("dim", dim)))
        if n_rows < dim:
            raise SettingError(f"design_size must be >= dim for X^T X to be invertible; got {n_rows} < {dim}.")
        if not keep_rows:
            return cls(standard_wishart(n_rows, dim, n_chains, rng), None, n_rows)
        rows = rng.standard_normal((n_chains, n_rows, dim))
        return cls(np.einsum("cti,ctj->cij", rows, rows), rows, n_rows)

    @cached_property
    def gram_factor(self) -> np.ndarray:
        r"""Cholesky factor :math:`L` of each Gram matrix, :math:`LL^\top = G` (computed once)."""
        return np.linalg.cholesky(self.gram)

    @property
    def n_chains(self) -> int:
        return int(self.gram.shape[0])

    @property
    def dim(self) -> int:
        return int(self.gram.shape[-1])


class LinearRegressionModel(ModelParams):
    r"""``n_chains`` least-squares fits, each on its own fixed design, with ``fit`` and ``sample``.

    Parameters
    ----------
    design : FixedDesign
        The design of every chain (shared by all generations of the chain).
    noise_sd : float
        :math:`\sigma`, the standard deviation of the label noise added when relabelling.
    method : {"sufficient", "samples"}
        What :meth:`sample` returns (see the module docstring). ``"samples"`` needs
        ``design.rows``.

    Attributes
    ----------
    weights_ : ndarray, shape (n_chains, d)
        Fitted coefficients :math:`\hat w` (label units per feature unit).
    """

    sample_axis = 1

    def __init__(self, design: FixedDesign, noise_sd: float, method: str = "sufficient"):
        self.design = design
        self.noise_sd = check_positive_float("noise_sd", noise_sd)
        self.method = check_choice("method", method, METHODS)
        if self.method == "samples" and design.rows is None:
            raise SettingError("method='samples' needs the design rows; draw the design with keep_rows=True.")

    def fit(self, data, rng=None) -> "LinearRegressionModel":
        """Least squares on :class:`RegressionStats` or :class:`DesignLabels` (rows of this model's design).

        Checks (cheap next to the fit): ``DesignLabels`` rows and labels of one shape
        ``(n_chains, count)`` with this design's chains, row indices in ``0..T-1``;
        ``RegressionStats`` gram ``(n_chains, d, d)`` and moment ``(n_chains, d)``; finite sums.
        """
        design = self.design
        if isinstance(data, DesignLabels):
            if design.rows is None:
                raise SettingError("fitting labelled rows needs the design rows; draw the design with keep_rows=True.")
            rows, labels = np.asarray(data.rows), np.asarray(data.labels)
            if rows.shape != labels.shape or rows.ndim != 2 or rows.shape[0] != design.n_chains:
                raise InputArrayError(f"DesignLabels rows {rows.shape} and labels {labels.shape} must both have shape "
                                      f"(n_chains, count) with n_chains = {design.n_chains}, the chains of the design.")
            if rows.size and (rows.min() < 0 or rows.max() >= design.n_rows
                              or not np.issubdtype(rows.dtype, np.integer)):
                raise InputArrayError(f"DesignLabels rows must be integer indices of design rows in 0..{design.n_rows - 1}, "
                                      f"got values in {rows.min()}..{rows.max()} ({rows.dtype}).")
            x = np.take_along_axis(design.rows, rows[:, :, None].astype(np.intp), axis=1)
            data = RegressionStats(data.size, np.einsum("cni,cnj->cij", x, x), np.einsum("cni,cn->ci", x, labels))
        if not isinstance(data, RegressionStats):
            raise SettingError(f"LinearRegressionModel fits RegressionStats or DesignLabels, got {type(data).__name__}.")
        gram = as_array("data (its gram matrix)", data.gram, ndim=3, shape_hint="(n_chains, d, d)")
        moment = as_array("data (its moment X^T y)", data.moment, ndim=2, shape_hint="(n_chains, d)")
        expected = (design.n_chains, design.dim)
        if moment.shape != expected or gram.shape != expected + expected[1:]:
            raise InputArrayError(f"RegressionStats gram {gram.shape} and moment {moment.shape} must have shapes "
                                  f"(n_chains, d, d) and (n_chains, d) = {expected + expected[1:]} and {expected}, "
                                  f"those of this model's design.")
        try:
            self.weights_ = np.linalg.solve(gram, moment[..., None])[..., 0]
        except np.linalg.LinAlgError:  # a singular subsample: the minimum-norm solution, as pinv gives
            self.weights_ = np.einsum("cij,cj->ci", np.linalg.pinv(gram), moment)
        return self

    @classmethod
    def from_weights(cls, weights, design: FixedDesign, noise_sd: float, method: str = "sufficient"):
        """A model set to known coefficients (e.g. the true :math:`w^*`, shape ``(d,)`` or ``(n_chains, d)``)."""
        weights = as_array("weights", weights, min_ndim=1, shape_hint="(d,) or (n_chains, d)")
        try:
            weights = np.broadcast_to(weights, (design.n_chains, design.dim)).copy()
        except ValueError:
            raise InputArrayError(f"weights must have shape (d,) or (n_chains, d) = ({design.dim},) or "
                                  f"({design.n_chains}, {design.dim}) for this design, got {weights.shape}.") from None
        return cls(design, noise_sd, method).set_state({"weights": weights})

    def sample(self, n: int, rng: np.random.Generator):
        r"""Relabel the design ``n / T`` times with :math:`X\hat w + \sigma\varepsilon` (``n`` a multiple of ``T``)."""
        check_fitted(self, "weights_")
        n = check_positive_int("sample size", n)
        design, t = self.design, self.design.n_rows
        if n % t:
            raise SettingError(f"the sample size must be a multiple of the design size {t} "
                               f"(each generation relabels the whole fixed design); got {n}.")
        copies = n // t
        if self.method == "samples":
            clean = np.einsum("cti,ci->ct", design.rows, self.weights_)
            labels = np.tile(clean, (1, copies)) + self.noise_sd * rng.standard_normal((design.n_chains, n))
            rows = np.tile(np.arange(t, dtype=np.int32), (design.n_chains, copies))
            return DesignLabels(rows, labels)
        noise = np.einsum("cij,cj->ci", design.gram_factor, rng.standard_normal((design.n_chains, design.dim)))
        moment = copies * np.einsum("cij,cj->ci", design.gram, self.weights_) + self.noise_sd * np.sqrt(copies) * noise
        return RegressionStats(n, copies * design.gram, moment)

    def get_state(self) -> dict:
        check_fitted(self, "weights_", "get_state")
        return {"weights": self.weights_}

    def set_state(self, params: dict) -> "LinearRegressionModel":
        """Set ``{"weights": (n_chains, d)}`` (finite, the design's chains and dimension)."""
        weights = as_array("weights", params["weights"], ndim=2, shape_hint="(n_chains, d)")
        if weights.shape != (self.design.n_chains, self.design.dim):
            raise InputArrayError(f"weights must have shape (n_chains, d) = ({self.design.n_chains}, "
                                  f"{self.design.dim}) for this design, got {weights.shape}.")
        self.weights_ = weights
        return self
