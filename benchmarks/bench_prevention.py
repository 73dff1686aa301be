"""Benchmarks of the 'what prevents collapse' chapter: accumulating in O(1) per generation.

The baselines follow Kazdan et al.'s code (github.com/RylanSchaeffer/KoyejoLab-Collapse-or-Thrive,
``src/fit_linear_regressions``; the Gaussian fits of ``src/fit_gaussians`` do the same with
``np.mean`` and ``np.cov(bias=True)``): one chain at a time, the *accumulate* setting stacks every
generation's data onto a growing array and refits on all of it, so generation g costs O(g). The
library keeps sufficient statistics (X^T X and X^T y; the count, mean and scatter matrix) and
merges them, O(1) per generation, for all chains at once. Both sides do the same statistical work:
the same number of chains, generations, dimensions and points per generation.
"""

from __future__ import annotations

import numpy as np

import collapse_lib as cl
from collapse_lib.models.linear_regression import FixedDesign, LinearRegressionModel
from collapse_lib.models.multivariate_gaussian import MultivariateGaussianModel
from harness import Result, benchmark, best_time

N_CHAINS = 20
N_GENERATIONS = 100


# --- linear regression ---------------------------------------------------------------------------

def reference_regression_accumulate(dim=10, n_rows=100, sigma=1.0, n_generations=N_GENERATIONS, seed=0):
    """Kazdan et al.'s loop, 'Accumulate' setting: pinv of the whole stacked design every iteration."""
    rng = np.random.default_rng(seed)
    w_star = rng.standard_normal(dim)
    x_init = rng.standard_normal((n_rows, dim))
    x_train, y_train = x_init.copy(), x_init @ w_star + sigma * rng.standard_normal(n_rows)
    errors = []
    for _ in range(n_generations + 1):
        w_hat = np.linalg.pinv(x_train) @ y_train
        errors.append(np.sum((w_hat - w_star) ** 2))
        y_new = x_init @ w_hat + sigma * rng.standard_normal(n_rows)
        x_train, y_train = np.concatenate((x_train, x_init)), np.concatenate((y_train, y_new))
    return errors


def library_regression_accumulate(dim=10, n_rows=100, sigma=1.0, seed=0):
    """The same chains through cl.run_generations, with pooled sufficient statistics."""
    rng = np.random.default_rng(seed)
    design = FixedDesign.gaussian(N_CHAINS, n_rows, dim, rng, keep_rows=False)
    w_star = rng.standard_normal((N_CHAINS, dim))
    real = LinearRegressionModel.from_weights(w_star, design, sigma).sample(n_rows, rng)
    return cl.run_generations(lambda: LinearRegressionModel(design, sigma), real, N_GENERATIONS, n_rows,
                              "accumulate", seed=seed)


def accumulate_ratio(ctx, name: str, reference, library, at_least: float, what: str) -> Result:
    """Time ``reference`` once per chain (seeds 0..N_CHAINS-1) against ``library`` (all chains at once)."""
    base = best_time(lambda: [reference(seed=s) for s in range(N_CHAINS)], repeats=1 if ctx.quick else 3)
    ours = best_time(library, repeats=5)
    return Result.ratio(name, base.best / ours.best, at_least=at_least,
                        detail=f"{what}: reference {base.best:.2f} s, run_generations {ours.best * 1e3:.0f} ms "
                               f"({N_CHAINS} chains x {N_GENERATIONS} generations)")


@benchmark("prevention/regression-accumulate-vs-refit")
def regression_accumulate(ctx):
    """20 chains x 100 generations of the regression, accumulate: stacked refit (pinv) vs sufficient statistics."""
    return accumulate_ratio(ctx, "prevention/regression-accumulate-vs-refit", reference_regression_accumulate,
                            library_regression_accumulate, 10, "d=10, T=100, stacked pinv")


# --- the d-dimensional Gaussian --------------------------------------------------------------------

def reference_gaussian_accumulate(dim=5, n_samples=50, n_generations=N_GENERATIONS, seed=0):
    """Kazdan et al.'s Gaussian loop, 'Accumulate': np.mean and np.cov(bias=True) of the whole pool."""
    rng = np.random.default_rng(seed)
    mean, cov = np.zeros(dim), np.eye(dim)
    pool = rng.multivariate_normal(mean, cov, size=n_samples)
    for _ in range(n_generations + 1):
        mean, cov = pool.mean(axis=0), np.cov(pool, rowvar=False, bias=True)
        pool = np.concatenate((pool, rng.multivariate_normal(mean, cov, size=n_samples)))
    return mean, cov


def library_gaussian_accumulate(dim=5, n_samples=50, seed=0):
    truth = MultivariateGaussianModel.from_params(np.zeros(dim), np.eye(dim), N_CHAINS, ddof=0)
    real = truth.sample(n_samples, cl.generation_rng(seed, 0, "data"))
    return cl.run_generations(lambda: MultivariateGaussianModel(0), real, N_GENERATIONS, n_samples, "accumulate",
                              seed=seed)


@benchmark("prevention/gaussian-accumulate-vs-refit")
def gaussian_accumulate(ctx):
    """20 chains x 100 generations of a 5-D Gaussian, accumulate: np.cov of the pool vs merged statistics."""
    return accumulate_ratio(ctx, "prevention/gaussian-accumulate-vs-refit", reference_gaussian_accumulate,
                            library_gaussian_accumulate, 5, "d=5, M=50, np.cov of the pool")


# --- the chapter's book profile ----------------------------------------------------------------------

#: The experiments the chapter runs, and the budget of their book sweeps together (one process, seconds).
CHAPTER_EXPERIMENTS = ("prevention_regression", "prevention_gaussian", "prevention_mix", "prevention_schedules",
                       "prevention_gmm", "prevention_gmm_mix", "prevention_tails")
CHAPTER_BUDGET = 150.0


@benchmark("book/prevention-chapter-total")
def chapter_total(ctx):
    """Book sweeps of every experiment of chapters/prevention.md, each into an empty run store (jobs=1)."""
    from bench_book import sweep_seconds

    profile = "smoke" if ctx.quick else "book"
    results, total = [], 0.0
    for name in CHAPTER_EXPERIMENTS:
        seconds = sweep_seconds(name, profile)
        total += seconds
        results.append(Result.time(f"book/{name}", seconds,
                                   detail=f"{len(cl.experiments.validated_runs(name, profile, 0, {}))} runs, "
                                          f"empty run store" + (" (QUICK: smoke profile)" if ctx.quick else "")))
    results.append(Result.time("book/prevention-chapter-total", total, below=CHAPTER_BUDGET,
                               detail=" + ".join(CHAPTER_EXPERIMENTS) + "; the chapter runs them with jobs=2"))
    return results
