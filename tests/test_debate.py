"""The debate chapter: the fixed-real data policy, strong model collapse, tails, temperature, the collapse profile."""

import numpy as np
import pytest

import collapse_lib as cl
from collapse_lib import metrics, theory
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

    def get_state(self):
        return {"n_seen": np.asarray(self.n_seen_), "n_real": np.asarray(self.n_real_),
                "first": np.asarray(self.first_)}


def test_fixed_real_keeps_the_same_real_points_every_generation():
    real = -np.arange(1.0, 8.0)  # 7 distinct real points
    h = cl.run_generations(MarkerModel, real, 5, [7, 10, 20, 30, 40, 50], "fixed-real", seed=1)
    np.testing.assert_array_equal(h["n_seen"], [7, 17, 27, 37, 47, 57])
    np.testing.assert_array_equal(h["n_real"], 7)
    np.testing.assert_array_equal(h["first"], -7.0)  # the same real points, never fresh ones
    with pytest.raises(SettingError, match="only applies to policy 'mix'"):
        cl.make_policy("fixed-real", 0.1)


@pytest.mark.parametrize("ddof", [0, 1])
def test_fixed_real_gaussian_matches_its_closed_form(ddof):
    chains = 8000
    s = prevention.PreventionGaussianSpec.validate({"dim": 3, "sample_size": 20, "real_sample_size": 10,
                                                   "n_generations": 25, "n_chains": chains, "policy": "fixed-real",
                                                   "ddof": ddof})
    r = prevention.run_multivariate_gaussian(s, 3)
    trace, _ = theory.gaussian_error_unit(s)
    m, t = theory.multivariate_gaussian_errors(trace, prevention.gaussian_sample_sizes(s), "fixed-real", 0.0, ddof)
    for g in (1, 5, 25):
        assert abs(r["mean_sq_mean_error"][g] - m[g]) < 3.5 * r["sd_sq_mean_error"][g] / np.sqrt(chains)
        assert abs(r["mean_trace_ratio"][g] * trace - t[g]) < 3.5 * r["sd_trace_ratio"][g] * trace / np.sqrt(chains)
    m_star, t_star = theory.fixed_real_limit(trace, 10, 20, ddof)
    assert m[-1] == pytest.approx(m_star, rel=1e-6) and t[-1] == pytest.approx(t_star, rel=1e-6)
    # bounded: the error settles at the real set's own error plus a bounded excess, never the replace growth
    assert trace / 10 < m_star < 2 * trace / 10


def _run(name, **settings):
    from collapse_lib.experiments import get_experiment, resolve_settings
    experiment = get_experiment(name)
    validated = experiment.validate(resolve_settings(name, "smoke", **settings))
    return validated, experiment.runner(validated, 0)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5])
def test_strong_collapse_plateaus_at_its_closed_form(fraction):
    s, r = _run("debate_strong", synthetic_fraction=fraction, n_chains=3000, sample_sizes=[200, 1000, 10000])
    closed = theory.strong_collapse_test_error(s["noise_sd"], s["dim"], s["sample_sizes"], s["shift"], fraction)
    se = r["sd_test_error"] / np.sqrt(s["n_chains"])
    assert np.all(np.abs(r["mean_test_error"] - closed) < 3.5 * se)
    # the plateau: with synthetic labels the error at n = 10^4 stays within 5% of p^2 ||Delta||^2 + noise term
    plateau = fraction**2 * s["shift"] ** 2
    if fraction:
        assert r["mean_test_error"][-1] == pytest.approx(plateau, rel=0.05 + 0.002 / plateau)
    else:
        assert r["mean_test_error"][-1] < 0.0011  # sigma^2 d / (n - d - 1) = 0.001: keeps falling


@pytest.mark.parametrize("cutoff, clean", [(0, 0.0), (100, 0.0), (100, 0.1)])
def test_tail_cut_learning_curve_matches_its_closed_form(cutoff, clean):
    s, r = _run("debate_tails", cutoff=cutoff, clean_fraction=clean, n_chains=200)
    p = cl.distributions.zipf_probabilities(s["n_facts"], s["exponent"])
    closed = theory.tail_cut_test_error(p, s["sample_sizes"], cutoff, clean)
    se = r["sd_test_error"] / np.sqrt(s["n_chains"])
    assert np.all(np.abs(r["mean_test_error"] - closed) < 4 * se + 1e-12)
    lost = p[cutoff:].sum() if cutoff else 0.0
    if cutoff and not clean:
        assert closed[-1] == pytest.approx(lost, rel=1e-3)  # the plateau is the lost tail mass
    if cutoff and clean:
        assert closed[-1] < 0.9 * lost  # clean data mixed back: the curve falls below the plateau again


def test_tempered_sampling_collapses_or_spreads():
    p = cl.distributions.zipf_probabilities(50, 1.0)
    h0 = metrics.entropy(p)
    assert metrics.entropy(theory.tempered(p, 0.8, 30)) < 1e-6
    assert metrics.entropy(theory.tempered(p, 1.25, 30)) == pytest.approx(np.log(50), abs=1e-3)
    assert metrics.entropy(theory.tempered(p, 1.0, 30)) == pytest.approx(h0)
    s, r = _run("debate_temperature", temperature=0.8, sample_size=20000, n_chains=50, n_generations=8)
    for g in (1, 4, 8):  # large M: the finite-sample run follows the infinite-sample map within 0.05 nats
        assert r["mean_entropy"][g] == pytest.approx(metrics.entropy(theory.tempered(p, 0.8, g)), abs=0.05)
    s, r = _run("debate_temperature", temperature=1.25, n_generations=15)
    assert r["mean_entropy"][-1] > r["mean_entropy"][0] + 0.5


@pytest.mark.parametrize("policy, fraction, truncation", [("replace", 0.0, 1.5), ("replace", 0.0, 0.0),
                                                          ("mix", 0.2, 1.5)])
def test_biased_sampling_matches_its_closed_form(policy, fraction, truncation):
    s, r = _run("debate_bias", policy=policy, real_fraction=fraction, truncation=truncation, n_chains=4000)
    m, t = theory.biased_sampling_moments(1.0, s["sample_size"], s["n_generations"], truncation, fraction, s["ddof"])
    n = np.sqrt(s["n_chains"])
    for g in (1, 5, s["n_generations"]):
        assert abs(r["mean_variance"][g] - t[g]) < 3.5 * r["sd_variance"][g] / n
        assert abs(r["mean_sq_mean_error"][g] - m[g]) < 3.5 * r["sd_sq_mean_error"][g] / n
    v = theory.truncated_variance_factor(1.5)
    from scipy import stats
    assert v == pytest.approx(stats.truncnorm(-1.5, 1.5).var(), rel=1e-10)
    if policy == "mix":  # fresh data: diversity settles near gamma / (1 - (1 - gamma) v)
        assert t[-1] == pytest.approx(0.2 / (1 - 0.8 * v), rel=0.03)


def test_collapse_indicators():
    out = cl.metrics.collapse_indicators(risk=np.array([1.0, 2.0, 4.0]), risk_se=np.array([0.1, 0.1, 0.1]),
                                         spread=np.array([1.0, 0.5, 0.05]), tail_mass=np.array([0.1, 0.08, 0.07]),
                                         curve=(np.array([10, 100, 1000]), np.array([1.0, 0.5, 0.49])))
    assert out == {"risk rises": True, "risk diverges": True, "spread to zero": True, "tail lost": False,
                   "support to a point": None, "forgets": None, "scaling flattened": True}
    out = cl.metrics.collapse_indicators(risk=np.array([1.0, 1.6, 1.7]), risk_se=np.array([0.1, 0.1, 0.1]),
                                         curve=(np.array([10, 100, 1000]), np.array([1.0, 0.1, 0.01])))
    assert out["risk rises"] and not out["risk diverges"] and not out["scaling flattened"]


def test_debate_settings_are_checked_before_work():
    from collapse_lib.experiments import run_experiment
    with pytest.raises(SettingError):
        run_experiment("debate_strong", "smoke", 0, synthetic_fraction=1.5)
    with pytest.raises(SettingError):
        run_experiment("debate_tails", "smoke", 0, cutoff=10**9)
    with pytest.raises(SettingError):
        run_experiment("debate_bias", "smoke", 0, policy="accumulate")


@pytest.mark.parametrize("mode", ["curate", "verify"])
@pytest.mark.parametrize("policy", ["replace", "fixed-real"])
def test_filtered_loop_follows_its_infinite_sample_map(mode, policy):
    s, r = _run("debate_curation", mode=mode, policy=policy, sample_size=20000, real_sample_size=20000,
                n_chains=40, n_generations=10)
    q = cl.distributions.zipf_probabilities(s["n_states"], s["exponent"])
    reward = theory.filter_reward(s["n_states"], s["favourite"], s["reward_scale"], mode)
    share = 0.5 if policy == "fixed-real" else 0.0
    closed = theory.curated(q, reward, mode, s["n_generations"], q, share)[:, s["favourite"]]
    # large M: within 4 standard errors plus the real set's own sampling error (1/sqrt(M_0) of the mass)
    tol = 4 * r["sd_favourite"] / np.sqrt(s["n_chains"]) + 2 * np.sqrt(q[s["favourite"]] / 20000)
    assert np.all(np.abs(r["mean_favourite"] - closed) < tol)
    if policy == "replace":
        assert closed[-1] > 0.6  # the filter's favourite takes over (the reward's bias amplified)
    else:
        assert closed[-1] < 0.3 and closed[-1] == pytest.approx(closed[-2], rel=0.05)  # a bounded fixed point


def test_curation_maximises_the_reward():
    p = cl.distributions.zipf_probabilities(10, 1.0)
    reward = np.linspace(0, 1, 10)
    path = theory.curated(p, reward, "curate", 200)
    assert path[-1, -1] > 0.99
    expected = path @ reward
    assert np.all(np.diff(expected) > -1e-12)  # the expected reward never falls (Ferbach et al.)


def test_weighted_mean_matches_its_closed_form_and_the_golden_ratio():
    from scipy.optimize import minimize_scalar
    for w in (0.3, 0.618, 1.0):
        s, r = _run("debate_weighting", real_weight=w, n_chains=20000)
        v = theory.weighted_mean_error(1.0, s["real_size"], s["synthetic_size"], w, s["n_generations"])
        assert np.all(np.abs(r["mean_sq_mean_error"] - v) < 3.5 * r["sd_sq_mean_error"] / np.sqrt(s["n_chains"]))
    assert theory.optimal_real_weight(50, 50) == pytest.approx((np.sqrt(5) - 1) / 2)
    for n, m in [(50, 50), (20, 80), (100, 25)]:  # the root of w^2 = rho (1 - w) minimises the limit
        limit = lambda w: theory.weighted_mean_error(1.0, n, m, w, 400)[-1]  # noqa: E731
        best = minimize_scalar(limit, bounds=(0.01, 1.0), method="bounded").x
        assert best == pytest.approx(theory.optimal_real_weight(n, m), abs=1e-3)


# --- self-correction (Gillman et al.) ---------------------------------------------------------------

def test_self_corrected_moments_reduce_to_g3_and_reach_their_bound():
    from collapse_lib import theory

    m = 50
    uncorrected = theory.self_corrected_mean_error(1.0, m, 30, 0.0, 0.5)
    np.testing.assert_allclose(uncorrected, (np.arange(31) + 1) / m, rtol=1e-12)  # (G3): the bias never acts
    lam = 0.2
    corrected = theory.self_corrected_mean_error(1.0, m, 400, lam, 0.0)
    assert abs(corrected[-1] * m * lam * (2 - lam) - 1) < 0.05  # near 1/(M λ(2−λ)), to O(1/M)
    biased = theory.self_corrected_mean_error(1.0, m, 400, lam, 0.5)
    assert abs(biased[-1] - corrected[-1] - 0.25) < 1e-3  # the corrector's view: δ² added
    with pytest.raises(cl.SettingError, match="correction"):
        theory.self_corrected_mean_error(1.0, m, 10, 1.5)


@pytest.mark.parametrize("correction, bias", [(0.0, 0.0), (0.2, 0.0), (0.2, 0.5), (0.05, 0.5)])
def test_self_correction_simulation_matches_its_exact_moments(correction, bias):
    from collapse_lib import theory

    chains, m, n = 3000, 20, 30
    r = cl.run_experiment("debate_correction", "smoke", 3, correction=correction, corrector_bias=bias,
                          sample_size=m, n_generations=n, n_chains=chains)
    exact = theory.self_corrected_mean_error(1.0, m, n, correction, bias)
    for g in (1, 5, 10, m if correction == 0 else n):  # without correction: g <= M (heavy tails beyond)
        se = r["sd_sq_mean_error"][g] / np.sqrt(chains)
        assert abs(r["mean_sq_mean_error"][g] - exact[g]) < 3.5 * se, (g, r["mean_sq_mean_error"][g], exact[g], se)
    if correction > 0 and bias == 0:  # bounded, far below the (n+1)/M of no correction
        assert r["mean_sq_mean_error"][-1] < 0.5 * r["mean_sq_mean_error"][0] * (n + 1) / 3
