"""MNIST handwritten digits: `load_data()` as Keras, and a bundled offline sample.

MNIST database of Y. LeCun, C. Cortes and C. J. C. Burges, CC BY-SA 3.0.
"""

from __future__ import annotations

from importlib import resources

from shoal.datasets._fetch import KERAS_ORIGIN, fetch_npz
from shoal.datasets.idx import read_idx

_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"  # from Keras
_SAMPLE_DIR = "data/mnist-t10k"
_SAMPLE_SIZE = 10000


def load_data(path="mnist.npz"):
    """Loads MNIST: 60,000 training and 10,000 test 28x28 grayscale digits.

    Args:
        path: the file's name in the cache (`$SHOAL_HOME/datasets`).

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images of shape `(n, 28, 28)` with
        values 0-255 and uint8 labels 0-9 of shape `(n,)`.
    """
    x_train, y_train, x_test, y_test = fetch_npz(
        path, _SHA256, ("x_train", "y_train", "x_test", "y_test"), KERAS_ORIGIN + "mnist.npz"
    )
    return (x_train, y_train), (x_test, y_test)


def load_sample():
    """The MNIST test set (10,000 digits) shipped with shoal; works offline.

    Returns:
        `(x, y)`: uint8 images `(10000, 28, 28)` and uint8 labels `(10000,)`.
    """
    folder = resources.files("shoal.datasets").joinpath(_SAMPLE_DIR)
    images = folder.joinpath("t10k-images-idx3-ubyte.gz")
    labels = folder.joinpath("t10k-labels-idx1-ubyte.gz")
    x = read_idx(images.read_bytes(), ndim=3, name=str(images))
    y = read_idx(labels.read_bytes(), ndim=1, name=str(labels))
    if x.shape != (_SAMPLE_SIZE, 28, 28) or y.shape != (_SAMPLE_SIZE,):
        raise ValueError(
            f"bundled MNIST sample in {folder} is damaged: got images {x.shape} and labels "
            f"{y.shape}, expected ({_SAMPLE_SIZE}, 28, 28) and ({_SAMPLE_SIZE},)"
        )
    return x, y


def load_sample_split(num_train=8000):
    """The bundled sample split in order: the first `num_train` to train, the rest to test.

    Returns:
        `(x_train, y_train), (x_test, y_test)` (8,000 and 2,000 digits by default).
    """
    if (
        isinstance(num_train, bool)
        or not isinstance(num_train, int)
        or not 0 < num_train < _SAMPLE_SIZE
    ):
        raise ValueError(
            f"load_sample_split: argument 'num_train' must be an integer in "
            f"[1, {_SAMPLE_SIZE - 1}]; got {num_train!r}"
        )
    x, y = load_sample()
    return (x[:num_train], y[:num_train]), (x[num_train:], y[num_train:])
