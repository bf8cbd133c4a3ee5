"""`BatchDataset`: the PyDataset that shoal's dataset utilities return, with the few
`tf.data.Dataset` methods keras.io programs call on them.

`image_dataset_from_directory`, `text_dataset_from_directory` and
`timeseries_dataset_from_array` give `tf.data` datasets in Keras; here they are
PyDatasets (no TensorFlow). Programs still write `for x, y in ds.take(1)`,
`ds.map(lambda x, y: (augment(x), y))`, `ds.prefetch(...)`, `ds.cache()`,
`ds.shuffle(n)`: these return PyDatasets that `fit` takes. `prefetch` changes nothing
(`fit` already prepares the next batches on a background thread); `shuffle` reorders
whole batches at each epoch, as `tf.data` does on a batched dataset.
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.utils.py_dataset import PyDataset


def _count(owner, name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < -1:
        raise ValueError(f"{owner}: argument '{name}' must be an integer >= -1, got {value!r}")
    return int(value)


FORMATS = ("tf", "grain")


def check_format(owner, value) -> None:
    """Keras 3.15's `format=` ("tf": a tf.data.Dataset, "grain": a Grain dataset). Both give
    a BatchDataset here, which `fit` takes and which iterates as either would."""
    if value not in FORMATS:
        raise ValueError(f"{owner}: argument 'format' must be one of {FORMATS}; got {value!r}")


class BatchDataset(PyDataset):
    """A PyDataset of batches with `take`, `skip`, `map`, `cache`, `shuffle`, `prefetch`."""

    # It stands for a tf.data.Dataset, whose batches `fit(shuffle=True)` leaves in order.
    is_tf_data_like = True

    def take(self, count):
        """The first `count` batches (-1: all)."""
        count = _count("take", "count", count)
        return _Select(self, range(len(self) if count == -1 else min(count, len(self))))

    def skip(self, count):
        """All batches after the first `count`."""
        count = _count("skip", "count", count)
        return _Select(self, range(min(max(count, 0), len(self)), len(self)))

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        """Batches passed through `map_func` (a tuple batch is passed as arguments)."""
        if not callable(map_func):
            raise TypeError(f"map: argument 'map_func' must be callable, got {map_func!r}")
        return _Mapped(self, map_func)

    def cache(self, filename=""):
        """The batches, computed once and kept in memory."""
        return _Cached(self)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        """The batches in a new random order at each epoch."""
        _count("shuffle", "buffer_size", buffer_size)
        return _Shuffled(self, seed, reshuffle_each_iteration)

    def prefetch(self, buffer_size=None, name=None):
        """This dataset: `fit` already prefetches on a background thread."""
        return self


class _Derived(BatchDataset):
    def __init__(self, source):
        super().__init__()
        self.source = source
        self.class_names = getattr(source, "class_names", None)

    def __len__(self):
        return len(self.source)

    def on_epoch_begin(self):
        self.source.on_epoch_begin()

    def on_epoch_end(self):
        self.source.on_epoch_end()


class _Select(_Derived):
    def __init__(self, source, indices):
        super().__init__(source)
        self.indices = list(indices)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.source[self.indices[index]]


class _Mapped(_Derived):
    def __init__(self, source, map_func):
        super().__init__(source)
        self.map_func = map_func

    def __getitem__(self, index):
        batch = self.source[index]
        return self.map_func(*batch) if isinstance(batch, tuple) else self.map_func(batch)


class _Cached(_Derived):
    def __init__(self, source):
        super().__init__(source)
        self._batches: dict = {}

    def __getitem__(self, index):
        if index not in self._batches:
            self._batches[index] = self.source[index]
        return self._batches[index]


class _Shuffled(_Derived):
    def __init__(self, source, seed, reshuffle):
        super().__init__(source)
        self._rng = np.random.default_rng(seed)
        self._reshuffle = reshuffle
        self._order = self._rng.permutation(len(source))

    def __getitem__(self, index):
        return self.source[int(self._order[index])]

    def on_epoch_end(self):
        super().on_epoch_end()
        if self._reshuffle:
            self._order = self._rng.permutation(len(self.source))
