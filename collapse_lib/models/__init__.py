"""Small generative models with ``fit(data)`` and ``sample(n, rng)``."""

from .categorical import CategoricalModel
from .gaussian import GaussianModel

__all__ = ["CategoricalModel", "GaussianModel"]
