"""Datasets: an IDX reader (gzip or raw) and the named sources the toolkit knows.

Every dataset comes back as :class:`Dataset`: ``x`` float64 in [0, 1], shape (n, pixels),
``y`` int64 labels, a train and a held-out part.

Named sources:

* ``digits``: scikit-learn's bundled 8x8 digits (1,797 images; ships with the package, so it is
  the embedded default), pooled to 4x4 by ``digits4``. Split: first 80 % train, rest held out.
* ``mnist``: an MNIST-format folder; by default the MNIST test set shipped in ``golden/data/mnist`` (a copy of ``../shared/data/mnist``)
  (first 8,000 train, last 2,000 held out). ``--data-dir`` points at any IDX folder.
* ``fashion-mnist``: Debian's ``dataset-fashion-mnist`` (60,000 / 10,000).
"""
from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .report import read_regular_file

__all__ = ["Dataset", "DataError", "read_idx", "load_idx_folder", "load_dataset", "SOURCES",
           "pool"]

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# the MNIST test set (CC BY-SA 3.0, see data/mnist/README.md) ships with the package
SHARED_MNIST = Path(__file__).resolve().parent / "data" / "mnist"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
MAX_IDX_BYTES = 1 << 30     # an IDX file's data, uncompressed (MNIST's train images: 47 MB)
N_CLASSES = 10              # the labels of every source are the digits / classes 0..9


class DataError(ValueError):
    """A data file or folder that cannot be used (the message says why)."""


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    shape: tuple
    n_classes: int = N_CLASSES
    note: str = ""              # how the parts were chosen, when it is not the files' own split

    @property
    def n_inputs(self) -> int:
        return int(self.x_train.shape[1])

    def subset(self, n_train=None, n_test=None) -> "Dataset":
        return Dataset(self.name, self.x_train[:n_train], self.y_train[:n_train],
                       self.x_test[:n_test], self.y_test[:n_test], self.shape, self.n_classes,
                       self.note)

    def describe(self) -> str:
        return (f"{self.name}: {len(self.y_train)} train / {len(self.y_test)} held out, "
                f"{self.n_inputs} inputs ({'x'.join(map(str, self.shape))})"
                + (f"; {self.note}" if self.note else ""))


def read_idx(path) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into an array, checking its header."""
    path = Path(path)
    raw = read_regular_file(path, MAX_IDX_BYTES, "IDX file", DataError)
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, path)
    if len(raw) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES or not 1 <= raw[3] <= 4:
        raise DataError(f"{path}: not an IDX file (magic {raw[:4].hex()})")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    need = math.prod(dims) * dtype.itemsize
    if need > MAX_IDX_BYTES:
        raise DataError(f"{path}: header says {dims} ({need} bytes of data), beyond the "
                        f"{MAX_IDX_BYTES} an IDX file may have")
    body = raw[4 + 4 * ndim:]
    if len(body) < need:
        raise DataError(f"{path}: truncated: header says {dims} ({need} bytes of data), "
                        f"file has {len(body)}")
    return np.frombuffer(body[:need], dtype=dtype).reshape(dims)


def _gunzip(raw: bytes, path) -> bytes:
    """gzip data, decompressed to at most MAX_IDX_BYTES (a larger stream is refused)."""
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(raw, MAX_IDX_BYTES + 1)
        if len(out) > MAX_IDX_BYTES:
            raise DataError(f"{path}: decompresses to more than {MAX_IDX_BYTES} bytes")
        if not d.eof:
            raise DataError(f"{path}: broken gzip stream (truncated)")
    except zlib.error as e:
        raise DataError(f"{path}: broken gzip stream ({e})") from None
    return out


def _find(folder: Path, stem: str, required: bool = True) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        p = folder / name
        if p.exists():
            return p
    if not required:
        return None
    raise DataError(f"{folder}: no {stem}[.gz]")


def _check_images(images: np.ndarray, where) -> np.ndarray:
    """Pixels as float64 in [0, 1]: every stored value must be a finite number in 0..255."""
    x = images.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise DataError(f"{where}: the images hold {int(np.sum(~np.isfinite(x)))} values that "
                        f"are not finite numbers")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise DataError(f"{where}: pixel values must be in 0..255, found {x.min():g} .. "
                        f"{x.max():g}")
    return x / 255.0


def _check_labels(labels: np.ndarray, where) -> np.ndarray:
    """Labels as int64: integers in 0..N_CLASSES-1."""
    if labels.dtype.kind not in "iu":
        raise DataError(f"{where}: labels must be integers, the file stores {labels.dtype}")
    y = labels.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= N_CLASSES):
        raise DataError(f"{where}: labels must be in 0..{N_CLASSES - 1}, found {y.min()} .. "
                        f"{y.max()}")
    return y


def load_idx_folder(folder, prefix: str):
    """Images (n, rows*cols) in [0, 1] and labels of ``{prefix}-images/labels-idx?-ubyte``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist")
    images = read_idx(_find(folder, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(folder, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3:
        raise DataError(f"{folder}: images must be 3-D (n, rows, cols), got {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{folder}: labels must be 1-D, got {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{folder}: {len(images)} images but {len(labels)} labels")
    if len(images) == 0 or images.shape[1] * images.shape[2] == 0:
        raise DataError(f"{folder}: no images in {prefix}-images ({images.shape})")
    x = _check_images(images.reshape(len(images), -1), folder / f"{prefix}-images")
    return x, _check_labels(labels, folder / f"{prefix}-labels"), images.shape[1:]


def pool(x: np.ndarray, shape, factor: int):
    """Average-pool flattened images by ``factor`` in both directions."""
    r, c = shape
    if r % factor or c % factor:
        raise DataError(f"cannot pool {r}x{c} images by {factor}")
    x = x.reshape(len(x), r // factor, factor, c // factor, factor).mean(axis=(2, 4))
    return x.reshape(len(x), -1), (r // factor, c // factor)


def _digits(factor=1) -> Dataset:
    from sklearn.datasets import load_digits
    d = load_digits()
    x = d.images.reshape(len(d.images), -1) / 16.0
    shape = (8, 8)
    if factor > 1:
        x, shape = pool(x, shape, factor)
    n = int(round(0.8 * len(x)))
    y = d.target.astype(np.int64)
    return Dataset("digits" if factor == 1 else f"digits{shape[0]}", x[:n], y[:n], x[n:], y[n:],
                   shape)


def _mnist(data_dir=None, pool_factor=1) -> Dataset:
    folder = Path(data_dir) if data_dir else SHARED_MNIST
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist")
    note = ""
    present = [_find(folder, f"train-{k}-idx{d}-ubyte", required=False)
               for k, d in (("images", 3), ("labels", 1))]
    if all(present):
        # the folder's own split; a damaged train file is an error, never a fallback
        x, y, shape = load_idx_folder(folder, "train")
        xt, yt, _ = load_idx_folder(folder, "t10k")
    elif any(present):
        raise DataError(f"{folder}: {present[0] or present[1]} has no "
                        f"{'labels' if present[0] else 'images'} file beside it")
    else:
        x, y, shape = load_idx_folder(folder, "t10k")
        if len(x) < 10:
            raise DataError(f"{folder}: only {len(x)} images")
        split = int(round(0.8 * len(x)))  # 8,000 / 2,000 for the MNIST test set
        x, y, xt, yt = x[:split], y[:split], x[split:], y[split:]
        if data_dir is not None:
            note = "no train-* files: the t10k files split 80 / 20"
    if pool_factor > 1:
        x, s2 = pool(x, shape, pool_factor)
        xt, _ = pool(xt, shape, pool_factor)
        shape = s2
    return Dataset("mnist" if data_dir is None else f"idx:{folder}", x, y, xt, yt, tuple(shape),
                   note=note)


def _fashion(data_dir=None) -> Dataset:
    folder = Path(data_dir) if data_dir else FASHION_DIR
    if not folder.is_dir():
        raise DataError(f"Fashion-MNIST not found in {folder}: "
                        "install it with `sudo apt-get install dataset-fashion-mnist`")
    x, y, shape = load_idx_folder(folder, "train")
    xt, yt, _ = load_idx_folder(folder, "t10k")
    return Dataset("fashion-mnist", x, y, xt, yt, tuple(shape))


SOURCES = {
    "digits": "scikit-learn's 8x8 digits, 1,437 train / 360 held out (ships with scikit-learn)",
    "digits4": "the same digits average-pooled to 4x4 (16 inputs): the demo default",
    "mnist": "MNIST-format folder; default the MNIST test set shipped in golden/data/mnist, "
             "8,000 train / 2,000 held out",
    "fashion-mnist": "Fashion-MNIST from Debian's dataset-fashion-mnist, 60,000 / 10,000",
}


def load_dataset(name: str, data_dir=None) -> Dataset:
    """A named dataset (see :data:`SOURCES`); ``data_dir`` overrides an IDX source's folder."""
    if name == "digits":
        return _digits(1)
    if name == "digits4":
        return _digits(2)
    if name == "mnist":
        return _mnist(data_dir)
    if name == "fashion-mnist":
        return _fashion(data_dir)
    raise DataError(f"unknown dataset {name!r}; choose from {', '.join(SOURCES)}")


def default_mnist_dir() -> str:
    return os.fspath(SHARED_MNIST)
