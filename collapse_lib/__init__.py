"""collapse_lib: the shared library of the model-collapse companion book.

Everything the chapters compute lives here: small models with ``fit(data)`` and
``sample(n, rng)``, one generational loop (:func:`run_generations`) with the data policy
as a parameter, scale profiles, and a run store that saves every finished generation
atomically and resumes interrupted runs. One concept, one module:

:mod:`collapse_lib.distributions`
    the true distributions the experiments start from;
:mod:`collapse_lib.metrics`
    every measure of samples, fitted models or results (distances, spreads, tail mass, perplexity, ...);
:mod:`collapse_lib.theory`
    every closed form and expectation, to draw against simulation;
:mod:`collapse_lib.plotting`
    the figure helpers of the chapters (imported on its own: it loads matplotlib).

The run helpers of the chapters that compute or load many runs at once are exported here:
:func:`collapse_profile` (which definitions of collapse each run meets), :func:`vae_chapter_runs` (the VAE's
two policies side by side), and for the language-model
chapter :func:`language_model_chapter_runs`, :func:`judge_generations`, :func:`generated_blocks` and the
decoding ablation (:data:`DECODINGS`, :func:`decoding_runs`, :func:`decoding_command`).
"""

from . import distributions, metrics, theory
from .experiments import EXPERIMENTS, resolve_settings, run_experiment, run_sweep, settings_table, stored_results
from .experiments.debate import collapse_profile
from .experiments.language_model import (DECODINGS, decoding_command, decoding_runs, generated_blocks,
                                         judge_generations, language_model_chapter_runs)
from .experiments.vae import vae_chapter_runs
from .loop import run_generations
from .models import CategoricalModel, GaussianModel
from .policies import POLICIES, DataPolicy, make_policy
from .profiles import PROFILE_NAMES, Sweep, profile_from_env
from .sample_sizes import sample_size_schedule
from .seeding import generation_rng
from .store import RunStore
from .sufficient_stats import CategoryCounts, GaussianStats
from .validation import SettingError

__version__ = "0.1.0"

__all__ = [
    "DECODINGS", "EXPERIMENTS", "POLICIES", "PROFILE_NAMES", "CategoricalModel", "CategoryCounts", "DataPolicy",
    "GaussianModel", "GaussianStats", "RunStore", "SettingError", "Sweep", "collapse_profile", "decoding_command",
    "decoding_runs", "distributions", "generated_blocks", "generation_rng", "judge_generations",
    "language_model_chapter_runs", "make_policy", "metrics", "profile_from_env", "resolve_settings", "run_experiment",
    "run_generations", "run_sweep", "sample_size_schedule", "settings_table", "stored_results", "theory",
    "vae_chapter_runs",
]
