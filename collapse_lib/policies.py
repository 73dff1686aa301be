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

from dataclasses import dataclass

import numpy as np

from . import sufficient_stats
from .spec import Options
from .validation import SettingError, check_choice, check_fraction

POLICIES = ("replace", "accumulate", "accumulate-subsample", "mix", "fixed-real")

#: The constraint of an experiment spec's ``policy`` setting (:mod:`collapse_lib.spec`).
POLICY = Options(POLICIES)


def check_policy(policy: str, real_fraction: float) -> None:
    """A spec's ``policy`` and ``real_fraction`` together: a real fraction above 0 needs policy ``mix``."""
    check_choice("policy", policy, POLICIES)
    fraction = check_fraction("real_fraction", real_fraction)
    if policy != "mix" and fraction != 0.0:
        raise SettingError(f"real_fraction={fraction} only applies to policy 'mix'; "
                           f"set policy='mix' or real_fraction=0 (policy is {policy!r}).")


@dataclass(frozen=True)
class DataPolicy:
    """A validated data policy: its ``name`` (one of :data:`POLICIES`) and ``real_fraction``."""

    name: str = "replace"
    real_fraction: float = 0.0

    def __post_init__(self):
        check_policy(self.name, self.real_fraction)

    @property
    def keeps_real(self) -> bool:
        """Whether every generation's data include the generation-0 real dataset (``fixed-real``)."""
        return self.name == "fixed-real"

    @property
    def keeps_pool(self) -> bool:
        """Whether the policy needs every earlier dataset (the growing pool)."""
        return self.name in ("accumulate", "accumulate-subsample")

    def n_real(self, sample_size: int) -> int:
        """Fresh real points in a dataset of ``sample_size`` points."""
        return int(round(self.real_fraction * sample_size)) if self.name == "mix" else 0


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


def subsample_dataset(data, n: int, rng: np.random.Generator, sample_axis: int = 0):
    """``n`` samples drawn without replacement, independently for each chain when batched."""
    if not isinstance(data, np.ndarray):
        return data.subsample(n, rng)
    total = data.shape[sample_axis]
    if n > total:
        raise SettingError(f"cannot subsample {n} points from a pool of {total}.")
    if sample_axis == 0:
        return data[rng.choice(total, size=n, replace=False)]
    # one independent draw per batch index (the axes before sample_axis); trailing axes
    # (e.g. the coordinates of a point) stay together
    batch = data.shape[:sample_axis]
    index = sufficient_stats.rows_by_random_keys(int(np.prod(batch)), total, n, rng).reshape(batch + (n,))
    index = index.reshape(index.shape + (1,) * (data.ndim - sample_axis - 1))
    return np.take_along_axis(data, index, axis=sample_axis)


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
