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

import numpy as np
from scipy import special

from ..loop import run_generations
from ..metrics import Quantile, chain_quantiles
from ..models.categorical import CategoricalModel
from ..policies import DataPolicy
from ..seeding import generation_rng
from ..sufficient_stats import CategoryCounts
from ..theory import entropy, tail_cut_distribution
from ..validation import (SettingError, check_choice, check_fraction, check_generations, check_int,
                          check_nonnegative_float, check_positive_float, check_positive_int)
from . import Experiment, register
from . import prevention


def _check_sizes(name: str, values, minimum: int) -> list[int]:
    values = [check_int(name, v, minimum=minimum) for v in (values if isinstance(values, (list, tuple)) else [values])]
    if not values or sorted(set(values)) != values:
        raise SettingError(f"{name} must be a non-empty increasing list of sizes, got {values}.")
    return values


# ---------------------------------------------------------------------------------------------
# Strong model collapse: a fixed fraction of biased labels
# ---------------------------------------------------------------------------------------------

STRONG_DEFAULTS = dict(
    dim=10,                      # d, features
    noise_sd=1.0,                # sigma, label noise of every row
    shift=1.0,                   # ||Delta||: the synthetic labels come from w* + Delta
    synthetic_fraction=0.1,      # p, the share of rows with synthetic labels (the same at every n)
    sample_sizes=[30, 100, 300, 1000, 3000, 10000, 30000],  # n, training set sizes of the learning curve
    n_chains=2000,               # independent training sets per n
)

STRONG_PAPER = dict(synthetic_fraction="swept; even p = 1e-3 keeps a plateau", sample_sizes="swept to large n",
                    dim="random-features and linear models; a GPT-2 / ResNet check",
                    shift="the synthetic distribution's bias (a fixed shift of the labelling function)")


def validate_strong(settings: dict) -> dict:
    s = dict(settings)
    s["dim"] = check_positive_int("dim", s["dim"])
    s["noise_sd"] = check_nonnegative_float("noise_sd", s["noise_sd"])
    s["shift"] = check_nonnegative_float("shift", s["shift"])
    s["synthetic_fraction"] = check_fraction("synthetic_fraction", s["synthetic_fraction"])
    s["sample_sizes"] = _check_sizes("sample_sizes", s["sample_sizes"], s["dim"] + 2)
    s["n_chains"] = check_positive_int("n_chains", s["n_chains"])
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


register(Experiment("debate_strong", run_strong, STRONG_DEFAULTS, validate_strong,
                    "strong model collapse: least squares with a fixed share of biased labels, over n", version=1,
                    paper=STRONG_PAPER))


# ---------------------------------------------------------------------------------------------
# A tale of tails: Zipf facts, a generator that lost the tail
# ---------------------------------------------------------------------------------------------

TAILS_DEFAULTS = dict(
    n_facts=10000,               # K, facts (states), asked with Zipf probabilities
    exponent=2.0,                # beta > 1, p_k proportional to k^-beta
    cutoff=100,                  # k_0: the generator emits only the k_0 most frequent facts (0: clean data)
    clean_fraction=0.0,          # pi, the share of training samples drawn from the clean distribution
    sample_sizes=[10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000, 300000, 1000000],  # T
    n_chains=200,                # independent training sets per T
)

TAILS_PAPER = dict(exponent="Zipf beta > 1 (beta = 2 in several figures)", cutoff="swept",
                   clean_fraction="swept (mixing clean data: a plateau, then the clean curve again)",
                   n_facts="infinite support in the theory; transformers on arithmetic in the experiments")


def validate_tails(settings: dict) -> dict:
    s = dict(settings)
    s["n_facts"] = check_int("n_facts", s["n_facts"], minimum=2)
    s["exponent"] = check_positive_float("exponent", s["exponent"])
    s["cutoff"] = check_int("cutoff", s["cutoff"], minimum=0, maximum=s["n_facts"])
    s["clean_fraction"] = check_fraction("clean_fraction", s["clean_fraction"])
    s["sample_sizes"] = _check_sizes("sample_sizes", s["sample_sizes"], 1)
    s["n_chains"] = check_positive_int("n_chains", s["n_chains"])
    return s


def run_tails(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Draw ``T`` training samples from the tail-cut mixture; the test error is the Zipf mass of unseen facts."""
    s = settings
    p = prevention.zipf_probabilities(s["n_facts"], s["exponent"])
    q = tail_cut_distribution(p, s["cutoff"], s["clean_fraction"])
    means, sds = [], []
    for i, size in enumerate(s["sample_sizes"]):
        counts = generation_rng(seed, i, "data").multinomial(size, q, size=s["n_chains"])
        error = (counts == 0) @ p
        means.append(error.mean())
        sds.append(error.std())
    return {"sample_size": np.asarray(s["sample_sizes"]), "mean_test_error": np.asarray(means),
            "sd_test_error": np.asarray(sds), "lost_mass": np.asarray(p[s["cutoff"]:].sum() if s["cutoff"] else 0.0)}


register(Experiment("debate_tails", run_tails, TAILS_DEFAULTS, validate_tails,
                    "a tale of tails: memorised Zipf facts, a generator that lost the tail, clean data mixed back",
                    version=1, paper=TAILS_PAPER))


# ---------------------------------------------------------------------------------------------
# Temperature: a categorical distribution refitted to its tempered samples
# ---------------------------------------------------------------------------------------------

class TemperedCategorical(CategoricalModel):
    """A :class:`~collapse_lib.models.categorical.CategoricalModel` that samples from :math:`p^{1/\\tau}/Z`."""

    def __init__(self, temperature: float = 1.0):
        self.temperature = check_positive_float("temperature", temperature)

    def sample(self, n: int, rng: np.random.Generator) -> CategoryCounts:
        from ..theory import tempered
        n = check_positive_int("sample size", n)
        return CategoryCounts(rng.multinomial(n, tempered(self.probabilities_, self.temperature)).astype(np.int64))


TEMPERATURE_DEFAULTS = dict(
    n_states=50,             # K
    exponent=1.0,            # the real distribution: Zipf, q_k proportional to k^-exponent
    temperature=1.0,         # tau: sampling draws from p^(1/tau)
    sample_size=1000,        # M, samples per generation
    n_generations=30,        # recursive steps after generation 0
    policy="replace",        # collapse_lib.policies
    n_chains=500,
)

TEMPERATURE_PAPER = dict(temperature="tau < 1 collapses to a point, tau > 1 spreads towards uniform (a theorem "
                                     "for the infinite-sample limit)", n_states="a language model's vocabulary")


def validate_temperature(settings: dict) -> dict:
    s = dict(settings)
    s["n_states"] = check_int("n_states", s["n_states"], minimum=2)
    s["exponent"] = check_nonnegative_float("exponent", s["exponent"])
    s["temperature"] = check_positive_float("temperature", s["temperature"])
    s["sample_size"] = check_positive_int("sample_size", s["sample_size"])
    s["n_generations"] = check_generations(s["n_generations"])
    DataPolicy(s["policy"])
    s["n_chains"] = check_positive_int("n_chains", s["n_chains"])
    return s


def run_temperature(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Per generation: entropy (nats) and the largest probability, quantiles and means over chains."""
    s = settings
    q = prevention.zipf_probabilities(s["n_states"], s["exponent"])
    real = CategoricalModel.from_probabilities(q, s["n_chains"]).sample(s["sample_size"], generation_rng(seed, 0, "data"))

    def record(model, generation):
        h = entropy(model.probabilities_)
        top = model.probabilities_.max(axis=1)
        return {"entropy_q": chain_quantiles(h), "mean_entropy": h.mean(), "sd_entropy": h.std(),
                "mean_top": top.mean(), "mean_support": (model.probabilities_ > 0).sum(axis=1).mean()}

    return run_generations(lambda: TemperedCategorical(s["temperature"]), real, s["n_generations"], s["sample_size"],
                           s["policy"], seed=seed, record=record, run=run, progress=progress,
                           description=f"temperature {s['temperature']:g}")


register(Experiment("debate_temperature", run_temperature, TEMPERATURE_DEFAULTS, validate_temperature,
                    "a categorical distribution refitted to samples drawn at a temperature", version=2,
                    paper=TEMPERATURE_PAPER))


# ---------------------------------------------------------------------------------------------
# Quality over diversity: a Gaussian that samples only near its mean
# ---------------------------------------------------------------------------------------------

class TruncatedSamplingGaussian:
    """``n_chains`` 1-D Gaussians fitted by mean and variance (``ddof``) that sample only within
    ``truncation`` fitted standard deviations of the mean (0: no truncation). Datasets are arrays
    ``(n_chains, M)``; samples lie along axis 1."""

    sample_axis = 1

    def __init__(self, truncation: float = 0.0, ddof: int = 1):
        self.truncation, self.ddof = truncation, ddof

    def fit(self, data, rng=None):
        data = np.asarray(data, dtype=float)
        self.mean_, self.var_ = data.mean(axis=1), data.var(axis=1, ddof=self.ddof)
        return self

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        a = self.truncation
        low = special.ndtr(-a) if a > 0 else 0.0
        u = rng.uniform(low, 1 - low, size=(self.mean_.size, n))
        return self.mean_[:, None] + np.sqrt(self.var_)[:, None] * special.ndtri(u)

    def get_params(self):
        return {"mean": self.mean_, "var": self.var_}

    def set_params(self, params):
        self.mean_, self.var_ = np.asarray(params["mean"]), np.asarray(params["var"])
        return self


BIAS_DEFAULTS = dict(
    truncation=1.5,          # a: samples only within a fitted standard deviations of the mean (0: no truncation)
    sample_size=100,         # M
    n_generations=40,
    policy="replace",        # replace, or mix (fresh real data)
    real_fraction=0.0,       # gamma, for policy mix
    ddof=1,
    n_chains=2000,
)

BIAS_PAPER = dict(truncation="sampling bias lambda < 1 (a guidance / truncation knob of image models)",
                  policy="fully synthetic, synthetic augmentation (fixed real), fresh data loops")


def validate_bias(settings: dict) -> dict:
    s = dict(settings)
    s["truncation"] = check_nonnegative_float("truncation", s["truncation"])
    s["sample_size"] = check_int("sample_size", s["sample_size"], minimum=3)
    s["n_generations"] = check_generations(s["n_generations"])
    check_choice("policy", s["policy"], ("replace", "mix"))
    s["real_fraction"] = check_fraction("real_fraction", s["real_fraction"])
    DataPolicy(s["policy"], s["real_fraction"])
    s["ddof"] = check_int("ddof", s["ddof"], minimum=0, maximum=1)
    s["n_chains"] = check_positive_int("n_chains", s["n_chains"])
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
                           s["sample_size"], DataPolicy(s["policy"], s["real_fraction"]), real_sampler=real_sampler,
                           seed=seed, record=record, run=run, progress=progress,
                           description=f"bias a={s['truncation']:g} {s['policy']}")


register(Experiment("debate_bias", run_bias, BIAS_DEFAULTS, validate_bias,
                    "quality over diversity: a Gaussian that samples near its mean, with or without fresh data",
                    version=2, paper=BIAS_PAPER))


# ---------------------------------------------------------------------------------------------
# Self-correction (Gillman et al.): generated samples moved towards the truth before reuse
# ---------------------------------------------------------------------------------------------

class SelfCorrectingGaussian:
    """``n_chains`` 1-D Gaussians fitted by mean and variance (``ddof``) whose samples are corrected before reuse.

    A sample :math:`x` of the fitted :math:`\mathcal N(\hat\mu, \hat\sigma^2)` is moved a share λ
    (``correction``) of the way along the optimal-transport map to the corrector's target
    :math:`\mathcal N(\delta, 1)` (the truth is :math:`\mathcal N(0, 1)`; ``corrector_bias`` δ ≠ 0 is a
    corrector with the wrong physics): :math:`x' = x + \lambda\,[\delta + (x-\hat\mu)/\hat\sigma - x]`.
    Datasets are arrays ``(n_chains, M)``; samples lie along axis 1.
    """

    sample_axis = 1

    def __init__(self, correction: float = 0.0, corrector_bias: float = 0.0, ddof: int = 1):
        self.correction, self.corrector_bias, self.ddof = correction, corrector_bias, ddof

    def fit(self, data, rng=None):
        data = np.asarray(data, dtype=float)
        self.mean_, self.var_ = data.mean(axis=1), data.var(axis=1, ddof=self.ddof)
        return self

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        sd = np.sqrt(self.var_)[:, None]
        x = self.mean_[:, None] + sd * rng.standard_normal((self.mean_.size, n))
        target = self.corrector_bias + (x - self.mean_[:, None]) / np.where(sd > 0, sd, 1.0)
        return x + self.correction * (target - x)

    def get_params(self):
        return {"mean": self.mean_, "var": self.var_}

    def set_params(self, params):
        self.mean_, self.var_ = np.asarray(params["mean"]), np.asarray(params["var"])
        return self


CORRECTION_DEFAULTS = dict(
    correction=0.2,          # lambda: the share of the way each sample is moved towards the corrector's target
    corrector_bias=0.0,      # delta: the corrector's target mean, in units of the true sigma (0: exact)
    sample_size=50,          # M
    n_generations=100,
    ddof=1,
    n_chains=2000,
)

CORRECTION_PAPER = dict(correction="lambda > 0: the self-correction strength (Gillman et al. 2024, Thm 4.2)",
                        corrector_bias="0 (an ideal corrector); their practical one is a physics simulator")


def validate_correction(settings: dict) -> dict:
    s = dict(settings)
    s["correction"] = check_fraction("correction", s["correction"])
    s["corrector_bias"] = check_nonnegative_float("corrector_bias", s["corrector_bias"])
    s["sample_size"] = check_int("sample_size", s["sample_size"], minimum=3)
    s["n_generations"] = check_generations(s["n_generations"])
    s["ddof"] = check_int("ddof", s["ddof"], minimum=0, maximum=1)
    s["n_chains"] = check_positive_int("n_chains", s["n_chains"])
    return s


def run_correction(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Per generation: the mean and sd over chains of the squared mean error and of the fitted variance."""
    s = settings
    chains = s["n_chains"]

    def record(model, generation):
        return {"mean_sq_mean_error": np.mean(model.mean_**2), "sd_sq_mean_error": np.std(model.mean_**2),
                "mean_variance": model.var_.mean(), "sd_variance": model.var_.std()}

    real = generation_rng(seed, 0, "data").standard_normal((chains, s["sample_size"]))
    return run_generations(lambda: SelfCorrectingGaussian(s["correction"], s["corrector_bias"], s["ddof"]), real,
                           s["n_generations"], s["sample_size"], DataPolicy("replace"), seed=seed, record=record,
                           run=run, progress=progress,
                           description=f"self-correction λ={s['correction']:g} δ={s['corrector_bias']:g}")


register(Experiment("debate_correction", run_correction, CORRECTION_DEFAULTS, validate_correction,
                    "self-correction: a Gaussian whose samples are moved towards a corrector's target before reuse",
                    version=2, paper=CORRECTION_PAPER))


# ---------------------------------------------------------------------------------------------
# The fifth policy: a fixed real set plus generated data (Bertrand et al.)
# ---------------------------------------------------------------------------------------------

register(Experiment("debate_fixed_real", prevention.run_multivariate_gaussian,
                    {**prevention.GAUSSIAN_DEFAULTS, "policy": "fixed-real"}, prevention.validate_gaussian,
                    "the d-dimensional Gaussian refitted to a fixed real set plus its own samples (policy fixed-real)",
                    version=2, paper=dict(policy="fixed real set, generated share lambda swept (Bertrand et al.)")))


__all__ = ["FilteredCategorical", "SelfCorrectingGaussian", "TemperedCategorical", "TruncatedSamplingGaussian",
           "gaussian_gram"]


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
    from . import resolve_settings, run_experiment, run_sweep

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
    fixed = prevention.validate_gaussian(resolve_settings("debate_fixed_real", profile, real_sample_size=as_many))
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
        s = validate_bias(resolve_settings("debate_bias", profile, **overrides))
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

def filter_reward(n_states: int, favourite: int, reward_scale: float, mode: str) -> np.ndarray:
    """The reward (``curate``) or acceptance probability (``verify``) of each state: it prefers ``favourite``.

    ``curate``: :math:`r_k = ` ``reward_scale`` for the favourite, 0 elsewhere. ``verify``: the favourite
    is always accepted, every other state with probability :math:`e^{-\\text{reward\\_scale}}`.
    """
    if mode == "curate":
        reward = np.zeros(n_states)
        reward[favourite] = reward_scale
        return reward
    accept = np.full(n_states, np.exp(-reward_scale))
    accept[favourite] = 1.0
    return accept


class FilteredCategorical(CategoricalModel):
    """A categorical model whose samples pass a filter before reuse: the better of two by a reward
    (``curate``), or those a verifier accepts (``verify``); see :func:`collapse_lib.theory.curated`."""

    def __init__(self, reward, mode: str = "curate"):
        self.reward, self.mode = np.asarray(reward, dtype=float), check_choice("mode", mode, ("curate", "verify"))

    def sample(self, n: int, rng: np.random.Generator) -> CategoryCounts:
        from ..theory import curated
        n = check_positive_int("sample size", n)
        kept = np.array([curated(p, self.reward, self.mode, 1)[-1] for p in self.probabilities_])
        return CategoryCounts(rng.multinomial(n, kept).astype(np.int64))


CURATION_DEFAULTS = dict(
    n_states=20,             # K
    exponent=1.0,            # the real distribution: Zipf
    favourite=9,             # the state the filter prefers (0-based; a rare one: its real mass is small)
    reward_scale=1.0,        # how strongly the filter prefers it
    mode="curate",           # curate (best of two by a reward) or verify (a verifier accepts or rejects)
    sample_size=2000,        # M generated (filtered) samples per generation
    real_sample_size=2000,   # M_0, the real dataset (kept every generation under fixed-real)
    n_generations=30,
    policy="replace",        # replace, or fixed-real (the real set every generation)
    n_chains=200,
)

CURATION_PAPER = dict(mode="curation by users picking the best of K (Ferbach et al.); verifier selection (Feng et al.)",
                      policy="fully synthetic, or a share of real data each round")


def validate_curation(settings: dict) -> dict:
    s = dict(settings)
    s["n_states"] = check_int("n_states", s["n_states"], minimum=2)
    s["exponent"] = check_nonnegative_float("exponent", s["exponent"])
    s["favourite"] = check_int("favourite", s["favourite"], minimum=0, maximum=s["n_states"] - 1)
    s["reward_scale"] = check_nonnegative_float("reward_scale", s["reward_scale"])
    check_choice("mode", s["mode"], ("curate", "verify"))
    s["sample_size"] = check_positive_int("sample_size", s["sample_size"])
    s["real_sample_size"] = check_positive_int("real_sample_size", s["real_sample_size"])
    s["n_generations"] = check_generations(s["n_generations"])
    check_choice("policy", s["policy"], ("replace", "fixed-real"))
    s["n_chains"] = check_positive_int("n_chains", s["n_chains"])
    return s


def run_curation(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Per generation: the mass on the favourite state (mean and sd over chains) and the entropy (nats)."""
    s = settings
    q = prevention.zipf_probabilities(s["n_states"], s["exponent"])
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


register(Experiment("debate_curation", run_curation, CURATION_DEFAULTS, validate_curation,
                    "a categorical model retrained on curated or verified samples, with or without its real set",
                    version=1, paper=CURATION_PAPER))


# ---------------------------------------------------------------------------------------------
# Weighting fresh real data against synthetic data (He, Xu and Cheng)
# ---------------------------------------------------------------------------------------------

WEIGHTING_DEFAULTS = dict(
    real_size=50,            # n fresh real points per generation
    synthetic_size=50,       # m points of the previous model per generation
    real_weight=0.618,       # w, the weight of the real points' mean in the fit
    n_generations=40,
    n_chains=20000,
)

WEIGHTING_PAPER = dict(real_weight="optimal weight swept; 1/golden ratio in some cases",
                       synthetic_size="the proportion of synthetic data swept")


def validate_weighting(settings: dict) -> dict:
    s = dict(settings)
    s["real_size"] = check_positive_int("real_size", s["real_size"])
    s["synthetic_size"] = check_positive_int("synthetic_size", s["synthetic_size"])
    s["real_weight"] = check_fraction("real_weight", s["real_weight"])
    s["n_generations"] = check_generations(s["n_generations"])
    s["n_chains"] = check_positive_int("n_chains", s["n_chains"])
    return s


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


register(Experiment("debate_weighting", run_weighting, WEIGHTING_DEFAULTS, validate_weighting,
                    "a mean refitted to fresh real and synthetic data, with a weight on the real part", version=2,
                    paper=WEIGHTING_PAPER))
