"""Discrete distributions with exact approximation: the neutral Wright-Fisher chain."""

from __future__ import annotations

import numpy as np

from ..loop import run_generations
from ..metrics import fixed_state, heterozygosity, presence_fraction
from ..models.categorical import CategoricalModel
from ..seeding import generation_rng
from ..validation import SettingError, check_generations, check_int, check_positive_int
from . import Experiment, register

DEFAULTS = dict(
    probabilities=[0.5, 0.25, 0.15, 0.06, 0.03, 0.01],  # q, the real distribution over K states
    sample_size=50,      # M, samples per generation
    n_generations=1000,  # recursive steps after generation 0
    n_chains=20000,      # independent chains
    keep_chains=5,       # chains whose probabilities are stored every generation
)


def validate(settings: dict) -> dict:
    s = dict(settings)
    q = np.asarray(s["probabilities"], dtype=float)
    if q.ndim != 1 or q.size < 2 or np.any(q <= 0) or not np.isclose(q.sum(), 1.0):
        raise SettingError(f"probabilities must list >= 2 positive numbers summing to 1, got {s['probabilities']}.")
    s["probabilities"] = [float(x) for x in q]
    s["sample_size"] = check_positive_int("sample_size", s["sample_size"])
    s["n_generations"] = check_generations(s["n_generations"])
    s["n_chains"] = check_positive_int("n_chains", s["n_chains"])
    s["keep_chains"] = check_int("keep_chains", s["keep_chains"], minimum=0)
    return s


def run_wright_fisher(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """Resample ``n_chains`` categorical chains; record absorption and the loss of rare states.

    Records per generation ``g`` (the model fitted after ``g + 1`` multinomial draws):
    ``fixed_state`` (n_chains,) int8, the absorbing state or -1; ``heterozygosity``, its mean
    over chains; ``present_fraction`` (K,), the fraction of chains in which each state
    still has mass; ``chain_probabilities`` (keep_chains, K).
    """
    s = settings
    truth = CategoricalModel.from_probabilities(s["probabilities"], s["n_chains"])
    real = truth.sample(s["sample_size"], generation_rng(seed, 0, "data"))

    def record(model, generation):
        p = model.probabilities_
        return {"fixed_state": fixed_state(p), "heterozygosity": heterozygosity(p).mean(),
                "present_fraction": presence_fraction(p), "chain_probabilities": p[: s["keep_chains"]]}

    return run_generations(CategoricalModel, real, s["n_generations"], s["sample_size"], "replace",
                           seed=seed, record=record, run=run, progress=progress, description="wright-fisher")


register(Experiment("wright_fisher", run_wright_fisher, DEFAULTS, validate,
                    "neutral Wright-Fisher chains: absorption and fixation probabilities", version=1))
