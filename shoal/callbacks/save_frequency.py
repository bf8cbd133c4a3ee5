"""When a saving callback saves: after every epoch, or every N training batches (counted
across epochs, batch indices restarting at 0 each epoch, as Keras counts them)."""

from __future__ import annotations

import numpy as np


def check_save_freq(owner: str, save_freq) -> None:
    if save_freq != "epoch" and (
        isinstance(save_freq, bool)
        or not isinstance(save_freq, (int, np.integer))
        or save_freq <= 0
    ):
        raise ValueError(
            f"{owner}: argument `save_freq` must be 'epoch' or a positive integer (a number "
            f"of batches); got save_freq={save_freq!r}"
        )


class BatchCounter:
    """Counts training batches from their hook indices; `due(batch)` is True every
    `save_freq` batches."""

    def __init__(self, save_freq, total=0):
        self.save_freq = save_freq
        self.since_last = 0
        self.last_batch = None
        self.total = total  # batches seen in all

    def due(self, batch) -> bool:
        if self.save_freq == "epoch":
            return False
        if self.last_batch is None or batch <= self.last_batch:
            added = batch + 1  # a new epoch; batches are zero-indexed
        else:
            added = batch - self.last_batch
        self.since_last += added
        self.total += added
        self.last_batch = batch
        if self.since_last >= self.save_freq:
            self.since_last = 0
            return True
        return False
