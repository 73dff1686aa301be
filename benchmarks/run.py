"""Run every benchmark of the project and print one line per benchmark.

    .venv/bin/python benchmarks/run.py            # everything (what `make bench` runs)
    .venv/bin/python benchmarks/run.py -k replace # only the benchmarks whose name contains "replace"
    .venv/bin/python benchmarks/run.py --quick    # cheaper baselines (extrapolated), for development
    .venv/bin/python benchmarks/run.py --list

Each line reads ``name  ratio|time <figure>  target <op> <target>  PASS|FAIL|INFO  (details)``.
Benchmarks live in ``benchmarks/bench_*.py`` and register themselves with
``harness.benchmark``; see ``benchmarks/README.md``. BLAS/OpenMP pools are limited to one
thread (threadpoolctl) while the benchmarks run. The exit status is 1 if any benchmark
failed its target or raised an error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from harness import BENCHMARKS, Context, Result, cpu_model  # noqa: E402
from collapse_lib.environment import usable_cores  # noqa: E402

#: Threads given to every BLAS/OpenMP pool during the benchmarks.
BLAS_THREADS = 1


def load_benchmarks() -> None:
    """Import every ``benchmarks/bench_*.py`` (each registers its benchmarks)."""
    for path in sorted(HERE.glob("bench_*.py")):
        importlib.import_module(path.stem)


def header() -> str:
    pools = ", ".join(f"{p['internal_api']} {p.get('version', '')}".strip() for p in threadpool_info()) or "none"
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    return "\n".join([
        f"machine: {usable_cores()} usable cores (nproc), CPU {cpu_model()}",
        f"python {sys.version.split()[0]}, numpy {np.__version__}; thread pools: {pools}; "
        f"limited to {BLAS_THREADS} thread(s) with threadpoolctl" + (f"; OPENBLAS_CORETYPE={coretype}" if coretype else ""),
        "timer: time.perf_counter; warm-up call(s) before timing; see benchmarks/README.md for repeats",
    ])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-k", dest="patterns", action="append", default=[],
                        help="run only benchmarks whose name contains this text (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="cheaper, extrapolated baselines (development only; make bench runs without it)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    load_benchmarks()
    selected = [b for b in BENCHMARKS.values() if not args.patterns or any(p in b.name for p in args.patterns)]
    if args.list:
        for b in selected:
            print(f"{b.name:48}  {b.description.splitlines()[0] if b.description else ''}")
        return 0
    if not selected:
        print(f"no benchmark matches {args.patterns}; use --list", file=sys.stderr)
        return 2

    print(header() + ("\nQUICK MODE: baselines shortened and extrapolated" if args.quick else ""), flush=True)
    ctx = Context(quick=args.quick)
    results: list[Result] = []
    start = time.perf_counter()
    with threadpool_limits(limits=BLAS_THREADS):
        for bench in selected:
            try:
                outcome = bench.function(ctx)
            except Exception as error:  # report and go on with the other benchmarks
                traceback.print_exc(file=sys.stderr)
                outcome = Result.failed(bench.name, f"{type(error).__name__}: {error}")
            for result in outcome if isinstance(outcome, list) else [outcome]:
                results.append(result)
                print(result.line(), flush=True)
    bad = [r for r in results if r.status in ("FAIL", "ERROR")]
    print(f"{len(results)} results in {time.perf_counter() - start:.0f} s: "
          f"{sum(r.status == 'PASS' for r in results)} PASS, {sum(r.status == 'FAIL' for r in results)} FAIL, "
          f"{sum(r.status == 'ERROR' for r in results)} ERROR, {sum(r.status == 'INFO' for r in results)} INFO")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
