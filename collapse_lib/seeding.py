"""Seeded random streams, one per (seed, generation, purpose), and the fixed seeds of shared artifacts.

Each generation draws from its own generators, derived from the run's seed with NumPy's
``SeedSequence``. Generation ``i`` therefore uses the same random numbers whether the run
went straight through or was resumed after an interruption at any earlier generation.

Every random stream of the library is named here: the loop's (:data:`STREAMS`: sampling the previous
model, fitting, fresh real data, subsampling a pool, drawing the real data), an experiment's own streams
(children of ``"data"``, so they never overlap the loop's: what it measures, and what it builds from the
run's seed before generation 0, such as the small language model's base) and the fixed seeds of
artifacts shared by every run (:data:`FIXED_SEEDS`: a classifier, a fixed rotation).
"""

from __future__ import annotations

import numpy as np

from .validation import check_choice, check_int, check_seed

#: Purposes of the random streams inside one generation, each an independent stream (its SeedSequence
#: spawn key after the generation). The loop's own come first; the measurement streams are children of
#: ``"data"``.
STREAMS = {
    "sample": (0,),            # the previous model's samples (collapse_lib.loop)
    "fit": (1,),               # the model's fit
    "real": (2,),              # fresh real data (policy "mix")
    "subsample": (3,),         # a draw from the pool (policy "accumulate-subsample")
    "data": (4,),              # generation 0's real data (experiments without generations: dataset i's draw)
    "train_subset": (4, 0),    # VAE: the seeded subset of the MNIST training images (generation 0)
    "measure_samples": (4, 1),  # VAE: the images a generation is measured on
    "measure_elbo": (4, 2),    # VAE: the test ELBO's latent draws
    "measure_grid": (4, 3),    # VAE: the sample grid shown in the chapter
    "example": (4, 4),         # language model: the continuation of the Example-1 prompt (decoding "sample")
    "figure_samples": (4, 5),  # points a chapter draws from a stored model, for a figure only
    "base": (4, 6),            # language model: the small base model's initialisation and pretraining order
                               # (built before generation 0; a child of "data" like the streams above)
    "prose_example": (4, 7),   # language model: the continuation of the prose prompt (decoding "sample")
}

#: Seeds of what is built once and shared by every run and seed (part of each artifact's cache key).
FIXED_SEEDS = {
    "digit_classifier": 0,      # the MNIST classifier that labels the VAE's samples
    "prevention_rotation": 2024,  # the rotation of the multivariate Gaussian's covariance axes
}


def generation_rng(seed: int, generation: int, purpose: str) -> np.random.Generator:
    """The generator for ``purpose`` (a key of :data:`STREAMS`) at ``generation`` of a run.

    >>> a = generation_rng(0, 5, "sample").normal()
    >>> b = generation_rng(0, 5, "sample").normal()
    >>> a == b
    True
    """
    seed = check_seed(seed)
    generation = check_int("generation", generation, minimum=0)
    check_choice("purpose", purpose, STREAMS)
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(generation,) + STREAMS[purpose])
    return np.random.Generator(np.random.PCG64(sequence))


def fixed_seed(purpose: str) -> int:
    """The fixed seed of a shared artifact (a key of :data:`FIXED_SEEDS`)."""
    check_choice("purpose", purpose, FIXED_SEEDS)
    return FIXED_SEEDS[purpose]


def fixed_rng(purpose: str) -> np.random.Generator:
    """``numpy.random.default_rng(fixed_seed(purpose))``: the generator of a shared, fixed draw."""
    return np.random.default_rng(fixed_seed(purpose))
