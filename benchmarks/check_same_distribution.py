"""Check that the benchmarks' vectorised replace sampler has the distribution of the book's generic loop.

Compares, at a few generations, the fitted mean and standard deviation of many chains drawn by

* ``sample_replace_trajectories`` (``benchmarks/vectorised_gaussian.py``, vectorised over generations and
  chains; a benchmark/reference path the book does not take),
* ``run_generations`` with ``GaussianModel(ddof, "sufficient")`` (exact sufficient statistics),
* ``run_generations`` with ``GaussianModel(ddof, "samples")`` (literal draws, as the paper),

with two-sample Kolmogorov-Smirnov tests (``scipy.stats.ks_2samp``), for ``ddof`` 0 and 1 and
for a constant and a growing sample-size schedule. The three samplers use different random
streams, so the numbers differ; under the null hypothesis (same distribution) every p-value is
uniform on [0, 1]: expect about one in twenty below 0.05 and none below the Bonferroni
threshold 0.001 / (number of tests).

Run::

    .venv/bin/python benchmarks/check_same_distribution.py

"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import collapse_lib as cl  # noqa: E402
from vectorised_gaussian import sample_replace_trajectories  # noqa: E402  (benchmarks/, beside this script)

MU, SIGMA = 0.0, 1.0


def loop_trajectories(sizes, n_chains: int, ddof: int, method: str, seed: int):
    """``(mu, sigma)`` of shape ``(n_generations + 1, n_chains)`` from ``run_generations``, set up
    as the ``gaussian`` experiment does (real data drawn from the truth with the ``data`` stream)."""
    truth = cl.GaussianModel.from_params(MU, SIGMA, n_chains, ddof, method)
    real = truth.sample(int(sizes[0]), cl.generation_rng(seed, 0, "data"))
    history = cl.run_generations(lambda: cl.GaussianModel(ddof, method), real, len(sizes) - 1, sizes,
                                 "replace", seed=seed)
    return history["mu"], history["sigma"]


def ks_table(n_chains: int = 20000, sample_size: int = 20, n_generations: int = 50,
             generations=(0, 1, 10, 50), seed: int = 2024) -> list[dict]:
    """One row per (schedule, ddof, reference sampler, generation, parameter) with the KS p-value.

    Every sampler run gets its own seed, so the rows of different runs are independent (the
    rows of one run, at different generations, are not).
    """
    schedules = {
        "constant": np.full(n_generations + 1, sample_size),
        "linear": cl.sample_size_schedule(sample_size // 2, n_generations, "linear"),
    }
    seeds = iter(range(seed, seed + 1000))
    rows = []
    for schedule, sizes in schedules.items():
        for ddof in (0, 1):
            fast = sample_replace_trajectories(MU, SIGMA, sizes, n_chains, ddof, np.random.default_rng(next(seeds)))
            for method in ("sufficient", "samples"):
                reference = loop_trajectories(sizes, n_chains, ddof, method, next(seeds))
                for g in generations:
                    for name, a, b in (("mu", fast[0][g], reference[0][g]), ("sigma", fast[1][g], reference[1][g])):
                        result = stats.ks_2samp(a, b)
                        rows.append(dict(schedule=schedule, ddof=ddof, reference=method, generation=g,
                                         parameter=name, statistic=float(result.statistic),
                                         pvalue=float(result.pvalue)))
    return rows


def power_table(n_chains: int = 20000, sample_size: int = 20, seed: int = 7) -> list[dict]:
    """KS p-values for comparisons that SHOULD fail: they show the test can see a real difference.

    ``ddof 0 vs 1``: the vectorised sampler with ``ddof=0`` against the loop with ``ddof=1`` at
    generation 50; ``generation g vs g+1``: the vectorised sampler's row 10 against the loop's
    row 11 (an off-by-one in the generation indexing), both ``ddof=1``.
    """
    sizes = np.full(51, sample_size)
    fast0 = sample_replace_trajectories(MU, SIGMA, sizes, n_chains, 0, np.random.default_rng(seed))
    fast1 = sample_replace_trajectories(MU, SIGMA, sizes, n_chains, 1, np.random.default_rng(seed + 1))
    loop1 = loop_trajectories(sizes, n_chains, 1, "sufficient", seed + 2)
    return [dict(check="ddof 0 vs 1, generation 50, sigma",
                 pvalue=float(stats.ks_2samp(fast0[1][50], loop1[1][50]).pvalue)),
            dict(check="generation 10 vs 11, ddof 1, sigma",
                 pvalue=float(stats.ks_2samp(fast1[1][10], loop1[1][11]).pvalue)),
            dict(check="generation 10 vs 11, ddof 1, mu",
                 pvalue=float(stats.ks_2samp(fast1[0][10], loop1[0][11]).pvalue))]


def main() -> int:
    rows = ks_table()
    print("KS two-sample tests: sample_replace_trajectories vs run_generations (replace policy)")
    print("20000 chains each; M = 20 (constant) or M_i = 10 (i+1) (linear); true N(0, 1)\n")
    print(f"{'schedule':9} {'ddof':>4} {'reference':>10} {'gen':>4} {'param':>6} {'KS D':>8} {'p-value':>8}")
    for r in rows:
        print(f"{r['schedule']:9} {r['ddof']:>4} {r['reference']:>10} {r['generation']:>4} {r['parameter']:>6} "
              f"{r['statistic']:8.4f} {r['pvalue']:8.3f}")
    p = np.array([r["pvalue"] for r in rows])
    threshold = 0.001 / p.size
    print(f"\n{p.size} tests; smallest p = {p.min():.3g}; {int((p < 0.05).sum())} below 0.05 "
          f"(about {0.05 * p.size:.1f} expected by chance); Bonferroni threshold 0.001/{p.size} = {threshold:.1e}: "
          f"{'PASS' if p.min() > threshold else 'FAIL'}")
    print("\nComparisons that should be rejected (power of the test):")
    for r in power_table():
        print(f"  {r['check']:40} p = {r['pvalue']:.2g}")
    return 0 if p.min() > threshold else 1


if __name__ == "__main__":
    sys.exit(main())
