"""Seeded random streams, one per (seed, generation, purpose).

Each generation draws from its own generator, derived from the run's seed with NumPy's
``SeedSequence``. Generation ``i`` therefore uses the same random numbers whether the run
went straight through or was resumed after an interruption at any earlier generation.
"""

from __future__ import annotations

import numpy as np

from .validation import check_int, check_seed

#: Purposes of the random streams inside one generation; each gets an independent stream.
STREAMS = {"sample": 0, "fit": 1, "real": 2, "subsample": 3, "data": 4}


def generation_rng(seed: int, generation: int, purpose: str) -> np.random.Generator:
    """The generator for ``purpose`` (a key of :data:`STREAMS`) at ``generation`` of a run.

    >>> a = generation_rng(0, 5, "sample").normal()
    >>> b = generation_rng(0, 5, "sample").normal()
    >>> a == b
    True
    """
    seed = check_seed(seed)
    generation = check_int("generation", generation, minimum=0)
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(generation, STREAMS[purpose]))
    return np.random.Generator(np.random.PCG64(sequence))
