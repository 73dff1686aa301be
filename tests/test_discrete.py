"""The discrete recursion (neutral Wright-Fisher): absorption, fixation probabilities, heterozygosity."""

import numpy as np
import pytest
from scipy import stats

import collapse_lib as cl
from collapse_lib import theory
from collapse_lib.metrics import first_true


def test_every_chain_is_absorbed_and_fixation_probability_equals_original_probability():
    q = [0.5, 0.25, 0.15, 0.06, 0.03, 0.01]
    result = cl.run_experiment("wright_fisher", "smoke", 4, probabilities=q, sample_size=20,
                               n_generations=300, n_chains=6000)
    final = result["fixed_state"][-1]
    assert np.all(final >= 0), "every chain ends in a single state"
    counts = np.bincount(final, minlength=len(q))
    for k, qk in enumerate(q):
        p = stats.binomtest(int(counts[k]), len(final), qk).pvalue
        assert p > 1e-4, f"state {k}: fixed in {counts[k]} of {len(final)} chains, q={qk}, p={p:.2g}"


def test_heterozygosity_decays_as_the_closed_form():
    q = np.array([0.4, 0.3, 0.2, 0.1])
    m, n_chains = 25, 8000
    truth = cl.CategoricalModel.from_probabilities(q, n_chains)
    real = truth.sample(m, cl.generation_rng(0, 0, "data"))
    h = cl.run_generations(cl.CategoricalModel, real, 40, m, seed=0,
                           record=lambda model, g: {"H": cl.metrics.heterozygosity(model.probabilities_)})
    expected = theory.expected_heterozygosity(q, m, np.arange(41) + 1)  # generation g = g+1 draws
    se = h["H"].std(axis=1, ddof=1) / np.sqrt(n_chains)
    z = np.abs(h["H"].mean(axis=1) - expected) / np.maximum(se, 1e-12)
    assert np.all(z < 5), f"worst z={z.max():.2f}"


def test_two_state_absorption_time_near_kimura():
    q, m = 0.3, 40
    result = cl.run_experiment("wright_fisher", "smoke", 2, probabilities=[q, 1 - q], sample_size=m,
                               n_generations=1200, n_chains=6000)
    times = first_true(result["fixed_state"] >= 0, axis=0) + 1
    assert np.all(times > 0)
    kimura = theory.mean_absorption_time_two_states(q, m)
    assert abs(times.mean() - kimura) / kimura < 0.08  # diffusion approximation: a few per cent at small M


def test_rare_states_vanish_first():
    result = cl.run_experiment("wright_fisher", "smoke", 0)
    present = result["present_fraction"]  # (generations, K), states sorted by decreasing q
    half_life = first_true(present < 0.5, axis=0).astype(float)
    half_life[half_life < 0] = np.inf  # still present in most chains at the end
    assert np.all(np.diff(half_life) <= 0), f"rarer states should vanish sooner: {half_life}"


def test_absorption_and_fixation_measures_count_the_recorded_states():
    fixed = np.array([[0, -1, 2, -1], [0, 1, 2, -1]], dtype=np.int8)  # (generations, chains)
    np.testing.assert_allclose(cl.metrics.absorbed_fraction(fixed), [0.5, 0.75])
    counts = cl.metrics.fixation_counts(fixed[-1], 4)
    np.testing.assert_array_equal(counts, [1, 1, 1, 0])
    assert counts.dtype == np.int64
    p = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(cl.metrics.presence_fraction(p), [1.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="n_states"):
        cl.metrics.fixation_counts(fixed[-1], 2)
