"""The debate around the paper, run: each position a small experiment with a closed form.

``debate_strong``
    Strong model collapse (Dohmatob, Feng, Subramonian and Kempe 2025): least squares on ``n``
    points of which a fixed fraction carry biased (synthetic) labels; the learning curve over ``n``.
``debate_tails``
    *A Tale of Tails* (Dohmatob, Feng, Yang, Charton and Kempe 2024): a model that memorises
    Zipf-distributed facts, trained on data whose generator lost the tail, with or without clean data mixed back.
``debate_temperature``
    Sampling at a temperature (Marchi et al. 2024): a categorical distribution refitted to its own
    samples drawn from :math:`p^{1/\\tau}`.
``debate_bias``
    Quality over diversity (Alemohammad et al. 2024): a 1-D Gaussian that only emits samples within
    ``truncation`` standard deviations of its mean, with or without fresh real data.
``debate_correction``
    Self-correction (Gillman et al. 2024): a 1-D Gaussian whose samples are moved a share λ towards a
    corrector's target before reuse; an exact corrector makes the loop exponentially stable, a biased one
    pulls it to its own view.
``debate_fixed_real``
    The fifth data policy, ``fixed-real`` (Bertrand et al. 2024): the d-dimensional Gaussian of
    :mod:`collapse_lib.experiments.prevention` refitted to the same real set plus its own samples.

Each experiment has a closed form in :mod:`collapse_lib.theory` that the tests and the scorecard check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..distributions import zipf_probabilities
from ..loop import run_generations
from ..metrics import Quantile, chain_quantiles, unseen_mass
from ..models.altered_gaussian import SelfCorrectingGaussian, TruncatedSamplingGaussian
from ..models.categorical import CategoricalModel, FilteredCategorical, TemperedCategorical
from ..policies import POLICY, check_policy, make_policy
from ..profiles import Sweep
from ..seeding import generation_rng
from ..spec import (FRACTION, GENERATIONS, NONNEGATIVE, NONNEGATIVE_INT, POSITIVE, POSITIVE_INT, ExperimentSpec,
                    Interval, ListOf, Options, setting)
from ..metrics import entropy
from ..theory import filter_reward, tail_cut_distribution
from ..validation import SettingError
from . import register_spec
from . import prevention


#: The sizes of a learning curve: positive, strictly increasing.
SIZES = ListOf(POSITIVE_INT, increasing=True)

# ---------------------------------------------------------------------------------------------
# Strong model collapse: a fixed fraction of biased labels
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StrongSpec(ExperimentSpec):
    """Strong model collapse: least squares on ``n`` rows, a fixed share ``p`` of them with biased labels."""

    dim: int = setting(10, POSITIVE_INT, "d, features of the linear model",
                       paper="random-features and linear models; a GPT-2 / ResNet check")
    noise_sd: float = setting(1.0, NONNEGATIVE, "sigma, standard deviation of every row's label noise (label units)")
    shift: float = setting(1.0, NONNEGATIVE, "||Delta||: the synthetic labels come from w* + Delta (a shift of the "
                           "labelling function; label units per unit feature)",
                           paper="the synthetic distribution's bias (a fixed shift of the labelling function)")
    synthetic_fraction: float = setting(0.1, FRACTION, "p, the share of rows with synthetic labels (the same at "
                                        "every n)", paper="swept; even p = 1e-3 keeps a plateau")
    sample_sizes: list = setting([30, 100, 300, 1000, 3000, 10000, 30000], SIZES,
                                 "n, training-set sizes of the learning curve (rows; each >= dim + 2)",
                                 paper="swept to large n")
    n_chains: int = setting(2000, POSITIVE_INT, "independent training sets per n")

    # Strong model collapse: least squares on n points, a fixed share p of them with biased labels.
    profiles: ClassVar[dict] = {
        "smoke": dict(synthetic_fraction=Sweep([0.0, 0.1]), sample_sizes=[30, 100, 300, 1000, 3000], n_chains=400),
        "book": dict(synthetic_fraction=Sweep([0.0, 0.01, 0.1, 0.5]), n_chains=2000),
        "paper": dict(synthetic_fraction=Sweep([0.0, 0.001, 0.01, 0.1, 0.5]), n_chains=20000,
                      sample_sizes=[30, 100, 300, 1000, 3000, 10000, 30000, 100000, 300000]),
    }

    @classmethod
    def check(cls, s: dict) -> dict:
        smallest = s["sample_sizes"][0]
        if smallest < s["dim"] + 2:
            raise SettingError(f"sample_sizes must each be >= dim + 2 = {s['dim'] + 2} (the expected error of least "
                               f"squares is finite only then), got {smallest}; raise the sizes or lower dim.")
        return s


def gaussian_gram(n_rows: int, dim: int, n_chains: int, rng: np.random.Generator) -> np.ndarray:
    """``X^T X`` of ``n_rows`` i.i.d. N(0, I_d) rows, per chain (Bartlett's decomposition for many rows)."""
    if n_rows == 0:
        return np.zeros((n_chains, dim, dim))
    if n_rows <= 2 * dim:
        x = rng.standard_normal((n_chains, n_rows, dim))
        return np.einsum("cki,ckj->cij", x, x)
    lower = np.zeros((n_chains, dim, dim))
    rows, cols = np.tril_indices(dim, -1)
    lower[:, rows, cols] = rng.standard_normal((n_chains, rows.size))
    lower[:, np.arange(dim), np.arange(dim)] = np.sqrt(rng.chisquare(n_rows - np.arange(dim), size=(n_chains, dim)))
    return lower @ lower.transpose(0, 2, 1)


def run_strong(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Fit least squares at each training-set size; record the test error :math:`\\|\\hat w - w^*\\|^2`.

    The error depends on :math:`w^*` only through :math:`\\hat w - w^* = A^{-1}(B\\Delta + X^\\top\\sigma\\varepsilon)`,
    so the run draws the Gram matrices (real rows :math:`R`, synthetic rows :math:`B`, :math:`A = R + B`)
    and :math:`X^\\top\\varepsilon\\mid A\\sim\\mathcal N(0, A)` exactly, without the rows themselves; the
    isotropic design makes the direction of :math:`\\Delta` irrelevant (it is the first axis).
    Records ``mean_test_error``, ``sd_test_error`` and ``test_error_q`` (quantiles over chains) per size.
    """
    s = settings
    d, chains = s["dim"], s["n_chains"]
    delta = np.zeros(d)
    delta[0] = s["shift"]
    means, sds, quantiles = [], [], []
    for i, n in enumerate(s["sample_sizes"]):
        rng = generation_rng(seed, i, "data")
        n_syn = int(round(s["synthetic_fraction"] * n))
        synthetic = gaussian_gram(n_syn, d, chains, rng)
        gram = synthetic + gaussian_gram(n - n_syn, d, chains, rng)
        noise = np.linalg.cholesky(gram) @ rng.standard_normal((chains, d, 1)) * s["noise_sd"]
        error_vector = np.linalg.solve(gram, synthetic @ delta[:, None] + noise)[..., 0]
        error = np.sum(error_vector**2, axis=1)
        means.append(error.mean())
        sds.append(error.std())
        quantiles.append(chain_quantiles(error))
    return {"sample_size": np.asarray(s["sample_sizes"]), "mean_test_error": np.asarray(means),
            "sd_test_error": np.asarray(sds), "test_error_q": np.asarray(quantiles)}


register_spec("debate_strong", run_strong, StrongSpec,
              "strong model collapse: least squares with a fixed share of biased labels, over n", version=1)


# ---------------------------------------------------------------------------------------------
# A tale of tails: Zipf facts, a generator that lost the tail
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TailsSpec(ExperimentSpec):
    """A tale of tails: a model that memorises Zipf-distributed facts, trained on data whose generator lost the
    tail, with or without clean data mixed back."""

    n_facts: int = setting(10000, Interval(int, 2, None), "K, facts (states), asked with Zipf probabilities",
                           paper="infinite support in the theory; transformers on arithmetic in the experiments")
    exponent: float = setting(2.0, POSITIVE, "beta, the Zipf exponent: p_k proportional to k^-beta (> 1 in the "
                              "theory)", paper="Zipf beta > 1 (beta = 2 in several figures)")
    cutoff: int = setting(100, NONNEGATIVE_INT, "k_0: the generator emits only the k_0 most frequent facts "
                          "(0: clean data; at most n_facts)", paper="swept")
    clean_fraction: float = setting(0.0, FRACTION, "pi, the share of training samples drawn from the clean "
                                    "distribution", paper="swept (mixing clean data: a plateau, then the clean "
                                    "curve again)")
    sample_sizes: list = setting([10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000, 300000, 1000000], SIZES,
                                 "T, training samples of the learning curve")
    n_chains: int = setting(200, POSITIVE_INT, "independent training sets per T")

    # A tale of tails: memorised Zipf facts; the chapter sets cutoff and clean_fraction per curve.
    profiles: ClassVar[dict] = {
        "smoke": dict(n_facts=2000, n_chains=50, sample_sizes=[10, 100, 1000, 10000, 100000, 1000000]),
        "book": dict(n_facts=10000, n_chains=200),
        "paper": dict(n_facts=100000, n_chains=1000,
                      sample_sizes=[10, 100, 1000, 10000, 100000, 1000000, 10000000]),
    }

    @classmethod
    def check(cls, s: dict) -> dict:
        if s["cutoff"] > s["n_facts"]:
            raise SettingError(f"cutoff must be <= n_facts = {s['n_facts']} (the facts the generator keeps), got "
                               f"{s['cutoff']}; lower cutoff or raise n_facts.")
        return s


def run_tail_cut(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Draw ``T`` training samples from the tail-cut mixture; the test error is the Zipf mass of unseen facts."""
    s = settings
    p = zipf_probabilities(s["n_facts"], s["exponent"])
    q = tail_cut_distribution(p, s["cutoff"], s["clean_fraction"])
    means, sds = [], []
    for i, size in enumerate(s["sample_sizes"]):
        counts = generation_rng(seed, i, "data").multinomial(size, q, size=s["n_chains"])
        error = unseen_mass(counts, p)
        means.append(error.mean())
        sds.append(error.std())
    return {"sample_size": np.asarray(s["sample_sizes"]), "mean_test_error": np.asarray(means),
            "sd_test_error": np.asarray(sds), "lost_mass": np.asarray(p[s["cutoff"]:].sum() if s["cutoff"] else 0.0)}


register_spec("debate_tails", run_tail_cut, TailsSpec,
              "a tale of tails: memorised Zipf facts, a generator that lost the tail, clean data mixed back",
              version=1)


# ---------------------------------------------------------------------------------------------
# Temperature: a categorical distribution refitted to its tempered samples
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TemperatureSpec(ExperimentSpec):
    """A categorical distribution refitted, generation after generation, to its own samples drawn at a
    temperature."""

    n_states: int = setting(50, Interval(int, 2, None), "K, states of the categorical distribution",
                            paper="a language model's vocabulary")
    exponent: float = setting(1.0, NONNEGATIVE, "the real distribution is Zipf: q_k proportional to k^-exponent "
                              "(0: uniform)")
    temperature: float = setting(1.0, POSITIVE, "tau: sampling draws from p^(1/tau), normalised",
                                 paper="tau < 1 collapses to a point, tau > 1 spreads towards uniform (a theorem for "
                                       "the infinite-sample limit)")
    sample_size: int = setting(1000, POSITIVE_INT, "M, samples per generation")
    n_generations: int = setting(30, GENERATIONS, "recursive steps after generation 0")
    policy: str = setting("replace", POLICY, "data policy (collapse_lib.policies)")
    n_chains: int = setting(500, POSITIVE_INT, "independent chains run together")

    # Sampling at a temperature: tau < 1, = 1, > 1.
    profiles: ClassVar[dict] = {
        "smoke": dict(temperature=Sweep([0.8, 1.0, 1.25]), n_generations=15, n_chains=100),
        "book": dict(temperature=Sweep([0.8, 1.0, 1.25]), n_generations=30, n_chains=500),
        "paper": dict(temperature=Sweep([0.8, 1.0, 1.25]), sample_size=10000, n_generations=100, n_chains=2000),
    }


def run_temperature(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Per generation: entropy (nats) and the largest probability, quantiles and means over chains."""
    s = settings
    q = zipf_probabilities(s["n_states"], s["exponent"])
    real = CategoricalModel.from_probabilities(q, s["n_chains"]).sample(s["sample_size"], generation_rng(seed, 0, "data"))

    def record(model, generation):
        h = entropy(model.probabilities_)
        top = model.probabilities_.max(axis=1)
        return {"entropy_q": chain_quantiles(h), "mean_entropy": h.mean(), "sd_entropy": h.std(),
                "mean_top": top.mean(), "mean_support": (model.probabilities_ > 0).sum(axis=1).mean()}

    return run_generations(lambda: TemperedCategorical(s["temperature"]), real, s["n_generations"], s["sample_size"],
                           s["policy"], seed=seed, record=record, run=run, progress=progress,
                           description=f"temperature {s['temperature']:g}")


register_spec("debate_temperature", run_temperature, TemperatureSpec,
              "a categorical distribution refitted to samples drawn at a temperature", version=2)


# ---------------------------------------------------------------------------------------------
# Quality over diversity: a Gaussian that samples only near its mean
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BiasSpec(ExperimentSpec):
    """Quality over diversity: a 1-D Gaussian (true N(0, 1)) that only emits samples near its fitted mean, with or
    without fresh real data."""

    truncation: float = setting(1.5, NONNEGATIVE, "a: samples only within a fitted standard deviations of the mean "
                                "(0: no truncation)", paper="sampling bias lambda < 1 (a guidance / truncation knob "
                                "of image models)")
    sample_size: int = setting(100, Interval(int, 3, None), "M, points per generation")
    n_generations: int = setting(40, GENERATIONS, "recursive steps after generation 0")
    policy: str = setting("replace", Options(("replace", "mix")), "'replace', or 'mix' (fresh real data)",
                          paper="fully synthetic, synthetic augmentation (fixed real), fresh data loops")
    real_fraction: float = setting(0.0, FRACTION, "gamma, fresh real data per generation (policy 'mix' only)")
    ddof: int = setting(1, Options((0, 1)), "1: the unbiased variance; 0: maximum likelihood")
    n_chains: int = setting(2000, POSITIVE_INT, "independent chains run together")

    # Quality over diversity (truncated sampling); the chapter sets truncation, policy and real_fraction per run.
    profiles: ClassVar[dict] = {
        "smoke": dict(n_generations=20, n_chains=300),
        "book": dict(n_generations=40, n_chains=2000),
        "paper": dict(n_generations=100, n_chains=20000),
    }

    @classmethod
    def check(cls, s: dict) -> dict:
        check_policy(s["policy"], s["real_fraction"])
        return s


def run_bias(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Per generation: the mean and spread over chains of the fitted variance and squared mean error."""
    s = settings
    chains = s["n_chains"]

    def real_sampler(n, rng):
        return rng.standard_normal((chains, n))

    def record(model, generation):
        return {"mean_variance": model.var_.mean(), "sd_variance": model.var_.std(),
                "variance_q": chain_quantiles(model.var_),
                "mean_sq_mean_error": np.mean(model.mean_**2), "sd_sq_mean_error": np.std(model.mean_**2)}

    real = real_sampler(s["sample_size"], generation_rng(seed, 0, "data"))
    return run_generations(lambda: TruncatedSamplingGaussian(s["truncation"], s["ddof"]), real, s["n_generations"],
                           s["sample_size"], make_policy(s["policy"], s["real_fraction"]), real_sampler=real_sampler,
                           seed=seed, record=record, run=run, progress=progress,
                           description=f"bias a={s['truncation']:g} {s['policy']}")


register_spec("debate_bias", run_bias, BiasSpec,
              "quality over diversity: a Gaussian that samples near its mean, with or without fresh data", version=2)


# ---------------------------------------------------------------------------------------------
# Self-correction (Gillman et al.): generated samples moved towards the truth before reuse
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CorrectionSpec(ExperimentSpec):
    """Self-correction: a 1-D Gaussian (true N(0, 1)) whose samples are moved towards a corrector's target before
    reuse (policy replace)."""

    correction: float = setting(0.2, FRACTION, "lambda: the share of the way each sample is moved towards the "
                                "corrector's target", paper="lambda > 0: the self-correction strength (Gillman et "
                                "al. 2024, Thm 4.2)")
    corrector_bias: float = setting(0.0, NONNEGATIVE, "delta: the corrector's target mean, in units of the true "
                                    "sigma (0: an exact corrector)",
                                    paper="0 (an ideal corrector); their practical one is a physics simulator")
    sample_size: int = setting(50, Interval(int, 3, None), "M, points per generation")
    n_generations: int = setting(100, GENERATIONS, "recursive steps after generation 0")
    ddof: int = setting(1, Options((0, 1)), "1: the unbiased variance; 0: maximum likelihood")
    n_chains: int = setting(2000, POSITIVE_INT, "independent chains run together")

    # Self-correction (Gillman et al.): no correction, an exact corrector, and a biased one.
    profiles: ClassVar[dict] = {
        "smoke": dict(correction=Sweep([0.0, 0.2]), corrector_bias=Sweep([0.0, 0.5]), n_generations=20, n_chains=400),
        "book": dict(correction=Sweep([0.0, 0.05, 0.2]), corrector_bias=Sweep([0.0, 0.5]), n_generations=100,
                     n_chains=2000),
        "paper": dict(correction=Sweep([0.0, 0.05, 0.2, 0.5]), corrector_bias=Sweep([0.0, 0.5]), n_generations=300,
                      n_chains=20000),
    }


def run_correction(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Per generation: the mean and sd over chains of the squared mean error and of the fitted variance."""
    s = settings
    chains = s["n_chains"]

    def record(model, generation):
        return {"mean_sq_mean_error": np.mean(model.mean_**2), "sd_sq_mean_error": np.std(model.mean_**2),
                "mean_variance": model.var_.mean(), "sd_variance": model.var_.std()}

    real = generation_rng(seed, 0, "data").standard_normal((chains, s["sample_size"]))
    return run_generations(lambda: SelfCorrectingGaussian(s["correction"], s["corrector_bias"], s["ddof"]), real,
                           s["n_generations"], s["sample_size"], make_policy("replace"), seed=seed, record=record,
                           run=run, progress=progress,
                           description=f"self-correction λ={s['correction']:g} δ={s['corrector_bias']:g}")


register_spec("debate_correction", run_correction, CorrectionSpec,
              "self-correction: a Gaussian whose samples are moved towards a corrector's target before reuse",
              version=2)


# ---------------------------------------------------------------------------------------------
# The fifth policy: a fixed real set plus generated data (Bertrand et al.)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FixedRealSpec(prevention.PreventionGaussianSpec):
    """The fifth data policy, ``fixed-real`` (Bertrand et al. 2024): the d-dimensional Gaussian of
    :class:`~collapse_lib.experiments.prevention.PreventionGaussianSpec` refitted every generation to the same
    ``real_sample_size`` real points plus ``sample_size`` points of its own."""

    policy: str = setting("fixed-real", POLICY, "data policy (collapse_lib.policies); 'fixed-real': the same real "
                          "set every generation",
                          paper="fixed real set, generated share lambda swept (Bertrand et al.)")

    # The fifth policy, fixed-real: the same r real points plus M generated ones every generation.
    profiles: ClassVar[dict] = {
        "smoke": dict(dim=3, sample_size=20, real_sample_size=Sweep([5, 20]), n_generations=20, n_chains=300),
        "book": dict(dim=5, sample_size=50, real_sample_size=Sweep([10, 50, 250]), n_generations=100, n_chains=1000),
        "paper": dict(dim=5, sample_size=50, real_sample_size=Sweep([10, 50, 250]), n_generations=1000,
                      n_chains=10000),
    }

    @classmethod
    def paper_values(cls) -> dict:
        """Bertrand et al.'s value of ``policy`` only (the other paper values of the prevention Gaussian are Kazdan
        et al.'s, another paper's settings)."""
        return {"policy": cls.field("policy").metadata["paper"]}


register_spec("debate_fixed_real", prevention.run_multivariate_gaussian, FixedRealSpec,
              "the d-dimensional Gaussian refitted to a fixed real set plus its own samples (policy fixed-real)",
              version=2)


__all__ = ["BiasSpec", "CorrectionSpec", "CurationSpec", "FixedRealSpec", "StrongSpec", "TailsSpec", "TemperatureSpec",
           "WeightingSpec", "gaussian_gram"]


# ---------------------------------------------------------------------------------------------
# What counts as collapse: the collapse profile of the book's runs
# ---------------------------------------------------------------------------------------------

def _se(mean_key, sd_key, result, chains):
    return result[mean_key], result[sd_key] / np.sqrt(chains)


def collapse_profile(profile: str, seed: int = 0, jobs: int = 1, store=None) -> list[dict]:
    """Which definitions of collapse (:data:`collapse_lib.metrics.COLLAPSE_DEFINITIONS`) each run meets.

    The runs are those of the chapters "What prevents collapse" and "The debate, run" at ``profile``
    (reused from the run store when they are there): the d-dimensional Gaussian and the linear
    regression and the two-component Gaussian mixture under replace, accumulate and accumulate-subsample,
    the Gaussian and the mixture under mix (10% fresh real data), the Gaussian under fixed-real (as many
    real points as generated ones), the Zipf tails under replace
    and accumulate, the paper's own single Gaussian (M = 100, both estimators, replace and accumulate), and the
    debate's temperature, curation, biased-sampling, self-correction, strong-collapse and tail-cut runs.
    Returns one dict per run: ``experiment``, ``policy``, ``measure`` (what the risk is) and one
    entry per definition (``True``, ``False`` or ``None`` where the run does not measure it).
    """
    from ..metrics import collapse_indicators
    from . import get_experiment, resolve_settings, run_experiment, run_sweep

    def sweep(name, **overrides):
        return [(s, r) for s, _, r in run_sweep(name, profile, seed, store=store, jobs=jobs, **overrides)]

    rows = []

    def add(experiment, policy, measure, **series):
        rows.append({"experiment": experiment, "policy": policy, "measure": measure, **collapse_indicators(**series)})

    def gaussian_row(label, s, r):
        risk, se = _se("mean_sq_mean_error", "sd_sq_mean_error", r, s["n_chains"])
        add("Gaussian (d-dim.)", label, "‖μ̂−μ‖²", risk=risk, risk_se=se,
            spread=r["trace_ratio_q"][:, Quantile.MEDIAN])

    for s, r in sweep("prevention_gaussian"):
        gaussian_row(s["policy"], s, r)
    mix_sample = resolve_settings("prevention_gaussian", profile)["sample_size"]
    for s, r in sweep("prevention_mix", real_fraction=0.1, real_sample_size=0):
        if s["sample_size"] == mix_sample:
            gaussian_row("mix 10%", s, r)
    as_many = resolve_settings("debate_fixed_real", profile)["sample_size"]  # as many real points as generated
    fixed = get_experiment("debate_fixed_real").validate(resolve_settings("debate_fixed_real", profile,
                                                                         real_sample_size=as_many))
    gaussian_row("fixed-real", fixed, run_experiment("debate_fixed_real", profile, seed, store=store,
                                                     real_sample_size=as_many))

    largest = max(resolve_settings("prevention_regression", profile)["design_size"])
    for s, r in sweep("prevention_regression", design_size=largest):
        risk, se = _se("mean_test_error", "sd_test_error", r, s["n_chains"])
        add("linear regression", s["policy"], "test error", risk=risk, risk_se=se)

    gmm = [(s["policy"], s, r) for s, r in sweep("prevention_gmm")]
    gmm += [(f"mix {s['real_fraction']:.0%}", s, r) for s, r in sweep("prevention_gmm_mix")]
    for label, s, r in gmm:
        add("Gaussian mixture (EM)", label, "KL(p₀‖p̂)", risk=r["mean_kl"], risk_se=r["sd_kl"] / np.sqrt(s["n_chains"]),
            spread=r["trace_ratio_q"][:, Quantile.MEDIAN])

    for s, r in sweep("prevention_tails"):
        level = s["tail_levels"].index(0.9) if 0.9 in s["tail_levels"] else -1
        alive = r["alive_by_count"][:, 0].astype(float)
        add("Zipf tails (categorical)", s["policy"], "—", tail_mass=r["tail_mass_q"][:, level, Quantile.MEDIAN],
            on_one_point=(r["support_q"][:, Quantile.MEDIAN] <= 1).astype(float),
            forgotten=1 - alive[-1] / alive[0] if alive[0] else None)

    for s, r in sweep("debate_temperature"):
        add("categorical, sampled at τ", f"replace, τ = {s['temperature']:g}", "—",
            spread=r["entropy_q"][:, Quantile.MEDIAN],
            on_one_point=(r["mean_top"] > 0.99).astype(float) * np.ones_like(r["mean_entropy"]))

    for policy in ("replace", "fixed-real"):
        r = run_experiment("debate_curation", profile, seed, store=store, policy=policy)
        add("categorical, curated", policy, "—", spread=r["mean_entropy"],
            on_one_point=(r["mean_favourite"] > 0.99).astype(float))

    for label, overrides in [("replace", dict(policy="replace")), ("mix 20%", dict(policy="mix", real_fraction=0.2))]:
        s = BiasSpec.validate(resolve_settings("debate_bias", profile, **overrides))
        r = run_experiment("debate_bias", profile, seed, store=store, **overrides)
        risk, se = _se("mean_sq_mean_error", "sd_sq_mean_error", r, s["n_chains"])
        add("Gaussian, truncated sampling", label, "(μ̂−μ)²", risk=risk, risk_se=se,
            spread=r["variance_q"][:, Quantile.MEDIAN])

    for s, r in sweep("debate_correction", corrector_bias=0.0):
        risk, se = _se("mean_sq_mean_error", "sd_sq_mean_error", r, s["n_chains"])
        add("Gaussian, self-corrected", f"replace, λ = {s['correction']:g}", "(μ̂−μ)²", risk=risk, risk_se=se)

    # the paper's own single Gaussian (its chapter's runs; M = 100, both estimators, replace and accumulate)
    for s, r in sweep("gaussian", sample_size=100):
        risk, se = _se("mean_sq_mean_error", "sd_sq_mean_error", r, s["n_chains"])
        add("Gaussian (1-D, the paper's)", f"{s['policy']}, ddof = {s['ddof']}", "(μ̂−μ)²", risk=risk, risk_se=se,
            spread=r["sigma_q"][:, Quantile.MEDIAN] ** 2)

    for s, r in sweep("debate_strong"):
        if s["synthetic_fraction"] in (0.0, 0.1):
            add("regression, share p synthetic", f"p = {s['synthetic_fraction']:g}", "test error over n",
                curve=(r["sample_size"], r["mean_test_error"]))
    for label, overrides in [("clean", dict(cutoff=0)), ("tail cut", dict(cutoff=100)),
                             ("tail cut + 10% clean", dict(cutoff=100, clean_fraction=0.1))]:
        r = run_experiment("debate_tails", profile, seed, store=store, **overrides)
        add("Zipf facts, memorised", label, "test error over T", curve=(r["sample_size"], r["mean_test_error"]))
    return rows


# ---------------------------------------------------------------------------------------------
# Verify and curate: a categorical model retrained on filtered samples
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CurationSpec(ExperimentSpec):
    """Verify and curate: a categorical model retrained on filtered samples of itself, with or without its real
    set."""

    n_states: int = setting(20, Interval(int, 2, None), "K, states of the categorical distribution")
    exponent: float = setting(1.0, NONNEGATIVE, "the real distribution is Zipf: q_k proportional to k^-exponent "
                              "(0: uniform)")
    favourite: int = setting(9, NONNEGATIVE_INT, "the state the filter prefers (0-based, below n_states; a rare "
                             "one: its real mass is small)")
    reward_scale: float = setting(1.0, NONNEGATIVE, "how strongly the filter prefers it: the favourite's reward "
                                  "(curate), or -log of every other state's acceptance probability (verify)")
    mode: str = setting("curate", FilteredCategorical._parameter_constraints["mode"], "'curate': the better of "
                        "two samples by a reward; 'verify': a verifier accepts or rejects each sample",
                        paper="curation by users picking the best of K (Ferbach et al.); verifier selection "
                              "(Feng et al.)")
    sample_size: int = setting(2000, POSITIVE_INT, "M, generated (filtered) samples per generation")
    real_sample_size: int = setting(2000, POSITIVE_INT, "M_0, samples of the real dataset (kept every generation "
                                    "under fixed-real)")
    n_generations: int = setting(30, GENERATIONS, "recursive steps after generation 0")
    policy: str = setting("replace", Options(("replace", "fixed-real")), "'replace', or 'fixed-real' (the real set "
                          "every generation)", paper="fully synthetic, or a share of real data each round")
    n_chains: int = setting(200, POSITIVE_INT, "independent chains run together")

    # Verify and curate: a filtered categorical loop, replace against fixed-real (the chapter sets mode and policy).
    profiles: ClassVar[dict] = {
        "smoke": dict(n_generations=15, n_chains=50),
        "book": dict(n_generations=30, n_chains=200),
        "paper": dict(n_generations=100, n_chains=1000, sample_size=10000, real_sample_size=10000),
    }

    @classmethod
    def check(cls, s: dict) -> dict:
        if s["favourite"] >= s["n_states"]:
            raise SettingError(f"favourite must be < n_states = {s['n_states']} (a 0-based state), got "
                               f"{s['favourite']}; pick a state in [0, {s['n_states'] - 1}].")
        return s


def run_curation(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Per generation: the mass on the favourite state (mean and sd over chains) and the entropy (nats)."""
    s = settings
    q = zipf_probabilities(s["n_states"], s["exponent"])
    reward = filter_reward(s["n_states"], s["favourite"], s["reward_scale"], s["mode"])
    real = CategoricalModel.from_probabilities(q, s["n_chains"]).sample(s["real_sample_size"],
                                                                       generation_rng(seed, 0, "data"))

    def record(model, generation):
        fav = model.probabilities_[:, s["favourite"]]
        h = entropy(model.probabilities_)
        return {"mean_favourite": fav.mean(), "sd_favourite": fav.std(), "mean_entropy": h.mean()}

    sizes = [s["real_sample_size"]] + [s["sample_size"]] * s["n_generations"]
    return run_generations(lambda: FilteredCategorical(reward, s["mode"]), real, s["n_generations"], sizes,
                           s["policy"], seed=seed, record=record, run=run, progress=progress,
                           description=f"{s['mode']} {s['policy']}")


register_spec("debate_curation", run_curation, CurationSpec,
              "a categorical model retrained on curated or verified samples, with or without its real set", version=1)


# ---------------------------------------------------------------------------------------------
# Weighting fresh real data against synthetic data (He, Xu and Cheng)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WeightingSpec(ExperimentSpec):
    """A mean (true N(0, 1) data) refitted each generation to fresh real and synthetic data, with a weight on the
    real part."""

    real_size: int = setting(50, POSITIVE_INT, "n, fresh real points per generation")
    synthetic_size: int = setting(50, POSITIVE_INT, "m, points of the previous model per generation",
                                  paper="the proportion of synthetic data swept")
    real_weight: float = setting(0.618, FRACTION, "w, the weight of the real points' mean in the fit",
                                 paper="optimal weight swept; 1/golden ratio in some cases")
    n_generations: int = setting(40, GENERATIONS, "recursive steps after generation 0")
    n_chains: int = setting(20000, POSITIVE_INT, "independent chains run together")

    # Weighting fresh real against synthetic data: the weight on the real part swept around 1/golden ratio.
    profiles: ClassVar[dict] = {
        "smoke": dict(real_weight=Sweep([0.3, 0.618, 1.0]), n_chains=5000, n_generations=30),
        "book": dict(real_weight=Sweep([0.2, 0.3, 0.4, 0.5, 0.618, 0.75, 0.9, 1.0]), n_chains=40000),
        "paper": dict(real_weight=Sweep([0.1, 0.2, 0.3, 0.4, 0.5, 0.618, 0.75, 0.9, 1.0]), n_chains=400000,
                      n_generations=100),
    }


def run_weighting(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """The weighted mean of fresh real and synthetic data, refitted each generation (sample means drawn exactly).

    Records ``mean_sq_mean_error`` and ``sd_sq_mean_error`` of :math:`(\\hat\\mu_g - \\mu)^2` over chains (true
    mean 0, σ = 1).
    """
    s = settings
    n, m, w, chains = s["real_size"], s["synthetic_size"], s["real_weight"], s["n_chains"]
    mu = generation_rng(seed, 0, "data").standard_normal(chains) / np.sqrt(n)
    errors = [mu**2]
    for g in range(1, s["n_generations"] + 1):
        real = generation_rng(seed, g, "real").standard_normal(chains) / np.sqrt(n)
        synthetic = mu + generation_rng(seed, g, "sample").standard_normal(chains) / np.sqrt(m)
        mu = w * real + (1 - w) * synthetic
        errors.append(mu**2)
    errors = np.array(errors)
    return {"generation": np.arange(s["n_generations"] + 1), "mean_sq_mean_error": errors.mean(axis=1),
            "sd_sq_mean_error": errors.std(axis=1)}


register_spec("debate_weighting", run_weighting, WeightingSpec,
              "a mean refitted to fresh real and synthetic data, with a weight on the real part", version=2)
