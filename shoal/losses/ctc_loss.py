"""The CTC loss as a Keras loss: `keras.losses.ctc` and `keras.losses.CTC`.

`y_true` holds integer labels padded with 0, which is also the blank class, so a
label's length is its number of non-zero entries; every step of `y_pred` (logits) is
used. For other blanks or explicit lengths, call `shoal.ops.ctc_loss` directly.
"""

from __future__ import annotations

import jax.numpy as jnp

from shoal.backend.tensors import convert_to_tensor
from shoal.losses.classes import LossFunctionWrapper
from shoal.ops import ctc as ctc_ops


def ctc(y_true, y_pred):
    """Per-sequence CTC loss of labels `y_true` (batch, max_length), blank/padding 0,
    against logits `y_pred` (batch, steps, num_classes).

    Example:
        >>> ctc([[1, 2, 0]], np.zeros((1, 4, 3), "float32"))  # shape (1,)
    """
    y_true, y_pred = convert_to_tensor(y_true), convert_to_tensor(y_pred)
    if y_true.ndim != 2:
        raise ValueError(
            "ctc: argument 'y_true' must have shape (batch_size, max_length) (integer "
            f"labels), got shape {tuple(y_true.shape)}"
        )
    if y_pred.ndim != 3:
        raise ValueError(
            "ctc: argument 'y_pred' must have shape (batch_size, max_length, num_classes) "
            f"(logits), got shape {tuple(y_pred.shape)}"
        )
    batch, steps = y_pred.shape[0], y_pred.shape[1]
    label_length = jnp.sum(y_true != 0, axis=-1).astype(jnp.int32)
    output_length = jnp.full((batch,), steps, jnp.int32)
    return ctc_ops.ctc_loss(y_true, y_pred, label_length, output_length, mask_index=0)


class CTC(LossFunctionWrapper):
    """CTC loss (see `ctc`) as a `Loss`: labels padded with the blank class 0."""

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(ctc, reduction=reduction, name=name, dtype=dtype)
