r"""The true distributions the experiments start from: what generation 0's real data are drawn from.

One function per truth, named after the experiments that use it:

:func:`gmm_truth`, :func:`gmm_truth_model`, :func:`gmm_real_data`
    The Gaussian mixtures of the ``gmm`` experiments (``data="blob"``: the official code's one
    :math:`\mathcal N(0, I)` blob; ``data="two_gaussians"``: the paper text's two Gaussians).
:func:`point_mixture_truth`
    The two unit-covariance Gaussians of the ``prevention_gmm`` experiments.
:func:`true_covariance`
    The covariance of the d-dimensional Gaussian of the ``prevention_*`` and ``debate_fixed_real``
    experiments (the true mean is 0).
:func:`zipf_probabilities`
    The Zipf-like categorical distributions of ``prevention_tails`` and the debate's categorical experiments.

Mixtures are returned as parameter dicts ``weights`` (K,), ``means`` (K, d), ``covariances`` (K, d, d),
the arguments of :func:`collapse_lib.metrics.l2_squared_gmm` and
:meth:`collapse_lib.models.gmm.GaussianMixtureModel.from_params`. Lengths are in data units.
"""

from __future__ import annotations

import numpy as np

from .models.gmm import GaussianMixtureModel
from .seeding import fixed_rng, generation_rng

def gmm_truth(settings: dict) -> dict:
    r"""The distribution of the ``gmm`` experiments' real data, as mixture parameters.

    ``settings`` needs ``data`` and, for ``"two_gaussians"``, ``separation`` and ``component_std``
    (data units). ``"blob"``: one component :math:`\mathcal N(0, I_2)`; ``"two_gaussians"``: equal
    weights, means :math:`(\pm s/2, 0)`, isotropic standard deviation ``component_std``. Returns
    ``weights`` (K,), ``means`` (K, 2) and ``covariances`` (K, 2, 2) (squared data units).
    """
    if settings["data"] == "blob":
        return dict(weights=np.ones(1), means=np.zeros((1, 2)), covariances=np.eye(2)[None])
    half = settings["separation"] / 2
    return dict(weights=np.full(2, 0.5), means=np.array([[-half, 0.0], [half, 0.0]]),
                covariances=np.full((2, 1, 1), settings["component_std"] ** 2) * np.eye(2))


def gmm_truth_model(settings: dict, n_chains: int | None = None) -> GaussianMixtureModel:
    """:func:`gmm_truth` as a :class:`~collapse_lib.models.gmm.GaussianMixtureModel` repeated over ``n_chains``
    (default: ``settings["n_chains"]``), ready to ``sample``."""
    truth = gmm_truth(settings)
    return GaussianMixtureModel.from_params(truth["weights"], truth["means"], truth["covariances"],
                                            n_chains or settings["n_chains"])


def gmm_real_data(settings: dict, seed: int) -> np.ndarray:
    """Generation 0's real data of a ``gmm`` run, ``(n_chains, M, 2)`` in data units: the points
    :func:`collapse_lib.experiments.gmm.run_gmm` fits first (the same random stream)."""
    return gmm_truth_model(settings).sample(settings["sample_size"], generation_rng(seed, 0, "data"))


def point_mixture_truth(separation: float) -> dict:
    r"""The truth of the ``prevention_gmm`` experiments: two equally weighted components
    :math:`\mathcal N((\pm s/2, 0), I_2)` in the plane, ``s = separation`` (data units).

    Returns mixture parameters: ``weights`` (2,), ``means`` (2, 2), ``covariances`` (2, 2, 2).
    """
    means = np.array([[-separation / 2, 0.0], [separation / 2, 0.0]])
    return dict(weights=np.full(2, 0.5), means=means, covariances=np.tile(np.eye(2), (2, 1, 1)))


def true_covariance(dim: int, spectrum: float) -> np.ndarray:
    r"""The true covariance :math:`\Sigma = R\,\mathrm{diag}(\lambda)\,R^\top` of the d-dimensional Gaussian experiments.

    Eigenvalues :math:`\lambda` geometrically spaced from 1 down to ``1/spectrum`` (squared data
    units) and a fixed rotation :math:`R` (the Q factor of a standard normal matrix drawn with
    the fixed seed ``FIXED_SEEDS["prevention_rotation"]`` of :mod:`collapse_lib.seeding`), so the axes are not the coordinate axes. The true mean is 0.
    Returns ``(dim, dim)``.
    """
    values = np.geomspace(1.0, 1.0 / spectrum, dim)
    rotation, _ = np.linalg.qr(fixed_rng("prevention_rotation").standard_normal((dim, dim)))
    return (rotation * values) @ rotation.T


def zipf_probabilities(n_states: int, exponent: float) -> np.ndarray:
    r"""Zipf-like probabilities :math:`q_k \propto k^{-a}`, ``k = 1..K``, in decreasing order.

    ``n_states`` K, ``exponent`` a >= 0; returns ``(K,)``, summing to 1.
    """
    q = np.arange(1, n_states + 1, dtype=float) ** -float(exponent)
    return q / q.sum()
