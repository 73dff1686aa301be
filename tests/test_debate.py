"""The debate chapter: the fixed-real data policy, strong model collapse, tails, temperature, the collapse profile."""

import numpy as np
import pytest

import collapse_lib as cl
from collapse_lib import theory
from collapse_lib.experiments import prevention
from collapse_lib.validation import SettingError


class MarkerModel:
    """Generates points marked 1.0; its fit records how many points and how many real (0.0) ones it saw."""

    def fit(self, data, rng=None):
        data = np.asarray(data)
        self.n_seen_, self.n_real_, self.first_ = len(data), int(np.sum(data <= 0.0)), float(data.min())
        return self

    def sample(self, n, rng):
        return 1.0 + rng.random(n)

    def get_params(self):
        return {"n_seen": np.asarray(self.n_seen_), "n_real": np.asarray(self.n_real_),
                "first": np.asarray(self.first_)}


def test_fixed_real_keeps_the_same_real_points_every_generation():
    real = -np.arange(1.0, 8.0)  # 7 distinct real points
    h = cl.run_generations(MarkerModel, real, 5, [7, 10, 20, 30, 40, 50], "fixed-real", seed=1)
    np.testing.assert_array_equal(h["n_seen"], [7, 17, 27, 37, 47, 57])
    np.testing.assert_array_equal(h["n_real"], 7)
    np.testing.assert_array_equal(h["first"], -7.0)  # the same real points, never fresh ones
    with pytest.raises(SettingError, match="only applies to policy 'mix'"):
        cl.DataPolicy("fixed-real", 0.1)


@pytest.mark.parametrize("ddof", [0, 1])
def test_fixed_real_gaussian_matches_its_closed_form(ddof):
    chains = 8000
    s = prevention.validate_gaussian({**prevention.GAUSSIAN_DEFAULTS, "dim": 3, "sample_size": 20,
                                      "real_sample_size": 10, "n_generations": 25, "n_chains": chains,
                                      "policy": "fixed-real", "ddof": ddof})
    r = prevention.run_multivariate_gaussian(s, 3)
    trace, _ = prevention.error_unit(s)
    m, t = theory.multivariate_gaussian_errors(trace, prevention.gaussian_sample_sizes(s), "fixed-real", 0.0, ddof)
    for g in (1, 5, 25):
        assert abs(r["mean_sq_error"][g] - m[g]) < 3.5 * r["sd_sq_error"][g] / np.sqrt(chains)
        assert abs(r["mean_trace_ratio"][g] * trace - t[g]) < 3.5 * r["sd_trace_ratio"][g] * trace / np.sqrt(chains)
    m_star, t_star = theory.fixed_real_limit(trace, 10, 20, ddof)
    assert m[-1] == pytest.approx(m_star, rel=1e-6) and t[-1] == pytest.approx(t_star, rel=1e-6)
    # bounded: the error settles at the real set's own error plus a bounded excess, never the replace growth
    assert trace / 10 < m_star < 2 * trace / 10
