"""What prevents collapse: closed forms against simulation, datasets of the promised sizes, seeding.

Tolerances: a Monte Carlo mean is compared with its closed form within 5 standard errors
(``sd / sqrt(n_chains)``, the standard deviation taken over the simulated chains); a Monte Carlo
variance of a quantity in [0, 1] within ``5 sqrt(V / n)``, which bounds 5 standard errors of a
sample variance when every deviation is at most 1 (then the fourth central moment is at most V).
"""

import numpy as np
import pytest

import collapse_lib as cl
from collapse_lib.distributions import true_covariance
from collapse_lib.experiments import prevention
from collapse_lib.models.linear_regression import FixedDesign, LinearRegressionModel
from collapse_lib.metrics import Quantile, w2_squared_to_gaussian
from collapse_lib.models.multivariate_gaussian import MultivariateGaussianModel, standard_wishart
from collapse_lib.policies import dataset_from_arrays, dataset_to_arrays
from collapse_lib.sufficient_stats import DesignLabels, MultivariateGaussianStats, PointSamples, RegressionStats

Z = 5.0  # standard errors allowed between a Monte Carlo mean and its closed form


def assert_within_se(simulated, sd, n, expected, z=Z):
    simulated, expected = np.asarray(simulated, float), np.asarray(expected, float)
    se = np.asarray(sd, float) / np.sqrt(n)
    worst = np.max(np.abs(simulated - expected) / se)
    assert worst < z, f"largest gap {worst:.2f} standard errors"


# --------------------------------------------------------------------------- datasets and models

def test_multivariate_stats_merge_equals_pooled_samples():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 7, 4)), rng.normal(2.0, 3.0, size=(3, 11, 4))
    merged = MultivariateGaussianStats.from_samples(a).merge(MultivariateGaussianStats.from_samples(b))
    direct = MultivariateGaussianStats.from_samples(np.concatenate([a, b], axis=1))
    assert merged.count == 18
    np.testing.assert_allclose(merged.mean, direct.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.scatter, direct.scatter, rtol=1e-12)


def test_subsamples_keep_rows_whole_and_differ_between_chains():
    rng = np.random.default_rng(1)
    points = np.tile(np.arange(40.0)[None, :, None] * np.array([1.0, 10.0, 100.0]), (4, 1, 1))
    picked = PointSamples(points).subsample(15, rng).points
    assert picked.shape == (4, 15, 3)
    np.testing.assert_array_equal(picked[..., 1], 10 * picked[..., 0])  # coordinates of one point stay together
    np.testing.assert_array_equal(picked[..., 2], 100 * picked[..., 0])
    assert all(len(np.unique(row[:, 0])) == 15 for row in picked)
    assert not np.array_equal(picked[0], picked[1])
    labels = DesignLabels(np.tile(np.arange(40, dtype=np.int32), (4, 1)), np.tile(np.arange(40.0) * 0.5, (4, 1)))
    sub = labels.subsample(15, rng)
    np.testing.assert_array_equal(sub.labels, 0.5 * sub.rows)
    with pytest.raises(cl.SettingError, match="cannot subsample 41 points from a pool of 40"):
        labels.subsample(41, rng)


@pytest.mark.parametrize("total, n", [(1000, 50), (120, 50), (60, 60), (5000, 3)])
def test_row_subsamples_are_uniform_and_without_replacement(total, n):
    """Every row of the pool is picked with probability n / total, never twice in one chain."""
    from collapse_lib.sufficient_stats import _rows_without_replacement

    chains = 4000
    picked = _rows_without_replacement(chains, total, n, np.random.default_rng(total + n))
    assert picked.shape == (chains, n) and picked.min() >= 0 and picked.max() < total
    ordered = np.sort(picked, axis=1)
    assert np.all(np.diff(ordered, axis=1) > 0)
    counts = np.bincount(picked.ravel(), minlength=total)
    p = n / total
    if p < 1:  # each count has variance chains p (1 - p): the sum of squared z-scores is about total
        z = (counts - chains * p) / np.sqrt(chains * p * (1 - p))
        assert abs(np.sum(z**2) - total) < 5 * np.sqrt(2 * total)
    assert len({tuple(row) for row in ordered[:50]}) > 1 or n == total


@pytest.mark.parametrize("data", [
    MultivariateGaussianStats(5, np.ones((2, 3)), np.ones((2, 3, 3))),
    RegressionStats(5, np.ones((2, 3, 3)), np.ones((2, 3))),
    PointSamples(np.ones((2, 5, 3))),
    DesignLabels(np.zeros((2, 5), np.int32), np.ones((2, 5))),
])
def test_new_datasets_round_trip_through_the_run_store_format(data):
    """Resuming an accumulate run reloads the pool from the store (collapse_lib.policies)."""
    back = dataset_from_arrays(dataset_to_arrays(data))
    assert type(back) is type(data)
    for key, value in data.to_arrays().items():
        np.testing.assert_array_equal(back.to_arrays()[key], value)


@pytest.mark.parametrize("dof", [2, 4, 9])
def test_standard_wishart_moments(dof):
    """E W = k I and Var W_ij = k (1 + [i = j]) for W ~ W_d(k, I), in the Bartlett and the singular branch."""
    n, d = 40000, 4
    w = standard_wishart(dof, d, n, np.random.default_rng(dof))
    expected_var = dof * (1 + np.eye(d))
    assert_within_se(w.mean(axis=0), np.sqrt(expected_var), n, dof * np.eye(d))
    fourth = w.var(axis=0)  # the variance itself, against its exact value, with a loose relative check
    np.testing.assert_allclose(fourth, expected_var, rtol=0.06)


@pytest.mark.parametrize("method", ["sufficient", "samples"])
def test_one_multivariate_step_has_the_exact_moments(method):
    """After one fit to n points: E mean = mu, E|mean - mu|^2 = tr S / n, E cov = S (n-1)/(n-ddof)."""
    cov = true_covariance(3, 4.0)
    n_chains, n = 20000, 6
    for ddof in (0, 1):
        truth = MultivariateGaussianModel.from_params(np.array([1.0, -1.0, 0.5]), cov, n_chains, ddof, method)
        fit = MultivariateGaussianModel(ddof).fit(truth.sample(n, np.random.default_rng(ddof)))
        err = np.sum((fit.mean_ - truth.mean_) ** 2, axis=1)
        assert_within_se(err.mean(), err.std(), n_chains, np.trace(cov) / n)
        assert_within_se(fit.cov_.mean(axis=0), fit.cov_.std(axis=0), n_chains, cov * (n - 1) / (n - ddof))


def test_batched_w2_matches_the_single_pair_metric():
    rng = np.random.default_rng(3)
    cov = true_covariance(4, 10.0)
    a = rng.normal(size=(5, 4, 4))
    covs = a @ np.swapaxes(a, 1, 2) + 0.1 * np.eye(4)
    means = rng.normal(size=(5, 4))
    batched = w2_squared_to_gaussian(means, covs, np.zeros(4), cov)
    single = [cl.metrics.w2_squared_gaussian(m, c, np.zeros(4), cov) for m, c in zip(means, covs)]
    np.testing.assert_allclose(batched, single, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- linear regression

def test_regression_accumulate_statistics_equal_the_fit_on_the_stacked_pool():
    """The O(1) pool (X^T X, X^T y summed) gives exactly the least squares of the stacked rows,
    and its size is (g + 1) T after g generations."""
    rng = np.random.default_rng(4)
    design = FixedDesign.gaussian(3, 12, 4, rng, keep_rows=True)
    model = LinearRegressionModel.from_weights(rng.normal(size=4), design, 0.5, "samples")
    pool_rows, pool_stats = None, None
    for generation in range(4):
        labels = model.sample(12, rng)
        stats = RegressionStats(12, np.einsum("cti,ctj->cij", design.rows, design.rows),
                                np.einsum("cti,ct->ci", design.rows, labels.labels))
        pool_rows = labels if pool_rows is None else pool_rows.merge(labels)
        pool_stats = stats if pool_stats is None else pool_stats.merge(stats)
        assert pool_rows.size == pool_stats.size == 12 * (generation + 1)
        on_rows = LinearRegressionModel(design, 0.5, "samples").fit(pool_rows).weights_
        on_stats = LinearRegressionModel(design, 0.5, "samples").fit(pool_stats).weights_
        stacked = np.concatenate([design.rows] * (generation + 1), axis=1)
        direct = [np.linalg.pinv(x) @ y for x, y in zip(stacked, pool_rows.labels)]
        np.testing.assert_allclose(on_rows, direct, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(on_stats, direct, rtol=1e-9, atol=1e-12)
        model = LinearRegressionModel(design, 0.5, "samples").fit(pool_rows)


@pytest.mark.parametrize("policy", ["replace", "accumulate"])
def test_regression_test_error_closed_forms(policy):
    """Replace: sigma^2 d/(T-d-1) n; accumulate: sigma^2 d/(T-d-1) sum_{i<=n} 1/i^2 < pi^2/6 of the first fit."""
    settings = dict(dim=4, design_size=14, noise_sd=0.7, n_generations=15, n_chains=6000, policy=policy)
    r = cl.run_experiment("prevention_regression", "smoke", 0, **settings)
    theory = cl.theory.regression_test_error(0.7, 4, 14, r["sample_size"], policy)
    first = cl.theory.regression_first_fit_error(0.7, 4, 14)
    assert np.isclose(theory[0], first)
    if policy == "replace":
        np.testing.assert_allclose(theory, first * (r["generation"] + 1))
    else:
        assert np.all(theory < np.pi**2 / 6 * first)
    assert_within_se(r["mean_test_error"], r["sd_test_error"], 6000, theory)


def test_regression_literal_labels_follow_the_same_closed_form():
    r = cl.run_experiment("prevention_regression", "smoke", 0, dim=3, design_size=12, n_generations=6,
                          n_chains=3000, policy="replace", method="samples")
    theory = cl.theory.regression_test_error(1.0, 3, 12, r["sample_size"], "replace")
    assert_within_se(r["mean_test_error"], r["sd_test_error"], 3000, theory)


def test_regression_subsample_lies_between_accumulate_and_replace():
    runs = {p: cl.run_experiment("prevention_regression", "smoke", 0, dim=3, design_size=12, n_generations=12,
                                 n_chains=1500, policy=p) for p in ["replace", "accumulate", "accumulate-subsample"]}
    last = {p: r["mean_test_error"][-1] for p, r in runs.items()}
    assert last["accumulate"] < last["accumulate-subsample"] < last["replace"]


# --------------------------------------------------------------------------- multivariate Gaussian

@pytest.mark.parametrize("policy, fraction, schedule", [
    ("replace", 0.0, "constant"), ("accumulate", 0.0, "constant"), ("mix", 0.2, "constant"),
    ("mix", 1.0, "constant"), ("replace", 0.0, "quadratic"), ("accumulate", 0.0, "linear"),
])
def test_multivariate_gaussian_closed_forms(policy, fraction, schedule):
    n_chains = 6000
    settings = dict(dim=3, sample_size=10, n_generations=12, n_chains=n_chains, policy=policy, real_fraction=fraction,
                    schedule=schedule, ddof=1)
    r = cl.run_experiment("prevention_gaussian", "smoke", 0, **settings)
    trace = np.trace(true_covariance(3, 10.0))
    mean_error, trace_cov = cl.theory.multivariate_gaussian_errors(trace, r["sample_size"], policy, fraction, 1)
    assert_within_se(r["mean_sq_mean_error"], r["sd_sq_mean_error"], n_chains, mean_error)
    assert_within_se(r["mean_trace_ratio"], r["sd_trace_ratio"], n_chains, trace_cov / trace)


def test_multivariate_formulas_reduce_to_the_known_cases():
    sizes = np.array([20, 30, 50, 80, 130])
    m, t = cl.theory.multivariate_gaussian_errors(2.5, sizes, "replace", ddof=1)
    np.testing.assert_allclose(m, 2.5 * np.cumsum(1 / sizes))  # tr(Sigma) sum 1/M_i
    np.testing.assert_allclose(t, 2.5)
    for ddof in (0, 1):  # d = 1: the one-dimensional G3 of collapse_lib.theory
        m1, _ = cl.theory.multivariate_gaussian_errors(1.0, sizes, "replace", ddof=ddof)
        np.testing.assert_allclose(m1, cl.theory.expected_mean_sq_error(1.0, sizes, ddof))
    m_acc, _ = cl.theory.multivariate_gaussian_errors(1.0, np.full(2000, 40), "accumulate", ddof=1)
    assert abs(m_acc[-1] * 40 - np.pi**2 / 6) < 0.01
    m_mix, t_mix = cl.theory.multivariate_gaussian_errors(2.0, np.full(3000, 40), "mix", 0.25)
    limit = cl.theory.multivariate_gaussian_mix_limit(2.0, 40, 0.25)
    np.testing.assert_allclose([m_mix[-1], t_mix[-1]], limit, rtol=1e-9)
    assert cl.theory.multivariate_gaussian_mix_limit(2.0, 40, 0.0)[0] == np.inf
    for size, gamma in [(40, 0.25), (50, 0.02), (10, 0.3), (30, 1.0)]:  # the closed form for ddof = 1
        g = round(gamma * size) / size
        m_star = 2.0 / (size * (g * (2 - g) - (1 - g) ** 2 / (size - 1)))
        t_star = 2.0 + (1 - g) * size * m_star / (size - 1)
        np.testing.assert_allclose(cl.theory.multivariate_gaussian_mix_limit(2.0, size, gamma), [m_star, t_star])


def test_log_determinant_drift_under_replace():
    """The d-dimensional G6: mean of log det(Sigma_g) - log det(Sigma), and its spread over chains."""
    n_chains = 6000
    r = cl.run_experiment("prevention_gaussian", "smoke", 0, policy="replace", n_chains=n_chains, n_generations=25,
                          sample_size=12)
    mean, sd = cl.theory.log_det_moments(3, r["sample_size"], ddof=1)
    assert_within_se(r["mean_log_det_ratio"], sd, n_chains, mean)
    np.testing.assert_allclose(r["sd_log_det_ratio"], sd, rtol=0.05)
    sizes = np.full(10, 30)
    one_d_mean, one_d_sd = cl.theory.log_variance_moments(2.0, sizes, ddof=0)
    np.testing.assert_allclose(cl.theory.log_det_moments(1, sizes, ddof=0)[0], one_d_mean - np.log(4.0))
    np.testing.assert_allclose(cl.theory.log_det_moments(1, sizes, ddof=0)[1], one_d_sd)


def test_mix_error_limit_is_reached_by_simulation():
    """After many generations with fresh real data the error sits at the closed-form fixed point."""
    r = cl.run_experiment("prevention_mix", "smoke", 0, real_fraction=0.5, real_sample_size=0, n_generations=40,
                          n_chains=4000)
    trace = np.trace(true_covariance(3, 10.0))
    m_star, t_star = cl.theory.multivariate_gaussian_mix_limit(trace, 20, 0.5)
    assert_within_se(r["mean_sq_mean_error"][-1], r["sd_sq_mean_error"][-1], 4000, m_star)
    assert_within_se(r["mean_trace_ratio"][-1], r["sd_trace_ratio"][-1], 4000, t_star / trace)


def test_multivariate_accumulate_subsample_runs_on_literal_points():
    r = cl.run_experiment("prevention_gaussian", "smoke", 0, policy="accumulate-subsample", n_generations=5)
    assert r["mean_sq_mean_error"].shape == (6,) and np.all(np.isfinite(r["w2_sq_q"]))
    np.testing.assert_array_equal(r["sample_size"], 20)


# --------------------------------------------------------------------------- tails

@pytest.mark.parametrize("policy", ["replace", "accumulate"])
def test_tail_mass_is_a_martingale_with_the_predicted_spread(policy):
    n_chains = 4000
    r = cl.run_experiment("prevention_tails", "smoke", 0, policy=policy, n_chains=n_chains, n_generations=60)
    mass = r["tail_mass_true"]
    variance = cl.theory.subset_mass_variance(mass, r["sample_size"], policy)
    assert_within_se(r["mean_tail_mass"], np.sqrt(variance), n_chains, np.broadcast_to(mass, variance.shape))
    gap = np.abs(r["sd_tail_mass"] ** 2 - variance) / np.sqrt(variance / n_chains)
    assert gap.max() < Z


def test_survival_of_rare_states_matches_the_binomial_chain():
    """Fraction of (chain, state) pairs with original count k still present after g generations,
    against the exact two-state chain. States of one chain are weakly dependent, so 6 standard errors."""
    r = cl.run_experiment("prevention_tails", "smoke", 0, policy="replace", n_chains=3000, n_generations=80)
    alive = r["alive_by_count"].astype(float)
    total = alive[0]
    counts = np.arange(1, total.size + 1)
    survival = 1 - cl.theory.loss_time_cdf(50, counts, 80)
    usable = total >= 200
    for g in (1, 5, 20, 80):
        p = survival[g, usable]
        assert_within_se(alive[g, usable] / total[usable], np.sqrt(p * (1 - p) + 1e-12), total[usable], p, z=6.0)


def test_loss_time_formulas_agree():
    m, counts = 60, np.array([1, 2, 5, 10])
    cdf = cl.theory.loss_time_cdf(m, counts, 4000)
    np.testing.assert_allclose(cdf[-1], 1 - counts / m, atol=1e-9)  # lost unless fixed, P(fixed) = k/M
    density = np.diff(cdf, axis=0)
    from_cdf = (np.arange(1, 4001)[:, None] * density).sum(axis=0) / cdf[-1]
    np.testing.assert_allclose(cl.theory.mean_loss_time_given_loss(m, counts), from_cdf, rtol=1e-6)
    diffusion = cl.theory.mean_loss_time_diffusion(m, counts)
    np.testing.assert_allclose(diffusion, from_cdf, rtol=0.1)


# --------------------------------------------------------------------------- GMM, seeding, settings

def test_gmm_runs_under_every_policy_and_accumulating_keeps_the_spread():
    runs = {p: cl.run_experiment("prevention_gmm", "smoke", 0, policy=p) for p in
            ["replace", "accumulate", "accumulate-subsample"]}
    runs["mix"] = cl.run_experiment("prevention_gmm_mix", "smoke", 0)
    for r in runs.values():
        assert r["mean_kl"].shape == (11,) and np.isfinite(r["mean_kl"][0])
        assert r["mean_kl"][0] == runs["replace"]["mean_kl"][0]  # generation 0: the same real data
    assert runs["accumulate"]["kl_q"][-1, Quantile.MEDIAN] < runs["replace"]["kl_q"][-1, Quantile.MEDIAN]


def test_same_seed_same_numbers(tmp_path):
    a = cl.run_experiment("prevention_mix", "smoke", 3, real_fraction=0.1, real_sample_size=5)
    b = cl.run_experiment("prevention_mix", "smoke", 3, store=cl.RunStore(tmp_path / "b"),
                          real_fraction=0.1, real_sample_size=5)
    c = cl.run_experiment("prevention_mix", "smoke", 4, real_fraction=0.1, real_sample_size=5)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert not np.array_equal(a["mean_sq_mean_error"], c["mean_sq_mean_error"])


@pytest.mark.parametrize("name, policy", [("prevention_regression", "replace"), ("prevention_mix", "mix"),
                                          ("prevention_gaussian", "accumulate")])
def test_interrupted_run_resumes_identically(tmp_path, monkeypatch, name, policy):
    overrides = {"prevention_regression": dict(design_size=15, policy=policy),
                 "prevention_mix": dict(real_fraction=0.1, real_sample_size=0),
                 "prevention_gaussian": dict(policy=policy)}[name]
    straight = cl.run_experiment(name, "smoke", 0, store=cl.RunStore(tmp_path / "b"), **overrides)
    target = "run_regression" if name == "prevention_regression" else "run_multivariate_gaussian"
    original = cl.run_generations

    def interrupted(*args, **kwargs):
        record = kwargs["record"]

        def failing(model, generation):
            if generation.index == 7:
                raise KeyboardInterrupt
            return record(model, generation)
        return original(*args, **dict(kwargs, record=failing))

    monkeypatch.setattr(prevention, "run_generations", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cl.run_experiment(name, "smoke", 0, store=cl.RunStore(tmp_path / "a"), **overrides)
    monkeypatch.setattr(prevention, "run_generations", original)
    assert len(list((tmp_path / "a").rglob("gen_*.npz"))) == 7, target
    resumed = cl.run_experiment(name, "smoke", 0, store=cl.RunStore(tmp_path / "a"), **overrides)
    for key in straight:
        np.testing.assert_array_equal(resumed[key], straight[key], err_msg=key)


@pytest.mark.parametrize("name, overrides, message", [
    ("prevention_regression", dict(design_size=6), "design_size must be > dim + 1 = 6"),
    ("prevention_regression", dict(design_size=15, policy="mix"), "unknown policy 'mix'"),
    ("prevention_regression", dict(design_size=15, policy="accumulate-subsample", method="sufficient"),
     "needs method='samples'"),
    ("prevention_gaussian", dict(policy="replace", spectrum=0.5), "spectrum (largest / smallest eigenvalue) must be >= 1"),
    ("prevention_gaussian", dict(policy="replace", real_fraction=0.3), "only applies to policy 'mix'"),
    ("prevention_mix", dict(real_fraction=0.1, real_sample_size=1), "every sample size must be >= ddof + 1 = 2"),
    ("prevention_tails", dict(policy="replace", max_count=50), "max_count must be < sample_size = 50"),
    ("prevention_tails", dict(policy="replace", tail_levels=[0.5, 1.0]), "strictly between 0 and 1"),
])
def test_bad_settings_name_the_problem(name, overrides, message):
    with pytest.raises(cl.SettingError) as error:
        cl.run_experiment(name, "smoke", 0, **overrides)
    assert message in str(error.value)


def test_loss_time_moments_of_a_geometric_loss_time():
    """A value lost with probability p each generation: mean 1/p and second moment (2 - p)/p^2."""
    from collapse_lib.metrics import loss_time_moments

    p = np.array([0.05, 0.2, 0.5])
    generations = np.arange(2001)
    lost_by = 1 - (1 - p[None, :]) ** generations[:, None]
    mean, second = loss_time_moments(lost_by, generations)
    np.testing.assert_allclose(mean, 1 / p, rtol=1e-9)
    np.testing.assert_allclose(second, (2 - p) / p**2, rtol=1e-9)


def test_gaussian_error_unit_is_the_trace_of_sigma_over_m():
    settings = dict(dim=4, spectrum=10.0, sample_size=50)
    trace, unit = cl.theory.gaussian_error_unit(settings)
    assert trace == pytest.approx(np.geomspace(1, 0.1, 4).sum(), rel=1e-12)  # the eigenvalues' sum
    assert unit == pytest.approx(trace / 50, rel=1e-15)
    assert trace == pytest.approx(np.trace(true_covariance(4, 10.0)), rel=1e-12)


def test_tail_measures_on_a_small_distribution():
    q = cl.distributions.zipf_probabilities(4, 1.0)  # 12/25, 6/25, 4/25, 3/25
    tails = cl.metrics.tail_sets(q, [0.4, 0.8])  # states before carry 0, 12/25, 18/25, 22/25
    np.testing.assert_array_equal(tails, [[0, 0], [1, 0], [1, 0], [1, 1]])
    p = np.array([[0.5, 0.5, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    np.testing.assert_allclose(cl.metrics.tail_mass(p, tails), [[0.5, 0.0], [0.75, 0.25]])
    np.testing.assert_array_equal(cl.metrics.support_size(p), [2, 4])
    original = np.array([[3, 1, 0, 1], [1, 2, 1, 1]])  # each state's count in the real data
    # k = 1: alive in chain 0 state 1, chain 1 states 0, 2, 3 (chain 0 state 3 is lost); k = 2: chain 1 state 1
    np.testing.assert_array_equal(cl.metrics.survivors_by_count(p, original, 2), [4, 1])
    np.testing.assert_allclose(cl.metrics.unseen_mass(original, q), [4 / 25, 0.0])


def test_log_det_ratio_floors_a_singular_covariance():
    cov = np.stack([np.diag([2.0, 3.0]), np.zeros((2, 2))])
    ratio = cl.metrics.log_det_ratio(cov, np.eye(2))
    assert ratio[0] == pytest.approx(np.log(6.0))
    assert ratio[1] == cl.metrics.LOG_TINY
