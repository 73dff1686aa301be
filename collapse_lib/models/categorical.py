r"""A categorical distribution estimated by its empirical frequencies, batched over chains.

With ``K`` states and the exact "functional approximation" :math:`\mathcal F(p) = p`,
fitting to ``M`` samples gives :math:`p_{i+1} = C^{(i)}/M` with
:math:`C^{(i)} \sim \mathrm{Multinomial}(M, p_i)`: the neutral Wright–Fisher model of
population genetics. Sampling is the only source of error.

Two variants sample from a distribution other than the fitted one (the debate's experiments,
:mod:`collapse_lib.experiments.debate`): :class:`TemperedCategorical` draws at a temperature,
:class:`FilteredCategorical` passes its samples through a filter before reuse.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..spec import POSITIVE, Options
from .base import ModelParams
from ..sufficient_stats import CategoryCounts
from ..theory import curated, tempered
from ..validation import (as_array, check_counts, check_fitted, check_positive_int, check_probabilities)


class CategoricalModel(ModelParams):
    """``n_chains`` independent categorical distributions over ``K`` states.

    Attributes
    ----------
    probabilities_ : ndarray, shape (n_chains, K)
        Fitted state probabilities, set by :meth:`fit`; every row sums to 1.
    """

    def fit(self, data, rng=None) -> "CategoricalModel":
        """Fit to :class:`~collapse_lib.sufficient_stats.CategoryCounts` or an array of counts ``(n_chains, K)``.

        Counts must be finite and non-negative, with at least one sample per chain.
        """
        raw = data.counts if isinstance(data, CategoryCounts) else data
        counts = as_array("counts", raw, ndim=2, finite=False, shape_hint="(n_chains, K)")
        check_counts("counts", counts)  # finite, >= 0, at least one per chain
        self.probabilities_ = counts / counts.sum(axis=1, keepdims=True)
        return self

    @classmethod
    def from_probabilities(cls, probabilities, n_chains: int = 1) -> "CategoricalModel":
        """A model set to known probabilities ``(K,)``, repeated over ``n_chains``."""
        p = as_array("probabilities", probabilities, ndim=1, finite=False, shape_hint="(K,)")
        check_probabilities("probabilities", p)
        n_chains = check_positive_int("n_chains", n_chains)
        return cls().set_state({"probabilities": np.tile(p, (n_chains, 1))})

    def sample(self, n: int, rng: np.random.Generator) -> CategoryCounts:
        """Counts of ``n`` draws per chain (multinomial), shape ``(n_chains, K)``."""
        check_fitted(self, "probabilities_")
        n = check_positive_int("sample size", n)
        return CategoryCounts(rng.multinomial(n, self.probabilities_).astype(np.int64))

    def get_state(self) -> dict:
        check_fitted(self, "probabilities_", "get_state")
        return {"probabilities": self.probabilities_}

    def set_state(self, params: dict) -> "CategoricalModel":
        """Set ``{"probabilities": (n_chains, K)}``, every row non-negative and summing to 1."""
        p = as_array("probabilities", params["probabilities"], ndim=2, finite=False, shape_hint="(n_chains, K)")
        check_probabilities("probabilities", p)
        self.probabilities_ = p
        return self


class TemperedCategorical(CategoricalModel):
    r"""A :class:`CategoricalModel` that samples from :math:`p^{1/\tau}/Z`, its fitted distribution at a temperature.

    Fitting is :class:`CategoricalModel`'s (empirical frequencies); only :meth:`sample` differs
    (:func:`collapse_lib.theory.tempered` is the distribution it draws from).

    Parameters
    ----------
    temperature : float
        :math:`\tau > 0`: below 1 sharpens the distribution towards its mode, above 1 flattens it
        towards uniform on its support, 1 samples the fitted distribution itself.

    Attributes
    ----------
    probabilities_ : ndarray, shape (n_chains, K)
        Fitted state probabilities (before tempering), set by :meth:`fit`; every row sums to 1.
    """

    _parameter_constraints: ClassVar[dict] = {"temperature": POSITIVE}

    def __init__(self, temperature: float = 1.0):
        self.temperature = temperature
        self._validate_params()

    def sample(self, n: int, rng: np.random.Generator) -> CategoryCounts:
        """Counts of ``n`` draws per chain from the tempered distribution (multinomial), shape ``(n_chains, K)``."""
        check_fitted(self, "probabilities_")
        n = check_positive_int("sample size", n)
        return CategoryCounts(rng.multinomial(n, tempered(self.probabilities_, self.temperature)).astype(np.int64))


class FilteredCategorical(CategoricalModel):
    """A :class:`CategoricalModel` whose samples pass a filter before reuse: the better of two by a reward
    (``curate``), or those a verifier accepts (``verify``); see :func:`collapse_lib.theory.curated`.

    Fitting is :class:`CategoricalModel`'s (empirical frequencies); :meth:`sample` draws from the
    distribution of the samples the filter keeps (one round of :func:`~collapse_lib.theory.curated`).

    Parameters
    ----------
    reward : array-like, shape (K,)
        Per state: the reward :math:`r_k` of the Bradley-Terry comparison (``curate``; state ``k`` beats
        ``j`` with log-odds :math:`r_k - r_j`), or the probability that the verifier accepts a sample of
        that state (``verify``; in [0, 1]).
        Stored as a float array.
    mode : {"curate", "verify"}
        Which filter.

    Attributes
    ----------
    probabilities_ : ndarray, shape (n_chains, K)
        Fitted state probabilities (before filtering), set by :meth:`fit`; every row sums to 1.
    """

    _parameter_constraints: ClassVar[dict] = {"mode": Options(("curate", "verify"))}

    def __init__(self, reward, mode: str = "curate"):
        self.reward, self.mode = np.asarray(reward, dtype=float), mode
        self._validate_params()

    def sample(self, n: int, rng: np.random.Generator) -> CategoryCounts:
        """Counts of ``n`` filtered draws per chain (multinomial), shape ``(n_chains, K)``."""
        check_fitted(self, "probabilities_")
        n = check_positive_int("sample size", n)
        kept = np.array([curated(p, self.reward, self.mode, 1)[-1] for p in self.probabilities_])
        return CategoryCounts(rng.multinomial(n, kept).astype(np.int64))
