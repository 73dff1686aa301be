r"""Benchmark/reference path, NOT the book's: the Gaussian *replace* recursion drawn whole.

The book computes the single-Gaussian experiment with ``run_experiment("gaussian", ...)``, that is
:func:`collapse_lib.run_generations` with :class:`collapse_lib.models.gaussian.GaussianModel`, one
generation after another (any data policy, records per generation, the run store). Nothing in the
library or the chapters calls this module.

Under the *replace* policy alone the recursion factorises, so :func:`sample_replace_trajectories`
(and its streaming form :func:`iter_replace_trajectories`) draw every generation of every chain at
once, vectorised over generations as well as chains. It has the same distribution as the book's loop
(checked by ``tests/test_theory_gaussian.py`` and ``benchmarks/check_same_distribution.py``) but its
own random streams, so not the same numbers. It serves as a reference for what the recursion costs
without a per-generation Python loop: ``benchmarks/bench_gaussian.py`` times it in the lines that say
"vectorised path" (``benchmarks/README.md``); those timings are not the book's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor as _ThreadPool

import numpy as np

from collapse_lib.validation import SettingError, check_int, check_positive_int

#: Below this many chains the running products and sums use NumPy's ``cumprod``/``cumsum`` along
#: the generation axis; from it on, a loop over the rows of a chunk is faster (each row is a long
#: contiguous vector). Both give the same numbers: an accumulation adds row after row either way.
_ROW_LOOP_MIN_CHAINS = 512
#: From this many numbers per chunk on, a helper thread draws the next chunk's gamma variates.
_HELPER_MIN_SIZE = 1 << 16


def _replace_inputs(mu, sigma, sample_sizes, n_chains, ddof, rng, n_generations, chunk):
    """Validate the arguments of the replace samplers; return what they need."""
    n_chains = check_positive_int("n_chains", n_chains)
    ddof = check_int("ddof", ddof, minimum=0, maximum=1)
    if np.ndim(sample_sizes) == 0:
        if n_generations is None:
            raise SettingError("give n_generations when sample_sizes is a single number "
                               "(or pass one sample size per generation 0..n_generations).")
        n_generations = check_positive_int("n_generations", n_generations)
        sizes = np.full(n_generations + 1, check_positive_int("sample_size", np.asarray(sample_sizes).item()),
                        dtype=np.int64)
    else:
        sizes = np.asarray(sample_sizes)
        expected = sizes.shape[0] if n_generations is None else check_positive_int("n_generations", n_generations) + 1
        if sizes.ndim != 1 or sizes.shape[0] != expected or sizes.shape[0] < 2:
            raise SettingError(f"sample_sizes must give one size per generation 0..n_generations (at least 2 "
                               f"values), got shape {sizes.shape}.")
        if not (np.issubdtype(sizes.dtype, np.integer) or np.all(np.mod(sizes, 1) == 0)):
            raise SettingError("sample_sizes must be whole numbers.")
        sizes = sizes.astype(np.int64)
    if np.any(sizes - ddof < 1):
        first = int(np.argmax(sizes - ddof < 1))
        raise SettingError(f"fitting with ddof={ddof} needs at least {ddof + 1} samples per generation; "
                           f"sample_sizes[{first}] = {int(sizes[first])}.")
    mu = np.broadcast_to(np.asarray(mu, dtype=float), (n_chains,))
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), (n_chains,))
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma)) and np.all(sigma >= 0)):
        raise SettingError("mu must be finite and sigma finite and >= 0.")
    if chunk is None:
        chunk = max(1, min(sizes.size, (1 << 19) // n_chains))  # about 4 MiB per working array
    chunk = check_positive_int("chunk", chunk)
    if rng is None or isinstance(rng, (int, np.integer)):
        rng = np.random.default_rng(rng)
    if not isinstance(rng, np.random.Generator):
        raise SettingError(f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}.")
    return mu, sigma, sizes, n_chains, ddof, rng, chunk


def iter_replace_trajectories(mu, sigma, sample_sizes, n_chains: int, ddof: int = 1, rng=None, *,
                              n_generations: int | None = None, chunk: int | None = None, out=None):
    r"""Sample the replace recursion chunk by chunk of generations; yield ``(start, mu_block, sigma_block)``.

    Benchmark/reference path only (see the module): the book runs the recursion through
    :func:`collapse_lib.run_generations`.

    The streaming form of :func:`sample_replace_trajectories` (same arguments, same numbers): it
    yields consecutive blocks of rows ``start .. start + len(mu_block) - 1`` of the trajectories,
    each block of shape ``(rows, n_chains)``, and keeps only one chunk in memory. The blocks are
    working buffers, overwritten by the next step of the iteration: copy what you want to keep.
    With ``out=(mu_traj, sigma_traj)`` (arrays of shape ``(n_generations + 1, n_chains)``) the
    blocks are written into those arrays instead and the yielded blocks are views of them.
    """
    inputs = _replace_inputs(mu, sigma, sample_sizes, n_chains, ddof, rng, n_generations, chunk)
    if out is not None:
        shape = (inputs[2].size, inputs[3])
        if len(out) != 2 or any(np.shape(a) != shape for a in out):
            raise SettingError(f"out must be two arrays of shape {shape}.")
    return _replace_blocks(*inputs, out)


def _replace_blocks(mu, sigma, sizes, n_chains, ddof, rng, chunk, out):
    """The sampler itself, on validated inputs (see :func:`sample_replace_trajectories`)."""
    n_rows = sizes.size
    # Two independent streams, each consumed in row-major order (generation after generation,
    # chain after chain), so the numbers do not depend on ``chunk`` (nor on the helper thread).
    normal_rng, gamma_rng = rng.spawn(2)
    # Per-generation constants: chi^2_{M-1} = 2 Gamma((M-1)/2), and S = chi^2 / (M - ddof).
    half_df = (sizes - 1) / 2.0
    var_scale = 2.0 / (sizes - ddof)
    mean_scale = 1.0 / np.sqrt(sizes.astype(float))
    # The state carried from one chunk to the next: the model of the previous generation
    # (for row 0, the true distribution).
    mu_prev, sigma_prev, var_prev = mu.copy(), sigma.copy(), sigma**2
    rows_loop = n_chains >= _ROW_LOOP_MIN_CHAINS
    width = min(chunk, n_rows)
    starts = list(range(0, n_rows, chunk))
    # Large jobs draw the gamma variates of the next chunk in a helper thread (NumPy releases
    # the GIL while it fills an array) while this thread works on the current chunk.
    helper = _ThreadPool(1) if len(starts) > 1 and width * n_chains >= _HELPER_MIN_SIZE else None
    gamma_bufs = [np.empty((width, n_chains)) for _ in range(2 if helper else 1)]
    step_buf = np.empty((width, n_chains))
    own_mu, own_sigma = (np.empty((width, n_chains)), np.empty((width, n_chains))) if out is None else (None, None)

    def draw_gamma(index):
        start = starts[index]
        shapes = half_df[start:start + chunk]
        buf = gamma_bufs[index % len(gamma_bufs)][:shapes.size]
        if np.all(shapes == shapes[0]):
            gamma_rng.standard_gamma(shapes[0], out=buf)
        else:
            buf[...] = gamma_rng.standard_gamma(shapes[:, None], size=buf.shape)
        return buf

    try:
        pending = helper.submit(draw_gamma, 0) if helper else None
        for index, start in enumerate(starts):
            stop = min(start + chunk, n_rows)
            rows = stop - start
            if helper:
                var = pending.result()
                if index + 1 < len(starts):
                    pending = helper.submit(draw_gamma, index + 1)
            else:
                var = draw_gamma(index)
            step = step_buf[:rows]
            if out is None:
                mu_block, sigma_block = own_mu[:rows], own_sigma[:rows]
            else:
                mu_block, sigma_block = out[0][start:stop], out[1][start:stop]
            # sigma_g^2 = sigma_{g-1}^2 * S_g, a running product down the rows.
            var *= var_scale[start:stop, None]
            var[0] *= var_prev
            if rows_loop:
                for r in range(1, rows):
                    np.multiply(var[r - 1], var[r], out=var[r])
            else:
                np.cumprod(var, axis=0, out=var)
            np.sqrt(var, out=sigma_block)
            var_prev = var[-1].copy()
            # mu_g = mu_{g-1} + sigma_{g-1} Z_g / sqrt(M_g), a running sum down the rows.
            normal_rng.standard_normal(out=step)
            step *= mean_scale[start:stop, None]
            step[0] *= sigma_prev
            step[1:] *= sigma_block[:-1]
            step[0] += mu_prev
            if rows_loop:
                mu_block[0] = step[0]
                for r in range(1, rows):
                    np.add(mu_block[r - 1], step[r], out=mu_block[r])
            else:
                np.cumsum(step, axis=0, out=mu_block)
            mu_prev[...], sigma_prev[...] = mu_block[-1], sigma_block[-1]
            yield start, mu_block, sigma_block
    finally:
        if helper:
            helper.shutdown(wait=True, cancel_futures=True)


def sample_replace_trajectories(mu, sigma, sample_sizes, n_chains: int, ddof: int = 1, rng=None, *,
                                n_generations: int | None = None, chunk: int | None = None):
    r"""Whole trajectories of the Gaussian *replace* recursion, vectorised over generations and chains.

    Benchmark/reference path only (see the module): the book runs the recursion through
    :func:`collapse_lib.run_generations` with :class:`~collapse_lib.models.gaussian.GaussianModel`.

    Under the replace policy the recursion factorises. With :math:`M_g` samples at generation
    :math:`g` and the model of generation :math:`g-1` (for :math:`g=0`, the true
    :math:`\mathcal N(\mu,\sigma^2)`),

    .. math::
        \sigma_g^2 = \sigma_{g-1}^2\,S_g,\quad S_g = \frac{\chi^2_{M_g-1}}{M_g-\mathrm{ddof}},
        \qquad
        \mu_g = \mu_{g-1} + \sigma_{g-1}\,\frac{Z_g}{\sqrt{M_g}},

    with all :math:`S_g` and :math:`Z_g` independent: :math:`\log\sigma_g^2` is a cumulative sum
    of independent :math:`\log S_g` and :math:`\mu_g` a cumulative sum of
    :math:`\sigma_{g-1}Z_g/\sqrt{M_g}`. This function draws every :math:`S_g, Z_g` at once and
    forms the running products and sums, a chunk of generations at a time (carrying the state
    from chunk to chunk, so memory stays bounded). It has the same distribution as
    :func:`collapse_lib.run_generations` with ``GaussianModel(ddof, "sufficient")`` or
    ``GaussianModel(ddof, "samples")`` and the ``replace`` policy (not the same numbers: it
    draws from its own streams, not the per-generation streams of the loop).

    Parameters
    ----------
    mu, sigma : float or array broadcastable to (n_chains,)
        The true distribution :math:`\mathcal N(\mu, \sigma^2)` of the real data (data units).
    sample_sizes : int or sequence of int
        :math:`M_g` for ``g = 0..n_generations`` (one per generation, as for
        :func:`~collapse_lib.run_generations`), or one int with ``n_generations``.
    n_chains : int
        Independent chains.
    ddof : {0, 1}
        0 divides the sum of squares by :math:`M_g` (``np.std``, the official code), 1 by
        :math:`M_g-1` (the theorem). Every :math:`M_g` must be at least ``ddof + 1``.
    rng : numpy.random.Generator or int, optional
        Source of randomness; two child streams are spawned from it (:meth:`Generator.spawn`),
        so the result depends on the seed but not on ``chunk``.
    n_generations : int, optional
        Needed only when ``sample_sizes`` is a single int.
    chunk : int, optional
        Generations computed at once (default: about :math:`2^{19}` numbers per working array).

    Returns
    -------
    mu_traj, sigma_traj : ndarray of float64, shape (n_generations + 1, n_chains)
        Row ``g`` is the model fitted to :math:`D_g`, the data of generation ``g``: row 0 is
        fitted to the real data (:math:`M_0` draws from the truth), as in
        :func:`~collapse_lib.run_generations`. ``mu_traj`` in data units, ``sigma_traj`` (the
        fitted standard deviation, :math:`\ge 0`) in data units.

    Notes
    -----
    Cost: O(1) per chain and generation whatever :math:`M_g` is; memory: the two outputs plus
    two working arrays of ``chunk x n_chains``. :func:`iter_replace_trajectories` streams the
    same numbers chunk by chunk without storing the whole trajectories.

    Examples
    --------
    >>> mu, sigma = sample_replace_trajectories(0.0, 1.0, [100] * 11, n_chains=3, ddof=1, rng=0)
    >>> mu.shape, sigma.shape
    ((11, 3), (11, 3))
    """
    inputs = _replace_inputs(mu, sigma, sample_sizes, n_chains, ddof, rng, n_generations, chunk)
    sizes, n_chains = inputs[2], inputs[3]
    out = (np.empty((sizes.size, n_chains)), np.empty((sizes.size, n_chains)))
    for _ in _replace_blocks(*inputs, out):
        pass
    return out
