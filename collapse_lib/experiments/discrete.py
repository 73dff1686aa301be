"""Discrete distributions with exact approximation: the neutral Wright-Fisher chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..loop import run_generations
from ..metrics import fixed_state, heterozygosity, presence_fraction
from ..models.categorical import CategoricalModel
from ..seeding import generation_rng
from ..spec import GENERATIONS, NONNEGATIVE_INT, POSITIVE, POSITIVE_INT, ExperimentSpec, ListOf, setting
from ..validation import SettingError
from . import register_spec


@dataclass(frozen=True)
class WrightFisherSpec(ExperimentSpec):
    """Neutral Wright-Fisher chains: a categorical distribution refitted to ``sample_size`` draws of itself."""

    probabilities: list = setting([0.5, 0.25, 0.15, 0.06, 0.03, 0.01], ListOf(POSITIVE),
                                  "q, the real distribution over K states (K >= 2 positive probabilities "
                                  "summing to 1)")
    sample_size: int = setting(50, POSITIVE_INT, "M, samples per generation")
    n_generations: int = setting(1000, GENERATIONS, "recursive steps after generation 0")
    n_chains: int = setting(20000, POSITIVE_INT, "independent chains")
    keep_chains: int = setting(5, NONNEGATIVE_INT, "chains whose probabilities are stored every generation")

    # Discrete distributions with exact approximation: neutral Wright-Fisher chains.
    profiles: ClassVar[dict] = {
        "smoke": dict(sample_size=20, n_generations=150, n_chains=2000),
        "book": dict(sample_size=50, n_generations=700, n_chains=20000),
        "paper": dict(sample_size=100, n_generations=2000, n_chains=100000),
    }

    @classmethod
    def check(cls, s: dict) -> dict:
        q = s["probabilities"]
        if len(q) < 2 or not np.isclose(np.sum(q), 1.0):
            raise SettingError(f"probabilities must list >= 2 positive numbers summing to 1, got {q}; "
                               f"normalise them (q / sum(q)).")
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


register_spec("wright_fisher", run_wright_fisher, WrightFisherSpec,
              "neutral Wright-Fisher chains: absorption and fixation probabilities", version=1)
