r"""The Gaussian closed forms (paper-setup G1-G6 and the MLE variant) against simulation.

Tolerances: a Monte Carlo mean over N independent chains is compared with its closed form
within 5 standard errors (estimated from the same chains): a false alarm has probability
below 1e-6 per check. Expectations under ddof=1 are checked at n <= M, where they are not
carried by rare paths (paper-setup section 5).
"""

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import collapse_lib as cl
from collapse_lib import theory

# the benchmarks' vectorised replace sampler (not the book's path); tested here so that CI checks what they time
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from vectorised_gaussian import iter_replace_trajectories, sample_replace_trajectories  # noqa: E402

N_CHAINS = 20000
SIGMA = 1.5
MU = 0.3


def simulate(ddof, sizes, method="sufficient", policy="replace", n_chains=N_CHAINS, seed=11):
    sizes = np.asarray(sizes)
    truth = cl.GaussianModel.from_params(MU, SIGMA, n_chains, ddof, method)
    real = truth.sample(int(sizes[0]), cl.generation_rng(seed, 0, "data"))
    return cl.run_generations(lambda: cl.GaussianModel(ddof, method), real, len(sizes) - 1, sizes, policy,
                              seed=seed, record=lambda m, g: {"mu": m.mu_.copy(), "sigma": m.sigma_.copy()})


def assert_mean_matches(samples, expected, label):
    """Mean over the last axis equals ``expected`` within 5 standard errors, generation by generation."""
    mean = samples.mean(axis=-1)
    se = samples.std(axis=-1, ddof=1) / np.sqrt(samples.shape[-1])
    z = np.abs(mean - expected) / np.maximum(se, 1e-300)
    assert np.all(z < 5), f"{label}: worst z={z.max():.2f} at generation {z.argmax()}"


SCHEDULES = {
    "constant": np.full(16, 20),
    "linear": 20 * np.arange(1, 17),
    "quadratic": 5 * np.arange(1, 17) ** 2,
}


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_moments_of_the_recursion(ddof, schedule):
    sizes = SCHEDULES[schedule]
    h = simulate(ddof, sizes)
    mu, sigma = h["mu"], h["sigma"]
    assert_mean_matches(sigma**2, theory.expected_variance(SIGMA, sizes, ddof), "G1 E[sigma^2]")
    assert_mean_matches(sigma, theory.expected_sigma(SIGMA, sizes, ddof), "E[sigma]")
    assert_mean_matches((mu - MU) ** 2, theory.expected_mean_sq_error(SIGMA, sizes, ddof), "G3 E[(mu-mu0)^2]")
    assert_mean_matches((sigma - SIGMA) ** 2, theory.expected_sigma_sq_error(SIGMA, sizes, ddof), "G4")
    w2 = cl.metrics.w2_squared_gaussian_1d(mu, sigma, MU, SIGMA)
    assert_mean_matches(w2, theory.expected_w2_squared(SIGMA, sizes, ddof), "G5 exact E[W2^2]")
    assert_mean_matches(sigma**2 + (mu - MU) ** 2, theory.marginal_variance(SIGMA, sizes, ddof), "G2 Var(X)")
    mean_log, sd_log = theory.log_variance_moments(SIGMA, sizes, ddof)
    assert_mean_matches(np.log(sigma**2), mean_log, "G6 E[log sigma^2]")
    np.testing.assert_allclose(np.log(sigma**2).std(axis=1), sd_log, rtol=0.03)  # sd of an sd: ~0.5% SE


def test_closed_forms_reduce_to_the_papers_expressions():
    m, n = 50, np.arange(1, 41)
    sizes = np.full(40, m)
    # unbiased: E[(mu - mu0)^2] = sigma^2 * (g+1)/M and Var(X) = sigma^2 (1 + (g+1)/M)
    np.testing.assert_allclose(theory.expected_mean_sq_error(SIGMA, sizes, 1), SIGMA**2 * n / m)
    np.testing.assert_allclose(theory.marginal_variance(SIGMA, sizes, 1), SIGMA**2 * (1 + n / m))
    # MLE: E[sigma^2] = sigma^2 ((M-1)/M)^n, Var(X) = sigma^2 exactly, E[(mu-mu0)^2] = sigma^2 (1 - r^n)
    r = (m - 1) / m
    np.testing.assert_allclose(theory.expected_variance(SIGMA, sizes, 0), SIGMA**2 * r**n)
    np.testing.assert_allclose(theory.marginal_variance(SIGMA, sizes, 0), SIGMA**2)
    np.testing.assert_allclose(theory.expected_mean_sq_error(SIGMA, sizes, 0), SIGMA**2 * (1 - r**n))
    # G4/G5 to first order: (3/2) sigma^2 sum 1/M_i, within O(1/M^2) per step
    first = theory.w2_squared_first_order(SIGMA, sizes)
    np.testing.assert_allclose(theory.expected_w2_squared(SIGMA, sizes, 1), first, rtol=0.03)
    # MLE E[W2^2] -> 2 sigma^2 as n -> infinity
    long = np.full(20000, 20)
    assert abs(theory.expected_w2_squared(SIGMA, long, 0)[-1] - 2 * SIGMA**2) < 1e-6


def test_variance_collapses_almost_surely_while_w2_grows():
    """Theorem 3.1 at fixed M with ddof=1: the median sigma falls toward 0 while E[W2^2] grows linearly."""
    sizes = np.full(401, 10)
    h = simulate(1, sizes, n_chains=4000)
    median_sigma = np.median(h["sigma"], axis=1)
    assert median_sigma[-1] < 0.01 * SIGMA
    mean_log, sd_log = theory.log_variance_moments(SIGMA, sizes, 1)
    np.testing.assert_allclose(np.median(np.log(h["sigma"] ** 2), axis=1)[[100, 200, 400]],
                               mean_log[[100, 200, 400]], atol=0.1 * sd_log[-1] + 0.2)
    w2 = theory.expected_w2_squared(SIGMA, sizes, 1)
    assert w2[400] > 3 * w2[100] > 0


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("policy", ["replace", "accumulate"])
def test_sufficient_statistics_sampler_matches_per_sample_draws(ddof, policy):
    """Both samplers give the same distributions (two-sample KS tests at several generations)."""
    sizes = np.full(9, 30)
    a = simulate(ddof, sizes, "sufficient", policy, n_chains=4000, seed=1)
    b = simulate(ddof, sizes, "samples", policy, n_chains=4000, seed=2)
    for g in (0, 3, 8):
        for key in ("mu", "sigma"):
            p = stats.ks_2samp(a[key][g], b[key][g]).pvalue
            assert p > 1e-4, f"{key} at generation {g}: KS p={p:.2g}"


def test_accumulate_keeps_the_mean_error_bounded():
    sizes = np.full(200, 20)
    replace = simulate(1, sizes, n_chains=4000)
    accumulate = simulate(1, sizes, policy="accumulate", n_chains=4000)
    err_r = ((replace["mu"] - MU) ** 2).mean(axis=1)
    err_a = ((accumulate["mu"] - MU) ** 2).mean(axis=1)
    assert err_r[-1] > 20 * err_a[-1]
    # under accumulate the pooled variance stays near sigma^2 (no collapse)
    assert abs(np.median(accumulate["sigma"][-1]) - SIGMA) < 0.2 * SIGMA


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("schedule", ["constant", "linear"])
def test_vectorised_replace_trajectories_match_the_generic_loop(ddof, schedule):
    """``sample_replace_trajectories`` (the benchmarks' sampler, vectorised over generations) has the book's loop's
    distribution.

    Eight KS tests per case; each must exceed 1e-4 (a false alarm has probability < 1e-3 per case).
    """
    sizes = np.full(31, 20) if schedule == "constant" else 10 * np.arange(1, 32)
    loop = simulate(ddof, sizes, n_chains=5000, seed=5)
    mu, sigma = sample_replace_trajectories(MU, SIGMA, sizes, 5000, ddof, np.random.default_rng(6))
    assert mu.shape == sigma.shape == (31, 5000)
    for g in (0, 1, 10, 30):
        assert stats.ks_2samp(mu[g], loop["mu"][g]).pvalue > 1e-4, f"mu at generation {g}"
        assert stats.ks_2samp(sigma[g], loop["sigma"][g]).pvalue > 1e-4, f"sigma at generation {g}"


def test_vectorised_replace_trajectories_do_not_depend_on_the_chunk_size():
    a = sample_replace_trajectories(0.0, 1.0, 50, 300, 1, np.random.default_rng(3), n_generations=200, chunk=7)
    b = sample_replace_trajectories(0.0, 1.0, 50, 300, 1, np.random.default_rng(3), n_generations=200, chunk=64)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_streamed_replace_trajectories_are_the_same_numbers_as_the_whole_ones():
    mu, sigma = sample_replace_trajectories(0.0, 1.0, 50, 7, ddof=1, rng=3, n_generations=40, chunk=8)
    rows_mu, rows_sigma, next_row = [], [], 0
    for start, mu_block, sigma_block in iter_replace_trajectories(0.0, 1.0, 50, 7, ddof=1, rng=3, n_generations=40,
                                                                 chunk=8):
        assert start == next_row and mu_block.shape == sigma_block.shape and mu_block.shape[1] == 7
        rows_mu.append(mu_block.copy())
        rows_sigma.append(sigma_block.copy())
        next_row += len(mu_block)
    assert next_row == 41 and len(rows_mu) > 1  # streamed in several blocks
    np.testing.assert_array_equal(np.concatenate(rows_mu), mu)
    np.testing.assert_array_equal(np.concatenate(rows_sigma), sigma)
