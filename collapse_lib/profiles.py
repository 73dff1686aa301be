"""Scale profiles, defined once for every experiment of the book.

``smoke``
    Seconds. CI and the papermill tests run every chapter like this; every section still runs.
``book``
    The default: minutes on 2 CPU cores. The rendered book's numbers come from it.
``paper``
    The paper's exact settings (a GPU is advised for the neural experiments).

Each experiment's spec (:mod:`collapse_lib.spec`) gives, for each profile, the settings that differ
from its defaults (``ExperimentSpec.profiles``), next to the settings themselves. A value wrapped in
:class:`Sweep` is a list of values to run one by one: a chapter loops over it, the command line turns it
into independent runs.
"""

from __future__ import annotations

import os
import re

from .validation import SettingError, check_choice

PROFILE_NAMES = ("smoke", "book", "paper")


class Sweep(tuple):
    """Several values of one setting, each run separately: ``Sweep([100, 1000])``."""

    def __new__(cls, values):
        values = tuple(values)
        if not values:
            raise SettingError("a sweep needs at least one value.")
        return super().__new__(cls, values)

    def __repr__(self) -> str:
        return f"Sweep({list(self)!r})"


def check_profile(profile: str) -> str:
    """Raise a clear error for an unknown profile name."""
    return check_choice("profile", profile, PROFILE_NAMES)


def _passed_by_papermill(name: str) -> bool:
    """True if papermill injected a value of ``name`` into the running kernel (its injected cell,
    which starts with ``# Parameters``, is in IPython's input history)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    history = shell.user_ns.get("_ih", []) if shell is not None else []
    return any(cell.lstrip().startswith("# Parameters") and re.search(rf"^{name}\s*=", cell, flags=re.M)
               for cell in history)


def profile_from_env(profile: str, default: str = "book") -> str:
    """The profile a chapter runs at.

    A profile passed explicitly (a papermill parameter, or a value other than the chapter's
    ``default``) always wins. ``$COLLAPSE_PROFILE`` (``make book PROFILE=...``) replaces only the
    chapter's default. Either way the choice is printed when the two disagree.
    """
    check_profile(profile)
    from_env = os.environ.get("COLLAPSE_PROFILE", "").strip()
    if not from_env or from_env == profile:
        return profile
    check_choice("COLLAPSE_PROFILE", from_env, PROFILE_NAMES)
    if profile != default or _passed_by_papermill("profile"):
        print(f"profile {profile!r} was passed explicitly; COLLAPSE_PROFILE={from_env!r} is ignored.")
        return profile
    print(f"profile {from_env!r} from COLLAPSE_PROFILE (the chapter's default is {default!r}).")
    return from_env
