r"""The Gaussian-mixture recursion (paper SI Figs. 6 and 8; official notebook cells 1-7), over many chains.

Each generation fits a ``K``-component, full-covariance mixture by EM (k-means initialisation,
``tol``, ``max_iter``, ``reg_covar`` as in scikit-learn) to ``M`` points and the next generation
draws its ``M`` points from that fit. All ``n_chains`` independent chains (seeds) advance together
through :class:`~collapse_lib.models.gmm.GaussianMixtureModel`.

Real data (``data``):

``"blob"``
    The official code: ``make_blobs(n_samples=1000, centers=[[0, 0]], cluster_std=1)``, i.e. one
    two-dimensional :math:`\mathcal N(0, I)` blob (the code flips the columns, which changes nothing).
``"two_gaussians"``
    The paper's text ("a GMM separating two artificial Gaussians", no parameters given). The book's
    choice: equal weights, means :math:`(\pm s/2, 0)` with ``s = separation`` (3 by default) and
    isotropic standard deviation ``component_std`` (0.5), so the two are six standard deviations
    apart and both fit in the paper's :math:`[-3, 3]^2` window.

Three experiments share the runner and the settings (:class:`GmmSpec`) and differ only in their
profiles: ``gmm`` (the paper's setting, both data variants, and a single Gaussian fitted to each),
``gmm_expressivity`` (one step of a one- and a two-component fit over a range of sample sizes,
:data:`GmmExpressivitySpec`), ``gmm_policies`` (replace, accumulate and 10% fresh real data per
generation, :data:`GmmPoliciesSpec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..distributions import gmm_truth, gmm_truth_model
from ..loop import run_generations
from ..metrics import chain_quantiles, component_spreads, l2_squared_gmm, mixture_total_variance
from ..models.gmm import GaussianMixtureModel, check_mixture_data, mixture_moments
from ..policies import POLICY, make_policy
from ..profiles import Sweep
from ..seeding import generation_rng
from ..spec import (FRACTION, GENERATIONS, NONNEGATIVE, NONNEGATIVE_INT, POSITIVE, POSITIVE_INT, ExperimentSpec,
                    Options, preset, setting)
from ..validation import SettingError
from . import register_spec


#: The allowed values of the settings the mixture model takes (its own constraint table).
EM_CONSTRAINTS = GaussianMixtureModel._parameter_constraints


@dataclass(frozen=True)
class GmmSpec(ExperimentSpec):
    """The Gaussian-mixture recursion over ``n_chains`` independent chains (SI Figs. 6, 8; official notebook
    cells 1-7). Lengths (``separation``, ``component_std``) are in data units."""

    data: str = setting("blob", Options(("blob", "two_gaussians")), "real data: 'blob' (the official code: one "
                        "N(0, I) blob) or 'two_gaussians' (the paper's text)",
                        paper="blob (code) / two Gaussians (text)")
    separation: float = setting(3.0, NONNEGATIVE, "two_gaussians: distance between the two means, along the "
                                "first axis (data units)")
    component_std: float = setting(0.5, POSITIVE, "two_gaussians: standard deviation of each (isotropic) "
                                   "component (data units)")
    n_components: int = setting(2, EM_CONSTRAINTS["n_components"], "K of the fitted mixtures", paper=2)
    sample_size: int = setting(1000, POSITIVE_INT, "M, points per generation (at least n_components)", paper=1000)
    n_generations: int = setting(2050, GENERATIONS, "recursive steps after generation 0", paper=2050)
    policy: str = setting("replace", POLICY, "data policy (collapse_lib.policies)", paper="replace")
    real_fraction: float = setting(0.1, FRACTION, "fresh real data per generation (policy 'mix' only; 0 under "
                                   "any other policy)")
    n_chains: int = setting(100, POSITIVE_INT, "independent chains (seeds), fitted together",
                            paper="1 unseeded run")
    tol: float = setting(1e-5, EM_CONSTRAINTS["tol"], "EM stops when the mean log-likelihood (nats per point) changes by "
                         "less", paper="1e-5")
    max_iter: int = setting(2000, EM_CONSTRAINTS["max_iter"], "at most this many EM iterations per fit", paper=2000)
    reg_covar: float = setting(1e-6, EM_CONSTRAINTS["reg_covar"], "added to every covariance's diagonal (squared data units)",
                               paper="1e-6 (default)")
    keep_chains: int = setting(4, NONNEGATIVE_INT, "chains whose fitted parameters are stored every generation "
                               "(at most n_chains)")

    # The paper's mixture experiment (SI Figs. 6, 8; official notebook cells 1-7): M = 1000 points,
    # 2050 generations, both data variants; K = 1 is a single Gaussian fitted to the same data.
    profiles: ClassVar[dict] = {
        "smoke": dict(data=Sweep(["blob", "two_gaussians"]), n_components=Sweep([2, 1]), n_generations=60,
                      n_chains=8),
        "book": dict(data=Sweep(["blob", "two_gaussians"]), n_components=Sweep([2, 1]), n_generations=2050,
                     n_chains=40),
        "paper": dict(data=Sweep(["blob", "two_gaussians"]), n_components=Sweep([2, 1]), n_generations=2050,
                      n_chains=100),
    }

    @classmethod
    def check(cls, s: dict) -> dict:
        if s["sample_size"] < s["n_components"]:
            raise SettingError(f"sample_size ({s['sample_size']}) must be >= n_components ({s['n_components']}): "
                               "EM needs at least one point per component.")
        if s["policy"] != "mix":
            s["real_fraction"] = 0.0  # no effect under any other policy: one run, whatever was passed
        s["keep_chains"] = min(s["keep_chains"], s["n_chains"])
        return s


#: Functional expressivity: one step of a one- and a two-component fit to two Gaussians, over M.
GmmExpressivitySpec = preset(GmmSpec, "GmmExpressivitySpec", profiles={
    "smoke": dict(data="two_gaussians", n_components=Sweep([1, 2]), sample_size=Sweep([100, 1000, 10000]),
                  n_generations=1, n_chains=4),
    "book": dict(data="two_gaussians", n_components=Sweep([1, 2]),
                 sample_size=Sweep([100, 1000, 10000, 100000]), n_generations=1, n_chains=20),
    "paper": dict(data="two_gaussians", n_components=Sweep([1, 2]),
                  sample_size=Sweep([100, 1000, 10000, 100000, 1000000]), n_generations=1, n_chains=100),
})

#: Replace, accumulate (the pool grows: quadratic cost) and 10% fresh real data per generation.
GmmPoliciesSpec = preset(GmmSpec, "GmmPoliciesSpec", profiles={
    "smoke": dict(data="two_gaussians", sample_size=100, n_generations=30, n_chains=8,
                  policy=Sweep(["replace", "accumulate", "mix"])),
    "book": dict(data="two_gaussians", sample_size=100, n_generations=200, n_chains=40,
                 policy=Sweep(["replace", "accumulate", "mix"])),
    "paper": dict(data="two_gaussians", sample_size=1000, n_generations=500, n_chains=100,
                  policy=Sweep(["replace", "accumulate", "mix"])),
})


def record_gmm(model: GaussianMixtureModel, reference: dict, truth: dict, keep_chains: int) -> dict:
    r"""Per-generation summary over chains.

    ``l2_gen0_q`` / ``l2_truth_q``: quantiles (at :data:`~collapse_lib.metrics.QUANTILES`) of the
    squared L2 distance of each chain's fit to its generation-0 fit / to the true density, and
    their means ``mean_l2_*``; ``spread_q``: quantiles of the mixture's spread
    :math:`\sqrt{\mathrm{tr}\,C/d}` (:math:`C` its covariance); ``mean_total_variance`` and
    ``sd_total_variance``: the mean and standard deviation over chains of :math:`\mathrm{tr}\,C`
    (:func:`~collapse_lib.metrics.mixture_total_variance`);
    ``mean_sq_mean_error``: the mean of :math:`|m - \mu|^2` (mixture mean against the true mean);
    ``component_std_q`` (5, K): quantiles of each component's spread
    :math:`\sqrt{\mathrm{tr}\,\Sigma_k/d}`, sorted within each chain from smallest to largest
    (:func:`~collapse_lib.metrics.component_spreads`);
    ``min_weight_q``: quantiles of the smallest weight; EM diagnostics ``mean_n_iter``,
    ``max_n_iter``, ``converged_fraction`` and ``regularised_fraction`` (fits whose covariance
    floor ``reg_covar`` decided a component's size); and the parameters of the first
    ``keep_chains`` chains (``chain_weights``, ``chain_means``, ``chain_covariances``).
    """
    w, m, c = model.weights_, model.means_, model.covariances_
    d = m.shape[-1]
    l2_gen0 = l2_squared_gmm(w, m, c, reference["weights"], reference["means"], reference["covariances"])
    l2_truth = l2_squared_gmm(w, m, c, truth["weights"], truth["means"], truth["covariances"])
    mean, _ = mixture_moments(w, m, c)
    true_mean, _ = mixture_moments(truth["weights"], truth["means"], truth["covariances"])
    total_variance = mixture_total_variance(w, m, c)
    component_std = component_spreads(c)
    return {
        "l2_gen0_q": chain_quantiles(l2_gen0),
        "l2_truth_q": chain_quantiles(l2_truth),
        "mean_l2_gen0": l2_gen0.mean(),
        "mean_l2_truth": l2_truth.mean(),
        "spread_q": chain_quantiles(np.sqrt(total_variance / d)),
        "mean_total_variance": total_variance.mean(),
        "sd_total_variance": total_variance.std(),
        "mean_sq_mean_error": ((mean - true_mean) ** 2).sum(axis=-1).mean(),
        "component_std_q": chain_quantiles(component_std.T),
        "min_weight_q": chain_quantiles(w.min(axis=-1)),
        "mean_n_iter": model.n_iter_.mean(),
        "max_n_iter": model.n_iter_.max(),
        "converged_fraction": model.converged_.mean(),
        "regularised_fraction": model.regularised_.mean(),
        "chain_weights": w[:keep_chains],
        "chain_means": m[:keep_chains],
        "chain_covariances": c[:keep_chains],
    }


def run_gmm(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Run ``n_chains`` chains of the mixture recursion; see :class:`GmmSpec` for the settings."""
    s = settings

    def new_model():
        return GaussianMixtureModel(s["n_components"], s["tol"], s["max_iter"], s["reg_covar"])

    truth_sampler = gmm_truth_model(s)
    real = truth_sampler.sample(s["sample_size"], generation_rng(seed, 0, "data"))
    check_mixture_data(real, s["n_components"])
    truth = gmm_truth(s)  # the distance from generation 0 uses the loop's reference (generation 0's fit)
    return run_generations(
        new_model, real, s["n_generations"], s["sample_size"], make_policy(s["policy"], s["real_fraction"]),
        real_sampler=truth_sampler.sample, seed=seed,
        record=lambda model, generation: record_gmm(model, generation.reference.get_state(), truth, s["keep_chains"]),
        run=run, progress=progress, description=f"gmm {s['data']} K={s['n_components']} {s['policy']}",
    )


register_spec("gmm", run_gmm, GmmSpec,
              "the paper's Gaussian-mixture experiment (SI Figs. 6, 8), both data variants", version=1)
register_spec("gmm_expressivity", run_gmm, GmmExpressivitySpec,
              "one and two components fitted to two Gaussians, over sample sizes", version=1)
register_spec("gmm_policies", run_gmm, GmmPoliciesSpec,
              "replace, accumulate and fresh real data for the Gaussian mixture", version=1)
