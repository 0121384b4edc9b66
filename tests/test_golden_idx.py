"""The IDX reader: good gzip and raw files, and each kind of damaged file."""
import gzip
import struct

import numpy as np
import pytest

from wuxing.golden.data import DataError, load_idx_folder, read_idx


def idx_bytes(arr: np.ndarray, code=0x08, dims=None) -> bytes:
    dims = arr.shape if dims is None else dims
    head = bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    return head + arr.tobytes()


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (7, 4, 3), dtype=np.uint8)


def test_raw_and_gzip_files_read_back(tmp_path, images):
    (tmp_path / "a.idx").write_bytes(idx_bytes(images))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(idx_bytes(images)))
    for name in ("a.idx", "a.idx.gz"):
        back = read_idx(tmp_path / name)
        assert back.shape == (7, 4, 3) and np.array_equal(back, images)


def test_big_endian_types(tmp_path):
    a = np.array([[1, -2], [300, -40000]], dtype=">i4")
    (tmp_path / "i.idx").write_bytes(idx_bytes(a, code=0x0C))
    assert read_idx(tmp_path / "i.idx").tolist() == [[1, -2], [300, -40000]]


def test_folder_with_labels(tmp_path, images):
    labels = np.arange(7, dtype=np.uint8) % 10
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    x, y, shape = load_idx_folder(tmp_path, "t10k")
    assert x.shape == (7, 12) and shape == (4, 3)
    assert np.allclose(x, images.reshape(7, -1) / 255.0) and x.max() <= 1.0
    assert y.tolist() == labels.tolist() and y.dtype == np.int64


@pytest.mark.parametrize("content,match", [
    (b"\x00\x00\x08", "too short"),
    (b"\x12\x34\x08\x03" + bytes(12), "not an IDX file"),
    (b"\x00\x00\x07\x01" + bytes(4), "not an IDX file"),      # unknown type code
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
    (idx_bytes(np.zeros(3, np.uint8), dims=(2, 4)), "truncated"),
])
def test_bad_files(tmp_path, content, match):
    p = tmp_path / "bad.idx"
    p.write_bytes(content)
    with pytest.raises(DataError, match=match) as e:
        read_idx(p)
    assert str(p) in str(e.value)                               # says which file


def test_truncated_gzip(tmp_path, images):
    p = tmp_path / "bad.gz"
    p.write_bytes(gzip.compress(idx_bytes(images))[:-12])
    with pytest.raises(DataError, match="broken gzip"):
        read_idx(p)


def test_corrupted_gzip_body(tmp_path, images):
    raw = bytearray(gzip.compress(idx_bytes(images), mtime=0))
    raw[12] ^= 0xFF                                             # inside the deflate stream
    p = tmp_path / "bad.gz"
    p.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="broken gzip"):
        read_idx(p)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "nope.idx")
    with pytest.raises(DataError, match="does not exist"):
        load_idx_folder(tmp_path / "nope", "t10k")
    with pytest.raises(DataError, match="no t10k-images"):
        load_idx_folder(tmp_path, "t10k")


def test_label_count_mismatch(tmp_path, images):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(6, np.uint8)))
    with pytest.raises(DataError, match="7 images but 6 labels"):
        load_idx_folder(tmp_path, "t10k")


def test_wrong_dimensions(tmp_path, images):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images[:, 0]))     # 2-D
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(7, np.uint8)))
    with pytest.raises(DataError, match="3-D"):
        load_idx_folder(tmp_path, "t10k")
