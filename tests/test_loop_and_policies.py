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

    def get_params(self):
        return {"n_seen": np.asarray(self.n_seen_), "n_real": np.asarray(self.n_real_),
                "n_distinct": np.asarray(self.n_distinct_)}

    def set_params(self, params):
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
