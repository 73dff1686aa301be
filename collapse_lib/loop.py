r"""The generational loop that every experiment of the book reuses.

Generation 0 fits a fresh model to the real data. Generation ``i >= 1`` builds its dataset
from the model of generation ``i-1`` according to a :class:`~collapse_lib.policies.DataPolicy`
and fits a *fresh* model to it:

.. math::  D_0 \xrightarrow{\text{fit}} p_{\theta_0} \xrightarrow{\text{sample}} D_1
           \xrightarrow{\text{fit}} p_{\theta_1} \to \cdots

A model is anything with

* ``fit(data, rng=None) -> self``,
* ``sample(n, rng) -> dataset`` (``n`` samples per chain),
* ``get_params() -> dict[str, ndarray]`` and ``set_params(dict) -> self`` (for resuming),
* an optional ``sample_axis`` attribute (default 0): the axis of a dataset array that
  indexes samples; batched models that run many independent chains at once use 1.

Every generation draws from random streams derived from ``(seed, generation)``
(:func:`collapse_lib.seeding.generation_rng`), so a run resumed from its last finished
generation ends with exactly the numbers of an uninterrupted run.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from tqdm import tqdm

from .policies import DataPolicy, dataset_from_arrays, dataset_to_arrays, merge_datasets, subsample_dataset
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


def default_record(model, generation: int) -> dict:
    """Record a model's fitted parameters (the default per-generation record)."""
    return model.get_params()


def next_dataset(model, pool, policy: DataPolicy, sample_size: int, seed: int, generation: int,
                 real_sampler: Callable | None, sample_axis: int = 0):
    """Build generation ``generation``'s training set from the previous generation's ``model``.

    Returns ``(data, added, pool)``: the training set, what was added to the pool (only for
    policies that keep one, else ``None``) and the updated pool.
    """
    n_real = policy.n_real(sample_size)
    generated = model.sample(sample_size - n_real, generation_rng(seed, generation, "sample")) \
        if sample_size - n_real > 0 else None
    if n_real > 0:
        fresh = real_sampler(n_real, generation_rng(seed, generation, "real"))
        data = fresh if generated is None else merge_datasets(generated, fresh, sample_axis)
        return data, None, pool
    if policy.name == "replace" or policy.name == "mix":
        return generated, None, pool
    if policy.keeps_real:  # the pool is never grown under this policy: it is the real data D_0
        return merge_datasets(pool, generated, sample_axis), None, pool
    pool = merge_datasets(pool, generated, sample_axis)
    if policy.name == "accumulate":
        return pool, generated, pool
    data = subsample_dataset(pool, sample_size, generation_rng(seed, generation, "subsample"), sample_axis)
    return data, generated, pool


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
        One of ``replace``, ``accumulate``, ``accumulate-subsample``, ``mix``, ``fixed-real`` (the real data
        ``real_data`` plus ``M_i`` generated points, every generation).
    real_fraction : float
        For ``mix``: the fraction of each dataset drawn fresh from the real distribution.
    real_sampler : callable ``(n, rng) -> dataset``
        Draws fresh real data; required by ``mix``.
    seed : int
        Seed of every random stream of the run.
    record : callable ``(model, generation) -> dict[str, ndarray]``
        What to keep of each generation (default: the model's parameters). Values must
        have the same shape at every generation.
    run : collapse_lib.store.Run, optional
        Where each finished generation is saved atomically; if it already holds finished
        generations the loop resumes after the last intact one whose model is saved
        (:meth:`~collapse_lib.store.Run.resume`).
    progress : bool
        Show a tqdm progress bar.

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
        policy = DataPolicy(policy, real_fraction)
    if policy.name == "mix" and policy.real_fraction > 0 and real_sampler is None:
        raise SettingError("policy 'mix' needs real_sampler, a function (n, rng) -> fresh real data.")
    required = ("fit", "sample") + (("get_params",) if record is None or run is not None else ())
    record = record or default_record

    records, model, pool, start = [], None, real_data, 0
    saved = run.resume() if run is not None else []  # checked: damaged files are named and recomputed
    if saved:
        start = len(saved)
        records = [g["record"] for g in saved]
        model = model_factory()
        _check_model(model, None, model_factory, required + ("set_params",))
        model.set_params(saved[-1]["params"])
        if policy.keeps_pool:
            for g in saved[1:]:
                pool = merge_datasets(pool, dataset_from_arrays(g["added"]), getattr(model, "sample_axis", 0))

    for generation in tqdm(range(start, n_generations + 1), initial=start, total=n_generations + 1,
                           desc=description, disable=not progress, mininterval=1.0):
        added = None
        if generation == 0:
            data = real_data
        else:
            data, added, pool = next_dataset(model, pool, policy, int(sizes[generation]), seed, generation,
                                             real_sampler, getattr(model, "sample_axis", 0))
        fresh = model_factory()
        _check_model(fresh, model, model_factory, required)  # a few attribute look-ups per generation
        model = fresh
        model.fit(data, rng=generation_rng(seed, generation, "fit"))
        values = {k: np.asarray(v) for k, v in record(model, generation).items()}
        if run is not None:
            run.save_generation(generation, values, model.get_params(),
                                None if added is None else dataset_to_arrays(added))
        records.append(values)

    history = {key: np.stack([r[key] for r in records]) for key in records[0]}
    history["generation"] = np.arange(n_generations + 1)
    history["sample_size"] = sizes
    return history
