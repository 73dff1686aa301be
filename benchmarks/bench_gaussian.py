"""Benchmarks of the single-Gaussian recursion (paper SI Figs. 3-5; official notebook cells 12, 16).

The baselines copy the official notebook ``Normals_GMM_experiments.ipynb`` of
``Zakahler/curse_recurse``: one unseeded chain per sample size M in {100, 500, 1000, 10000},
1000 generations, ``np.random.normal`` (the global legacy generator) and ``np.mean``/``np.std``
(ddof = 0). We seed the global generator only so that runs repeat; it costs nothing.

Code paths. The book's path is ``run_experiment("gaussian", ...)``: :func:`collapse_lib.run_generations` with
``GaussianModel(ddof, "sufficient")``, the experiment's per-generation record and the run store. Each line says
which path it times: ``book-path`` lines the whole of it; ``generic-loop`` and ``accumulate`` lines
``run_generations`` + ``GaussianModel`` without the record and the store; the other ``replace`` lines the
vectorised sampler of ``benchmarks/vectorised_gaussian.py``, which the book does not use.
"""

from __future__ import annotations

import itertools
import tempfile

import numpy as np

import collapse_lib as cl
from harness import Result, benchmark, best_time
from vectorised_gaussian import sample_replace_trajectories

SAMPLE_SIZES = (100, 500, 1000, 10000)  # the official notebook's M
N_GENERATIONS = 1000  # the official notebook's generations per M
#: Chains of the book-path line (the book's runs have 1000; the official loop takes about 0.26 s per chain).
BOOK_PATH_CHAINS = 100


# --- the official notebook's loops (baselines) ------------------------------------------------

def official_replace(M: int, n_generations: int = N_GENERATIONS):
    """Cell 12 ("replace"): draw M points from the current fit, refit with np.mean / np.std."""
    mu, sigma = 0, 1
    mus, sigmas = [], []
    for _ in range(n_generations):
        a = np.random.normal(mu, sigma, M)
        mu, sigma = np.mean(a), np.std(a)
        mus.append(mu)
        sigmas.append(sigma)
    return mus, sigmas


def official_accumulate(M: int, n_generations: int = N_GENERATIONS):
    """Cell 16 ("data gets saved over time"): extend one Python list with every new draw and
    refit np.mean / np.std on the whole list each generation (quadratic in the generations)."""
    mu, sigma = 0, 1
    data = []
    mus, sigmas = [], []
    for _ in range(n_generations):
        data.extend(np.random.normal(mu, sigma, M))
        mu, sigma = np.mean(data), np.std(data)
        mus.append(mu)
        sigmas.append(sigma)
    return mus, sigmas


def run_official(loop, n_generations: int = N_GENERATIONS):
    """The notebook's outer loop: one run per sample size."""
    return {M: loop(M, n_generations) for M in SAMPLE_SIZES}


# --- the library's versions of the same work ---------------------------------------------------

def library_replace(rng: np.random.Generator):
    """One chain per M, ddof = 0, vectorised over the generations (``n_generations + 1`` fits): the
    benchmarks' sampler, not the book's path."""
    return {M: sample_replace_trajectories(0.0, 1.0, M, 1, 0, rng, n_generations=N_GENERATIONS)
            for M in SAMPLE_SIZES}


def library_loop(policy: str, seed: int = 0):
    """One chain per M through the generic loop ``cl.run_generations`` with exact sufficient
    statistics (for ``accumulate``: the pooled count, mean and sum of squares, merged with
    Chan's update, O(1) per generation); real data drawn as the ``gaussian`` experiment does."""
    out = {}
    for M in SAMPLE_SIZES:
        truth = cl.GaussianModel.from_params(0.0, 1.0, 1, 0, "sufficient")
        real = truth.sample(M, cl.generation_rng(seed, 0, "data"))
        out[M] = cl.run_generations(lambda: cl.GaussianModel(0, "sufficient"), real, N_GENERATIONS, M,
                                    policy, seed=seed)
    return out


def book_path_replace(n_chains: int, store: cl.RunStore):
    """The book's path: ``cl.run_experiment("gaussian", ...)`` per M (replace, ddof = 0, ``n_chains`` chains,
    1000 generations; settings validated, every generation recorded and written to ``store``)."""
    return {M: cl.run_experiment("gaussian", "book", 0, store=store, sample_size=M, ddof=0, policy="replace",
                                 n_chains=n_chains, n_generations=N_GENERATIONS)
            for M in SAMPLE_SIZES}


def _reseed():
    np.random.seed(0)


# --- benchmarks ----------------------------------------------------------------------------------

@benchmark("gaussian/replace-vs-official-loop")
def replace_vs_official(ctx):
    """Replace policy, 4 M x 1000 generations, one chain each: the benchmarks' vectorised sampler (not the
    book's path) vs notebook cell 12."""
    base = best_time(lambda: run_official(official_replace), repeats=2 if ctx.quick else 5, setup=_reseed)
    rng = np.random.default_rng(0)
    ours = best_time(lambda: library_replace(rng), repeats=20, warmup=3)
    return Result.ratio("gaussian/replace-vs-official-loop", base.best / ours.best, at_least=100,
                        detail=f"vectorised path: official {base.best:.3f} s, sample_replace_trajectories "
                               f"{ours.best * 1e3:.2f} ms; best of "
                               f"{len(base.times)} and {len(ours.times)}")


@benchmark("gaussian/replace-generic-loop-vs-official-loop")
def replace_loop_vs_official(ctx):
    """The same work through the generic loop cl.run_generations (sufficient statistics): no target,
    it shows the per-generation Python overhead that the vectorised sampler removes."""
    base = best_time(lambda: run_official(official_replace), repeats=2 if ctx.quick else 5, setup=_reseed)
    ours = best_time(lambda: library_loop("replace"), repeats=5)
    per_generation = ours.best / (len(SAMPLE_SIZES) * (N_GENERATIONS + 1))
    return Result.ratio("gaussian/replace-generic-loop-vs-official-loop", base.best / ours.best,
                        detail=f"run_generations + GaussianModel, no record or store: official {base.best:.3f} s, "
                               f"run_generations {ours.best:.3f} s = "
                               f"{per_generation * 1e6:.0f} us/generation")


@benchmark("gaussian/book-path-replace-vs-official-loop")
def book_path_vs_official(ctx):
    """The book's path against the notebook doing the same work: replace, ddof = 0, 4 M x 1000 generations x
    BOOK_PATH_CHAINS chains. Official: cell 12 run once per chain (it has one chain per run). Library:
    ``run_experiment("gaussian", ...)`` per M with all chains together, into an empty run store each time."""
    chains = 10 if ctx.quick else BOOK_PATH_CHAINS
    official_replace(100, 20)  # warm-up
    base = best_time(lambda: [run_official(official_replace) for _ in range(chains)], repeats=1, warmup=0,
                     setup=_reseed)
    with tempfile.TemporaryDirectory(prefix="bench-gaussian-book-path-") as root:
        stores = (cl.RunStore(f"{root}/{i}") for i in itertools.count())  # an empty run store for every call
        store = []
        ours = best_time(lambda: book_path_replace(chains, store[-1]), repeats=3,
                         setup=lambda: store.append(next(stores)))
    per_generation = ours.best / (len(SAMPLE_SIZES) * (N_GENERATIONS + 1))
    return Result.ratio("gaussian/book-path-replace-vs-official-loop", base.best / ours.best,
                        detail=f"book's path, run_experiment -> run_generations + GaussianModel(0, 'sufficient') with "
                               f"record and run store: {chains} chains x 4 M x 1000 generations; official "
                               f"{base.best:.1f} s once, library {ours.best:.3f} s best of {len(ours.times)} "
                               f"({per_generation * 1e6:.0f} us per generation of {chains} chains), each from an "
                               f"empty run store" + (" (QUICK: 10 chains)" if ctx.quick else ""))


@benchmark("gaussian/replace-10k-chains-x-10k-generations")
def replace_10k_by_10k(ctx):
    """sample_replace_trajectories (the benchmarks' vectorised sampler, not the book's path) for 10,000 chains x
    10,000 generations (replace, ddof=1, M=100), materialising both (10001, 10000) float64 trajectories (1.6 GB)."""
    rng = np.random.default_rng(0)
    best_time(lambda: sample_replace_trajectories(0.0, 1.0, 100, 1000, 1, rng, n_generations=1000),
              repeats=0, warmup=1)
    timing = best_time(lambda: sample_replace_trajectories(0.0, 1.0, 100, 10000, 1, rng, n_generations=10000),
                       repeats=1 if ctx.quick else 3, warmup=0)
    return Result.time("gaussian/replace-10k-chains-x-10k-generations", timing.median, below=10,
                       detail=f"vectorised path; median of {len(timing.times)}: "
                              + ", ".join(f"{t:.2f}" for t in timing.times) + " s")


def _official_accumulate_seconds(ctx) -> tuple[float, str]:
    """Time of the notebook's accumulate loop over the 4 M and 1000 generations (one run; it is
    long), or in quick mode an extrapolation from 100 and 200 generations."""
    best_time(lambda: official_accumulate(100, 20), repeats=0, warmup=1, setup=_reseed)
    if not ctx.quick:
        parts = {M: best_time(lambda: official_accumulate(M), repeats=1, warmup=0, setup=_reseed).best
                 for M in SAMPLE_SIZES}
        total = sum(parts.values())
        return total, (f"official {total:.1f} s, full run once: "
                       + ", ".join(f"M={M}: {t:.1f} s" for M, t in parts.items()))
    # T(n) = a n + b n^2 through the times at n1 and n2 generations, per M.
    n1, n2, total, parts = 100, 200, 0.0, []
    for M in SAMPLE_SIZES:
        t1 = best_time(lambda: official_accumulate(M, n1), repeats=1, warmup=0, setup=_reseed).best
        t2 = best_time(lambda: official_accumulate(M, n2), repeats=1, warmup=0, setup=_reseed).best
        b = (t2 / n2 - t1 / n1) / (n2 - n1)
        a = t1 / n1 - b * n1
        estimate = a * N_GENERATIONS + b * N_GENERATIONS**2
        total += estimate
        parts.append(f"M={M}: {estimate:.1f} s")
    return total, f"official EXTRAPOLATED to {N_GENERATIONS} generations from {n1} and {n2}: {total:.1f} s ({', '.join(parts)})"


@benchmark("gaussian/accumulate-vs-official-loop")
def accumulate_vs_official(ctx):
    """Accumulate policy, 4 M x 1000 generations, one chain each: cl.run_generations with pooled
    sufficient statistics vs notebook cell 16 (refit on the whole growing list)."""
    # The library side is timed both before and after the long baseline (5 + 5 repeats, best
    # of all), so that a burst of load from other jobs on the machine does not decide its time.
    before = best_time(lambda: library_loop("accumulate"), repeats=5)
    base, how = _official_accumulate_seconds(ctx)
    after = best_time(lambda: library_loop("accumulate"), repeats=5, warmup=0)
    ours = min(before.best, after.best)
    return Result.ratio("gaussian/accumulate-vs-official-loop", base / ours, at_least=1000,
                        detail=f"run_generations + GaussianModel, no record or store: {how}; run_generations "
                               f"{ours:.3f} s, best of "
                               f"{len(before.times) + len(after.times)} (before and after the baseline)")
