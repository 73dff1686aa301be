"""How long the book profile of each experiment takes, computed from scratch.

Each experiment's whole ``book`` sweep runs through ``cl.run_sweep`` (one process, ``jobs=1``)
into a fresh, empty run store in a temporary folder, so nothing is cached: the time is what a
first ``make book`` spends computing that experiment (writing every generation to the store
included). Later chapters add their experiments to :data:`CHAPTER_GROUPS`.
"""

from __future__ import annotations

import tempfile
import time

import collapse_lib as cl
from harness import Result, benchmark

#: Targets: experiments whose book profiles together must stay under a time, in seconds.
CHAPTER_GROUPS = {
    # the Gaussian chapters (replica + theory) and the Wright-Fisher chapter
    "book/gaussian-chapters-total": (("gaussian", "gaussian_theory", "wright_fisher"), 120.0),
    # the Gaussian-mixture chapter (bench_gmm.py has its speed ratios)
    "book/gmm-chapter-total": (("gmm", "gmm_expressivity", "gmm_policies"), 180.0),
}


def sweep_seconds(name: str, profile: str = "book") -> float:
    """Wall time of ``cl.run_sweep(name, profile, 0)`` into an empty temporary run store."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as root:
        start = time.perf_counter()
        cl.run_sweep(name, profile, 0, store=cl.RunStore(root))
        return time.perf_counter() - start


def _group(group: str, experiments, limit: float, ctx) -> list[Result]:
    results, total, missing = [], 0.0, []
    for name in experiments:
        try:
            profile = "smoke" if ctx.quick else "book"
            sweep_seconds(name, "smoke")  # warm-up: imports, caches, the code paths of the experiment
            seconds = sweep_seconds(name, profile)
        except Exception as error:  # one broken profile should not hide the others
            results.append(Result.failed(f"book/{name}", f"{type(error).__name__}: {error}"))
            missing.append(name)
            continue
        total += seconds
        results.append(Result.time(f"book/{name}", seconds,
                                   detail=f"{_count(name, profile)}, one pass, "
                                          f"empty run store" + (" (QUICK: smoke profile)" if ctx.quick else "")))
    if missing:
        results.append(Result.failed(group, f"incomplete: {', '.join(missing)} failed "
                                            f"(sum of the others {total:.1f} s, target < {limit:.0f} s)"))
    else:
        results.append(Result.time(group, total, below=limit, detail=" + ".join(experiments)))
    return results


for _group_name, (_experiments, _limit) in CHAPTER_GROUPS.items():
    benchmark(_group_name, f"book profiles of {', '.join(_experiments)}, each from an empty run store")(
        lambda ctx, g=_group_name, e=_experiments, t=_limit: _group(g, e, t, ctx))


def _count(name: str, profile: str) -> str:
    n = len(cl.experiments.validated_runs(name, profile, 0, {}))
    return f"{n} run" + ("s" if n != 1 else "")
