"""Command line: run experiments headless into the run store.

Examples::

    python -m collapse_lib list
    python -m collapse_lib run gaussian --profile paper --seed 0
    python -m collapse_lib run gaussian --profile book --seed 0-4 --set sample_size=100,1000
    python -m collapse_lib run gaussian --profile paper --seed 0-4 --print-commands | parallel
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from .experiments import EXPERIMENTS, get_experiment, resolve_settings, run_sweep, stored_run, validated_runs
from .profiles import PROFILE_NAMES, Sweep, check_profile
from .store import RunStore
from .validation import SettingError, check_seed


def parse_seeds(text: str) -> list[int]:
    """``"3"``, ``"0,1,2"`` or ``"0-4"`` (inclusive) as a list of seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                low, high = part.split("-", 1)
                seeds.extend(range(int(low), int(high) + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise SettingError(f"seed must be an integer, a list '0,1,2' or a range '0-4', got {text!r}.") from None
    return [check_seed(s) for s in seeds]


def _parse_value(text: str, default):
    if isinstance(default, list):
        return [float(x) for x in text.split(",")]
    kind = type(default) if default is not None and not isinstance(default, bool) else None
    try:
        if kind is int:
            value = float(text)
            return int(value) if value.is_integer() else value  # the validator rejects non-integers
        if kind is float:
            return float(text)
    except ValueError:
        raise SettingError(f"cannot read {text!r} as a number.") from None
    if isinstance(default, bool):
        return text.lower() in ("1", "true", "yes")
    return text


def parse_overrides(experiment: str, assignments: list[str]) -> dict:
    """``["key=value", "key=a,b"]`` -> settings; a comma list becomes a :class:`Sweep`."""
    defaults = get_experiment(experiment).defaults
    overrides = {}
    for item in assignments:
        if "=" not in item:
            raise SettingError(f"--set takes key=value, got {item!r}.")
        key, text = item.split("=", 1)
        if key not in defaults:
            raise SettingError(f"unknown setting {key!r} for {experiment!r}; known: {', '.join(sorted(defaults))}.")
        if isinstance(defaults[key], list) or "," not in text:
            overrides[key] = _parse_value(text, defaults[key])
        else:
            overrides[key] = Sweep([_parse_value(t, defaults[key]) for t in text.split(",")])
    return overrides


def command_for(experiment: str, profile: str, settings: dict, seed: int, defaults: dict) -> str:
    """One fully pinned command line that runs exactly this run."""
    parts = ["python", "-m", "collapse_lib", "run", experiment, "--profile", profile, "--seed", str(seed)]
    base = resolve_settings(experiment, profile)
    for key in sorted(settings):
        if settings[key] != base.get(key):
            value = ",".join(map(str, settings[key])) if isinstance(settings[key], list) else str(settings[key])
            parts += ["--set", f"{key}={value}"]
    return shlex.join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collapse_lib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list experiments and their settings at each profile")
    run = sub.add_parser("run", help="run an experiment (or a sweep) into the run store")
    run.add_argument("experiment")
    run.add_argument("--profile", default="book", help=f"one of {', '.join(PROFILE_NAMES)} (default: book)")
    run.add_argument("--seed", default="0", help="a seed, a list '0,1,2' or a range '0-4' (default: 0)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a setting; a comma list sweeps it")
    run.add_argument("--store", default=None, help="run store folder (default: $COLLAPSE_RUNS or ~/.cache/collapse_lib/runs)")
    run.add_argument("--jobs", type=int, default=None, help="parallel processes for a sweep (default: all cores)")
    run.add_argument("--print-commands", action="store_true",
                     help="print one command per run (for Slurm arrays, GNU parallel, Ray) and exit")
    args = parser.parse_args(argv)

    try:
        if args.command == "list":
            for name, experiment in EXPERIMENTS.items():
                print(f"{name}: {experiment.description}")
                for profile in PROFILE_NAMES:
                    settings = resolve_settings(name, profile)
                    print(f"  {profile}: " + ", ".join(f"{k}={v!r}" for k, v in sorted(settings.items())))
            return 0
        check_profile(args.profile)
        experiment = get_experiment(args.experiment)
        overrides = parse_overrides(args.experiment, args.set)
        runs = validated_runs(args.experiment, args.profile, parse_seeds(args.seed), overrides)
        if args.print_commands:
            try:
                for settings, seed in runs:
                    print(command_for(args.experiment, args.profile, settings, seed, experiment.defaults))
            except BrokenPipeError:  # e.g. piped into head
                sys.stderr.close()
            return 0
        store = RunStore(args.store)
        jobs = 1 if len(runs) == 1 else (args.jobs or os.cpu_count() or 1)
        print(f"{args.experiment}: {len(runs)} run(s) at profile {args.profile!r} into {store.root} "
              f"({jobs} process(es))", file=sys.stderr)
        seeds = sorted({seed for _, seed in runs})
        results = run_sweep(args.experiment, args.profile, seeds, store=store, jobs=jobs, progress=True, **overrides)
        for settings, seed, _ in results:
            path = stored_run(args.experiment, settings, seed, store).path
            print(f"done seed={seed} {path}")
        return 0
    except SettingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
