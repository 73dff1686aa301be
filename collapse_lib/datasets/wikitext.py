"""WikiText-2 (raw): the text of the paper's language-model experiment (Merity et al. 2016).

:func:`load_wikitext2` returns the three splits as text. It looks, in order (see
:mod:`collapse_lib.datasets.fetch`), in

1. ``$COLLAPSE_DATA_DIR/wikitext-2-raw/wiki.{train,valid,test}.raw`` (when the variable is set, the
   folder must hold at least the validation and test splits: a missing one is an error): each file present is
   checked against its published sha256. A copy without the training split (``shared/data``
   holds only validation and test) is used as it is: the model trains on the first 90% of the
   validation split, keeps its checkpoint by the last 10%, and is evaluated on the test split;
   the result says so in :attr:`TextSplits.notes`;
2. the cache (``$COLLAPSE_CACHE/wikitext-2-raw/``), whose files were verified when they entered it;
3. a download of ``wikitext-2-raw-v1.zip`` from its public mirrors, verified by the archive's
   sha256 and then each member's before any member is written (each one atomically) to the cache;
4. offline, with none of the above: the dataset descriptions that scikit-learn (a dependency of
   this library) ships in ``sklearn/datasets/descr/*.rst``, about 43 kB of real English prose, split
   80/10/10 by lines. Never synthetic text; the result says which text it is.

A corrupt file (wrong checksum) is rejected with a :class:`~collapse_lib.datasets.fetch.DataError`
that names it; nothing is ever half-written into the cache.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..store import atomic_write_bytes
from ..environment import cache_dir, offline
from .fetch import DataError, data_dir, download_verified, sha256_of

SPLITS = ("train", "valid", "test")
FOLDER = "wikitext-2-raw"


@dataclass(frozen=True)
class WikiTextSource:
    """Where WikiText-2 (raw) is downloaded from, and the checksums that pin it."""

    urls: tuple[str, ...]
    archive_name: str
    archive_sha256: str
    member_names: dict = field(default_factory=dict)    # split -> path inside the archive
    member_sha256: dict = field(default_factory=dict)   # split -> sha256 of the extracted file


#: The published archive (4,721,645 bytes) and its members, as listed in ``shared/data/README.md``.
OFFICIAL = WikiTextSource(
    urls=("https://wikitext.smerity.com/wikitext-2-raw-v1.zip",
          "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-raw-v1.zip"),
    archive_name="wikitext-2-raw-v1.zip",
    archive_sha256="ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11",
    member_names={s: f"{FOLDER}/wiki.{s}.raw" for s in SPLITS},
    member_sha256={
        "train": "6707892fa3788b5ab9ed78ab5ff37d9fe825f6011a2ad4fcd6a6d467f0e7da57",
        "valid": "4cd0f6876d07a413aa911261ff6d363c72d757d47f0fdd6015702014c89cb9c7",
        "test": "173c87a53759e0201f33e0ccf978e510c2042d7f2cb78229d9a50d79b9e7dd08",
    },
)

#: Fraction of the validation split that is trained on when the training split is absent.
VALID_AS_TRAIN_FRACTION = 0.9


@dataclass(frozen=True)
class TextSplits:
    """The text a language model is trained, selected and evaluated on.

    ``train`` is fine-tuned (and pretrained) on, ``valid`` selects the checkpoint, ``test`` is
    the held-out evaluation. ``source`` says where the text came from and ``notes`` how the
    splits were formed when that differs from the paper (always shown in the chapter).
    """

    train: str
    valid: str
    test: str
    source: str
    notes: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        """A short hash of the three texts (part of the key of anything trained on them)."""
        digest = hashlib.sha256()
        for text in (self.train, self.valid, self.test):
            digest.update(sha256_of(text.encode("utf-8")).encode())
        return digest.hexdigest()[:16]

    def describe(self) -> str:
        sizes = ", ".join(f"{name} {len(getattr(self, name)):,} characters" for name in SPLITS)
        return "\n".join([f"text: {self.source} ({sizes})", *self.notes])


def split_lines(text: str, fractions) -> list[str]:
    """Cut ``text`` at line boundaries into consecutive pieces of about ``fractions`` of its length."""
    lines = text.splitlines(keepends=True)
    total, pieces, start, cumulative = len(text), [], 0, 0.0
    lengths = [len(line) for line in lines]
    for fraction in fractions[:-1]:
        cumulative += fraction
        stop, size = start, sum(lengths[:start])
        while stop < len(lines) and size + lengths[stop] <= cumulative * total:
            size += lengths[stop]
            stop += 1
        pieces.append("".join(lines[start:stop]))
        start = stop
    pieces.append("".join(lines[start:]))
    return pieces


def _from_files(texts: dict, source: str) -> TextSplits:
    """Splits from the files found; without ``train``, train on most of ``valid`` and say so."""
    if "train" in texts:
        return TextSplits(texts["train"], texts["valid"], texts["test"], source)
    train, valid = split_lines(texts["valid"], [VALID_AS_TRAIN_FRACTION, 1 - VALID_AS_TRAIN_FRACTION])
    note = (f"WikiText-2's training split is not in {source}: the model trains on the first "
            f"{VALID_AS_TRAIN_FRACTION:.0%} of the validation split, keeps the checkpoint that is best on its "
            "last 10%, and is evaluated on the test split (the paper trains on the training split).")
    return TextSplits(train, valid, texts["test"], source, (note,))


def _read_verified(path: Path, sha256: str) -> str:
    data = path.read_bytes()
    digest = sha256_of(data)
    if digest != sha256:
        raise DataError(f"{path} is corrupt: its sha256 is {digest[:16]}..., expected {sha256[:16]}.... "
                        "Replace it with the published file or remove it.")
    return data.decode("utf-8")


def _read_folder(folder: Path, source: WikiTextSource) -> dict:
    """The verified texts of the splits present in ``folder`` (``valid`` and ``test`` are required)."""
    texts = {}
    for split in SPLITS:
        path = folder / f"wiki.{split}.raw"
        if path.exists():
            texts[split] = _read_verified(path, source.member_sha256[split])
    missing = [s for s in ("valid", "test") if s not in texts]
    if missing:
        raise DataError(f"{folder} lacks " + ", ".join(f"wiki.{s}.raw" for s in missing)
                        + "; WikiText-2 needs at least its validation and test splits there.")
    return texts


def _extract_verified(archive: Path, folder: Path, source: WikiTextSource) -> None:
    """Check every member of ``archive`` against its sha256, then write each one atomically."""
    members = {}
    try:
        with zipfile.ZipFile(archive) as zipped:
            for split in SPLITS:
                members[split] = zipped.read(source.member_names[split])
    except (zipfile.BadZipFile, KeyError) as error:
        raise DataError(f"{archive} is not the WikiText-2 archive ({error}); remove it.") from error
    for split, data in members.items():
        digest = sha256_of(data)
        if digest != source.member_sha256[split]:
            raise DataError(f"{source.member_names[split]} in {archive} is corrupt: sha256 {digest[:16]}..., "
                            f"expected {source.member_sha256[split][:16]}...; nothing was written.")
    for split, data in members.items():
        atomic_write_bytes(folder / f"wiki.{split}.raw", lambda handle, data=data: handle.write(data))


def _cached(folder: Path, source: WikiTextSource) -> dict | None:
    """All three splits from the cache if they are there and whole, else ``None``."""
    paths = {s: folder / f"wiki.{s}.raw" for s in SPLITS}
    if not all(p.exists() for p in paths.values()):
        return None
    return {s: _read_verified(p, source.member_sha256[s]) for s, p in paths.items()}


def fallback_text() -> TextSplits:
    """Real English prose shipped by scikit-learn: its dataset descriptions, split 80/10/10 by lines."""
    try:
        import sklearn
    except ImportError as error:  # scikit-learn is a dependency; this is only a clear message
        raise DataError("no WikiText-2 and no offline text: install scikit-learn or set COLLAPSE_DATA_DIR.") from error
    folder = Path(sklearn.__file__).parent / "datasets" / "descr"
    files = sorted(folder.glob("*.rst"))
    if not files:
        raise DataError(f"scikit-learn's dataset descriptions are missing from {folder}.")
    text = "".join(path.read_text(encoding="utf-8") for path in files)
    train, valid, test = split_lines(text, [0.8, 0.1, 0.1])
    note = (f"OFFLINE FALLBACK: WikiText-2 could not be read or downloaded, so this run uses the {len(files)} "
            f"dataset descriptions that scikit-learn {sklearn.__version__} ships ({folder}), "
            "real English text split 80/10/10 by lines, not WikiText-2. Set COLLAPSE_DATA_DIR to a "
            "folder with wikitext-2-raw/ for the real experiment.")
    return TextSplits(train, valid, test, f"scikit-learn {sklearn.__version__} dataset descriptions", (note,))


def load_wikitext2(source: WikiTextSource = OFFICIAL, *, download: bool = True, fallback: bool = True,
                   timeout: float = 30.0) -> TextSplits:
    """WikiText-2 (raw) as :class:`TextSplits`, from the first place that has it (see the module).

    ``download=False`` never touches the network; ``fallback=False`` raises
    :class:`~collapse_lib.datasets.fetch.DataError` instead of using the offline text.
    """
    directory = data_dir()
    if directory is not None:  # the user named this folder: what is missing there is an error, not a fallback
        if not (directory / FOLDER).is_dir():
            raise DataError(f"COLLAPSE_DATA_DIR={directory} has no {FOLDER}/ folder; put wiki.valid.raw and "
                            f"wiki.test.raw (and wiki.train.raw if you have it) in {directory / FOLDER}, or unset "
                            "COLLAPSE_DATA_DIR to use the cache, a download or the offline fallback.")
        return _from_files(_read_folder(directory / FOLDER, source), f"data directory {directory / FOLDER}")
    cached = cache_dir() / FOLDER
    texts = _cached(cached, source)
    if texts is not None:
        return _from_files(texts, f"cache {cached}")
    problem = "COLLAPSE_OFFLINE is set" if offline() else "downloads are switched off"
    if download and not offline():
        try:
            archive = download_verified(list(source.urls), cache_dir() / source.archive_name,
                                        source.archive_sha256, timeout=timeout)
            _extract_verified(archive, cached, source)
            return _from_files(_cached(cached, source), f"download of {source.archive_name} (cached in {cached})")
        except DataError as error:
            if not fallback:
                raise
            problem = str(error)
    if not fallback:
        raise DataError(f"WikiText-2 is not in COLLAPSE_DATA_DIR or the cache, and {problem}.")
    text = fallback_text()
    return TextSplits(text.train, text.valid, text.test, text.source, (*text.notes, f"(why: {problem})"))

