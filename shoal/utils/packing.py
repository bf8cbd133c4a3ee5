"""`pack_x_y_sample_weight` / `unpack_x_y_sample_weight`: the batch tuples of custom steps."""

from __future__ import annotations

from shoal.trainers import data_adapter


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """`x` (as `(x,)` when x is itself a tuple or list), `(x, y)` or `(x, y, sample_weight)`:
    the form `fit` hands a custom `train_step`."""
    return data_adapter.pack(x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """`(x, y, sample_weight)` of a batch, None for what it lacks. As in Keras, a list is
    read as a tuple, and a tuple has 1 to 3 elements."""
    if isinstance(data, list):
        data = tuple(data)
    if isinstance(data, tuple) and not 1 <= len(data) <= 3:
        raise ValueError(
            "unpack_x_y_sample_weight: data must be `x`, `(x,)`, `(x, y)` or "
            f"`(x, y, sample_weight)`; got a tuple of {len(data)} elements"
        )
    return data_adapter.unpack(data)
