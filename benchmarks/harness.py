"""The benchmark registry, the timer and the printed line.

A benchmark is a function registered with :func:`benchmark`. It receives a :class:`Context`
and returns one :class:`Result` or a list of them (one printed line each)::

    from harness import Result, benchmark, best_time

    @benchmark("gmm/fit-vs-official")
    def gmm_fit(ctx):
        base = best_time(lambda: official(...), repeats=3)
        ours = best_time(lambda: collapse_lib_version(...), repeats=5)
        return Result.ratio("gmm/fit-vs-official", base.best / ours.best, at_least=10,
                            detail=f"official {base.best:.3f} s, library {ours.best:.4f} s")

Put it in a module ``benchmarks/bench_<topic>.py``; ``benchmarks/run.py`` imports every such
module, so nothing else needs to change. Speed is always measured inside one process: as a
ratio against a baseline run in the same command, or as a time against a target.
"""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable


#: Every registered benchmark, by name, in registration order.
BENCHMARKS: dict[str, "Benchmark"] = {}


@dataclass(frozen=True)
class Context:
    """What every benchmark is told: ``quick`` asks for a cheaper (extrapolated or shortened)
    measurement, for development; ``make bench`` runs with ``quick=False``."""

    quick: bool = False


@dataclass(frozen=True)
class Benchmark:
    name: str
    function: Callable[[Context], "Result | list[Result]"]
    description: str = ""


def benchmark(name: str, description: str = ""):
    """Register the decorated function ``f(ctx) -> Result | list[Result]`` under ``name``."""

    def register(function):
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} is registered twice")
        BENCHMARKS[name] = Benchmark(name, function, description or (function.__doc__ or "").strip())
        return function

    return register


@dataclass
class Result:
    """One printed line: ``name  <kind> <value><unit>  target <op> <target><unit>  PASS|FAIL|INFO``.

    ``op`` is ``">="`` or ``"<"``, or ``None`` for a figure without a target (printed as INFO).
    """

    name: str
    value: float
    unit: str  # "x" (a ratio) or " s" (a time)
    op: str | None = None
    target: float | None = None
    detail: str = ""
    error: str | None = None

    @classmethod
    def ratio(cls, name: str, value: float, at_least: float | None = None, detail: str = "") -> "Result":
        return cls(name, value, "x", ">=" if at_least is not None else None, at_least, detail)

    @classmethod
    def time(cls, name: str, seconds: float, below: float | None = None, detail: str = "") -> "Result":
        return cls(name, seconds, " s", "<" if below is not None else None, below, detail)

    @classmethod
    def failed(cls, name: str, error: str) -> "Result":
        return cls(name, float("nan"), "", error=error)

    @property
    def status(self) -> str:
        if self.error is not None:
            return "ERROR"
        if self.op is None:
            return "INFO"
        ok = self.value >= self.target if self.op == ">=" else self.value < self.target
        return "PASS" if ok else "FAIL"

    def line(self, width: int = 48) -> str:
        if self.error is not None:
            return f"{self.name:<{width}}  ERROR  {self.error}"
        kind = "ratio" if self.unit == "x" else "time"
        figure = f"{kind} {_number(self.value)}{self.unit}"
        target = f"target {self.op} {_number(self.target)}{self.unit}" if self.op else "target none"
        text = f"{self.name:<{width}}  {figure:<16}  {target:<18}  {self.status}"
        return text + (f"  ({self.detail})" if self.detail else "")


def _number(value: float) -> str:
    if value != value:  # NaN
        return "nan"
    if float(value).is_integer() and abs(value) < 1e6:
        return f"{value:.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@dataclass(frozen=True)
class Timing:
    """Wall-clock times (``time.perf_counter``, seconds) of ``repeats`` calls after ``warmup`` calls."""

    times: tuple = field(default_factory=tuple)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def best_time(function: Callable[[], object], repeats: int = 5, warmup: int = 1,
              setup: Callable[[], object] | None = None) -> Timing:
    """Time ``function()`` ``repeats`` times after ``warmup`` untimed calls.

    ``setup()`` (untimed) runs before every call, e.g. to reseed a global generator or make a
    fresh temporary folder.
    """
    for _ in range(warmup):
        if setup is not None:
            setup()
        function()
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return Timing(tuple(times))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


