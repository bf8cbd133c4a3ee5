"""Array datasets kept on device: uploaded once per loop, batches gathered in the step.

When `fit` / `evaluate` / `predict` get in-memory arrays that fit a memory budget, the
arrays are put on the device once; each execution then receives only the row indices of
its batches (shuffled on the host, a few hundred bytes) and gathers them inside the
compiled step (`Trainer._function(..., indexed=True)`). No batch is copied from the host,
and there is no host-side slicing per step.
"""

from __future__ import annotations

import jax
import numpy as np

from shoal.trainers.data_adapter import ArrayData

# Datasets up to this size are kept on device (CPU: host memory; GPU: device memory).
BUDGET_BYTES = 1 << 30


def feed_for(data, placement):
    """A `DeviceFeed` for `data`, or None (host feeding: iterators, large data, or a
    distribution, whose batches are laid out over devices by the `Placement`)."""
    if placement is not None or not isinstance(data, ArrayData) or data.nbytes > BUDGET_BYTES:
        return None
    return DeviceFeed(data)


def _rows(rows):  # a slice or an index array -> int32 indices
    if isinstance(rows, slice):
        return np.arange(rows.start, rows.stop, dtype=np.int32)
    return np.asarray(rows, dtype=np.int32)


class DeviceFeed:
    def __init__(self, data: ArrayData):
        self.data = data
        self.arrays = jax.device_put((data.x, data.y, data.sample_weight))

    def epoch_rows(self):
        """The row indices of each batch of one epoch."""
        return [_rows(r) for r in self.data.epoch_rows()]

    def put_rows(self, rows, fused=False):
        """What an execution receives: the arrays on device and its batches' rows
        ((K, batch) when fused)."""
        return self.arrays, jax.device_put(rows)
