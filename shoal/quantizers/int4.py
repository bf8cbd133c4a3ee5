"""int4 storage: nibble packing and grouped (sub-channel) quantization with a zero point
(Keras' `pack_int4`, `unpack_int4`, `abs_max_quantize_grouped_with_zero_point`).

Two int4 values share one int8 byte: along the packed axis, element `2i` is the low nibble
and `2i + 1` the high one; an odd length is padded with a zero.

Grouped quantization is asymmetric, and its scale is a step size (unlike `abs_max_quantize`,
whose scale multiplies): for each group of `block_size` rows along axis 0 and each column,
`scale = (max - min + epsilon) / (high - low)`, `zero = clip(round(-min / scale) + low)`
and `q = clip(round(x / scale) + zero)`, so `x ≈ (q - zero) * scale`. A last, partial group
counts zero padding in its min and max, as in Keras.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from shoal.backend import config, dtypes


def _check_pack_dtype(dtype, fn):
    if dtype not in ("int8", "uint8"):
        raise ValueError(f"{fn}: argument 'dtype' must be 'int8' or 'uint8'; got {dtype!r}")


def pack_int4(arr, axis=0, dtype="int8"):
    """Pack int4 values (held in int8 or uint8, within [-8, 7]) two per byte along `axis`.

    Returns:
        `(packed, packed_shape, orig_len)`: `orig_len` is the length of `axis` before the
        padding to an even length; `unpack_int4(packed, orig_len, axis)` inverts.

    Example:
        >>> packed, shape, n = pack_int4(np.array([[-3, 7], [2, -8], [1, 0]], "int8"))
        >>> np.asarray(packed), shape, n
        (array([[  45, -121],
               [   1,    0]], dtype=int8), (2, 2), 3)
    """
    _check_pack_dtype(dtype, "pack_int4")
    given = dtypes.standardize_dtype(arr.dtype)
    if given != dtype:
        raise TypeError(f"pack_int4: argument 'arr' must be a {dtype} tensor; got {given}")
    # On the host: int8 shifts that overflow are well defined in NumPy on every device.
    x = np.moveaxis(np.asarray(arr), axis, 0)
    n = x.shape[0]
    if n % 2:
        x = np.concatenate([x, np.zeros((1,) + x.shape[1:], x.dtype)])
    low, high = (np.bitwise_and(part, np.array(0x0F, dtype)) for part in (x[0::2], x[1::2]))
    packed = np.bitwise_or(low, np.left_shift(high, np.array(4, dtype))).astype(dtype)
    packed = np.moveaxis(packed, 0, axis)
    return jnp.asarray(packed), tuple(packed.shape), n


def unpack_int4(packed, orig_len, axis=0, dtype="int8"):
    """The int4 values `pack_int4` packed along `axis`, as `dtype` (signed for int8)."""
    _check_pack_dtype(dtype, "unpack_int4")
    given = dtypes.standardize_dtype(packed.dtype)
    if given not in ("int8", "uint8"):
        raise TypeError(f"unpack_int4: argument 'packed' must be int8 or uint8; got {given}")
    x = jnp.moveaxis(jnp.asarray(getattr(packed, "value", packed)), axis, 0)  # a Variable too
    mask = jnp.asarray(0x0F, x.dtype)
    nibbles = [jnp.bitwise_and(x, mask), jnp.bitwise_and(jnp.right_shift(x, 4), mask)]
    if dtype == "int8":  # [0, 15] -> [-8, 7]
        eight = jnp.asarray(8, x.dtype)
        nibbles = [jnp.bitwise_xor(n, eight) - eight for n in nibbles]
    both = jnp.stack([n.astype(dtype) for n in nibbles], axis=1)
    unpacked = both.reshape((-1,) + x.shape[1:])[:orig_len]
    return jnp.moveaxis(unpacked, 0, axis)


def abs_max_quantize_grouped_with_zero_point(
    inputs, block_size, value_range=(-8, 7), dtype="int8", epsilon=None, to_numpy=False
):
    """Asymmetric quantization of a 2-D `(input_dim, output_dim)` tensor in groups of
    `block_size` rows.

    Returns:
        `(quantized, scale, zero_point)`: `quantized` like `inputs` in `dtype`; `scale`
        (in the dtype of `inputs`) and int8 `zero_point` of shape
        `(ceil(input_dim / block_size), output_dim)`; `inputs ≈ (quantized - zero) * scale`
        row by row with each row's group.
    """
    epsilon = config.epsilon() if epsilon is None else epsilon
    source = dtypes.standardize_dtype(inputs.dtype)
    xp = np if to_numpy else jnp
    x = xp.asarray(inputs)
    rows, cols = x.shape
    groups = math.ceil(rows / block_size)
    low, high = value_range
    padded = xp.concatenate([x, xp.zeros((groups * block_size - rows, cols), x.dtype)])
    padded = padded.reshape(groups, block_size, cols)
    lo, hi = padded.min(axis=1, keepdims=True), padded.max(axis=1, keepdims=True)
    if not to_numpy:
        # Keras' tensor path widens a constant group to [v - 1, v + 1] and floors the scale.
        same = lo == hi
        lo, hi = xp.where(same, lo - 1, lo), xp.where(same, hi + 1, hi)
    scale = (hi - lo + epsilon) / (high - low)
    if not to_numpy:
        scale = xp.where(scale <= 0, 1e-8, scale).astype(x.dtype)
    zero = xp.clip(xp.round(-lo / scale) + low, low, high)
    q = xp.clip(xp.round(padded / scale) + zero, low, high).astype(dtype)
    q = q.reshape(groups * block_size, cols)[:rows]
    scale, zero = scale[:, 0], zero[:, 0].astype("int8")
    return jnp.asarray(q), jnp.asarray(scale, dtype=source), jnp.asarray(zero)


def dequantize_with_sz_map(weights, scale, zero, g_idx, group_axis=-1):
    """`(weights - zero[g]) * scale[g]`, with each position's group `g` read from `g_idx`
    along `group_axis` of `scale` and `zero`."""
    groups = jnp.asarray(g_idx).astype("int32")
    scale = jnp.take(scale, groups, axis=group_axis)
    zero = jnp.take(zero, groups, axis=group_axis).astype(scale.dtype)
    return (weights - zero) * scale


def group_index(length, block_size):
    """Each position's group: Keras' `g_idx` (float32, as Keras stores it)."""
    return np.floor_divide(np.arange(length, dtype="float32"), block_size)
