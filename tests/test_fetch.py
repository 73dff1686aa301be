"""Verified downloads, tested against a local HTTP server on loopback."""

import os

import pytest

from collapse_lib.datasets import DataError, download_verified, sha256_of


def test_downloads_and_verifies(http_folder, tmp_path):
    base, root = http_folder
    (root / "file.bin").write_bytes(b"real data" * 1000)
    expected = sha256_of(b"real data" * 1000)
    path = download_verified([f"{base}/file.bin"], tmp_path / "cache" / "file.bin", expected)
    assert path.read_bytes() == b"real data" * 1000
    assert not list((tmp_path / "cache").glob(".*.part"))


def test_skips_a_corrupt_mirror_and_uses_the_next(http_folder, tmp_path):
    base, root = http_folder
    (root / "bad.bin").write_bytes(b"truncated")
    (root / "good.bin").write_bytes(b"whole file")
    path = download_verified([f"{base}/bad.bin", f"{base}/good.bin"], tmp_path / "c" / "f.bin", sha256_of(b"whole file"))
    assert path.read_bytes() == b"whole file"


def test_corrupt_download_never_enters_the_cache(http_folder, tmp_path):
    base, root = http_folder
    (root / "bad.bin").write_bytes(b"corrupt")
    destination = tmp_path / "c" / "f.bin"
    with pytest.raises(DataError, match=r"checksum .* does not match .* set COLLAPSE_DATA_DIR"):
        download_verified([f"{base}/bad.bin"], destination, sha256_of(b"the real thing"))
    assert not destination.exists()
    assert not list(destination.parent.glob("*"))


def test_unreachable_mirror_names_the_problem(tmp_path):
    with pytest.raises(DataError, match="could not fetch f.bin: http://127.0.0.1:9/f.bin"):
        download_verified(["http://127.0.0.1:9/f.bin"], tmp_path / "f.bin", "0" * 64, timeout=2)


def test_a_data_dir_that_is_not_a_folder_is_named(tmp_path, monkeypatch):
    from collapse_lib.datasets.fetch import data_dir

    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(tmp_path / "missing"))
    with pytest.raises(DataError, match=r"missing'? is not a folder .*does not exist"):
        data_dir()


def test_a_relative_data_dir_is_read_once_against_the_directory_it_was_given_in(tmp_path, monkeypatch):
    """A chapter's kernel runs in chapters/ but inherits $PWD, the shell's folder: both read one folder,
    and the absolute path is written back for every process started later."""
    from collapse_lib.datasets.fetch import data_dir

    (tmp_path / "data").mkdir()
    (tmp_path / "chapters").mkdir()
    monkeypatch.setenv("PWD", str(tmp_path))
    monkeypatch.chdir(tmp_path / "chapters")
    monkeypatch.setenv("COLLAPSE_DATA_DIR", "data")
    assert data_dir() == (tmp_path / "data").resolve()
    assert os.environ["COLLAPSE_DATA_DIR"] == str((tmp_path / "data").resolve())
    monkeypatch.setenv("COLLAPSE_DATA_DIR", "../nowhere")
    with pytest.raises(DataError, match="is not a folder"):
        data_dir()
