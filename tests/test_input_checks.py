"""Metrics, closed forms and models check their inputs and say what is wrong (issue 13, item 6).

Every bad input raises a clear error: :class:`InputArrayError` (a ``SettingError``, so a
``ValueError``) for a bad array, ``SettingError`` for a bad setting, :class:`NotFittedError` for a
model used before ``fit``; the message names the argument. The batch metrics return one value per
chain, the same numbers as a loop over chains of the one-chain call.
"""

from types import SimpleNamespace

import numpy as np
import pytest

import collapse_lib as cl
from collapse_lib import metrics, theory
from collapse_lib.models import (CategoricalModel, GaussianMixtureModel, GaussianModel, LinearRegressionModel,
                                 MultivariateGaussianModel)
from collapse_lib.validation import InputArrayError, NotFittedError
from collapse_lib.models.linear_regression import FixedDesign
from collapse_lib.sufficient_stats import DesignLabels, GaussianStats, MultivariateGaussianStats, RegressionStats
from collapse_lib.validation import SettingError

I2, I3 = np.eye(2), np.eye(3)
NOT_PSD = np.diag([1.0, -1.0])
NOT_SYMMETRIC = np.array([[1.0, 0.5], [0.0, 1.0]])
W, M, C = [0.5, 0.5], [[-1.0, 0.0], [1.0, 0.0]], [I2, I2]  # a valid 2-component mixture in 2-D

# (label, call, error type, text the message must contain: the argument's name)
METRIC_CASES = [
    ("w2 mean (2,) vs cov (3, 3)", lambda: metrics.w2_squared_gaussian(np.zeros(2), I3, np.zeros(2), I2),
     InputArrayError, "cov_a"),
    ("w2 non-PSD cov_a", lambda: metrics.w2_squared_gaussian(np.zeros(2), NOT_PSD, np.zeros(2), I2),
     InputArrayError, "cov_a"),
    ("w2 non-PSD cov_b", lambda: metrics.w2_squared_gaussian(np.zeros(2), I2, np.zeros(2), NOT_PSD),
     InputArrayError, "cov_b"),
    ("w2 non-symmetric cov_b", lambda: metrics.w2_squared_gaussian(np.zeros(2), I2, np.zeros(2), NOT_SYMMETRIC),
     InputArrayError, "cov_b"),
    ("w2 NaN mean", lambda: metrics.w2_squared_gaussian([np.nan, 0.0], I2, np.zeros(2), I2), InputArrayError,
     "mean_a"),
    ("w2 means of different d", lambda: metrics.w2_squared_gaussian(np.zeros(2), I2, np.zeros(3), I3),
     InputArrayError, "mean_b"),
    ("w2 batches that do not broadcast",
     lambda: metrics.w2_squared_gaussian(np.zeros((3, 2)), np.tile(I2, (3, 1, 1)), np.zeros((4, 2)), I2),
     InputArrayError, "mean_b"),
    ("w2 scalar mean", lambda: metrics.w2_squared_gaussian(0.0, I2, np.zeros(2), I2), InputArrayError, "mean_a"),
    ("w2 text", lambda: metrics.w2_squared_gaussian("a", I2, np.zeros(2), I2), InputArrayError, "mean_a"),
    ("w2-to mean vs cov d", lambda: metrics.w2_squared_to_gaussian(np.zeros((4, 2)), np.tile(I3, (4, 1, 1)),
                                                                   np.zeros(2), I2), InputArrayError, "cov"),
    ("w2-to non-PSD cov", lambda: metrics.w2_squared_to_gaussian(np.zeros((2, 2)), np.stack([I2, NOT_PSD]),
                                                                 np.zeros(2), I2), InputArrayError, "cov"),
    ("w2-to non-PSD cov, singular truth",
     lambda: metrics.w2_squared_to_gaussian(np.zeros((2, 2)), np.stack([I2, NOT_PSD]), np.zeros(2),
                                            np.diag([1.0, 0.0])), InputArrayError, "cov"),
    ("w2-to non-PSD true_cov", lambda: metrics.w2_squared_to_gaussian(np.zeros((1, 2)), I2[None], np.zeros(2),
                                                                      NOT_PSD), InputArrayError, "true_cov"),
    ("w2-to true_mean of wrong d", lambda: metrics.w2_squared_to_gaussian(np.zeros((1, 2)), I2[None], np.zeros(3),
                                                                          I2), InputArrayError, "true_"),
    ("w2-to chains disagree", lambda: metrics.w2_squared_to_gaussian(np.zeros((3, 2)), np.tile(I2, (4, 1, 1)),
                                                                     np.zeros(2), I2), InputArrayError, "cov"),
    ("w2 1-D negative sigma", lambda: metrics.w2_squared_gaussian_1d(0.0, -1.0, 0.0, 1.0), InputArrayError,
     "sigma_a"),
    ("w2 1-D NaN mu", lambda: metrics.w2_squared_gaussian_1d(0.0, 1.0, np.nan, 1.0), InputArrayError, "mu_b"),
    ("w2 1-D shapes", lambda: metrics.w2_squared_gaussian_1d(np.zeros(3), np.ones(4), 0.0, 1.0), InputArrayError,
     "sigma_a"),
    ("heterozygosity of counts [2, 3]", lambda: metrics.heterozygosity([2, 3]), InputArrayError, "probabilities"),
    ("heterozygosity negative", lambda: metrics.heterozygosity([1.5, -0.5]), InputArrayError, "probabilities"),
    ("heterozygosity scalar", lambda: metrics.heterozygosity(1.0), InputArrayError, "probabilities"),
    ("class_entropy negative count", lambda: metrics.class_entropy([-1, 2]), InputArrayError, "counts"),
    ("class_entropy empty row", lambda: metrics.class_entropy([[1, 2], [0, 0]]), InputArrayError, "counts"),
    ("class_entropy inf", lambda: metrics.class_entropy([np.inf, 2]), InputArrayError, "counts"),
    ("fixed_state not summing to 1", lambda: metrics.fixed_state([[0.5, 0.2]]), InputArrayError, "probabilities"),
    ("first_true scalar", lambda: metrics.first_true(True), InputArrayError, "flags"),
    ("first_true axis", lambda: metrics.first_true(np.zeros((2, 3), bool), axis=2), InputArrayError, "axis"),
    ("chain_quantiles no chains", lambda: metrics.chain_quantiles(np.zeros((3, 0))), InputArrayError, "values"),
    ("chain_quantiles level 5", lambda: metrics.chain_quantiles(np.ones(3), [0.5, 5]), InputArrayError,
     "quantiles"),
    ("binomial_interval zero trials", lambda: metrics.binomial_interval(0, 0), InputArrayError, "trials"),
    ("binomial_interval k > n", lambda: metrics.binomial_interval(5, 3), InputArrayError, "successes"),
    ("binomial_interval negative k", lambda: metrics.binomial_interval(-1, 3), InputArrayError, "successes"),
    ("binomial_interval level", lambda: metrics.binomial_interval(1, 3, level=1.5), InputArrayError, "level"),
    ("absorption_times bad states", lambda: metrics.absorption_times([[-2, 0]]), InputArrayError, "fixed_state"),
    ("mean_and_se one value", lambda: metrics.mean_and_standard_error([1.0]), InputArrayError, "values"),
    ("mean_and_se NaN", lambda: metrics.mean_and_standard_error([1.0, np.nan]), InputArrayError, "values"),
    ("overlaps non-PSD", lambda: metrics.gaussian_overlaps(M, [I2, NOT_PSD], M, C), InputArrayError,
     "covariances_a"),
    ("overlaps K disagrees", lambda: metrics.gaussian_overlaps(M, [I2], M, C), InputArrayError, "covariances_a"),
    ("overlaps d disagrees", lambda: metrics.gaussian_overlaps(M, C, [[0.0, 0.0, 0.0]], [I3]), InputArrayError,
     "means_b"),
    ("overlaps singular sum", lambda: metrics.gaussian_overlaps([[0.0, 0.0]], [np.diag([1.0, 0.0])], [[0.0, 0.0]],
                                                                [np.diag([1.0, 0.0])]), InputArrayError,
     "covariances_a"),
    ("l2 weights not summing to 1", lambda: metrics.l2_squared_gmm([0.5, 0.6], M, C, W, M, C), InputArrayError,
     "weights_a"),
    ("l2 negative weight", lambda: metrics.l2_squared_gmm(W, M, C, [1.5, -0.5], M, C), InputArrayError,
     "weights_b"),
    ("l2 weights vs means K", lambda: metrics.l2_squared_gmm([1.0], M, C, W, M, C), InputArrayError, "weights_a"),
    ("l2 non-PSD", lambda: metrics.l2_squared_gmm(W, M, [I2, NOT_PSD], W, M, C), InputArrayError,
     "covariances_a"),
]

THEORY_CASES = [
    ("chi factor k = 0", lambda: theory.chi_mean_factor([0, 3]), InputArrayError, "k"),
    ("variance negative sigma", lambda: theory.expected_variance(-1.0, [10, 10]), InputArrayError, "sigma"),
    ("variance M = 1, ddof = 1", lambda: theory.expected_variance(1.0, [1, 10]), InputArrayError, "sample_sizes"),
    ("variance fractional M", lambda: theory.expected_variance(1.0, [10.5, 10]), InputArrayError, "sample_sizes"),
    ("variance 2-D sizes", lambda: theory.expected_variance(1.0, [[10, 10]]), InputArrayError, "sample_sizes"),
    ("variance ddof 2", lambda: theory.expected_variance(1.0, [10, 10], ddof=2), SettingError, "ddof"),
    ("sigma M = 1 with ddof 0", lambda: theory.expected_sigma(1.0, [1, 10], ddof=0), InputArrayError,
     "sample_sizes"),
    ("mean error NaN sigma", lambda: theory.expected_mean_sq_error(np.nan, [10]), InputArrayError, "sigma"),
    ("w2 M = 1", lambda: theory.expected_w2_squared(1.0, [1, 10]), InputArrayError, "sample_sizes"),
    ("first order M = 0", lambda: theory.w2_squared_first_order(1.0, [0, 10]), InputArrayError, "sample_sizes"),
    ("marginal ddof -1", lambda: theory.marginal_variance(1.0, [10], ddof=-1), SettingError, "ddof"),
    ("log variance sigma 0", lambda: theory.log_variance_moments(0.0, [10]), InputArrayError, "sigma"),
    ("sd of variance M = 0", lambda: theory.sd_of_variance(1.0, [0]), InputArrayError, "sample_sizes"),
    ("heterozygosity q not summing to 1", lambda: theory.expected_heterozygosity([0.5, 0.6], 10, 3),
     InputArrayError, "probabilities"),
    ("heterozygosity M = 0", lambda: theory.expected_heterozygosity([0.5, 0.5], 0, 3), SettingError,
     "sample_size"),
    ("heterozygosity negative steps", lambda: theory.expected_heterozygosity([0.5, 0.5], 10, -1), InputArrayError,
     "steps"),
    ("loss one step p > 1", lambda: theory.loss_probability_one_step(1.5, 10), InputArrayError, "probability"),
    ("absorption time q = 0", lambda: theory.mean_absorption_time_two_states(0.0, 10), InputArrayError, "q"),
    ("absorption time M = 0", lambda: theory.mean_absorption_time_two_states(0.5, 0), SettingError, "sample_size"),
    ("wright-fisher steps 0", lambda: theory.wright_fisher_count_distribution([0.5, 0.5], 10, [0, 1]),
     InputArrayError, "steps"),
    ("wright-fisher negative q", lambda: theory.wright_fisher_count_distribution([1.5, -0.5], 10, 1),
     InputArrayError, "probabilities"),
    ("presence M = 0", lambda: theory.state_presence_probability([0.5, 0.5], 0, 1), SettingError, "sample_size"),
    ("absorption prob 2-D q", lambda: theory.absorption_probability([[0.5, 0.5]], 10, 1), InputArrayError,
     "probabilities"),
    ("exact absorption M = 1", lambda: theory.mean_absorption_time_two_states_exact(0.5, 1), SettingError,
     "sample_size"),
    ("exact absorption q > 1", lambda: theory.mean_absorption_time_two_states_exact(2.0, 10), InputArrayError,
     "q"),
    ("regression T <= d + 1", lambda: theory.regression_first_fit_error(1.0, 5, 6), SettingError, "design_size"),
    ("regression dim 0", lambda: theory.regression_first_fit_error(1.0, 0, 6), SettingError, "dim"),
    ("regression policy", lambda: theory.regression_test_error(1.0, 2, 10, [10, 10], "mix"), SettingError,
     "policies"),
    ("mvg errors trace < 0", lambda: theory.multivariate_gaussian_errors(-1.0, [10, 10]), SettingError,
     "trace_cov"),
    ("mvg errors M = 1", lambda: theory.multivariate_gaussian_errors(1.0, [1, 10]), InputArrayError,
     "sample_sizes"),
    ("mvg errors subsample", lambda: theory.multivariate_gaussian_errors(1.0, [10, 10], "accumulate-subsample"),
     SettingError, "accumulate-subsample"),
    ("log det M <= dim", lambda: theory.log_det_moments(3, [3, 10]), InputArrayError, "sample_sizes"),
    ("log det dim 0", lambda: theory.log_det_moments(0, [3, 10]), SettingError, "dim"),
    ("mix limit M = 0", lambda: theory.multivariate_gaussian_mix_limit(1.0, 0, 0.5), SettingError, "sample_size"),
    ("subset mass > 1", lambda: theory.subset_mass_variance(1.5, [10, 10]), InputArrayError, "mass"),
    ("loss cdf count > M", lambda: theory.loss_time_cdf(10, [11], 5), InputArrayError, "counts"),
    ("loss cdf horizon < 0", lambda: theory.loss_time_cdf(10, [1], -1), SettingError, "horizon"),
    ("loss given loss count = M", lambda: theory.mean_loss_time_given_loss(10, [10]), InputArrayError, "counts"),
    ("loss diffusion count 0", lambda: theory.mean_loss_time_diffusion(10, [0]), InputArrayError, "counts"),
]


def _design():
    return FixedDesign.gaussian(2, 6, 3, np.random.default_rng(0), keep_rows=True)


def _lm(vocab=10):
    from collapse_lib.models.language_model import FineTuning, LanguageModel

    backbone = SimpleNamespace(config=SimpleNamespace(vocab_size=vocab), device="cpu")
    return LanguageModel(backbone, np.zeros((4, 8), np.int32), np.zeros((2, 8), np.int32), FineTuning())


def _vae():
    from collapse_lib.models.vae import VAE

    return VAE("mlp", hidden=8, latent_dim=2, epochs=1)


def _classifier():
    from collapse_lib.models.digit_classifier import DigitClassifier

    return DigitClassifier(hidden=8, epochs=1)


RNG = np.random.default_rng(0)
MODEL_CASES = [
    # sampling (or reading parameters) before fit
    ("categorical sample before fit", lambda: CategoricalModel().sample(5, RNG), NotFittedError, "fit"),
    ("categorical get_state before fit", lambda: CategoricalModel().get_state(), NotFittedError, "fit"),
    ("gaussian sample before fit", lambda: GaussianModel().sample(5, RNG), NotFittedError, "fit"),
    ("mvg sample before fit", lambda: MultivariateGaussianModel().sample(5, RNG), NotFittedError, "fit"),
    ("gmm sample before fit", lambda: GaussianMixtureModel().sample(5, RNG), NotFittedError, "fit"),
    ("gmm score before fit", lambda: GaussianMixtureModel().score(np.zeros((1, 5, 2))), NotFittedError, "fit"),
    ("regression sample before fit", lambda: LinearRegressionModel(_design(), 1.0).sample(6, RNG), NotFittedError,
     "fit"),
    ("vae sample before fit", lambda: _vae().sample(5, RNG), NotFittedError, "fit"),
    ("language model sample before fit", lambda: _lm().sample(2, RNG), NotFittedError, "fit"),
    ("classifier predict before fit", lambda: _classifier().predict(np.zeros((1, 28, 28))), NotFittedError, "fit"),
    # bad data to fit
    ("categorical negative counts", lambda: CategoricalModel().fit(np.array([[3, -1], [1, 1]])), InputArrayError,
     "counts"),
    ("categorical 1-D counts", lambda: CategoricalModel().fit(np.array([3, 1])), InputArrayError, "counts"),
    ("categorical empty chain", lambda: CategoricalModel().fit(np.array([[3, 1], [0, 0]])), InputArrayError,
     "counts"),
    ("categorical NaN counts", lambda: CategoricalModel().fit(np.array([[3, np.nan]])), InputArrayError, "counts"),
    ("categorical probabilities", lambda: CategoricalModel.from_probabilities([0.5, 0.6]), InputArrayError,
     "probabilities"),
    ("categorical set_state", lambda: CategoricalModel().set_state({"probabilities": [[2.0, -1.0]]}),
     InputArrayError, "probabilities"),
    ("gaussian NaN samples", lambda: GaussianModel().fit(np.array([[1.0, np.nan, 2.0]])), InputArrayError, "data"),
    ("gaussian inf samples", lambda: GaussianModel().fit(np.array([[1.0, np.inf, 2.0]])), InputArrayError, "data"),
    ("gaussian negative m2", lambda: GaussianModel().fit(GaussianStats(5, np.zeros(2), np.array([1.0, -1.0]))),
     InputArrayError, "m2"),
    ("gaussian from_params sigma < 0", lambda: GaussianModel.from_params(0.0, -1.0, 3), InputArrayError, "sigma"),
    ("gaussian from_params shape", lambda: GaussianModel.from_params(np.zeros(2), 1.0, 3), InputArrayError, "mu"),
    ("mvg NaN samples", lambda: MultivariateGaussianModel().fit(np.full((1, 5, 2), np.nan)), InputArrayError,
     "data"),
    ("mvg stats mean vs scatter d",
     lambda: MultivariateGaussianModel().fit(MultivariateGaussianStats(5, np.zeros((2, 2)), np.tile(I3, (2, 1, 1)))),
     InputArrayError, "data"),
    ("mvg from_params mean (2,) vs cov (3, 3)", lambda: MultivariateGaussianModel.from_params(np.zeros(2), I3),
     InputArrayError, "cov"),
    ("mvg from_params non-PSD", lambda: MultivariateGaussianModel.from_params(np.zeros(2), NOT_PSD),
     InputArrayError, "cov"),
    ("mvg sample of a non-PSD covariance",
     lambda: MultivariateGaussianModel().set_state({"mean": np.zeros((1, 2)), "cov": NOT_PSD[None]}).sample(5, RNG),
     InputArrayError, "cov"),
    ("gmm NaN data", lambda: GaussianMixtureModel().fit(np.full((1, 5, 2), np.nan)), SettingError, "data"),
    ("gmm from_params weights", lambda: GaussianMixtureModel.from_params([0.5, 0.6], M, C), InputArrayError,
     "weights"),
    ("gmm from_params non-PSD", lambda: GaussianMixtureModel.from_params(W, M, [I2, NOT_PSD]), InputArrayError,
     "covariances"),
    ("gmm sample of a non-PD covariance",
     lambda: GaussianMixtureModel().set_state({"weights": [W], "means": [M], "covariances": [[I2, NOT_PSD]]})
     .sample(5, RNG), InputArrayError, "covariances"),
    ("regression stats of other chains",
     lambda: LinearRegressionModel(_design(), 1.0).fit(RegressionStats(6, np.tile(I3, (5, 1, 1)), np.zeros((5, 3)))),
     InputArrayError, "gram"),
    ("regression NaN moment",
     lambda: LinearRegressionModel(_design(), 1.0).fit(RegressionStats(6, np.tile(I3, (2, 1, 1)),
                                                                       np.full((2, 3), np.nan))),
     InputArrayError, "moment"),
    ("regression row index out of range",
     lambda: LinearRegressionModel(_design(), 1.0).fit(DesignLabels(np.full((2, 6), 9, np.int32), np.zeros((2, 6)))),
     InputArrayError, "rows"),
    ("regression rows vs labels",
     lambda: LinearRegressionModel(_design(), 1.0).fit(DesignLabels(np.zeros((2, 6), np.int32), np.zeros((2, 5)))),
     InputArrayError, "labels"),
    ("regression from_weights shape", lambda: LinearRegressionModel.from_weights(np.zeros(4), _design(), 1.0),
     InputArrayError, "weights"),
    ("vae images above 1", lambda: _vae().fit(np.full((4, 28, 28), 255.0)), InputArrayError, "data"),
    ("vae images of wrong shape", lambda: _vae().fit(np.zeros((4, 27, 27))), InputArrayError, "data"),
    ("language model float blocks", lambda: _lm().fit(np.zeros((3, 8))), InputArrayError, "data"),
    ("language model ids beyond vocabulary", lambda: _lm(vocab=10).fit(np.full((3, 8), 12)), InputArrayError,
     "data"),
    ("language model 1-D blocks", lambda: _lm().fit(np.zeros(8, np.int64)), InputArrayError, "data"),
    ("classifier labels 0..9", lambda: _classifier().fit(np.zeros((2, 784)), [3, 10]), InputArrayError, "labels"),
    ("classifier label count", lambda: _classifier().fit(np.zeros((2, 784)), [3]), InputArrayError, "labels"),
    ("classifier images above 1", lambda: _classifier().fit(np.full((2, 784), 2.0), [3, 4]), InputArrayError,
     "images"),
    # the loop's entry: a factory, not a model
    ("loop given a model instance", lambda: cl.run_generations(GaussianModel(), np.zeros((2, 5)), 2, 5),
     SettingError, "model_factory"),
    ("loop given a non-callable", lambda: cl.run_generations(3, np.zeros((2, 5)), 2, 5), SettingError,
     "model_factory"),
    ("loop factory returning one object", lambda: _same_object_loop(), SettingError, "model_factory"),
    ("loop factory returning no model", lambda: cl.run_generations(lambda: 3, np.zeros((2, 5)), 2, 5), SettingError,
     "model_factory"),
]


def _same_object_loop():
    model = GaussianModel()
    return cl.run_generations(lambda: model, np.random.default_rng(0).normal(size=(2, 5)), 2, 5)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN/inf data warn in NumPy before the check catches them
@pytest.mark.parametrize("label, call, error, name", METRIC_CASES + THEORY_CASES + MODEL_CASES,
                         ids=[case[0] for case in METRIC_CASES + THEORY_CASES + MODEL_CASES])
def test_bad_input_raises_a_clear_error_naming_the_argument(label, call, error, name):
    with pytest.raises(error) as raised:
        call()
    assert name in str(raised.value), f"{label}: the message does not name {name!r}: {raised.value}"
    assert isinstance(raised.value, ValueError)  # every check error is a ValueError (NotFittedError too)


def test_error_types_follow_the_conventions():
    assert issubclass(InputArrayError, SettingError) and issubclass(InputArrayError, ValueError)
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    assert not hasattr(GaussianModel(), "n_chains")  # unfitted: the property raises NotFittedError


# --------------------------------------------------------------------------- per-chain batch values

def _random_covariances(rng, n, d):
    a = rng.normal(size=(n, d, d))
    return a @ np.swapaxes(a, -1, -2) + 0.1 * np.eye(d)


def test_w2_of_ten_chains_is_one_value_per_chain_not_their_sum():
    means, covs = np.ones((10, 2)), np.tile(I2, (10, 1, 1))
    np.testing.assert_allclose(metrics.w2_squared_gaussian(means, covs, np.zeros(2), I2), np.full(10, 2.0))
    assert metrics.w2_squared_gaussian(np.ones(2), I2, np.zeros(2), I2) == pytest.approx(2.0)
    assert isinstance(metrics.w2_squared_gaussian(np.ones(2), I2, np.zeros(2), I2), float)


def test_batched_w2_equals_a_loop_of_the_one_chain_call():
    """means (n_chains, d) -> (n_chains,), against one Gaussian and against one Gaussian per chain."""
    rng = np.random.default_rng(1)
    n, d = 6, 3
    mean_a, cov_a = rng.normal(size=(n, d)), _random_covariances(rng, n, d)
    mean_b, cov_b = rng.normal(size=(n, d)), _random_covariances(rng, n, d)
    batched = metrics.w2_squared_gaussian(mean_a, cov_a, mean_b, cov_b)
    assert batched.shape == (n,)
    loop = [metrics.w2_squared_gaussian(mean_a[i], cov_a[i], mean_b[i], cov_b[i]) for i in range(n)]
    np.testing.assert_allclose(batched, loop, rtol=1e-12)
    # one reference for every chain: the same numbers as w2_squared_to_gaussian
    to_one = metrics.w2_squared_gaussian(mean_a, cov_a, mean_b[0], cov_b[0])
    loop = [metrics.w2_squared_gaussian(mean_a[i], cov_a[i], mean_b[0], cov_b[0]) for i in range(n)]
    np.testing.assert_allclose(to_one, loop, rtol=1e-12)
    np.testing.assert_allclose(metrics.w2_squared_to_gaussian(mean_a, cov_a, mean_b[0], cov_b[0]), loop, rtol=1e-9)


def test_w2_matches_the_scipy_sqrtm_form_it_replaced():
    from scipy import linalg

    rng = np.random.default_rng(2)
    for _ in range(5):
        mean_a, mean_b = rng.normal(size=3), rng.normal(size=3)
        cov_a, cov_b = _random_covariances(rng, 2, 3)
        root_b = linalg.sqrtm(cov_b)
        cross = linalg.sqrtm(root_b @ cov_a @ root_b)
        old = np.sum((mean_a - mean_b) ** 2) + max(np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(np.real(cross)), 0)
        assert metrics.w2_squared_gaussian(mean_a, cov_a, mean_b, cov_b) == pytest.approx(old, rel=1e-10)


def test_per_chain_metrics_equal_a_loop_over_chains():
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(4), size=7)
    p[2] = [0.0, 1.0, 0.0, 0.0]
    counts = rng.integers(0, 20, size=(7, 4)) + 1
    for function, batch in ((metrics.heterozygosity, p), (metrics.fixed_state, p), (metrics.class_entropy, counts)):
        out = function(batch)
        assert out.shape == (7,)
        np.testing.assert_array_equal(out, [function(row) for row in batch])
    mu, sigma = rng.normal(size=7), rng.random(7)
    out = metrics.w2_squared_gaussian_1d(mu, sigma, 0.5, 2.0)
    assert out.shape == (7,)
    np.testing.assert_allclose(out, [metrics.w2_squared_gaussian_1d(m, s, 0.5, 2.0) for m, s in zip(mu, sigma)])


def test_l2_and_overlaps_per_chain_equal_a_loop_over_chains():
    rng = np.random.default_rng(4)
    n = 5
    w = rng.dirichlet(np.ones(2), size=n)
    m = rng.normal(size=(n, 2, 2))
    c = _random_covariances(rng, n * 2, 2).reshape(n, 2, 2, 2)
    batched = metrics.l2_squared_gmm(w, m, c, W, M, C)
    assert batched.shape == (n,)
    np.testing.assert_allclose(batched, [metrics.l2_squared_gmm(w[i], m[i], c[i], W, M, C) for i in range(n)],
                               rtol=1e-12)
    overlaps = metrics.gaussian_overlaps(m, c, M, C)
    assert overlaps.shape == (n, 2, 2)
    np.testing.assert_allclose(overlaps, [metrics.gaussian_overlaps(m[i], c[i], M, C) for i in range(n)], rtol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # np.quantile interpolating next to -inf
def test_valid_edge_cases_still_pass():
    """Collapsed (singular) covariances, delta distributions and rounding-level asymmetry are allowed."""
    singular = np.zeros((2, 2))
    assert metrics.w2_squared_gaussian(np.zeros(2), singular, np.zeros(2), I2) == pytest.approx(2.0)
    assert metrics.w2_squared_to_gaussian(np.zeros((1, 2)), singular[None], np.zeros(2), I2)[0] == pytest.approx(2.0)
    almost = I2 + np.array([[0.0, 1e-14], [0.0, 0.0]])
    metrics.w2_squared_gaussian(np.zeros(2), almost, np.zeros(2), I2)
    assert metrics.heterozygosity([1.0, 0.0]) == 0.0
    assert metrics.fixed_state([0.0, 1.0]) == 1
    model = CategoricalModel().fit(np.array([[0, 5], [2, 3]]))
    np.testing.assert_allclose(model.probabilities_.sum(axis=1), 1.0)
    assert metrics.chain_quantiles(np.array([-np.inf, 0.0, 1.0])).shape == (5,)  # infinite values are allowed
