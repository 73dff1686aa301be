"""The generational loop: data policies build datasets of the promised sizes, from the right sources."""

import numpy as np
import pytest

import collapse_lib as cl
from collapse_lib.policies import subsample_dataset


class MarkerModel:
    """Generates points marked 1.0; its fit records how many points and how many real (0.0) ones it saw."""

    sample_axis = 0

    def fit(self, data, rng=None):
        data = np.asarray(data)
        self.n_seen_, self.n_real_ = len(data), int(np.sum(data == 0.0))
        self.n_distinct_ = len(np.unique(data))
        return self

    def sample(self, n, rng):
        return 1.0 + np.arange(n) * 1e-9 + rng.random() * 1e-3  # distinct generated points

    def get_state(self):
        return {"n_seen": np.asarray(self.n_seen_), "n_real": np.asarray(self.n_real_),
                "n_distinct": np.asarray(self.n_distinct_)}

    def set_state(self, params):
        self.n_seen_, self.n_real_ = int(params["n_seen"]), int(params["n_real"])
        self.n_distinct_ = int(params["n_distinct"])
        return self


def run_marker(policy, sizes, real_fraction=0.0, n_generations=5):
    real = np.zeros(sizes[0] if np.ndim(sizes) else sizes)
    return cl.run_generations(MarkerModel, real, n_generations, sizes, policy, real_fraction=real_fraction,
                              real_sampler=lambda n, rng: np.zeros(n), seed=3)


def test_replace_uses_only_fresh_generated_data():
    sizes = [10, 20, 30, 40, 50, 60]
    h = run_marker("replace", sizes)
    np.testing.assert_array_equal(h["n_seen"], sizes)
    np.testing.assert_array_equal(h["n_real"], [10, 0, 0, 0, 0, 0])


def test_accumulate_keeps_everything():
    sizes = [10, 20, 30, 40, 50, 60]
    h = run_marker("accumulate", sizes)
    np.testing.assert_array_equal(h["n_seen"], np.cumsum(sizes))
    np.testing.assert_array_equal(h["n_real"], 10)  # the real data stay in the pool
    np.testing.assert_array_equal(h["n_distinct"], np.cumsum(sizes) - 10 + 1)


def test_accumulate_subsample_costs_the_same_each_generation():
    h = run_marker("accumulate-subsample", 25, n_generations=8)
    np.testing.assert_array_equal(h["n_seen"], 25)
    assert np.all(h["n_distinct"][1:] > 1)  # drawn from a pool that mixes generations


@pytest.mark.parametrize("fraction, sizes, expected_real", [(0.1, 100, 10), (0.25, 30, 8), (1.0, 40, 40), (0.0, 40, 0)])
def test_mix_draws_the_promised_fresh_real_count(fraction, sizes, expected_real):
    h = run_marker("mix", sizes, real_fraction=fraction)
    np.testing.assert_array_equal(h["n_seen"], sizes)
    np.testing.assert_array_equal(h["n_real"][1:], expected_real)


def test_batched_subsample_is_without_replacement_per_chain():
    rng = np.random.default_rng(0)
    pool = np.tile(np.arange(50.0), (4, 1))
    picked = subsample_dataset(pool, 20, rng, sample_axis=1)
    assert picked.shape == (4, 20)
    for row in picked:
        assert len(np.unique(row)) == 20
    assert not np.array_equal(picked[0], picked[1])


def test_sufficient_statistics_merge_equals_pooled_samples():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 7)), rng.normal(3.0, 2.0, size=(3, 11))
    merged = cl.GaussianStats.from_samples(a).merge(cl.GaussianStats.from_samples(b))
    direct = cl.GaussianStats.from_samples(np.concatenate([a, b], axis=1))
    assert merged.count == 18
    np.testing.assert_allclose(merged.mean, direct.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.m2, direct.m2, rtol=1e-12)


def test_accumulate_subsample_needs_samples_not_statistics():
    truth = cl.GaussianModel.from_params(0, 1, 2)
    real = truth.sample(10, cl.generation_rng(0, 0, "data"))
    with pytest.raises(cl.SettingError, match="use method='samples'"):
        cl.run_generations(lambda: cl.GaussianModel(1), real, 2, 10, "accumulate-subsample")


def test_same_seed_same_numbers_other_seed_other_numbers():
    a = cl.run_experiment("gaussian", "smoke", 7, sample_size=100, ddof=1, policy="accumulate")
    cl_store_b = cl.RunStore(__import__("tempfile").mkdtemp())
    b = cl.run_experiment("gaussian", "smoke", 7, store=cl_store_b, sample_size=100, ddof=1, policy="accumulate")
    c = cl.run_experiment("gaussian", "smoke", 8, store=cl_store_b, sample_size=100, ddof=1, policy="accumulate")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["chain_mu"], c["chain_mu"])


def test_finished_run_loads_from_store(isolated_run_store):
    first = cl.run_experiment("wright_fisher", "smoke", 0)
    result_files = list(isolated_run_store.rglob("result.npz"))
    assert len(result_files) == 1 and not list(isolated_run_store.rglob("gen_*.npz"))
    stamp = result_files[0].stat().st_mtime_ns
    again = cl.run_experiment("wright_fisher", "smoke", 0)
    assert result_files[0].stat().st_mtime_ns == stamp  # loaded, not recomputed
    np.testing.assert_array_equal(first["fixed_state"], again["fixed_state"])


def test_corrupt_stored_result_is_named_and_recomputed(isolated_run_store, capsys):
    first = cl.run_experiment("wright_fisher", "smoke", 0)
    path = next(isolated_run_store.rglob("result.npz"))
    path.write_bytes(path.read_bytes()[:100])
    again = cl.run_experiment("wright_fisher", "smoke", 0)
    assert f"{path} is damaged" in capsys.readouterr().err
    for key in first:
        np.testing.assert_array_equal(first[key], again[key], err_msg=key)
    assert cl.experiments.stored_run("wright_fisher", *cl.experiments.validated_runs(
        "wright_fisher", "smoke", 0, {})[0]).load_result().keys() == first.keys()


def test_batched_subsample_keeps_the_coordinates_of_a_point_together():
    rng = np.random.default_rng(2)
    points = np.arange(30.0)[None, :, None] * np.array([1.0, 10.0, 100.0])  # point j = (j, 10j, 100j)
    pool = np.repeat(points, 5, axis=0)  # (chains=5, N=30, d=3)
    picked = subsample_dataset(pool, 12, rng, sample_axis=1)
    assert picked.shape == (5, 12, 3)
    np.testing.assert_array_equal(picked[..., 1], 10 * picked[..., 0])
    np.testing.assert_array_equal(picked[..., 2], 100 * picked[..., 0])
    for chain in picked:
        assert len(np.unique(chain[:, 0])) == 12


class BatchedMarkerModel(MarkerModel):
    """Two chains at once (samples along axis 1), real points 0.0, generated ones > 0."""

    sample_axis = 1

    def fit(self, data, rng=None):
        self.n_seen_, self.n_real_, self.n_distinct_ = data.shape[1], int(np.sum(data[0] == 0.0)), 0
        return self

    def sample(self, n, rng):
        return 1.0 + rng.random((2, n))


@pytest.mark.parametrize("policy, fraction", [("replace", 0.0), ("accumulate", 0.0), ("accumulate-subsample", 0.0),
                                              ("mix", 0.3), ("fixed-real", 0.0)])
@pytest.mark.parametrize("model", [MarkerModel, BatchedMarkerModel])
def test_the_loop_reports_which_rows_are_real(policy, fraction, model):
    """``Generation.real_rows`` marks exactly the real points (0.0) of every training set, for every policy,
    for single and batched (per-chain subsampled) datasets."""
    seen = []

    def record(fitted, generation):
        data = np.asarray(generation.data)
        assert generation.real_rows.shape[-1] == data.shape[fitted.sample_axis]
        truth = data == 0.0
        np.testing.assert_array_equal(np.broadcast_to(generation.real_rows, truth.shape), truth,
                                      err_msg=f"generation {generation.index}")
        seen.append(int(np.sum(generation.real_rows)))
        return {"n": np.asarray(0)}

    real = np.zeros((2, 12)) if model is BatchedMarkerModel else np.zeros(12)
    cl.run_generations(model, real, 6, 20, policy, real_fraction=fraction,
                       real_sampler=lambda n, rng: np.zeros((2, n)) if model is BatchedMarkerModel else np.zeros(n),
                       seed=1, record=record)
    assert seen[0] == 12 and (policy == "replace") == (max(seen[1:]) == 0)


def test_the_reference_is_generation_zero_s_model_also_after_a_resume(tmp_path):
    """Every generation's record gets generation 0's fitted model, also when the run resumes from the store."""
    store = cl.RunStore(tmp_path)
    run = store.run("reference-test", {"x": 1}, 0)
    real = cl.GaussianModel.from_params(0.0, 1.0, 4, 1).sample(30, cl.generation_rng(0, 0, "data"))

    def record(model, generation):
        assert (generation.reference is model) == (generation.index == 0)
        if generation.index == 5 and not stopped:
            stopped.append(True)
            raise KeyboardInterrupt
        return {"reference_mu": generation.reference.mu_.copy()}

    stopped: list = []
    with pytest.raises(KeyboardInterrupt):
        cl.run_generations(lambda: cl.GaussianModel(1), real, 8, 30, seed=0, record=record, run=run)
    resumed = cl.run_generations(lambda: cl.GaussianModel(1), real, 8, 30, seed=0, record=record, run=run)
    straight = cl.run_generations(lambda: cl.GaussianModel(1), real, 8, 30, seed=0,
                                  record=lambda m, g: {"reference_mu": g.reference.mu_.copy()})
    np.testing.assert_array_equal(resumed["reference_mu"], straight["reference_mu"])
    np.testing.assert_array_equal(straight["reference_mu"], np.broadcast_to(straight["reference_mu"][0], (9, 4)))


def test_a_policy_carries_its_behaviour_and_is_refused_with_a_second_fraction():
    policy = cl.make_policy("mix", 0.25)
    assert policy.n_real(40) == 10 and cl.make_policy("replace").n_real(40) == 0
    with pytest.raises(cl.SettingError, match="given twice"):
        cl.run_generations(MarkerModel, np.zeros(5), 2, 5, policy, real_fraction=0.5, real_sampler=np.zeros)


def test_models_keep_scikit_learn_s_meaning_of_get_params():
    """get_params: the constructor's arguments; the fitted state travels by get_state/set_state."""
    model = cl.GaussianModel(ddof=0, method="samples")
    assert model.get_params() == {"ddof": 0, "method": "samples"}
    clone = type(model)(**model.get_params())
    assert clone.get_params() == model.get_params()
    model.fit(np.random.default_rng(0).normal(size=(3, 10)))
    assert set(model.get_state()) == {"mu", "sigma"} and model.get_params() == clone.get_params()
    with pytest.raises(cl.SettingError, match="no parameter 'sigma'"):
        model.set_params(sigma=2.0)
    with pytest.raises(cl.SettingError, match="ddof"):
        model.set_params(ddof=5)


def test_a_new_policy_is_one_small_class_the_loop_does_not_know():
    """A policy carries its own behaviour: a class the loop has never seen (here: half of D_0, drawn afresh each
    generation, plus generated points) runs through run_generations, which reports its real rows."""
    from dataclasses import dataclass
    from typing import ClassVar

    from collapse_lib.policies import DataPolicy, TrainingSet, merge_datasets

    @dataclass(frozen=True)
    class HalfOfTheRealSet(DataPolicy):
        name: ClassVar[str] = "half-of-the-real-set"

        def build(self, generated, fresh_real, pool, sample_size, rng, sample_axis=0):
            kept = pool.data[rng.choice(pool.n_real, pool.n_real // 2, replace=False)]
            data = merge_datasets(kept, generated)
            return TrainingSet(data, np.arange(len(data)) < len(kept))

    seen = []
    cl.run_generations(MarkerModel, np.zeros(10), 3, 10, HalfOfTheRealSet(), seed=0,
                       record=lambda m, g: seen.append((int(np.sum(g.real_rows)), m.n_real_)) or {"x": np.zeros(1)})
    assert seen == [(10, 10), (5, 5), (5, 5), (5, 5)]


def _variants():
    from collapse_lib.models.altered_gaussian import SelfCorrectingGaussian, TruncatedSamplingGaussian
    from collapse_lib.models.categorical import FilteredCategorical, TemperedCategorical
    from collapse_lib.models.gmm import PointMixture
    counts = np.array([[5, 3, 2], [1, 1, 8]])
    line = np.random.default_rng(1).normal(size=(2, 20))
    points = np.random.default_rng(2).normal(size=(2, 30, 2))
    return [(TemperedCategorical(temperature=0.5), counts),
            (FilteredCategorical([0.2, 0.5, 1.0], mode="verify"), counts),
            (TruncatedSamplingGaussian(truncation=1.5, ddof=0), line),
            (SelfCorrectingGaussian(correction=0.2, corrector_bias=0.5), line), (PointMixture(tol=1e-3), points)]


@pytest.mark.parametrize("index", range(5))
def test_the_experiments_model_variants_keep_the_conventions(index):
    """The variants the debate and prevention experiments refit (collapse_lib.models): get_params builds an
    unfitted copy, and get_state/set_state carry the fitted state to it (the same samples from the same seed)."""
    model, data = _variants()[index]
    clone = type(model)(**model.get_params())
    np.testing.assert_equal(clone.get_params(), model.get_params())
    model.fit(data, rng=np.random.default_rng(0))
    clone.set_state(model.get_state())
    drawn, again = (m.sample(7, np.random.default_rng(3)) for m in (model, clone))
    arrays = lambda x: x.to_arrays() if hasattr(x, "to_arrays") else {"samples": x}  # noqa: E731
    np.testing.assert_equal(arrays(drawn), arrays(again))
