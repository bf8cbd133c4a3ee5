"""`pad_sequences`, as `keras.utils.pad_sequences`."""

from __future__ import annotations

import numpy as np

_SIDES = ("pre", "post")


def pad_sequences(
    sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0
):
    """Pads (or truncates) a list of sequences to one length.

    Args:
        sequences: list of sequences (lists or arrays; items may themselves be arrays of one
            common shape).
        maxlen: output length; default the longest sequence.
        dtype: output dtype (`object` for variable-length strings).
        padding: 'pre' or 'post': where the padding goes.
        truncating: 'pre' or 'post': which end of a too-long sequence is dropped.
        value: padding value.

    Returns:
        A NumPy array of shape `(len(sequences), maxlen) + item_shape`.

    Example:
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2)
        array([[0, 1],
               [2, 3],
               [5, 6]], dtype=int32)
    """
    for name, side in (("padding", padding), ("truncating", truncating)):
        if side not in _SIDES:
            raise ValueError(
                f"pad_sequences: argument '{name}' must be 'pre' or 'post'; got {side!r}"
            )
    if not hasattr(sequences, "__len__"):
        raise ValueError(
            f"pad_sequences: argument 'sequences' must be a list of sequences; "
            f"got {type(sequences).__name__}"
        )
    if maxlen is not None and (
        isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0
    ):
        raise ValueError(
            f"pad_sequences: argument 'maxlen' must be a non-negative integer or None; got {maxlen!r}"
        )
    lengths, item_shape = [], None
    for i, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise ValueError(
                f"pad_sequences: argument 'sequences' must hold sequences; item {i} is {s!r}"
            )
        lengths.append(len(s))
        if item_shape is None and len(s):
            item_shape = np.asarray(s).shape[1:]
    item_shape = item_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)
    is_text = dtype is object or np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and not is_text:
        raise ValueError(
            f"pad_sequences: argument 'value' is a string ({value!r}) but 'dtype' is {dtype!r}; "
            "use dtype=object for variable-length strings"
        )
    out = np.full((len(sequences), maxlen) + item_shape, value, dtype=dtype)
    if maxlen == 0:
        return out
    for i, s in enumerate(sequences):
        if not len(s):
            continue
        kept = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if kept.shape[1:] != item_shape:
            raise ValueError(
                f"pad_sequences: all items must have shape {item_shape}; sequence {i} has "
                f"items of shape {kept.shape[1:]}"
            )
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, -len(kept) :] = kept
    return out
