"""`PyDataset` (alias `Sequence`): a dataset of batches written in Python, as in Keras 3.

Subclasses implement `__getitem__(index)` (a whole batch) and `__len__()` (the number of
batches), or `num_batches` (None for an endless dataset). `workers`, `use_multiprocessing`
and `max_queue_size` are settings for the trainer that iterates the dataset; the class itself
never starts workers.
"""

from __future__ import annotations

import itertools
import warnings


class PyDataset:
    """Base class for datasets that produce batches from Python code.

    Args:
        workers: number of threads the trainer may use to prepare batches ahead (0 or 1:
            batches are made in the training thread).
        use_multiprocessing: accepted for Keras compatibility; shoal prefetches with threads.
        max_queue_size: most batches prepared ahead of the training step.

    Example:
        >>> class Batches(PyDataset):
        ...     def __init__(self, x, y, batch_size, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.x, self.y, self.batch_size = x, y, batch_size
        ...     def __len__(self):
        ...         return -(-len(self.x) // self.batch_size)
        ...     def __getitem__(self, i):
        ...         s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        ...         return self.x[s], self.y[s]
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        for name, val in (("workers", workers), ("max_queue_size", max_queue_size)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 0:
                raise ValueError(
                    f"PyDataset: argument '{name}' must be a non-negative integer; got {val!r}"
                )
        self._workers = workers
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = max_queue_size

    def _setting(self, name, default):
        # A subclass that forgot super().__init__() still works, with a warning (as Keras).
        if not hasattr(self, name):
            warnings.warn(
                f"{type(self).__name__} should call `super().__init__(**kwargs)` in its "
                "constructor; using default workers/use_multiprocessing/max_queue_size.",
                stacklevel=3,
            )
            setattr(self, name, default)
        return getattr(self, name)

    @property
    def workers(self):
        return self._setting("_workers", 1)

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        return self._setting("_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        return self._setting("_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """The batch at position `index`."""
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index)")

    @property
    def num_batches(self):
        """Number of batches per epoch, or None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            f"{type(self).__name__} must implement __len__() or the `num_batches` property"
        )

    def __iter__(self):
        try:
            n = self.num_batches
        except NotImplementedError:  # only __getitem__: iterate until the caller stops
            n = None
        for index in range(n) if n is not None else itertools.count():
            yield self[index]

    def on_epoch_begin(self):
        """Called at the start of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


Sequence = PyDataset
