"""CIFAR-10: 60,000 32x32 color images in 10 classes (A. Krizhevsky, 2009).

Labels: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship,
9 truck. Read from the authors' binary-version archive, so no pickle is involved.
"""

from __future__ import annotations

import os

from shoal.datasets._cifar import images_in_data_format, read_records
from shoal.datasets._fetch import fetch

_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
# Not in Keras (which uses the pickled python version). Published checksum of this archive:
# md5 c32a1d4ab5d03f1284b67883e8d87530 (on the CIFAR page); this SHA-256 is the one other
# loaders record for it (e.g. TensorFlow Datasets).
_SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"


def load_data():
    """Loads CIFAR-10: 50,000 training and 10,000 test images.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images `(n, 32, 32, 3)` (or
        `(n, 3, 32, 32)` under 'channels_first') and uint8 labels 0-9 of shape `(n, 1)`.
    """
    root = os.path.join(
        fetch("cifar-10-binary.tar.gz", _SHA256, _ORIGIN, extract=True), "cifar-10-batches-bin"
    )
    train = read_records(root, [f"data_batch_{i}.bin" for i in range(1, 6)], 1)
    test = read_records(root, ["test_batch.bin"], 1)
    return tuple((images_in_data_format(x), y) for x, y in (train, test))
