"""The WikiText-2 loader: data directory, cache, verified download on loopback, offline fallback."""

import io
import shutil
import zipfile
from pathlib import Path

import pytest
from helpers import serve_folder

from collapse_lib.datasets import DataError, sha256_of
from collapse_lib.datasets import wikitext as wt

SHARED = Path("/work/shared/data")
if not (SHARED / wt.FOLDER).is_dir():  # CI exports COLLAPSE_DATA_DIR; fall back to the sibling checkout
    SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / wt.FOLDER).is_dir(), reason="shared/data/wikitext-2-raw is absent")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No data directory, an empty cache, downloads allowed."""
    monkeypatch.delenv("COLLAPSE_DATA_DIR", raising=False)
    monkeypatch.delenv("COLLAPSE_OFFLINE", raising=False)
    monkeypatch.setenv("COLLAPSE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fixture_texts():
    """Three small real texts (pieces of scikit-learn's dataset descriptions) standing in for the splits."""
    text = wt.fallback_text()
    return {"train": text.train[:3000], "valid": text.valid[:1000], "test": text.test[:1000]}


def mirror(folder, texts, names):
    """Write an archive of ``texts`` into ``folder``; return a source pinned to its checksums."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for split, text in texts.items():
            zipped.writestr(names[split], text)
    (folder / "wt2.zip").write_bytes(buffer.getvalue())
    return buffer.getvalue()


def source_for(base, archive, texts, names):
    return wt.WikiTextSource(urls=(f"{base}/wt2.zip",), archive_name="wt2.zip", archive_sha256=sha256_of(archive),
                             member_names=names, member_sha256={s: sha256_of(t.encode()) for s, t in texts.items()})


NAMES = {s: f"wikitext-2-raw/wiki.{s}.raw" for s in wt.SPLITS}


@needs_shared
def test_shared_copy_trains_on_validation_and_says_so(monkeypatch):
    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(SHARED))
    text = wt.load_wikitext2(download=False, fallback=False)
    valid = (SHARED / wt.FOLDER / "wiki.valid.raw").read_text(encoding="utf-8")
    assert text.train + text.valid == valid
    assert 0.85 < len(text.train) / len(valid) <= 0.9
    assert text.test == (SHARED / wt.FOLDER / "wiki.test.raw").read_text(encoding="utf-8")
    assert "training split is not in" in text.describe() and "evaluated on the test split" in text.describe()
    assert text.train.startswith(" \n = Homarus gammarus = \n")


@needs_shared
def test_corrupt_file_in_the_data_directory_is_rejected(tmp_path, monkeypatch):
    folder = tmp_path / "data" / wt.FOLDER
    folder.mkdir(parents=True)
    for split in ("valid", "test"):
        shutil.copy(SHARED / wt.FOLDER / f"wiki.{split}.raw", folder)
    data = bytearray((folder / "wiki.test.raw").read_bytes())
    data[1000] ^= 1
    (folder / "wiki.test.raw").write_bytes(bytes(data))
    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DataError, match=r"wiki.test.raw is corrupt: its sha256 is .* expected 173c87a5"):
        wt.load_wikitext2(download=False, fallback=False)


def test_data_directory_without_the_test_split_is_an_error(tmp_path, monkeypatch):
    (tmp_path / wt.FOLDER).mkdir()
    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="lacks wiki.valid.raw, wiki.test.raw"):
        wt.load_wikitext2(download=False)


def test_download_on_loopback_is_verified_cached_and_reused(isolated, http_folder):
    base, folder = http_folder
    texts = fixture_texts()
    source = source_for(base, mirror(folder, texts, NAMES), texts, NAMES)
    text = wt.load_wikitext2(source)
    assert (text.train, text.valid, text.test) == (texts["train"], texts["valid"], texts["test"])
    assert text.notes == () and text.source.startswith("download of wt2.zip")
    for split in wt.SPLITS:
        assert (isolated / wt.FOLDER / f"wiki.{split}.raw").read_text(encoding="utf-8") == texts[split]
    (folder / "wt2.zip").unlink()  # the mirror is gone: the cache answers
    again = wt.load_wikitext2(source, download=False, fallback=False)
    assert again.train == texts["train"] and again.source.startswith("cache")


def test_corrupt_archive_never_enters_the_cache(isolated, http_folder):
    base, folder = http_folder
    texts = fixture_texts()
    archive = mirror(folder, texts, NAMES)
    source = source_for(base, archive, texts, NAMES)
    (folder / "wt2.zip").write_bytes(archive[:-100])  # truncated in transit
    with pytest.raises(DataError, match="checksum .* does not match"):
        wt.load_wikitext2(source, fallback=False)
    assert not isolated.exists() or not any(p.is_file() for p in isolated.rglob("*"))


def test_archive_with_a_corrupt_member_writes_nothing(isolated, http_folder):
    base, folder = http_folder
    texts = fixture_texts()
    bad = dict(texts, test=texts["test"].replace("e", "E", 1))  # the archive holds a changed test split
    archive = mirror(folder, bad, NAMES)
    source = wt.WikiTextSource(urls=(f"{base}/wt2.zip",), archive_name="wt2.zip", archive_sha256=sha256_of(archive),
                               member_names=NAMES, member_sha256={s: sha256_of(t.encode()) for s, t in texts.items()})
    with pytest.raises(DataError, match="wiki.test.raw in .* is corrupt: .* nothing was written"):
        wt.load_wikitext2(source, fallback=False)
    assert not (isolated / wt.FOLDER).exists() or not list((isolated / wt.FOLDER).iterdir())


def test_offline_falls_back_to_real_text_shipped_by_scikit_learn_and_says_so(isolated):
    text = wt.load_wikitext2(download=False)
    assert "OFFLINE FALLBACK" in text.describe() and "scikit-learn" in text.describe()
    assert "Iris plants dataset" in text.train + text.valid + text.test
    assert len(text.train) > 6 * len(text.test) > 0
    with pytest.raises(DataError, match="not in COLLAPSE_DATA_DIR or the cache"):
        wt.load_wikitext2(download=False, fallback=False)


def test_unreachable_mirror_falls_back(isolated, tmp_path):
    with serve_folder(tmp_path) as base:  # serves nothing under that name: 404
        source = wt.WikiTextSource(urls=(f"{base}/missing.zip",), archive_name="missing.zip",
                                   archive_sha256="0" * 64, member_names=NAMES, member_sha256={})
        text = wt.load_wikitext2(source)
    assert "OFFLINE FALLBACK" in text.describe() and "missing.zip" in text.describe()


def test_split_lines_cuts_at_line_boundaries():
    text = "".join(f"line {i}\n" for i in range(100))
    parts = wt.split_lines(text, [0.8, 0.1, 0.1])
    assert "".join(parts) == text
    assert all(p.endswith("\n") for p in parts)
    assert [len(p.splitlines()) for p in parts] == [80, 10, 10]
