"""Reader for the CIFAR *binary version* archives (fixed-size records, no pickle).

Each record is `label_bytes` label bytes, then a 3x32x32 uint8 image stored channel by
channel (red, green, blue planes), rows in order.
"""

from __future__ import annotations

import os

import numpy as np

from shoal.backend import config

_PIXELS = 3 * 32 * 32


def read_records(folder: str, files, label_bytes: int):
    """Concatenated `(images (n, 3, 32, 32), labels (n, label_bytes))` from binary files."""
    record = label_bytes + _PIXELS
    chunks = []
    for path in (os.path.join(folder, f) for f in files):
        data = np.fromfile(path, dtype=np.uint8)
        if data.size == 0 or data.size % record:
            raise ValueError(
                f"CIFAR file {path}: {data.size} bytes is not a whole number of "
                f"{record}-byte records; the file is truncated or not a CIFAR binary batch"
            )
        chunks.append(data.reshape(-1, record))
    rows = np.concatenate(chunks)
    return rows[:, label_bytes:].reshape(-1, 3, 32, 32), rows[:, :label_bytes].copy()


def images_in_data_format(x):
    """`(n, 3, 32, 32)` as stored, or `(n, 32, 32, 3)` under 'channels_last' (as Keras)."""
    if config.image_data_format() == "channels_last":
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return np.ascontiguousarray(x)
