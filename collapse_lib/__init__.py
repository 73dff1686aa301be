"""collapse_lib: the shared library of the model-collapse companion book.

Everything the chapters compute lives here: small models with ``fit(data)`` and
``sample(n, rng)``, one generational loop (:func:`run_generations`) with the data policy
as a parameter, plain metric functions, the paper's closed forms, scale profiles, and a
run store that saves every finished generation atomically and resumes interrupted runs.
"""

from . import metrics, theory
from .experiments import EXPERIMENTS, resolve_settings, run_experiment, run_sweep, settings_table
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
    "EXPERIMENTS", "POLICIES", "PROFILE_NAMES", "CategoricalModel", "CategoryCounts", "DataPolicy",
    "GaussianModel", "GaussianStats", "RunStore", "make_policy", "SettingError", "Sweep", "generation_rng", "metrics",
    "profile_from_env", "resolve_settings", "run_experiment", "run_generations", "run_sweep",
    "sample_size_schedule", "settings_table", "theory",
]
