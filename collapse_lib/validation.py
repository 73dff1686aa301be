"""Input checks that stop bad settings before any work starts.

Every check raises :class:`SettingError` (a ``ValueError``) whose message names the
setting, the value that was given and the range that is allowed, so that a reader can
fix the call without reading the source.
"""

from __future__ import annotations

import numbers
from typing import Iterable

import numpy as np


class SettingError(ValueError):
    """A setting is outside its allowed range; the message says which and how to fix it."""


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` or raise if it is not an integer in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise SettingError(
                f"{name} must be an integer, got {value!r} ({type(value).__name__}); "
                f"pass a whole number such as {minimum if minimum is not None else 0}."
            )
    value = int(value)
    if minimum is not None and value < minimum:
        raise SettingError(f"{name} must be >= {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise SettingError(f"{name} must be <= {maximum}, got {value}.")
    return value


def check_positive_int(name: str, value) -> int:
    """An integer >= 1 (sample sizes, chain counts, generation counts)."""
    return check_int(name, value, minimum=1)


#: The most generations a run may ask for: the paper's longest run has 2,050, and per-generation
#: schedules and records are allocated up front, so a mistyped count must not exhaust memory.
MAX_GENERATIONS = 1_000_000


def check_generations(value, name: str = "n_generations") -> int:
    """A number of generations in ``[1, MAX_GENERATIONS]``."""
    return check_int(name, value, minimum=1, maximum=MAX_GENERATIONS)


def check_seed(value) -> int:
    """A seed is a non-negative integer (NumPy's SeedSequence needs one)."""
    return check_int("seed", value, minimum=0)


def check_fraction(name: str, value) -> float:
    """A real number in the closed interval [0, 1]."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SettingError(f"{name} must be a number in [0, 1], got {value!r}.") from None
    if not np.isfinite(value) or not 0.0 <= value <= 1.0:
        raise SettingError(f"{name} must be a fraction in [0, 1], got {value}.")
    return value


def check_positive_float(name: str, value) -> float:
    """A finite real number > 0 (standard deviations, growth ratios)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SettingError(f"{name} must be a positive number, got {value!r}.") from None
    if not np.isfinite(value) or value <= 0:
        raise SettingError(f"{name} must be a finite number > 0, got {value}.")
    return value


def check_nonnegative_float(name: str, value) -> float:
    """A finite real number >= 0 (weight decay, a separation, an exponent)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SettingError(f"{name} must be a number >= 0, got {value!r}.") from None
    if not np.isfinite(value) or value < 0:
        raise SettingError(f"{name} must be a finite number >= 0, got {value}.")
    return value


def check_finite_settings(settings: dict) -> dict:
    """Every number among ``settings`` (also inside lists) is finite: NaN or infinity is refused for every
    setting of every experiment, before its own validator runs."""
    for name, value in settings.items():
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            if isinstance(item, (float, np.floating)) and not np.isfinite(item):
                raise SettingError(f"{name} must be a finite number, got {item!r}.")
    return settings


def check_choice(name: str, value, allowed: Iterable) -> object:
    """``value`` must be one of ``allowed``; the message lists them."""
    allowed = list(allowed)
    if value not in allowed:
        raise SettingError(
            f"unknown {name} {value!r}; choose one of: {', '.join(map(str, allowed))}."
        )
    return value


def check_finite_array(name: str, array) -> np.ndarray:
    """Return ``array`` as a float array, raising if it holds NaN or infinity."""
    array = np.asarray(array, dtype=float)
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise SettingError(f"{name} contains {bad} non-finite value(s) (NaN or inf); clean the data first.")
    return array
