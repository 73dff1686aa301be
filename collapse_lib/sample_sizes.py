r"""Sample-size schedules :math:`M_0, M_1, \dots, M_n`.

The Gaussian theorem of Shumailov et al. says the expected Wasserstein distance stays
bounded only when :math:`\sum_i 1/M_i < \infty`, i.e. when the sample size grows
superlinearly. The schedules here let every experiment try that.
"""

from __future__ import annotations

import numpy as np

from .validation import SettingError, check_choice, check_generations, check_positive_float, check_positive_int

SCHEDULES = ("constant", "linear", "quadratic", "geometric")


def sample_size_schedule(
    sample_size: int, n_generations: int, schedule: str = "constant", growth: float = 2.0
) -> np.ndarray:
    r"""Sample sizes for generations ``0..n_generations``.

    Parameters
    ----------
    sample_size : int
        :math:`M_0`, the number of points in generation 0 (the real data), >= 1.
    n_generations : int
        Number of recursive steps after generation 0, >= 1.
    schedule : {"constant", "linear", "quadratic", "geometric"}
        :math:`M_i = M_0`, :math:`M_0 (i+1)`, :math:`M_0 (i+1)^2` or
        :math:`\lceil M_0 g^i \rceil`.
    growth : float
        The ratio ``g`` of the geometric schedule (> 1).

    Returns
    -------
    numpy.ndarray of int64, shape (n_generations + 1,)
    """
    sample_size = check_positive_int("sample_size", sample_size)
    n_generations = check_generations(n_generations)
    check_choice("schedule", schedule, SCHEDULES)
    i = np.arange(n_generations + 1, dtype=np.float64)
    if schedule == "constant":
        sizes = np.full_like(i, sample_size)
    elif schedule == "linear":
        sizes = sample_size * (i + 1)
    elif schedule == "quadratic":
        sizes = sample_size * (i + 1) ** 2
    else:
        growth = check_positive_float("growth", growth)
        if growth <= 1:
            raise SettingError(f"growth must be > 1 for a geometric schedule, got {growth}.")
        sizes = np.ceil(sample_size * growth**i)
    if sizes[-1] > 2**62:
        raise SettingError(
            f"the {schedule} schedule reaches {sizes[-1]:.3g} samples by generation {n_generations}; "
            "use fewer generations or a slower schedule."
        )
    return sizes.astype(np.int64)


def as_sample_sizes(sample_sizes, n_generations: int) -> np.ndarray:
    """Validate an int or a sequence of sample sizes and return one per generation.

    Returns an int64 array of shape ``(n_generations + 1,)``; every entry must be >= 1.
    """
    n_generations = check_generations(n_generations)
    sizes = np.asarray(sample_sizes)
    if sizes.ndim == 0:
        return np.full(n_generations + 1, check_positive_int("sample_size", sizes.item()), dtype=np.int64)
    if sizes.shape != (n_generations + 1,):
        raise SettingError(
            f"sample_sizes must give one size per generation 0..{n_generations} "
            f"({n_generations + 1} values), got shape {sizes.shape}."
        )
    return np.array([check_positive_int(f"sample_sizes[{k}]", s) for k, s in enumerate(sizes)], dtype=np.int64)
