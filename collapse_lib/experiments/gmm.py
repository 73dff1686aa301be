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

Four experiments share the runner and differ only in their profiles: ``gmm`` (the paper's
setting, both data variants, and a single Gaussian fitted to each), ``gmm_expressivity`` (one
step of a one- and a two-component fit over a range of sample sizes), ``gmm_policies`` (replace,
accumulate and 10% fresh real data per generation).
"""

from __future__ import annotations

import numpy as np

from ..distributions import gmm_truth, gmm_truth_model
from ..loop import run_generations
from ..metrics import chain_quantiles, component_spreads, l2_squared_gmm, mixture_total_variance
from ..models.gmm import GaussianMixtureModel, check_mixture_data, mixture_moments
from ..policies import DataPolicy
from ..seeding import generation_rng
from ..validation import (SettingError, check_choice, check_fraction, check_generations, check_int, check_nonnegative_float,
                          check_positive_float, check_positive_int)
from . import Experiment, register

DATA = ("blob", "two_gaussians")

DEFAULTS = dict(
    data="blob",           # "blob" (official code: one N(0, I) blob) or "two_gaussians" (paper text)
    separation=3.0,        # two_gaussians: distance between the two means, along the first axis
    component_std=0.5,     # two_gaussians: standard deviation of each (isotropic) component
    n_components=2,        # K of the fitted mixtures
    sample_size=1000,      # M, points per generation
    n_generations=2050,    # recursive steps after generation 0
    policy="replace",      # collapse_lib.policies
    real_fraction=0.1,     # fresh real data per generation, used by policy "mix" only
    n_chains=100,          # independent chains (seeds), fitted together
    tol=1e-5,              # EM stops when the mean log-likelihood changes by less
    max_iter=2000,         # at most this many EM iterations per fit
    reg_covar=1e-6,        # added to every covariance's diagonal
    keep_chains=4,         # chains whose fitted parameters are stored every generation
)

PAPER = dict(data="blob (code) / two Gaussians (text)", n_components=2, sample_size=1000, n_generations=2050,
             policy="replace", n_chains="1 unseeded run", tol="1e-5", max_iter=2000, reg_covar="1e-6 (default)")


def validate(settings: dict) -> dict:
    s = dict(settings)
    check_choice("data", s["data"], DATA)
    s["separation"] = check_nonnegative_float("separation", s["separation"])
    s["component_std"] = check_positive_float("component_std", s["component_std"])
    s["n_components"] = check_int("n_components", s["n_components"], minimum=1)
    s["sample_size"] = check_positive_int("sample_size", s["sample_size"])
    if s["sample_size"] < s["n_components"]:
        raise SettingError(f"sample_size ({s['sample_size']}) must be >= n_components ({s['n_components']}): "
                           "EM needs at least one point per component.")
    s["n_generations"] = check_generations(s["n_generations"])
    s["real_fraction"] = check_fraction("real_fraction", s["real_fraction"]) if s["policy"] == "mix" else 0.0
    DataPolicy(s["policy"], s["real_fraction"])
    s["n_chains"] = check_positive_int("n_chains", s["n_chains"])
    s["tol"] = check_positive_float("tol", s["tol"])
    s["max_iter"] = check_positive_int("max_iter", s["max_iter"])
    s["reg_covar"] = check_positive_float("reg_covar", s["reg_covar"])
    s["keep_chains"] = min(check_int("keep_chains", s["keep_chains"], minimum=0), s["n_chains"])
    return s


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
    """Run ``n_chains`` chains of the mixture recursion; see :data:`DEFAULTS` for the settings."""
    s = settings

    def new_model():
        return GaussianMixtureModel(s["n_components"], s["tol"], s["max_iter"], s["reg_covar"])

    truth_sampler = gmm_truth_model(s)
    real = truth_sampler.sample(s["sample_size"], generation_rng(seed, 0, "data"))
    check_mixture_data(real, s["n_components"])
    # Generation 0's fit is the reference of the "distance from generation 0" metric. Fitting it
    # here (the same data and random stream as the loop's generation 0, so the same numbers) keeps
    # it available when an interrupted run resumes after generation 0.
    reference = new_model().fit(real, rng=generation_rng(seed, 0, "fit")).get_params()
    truth = gmm_truth(s)
    return run_generations(
        new_model, real, s["n_generations"], s["sample_size"], DataPolicy(s["policy"], s["real_fraction"]),
        real_sampler=truth_sampler.sample, seed=seed,
        record=lambda model, g: record_gmm(model, reference, truth, s["keep_chains"]),
        run=run, progress=progress, description=f"gmm {s['data']} K={s['n_components']} {s['policy']}",
    )


for _name, _description in [
    ("gmm", "the paper's Gaussian-mixture experiment (SI Figs. 6, 8), both data variants"),
    ("gmm_expressivity", "one and two components fitted to two Gaussians, over sample sizes"),
    ("gmm_policies", "replace, accumulate and fresh real data for the Gaussian mixture"),
]:
    register(Experiment(_name, run_gmm, DEFAULTS, validate, _description, version=1, paper=PAPER))
