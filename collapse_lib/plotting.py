"""Small plotting helpers shared by the chapters (matplotlib)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .metrics import QUANTILES, Quantile


def quantile_band(ax, x, quantiles, label=None, color=None, **line_kwargs):
    """Draw a median line with 25-75% and 5-95% bands over chains.

    ``quantiles`` has shape ``(len(x), 5)`` at the levels of
    :data:`collapse_lib.metrics.QUANTILES` (as recorded by the experiments).
    """
    q = np.asarray(quantiles)
    if q.shape[-1] != len(QUANTILES):
        raise ValueError(f"quantiles must have {len(QUANTILES)} columns ({QUANTILES}), got shape {q.shape}.")
    (line,) = ax.plot(x, q[:, Quantile.MEDIAN], label=label, color=color, **line_kwargs)
    color = line.get_color()
    ax.fill_between(x, q[:, Quantile.Q25], q[:, Quantile.Q75], color=color, alpha=0.25, linewidth=0)
    ax.fill_between(x, q[:, Quantile.Q05], q[:, Quantile.Q95], color=color, alpha=0.10, linewidth=0)
    return line


def figure(ncols: int = 1, nrows: int = 1, width: float = 4.2, height: float = 3.2, **kwargs):
    """A figure with a uniform panel size; returns ``(fig, axes)``."""
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), constrained_layout=True, **kwargs)


def palette(values, cmap: str = "viridis", stop: float = 0.85) -> dict:
    """One colour per value (e.g. per sample size M), evenly spaced along ``cmap`` from 0 to ``stop``."""
    values = list(values)
    colormap = plt.get_cmap(cmap)
    positions = np.linspace(0.0, stop, len(values)) if len(values) > 1 else [0.0]
    return {value: colormap(position) for value, position in zip(values, positions)}


def generation_bands(ax, runs: dict, key: str, colors: dict | None = None, label: str = "M = {}",
                     first: int = 1, **line_kwargs):
    """One quantile band per run against generation, on a log x axis.

    ``runs`` maps a value (e.g. a sample size) to a recorded result with ``"generation"``
    and ``key`` (quantiles over chains, shape ``(n_generations + 1, 5)``). Generations
    before ``first`` are left out (generation 0 has no place on a log axis).
    """
    for value, result in runs.items():
        x = np.asarray(result["generation"])[first:]
        quantile_band(ax, x, np.asarray(result[key])[first:], label=label.format(value),
                      color=None if colors is None else colors[value], **line_kwargs)
    ax.set_xscale("log")
    ax.set_xlabel("generation")


def generation_lines(ax, runs: dict, values: dict, colors: dict | None = None, label: str = "M = {}",
                     first: int = 1, **line_kwargs):
    """One line per run against generation, on a log x axis.

    ``values`` maps the same keys as ``runs`` to a per-generation array of length
    ``n_generations + 1`` (e.g. one raw chain, or a mean over chains).
    """
    for value, result in runs.items():
        x = np.asarray(result["generation"])[first:]
        ax.plot(x, np.asarray(values[value])[first:], label=None if label is None else label.format(value),
                color=None if colors is None else colors[value], **line_kwargs)
    ax.set_xscale("log")
    ax.set_xlabel("generation")
