r"""The generational loop that every experiment of the book reuses.

Generation 0 fits a fresh model to the real data. Generation ``i >= 1`` builds its dataset
from the model of generation ``i-1`` according to a :class:`~collapse_lib.policies.DataPolicy`
and fits a *fresh* model to it:

.. math::  D_0 \xrightarrow{\text{fit}} p_{\theta_0} \xrightarrow{\text{sample}} D_1
           \xrightarrow{\text{fit}} p_{\theta_1} \to \cdots

A model is anything with

* ``fit(data, rng=None) -> self``,
* ``sample(n, rng) -> dataset`` (``n`` samples per chain),
* ``get_state() -> dict[str, ndarray]`` and ``set_state(dict) -> self``: its fitted state (for resuming
  and for the generation-0 reference); ``get_params()`` keeps scikit-learn's meaning, the constructor's
  arguments (:class:`collapse_lib.models.base.ModelParams`),
* an optional ``sample_axis`` attribute (default 0): the axis of a dataset array that
  indexes samples; batched models that run many independent chains at once use 1.

The loop owns the data path: the policy (:mod:`collapse_lib.policies`, one class per policy) builds each
training set and says which of its rows are real; the loop keeps generation 0's fitted model, the
*reference*, and hands both to ``record`` in a :class:`Generation`.

Every generation draws from random streams derived from ``(seed, generation)``
(:func:`collapse_lib.seeding.generation_rng`), so a run resumed from its last finished
generation ends with exactly the numbers of an uninterrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from tqdm import tqdm

from .policies import (DataPolicy, Pool, TrainingSet, dataset_from_arrays, dataset_size, dataset_to_arrays, make_policy)
from .sample_sizes import as_sample_sizes
from .seeding import generation_rng
from .validation import SettingError, check_generations, check_seed


def _check_model_factory(model_factory) -> None:
    """``model_factory`` must be a callable that makes models, not a model instance."""
    looks_like_model = all(callable(getattr(model_factory, m, None)) for m in ("fit", "sample"))
    if looks_like_model and not isinstance(model_factory, type):
        name = type(model_factory).__name__
        raise SettingError(f"model_factory must be a function that returns a fresh, unfitted model, got an instance "
                           f"of {name}; every generation fits a new model, so pass e.g. `lambda: {name}(...)` "
                           f"(or functools.partial({name}, ...)) instead of the instance.")
    if not callable(model_factory):
        raise SettingError(f"model_factory must be a function that returns a fresh, unfitted model, got "
                           f"{type(model_factory).__name__}; pass e.g. `lambda: GaussianModel()`.")


def _check_model(model, previous, model_factory, required) -> None:
    """What the factory returned: a new object with the methods the loop will call (``required``)."""
    missing = [m for m in required if not callable(getattr(model, m, None))]
    if missing:
        raise SettingError(f"model_factory returned {type(model).__name__}, which lacks {', '.join(missing)}(); "
                           f"this run calls {', '.join(required)} (see collapse_lib.loop for what a model needs).")
    if previous is not None and model is previous:
        raise SettingError(f"model_factory {model_factory!r} returned the same {type(model).__name__} object twice; "
                           f"it must build a fresh model on every call (e.g. `lambda: {type(model).__name__}(...)`).")


@dataclass(frozen=True)
class Generation:
    """What ``record(model, generation)`` is told about the generation it records.

    ``index``: the generation, 0 for the model fitted to the real data. ``data``: the training set the model
    was fitted to. ``real_rows``: which of its samples are real, a boolean array over the sample axis
    (shape ``(n,)``, or ``batch + (n,)`` when a batched pool was subsampled per chain; ``None`` for sufficient
    statistics); all ``True`` at generation 0. ``reference``: generation 0's fitted model (at generation 0,
    the model itself), restored from the run store when a run resumes.
    """

    index: int
    data: object
    real_rows: np.ndarray | None
    reference: object


def default_record(model, generation: Generation) -> dict:
    """Record a model's fitted state (the default per-generation record)."""
    return model.get_state()


def next_training_set(model, pool: Pool, policy: DataPolicy, sample_size: int, seed: int, generation: int,
                      real_sampler: Callable | None, sample_axis: int = 0) -> TrainingSet:
    """Generation ``generation``'s training set from the previous generation's ``model``: the policy asks for
    ``n_real`` fresh real samples (drawn with ``real_sampler``) and the rest are sampled from ``model``;
    :meth:`~collapse_lib.policies.DataPolicy.build` assembles them with the ``pool`` (which it may grow)."""
    n_real = policy.n_real(sample_size)
    generated = model.sample(sample_size - n_real, generation_rng(seed, generation, "sample")) \
        if sample_size - n_real > 0 else None
    fresh = real_sampler(n_real, generation_rng(seed, generation, "real")) if n_real > 0 else None
    return policy.build(generated, fresh, pool, sample_size, generation_rng(seed, generation, "subsample"),
                        sample_axis)


def run_generations(
    model_factory: Callable[[], object],
    real_data,
    n_generations: int,
    sample_sizes,
    policy: DataPolicy | str = "replace",
    *,
    real_fraction: float = 0.0,
    real_sampler: Callable | None = None,
    seed: int = 0,
    record: Callable | None = None,
    run=None,
    progress: bool = False,
    description: str = "generations",
    summarise: Callable | None = None,
) -> dict:
    """Run the recursion for generations ``0..n_generations`` and return what was recorded.

    Parameters
    ----------
    model_factory : callable
        Returns a fresh, unfitted model (called once per generation), e.g. ``lambda: GaussianModel()``
        or the class itself. A model instance, something not callable, a factory whose result lacks
        the methods the run calls, or one that returns the same object twice raises ``SettingError``.
    real_data : dataset
        Generation 0's training data (real data), e.g. an array of shape ``(M_0, d)`` or
        ``(n_chains, M_0)`` for a batched model, or sufficient statistics.
    n_generations : int
        Recursive steps after generation 0 (>= 1); ``n_generations + 1`` models are fitted.
    sample_sizes : int or sequence of int
        ``M_i`` for ``i = 0..n_generations``; see :mod:`collapse_lib.sample_sizes`.
    policy : DataPolicy or str
        A policy (:mod:`collapse_lib.policies`) or its name: ``replace``, ``accumulate``,
        ``accumulate-subsample``, ``mix``, ``fixed-real`` (the real data ``real_data`` plus ``M_i`` generated
        points, every generation).
    real_fraction : float
        With a policy name ``mix``: the fraction of each dataset drawn fresh from the real distribution.
    real_sampler : callable ``(n, rng) -> dataset``
        Draws fresh real data; required by ``mix``.
    seed : int
        Seed of every random stream of the run.
    record : callable ``(model, generation: Generation) -> dict[str, ndarray]``
        What to keep of each generation (default: the model's fitted state); ``generation`` carries the
        index, the training set, which of its rows are real and the generation-0 reference model
        (:class:`Generation`). Values must have the same shape at every generation.
    run : collapse_lib.store.Run, optional
        Where each finished generation is saved atomically; if it already holds finished
        generations the loop resumes after the last intact one whose model is saved
        (:meth:`~collapse_lib.store.Run.resume`).
    progress : bool
        Show a tqdm progress bar.
    summarise : callable ``(reference) -> dict[str, ndarray]``, optional
        Called once after the last generation with the generation-0 reference model; its arrays are added
        to the result (e.g. the real data measured with the reference's encoder).

    Returns
    -------
    dict of ndarray
        Each recorded key stacked over generations (leading axis of length
        ``n_generations + 1``), plus ``"generation"`` and ``"sample_size"``.
    """
    _check_model_factory(model_factory)
    if record is not None and not callable(record):
        raise SettingError(f"record must be a function (model, generation) -> dict of arrays, got "
                           f"{type(record).__name__}.")
    n_generations = check_generations(n_generations)
    sizes = as_sample_sizes(sample_sizes, n_generations)
    seed = check_seed(seed)
    if not isinstance(policy, DataPolicy):
        policy = make_policy(policy, real_fraction)
    elif real_fraction:
        raise SettingError(f"real_fraction={real_fraction} is given twice: the policy {policy!r} carries its own; "
                           "drop real_fraction.")
    if policy.needs_real and policy.n_real(int(max(sizes))) > 0 and real_sampler is None:
        raise SettingError(f"policy {policy.name!r} draws fresh real data: pass real_sampler, a function "
                           "(n, rng) -> fresh real data.")
    required = ("fit", "sample") + (("get_state",) if record is None or run is not None else ())
    record = record or default_record
    axis = lambda m: getattr(m, "sample_axis", 0)  # noqa: E731

    records, model, reference, start = [], None, None, 0
    pool = Pool(real_data, dataset_size(real_data, 0))
    saved = run.resume() if run is not None else []  # checked: damaged files are named and recomputed
    if saved:
        start = len(saved)
        records = [g["record"] for g in saved]
        model = model_factory()
        _check_model(model, None, model_factory, required + ("set_state",))
        model.set_state(saved[-1]["params"])
        reference = model if start == 1 else model_factory().set_state(saved[0]["params"])
        pool.n_real = dataset_size(real_data, axis(model))
        if policy.keeps_pool:
            policy.restore(pool, [dataset_from_arrays(g["added"]) for g in saved[1:]], axis(model))

    for generation in tqdm(range(start, n_generations + 1), initial=start, total=n_generations + 1,
                           desc=description, disable=not progress, mininterval=1.0):
        if generation > 0:
            built = next_training_set(model, pool, policy, int(sizes[generation]), seed, generation, real_sampler,
                                      axis(model))
        fresh = model_factory()
        _check_model(fresh, model, model_factory, required)  # a few attribute look-ups per generation
        model = fresh
        if generation == 0:
            pool.n_real = dataset_size(real_data, axis(model))
            rows = pool.n_real if isinstance(real_data, np.ndarray) else None
            built = TrainingSet(real_data, None if rows is None else np.ones(rows, dtype=bool))
        model.fit(built.data, rng=generation_rng(seed, generation, "fit"))
        if generation == 0:
            reference = model
        info = Generation(generation, built.data, built.real_rows, reference)
        values = {k: np.asarray(v) for k, v in record(model, info).items()}
        if run is not None:
            run.save_generation(generation, values, model.get_state(),
                                None if built.added is None else dataset_to_arrays(built.added))
        records.append(values)

    history = {key: np.stack([r[key] for r in records]) for key in records[0]}
    history["generation"] = np.arange(n_generations + 1)
    history["sample_size"] = sizes
    if summarise is not None:
        history.update({k: np.asarray(v) for k, v in summarise(reference).items()})
    return history
