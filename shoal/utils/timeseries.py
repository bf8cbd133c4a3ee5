"""`timeseries_dataset_from_array`: sliding windows over a time series, as a PyDataset."""

from __future__ import annotations

import numbers

import numpy as np

from shoal.utils.batch_dataset import BatchDataset, check_format


def _positive(name, value, below=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"timeseries_dataset_from_array: argument '{name}' must be a positive integer; "
            f"got {value!r}"
        )
    if below is not None and value >= below:
        raise ValueError(
            f"timeseries_dataset_from_array: argument '{name}' must be lower than the length "
            f"of the data ({below}); got {value}"
        )
    return int(value)


def timeseries_dataset_from_array(
    data,
    targets,
    sequence_length,
    sequence_stride=1,
    sampling_rate=1,
    batch_size=128,
    shuffle=False,
    seed=None,
    start_index=None,
    end_index=None,
    format="tf",
):
    """Windows `data[s], data[s + r], ..., data[s + r * (sequence_length - 1)]` for start
    points `s = start_index + k * sequence_stride` (r the `sampling_rate`), paired with
    `targets[s]` when `targets` is given, in batches of `batch_size` (None: one window per
    item). As Keras' `keras.utils.timeseries_dataset_from_array`, over `data[start_index:
    end_index]`; with `shuffle` the windows' order is drawn once from `seed`. Returns a
    `PyDataset` that `fit` / `evaluate` / `predict` take and that iterates over its batches.

    Example:
        >>> ds = timeseries_dataset_from_array(np.arange(10), None, sequence_length=3,
        ...                                    batch_size=4)
        >>> next(iter(ds)).tolist()
        [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]]
    """
    check_format("timeseries_dataset_from_array", format)
    data = np.asarray(data)
    n = len(data)
    sequence_length = _positive("sequence_length", sequence_length)
    sequence_stride = _positive("sequence_stride", sequence_stride, below=n)
    sampling_rate = _positive("sampling_rate", sampling_rate, below=n)
    if batch_size is not None:
        batch_size = _positive("batch_size", batch_size)
    start = 0 if start_index is None else start_index
    end = n if end_index is None else end_index
    if not (isinstance(start, numbers.Integral) and 0 <= start < n):
        raise ValueError(
            "timeseries_dataset_from_array: argument 'start_index' must be an integer in "
            f"[0, {n}) for data of length {n}; got {start_index!r}"
        )
    if not (isinstance(end, numbers.Integral) and start < end <= n):
        raise ValueError(
            "timeseries_dataset_from_array: argument 'end_index' must be an integer above "
            f"start_index ({start}) and at most the data's length ({n}); got {end_index!r}"
        )
    count = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        count = min(count, len(targets))
    starts = np.arange(0, max(count, 0), sequence_stride)
    if shuffle:
        seed = np.random.randint(1_000_000) if seed is None else seed
        np.random.RandomState(seed).shuffle(starts)
    return _Windows(data, targets, starts + start, sequence_length, sampling_rate, batch_size)


class _Windows(BatchDataset):
    """The batches of `timeseries_dataset_from_array`."""

    def __init__(self, data, targets, starts, length, rate, batch_size):
        super().__init__()
        self.data, self.targets, self.starts = data, targets, starts
        self.offsets = np.arange(length) * rate
        self.batch_size = batch_size

    def __len__(self):
        if self.batch_size is None:
            return len(self.starts)
        return -(-len(self.starts) // self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        if self.batch_size is None:
            starts = self.starts[index : index + 1]
        else:
            starts = self.starts[index * self.batch_size : (index + 1) * self.batch_size]
        windows = self.data[starts[:, None] + self.offsets]
        if self.batch_size is None:
            windows, starts = windows[0], starts[0]
        if self.targets is None:
            return windows
        return windows, self.targets[starts]
