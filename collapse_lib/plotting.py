"""Small plotting helpers shared by the chapters (matplotlib)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .metrics import QUANTILES


def quantile_band(ax, x, quantiles, label=None, color=None, **line_kwargs):
    """Draw a median line with 25-75% and 5-95% bands over chains.

    ``quantiles`` has shape ``(len(x), 5)`` at the levels of
    :data:`collapse_lib.metrics.QUANTILES` (as recorded by the experiments).
    """
    q = np.asarray(quantiles)
    if q.shape[-1] != len(QUANTILES):
        raise ValueError(f"quantiles must have {len(QUANTILES)} columns ({QUANTILES}), got shape {q.shape}.")
    (line,) = ax.plot(x, q[:, 2], label=label, color=color, **line_kwargs)
    color = line.get_color()
    ax.fill_between(x, q[:, 1], q[:, 3], color=color, alpha=0.25, linewidth=0)
    ax.fill_between(x, q[:, 0], q[:, 4], color=color, alpha=0.10, linewidth=0)
    return line


def figure(ncols: int = 1, nrows: int = 1, width: float = 4.2, height: float = 3.2, **kwargs):
    """A figure with a uniform panel size; returns ``(fig, axes)``."""
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), constrained_layout=True, **kwargs)
