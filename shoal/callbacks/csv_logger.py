"""`CSVLogger`: stream epoch results to a CSV file (Keras 3)."""

from __future__ import annotations

import collections.abc
import csv
import os

import numpy as np

from shoal.callbacks.callback import Callback


class CSVLogger(Callback):
    """Write one row per epoch (`epoch` then the sorted log keys) to a CSV file.

    Values may be anything representable as a string, including 1-D iterables. When the first
    epoch has no `val_` keys, `val_` columns are still reserved (filled with `NA`), so a later
    validation epoch fits the header, as Keras does.

    Args:
        filename: path of the CSV file, e.g. `"run/log.csv"`.
        separator: the field delimiter.
        append: append to an existing file (useful when resuming training) instead of
            overwriting it; the header is written only if the file is empty.

    Example:
        >>> csv_logger = CSVLogger("training.log")
        >>> # model.fit(x, y, callbacks=[csv_logger])
    """

    _primary_only = True  # with several processes, only process 0 writes

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")  # closed at train end
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def handle_value(k):
            is_zero_dim_ndarray = isinstance(k, np.ndarray) and k.ndim == 0
            if isinstance(k, str):
                return k
            if isinstance(k, collections.abc.Iterable) and not is_zero_dim_ndarray:
                return f'"[{", ".join(map(str, k))}]"'
            return k

        if self.keys is None:
            self.keys = sorted(logs.keys())
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys.extend([f"val_{k}" for k in self.keys])

        if not self.writer:

            class CustomDialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(
                self.csv_file, fieldnames=["epoch"] + (self.keys or []), dialect=CustomDialect
            )
            if self.append_header:
                self.writer.writeheader()

        row = {"epoch": epoch}
        row.update((key, handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None
