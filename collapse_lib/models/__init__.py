"""Small generative models with ``fit(data)`` and ``sample(n, rng)``."""

from .categorical import CategoricalModel
from .gaussian import GaussianModel
from .gmm import GaussianMixtureModel
from .linear_regression import LinearRegressionModel
from .multivariate_gaussian import MultivariateGaussianModel

__all__ = ["CategoricalModel", "GaussianMixtureModel", "GaussianModel", "LinearRegressionModel", "MultivariateGaussianModel"]
