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


def ecdf(ax, values, **line_kwargs):
    """Draw the empirical distribution function of ``values`` (any shape, flattened) as a step line.

    The y axis is the fraction of values at or below x, from 1/n to 1; ``line_kwargs`` go to ``ax.step``.
    """
    v = np.sort(np.asarray(values).ravel())
    return ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", **line_kwargs)


#: The generations the paper's SI Fig. 6 shows for the Gaussian mixture, next to the real data.
GMM_SNAPSHOT_GENERATIONS = (0, 50, 100, 150, 200, 350, 2000)


def component_outlines(means, covariances, n_std: float = 2.0, n_points: int = 100) -> np.ndarray:
    """The ``n_std``-standard-deviation ellipses of 2-D Gaussian components, for plotting.

    ``means`` (..., 2), ``covariances`` (..., 2, 2) (positive definite); returns the closed curves,
    (..., n_points, 2), in data units.
    """
    angle = np.linspace(0.0, 2 * np.pi, n_points)
    circle = np.stack([np.cos(angle), np.sin(angle)], axis=-1)  # (n_points, 2)
    chol = np.linalg.cholesky(np.asarray(covariances, dtype=float))
    return np.asarray(means, dtype=float)[..., None, :] + n_std * np.einsum("...ij,pj->...pi", chol, circle)
