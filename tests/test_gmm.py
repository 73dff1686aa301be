"""The batched Gaussian-mixture EM, the closed-form L2 distance and the mixture experiments."""

import itertools
import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn import cluster as sklearn_cluster
from sklearn import mixture as sklearn_mixture

import collapse_lib as cl
import collapse_lib.models.gmm as gmm_module
from collapse_lib.experiments import gmm as gmm_experiment
from collapse_lib.metrics import l2_squared_gmm
from collapse_lib.models.gmm import GaussianMixtureModel, mixture_moments


def datasets(seed=0, n_chains=6, n_samples=400, d=2):
    """A batch mixing three kinds of data: one Gaussian blob, two separated Gaussians, and three
    elongated, overlapping components."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_chains, n_samples, d))
    side = np.where(rng.random((n_chains, n_samples, 1)) < 0.4, -1.5, 1.5)
    x[1::3] = 0.5 * x[1::3] + side[1::3] * np.eye(d)[0]
    label = rng.integers(0, 3, (n_chains, n_samples, 1))
    x[2::3] = x[2::3] * np.where(np.arange(d) == 0, 1.0, 0.3) + 1.2 * label[2::3] * np.ones(d)
    return x


def matching_permutation(ours, theirs):
    """The relabelling of our components that best matches scikit-learn's means."""
    k = ours.shape[0]
    return list(min(itertools.permutations(range(k)), key=lambda p: np.abs(ours[list(p)] - theirs).sum()))


# --- EM against scikit-learn ---------------------------------------------------------------------

@pytest.mark.parametrize("d, n_components", [(2, 1), (2, 2), (2, 3), (3, 2)])
def test_em_matches_scikit_learn_from_the_same_initialisation(d, n_components):
    x = datasets(d=d)
    model = GaussianMixtureModel(n_components, tol=1e-5, max_iter=2000, reg_covar=1e-6)
    init = model.initial_params(x, rng=7)
    model.fit(x, rng=7)
    ours = model.score(x)
    for b in range(x.shape[0]):
        reference = sklearn_mixture.GaussianMixture(
            n_components, covariance_type="full", tol=1e-5, max_iter=2000, reg_covar=1e-6,
            weights_init=init["weights"][b], means_init=init["means"][b],
            precisions_init=np.linalg.inv(init["covariances"][b])).fit(x[b])
        theirs = reference.score(x[b])
        assert abs(ours[b] - theirs) <= 1e-6 * abs(theirs)
        assert abs(model.lower_bound_[b] - reference.lower_bound_) <= 1e-6 * abs(reference.lower_bound_)
        assert model.n_iter_[b] == reference.n_iter_ and model.converged_[b] == reference.converged_
        p = matching_permutation(model.means_[b], reference.means_)
        np.testing.assert_allclose(model.weights_[b][p], reference.weights_, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(model.means_[b][p], reference.means_, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(model.covariances_[b][p], reference.covariances_, rtol=1e-6, atol=1e-9)


def test_kmeans_matches_scikit_learn_from_the_same_seeds():
    x = datasets(seed=3, n_chains=6)
    centred = x - x.mean(axis=1, keepdims=True)
    for n_components in (2, 3):
        ft, _ = gmm_module._features(x)
        uniforms = np.random.default_rng(1).random((x.shape[0], 1 + (n_components - 1) * 3))
        seeds = gmm_module._kmeans_plusplus(ft, 2, n_components, uniforms)  # (B, d, K)
        stats = gmm_module._kmeans(ft, 2, n_components, uniforms)  # (B, n_f, K): sums over the final clusters
        for b in range(x.shape[0]):
            reference = sklearn_cluster.KMeans(n_components, init=seeds[b].T, n_init=1).fit(centred[b])
            counts = np.bincount(reference.labels_, minlength=n_components)
            sums = np.stack([centred[b][reference.labels_ == k].sum(axis=0) for k in range(n_components)])
            np.testing.assert_array_equal(stats[b, 0], counts)  # the same clusters, in the same order
            np.testing.assert_allclose(stats[b, 1:3].T, sums, atol=1e-9)


# --- the L2 distance -----------------------------------------------------------------------------

def grid_l2(a, b, half_width=9.0, n=901):
    grid = np.linspace(-half_width, half_width, n)
    points = np.dstack(np.meshgrid(grid, grid))

    def density(w, m, c):
        return sum(wk * multivariate_normal(mk, ck).pdf(points) for wk, mk, ck in zip(w, m, c))

    return float(((density(*a) - density(*b)) ** 2).sum() * (grid[1] - grid[0]) ** 2)


def test_l2_distance_against_numerical_integration():
    a = ([0.3, 0.7], [[0.0, 0.0], [1.5, 0.5]], [[[1.0, 0.3], [0.3, 0.5]], [[0.2, 0.0], [0.0, 0.3]]])
    b = ([1.0], [[0.5, 0.2]], [[[1.2, 0.1], [0.1, 0.8]]])
    c = ([0.5, 0.2, 0.3], [[-1, 0], [1, 1], [0, -1.5]], [np.eye(2) * 0.3, [[0.5, -0.2], [-0.2, 0.4]], np.eye(2)])
    for p, q in [(a, b), (a, c), (b, c)]:
        numeric = grid_l2(p, q)
        assert l2_squared_gmm(*p, *q) == pytest.approx(numeric, rel=1e-6)
        assert l2_squared_gmm(*q, *p) == pytest.approx(numeric, rel=1e-6)
    assert l2_squared_gmm(*a, *a) == pytest.approx(0.0, abs=1e-12)


def test_l2_distance_broadcasts_chains_against_one_mixture():
    w, m, c = ([0.3, 0.7], [[0.0, 0.0], [1.5, 0.5]], [np.eye(2), 0.5 * np.eye(2)])
    batch = [np.array([w, w[::-1]]), np.array([m, m]), np.array([c, c])]
    single = [l2_squared_gmm(batch[0][i], batch[1][i], batch[2][i], [1.0], [[0, 0]], [np.eye(2)]) for i in range(2)]
    np.testing.assert_allclose(l2_squared_gmm(*batch, [1.0], [[0, 0]], [np.eye(2)]), single, rtol=1e-12)


# --- sampling ------------------------------------------------------------------------------------

def test_sampling_reproduces_the_mixture_moments():
    weights = np.array([0.3, 0.2, 0.5])
    means = np.array([[0.0, 0.0], [2.0, 1.0], [-1.0, -1.0]])
    covariances = np.array([[[1.0, 0.5], [0.5, 1.0]], [[0.2, 0.0], [0.0, 0.5]], [[0.1, 0.05], [0.05, 0.1]]])
    model = GaussianMixtureModel.from_params(weights, means, covariances, n_chains=3)
    n = 200_000
    x = model.sample(n, np.random.default_rng(0))
    assert x.shape == (3, n, 2) and np.isfinite(x).all()
    mean, cov = mixture_moments(weights, means, covariances)
    for chain in x:
        # 5 standard errors for the mean; the covariance to within 2% (n = 200,000)
        np.testing.assert_allclose(chain.mean(axis=0), mean, atol=5 * np.sqrt(np.diag(cov) / n).max())
        np.testing.assert_allclose(np.cov(chain.T), cov, atol=0.02 * np.abs(cov).max())
    # points come grouped by component (as in scikit-learn): the first block is component 0's
    first = x[0, : int(0.3 * n * 0.9)]
    np.testing.assert_allclose(first.mean(axis=0), means[0], atol=0.02)


def test_sampling_a_fitted_mixture_reproduces_its_moments():
    model = GaussianMixtureModel(2).fit(datasets(seed=2, n_chains=3), rng=0)
    n = 200_000
    x = model.sample(n, np.random.default_rng(1))
    mean, cov = mixture_moments(model.weights_, model.means_, model.covariances_)
    for b in range(3):
        np.testing.assert_allclose(x[b].mean(axis=0), mean[b], atol=5 * np.sqrt(np.diag(cov[b]) / n).max())
        np.testing.assert_allclose(np.cov(x[b].T), cov[b], atol=0.02 * np.abs(cov[b]).max())


def test_sampled_component_fractions_are_multinomial():
    model = GaussianMixtureModel.from_params([0.25, 0.75], [[-10.0, 0.0], [10.0, 0.0]], [np.eye(2)] * 2, n_chains=400)
    x = model.sample(1000, np.random.default_rng(5))
    fraction = (x[..., 0] < 0).mean(axis=1)  # per chain: share of the first component
    assert abs(fraction.mean() - 0.25) < 4 * np.sqrt(0.25 * 0.75 / (400 * 1000))
    assert fraction.std() == pytest.approx(np.sqrt(0.25 * 0.75 / 1000), rel=0.15)


def test_every_fit_matches_the_sample_mean_and_covariance():
    """After every M-step a mixture's mean and covariance are the sample mean and the maximum-
    likelihood covariance plus reg_covar: the identity behind expected_total_variance."""
    x = datasets(seed=4, n_chains=6)
    for n_components in (1, 2, 3):
        model = GaussianMixtureModel(n_components, reg_covar=1e-3).fit(x, rng=0)
        mean, cov = mixture_moments(model.weights_, model.means_, model.covariances_)
        centred = x - x.mean(axis=1, keepdims=True)
        np.testing.assert_allclose(mean, x.mean(axis=1), atol=1e-10)
        np.testing.assert_allclose(cov, np.einsum("bmi,bmj->bij", centred, centred) / x.shape[1] + 1e-3 * np.eye(2),
                                   atol=1e-10)


# --- determinism -----------------------------------------------------------------------------------

def fitted_arrays(model):
    return [model.weights_, model.means_, model.covariances_, model.n_iter_, model.lower_bound_]


def test_fit_is_seeded_and_independent_of_threads_and_of_the_other_chains():
    x = datasets(seed=5, n_chains=40, n_samples=300)
    one = GaussianMixtureModel(2, n_threads=1).fit(x, rng=11)
    again = GaussianMixtureModel(2, n_threads=1).fit(x, rng=np.random.default_rng(11))
    two = GaussianMixtureModel(2, n_threads=2).fit(x, rng=11)
    four = GaussianMixtureModel(2, n_threads=4).fit(x, rng=11)
    for a, b, c, e in zip(fitted_arrays(one), fitted_arrays(again), fitted_arrays(two), fitted_arrays(four)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(a, e)
    other = x.copy()
    other[10:] = datasets(seed=6, n_chains=30, n_samples=300)
    mixed = GaussianMixtureModel(2, n_threads=1).fit(other, rng=11)
    for a, b in zip(fitted_arrays(one), fitted_arrays(mixed)):
        np.testing.assert_array_equal(a[:10], b[:10])
    layout = GaussianMixtureModel(2, n_threads=1).fit(np.ascontiguousarray(x.transpose(0, 2, 1)).transpose(0, 2, 1),
                                                     rng=11)  # the same numbers in another memory layout
    for a, b in zip(fitted_arrays(one), fitted_arrays(layout)):
        np.testing.assert_array_equal(a, b)
    different = GaussianMixtureModel(2).fit(x, rng=12)
    assert not np.array_equal(one.means_, different.means_)


@pytest.mark.parametrize("n_components", [2, 3])
def test_small_array_arithmetic_on_floats_gives_the_same_bits(monkeypatch, n_components):
    x = datasets(seed=7, n_chains=12, n_samples=300)
    results = []
    for limit in (0, 8, 10**9):  # never, for the last few chains, always
        monkeypatch.setattr(gmm_module, "_SCALAR_MAX", limit)
        results.append(fitted_arrays(GaussianMixtureModel(n_components).fit(x, rng=3)))
    for arrays in results[1:]:
        for a, b in zip(results[0], arrays):
            np.testing.assert_array_equal(a, b)


def test_experiment_is_seeded(tmp_path):
    settings = dict(data="two_gaussians", n_components=2, sample_size=200, n_generations=15, n_chains=6)
    a = cl.run_experiment("gmm", "smoke", 0, store=cl.RunStore(tmp_path / "a"), **settings)
    b = cl.run_experiment("gmm", "smoke", 0, store=cl.RunStore(tmp_path / "b"), **settings)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    c = cl.run_experiment("gmm", "smoke", 1, store=cl.RunStore(tmp_path / "a"), **settings)
    assert not np.array_equal(a["l2_truth_q"], c["l2_truth_q"])


@pytest.mark.parametrize("policy", ["replace", "accumulate", "mix"])
def test_interrupted_run_resumes_identically(tmp_path, monkeypatch, policy):
    settings = dict(data="two_gaussians", n_components=2, sample_size=60, n_generations=12, n_chains=5,
                    policy=policy)
    straight = cl.run_experiment("gmm_policies", "smoke", 2, store=cl.RunStore(tmp_path / "b"), **settings)
    original = gmm_experiment.record_gmm
    calls = {"n": 0}

    def record_then_fail(*args):
        calls["n"] += 1
        if calls["n"] == 8:  # generation 7 is fitted but never saved
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(gmm_experiment, "record_gmm", record_then_fail)
    with pytest.raises(KeyboardInterrupt):
        cl.run_experiment("gmm_policies", "smoke", 2, store=cl.RunStore(tmp_path / "a"), **settings)
    assert len(list((tmp_path / "a").rglob("gen_*.npz"))) == 7
    monkeypatch.setattr(gmm_experiment, "record_gmm", original)
    resumed = cl.run_experiment("gmm_policies", "smoke", 2, store=cl.RunStore(tmp_path / "a"), **settings)
    for key in straight:
        np.testing.assert_array_equal(resumed[key], straight[key], err_msg=key)


# --- bad and degenerate input ----------------------------------------------------------------------

def test_log_likelihood_and_responsibilities_even_when_a_density_ratio_overflows():
    from scipy.special import logsumexp, softmax

    rng = np.random.default_rng(8)
    for n_components in (2, 3):
        log_prob = rng.normal(-5.0, 3.0, (4, n_components, 50))
        log_prob[1, -1, 7] = 2000.0  # exp(ratio) would overflow: that row takes the general path
        log_prob[2, 0, :] = -np.inf  # an empty component
        expected_bound = logsumexp(log_prob, axis=1).mean(axis=-1)
        expected = softmax(log_prob, axis=1)
        bound = gmm_module._log_normaliser_and_responsibilities(log_prob)
        np.testing.assert_allclose(bound, expected_bound, rtol=1e-12)
        np.testing.assert_allclose(log_prob, expected, rtol=1e-12, atol=1e-300)


def test_bad_input_is_refused_before_any_work():
    with pytest.raises(cl.SettingError, match="n_components must be >= 1"):
        GaussianMixtureModel(0)
    with pytest.raises(cl.SettingError, match="at least 3 samples per chain"):
        GaussianMixtureModel(3).fit(np.zeros((2, 2, 2)))
    bad = np.random.default_rng(0).standard_normal((3, 50, 2))
    bad[1, 7, 0] = np.nan
    with pytest.raises(cl.SettingError, match="non-finite.*chain 1"):
        GaussianMixtureModel(2).fit(bad)
    bad[1, 7, 0] = np.inf
    with pytest.raises(cl.SettingError, match="non-finite"):
        GaussianMixtureModel(2).fit(bad)
    with pytest.raises(cl.SettingError, match=r"shape \(n_chains, n_samples, n_features\)"):
        GaussianMixtureModel(2).fit(np.zeros((50, 2)))
    with pytest.raises(cl.SettingError, match="reg_covar"):
        GaussianMixtureModel(2, reg_covar=0.0)


def test_experiment_settings_are_checked():
    with pytest.raises(cl.SettingError, match=r"sample_size \(1\) must be >= n_components \(2\)"):
        cl.run_experiment("gmm", "smoke", 0, data="blob", n_components=2, sample_size=1)
    with pytest.raises(cl.SettingError, match="n_components must be >= 1"):
        cl.run_experiment("gmm", "smoke", 0, data="blob", n_components=0)
    with pytest.raises(cl.SettingError, match="unknown data"):
        cl.run_experiment("gmm", "smoke", 0, data="three_gaussians", n_components=2)


def test_collapsed_data_are_regularised_and_recorded():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 200, 2))
    x[0] = 0.25  # every point the same
    x[1] = rng.standard_normal((200, 1)) * [1.0, 2.0]  # all on a line
    x[2] = 1e-9 * x[2] + 3.0  # near-zero variance
    x[3, :100] = x[3, 0]  # half the points duplicated
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by zero or invalid-value warnings
        model = GaussianMixtureModel(2).fit(x, rng=0)
        samples = model.sample(500, rng)
        score = model.score(x)
    for array in (model.weights_, model.means_, model.covariances_, samples, score):
        assert np.isfinite(array).all()
    np.testing.assert_array_equal(model.regularised_, [True, True, True, True, False])
    alone = GaussianMixtureModel(2).fit(x[:1], rng=0)  # one chain: the small-batch arithmetic
    assert alone.regularised_[0] and np.isfinite(alone.covariances_).all()
    assert np.all(np.linalg.eigvalsh(model.covariances_) >= 1e-6 * (1 - 1e-9))
    np.testing.assert_allclose(model.means_[0], 0.25)


def test_regularised_fits_are_counted_per_generation():
    model = GaussianMixtureModel.from_params([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], [np.eye(2) * 1e-9] * 2, n_chains=4)
    fitted = GaussianMixtureModel(2).fit(model.sample(100, np.random.default_rng(0)), rng=0)
    record = gmm_experiment.record_gmm(fitted, fitted.get_state(), cl.distributions.gmm_truth(dict(data="blob")),
                                       keep_chains=2)
    assert record["regularised_fraction"] == 1.0
    assert record["chain_means"].shape == (2, 2, 2)


# --- theory --------------------------------------------------------------------------------------

def test_expected_total_variance_matches_simulation():
    """E tr C_g = rho^(g+1) tr C + d reg_covar (1 - rho^(g+1)) / (1 - rho), for any mixture."""
    settings = cl.experiments.validated_runs("gmm", "smoke", 0, dict(
        data="two_gaussians", n_components=2, sample_size=40, n_generations=30, n_chains=600, reg_covar=1e-3))[0][0]
    truth = cl.distributions.gmm_truth(settings)
    real = cl.distributions.gmm_real_data(settings, 0)

    def record(model, generation):
        _, cov = mixture_moments(model.weights_, model.means_, model.covariances_)
        return {"trace": np.trace(cov, axis1=-2, axis2=-1)}

    history = cl.run_generations(lambda: GaussianMixtureModel(2, reg_covar=1e-3), real, 30, 40, seed=0, record=record)
    total = np.trace(mixture_moments(truth["weights"], truth["means"], truth["covariances"])[1])
    expected = cl.theory.expected_total_variance(total, history["sample_size"], 1e-3)
    mean = history["trace"].mean(axis=1)
    error = history["trace"].std(axis=1) / np.sqrt(600)
    assert np.all(np.abs(mean - expected) < 4 * error)
    assert expected[-1] < 0.5 * expected[0]  # the shrinking is real, not within noise


def test_single_gaussian_fit_is_the_moment_matched_gaussian_with_unlimited_data():
    settings = dict(data="two_gaussians", separation=3.0, component_std=0.5)
    truth = cl.distributions.gmm_truth(settings)
    best = cl.theory.moment_matched_gaussian(truth["weights"], truth["means"], truth["covariances"])
    np.testing.assert_allclose(best["covariances"][0], np.diag([0.25 + 2.25, 0.25]))
    floor = l2_squared_gmm(best["weights"], best["means"], best["covariances"], truth["weights"], truth["means"],
                           truth["covariances"])
    x = GaussianMixtureModel.from_params(truth["weights"], truth["means"], truth["covariances"], 4).sample(
        200_000, np.random.default_rng(0))
    fit = GaussianMixtureModel(1).fit(x, rng=0)
    errors = l2_squared_gmm(fit.weights_, fit.means_, fit.covariances_, truth["weights"], truth["means"],
                            truth["covariances"])
    np.testing.assert_allclose(errors, floor, rtol=0.02)
    assert floor > 0.05  # an error no amount of data removes


def test_true_total_variance_and_expressivity_error_match_direct_computations():
    two = cl.distributions.gmm_truth(dict(data="two_gaussians", separation=3.0, component_std=0.5))
    blob = cl.distributions.gmm_truth(dict(data="blob"))
    # tr C = within-component variance (2 sigma^2) + between-component variance along the axis ((s/2)^2)
    assert cl.metrics.mixture_total_variance(**two) == pytest.approx(2 * 0.5**2 + 1.5**2, rel=1e-12)
    assert cl.metrics.mixture_total_variance(**blob) == pytest.approx(2.0, rel=1e-12)
    # the floor against a direct numerical integral of (p - q)^2 over the plane
    x, y = np.meshgrid(np.linspace(-7, 7, 1401), np.linspace(-5, 5, 1001), indexing="ij")

    def density(mean, var):
        return np.exp(-((x - mean[0]) ** 2 / var[0] + (y - mean[1]) ** 2 / var[1]) / 2) / (2 * np.pi * np.sqrt(var[0] * var[1]))

    p = 0.5 * density((-1.5, 0), (0.25, 0.25)) + 0.5 * density((1.5, 0), (0.25, 0.25))
    q = density((0, 0), (0.25 + 1.5**2, 0.25))
    integral = ((p - q) ** 2).sum() * (14 / 1400) * (10 / 1000)
    assert cl.theory.expressivity_error(**two) == pytest.approx(integral, rel=1e-4)
    assert cl.theory.expressivity_error(**blob) == pytest.approx(0.0, abs=1e-15)


def test_component_spreads_and_kl_estimate():
    covariances = np.array([[np.diag([4.0, 4.0]), np.diag([1.0, 0.0])]])
    np.testing.assert_allclose(cl.metrics.component_spreads(covariances), [[np.sqrt(0.5), 2.0]])
    truth = GaussianMixtureModel.from_params([1.0], [[0.0, 0.0]], [np.eye(2)], n_chains=2)
    wider = GaussianMixtureModel.from_params([1.0], [[0.0, 0.0]], [4 * np.eye(2)], n_chains=2)
    points = truth.sample(200_000, np.random.default_rng(0))
    kl = cl.metrics.kl_estimate(truth.score(points), wider.score(points))
    exact = 2 * (0.5 * (1 / 4 - 1 - np.log(1 / 4)))  # two dimensions of KL(N(0, 1) || N(0, 4))
    np.testing.assert_allclose(kl, exact, rtol=0.01)
