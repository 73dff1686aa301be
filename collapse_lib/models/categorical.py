r"""A categorical distribution estimated by its empirical frequencies, batched over chains.

With ``K`` states and the exact "functional approximation" :math:`\mathcal F(p) = p`,
fitting to ``M`` samples gives :math:`p_{i+1} = C^{(i)}/M` with
:math:`C^{(i)} \sim \mathrm{Multinomial}(M, p_i)`: the neutral Wright–Fisher model of
population genetics. Sampling is the only source of error.
"""

from __future__ import annotations

import numpy as np

from .base import ModelParams
from ..sufficient_stats import CategoryCounts
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
