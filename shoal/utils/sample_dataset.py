"""`SampleDataset`: in-memory arrays as a dataset of single samples, what
`split_dataset` returns where Keras returns an unbatched `tf.data.Dataset`.

Each element is one sample in the structure of the data: a row of an array, a tuple of
rows for a tuple or list of arrays, a dict of rows for a dict of arrays. `len(ds)` is the
number of samples (`ds.cardinality()` too, as `tf.data`); `ds.batch(n)` gives a
`BatchDataset` of batches of `n` that `fit` takes.
"""

from __future__ import annotations

import numbers

import jax
import numpy as np

from shoal.utils.batch_dataset import BatchDataset


def _rows(data, index):
    return jax.tree_util.tree_map(lambda v: v[index], data)  # as data_adapter slices


def num_samples(data) -> int:
    """The number of samples (leading size) of an array, tuple or dict of arrays."""
    first = next(iter(data.values())) if isinstance(data, dict) else data
    first = first[0] if isinstance(first, tuple) else first
    return len(first)


class SampleDataset(BatchDataset):
    """Single samples of `data` (an array, a tuple of arrays or a dict of arrays, all of
    the same length), in order."""

    def __init__(self, data):
        super().__init__()
        self.data = data

    def __len__(self):
        return num_samples(self.data)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        return _rows(self.data, index)

    def cardinality(self) -> int:
        """The number of samples (as `tf.data.Dataset.cardinality()`)."""
        return len(self)

    def batch(self, batch_size, drop_remainder=False):
        """The samples in batches of `batch_size` (the last one smaller unless
        `drop_remainder`), as a `BatchDataset`."""
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, numbers.Integral)
            or batch_size <= 0
        ):
            raise ValueError(
                f"batch: argument 'batch_size' must be a positive integer; got {batch_size!r}"
            )
        return ArrayBatches(self.data, int(batch_size), bool(drop_remainder))


class ArrayBatches(BatchDataset):
    """Consecutive batches of `batch_size` samples of `data`."""

    def __init__(self, data, batch_size, drop_remainder=False):
        super().__init__()
        self.data, self.batch_size, self.drop_remainder = data, batch_size, drop_remainder

    def __len__(self):
        n = num_samples(self.data)
        return n // self.batch_size if self.drop_remainder else -(-n // self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        return _rows(self.data, slice(index * self.batch_size, (index + 1) * self.batch_size))


def take_rows(data, indices):
    """`data` (an array, a tuple or a dict of arrays) at the sample positions `indices`."""
    indices = np.asarray(indices, dtype=np.int64)
    return _rows(data, indices)
