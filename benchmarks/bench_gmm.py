"""Benchmarks of the Gaussian-mixture recursion (paper SI Figs. 6 and 8; official notebook cells 1-7).

The baseline is the official notebook's loop (``Normals_GMM_experiments.ipynb`` of
``Zakahler/curse_recurse``, as described in ``shared/reference/paper-setup.md`` section 3.2): real
data ``make_blobs(n_samples=1000, centers=[[0, 0]], cluster_std=1)`` with the columns flipped, then
for 2050 generations ``GaussianMixture(n_components=2, covariance_type="full", tol=1e-5,
max_iter=2000).fit(X)`` followed by ``X = gmm.sample(1000)[0]``. The notebook is unseeded
(``random_state=None`` uses NumPy's global generator); we call ``np.random.seed(0)`` first so that
runs repeat, which costs nothing.

Both sides get the same number of BLAS/OpenMP threads (``threadpoolctl.threadpool_limits``): one,
then two. scikit-learn's k-means and BLAS calls use them; the library's batched EM uses up to that
many Python threads over blocks of chains (a single chain runs in one).
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import collapse_lib as cl
from collapse_lib.models.gmm import GaussianMixtureModel
from harness import Result, benchmark, best_time

N_GENERATIONS = 2050  # the paper's generations
SAMPLE_SIZE = 1000  # the paper's points per generation
#: The official loop with two threads can be very slow on a loaded machine (OpenMP threads spin
#: while waiting for a core). It stops after this many seconds; the comparison is then made over
#: the generations it finished, the library re-run for the same number.
OFFICIAL_TIME_CAP = 150.0


def official_loop(n_generations: int, time_cap: float | None = None, keep: list | None = None) -> int:
    """The notebook's loop, one unseeded chain; returns the generations it completed. With ``keep``
    (a list), the dataset of every generation and the fit's EM iterations are appended to it."""
    from sklearn.datasets import make_blobs
    from sklearn.mixture import GaussianMixture

    np.random.seed(0)
    x, _ = make_blobs(n_samples=SAMPLE_SIZE, centers=[[0, 0]], cluster_std=1)
    x = x[:, ::-1]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on rare long fits
        for generation in range(n_generations):
            gmm = GaussianMixture(n_components=2, covariance_type="full", tol=1e-5, max_iter=2000).fit(x)
            if keep is not None:
                keep.append((x, gmm.n_iter_))
            x = gmm.sample(SAMPLE_SIZE)[0]
            if time_cap is not None and time.perf_counter() - start > time_cap:
                return generation + 1
    return n_generations


def library_replay(datasets, seed: int = 0):
    """The library's fit + sample on each dataset of the official loop's own chain: the same work
    on the same data, so that the comparison does not depend on how many EM iterations one random
    trajectory happens to need. Returns the mean EM iterations."""
    rng = np.random.default_rng(seed)
    iterations = 0
    for x, _ in datasets:
        model = GaussianMixtureModel(2, tol=1e-5, max_iter=2000, reg_covar=1e-6).fit(x[None], rng=rng)
        model.sample(SAMPLE_SIZE, rng)
        iterations += int(model.n_iter_[0])
    return iterations / len(datasets)


def library_loop(n_generations: int, seed: int = 0):
    """The official loop's work with the library's model: per generation, fit a fresh
    ``GaussianMixtureModel`` (batched EM, here one chain) and sample M points from it, one random
    generator for the whole chain (as the notebook uses NumPy's global one)."""
    rng = np.random.default_rng(seed)
    x = GaussianMixtureModel.from_params([1.0], [[0.0, 0.0]], [np.eye(2)], 1).sample(SAMPLE_SIZE, rng)
    for _ in range(n_generations):
        model = GaussianMixtureModel(2, tol=1e-5, max_iter=2000, reg_covar=1e-6).fit(x, rng=rng)
        x = model.sample(SAMPLE_SIZE, rng)
    return model


def library_chain(n_generations: int, n_chains: int = 1, seed: int = 0):
    """The same recursion through the generic loop ``cl.run_generations`` (replace policy), which
    adds per-generation seeded streams and records; real data: ``n_chains`` draws of M points
    from N(0, I)."""
    truth = GaussianMixtureModel.from_params([1.0], [[0.0, 0.0]], [np.eye(2)], n_chains)
    real = truth.sample(SAMPLE_SIZE, cl.generation_rng(seed, 0, "data"))
    return cl.run_generations(lambda: GaussianMixtureModel(2, tol=1e-5, max_iter=2000, reg_covar=1e-6), real,
                              n_generations, SAMPLE_SIZE, seed=seed)


def _one_chain(threads: int, ctx) -> Result:
    name = f"gmm/one-chain-vs-official-{threads}-thread{'s' if threads > 1 else ''}"
    n = 205 if ctx.quick else N_GENERATIONS
    with threadpool_limits(limits=threads):
        library_loop(20)  # warm-up (imports, first calls)
        datasets: list = []
        start = time.perf_counter()
        done = official_loop(n, time_cap=OFFICIAL_TIME_CAP, keep=datasets)
        base = time.perf_counter() - start
        iterations: list = []
        replay = best_time(lambda: iterations.append(library_replay(datasets)), repeats=3, warmup=0)
        own = best_time(lambda: library_loop(done), repeats=2, warmup=0)
        generic = best_time(lambda: library_chain(done), repeats=1, warmup=0)
    official_iterations = np.mean([n_iter for _, n_iter in datasets])
    how = (f"{done} generations" + ("" if done == N_GENERATIONS else
                                    f" (official loop stopped at the {OFFICIAL_TIME_CAP:.0f} s cap, or QUICK)"))
    return Result.ratio(name, base / replay.best, at_least=10,
                        detail=f"{how}, {threads} thread(s) each: official {base:.1f} s once "
                               f"({base / done * 1e3:.2f} ms/generation, {official_iterations:.1f} EM iterations "
                               f"per fit); library fit + sample on the official chain's own datasets, best of 3, "
                               f"{replay.best:.2f} s ({replay.best / done * 1e3:.2f} ms/generation, "
                               f"{iterations[-1]:.1f} EM iterations per fit); the library's "
                               f"own chain (seed 0, its own trajectory) {own.best:.2f} s ({base / own.best:.1f}x), "
                               f"through cl.run_generations {generic.best:.2f} s ({base / generic.best:.1f}x)")


@benchmark("gmm/one-chain-vs-official-1-thread")
def one_chain_one_thread(ctx):
    """One chain of 2050 generations, M = 1000, K = 2: fit + sample with the library's batched EM on
    the official chain's datasets against the official scikit-learn loop, both limited to one thread."""
    return _one_chain(1, ctx)


@benchmark("gmm/one-chain-vs-official-2-threads")
def one_chain_two_threads(ctx):
    """The same with two threads for both sides."""
    return _one_chain(2, ctx)


@benchmark("gmm/100-chains-x-2050-generations")
def hundred_chains(ctx):
    """The `gmm` experiment at the paper's settings over 100 seeds (chains): M = 1000, K = 2,
    2050 generations, blob data, replace; its full per-generation record, every generation written
    to an empty run store. Two threads."""
    n = 205 if ctx.quick else N_GENERATIONS
    with threadpool_limits(limits=2), tempfile.TemporaryDirectory(prefix="bench-gmm-") as root:
        cl.run_experiment("gmm", "paper", 0, store=cl.RunStore(root + "/warm"), data="blob", n_components=2,
                          n_generations=5)
        load = os.getloadavg()[0]
        start, cpu = time.perf_counter(), time.process_time()
        cl.run_experiment("gmm", "paper", 0, store=cl.RunStore(root), data="blob", n_components=2, n_generations=n)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    chains = cl.resolve_settings("gmm", "paper")["n_chains"]
    total = seconds * N_GENERATIONS / n
    detail = (f"{chains} chains, one run, 2 threads; process CPU time {cpu:.0f} s (both threads); load average "
              f"{load:.1f} before, {os.getloadavg()[0]:.1f} after") + (
        f"; QUICK: {n} generations in {seconds:.1f} s, EXTRAPOLATED x{N_GENERATIONS / n:.0f}" if ctx.quick else "")
    return Result.time("gmm/100-chains-x-2050-generations", total, below=60, detail=detail)


@benchmark("gmm/batched-em-vs-sklearn-fits")
def batched_fits(ctx):
    """EM alone: 100 datasets of 1000 points from N(0, I), two components, fitted one by one by
    scikit-learn (same k-means++/Lloyd initialisation algorithm) or in one batched call. One thread."""
    from sklearn.mixture import GaussianMixture

    x = np.random.default_rng(0).standard_normal((100, SAMPLE_SIZE, 2))
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = best_time(lambda: [GaussianMixture(2, tol=1e-5, max_iter=2000, random_state=b).fit(x[b])
                                  for b in range(len(x))], repeats=1 if ctx.quick else 3)
        ours = best_time(lambda: GaussianMixtureModel(2, n_threads=1).fit(x, rng=0), repeats=5)
    return Result.ratio("gmm/batched-em-vs-sklearn-fits", base.best / ours.best,
                        detail=f"scikit-learn {base.best:.2f} s, batched {ours.best:.3f} s for 100 fits")

