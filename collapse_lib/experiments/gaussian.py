"""The single-Gaussian recursion (paper SI Figs. 3-5; Theorem 3.1), over many seeded chains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..loop import run_generations
from ..metrics import chain_quantiles, w2_squared_gaussian_1d
from ..models.gaussian import GaussianModel
from ..policies import POLICY, make_policy, check_policy
from ..profiles import Sweep
from ..sample_sizes import SCHEDULES, sample_size_schedule
from ..seeding import generation_rng
from ..spec import FRACTION, GENERATIONS, POSITIVE_INT, ExperimentSpec, Interval, Options, preset, setting
from ..sufficient_stats import _rows_without_replacement
from ..theory import expected_subsample_mean_sq_error
from ..validation import SettingError
from . import register_spec

#: The paper's sample sizes M of SI Figs. 3-5.
PAPER_SAMPLE_SIZES = Sweep([100, 500, 1000, 10000])


@dataclass(frozen=True)
class GaussianSpec(ExperimentSpec):
    """The single-Gaussian recursion over ``n_chains`` independent chains (SI Figs. 3-5; Theorem 3.1)."""

    mu: float = setting(0.0, Interval(float), "true mean of the real data", paper=0)
    sigma: float = setting(1.0, Interval(float, 0, None, closed="neither"),
                           "true standard deviation of the real data", paper=1)
    sample_size: int = setting(100, POSITIVE_INT, "M_0, points per generation (2 or more: a standard deviation "
                               "is estimated)", paper="100, 500, 1000, 10000")
    schedule: str = setting("constant", Options(SCHEDULES), "how M_i grows with the generation "
                            "(collapse_lib.sample_sizes)")
    growth: float = setting(2.0, Interval(float, 0, None, closed="neither"), "ratio of the geometric schedule")
    n_generations: int = setting(1000, GENERATIONS, "recursive steps after generation 0", paper=1000)
    ddof: int = setting(0, GaussianModel._parameter_constraints["ddof"], "0: the official code's np.std (MLE); 1: the theorem's unbiased "
                        "estimator", paper="0 (code) / 1 (theorem)")
    policy: str = setting("replace", POLICY, "data policy (collapse_lib.policies)",
                          paper="replace; accumulate (SI Figs. 4-5)")
    real_fraction: float = setting(0.0, FRACTION, "fresh real data per generation (policy 'mix' only)")
    n_chains: int = setting(1000, Interval(int, 1, None), "independent chains run together",
                            paper="1 unseeded run per M")
    method: str = setting("sufficient", GaussianModel._parameter_constraints["method"], "'sufficient' (exact, O(1) per chain) or 'samples' "
                          "(literal draws)", paper="samples")
    keep_chains: int = setting(5, Interval(int, 0, None), "chains whose raw (mu, sigma) trajectory is stored")

    profiles: ClassVar[dict] = {
        "smoke": dict(sample_size=Sweep([100, 1000]), n_generations=40, n_chains=200,
                      ddof=Sweep([0, 1]), policy=Sweep(["replace", "accumulate"])),
        "book": dict(sample_size=PAPER_SAMPLE_SIZES, n_generations=1000, n_chains=1000,
                     ddof=Sweep([0, 1]), policy=Sweep(["replace", "accumulate"])),
        # The paper's M, generations, estimators and policies, over 10,000 chains. The exact
        # sufficient-statistic sampler is used: literal samples (--set method=samples) give the
        # same distribution but an accumulate pool of M=10,000 reaches ~80 GB by generation 1000.
        "paper": dict(sample_size=PAPER_SAMPLE_SIZES, n_generations=1000, n_chains=10000,
                      ddof=Sweep([0, 1]), policy=Sweep(["replace", "accumulate"])),
    }

    @classmethod
    def check(cls, s: dict) -> dict:
        if s["sample_size"] < 2:
            raise SettingError(f"sample_size must be >= 2 to estimate a standard deviation, got {s['sample_size']}.")
        check_policy(s["policy"], s["real_fraction"])
        sample_size_schedule(s["sample_size"], s["n_generations"], s["schedule"], s["growth"])
        return s


#: Theorem 3.1 checks with growing sample sizes (formulas G1-G6); growth: the geometric ratio, chosen so that M
#: stays below ~1e8 at the last generation.
GaussianTheorySpec = preset(GaussianSpec, "GaussianTheorySpec", profiles={
    "smoke": dict(sample_size=20, n_generations=30, n_chains=4000, ddof=Sweep([0, 1]), growth=1.5,
                  schedule=Sweep(["constant", "linear", "quadratic", "geometric"])),
    "book": dict(sample_size=20, n_generations=200, n_chains=20000, ddof=Sweep([0, 1]), growth=1.08,
                 schedule=Sweep(["constant", "linear", "quadratic", "geometric"])),
    "paper": dict(sample_size=100, n_generations=1000, n_chains=100000, ddof=Sweep([0, 1]), growth=1.014,
                  schedule=Sweep(["constant", "linear", "quadratic", "geometric"])),
})


def record_gaussian(model: GaussianModel, mu: float, sigma: float, keep_chains: int) -> dict:
    """Per-generation summary over chains: quantiles of the errors, means and standard deviations
    (over chains) of the squared errors, and the raw trajectories of the first ``keep_chains`` chains."""
    mean_sq = (model.mu_ - mu) ** 2
    std_sq = (model.sigma_ - sigma) ** 2
    w2_sq = mean_sq + std_sq
    log_var = np.log(model.sigma_**2)
    return {
        "abs_mean_error_q": chain_quantiles(np.sqrt(mean_sq)),
        "abs_std_error_q": chain_quantiles(np.sqrt(std_sq)),
        "w2_q": chain_quantiles(np.sqrt(w2_squared_gaussian_1d(model.mu_, model.sigma_, mu, sigma))),
        "sigma_q": chain_quantiles(model.sigma_),
        "mean_sq_mean_error": mean_sq.mean(),
        "sd_sq_mean_error": mean_sq.std(),
        "mean_sq_std_error": std_sq.mean(),
        "sd_sq_std_error": std_sq.std(),
        "mean_w2_sq": w2_sq.mean(),
        "sd_w2_sq": w2_sq.std(),
        "mean_variance": (model.sigma_**2).mean(),
        "sd_variance": (model.sigma_**2).std(),
        "marginal_variance": (model.sigma_**2 + mean_sq).mean(),
        "mean_log_variance": log_var.mean(),
        "sd_log_variance": log_var.std(),
        "chain_mu": model.mu_[:keep_chains],
        "chain_sigma": model.sigma_[:keep_chains],
    }


def run_gaussian(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Run ``n_chains`` chains of the Gaussian recursion; see :class:`GaussianSpec` for the settings."""
    s = settings
    sizes = sample_size_schedule(s["sample_size"], s["n_generations"], s["schedule"], s["growth"])
    truth = GaussianModel.from_params(s["mu"], s["sigma"], s["n_chains"], s["ddof"], s["method"])
    real = truth.sample(int(sizes[0]), generation_rng(seed, 0, "data"))
    history = run_generations(
        lambda: GaussianModel(s["ddof"], s["method"]), real, s["n_generations"], sizes,
        make_policy(s["policy"], s["real_fraction"]), real_sampler=truth.sample, seed=seed,
        record=lambda model, g: record_gaussian(model, s["mu"], s["sigma"], s["keep_chains"]),
        run=run, progress=progress, description=f"gaussian M={s['sample_size']} ddof={s['ddof']} {s['policy']}",
    )
    return history


def run_gaussian_subsample(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """SI Fig. 4: each generation fits ``M`` points drawn without replacement from the pool of every sample so far.

    Literal samples, one preallocated pool per chain (float32, (g + 1) M points at generation g) and an
    O(M log M) draw without replacement, so a generation costs O(M) per chain rather than O(pool). Only the
    result is stored (no per-generation resume): the runs take seconds to a minute.
    """
    s = settings
    m, n, chains = s["sample_size"], s["n_generations"], s["n_chains"]
    pool = np.empty((chains, (n + 1) * m), dtype=np.float32)
    pool[:, :m] = generation_rng(seed, 0, "data").normal(s["mu"], s["sigma"], size=(chains, m))
    records = []
    model = GaussianModel(s["ddof"], "samples").fit(pool[:, :m].astype(float))
    records.append(record_gaussian(model, s["mu"], s["sigma"], s["keep_chains"]))
    for g in range(1, n + 1):
        pool[:, g * m:(g + 1) * m] = model.sample(m, generation_rng(seed, g, "sample"))
        index = _rows_without_replacement(chains, (g + 1) * m, m, generation_rng(seed, g, "subsample"))
        model = GaussianModel(s["ddof"], "samples").fit(np.take_along_axis(pool, index, axis=1).astype(float))
        records.append(record_gaussian(model, s["mu"], s["sigma"], s["keep_chains"]))
    history = {key: np.stack([r[key] for r in records]) for key in records[0]}
    history["generation"] = np.arange(n + 1)
    history["sample_size"] = np.full(n + 1, m)
    history["expected_sq_mean_error"] = expected_subsample_mean_sq_error(s["sigma"], m, n)
    return history


ONLY = "gaussian_subsample runs {0}={1!r} only (SI Fig. 4); drop --set {0} or use the experiment 'gaussian'."


@dataclass(frozen=True)
class GaussianSubsampleSpec(GaussianSpec):
    """SI Fig. 4: the Gaussian settings with ``policy`` ``accumulate-subsample`` and literal samples at a constant
    sample size; anything else is refused, never swapped. Literal samples (float32 pools of (g + 1) M points per
    chain): the chain counts keep the largest pool near 400 MB; M = 10,000 only at ``paper``."""

    policy: str = setting("accumulate-subsample", Options(("accumulate-subsample",), hint=ONLY.format("policy", "accumulate-subsample")), "data policy: SI Fig. 4 "
                          "fits a fixed-size draw from the pool of every sample so far",
                          paper="accumulate-subsample (SI Fig. 4; not in the code)")
    method: str = setting("samples", Options(("samples",), hint=ONLY.format("method", "samples")), "literal samples (the pool is kept)", paper="samples")
    schedule: str = setting("constant", Options(("constant",), hint=ONLY.format("schedule", "constant")), "constant sample size")
    n_chains: int = setting(100, Interval(int, 1, None), "independent chains run together",
                            paper="1 unseeded run per M")

    profiles: ClassVar[dict] = {
        "smoke": dict(sample_size=Sweep([100, 1000]), n_generations=40, n_chains=200, ddof=0),
        "book": dict(sample_size=Sweep([100, 500, 1000]), n_generations=1000, n_chains=100, ddof=0),
        "paper": dict(sample_size=PAPER_SAMPLE_SIZES, n_generations=1000, n_chains=10, ddof=0),
    }

    @classmethod
    def check(cls, s: dict) -> dict:
        s = super().check(s)
        s.pop("growth", None)  # no effect at a constant sample size: not part of the run's identity
        return s


register_spec("gaussian_subsample", run_gaussian_subsample, GaussianSubsampleSpec,
              "SI Fig. 4: the single Gaussian fitted to a fixed-size draw from the pool of all samples", version=1)
register_spec("gaussian", run_gaussian, GaussianSpec, "the paper's single-Gaussian experiment (SI Figs. 3-5)",
              version=2)
register_spec("gaussian_theory", run_gaussian, GaussianTheorySpec, "Theorem 3.1 checks with growing sample sizes",
              version=2)
