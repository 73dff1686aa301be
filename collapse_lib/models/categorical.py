r"""A categorical distribution estimated by its empirical frequencies, batched over chains.

With ``K`` states and the exact "functional approximation" :math:`\mathcal F(p) = p`,
fitting to ``M`` samples gives :math:`p_{i+1} = C^{(i)}/M` with
:math:`C^{(i)} \sim \mathrm{Multinomial}(M, p_i)`: the neutral Wright–Fisher model of
population genetics. Sampling is the only source of error.
"""

from __future__ import annotations

import numpy as np

from ..sufficient_stats import CategoryCounts
from ..validation import SettingError, check_positive_int


class CategoricalModel:
    """``n_chains`` independent categorical distributions over ``K`` states.

    Attributes
    ----------
    probabilities_ : ndarray, shape (n_chains, K)
        Fitted state probabilities, set by :meth:`fit`; every row sums to 1.
    """

    def fit(self, data, rng=None) -> "CategoricalModel":
        """Fit to :class:`~collapse_lib.sufficient_stats.CategoryCounts` (counts per chain)."""
        counts = data.counts if isinstance(data, CategoryCounts) else np.asarray(data)
        if counts.ndim != 2:
            raise SettingError(f"counts must have shape (n_chains, K), got {counts.shape}.")
        total = counts.sum(axis=1, keepdims=True)
        if np.any(total <= 0):
            raise SettingError("every chain needs at least one sample to fit a categorical model.")
        self.probabilities_ = counts / total
        return self

    @classmethod
    def from_probabilities(cls, probabilities, n_chains: int = 1) -> "CategoricalModel":
        """A model set to known probabilities ``(K,)``, repeated over ``n_chains``."""
        p = np.asarray(probabilities, dtype=float)
        if p.ndim != 1 or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
            raise SettingError("probabilities must be a 1-D array of non-negative numbers summing to 1.")
        n_chains = check_positive_int("n_chains", n_chains)
        return cls().set_params({"probabilities": np.tile(p, (n_chains, 1))})

    def sample(self, n: int, rng: np.random.Generator) -> CategoryCounts:
        """Counts of ``n`` draws per chain (multinomial), shape ``(n_chains, K)``."""
        n = check_positive_int("sample size", n)
        return CategoryCounts(rng.multinomial(n, self.probabilities_).astype(np.int64))

    def get_params(self) -> dict:
        return {"probabilities": self.probabilities_}

    def set_params(self, params: dict) -> "CategoricalModel":
        self.probabilities_ = np.asarray(params["probabilities"], dtype=float)
        return self
