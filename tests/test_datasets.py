"""shoal.datasets: bundled sample, IDX parser, fetcher, pickle-free npz, loaders vs Keras.

No test reaches the network: `urlopen` only serves file:// URLs here, and every loader is
fed small synthetic files whose hashes replace the recorded ones.
"""

import gzip
import hashlib
import io
import json
import os
import pathlib
import pickle
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest

from shoal.backend import config
from shoal.datasets import (
    _npz,
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    idx,
    imdb,
    mnist,
    reuters,
)
from shoal.utils import file_utils
from shoal.utils.file_utils import DownloadError, get_file

_real_urlopen = urllib.request.urlopen


@pytest.fixture(autouse=True)
def sandbox(tmp_path, monkeypatch):
    """Caches in tmp, and only file:// URLs can be opened."""
    monkeypatch.setenv("SHOAL_HOME", str(tmp_path / "shoal_home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))

    def local_only(url, *args, **kwargs):
        if not str(url).startswith("file://"):
            raise urllib.error.URLError("network disabled in tests")
        return _real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)
    return tmp_path


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def cached(name, content: bytes, subdir="datasets"):
    """Puts a file in the shoal cache, as a user would by hand; returns its sha256."""
    path = os.path.join(file_utils.shoal_home(), subdir, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(content)
    return hashlib.sha256(content).hexdigest()


def npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # object arrays are pickled by NumPy here, in the test only
    return buf.getvalue()


# ---------------------------------------------------------------- bundled MNIST sample


def test_sample_loads_offline():
    x, y = mnist.load_sample()
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,) and y.dtype == np.uint8
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    counts = np.bincount(y, minlength=10)
    assert (
        counts.sum() == 10000 and len(counts) == 10 and counts.min() > 850 and counts.max() < 1200
    )
    assert x.max() == 255 and x.min() == 0 and 25 < x.mean() < 40
    assert x.flags.writeable


def test_sample_split():
    (x_tr, y_tr), (x_te, y_te) = mnist.load_sample_split()
    assert x_tr.shape == (8000, 28, 28) and x_te.shape == (2000, 28, 28)
    assert y_tr.shape == (8000,) and y_te.shape == (2000,)
    x, y = mnist.load_sample()
    np.testing.assert_array_equal(np.concatenate([y_tr, y_te]), y)
    (x_tr, _), (x_te, _) = mnist.load_sample_split(num_train=9000)
    assert len(x_tr) == 9000 and len(x_te) == 1000
    for bad in (0, 10000, 8000.0, True):
        with pytest.raises(ValueError, match=r"'num_train' must be an integer in \[1, 9999\]; got"):
            mnist.load_sample_split(num_train=bad)


def test_bundled_files_match_readme_and_carry_notice():
    folder = pathlib.Path(mnist.__file__).parent / "data" / "mnist-t10k"
    readme = (folder / "README.md").read_text()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert sha256(folder / name) in readme
    notice = (folder / "NOTICE").read_text()
    assert "LeCun" in notice and "Cortes" in notice and "Burges" in notice and "BY-SA 3.0" in notice


# ---------------------------------------------------------------- IDX parser


def idx_bytes(array, code=0x08):
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def test_idx_round_trip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(idx.parse_idx(idx_bytes(images)), images)
    values = np.array([-1.5, 2.0, 3.25], np.float32)
    out = idx.parse_idx(idx_bytes(values, code=0x0D))
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, values)
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(images)))
    np.testing.assert_array_equal(idx.read_idx(path, ndim=3), images)


def test_idx_rejects_bad_files(tmp_path):
    good = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(
        ValueError,
        match=r"x\.idx: truncated: shape \(2, 28, 28\) of uint8 needs 1584 bytes, the file has 1583",
    ):
        idx.parse_idx(good[:-1], name="x.idx")
    with pytest.raises(ValueError, match="trailing bytes"):
        idx.parse_idx(good + b"\0", name="x.idx")
    with pytest.raises(ValueError, match=r"x\.idx: bad magic number 0x504b0304"):
        idx.parse_idx(b"PK\x03\x04" + good[4:], name="x.idx")
    with pytest.raises(ValueError, match=r"bad magic number 0x00000703"):
        idx.parse_idx(b"\0\0\x07\x03" + good[4:])
    with pytest.raises(
        ValueError, match=r"truncated header \(10 bytes, need 16 for 3 dimensions\)"
    ):
        idx.parse_idx(good[:10])
    with pytest.raises(ValueError, match="expected 1 dimensions, the header says 3"):
        idx.parse_idx(good, ndim=1)
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(good)[:-20])
    with pytest.raises(ValueError, match=r"cut\.gz: corrupt or truncated gzip data"):
        idx.read_idx(path)


# ---------------------------------------------------------------- fetcher


def test_get_file_downloads_verifies_and_caches(tmp_path):
    src = tmp_path / "remote.bin"
    src.write_bytes(b"payload")
    digest = sha256(src)
    path = get_file("data.bin", src.as_uri(), file_hash=digest)
    assert path == os.path.join(str(tmp_path / "shoal_home"), "datasets", "data.bin")
    assert pathlib.Path(path).read_bytes() == b"payload"
    src.unlink()  # cached now: no second download
    assert get_file("data.bin", src.as_uri(), file_hash=digest) == path
    md5 = hashlib.md5(b"payload").hexdigest()
    assert get_file("data.bin", src.as_uri(), file_hash=md5) == path  # 32 hex digits: md5


def test_get_file_checksum_mismatch(tmp_path):
    src = tmp_path / "remote.bin"
    src.write_bytes(b"tampered")
    with pytest.raises(ValueError) as err:
        get_file("data.bin", src.as_uri(), file_hash="0" * 64)
    msg = str(err.value)
    assert "'data.bin'" in msg and src.as_uri() in msg and "0" * 64 in msg
    assert sha256(src) in msg and "sha256" in msg
    cache = tmp_path / "shoal_home" / "datasets"
    assert sorted(os.listdir(cache)) == []  # neither the file nor a .part remains


def test_get_file_offline_message_names_file_url_and_path(tmp_path):
    url = "https://example.invalid/files/thing.npz"
    with pytest.raises(DownloadError) as err:
        get_file("thing.npz", url, file_hash="a" * 64)
    msg = str(err.value)
    expected_path = os.path.join(str(tmp_path / "shoal_home"), "datasets", "thing.npz")
    assert "'thing.npz'" in msg and url in msg and expected_path in msg and "a" * 64 in msg
    assert "offline" in msg


def test_dataset_offline_message():
    with pytest.raises(
        DownloadError,
        match=r"boston_housing\.npz.*tf-keras-datasets/boston_housing\.npz.*shoal_home.datasets.boston_housing\.npz",
    ):
        boston_housing.load_data()


def test_get_file_uses_verified_keras_copy(tmp_path):
    keras_dir = tmp_path / "keras_home" / "datasets"
    keras_dir.mkdir(parents=True)
    (keras_dir / "k.bin").write_bytes(b"from keras")
    digest = hashlib.sha256(b"from keras").hexdigest()
    assert get_file("k.bin", "https://example.invalid/k.bin", file_hash=digest) == str(
        keras_dir / "k.bin"
    )
    with pytest.raises(DownloadError):  # a Keras copy with the wrong content is not used
        get_file("k.bin", "https://example.invalid/k.bin", file_hash="b" * 64)


def test_get_file_extracts_tar_safely(tmp_path):
    archive = tmp_path / "pack.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in (("pack/a.txt", b"A"), ("pack/sub/b.txt", b"B")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    folder = get_file("pack.tar.gz", archive.as_uri(), file_hash=sha256(archive), extract=True)
    assert folder.endswith(os.path.join("datasets", "pack_extracted"))
    assert (pathlib.Path(folder) / "pack" / "sub" / "b.txt").read_text() == "B"

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"X"))
    with pytest.raises(tarfile.TarError):
        get_file("evil.tar.gz", evil.as_uri(), file_hash=sha256(evil), extract=True)
    assert not (tmp_path / "shoal_home" / "datasets" / "escaped.txt").exists()
    assert not (tmp_path / "shoal_home" / "escaped.txt").exists()


def test_get_file_argument_errors():
    with pytest.raises(ValueError, match="'origin'"):
        get_file("x")
    with pytest.raises(ValueError, match="'fname' must be a plain file name"):
        get_file(os.path.join("a", "b"), "file:///nowhere")


# ---------------------------------------------------------------- pickle-free npz reader


def ragged(seqs):
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = s
    return out


@pytest.mark.parametrize("protocol", [1, 2, 3, 4, 5])
def test_object_array_parser_matches_pickle(protocol):
    inner = ragged(
        [
            np.arange(4, dtype=">i4"),
            np.ones((2, 3), order="F"),
            [1.5, "a", b"b", None, True, (1, 2), -7, 2**70],
        ]
    )
    data = pickle.dumps(ragged([[1, 2, 300], [], [70000, -1]]), protocol=protocol)
    out = _npz._PickleData(data, "m").run()
    assert [list(s) for s in out] == [[1, 2, 300], [], [70000, -1]]
    out = _npz._PickleData(pickle.dumps(inner, protocol=protocol), "m").run()
    np.testing.assert_array_equal(out[0], np.arange(4))
    np.testing.assert_array_equal(out[1], np.ones((2, 3)))
    assert out[2] == [1.5, "a", b"b", None, True, (1, 2), -7, 2**70]


def test_object_array_parser_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    with pytest.raises(
        ValueError,
        match=r"m: cannot read object array: reference to (posix|nt)\.system is not allowed",
    ):
        _npz._PickleData(pickle.dumps(ragged([Evil()]), protocol=3), "m").run()
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(ValueError, match="truncated data"):
        _npz._PickleData(pickle.dumps(ragged([[1, 2]]), protocol=3)[:-5], "m").run()


def test_load_npz_mixes_numeric_and_object_members(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(npz_bytes(x=ragged([[1], [2, 3]]), y=np.arange(3.0)))
    out = _npz.load_npz(path)
    assert [list(s) for s in out["x"]] == [[1], [2, 3]]
    np.testing.assert_array_equal(out["y"], np.arange(3.0))


# ---------------------------------------------------------------- loaders vs Keras


@pytest.fixture
def keras_datasets(monkeypatch):
    """Keras' dataset modules, their `get_file` answering from a dict of local paths."""
    from keras.src.datasets import boston_housing as kb
    from keras.src.datasets import california_housing as kch
    from keras.src.datasets import cifar100 as kc
    from keras.src.datasets import fashion_mnist as kf
    from keras.src.datasets import imdb as ki
    from keras.src.datasets import mnist as km
    from keras.src.datasets import reuters as kr

    paths = {}

    def local_get_file(fname=None, origin=None, **kwargs):
        return paths[os.path.basename(origin)]

    for mod in (kb, kc, kf, ki, km, kr, kch):
        monkeypatch.setattr(mod, "get_file", local_get_file)
    modules = {"boston": kb, "cifar100": kc, "fashion": kf, "imdb": ki, "mnist": km}
    return paths, {**modules, "reuters": kr, "california": kch}


def cache_path(name, subdir="datasets"):
    return os.path.join(file_utils.shoal_home(), subdir, name)


def assert_splits_equal(ours, theirs):
    for (xa, ya), (xb, yb) in zip(ours, theirs, strict=True):
        assert xa.dtype == xb.dtype and ya.dtype == yb.dtype
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_mnist_load_data(monkeypatch, keras_datasets, rng):
    paths, k = keras_datasets
    arrays = {
        "x_train": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 5, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 3, dtype=np.uint8),
    }
    monkeypatch.setattr(mnist, "_SHA256", cached("mnist.npz", npz_bytes(**arrays)))
    paths["mnist.npz"] = cache_path("mnist.npz")
    assert_splits_equal(mnist.load_data(), k["mnist"].load_data())


def test_boston_housing_matches_keras(monkeypatch, keras_datasets, rng):
    paths, k = keras_datasets
    content = npz_bytes(x=rng.normal(size=(50, 13)), y=rng.normal(size=50))
    monkeypatch.setattr(boston_housing, "_SHA256", cached("boston_housing.npz", content))
    paths["boston_housing.npz"] = cache_path("boston_housing.npz")
    for kwargs in ({}, {"test_split": 0.3, "seed": 7}, {"test_split": 0.0}):
        assert_splits_equal(boston_housing.load_data(**kwargs), k["boston"].load_data(**kwargs))
    with pytest.raises(ValueError, match=r"'test_split' must be in \[0, 1\); got 1\.5"):
        boston_housing.load_data(test_split=1.5)


def test_california_housing_matches_keras(monkeypatch, keras_datasets, rng):
    paths, k = keras_datasets
    content = npz_bytes(x=rng.normal(size=(700, 8)), y=rng.normal(size=700))
    monkeypatch.setattr(california_housing, "_SHA256", cached("california_housing.npz", content))
    paths["california_housing.npz"] = cache_path("california_housing.npz")
    for kwargs in ({}, {"version": "small", "test_split": 0.3, "seed": 7}):
        assert_splits_equal(
            california_housing.load_data(**kwargs), k["california"].load_data(**kwargs)
        )
    assert len(california_housing.load_data(version="small")[0][0]) == 480
    with pytest.raises(ValueError, match="'version' must be 'small' or 'large'; got 'medium'"):
        california_housing.load_data(version="medium")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"num_words": 20, "skip_top": 5, "test_split": 0.4},
        {"maxlen": 8, "seed": 3},
        {"num_words": 30, "oov_char": None, "start_char": None, "index_from": 0},
    ],
)
def test_reuters_matches_keras(monkeypatch, keras_datasets, rng, kwargs):
    paths, k = keras_datasets
    newswires = ragged(
        [[int(w) for w in rng.integers(1, 60, rng.integers(1, 12))] for _ in range(30)]
    )
    content = npz_bytes(x=newswires, y=rng.integers(0, 46, 30))
    monkeypatch.setattr(reuters, "_SHA256", cached("reuters.npz", content))
    paths["reuters.npz"] = cache_path("reuters.npz")
    ours, theirs = reuters.load_data(**kwargs), k["reuters"].load_data(**kwargs)
    for (xa, ya), (xb, yb) in zip(ours, theirs, strict=True):
        assert xa.dtype == object and xa.ndim == 1
        assert [list(s) for s in xa] == [list(s) for s in xb]
        np.testing.assert_array_equal(ya, yb)
    assert reuters.get_label_names() == k["reuters"].get_label_names()


def test_fashion_mnist_matches_keras(monkeypatch, keras_datasets, rng):
    paths, k = keras_datasets
    hashes = {}
    for prefix, n in (("train", 6), ("t10k", 4)):
        for name, array in (
            (f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
            (f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8)),
        ):
            hashes[name] = cached(name, gzip.compress(idx_bytes(array)), "datasets/fashion-mnist")
            paths[name] = cache_path(name, "datasets/fashion-mnist")
    monkeypatch.setattr(fashion_mnist, "_FILES", hashes)
    assert_splits_equal(fashion_mnist.load_data(), k["fashion"].load_data())


@pytest.fixture
def imdb_file(monkeypatch, keras_datasets, rng):
    paths, k = keras_datasets

    def reviews(n):
        return ragged(
            [[int(w) for w in rng.integers(1, 60, rng.integers(0, 12))] for _ in range(n)]
        )

    content = npz_bytes(
        x_train=reviews(20),
        y_train=rng.integers(0, 2, 20),
        x_test=reviews(15),
        y_test=rng.integers(0, 2, 15),
    )
    monkeypatch.setattr(imdb, "_SHA256", cached("imdb.npz", content))
    paths["imdb.npz"] = cache_path("imdb.npz")
    return k["imdb"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"num_words": 20, "skip_top": 5},
        {"maxlen": 8, "seed": 3},
        {"num_words": 30, "oov_char": None, "start_char": None, "index_from": 0},
    ],
)
def test_imdb_matches_keras(imdb_file, kwargs):
    ours, theirs = imdb.load_data(**kwargs), imdb_file.load_data(**kwargs)
    for (xa, ya), (xb, yb) in zip(ours, theirs, strict=True):
        assert xa.dtype == object and xa.ndim == 1
        assert [list(s) for s in xa] == [list(s) for s in xb]
        np.testing.assert_array_equal(ya, yb)


def test_imdb_word_index(monkeypatch):
    content = json.dumps({"the": 1, "and": 2}).encode()
    cached("imdb_word_index.json", content)
    monkeypatch.setattr(imdb, "_WORD_INDEX_MD5", hashlib.md5(content).hexdigest())
    assert imdb.get_word_index() == {"the": 1, "and": 2}


def cifar_tar(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_cifar10_binary_layout(monkeypatch, rng):
    images = rng.integers(0, 256, (12, 3, 32, 32), dtype=np.uint8)  # as stored: planes R, G, B
    labels = rng.integers(0, 10, 12, dtype=np.uint8)
    records = np.concatenate([labels[:, None], images.reshape(12, -1)], axis=1)
    members = {
        f"cifar-10-batches-bin/data_batch_{i}.bin": records[2 * (i - 1) : 2 * i].tobytes()
        for i in range(1, 6)
    }
    members["cifar-10-batches-bin/test_batch.bin"] = records[10:].tobytes()
    monkeypatch.setattr(cifar10, "_SHA256", cached("cifar-10-binary.tar.gz", cifar_tar(members)))
    (x_tr, y_tr), (x_te, y_te) = cifar10.load_data()
    assert x_tr.shape == (10, 32, 32, 3) and x_tr.dtype == np.uint8 and y_tr.shape == (10, 1)
    assert y_tr.dtype == np.uint8 and x_te.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(x_tr, images[:10].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y_te[:, 0], labels[10:])
    monkeypatch.setattr(config, "_IMAGE_DATA_FORMAT", "channels_first")
    (x_tr, _), _ = cifar10.load_data()  # extracted already: read from the cache folder
    np.testing.assert_array_equal(x_tr, images[:10])


def test_cifar100_matches_keras(monkeypatch, keras_datasets, rng, tmp_path):
    paths, k = keras_datasets
    images = rng.integers(0, 256, (9, 3, 32, 32), dtype=np.uint8)
    coarse, fine = rng.integers(0, 20, 9, dtype=np.uint8), rng.integers(0, 100, 9, dtype=np.uint8)
    records = np.concatenate([coarse[:, None], fine[:, None], images.reshape(9, -1)], axis=1)
    members = {
        "cifar-100-binary/train.bin": records[:6].tobytes(),
        "cifar-100-binary/test.bin": records[6:].tobytes(),
    }
    monkeypatch.setattr(cifar100, "_SHA256", cached("cifar-100-binary.tar.gz", cifar_tar(members)))
    # The same images in Keras' pickled python-version layout, written here for comparison.
    py_dir = tmp_path / "keras_cifar100" / "cifar-100-python"
    py_dir.mkdir(parents=True)
    for split, sl in (("train", slice(0, 6)), ("test", slice(6, 9))):
        batch = {
            b"data": images[sl].reshape(-1, 3072),
            b"fine_labels": fine[sl].tolist(),
            b"coarse_labels": coarse[sl].tolist(),
        }
        (py_dir / split).write_bytes(pickle.dumps(batch))
    paths["cifar-100-python.tar.gz"] = str(tmp_path / "keras_cifar100")
    for mode in ("fine", "coarse"):
        assert_splits_equal(cifar100.load_data(mode), k["cifar100"].load_data(mode))
    with pytest.raises(ValueError, match=r"'label_mode' must be 'fine' or 'coarse'; got 'medium'"):
        cifar100.load_data("medium")


def test_cifar_rejects_truncated_batch(monkeypatch):
    members = {f"cifar-10-batches-bin/data_batch_{i}.bin": b"\0" * 3073 for i in range(1, 6)}
    members["cifar-10-batches-bin/test_batch.bin"] = b"\0" * 3000
    monkeypatch.setattr(cifar10, "_SHA256", cached("cifar-10-binary.tar.gz", cifar_tar(members)))
    with pytest.raises(
        ValueError, match=r"test_batch\.bin: 3000 bytes is not a whole number of 3073-byte records"
    ):
        cifar10.load_data()
