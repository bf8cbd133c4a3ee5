"""CIFAR-100: 60,000 32x32 color images in 100 classes grouped into 20 superclasses.

Read from the authors' binary-version archive, so no pickle is involved.
"""

from __future__ import annotations

import os

from shoal.datasets._cifar import images_in_data_format, read_records
from shoal.datasets._fetch import fetch

_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"
# Not in Keras (which uses the pickled python version). Published checksum of this archive:
# md5 03b5dce01913d631647c71ecec9e9cb8 (on the CIFAR page); this SHA-256 is the one other
# loaders record for it (e.g. TensorFlow Datasets).
_SHA256 = "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec"
_LABEL_COLUMN = {"coarse": 0, "fine": 1}  # each record starts: coarse byte, fine byte


def load_data(label_mode="fine"):
    """Loads CIFAR-100: 50,000 training and 10,000 test images.

    Args:
        label_mode: 'fine' (100 classes) or 'coarse' (20 superclasses).

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images `(n, 32, 32, 3)` (or
        `(n, 3, 32, 32)` under 'channels_first') and int64 labels of shape `(n, 1)` (the
        dtype Keras returns).
    """
    if label_mode not in _LABEL_COLUMN:
        raise ValueError(
            f"cifar100.load_data: argument 'label_mode' must be 'fine' or 'coarse'; "
            f"got {label_mode!r}"
        )
    root = os.path.join(
        fetch("cifar-100-binary.tar.gz", _SHA256, _ORIGIN, extract=True), "cifar-100-binary"
    )
    col = _LABEL_COLUMN[label_mode]
    out = []
    for name in ("train.bin", "test.bin"):
        x, labels = read_records(root, [name], 2)
        out.append((images_in_data_format(x), labels[:, col : col + 1].astype("int64")))
    return tuple(out)
