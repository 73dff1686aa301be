r"""Typed experiment specs: every setting of an experiment, declared once.

An experiment's spec is a frozen dataclass. Each field is one setting, declared with
:func:`setting`: its default, its constraint, what it means (with its unit), the paper's value
and whether it only chooses *where* a run computes (``device``, ``threads``: left out of the
run's key). The class also holds the experiment's three scale profiles (:attr:`ExperimentSpec.profiles`)
and any check that spans several settings (:meth:`ExperimentSpec.check`)::

    @dataclass(frozen=True)
    class GaussianSpec(ExperimentSpec):
        sigma: float = setting(1.0, Interval(float, 0, None, closed="neither"),
                               "true standard deviation of the real data", paper=1)
        ...
        profiles: ClassVar[dict] = {"smoke": dict(...), "book": dict(...), "paper": dict(...)}

The constraint table is read, never re-written: :meth:`ExperimentSpec.validate` checks a settings
dict against it once, before any work (in the spirit of scikit-learn's ``_parameter_constraints``);
the command line parses ``--set key=value`` by the constraint's type (:meth:`Constraint.parse`);
a chapter's settings table and ``python -m collapse_lib list`` print the same fields.

A *preset* (:func:`preset`) is a spec with other defaults and profiles and the same runner:
``gmm_policies`` is the ``gmm`` spec run under three data policies.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

import numpy as np

from .validation import (MAX_GENERATIONS, SettingError, check_choice, check_fraction, check_int, check_nonnegative_float,
                         check_positive_float)

BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "on": True,
                 "false": False, "no": False, "0": False, "off": False}


# --------------------------------------------------------------------------------------------------------------------
# Constraints
# --------------------------------------------------------------------------------------------------------------------

class Constraint:
    """What values one setting may take: :meth:`check` returns the value in its canonical type or raises
    :class:`SettingError` naming the setting, the value, the allowed range and the fix."""

    def check(self, name: str, value):
        raise NotImplementedError

    def parse(self, name: str, text: str):
        """A value typed on the command line (``--set name=text``), converted by this constraint's type."""
        return self.check(name, text.strip())

    def describe(self) -> str:
        raise NotImplementedError


def _number(name: str, value, kind: type, allowed: str):
    given = value
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise SettingError(f"{name} must be a number, got {value!r}; pass {allowed}.") from None
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise SettingError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__}); pass a number.")
    if not math.isfinite(float(value)):
        raise SettingError(f"{name} must be a finite number, got {given!r}; pass {allowed}.")
    if kind is int:
        if not float(value).is_integer():
            raise SettingError(f"{name} must be {allowed}, got {value!r}; pass a whole number.")
        return int(value)
    return float(value)


@dataclass(frozen=True)
class Interval(Constraint):
    """A finite number of type ``kind`` (``int`` or ``float``) in an interval; ``None`` leaves an end open.

    ``closed`` is ``"both"`` (default), ``"left"``, ``"right"`` or ``"neither"``, as in scikit-learn.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        if self.low is None and self.high is None:
            return what
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{what} in {left}{low}, {high}{right}".replace("1e+06", "1,000,000")

    def check(self, name: str, value):
        # the library's own checks (collapse_lib.validation) where they fit, so that one mistake reads the same
        # whether a spec or a model's constructor finds it
        if isinstance(value, str):
            value = _number(name, value, self.kind, self.describe())
        if isinstance(value, (float, np.floating)) and not math.isfinite(value):
            raise SettingError(f"{name} must be a finite number, got {value!r}.")
        low, high, closed = self.low, self.high, self.closed
        if self.kind is int:
            if closed in ("right", "neither") and low is not None:
                low += 1
            if closed in ("left", "neither") and high is not None:
                high -= 1
            return check_int(name, value, minimum=low, maximum=high)
        if (low, high, closed) == (0, None, "neither"):
            return check_positive_float(name, value)
        if (low, high, closed) == (0, None, "both"):
            return check_nonnegative_float(name, value)
        if (low, high, closed) == (0, 1, "both"):
            return check_fraction(name, value)
        value = _number(name, value, float, self.describe())
        below = low is not None and (value < low or (value == low and closed in ("right", "neither")))
        above = high is not None and (value > high or (value == high and closed in ("left", "neither")))
        if below or above:
            raise SettingError(f"{name} must be {self.describe()}, got {value}; pass a value in that range.")
        return value


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of values (strings or numbers); ``hint`` is added to the message of a refusal."""

    values: tuple
    hint: str = ""

    def __init__(self, values: Iterable, hint: str = ""):
        object.__setattr__(self, "values", tuple(values))
        object.__setattr__(self, "hint", hint)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def parse(self, name: str, text: str):
        text = text.strip()
        for value in self.values:
            if str(value) == text:
                return value
        if all(isinstance(v, numbers.Integral) for v in self.values):  # a number typed for a numeric choice
            return self.check(name, _number(name, text, int, self.describe()))
        return self.check(name, text)

    def check(self, name: str, value):
        for allowed in self.values:
            if type(allowed) is type(value) and allowed == value:
                return allowed
        if all(isinstance(v, numbers.Integral) for v in self.values):  # e.g. ddof in (0, 1): an integer in range
            return check_int(name, value, minimum=min(self.values), maximum=max(self.values))
        if self.hint:
            raise SettingError(f"{name}={value!r} is refused: {self.hint}")
        return check_choice(name, value, self.values)


@dataclass(frozen=True)
class Boolean(Constraint):
    """``True`` or ``False`` (typed as true/false, yes/no, 1/0, on/off)."""

    def describe(self) -> str:
        return "true or false"

    def parse(self, name: str, text: str):
        word = text.strip().lower()
        if word not in BOOLEAN_WORDS:
            raise SettingError(f"{name} must be true or false (also yes/no, 1/0, on/off), got {text!r}.")
        return BOOLEAN_WORDS[word]

    def check(self, name: str, value):
        if not isinstance(value, (bool, np.bool_)):
            raise SettingError(f"{name} must be True or False, got {value!r}; pass a boolean.")
        return bool(value)


@dataclass(frozen=True)
class Text(Constraint):
    """Any non-empty string (a model name, a path)."""

    def describe(self) -> str:
        return "a non-empty string"

    def check(self, name: str, value):
        if not isinstance(value, str) or not value.strip():
            raise SettingError(f"{name} must be a non-empty string, got {value!r}.")
        return value


@dataclass(frozen=True)
class ListOf(Constraint):
    """A non-empty list whose items each satisfy ``item`` (typed as ``a,b,c``); ``increasing`` asks for
    strictly increasing items."""

    item: Constraint
    increasing: bool = False

    def describe(self) -> str:
        return f"a{' strictly increasing' if self.increasing else ''} list, each {self.item.describe()}"

    def parse(self, name: str, text: str):
        return self.check(name, [self.item.parse(name, part) for part in text.split(",")])

    def check(self, name: str, value):
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise SettingError(f"{name} must be {self.describe()}, got {value!r}; pass e.g. [10, 100].")
        items = [self.item.check(f"{name}[{i}]", v) for i, v in enumerate(value)]
        if not items:
            raise SettingError(f"{name} must be {self.describe()}, got an empty list.")
        if self.increasing and any(b <= a for a, b in zip(items, items[1:])):
            raise SettingError(f"{name} must be {self.describe()}, got {items}; sort them and drop repeats.")
        return items


@dataclass(frozen=True)
class OrNone(Constraint):
    """``None`` (typed as ``none``; ``means`` says what it stands for), or a value that ``item`` allows."""

    item: Constraint
    means: str = ""

    def describe(self) -> str:
        return f"None{f' ({self.means})' if self.means else ''} or {self.item.describe()}"

    def parse(self, name: str, text: str):
        return None if text.strip().lower() == "none" else self.item.parse(name, text)

    def check(self, name: str, value):
        return None if value is None else self.item.check(name, value)


#: Constraints that many experiments share.
GENERATIONS = Interval(int, 1, MAX_GENERATIONS)  # a number of generations (memory is allocated up front)
FRACTION = Interval(float, 0, 1)
POSITIVE_INT = Interval(int, 1, None)
NONNEGATIVE_INT = Interval(int, 0, None)
POSITIVE = Interval(float, 0, None, closed="neither")
NONNEGATIVE = Interval(float, 0, None)


# --------------------------------------------------------------------------------------------------------------------
# Settings and specs
# --------------------------------------------------------------------------------------------------------------------

def setting(default, constraint: Constraint, help: str, *, paper: Any = None, machine: bool = False):
    """One setting of an experiment spec: a dataclass field whose metadata hold its constraint, its meaning
    (``help``, with its unit), the paper's value (``paper``; ``None``: the paper has none) and whether it is a
    machine-only setting (``machine=True``: how or where a run computes, never its numbers)."""
    metadata = dict(constraint=constraint, help=help, paper=paper, machine=machine)
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ExperimentSpec:
    """Base class of the experiments' specs (see the module). Subclasses are frozen dataclasses whose
    fields are all declared with :func:`setting`; they may override :attr:`profiles`, :meth:`check`,
    :meth:`resolve` and :meth:`data_identity`."""

    #: The settings each scale profile changes, ``{"smoke": {...}, "book": {...}, "paper": {...}}``; a value
    #: wrapped in :class:`~collapse_lib.profiles.Sweep` is run once per value.
    profiles: ClassVar[dict] = {}

    # -- the declared fields -----------------------------------------------------------------------------------------
    @classmethod
    def settings_fields(cls) -> tuple:
        return tuple(dataclasses.fields(cls))

    @classmethod
    def constraint(cls, name: str) -> Constraint:
        return cls.field(name).metadata["constraint"]

    @classmethod
    def field(cls, name: str):
        for f in dataclasses.fields(cls):
            if f.name == name:
                return f
        cls.check_names([name])
        raise AssertionError  # unreachable

    @classmethod
    def defaults(cls) -> dict:
        """Every setting's default value, in declaration order."""
        out = {}
        for f in dataclasses.fields(cls):
            out[f.name] = f.default_factory() if f.default is dataclasses.MISSING else f.default
        return out

    @classmethod
    def machine_settings(cls) -> tuple:
        return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("machine"))

    @classmethod
    def paper_values(cls) -> dict:
        """The paper's value of each setting that has one (as the chapters' settings tables show them)."""
        return {f.name: f.metadata["paper"] for f in dataclasses.fields(cls) if f.metadata.get("paper") is not None}

    @classmethod
    def help(cls, name: str) -> str:
        return cls.field(name).metadata["help"]

    @classmethod
    def check_profiles(cls) -> None:
        """A profile that names no setting is a typo: raised when the experiment is registered (at import)."""
        known = {f.name for f in dataclasses.fields(cls)}
        for profile, values in cls.profiles.items():
            unknown = sorted(set(values) - known)
            if unknown:
                raise TypeError(f"{cls.__name__}.profiles[{profile!r}] names unknown settings {unknown}.")

    @classmethod
    def check_names(cls, names: Iterable[str], experiment: str | None = None) -> None:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(names) - known)
        if unknown:
            what = f" for experiment {experiment!r}" if experiment else ""
            raise SettingError(f"unknown setting(s) {', '.join(unknown)}{what}; known settings: "
                               f"{', '.join(sorted(known))}.")

    # -- validation ---------------------------------------------------------------------------------------------------
    @classmethod
    def validate(cls, settings: dict) -> dict:
        """Check every setting against its constraint, then :meth:`check` the settings together; return the
        validated settings as a dict (canonical types). Raises :class:`SettingError` on the first problem."""
        cls.check_names(settings)
        values = {**cls.defaults(), **settings}
        checked = {f.name: f.metadata["constraint"].check(f.name, values[f.name]) for f in dataclasses.fields(cls)}
        return cls.check(checked)

    @classmethod
    def check(cls, settings: dict) -> dict:
        """Checks that span several settings (override). May drop a setting that has no effect under the others
        (so that it is not part of the run's identity); never changes a value the user chose."""
        return settings

    @classmethod
    def resolve(cls, settings: dict) -> dict:
        """The settings as this machine runs them (``device="auto"`` -> ``"cpu"``, ...): called when a run
        starts, never by :meth:`validate`, so that validated settings stay portable (override)."""
        return settings

    @classmethod
    def data_identity(cls, settings: dict) -> str | None:
        """The identity of the data a run with these settings reads on this machine (``None``: none; override)."""
        return None

    @classmethod
    def shared_builds(cls, runs: list, store) -> list[tuple]:
        """What the pending ``runs`` (``[(settings, seed)]``) share in the run ``store`` (a model every run
        measures with, a base model per seed, ...), as independent builds ``(function, args)``: a module-level
        function and its picklable arguments, which builds one thing into the store (or finds it there).
        :func:`collapse_lib.experiments.run_validated` runs them side by side in its worker pool before the runs
        start side by side, so that no run waits on another's lock (and prints that wait on a chapter's page).
        None by default (override)."""
        return []

    @classmethod
    def parse(cls, name: str, text: str):
        """A ``--set name=text`` value, converted by the setting's constraint."""
        return cls.constraint(name).parse(name, text)

    @classmethod
    def describe(cls) -> list[tuple[str, str, str, str]]:
        """``(name, default, allowed, meaning)`` for every setting: the command line's help."""
        rows = []
        for name, default in cls.defaults().items():
            f = cls.field(name)
            rows.append((name, _shown(default), f.metadata["constraint"].describe(), f.metadata["help"]))
        return rows


def _shown(value) -> str:
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def preset(base: type, name: str, *, profiles: dict, doc: str | None = None, **defaults) -> type:
    """A named variant of ``base``: the same settings, constraints and checks, other ``defaults`` and ``profiles``.

    ``gmm_policies = preset(GmmSpec, "GmmPoliciesSpec", policy="mix", profiles={...})``.
    """
    base.check_names(defaults)
    fields = []
    for f in dataclasses.fields(base):
        if f.name in defaults:
            meta = f.metadata
            fields.append((f.name, f.type, setting(defaults[f.name], meta["constraint"], meta["help"],
                                                   paper=meta["paper"], machine=meta["machine"])))
    namespace = {"profiles": profiles, "__doc__": doc or base.__doc__}
    return dataclass(frozen=True)(type(name, (base,), {**namespace, "__annotations__": {n: t for n, t, _ in fields},
                                                       **{n: v for n, _, v in fields}}))
