"""Dropout masks for recurrent cells, with Keras' `DropoutRNNCell` semantics.

A recurrent layer drops the *same* units at every timestep of a sequence: the
input mask and the recurrent-state mask are drawn once per sequence (per call
of the RNN layer) and reused by every step. A cell called on its own (one
step, outside an RNN) draws fresh masks for that call.

Masks hold 0 or `1 / (1 - rate)` and are stacked on a leading axis of size
`dropout_mask_count`: 1 normally, one mask per gate for LSTM/GRU with
recurrent dropout (what Keras calls implementation 1).
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp

from shoal.backend import random as shoal_random


def check_rate(owner: str, arg: str, value) -> float:
    """`value` as a float in [0, 1), else a ValueError naming `owner` and `arg`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(
            f"{owner}: argument '{arg}' must be a float in [0, 1) (the fraction of units "
            f"to drop), got {value!r}"
        )
    return float(value)


def draw_mask(shape, rate: float, seed, dtype, count: int = 1):
    """`count` stacked dropout masks of `shape`: 0 with probability `rate`, else 1/(1-rate)."""
    keep = jax.random.bernoulli(shoal_random.draw_key(seed), 1.0 - rate, (count, *shape))
    return keep.astype(dtype) / jnp.asarray(1.0 - rate, dtype)


class DropoutRNNCell:
    """Mixin for cells with `units`, `dropout`, `recurrent_dropout` and `seed` attributes.

    `dropout_masks(step_input_shape, training)` returns `(input_mask, recurrent_mask)`,
    each `(count, *shape)` or None. While an RNN runs a sequence, the masks drawn for it
    are cached on the cell (see `sequence_masks`), so that every step sees the same ones.
    Cells whose states are not `(batch, units)` override `recurrent_mask_shape`.
    """

    dropout_mask_count = 1
    _cached_masks = None

    def _dropout_seed(self):
        """The cell's SeedGenerator (a custom cell may have only `seed`)."""
        return getattr(self, "seed_generator", None) or getattr(self, "seed", None)

    def recurrent_mask_shape(self, batch):
        return (batch, self.units)

    def draw_dropout_masks(self, step_input_shape):
        dtype = self.compute_dtype
        count = self.dropout_mask_count
        dp = rec = None
        if 0 < self.dropout < 1:
            dp = draw_mask(
                tuple(step_input_shape), self.dropout, self._dropout_seed(), dtype, count
            )
        if 0 < self.recurrent_dropout < 1:
            shape = self.recurrent_mask_shape(step_input_shape[0])
            rec = draw_mask(shape, self.recurrent_dropout, self._dropout_seed(), dtype, count)
        return dp, rec

    def dropout_masks(self, step_input_shape, training):
        """The masks for this call: the sequence's inside an RNN, else freshly drawn ones."""
        if not training:
            return None, None
        if self._cached_masks is not None:
            return self._cached_masks
        return self.draw_dropout_masks(step_input_shape)


@contextlib.contextmanager
def sequence_masks(cells_and_shapes, training):
    """Draw each dropout cell's masks once and cache them on the cell for one sequence."""
    cached = []
    try:
        if training:
            for cell, step_input_shape in cells_and_shapes:
                if isinstance(cell, DropoutRNNCell):
                    cell._cached_masks = cell.draw_dropout_masks(step_input_shape)
                    cached.append(cell)
        yield
    finally:
        for cell in cached:
            cell._cached_masks = None
