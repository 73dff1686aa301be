"""Scale profiles, defined once for every experiment of the book.

``smoke``
    Seconds. CI and the papermill tests run every chapter like this; every section still runs.
``book``
    The default: minutes on 2 CPU cores. The rendered book's numbers come from it.
``paper``
    The paper's exact settings (a GPU is advised for the neural experiments).

A profile gives, for each experiment, the settings that differ from that experiment's
defaults. A value wrapped in :class:`Sweep` is a list of values to run one by one: a
chapter loops over it, the command line turns it into independent runs.
"""

from __future__ import annotations

import os

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


PAPER_GAUSSIAN_SIZES = Sweep([100, 500, 1000, 10000])

PROFILES: dict = {
    # The paper's single-Gaussian experiment (SI Figs. 3-5; official notebook cells 12, 16).
    "gaussian": {
        "smoke": dict(sample_size=Sweep([100, 1000]), n_generations=40, n_chains=200,
                      ddof=Sweep([0, 1]), policy=Sweep(["replace", "accumulate"])),
        "book": dict(sample_size=PAPER_GAUSSIAN_SIZES, n_generations=1000, n_chains=1000,
                     ddof=Sweep([0, 1]), policy=Sweep(["replace", "accumulate"])),
        # The paper's M, generations, estimators and policies, over 10,000 chains. The exact
        # sufficient-statistic sampler is used: literal samples (--set method=samples) give the
        # same distribution but an accumulate pool of M=10,000 reaches ~80 GB by generation 1000.
        "paper": dict(sample_size=PAPER_GAUSSIAN_SIZES, n_generations=1000, n_chains=10000,
                      ddof=Sweep([0, 1]), policy=Sweep(["replace", "accumulate"])),
    },
    # Theory checks of Theorem 3.1 with growing sample sizes (formulas G1-G6).
    "gaussian_theory": {
        # growth: the geometric ratio, chosen so that M stays below ~1e8 at the last generation.
        "smoke": dict(sample_size=20, n_generations=30, n_chains=4000, ddof=Sweep([0, 1]), growth=1.5,
                      schedule=Sweep(["constant", "linear", "quadratic", "geometric"])),
        "book": dict(sample_size=20, n_generations=200, n_chains=20000, ddof=Sweep([0, 1]), growth=1.08,
                     schedule=Sweep(["constant", "linear", "quadratic", "geometric"])),
        "paper": dict(sample_size=100, n_generations=1000, n_chains=100000, ddof=Sweep([0, 1]), growth=1.014,
                      schedule=Sweep(["constant", "linear", "quadratic", "geometric"])),
    },
    # Discrete distributions with exact approximation: neutral Wright-Fisher chains.
    "wright_fisher": {
        "smoke": dict(sample_size=20, n_generations=150, n_chains=2000),
        "book": dict(sample_size=50, n_generations=700, n_chains=20000),
        "paper": dict(sample_size=100, n_generations=2000, n_chains=100000),
    },
    # --- gmm (issue 3): Gaussian mixture models ---
    # --- prevention (issue 6): replace vs accumulate, fresh real data, growing samples ---
    # --- vae (issue 4): a VAE on MNIST ---
    # --- language_model (issue 5): WikiText-2 ---
}


def check_profile(profile: str) -> str:
    """Raise a clear error for an unknown profile name."""
    return check_choice("profile", profile, PROFILE_NAMES)


def profile_from_env(default: str) -> str:
    """The profile a chapter runs at: ``$COLLAPSE_PROFILE`` if set (``make book PROFILE=...``), else ``default``."""
    return check_profile(os.environ.get("COLLAPSE_PROFILE") or default)


def profile_settings(experiment: str, profile: str) -> dict:
    """The settings a profile changes for ``experiment`` (may contain :class:`Sweep` values)."""
    check_profile(profile)
    check_choice("experiment", experiment, PROFILES)
    return dict(PROFILES[experiment][profile])
