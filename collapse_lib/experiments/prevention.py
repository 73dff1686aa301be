"""What prevents collapse: replace against accumulate, fresh real data, growing samples, and tails.

Seven experiments, all through :func:`collapse_lib.run_generations` with the data policy as a setting
(each experiment's settings, meanings and profiles: its spec):

``prevention_regression`` (:class:`PreventionRegressionSpec`)
    Linear regression fitted to its own predictions on a fixed Gaussian design
    (Gerstgrasser et al. 2024; Kazdan et al. 2024).
``prevention_gaussian``, ``prevention_mix``, ``prevention_schedules`` (:class:`PreventionGaussianSpec` and its presets)
    The d-dimensional Gaussian recursion (one runner), swept over the policies, over the
    fraction of fresh real data (and the size of the first model's real dataset), and over
    sample-size schedules.
``prevention_tails`` (:class:`PreventionTailsSpec`)
    A Zipf-like categorical distribution resampled generation after generation: the mass left
    beyond fixed quantiles of the original, and how long a state with a given original count survives.
``prevention_gmm``, ``prevention_gmm_mix`` (:class:`PreventionGmmSpec` and its preset)
    A two-component Gaussian mixture in the plane refitted by EM, under the policies and with
    fresh real data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..distributions import point_mixture_truth, true_covariance, zipf_probabilities
from ..loop import run_generations
from ..metrics import (chain_quantiles, kl_estimate, log_det_ratio, mixture_total_variance, support_size,
                       survivors_by_count, tail_mass, tail_sets, w2_squared_to_gaussian)
from ..models.categorical import CategoricalModel
from ..models.gmm import GaussianMixtureModel, PointMixture
from ..models.linear_regression import FixedDesign, LinearRegressionModel
from ..models.multivariate_gaussian import MultivariateGaussianModel
from ..policies import POLICY, check_policy, make_policy
from ..profiles import Sweep
from ..sample_sizes import SCHEDULES, sample_size_schedule
from ..seeding import generation_rng
from ..spec import (FRACTION, GENERATIONS, NONNEGATIVE, NONNEGATIVE_INT, POSITIVE, POSITIVE_INT, ExperimentSpec,
                    Interval, ListOf, Options, preset, setting)
from ..validation import SettingError
from . import register_spec

METHODS = ("auto", "sufficient", "samples")


def _method(settings: dict) -> str:
    """``auto``: exact sufficient statistics, except for the policy that needs the samples."""
    if settings["method"] != "auto":
        return settings["method"]
    return "samples" if settings["policy"] == "accumulate-subsample" else "sufficient"


def _check_method(s: dict) -> None:
    """The ``method`` a spec's ``policy`` can run with: sufficient statistics cannot be subsampled."""
    if s["method"] == "sufficient" and s["policy"] == "accumulate-subsample":
        raise SettingError("policy 'accumulate-subsample' needs method='samples' (or 'auto'): sufficient "
                           "statistics do not keep the individual samples a subsample is drawn from.")


# ---------------------------------------------------------------------------------------------
# Linear regression on a fixed design
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PreventionRegressionSpec(ExperimentSpec):
    """Linear regression fitted to its own predictions on a fixed Gaussian design (Gerstgrasser et al. 2024;
    Kazdan et al. 2024)."""

    dim: int = setting(10, POSITIVE_INT, "d, features", paper="1, 3, 10, 32, 100")
    design_size: int = setting(100, POSITIVE_INT, "T, rows of the fixed design = labelled points per generation "
                               "(more than dim + 1)", paper="10, 32, 100, 316, 1000 (T > d)")
    noise_sd: float = setting(1.0, POSITIVE, "sigma, standard deviation of the label noise (label units; known, "
                              "added at every relabelling)", paper="swept")
    n_generations: int = setting(100, GENERATIONS, "recursive steps after generation 0 (generation g is fit "
                                 "n = g + 1)")
    policy: str = setting("replace", Options(("replace", "accumulate", "accumulate-subsample")),
                          "data policy (collapse_lib.policies; no fresh real data)",
                          paper="replace, accumulate, accumulate-subsample")
    n_chains: int = setting(1000, POSITIVE_INT, "independent chains (each with its own design and w*)",
                            paper="1 seeded run per setting")
    method: str = setting("auto", Options(METHODS), "'sufficient' (X^T X, X^T y), 'samples' (labelled rows), or "
                          "'auto' (samples for accumulate-subsample only)", paper="literal rows, np.linalg.pinv")
    keep_chains: int = setting(5, NONNEGATIVE_INT, "chains whose test error is stored every generation")

    # Linear regression fitted to its own predictions (Gerstgrasser et al.; Kazdan et al.'s sweep
    # of d and T with T > d). accumulate-subsample keeps every chain's pool of labels.
    profiles: ClassVar[dict] = {
        "smoke": dict(dim=5, design_size=Sweep([15, 40]), n_generations=20, n_chains=300,
                      policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
        "book": dict(dim=10, design_size=Sweep([20, 40, 100]), n_generations=100, n_chains=1000,
                     policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
        "paper": dict(dim=10, design_size=Sweep([32, 100, 316, 1000]), n_generations=100, n_chains=100,
                      policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
    }

    @classmethod
    def check(cls, s: dict) -> dict:
        if s["design_size"] <= s["dim"] + 1:
            raise SettingError(f"design_size must be > dim + 1 = {s['dim'] + 1} (the expected test error of least "
                               f"squares is finite only then), got {s['design_size']}.")
        _check_method(s)
        return s


def run_regression(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Relabel a fixed design with the previous fit's predictions; record the test error.

    Records per generation ``g`` (the ``n = g + 1``-th least-squares fit): quantiles over chains
    of the test error :math:`\\|\\hat w-w^*\\|^2` (``test_error_q``, the exact mean of the noise-free
    :math:`(x^\\top\\hat w - x^\\top w^*)^2` over :math:`x\\sim\\mathcal N(0, I_d)`; squared label
    units), its mean and standard deviation over chains, and ``chain_test_error`` of the first
    ``keep_chains`` chains.
    """
    s = settings
    method = _method(s)
    rng = generation_rng(seed, 0, "data")
    design = FixedDesign.gaussian(s["n_chains"], s["design_size"], s["dim"], rng, keep_rows=method == "samples")
    w_star = rng.standard_normal((s["n_chains"], s["dim"]))
    real = LinearRegressionModel.from_weights(w_star, design, s["noise_sd"], method).sample(s["design_size"], rng)

    def record(model, generation):
        error = np.sum((model.weights_ - w_star) ** 2, axis=1)
        return {"test_error_q": chain_quantiles(error), "mean_test_error": error.mean(),
                "sd_test_error": error.std(), "chain_test_error": error[: s["keep_chains"]]}

    return run_generations(lambda: LinearRegressionModel(design, s["noise_sd"], method), real, s["n_generations"],
                           s["design_size"], s["policy"], seed=seed, record=record, run=run, progress=progress,
                           description=f"regression T={s['design_size']} {s['policy']}")


register_spec("prevention_regression", run_regression, PreventionRegressionSpec,
              "linear regression fitted to its own predictions: replace vs accumulate", version=1)


# ---------------------------------------------------------------------------------------------
# The d-dimensional Gaussian
# ---------------------------------------------------------------------------------------------

def gaussian_sample_sizes(s: dict) -> np.ndarray:
    """``M_0..M_n`` of a Gaussian run: the schedule, with ``real_sample_size`` (if > 0) as ``M_0``."""
    sizes = sample_size_schedule(s["sample_size"], s["n_generations"], s["schedule"], s["growth"])
    if s["real_sample_size"]:
        sizes[0] = s["real_sample_size"]
    return sizes


@dataclass(frozen=True)
class PreventionGaussianSpec(ExperimentSpec):
    """The d-dimensional Gaussian recursion under one data policy; the true mean is 0 and the true covariance
    :func:`~collapse_lib.distributions.true_covariance` (squared data units)."""

    dim: int = setting(5, POSITIVE_INT, "d, dimension of the data", paper="1, 3, 10, 31, 100")
    spectrum: float = setting(10.0, POSITIVE, "largest / smallest eigenvalue of the true covariance, >= 1 "
                              "(see collapse_lib.distributions.true_covariance)", paper="1 (identity)")
    sample_size: int = setting(50, POSITIVE_INT, "M, points per generation (M_0 of the schedule)",
                               paper="10, 32, 100, 316, 1000")
    real_sample_size: int = setting(0, NONNEGATIVE_INT, "points of real data generation 0 is fitted to; 0: the "
                                    "schedule's M_0")
    schedule: str = setting("constant", Options(SCHEDULES), "how M_i grows with the generation "
                            "(collapse_lib.sample_sizes)")
    growth: float = setting(2.0, POSITIVE, "ratio of the geometric schedule")
    n_generations: int = setting(100, GENERATIONS, "recursive steps after generation 0", paper=100)
    ddof: int = setting(1, MultivariateGaussianModel._parameter_constraints["ddof"], "1: unbiased covariance (the theorem); 0: maximum likelihood "
                        "(Kazdan et al.)", paper=0)
    policy: str = setting("replace", POLICY, "data policy (collapse_lib.policies)",
                          paper="replace, accumulate, accumulate-subsample")
    real_fraction: float = setting(0.0, FRACTION, "fresh real data per generation (policy 'mix' only)")
    n_chains: int = setting(1000, POSITIVE_INT, "independent chains", paper="100 seeds")
    method: str = setting("auto", Options(METHODS), "'sufficient' (mean + Wishart scatter), 'samples', or 'auto' "
                          "(samples for accumulate-subsample only)")
    keep_chains: int = setting(5, NONNEGATIVE_INT, "chains whose squared mean error is stored every generation")

    # The d-dimensional Gaussian under three policies (mix: prevention_mix, with the same d, M, ddof and
    # spectrum, so that the chapter can draw the four policies together).
    profiles: ClassVar[dict] = {
        "smoke": dict(dim=3, sample_size=20, n_generations=20, n_chains=300,
                      policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
        "book": dict(dim=5, sample_size=50, n_generations=100, n_chains=1000,
                     policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
        "paper": dict(dim=5, sample_size=50, n_generations=500, n_chains=200,
                      policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
    }

    @classmethod
    def check(cls, s: dict) -> dict:
        if s["spectrum"] < 1:
            raise SettingError(f"spectrum (largest / smallest eigenvalue) must be >= 1, got {s['spectrum']}.")
        check_policy(s["policy"], s["real_fraction"])
        _check_method(s)
        smallest = int(gaussian_sample_sizes(s).min())
        if smallest - s["ddof"] < 1:
            raise SettingError(f"every sample size must be >= ddof + 1 = {s['ddof'] + 1} to fit a covariance; "
                               f"the smallest is {smallest} (sample_size, real_sample_size).")
        return s


#: A fraction of fresh real data per generation, and the size of the first model's real data.
PreventionMixSpec = preset(PreventionGaussianSpec, "PreventionMixSpec", profiles={
    "smoke": dict(dim=3, sample_size=20, n_generations=20, n_chains=300, policy="mix",
                  real_fraction=Sweep([0.0, 0.1, 0.5, 1.0]), real_sample_size=Sweep([0, 5])),
    "book": dict(dim=5, sample_size=50, n_generations=150, n_chains=600, policy="mix",
                 real_fraction=Sweep([0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]),
                 real_sample_size=Sweep([0, 7, 5000])),
    "paper": dict(dim=5, sample_size=50, n_generations=1000, n_chains=10000, policy="mix",
                  real_fraction=Sweep([0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]),
                  real_sample_size=Sweep([0, 7, 5000])),
})

#: Sample sizes that grow with the generation (sum of 1/M_i finite or not), replace vs accumulate.
PreventionSchedulesSpec = preset(PreventionGaussianSpec, "PreventionSchedulesSpec", profiles={
    "smoke": dict(dim=3, sample_size=20, n_generations=30, n_chains=500,
                  schedule=Sweep(["constant", "linear", "quadratic"]), policy=Sweep(["replace", "accumulate"])),
    "book": dict(dim=5, sample_size=20, n_generations=200, n_chains=2000,
                 schedule=Sweep(["constant", "linear", "quadratic"]), policy=Sweep(["replace", "accumulate"])),
    "paper": dict(dim=5, sample_size=20, n_generations=1000, n_chains=10000,
                  schedule=Sweep(["constant", "linear", "quadratic"]), policy=Sweep(["replace", "accumulate"])),
})


def record_multivariate(model: MultivariateGaussianModel, cov: np.ndarray, keep_chains: int) -> dict:
    """Per-generation summary over chains (the true mean is 0): the squared error of the mean
    (``*sq_mean_error*``; ``chain_sq_mean_error`` for the first ``keep_chains`` chains), the trace and
    log-determinant (:func:`~collapse_lib.metrics.log_det_ratio`, floored at :data:`~collapse_lib.metrics.LOG_TINY`)
    of the fitted covariance relative to the
    truth (``*trace_ratio*``, ``*log_det_ratio*``), and the squared 2-Wasserstein distance to the truth
    (``*w2_sq*``). ``*_q`` are quantiles over chains (columns named by :class:`~collapse_lib.metrics.Quantile`),
    ``mean_*`` and ``sd_*`` the mean and standard deviation over chains."""
    mean_sq = np.sum(model.mean_**2, axis=1)
    trace_ratio = np.trace(model.cov_, axis1=1, axis2=2) / np.trace(cov)
    log_det = log_det_ratio(model.cov_, cov)
    w2_sq = w2_squared_to_gaussian(model.mean_, model.cov_, np.zeros(cov.shape[0]), cov)
    return {
        "sq_mean_error_q": chain_quantiles(mean_sq), "mean_sq_mean_error": mean_sq.mean(),
        "sd_sq_mean_error": mean_sq.std(),
        "trace_ratio_q": chain_quantiles(trace_ratio), "mean_trace_ratio": trace_ratio.mean(),
        "sd_trace_ratio": trace_ratio.std(),
        "log_det_ratio_q": chain_quantiles(log_det), "mean_log_det_ratio": log_det.mean(),
        "sd_log_det_ratio": log_det.std(),
        "w2_sq_q": chain_quantiles(w2_sq), "mean_w2_sq": w2_sq.mean(), "sd_w2_sq": w2_sq.std(),
        "chain_sq_mean_error": mean_sq[:keep_chains],
    }


def run_multivariate_gaussian(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Run ``n_chains`` chains of the d-dimensional Gaussian recursion under one data policy."""
    s = settings
    method = _method(s)
    sizes = gaussian_sample_sizes(s)
    cov = true_covariance(s["dim"], s["spectrum"])
    truth = MultivariateGaussianModel.from_params(np.zeros(s["dim"]), cov, s["n_chains"], s["ddof"], method)
    real = truth.sample(int(sizes[0]), generation_rng(seed, 0, "data"))
    return run_generations(
        lambda: MultivariateGaussianModel(s["ddof"], method), real, s["n_generations"], sizes,
        make_policy(s["policy"], s["real_fraction"]), real_sampler=truth.sample, seed=seed,
        record=lambda model, g: record_multivariate(model, cov, s["keep_chains"]), run=run, progress=progress,
        description=f"gaussian d={s['dim']} {s['policy']} {s['real_fraction']:g}",
    )


register_spec("prevention_gaussian", run_multivariate_gaussian, PreventionGaussianSpec,
              "the d-dimensional Gaussian under replace, accumulate and accumulate-subsample", version=2)
register_spec("prevention_mix", run_multivariate_gaussian, PreventionMixSpec,
              "the d-dimensional Gaussian with a fraction of fresh real data per generation", version=2)
register_spec("prevention_schedules", run_multivariate_gaussian, PreventionSchedulesSpec,
              "the d-dimensional Gaussian with sample sizes that grow with the generation", version=2)


# ---------------------------------------------------------------------------------------------
# Tails of a Zipf-like distribution
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PreventionTailsSpec(ExperimentSpec):
    """A Zipf-like categorical distribution (:func:`~collapse_lib.distributions.zipf_probabilities`) resampled under one data policy."""

    n_states: int = setting(100, Interval(int, 2, None), "K, states of the distribution")
    exponent: float = setting(1.0, NONNEGATIVE, "a: q_k proportional to k^-a, k = 1..K")
    sample_size: int = setting(100, POSITIVE_INT, "M, samples per generation")
    n_generations: int = setting(500, GENERATIONS, "recursive steps after generation 0")
    policy: str = setting("replace", POLICY, "data policy (collapse_lib.policies)")
    real_fraction: float = setting(0.0, FRACTION, "fresh real data per generation (policy 'mix' only)")
    n_chains: int = setting(2000, POSITIVE_INT, "independent chains")
    tail_levels: list = setting([0.5, 0.9, 0.99], ListOf(FRACTION), "quantile levels of the original "
                                "distribution, strictly between 0 and 1; the tail is the mass beyond each")
    max_count: int = setting(15, POSITIVE_INT, "loss times are recorded for original counts 1..max_count "
                             "(less than sample_size)")

    # A Zipf-like distribution resampled: tail mass, and the loss time of rare states.
    profiles: ClassVar[dict] = {
        "smoke": dict(n_states=50, sample_size=50, n_generations=100, n_chains=500,
                      policy=Sweep(["replace", "accumulate"]), max_count=8),
        "book": dict(n_states=100, sample_size=100, n_generations=500, n_chains=1500,
                     policy=Sweep(["replace", "accumulate"])),
        "paper": dict(n_states=1000, sample_size=1000, n_generations=3000, n_chains=500,
                      policy=Sweep(["replace", "accumulate"]), max_count=50),
    }

    @classmethod
    def check(cls, s: dict) -> dict:
        check_policy(s["policy"], s["real_fraction"])
        if any(x <= 0 or x >= 1 for x in s["tail_levels"]):
            raise SettingError(f"tail_levels must be fractions strictly between 0 and 1, got {s['tail_levels']}; "
                               f"drop 0 and 1.")
        if s["max_count"] >= s["sample_size"]:
            raise SettingError(f"max_count must be < sample_size = {s['sample_size']}, got {s['max_count']}.")
        return s


def run_tails(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Resample a Zipf-like categorical distribution; record the tails and the survival of rare states.

    Records per generation ``g``: the model's mass beyond each tail level (``tail_mass_q``
    quantiles over chains, shape ``(L, 5)``; ``mean_tail_mass`` and ``sd_tail_mass`` over chains),
    the number of states with non-zero probability (``support_q``, ``mean_support``), and
    ``alive_by_count`` ``(max_count,)``: how many (chain, state) pairs whose count in the real data
    was ``k = 1..max_count`` still have non-zero probability.
    """
    s = settings
    q = zipf_probabilities(s["n_states"], s["exponent"])
    tails = tail_sets(q, s["tail_levels"])
    truth = CategoricalModel.from_probabilities(q, s["n_chains"])
    real = truth.sample(s["sample_size"], generation_rng(seed, 0, "data"))
    original = real.counts

    def record(model, generation):
        p = model.probabilities_
        mass = tail_mass(p, tails)
        support = support_size(p)
        return {"tail_mass_q": chain_quantiles(mass.T).T,
                "mean_tail_mass": mass.mean(axis=0), "sd_tail_mass": mass.std(axis=0),
                "support_q": chain_quantiles(support), "mean_support": support.mean(),
                "alive_by_count": survivors_by_count(p, original, s["max_count"])}

    history = run_generations(CategoricalModel, real, s["n_generations"], s["sample_size"],
                              make_policy(s["policy"], s["real_fraction"]), real_sampler=truth.sample, seed=seed,
                              record=record, run=run, progress=progress, description=f"tails {s['policy']}")
    history["tail_mass_true"] = tail_mass(q, tails)
    return history


register_spec("prevention_tails", run_tails, PreventionTailsSpec,
              "a Zipf-like distribution resampled: tail mass and the loss of rare states", version=2)


# ---------------------------------------------------------------------------------------------
# A two-component Gaussian mixture (the batched EM of collapse_lib.models.gmm)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PreventionGmmSpec(ExperimentSpec):
    """A two-component Gaussian mixture in the plane refitted by EM (:class:`~collapse_lib.models.gmm.PointMixture`)
    under one data policy. The truth is :func:`~collapse_lib.distributions.point_mixture_truth`: components
    N((+-separation/2, 0), I)."""

    separation: float = setting(4.0, NONNEGATIVE, "distance between the two true component means, "
                                "(+-separation/2, 0); unit covariances (data units)",
                                paper="one N(0, I) blob in the code; 'two Gaussians' in the text")
    sample_size: int = setting(100, Interval(int, 2, None), "M, points per generation", paper=1000)
    n_generations: int = setting(100, GENERATIONS, "recursive steps after generation 0", paper=2050)
    policy: str = setting("replace", POLICY, "data policy (collapse_lib.policies)", paper="replace")
    real_fraction: float = setting(0.0, FRACTION, "fresh real data per generation (policy 'mix' only)")
    n_chains: int = setting(200, POSITIVE_INT, "independent chains", paper="1 unseeded run")
    n_test: int = setting(500, POSITIVE_INT, "real points per chain on which the KL divergence to the truth is "
                          "estimated")
    tol: float = setting(1e-5, GaussianMixtureModel._parameter_constraints["tol"], "EM stopping rule: change of the mean log-likelihood (nats per point); "
                         "the paper's GaussianMixture(tol=1e-5, max_iter=2000)")
    max_iter: int = setting(2000, GaussianMixtureModel._parameter_constraints["max_iter"], "at most this many EM iterations per fit")
    reg_covar: float = setting(1e-6, GaussianMixtureModel._parameter_constraints["reg_covar"], "scikit-learn's default floor on the covariances (squared data "
                               "units)")

    # A two-component Gaussian mixture in the plane (batched EM), three policies; mix: prevention_gmm_mix.
    # "paper" uses the paper's M = 1000 but not its 2050 generations: accumulate refits EM to the whole
    # pool, (g + 1) M points per chain, so 500 generations over 10 chains already fit 2.5 billion points.
    profiles: ClassVar[dict] = {
        "smoke": dict(sample_size=50, n_generations=10, n_chains=50, n_test=200,
                      policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
        "book": dict(sample_size=50, n_generations=80, n_chains=200,
                     policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
        "paper": dict(sample_size=1000, n_generations=500, n_chains=10,
                      policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
    }

    @classmethod
    def check(cls, s: dict) -> dict:
        check_policy(s["policy"], s["real_fraction"])
        return s


#: The two-component mixture with 10% fresh real data per generation.
PreventionGmmMixSpec = preset(PreventionGmmSpec, "PreventionGmmMixSpec", profiles={
    "smoke": dict(sample_size=50, n_generations=10, n_chains=50, n_test=200, policy="mix", real_fraction=0.1),
    "book": dict(sample_size=50, n_generations=80, n_chains=200, policy="mix", real_fraction=Sweep([0.1])),
    "paper": dict(sample_size=1000, n_generations=500, n_chains=10, policy="mix", real_fraction=Sweep([0.1])),
})


def run_point_mixture(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Refit a two-component mixture (:class:`~collapse_lib.models.gmm.PointMixture`) to its own samples under one
    data policy.

    The truth is :func:`collapse_lib.distributions.point_mixture_truth`. Records per generation: ``kl_q``
    (quantiles over chains), ``mean_kl`` and ``sd_kl`` of the Kullback-Leibler divergence
    :math:`KL(p_0\\,\\|\\,\\hat p_g)` (nats, :func:`~collapse_lib.metrics.kl_estimate`), estimated on a fixed set
    of ``n_test`` real points per chain as the mean of :math:`\\log p_0(x) - \\log\\hat p_g(x)`;
    ``trace_ratio_q`` and ``mean_trace_ratio``, the trace of the fitted mixture's covariance over the
    truth's (:func:`~collapse_lib.metrics.mixture_total_variance`); ``mean_n_iter``, EM iterations; and
    ``regularised_fraction``, the fraction of chains whose covariance floor ``reg_covar`` was reached.
    """
    s = settings
    options = dict(tol=s["tol"], max_iter=s["max_iter"], reg_covar=s["reg_covar"])
    truth = PointMixture.from_params(**point_mixture_truth(s["separation"]), n_chains=s["n_chains"], **options)
    rng = generation_rng(seed, 0, "data")
    real = truth.sample(s["sample_size"], rng)
    test = truth.sample(s["n_test"], rng).points
    truth_score = truth.score(test)

    def mixture_trace(mixture):
        return mixture_total_variance(mixture.weights_, mixture.means_, mixture.covariances_)

    true_trace = mixture_trace(truth)[0]

    def record(model, generation):
        kl = kl_estimate(truth_score, model.score(test))
        trace_ratio = mixture_trace(model) / true_trace
        return {"kl_q": chain_quantiles(kl), "mean_kl": kl.mean(), "sd_kl": kl.std(),
                "trace_ratio_q": chain_quantiles(trace_ratio), "mean_trace_ratio": trace_ratio.mean(),
                "mean_n_iter": model.n_iter_.mean(), "regularised_fraction": model.regularised_.mean()}

    return run_generations(lambda: PointMixture(**options), real, s["n_generations"], s["sample_size"],
                           make_policy(s["policy"], s["real_fraction"]), real_sampler=truth.sample, seed=seed,
                           record=record, run=run, progress=progress, description=f"gmm {s['policy']}")


register_spec("prevention_gmm", run_point_mixture, PreventionGmmSpec,
              "a two-component Gaussian mixture under replace, accumulate and accumulate-subsample", version=2)
register_spec("prevention_gmm_mix", run_point_mixture, PreventionGmmMixSpec,
              "a two-component Gaussian mixture with a fraction of fresh real data", version=2)
