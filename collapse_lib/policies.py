r"""Data policies: how generation ``i``'s training set is built from what came before.

The paper writes the data of generation ``i+1`` as a draw from
:math:`\alpha\,p_{\theta_{i+1}} + \beta\,p_i + \gamma\,p_0`. The policies here are the
settings its experiments and follow-ups use:

``replace``
    :math:`D_i` = ``M_i`` fresh samples of the previous model (the paper's main setting,
    :math:`\alpha=1`).
``accumulate``
    :math:`D_i = D_0 \cup \dots \cup D_{i-1} \cup` ``M_i`` fresh samples: nothing is thrown
    away (Gerstgrasser et al. 2024).
``accumulate-subsample``
    ``M_i`` points drawn without replacement from that growing pool, so each fit costs the
    same (Nature SI Fig. 4; Kazdan et al. 2024).
``mix``
    ``round(real_fraction * M_i)`` fresh real points plus the rest from the previous
    model (the LM experiment's 10% setting, :math:`\gamma` = ``real_fraction``).
``fixed-real``
    the *same* real dataset :math:`D_0` every generation plus ``M_i`` fresh samples of the
    previous model (Bertrand et al. 2024): the real share :math:`M_0/(M_0+M_i)` is set by the
    sample sizes, and nothing new is ever drawn from the real distribution.

A dataset is either a NumPy array whose samples lie along ``sample_axis``, or one of the
sufficient-statistics classes in :mod:`collapse_lib.sufficient_stats`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from . import sufficient_stats
from .spec import Options
from .validation import SettingError, check_choice, check_fraction



@dataclass(frozen=True)
class TrainingSet:
    """One generation's training set, as a policy builds it.

    ``data``: the dataset the generation's model is fitted to. ``real_rows``: which of its samples are real
    data (from generation 0's dataset or fresh from the real distribution), a boolean array over the sample
    axis, shape ``(n,)``, or ``batch + (n,)`` when a batched pool is subsampled chain by chain; ``None`` when the
    dataset has no rows (sufficient statistics). ``added``: the generated samples this generation adds to a
    pool (saved by the run store, so that a resumed run rebuilds the pool), else ``None``.
    """

    data: object
    real_rows: np.ndarray | None
    added: object = None


@dataclass(frozen=True)
class DataPolicy:
    """How generation ``g >= 1``'s training set is built; subclasses fill :meth:`build` (one class per policy).

    The loop (:func:`collapse_lib.run_generations`) draws ``M_g - n_real(M_g)`` samples from the previous
    model and, if :meth:`n_real` asks for them, fresh real samples, and hands both to :meth:`build` with
    the pool (the real data ``D_0`` at the start; every earlier dataset for the accumulating policies).
    """

    name: ClassVar[str]
    #: Whether the policy needs every earlier dataset (the growing pool, saved generation by generation).
    keeps_pool: ClassVar[bool] = False
    #: Whether the policy draws fresh real data (the loop then needs a ``real_sampler``).
    needs_real: ClassVar[bool] = False

    def n_real(self, sample_size: int) -> int:
        """Fresh real samples in a dataset of ``sample_size`` samples."""
        return 0

    def restore(self, pool: "Pool", added: list, sample_axis: int = 0) -> None:
        """Rebuild the pool of a resumed run from the samples each finished generation added (in order)."""
        for samples in added:
            pool.data = merge_datasets(pool.data, samples, sample_axis)

    def build(self, generated, fresh_real, pool: "Pool", sample_size: int, rng: np.random.Generator,
              sample_axis: int = 0) -> TrainingSet:
        """The training set from ``generated`` (samples of the previous model, or ``None``), ``fresh_real``
        (fresh real samples, or ``None``) and the ``pool``, which this call may grow."""
        raise NotImplementedError


@dataclass
class Pool:
    """The data a policy keeps between generations: ``data`` (``D_0`` at the start, every dataset so far for the
    accumulating policies) and ``n_real``, how many of its first samples are the real ``D_0``."""

    data: object
    n_real: int


def _mask(n_real_first: int, n_total: int, real_first: bool = True) -> np.ndarray:
    mask = np.zeros(n_total, dtype=bool)
    if real_first:
        mask[:n_real_first] = True
    else:
        mask[n_total - n_real_first:] = True
    return mask


def _rows(data, sample_axis: int):
    return None if not isinstance(data, np.ndarray) else data.shape[sample_axis]


@dataclass(frozen=True)
class Replace(DataPolicy):
    """``D_g`` = ``M_g`` fresh samples of the previous model (the paper's main setting, alpha = 1)."""

    name: ClassVar[str] = "replace"

    def build(self, generated, fresh_real, pool, sample_size, rng, sample_axis=0):
        n = _rows(generated, sample_axis)
        return TrainingSet(generated, None if n is None else np.zeros(n, dtype=bool))


@dataclass(frozen=True)
class Mix(DataPolicy):
    """``round(real_fraction * M_g)`` fresh real samples after the rest, drawn from the previous model
    (gamma = ``real_fraction`` in the paper's alpha/beta/gamma mixture; its LM experiment's 10% setting)."""

    real_fraction: float = 0.0
    name: ClassVar[str] = "mix"
    needs_real: ClassVar[bool] = True

    def __post_init__(self):
        check_fraction("real_fraction", self.real_fraction)

    def n_real(self, sample_size: int) -> int:
        return int(round(self.real_fraction * sample_size))

    def build(self, generated, fresh_real, pool, sample_size, rng, sample_axis=0):
        if fresh_real is None:
            data = generated
        else:
            data = fresh_real if generated is None else merge_datasets(generated, fresh_real, sample_axis)
        n = _rows(data, sample_axis)
        n_real = 0 if fresh_real is None else _rows(fresh_real, sample_axis)
        return TrainingSet(data, None if n is None else _mask(n_real, n, real_first=False))


@dataclass(frozen=True)
class FixedReal(DataPolicy):
    """The same real dataset ``D_0`` every generation, then ``M_g`` fresh samples of the previous model
    (Bertrand et al. 2024); nothing new is drawn from the real distribution."""

    name: ClassVar[str] = "fixed-real"

    def build(self, generated, fresh_real, pool, sample_size, rng, sample_axis=0):
        data = merge_datasets(pool.data, generated, sample_axis)
        n = _rows(data, sample_axis)
        return TrainingSet(data, None if n is None else _mask(pool.n_real, n))


@dataclass(frozen=True)
class Accumulate(DataPolicy):
    """``D_g = D_0 ∪ ... ∪ D_{g-1} ∪`` ``M_g`` fresh samples: nothing is thrown away (Gerstgrasser et al. 2024)."""

    name: ClassVar[str] = "accumulate"
    keeps_pool: ClassVar[bool] = True

    def build(self, generated, fresh_real, pool, sample_size, rng, sample_axis=0):
        pool.data = merge_datasets(pool.data, generated, sample_axis)
        n = _rows(pool.data, sample_axis)
        return TrainingSet(pool.data, None if n is None else _mask(pool.n_real, n), added=generated)


@dataclass(frozen=True)
class AccumulateSubsample(DataPolicy):
    """``M_g`` samples drawn without replacement from that growing pool, so each fit costs the same
    (Nature SI Fig. 4; Kazdan et al. 2024)."""

    name: ClassVar[str] = "accumulate-subsample"
    keeps_pool: ClassVar[bool] = True

    def build(self, generated, fresh_real, pool, sample_size, rng, sample_axis=0):
        pool.data = merge_datasets(pool.data, generated, sample_axis)
        data, index = subsample_dataset(pool.data, sample_size, rng, sample_axis, return_index=True)
        real = None if index is None else index < pool.n_real
        return TrainingSet(data, real, added=generated)


#: Each policy's class, by the name a spec's ``policy`` setting uses; a new policy is one class added here.
POLICY_CLASSES: dict[str, type] = {cls.name: cls for cls in (Replace, Accumulate, AccumulateSubsample, Mix, FixedReal)}

#: The policies' names.
POLICIES = tuple(POLICY_CLASSES)

#: The constraint of an experiment spec's ``policy`` setting (:mod:`collapse_lib.spec`).
POLICY = Options(POLICIES)


def _takes_fraction(name: str) -> bool:
    return any(f.name == "real_fraction" for f in dataclasses.fields(POLICY_CLASSES[name]))


def check_policy(policy: str, real_fraction: float) -> None:
    """A spec's ``policy`` and ``real_fraction`` together: a real fraction above 0 needs a policy that draws
    fresh real data (``mix``)."""
    check_choice("policy", policy, POLICIES)
    fraction = check_fraction("real_fraction", real_fraction)
    if not _takes_fraction(policy) and fraction != 0.0:
        takes = ", ".join(repr(n) for n in POLICIES if _takes_fraction(n))
        raise SettingError(f"real_fraction={fraction} only applies to policy {takes}; "
                           f"set policy={takes} or real_fraction=0 (policy is {policy!r}).")


def make_policy(name: str = "replace", real_fraction: float = 0.0) -> DataPolicy:
    """The policy a spec's ``policy`` and ``real_fraction`` settings name (see :func:`check_policy`)."""
    check_policy(name, real_fraction)
    cls = POLICY_CLASSES[name]
    return cls(float(real_fraction)) if _takes_fraction(name) else cls()


def dataset_size(data, sample_axis: int = 0) -> int:
    """Number of samples in ``data`` (per chain, for batched datasets)."""
    if isinstance(data, np.ndarray):
        return int(data.shape[sample_axis])
    return int(data.size)


def merge_datasets(first, second, sample_axis: int = 0):
    """The union of two datasets of the same kind."""
    if isinstance(first, np.ndarray):
        return np.concatenate([first, second], axis=sample_axis)
    return first.merge(second)


def subsample_dataset(data, n: int, rng: np.random.Generator, sample_axis: int = 0, return_index: bool = False):
    """``n`` samples drawn without replacement, independently for each chain when batched.

    With ``return_index``: ``(samples, index)``, where ``index`` holds the positions drawn along the sample
    axis, shape ``(n,)`` or ``batch + (n,)`` (``None`` for sufficient statistics, which have no rows).
    """
    if not isinstance(data, np.ndarray):
        out = data.subsample(n, rng)
        return (out, None) if return_index else out
    total = data.shape[sample_axis]
    if n > total:
        raise SettingError(f"cannot subsample {n} points from a pool of {total}.")
    if sample_axis == 0:
        index = rng.choice(total, size=n, replace=False)
        return (data[index], index) if return_index else data[index]
    # one independent draw per batch index (the axes before sample_axis); trailing axes
    # (e.g. the coordinates of a point) stay together
    batch = data.shape[:sample_axis]
    index = sufficient_stats.rows_by_random_keys(int(np.prod(batch)), total, n, rng).reshape(batch + (n,))
    taken = np.take_along_axis(data, index.reshape(index.shape + (1,) * (data.ndim - sample_axis - 1)), axis=sample_axis)
    return (taken, index) if return_index else taken


def dataset_to_arrays(data) -> dict:
    """Flatten a dataset into named arrays for the run store."""
    if isinstance(data, np.ndarray):
        return {"kind": np.asarray("array"), "data": data}
    kind = type(data).__name__
    return {"kind": np.asarray(kind), **data.to_arrays()}


def dataset_from_arrays(arrays: dict):
    """Inverse of :func:`dataset_to_arrays`."""
    kind = str(arrays["kind"])
    rest = {k: v for k, v in arrays.items() if k != "kind"}
    if kind == "array":
        return np.asarray(rest["data"])
    return getattr(sufficient_stats, kind).from_arrays(rest)
