"""`keras.ops.unfold` (im2col) and `keras.ops.fold` (col2im), channels first.

`unfold` turns `(N, C, H, W)` into `(N, C * kH * kW, L)`: one column per window
position (row-major over the `L = out_h * out_w` positions), each column the window's
pixels in (channel, kernel row, kernel column) order, as PyTorch and Keras lay it out.
`fold` is its linear transpose: it sums every column back onto the pixels its window
covers (overlaps add up), so `fold(unfold(x))` is `x` times how many windows cover
each pixel. Both are strided slices (and their transpose), so values are exact.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from shoal.ops.dispatch import keras_op, public_names
from shoal.ops.image_args import int_tuple
from shoal.ops.image_patches import _window_slices
from shoal.ops.numpy import _t


def _geometry(op, kernel_size, dilation, padding, stride):
    return (
        int_tuple(op, "kernel_size", kernel_size, 2),
        int_tuple(op, "dilation", dilation, 2),
        int_tuple(op, "padding", padding, 2, minimum=0),
        int_tuple(op, "stride", stride, 2),
    )


def _positions(op, size, kernel, dilation, padding, stride):
    """Window positions along each spatial axis of `size` (an error if there are none)."""
    counts = tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, d, p, s in zip(size, kernel, dilation, padding, stride, strict=True)
    )
    if min(counts) < 1:
        raise ValueError(
            f"{op}: a window of kernel_size={kernel} with dilation={dilation} does not fit "
            f"in spatial size {tuple(size)} with padding={padding}, got {counts} positions"
        )
    return counts


def _unfold(x, kernel, dilation, padding, stride):
    slices = _window_slices(
        x, (2, 3), kernel, stride, dilation, [(p, p) for p in padding]
    )  # each (N, C, out_h, out_w)
    columns = jnp.stack(slices, axis=2)  # (N, C, kH * kW, out_h, out_w)
    n, c, k, out_h, out_w = columns.shape
    return columns.reshape(n, c * k, out_h * out_w)


@keras_op
def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding windows of a channels-first batch `(N, C, H, W)` as columns.

    Args:
        x: `(N, C, H, W)`.
        kernel_size: window size, an int or `(kH, kW)`.
        dilation: spacing between window pixels.
        padding: zeros added on both sides of each spatial axis.
        stride: step between windows.

    Returns:
        `(N, C * kH * kW, L)`, L the number of window positions.

    Example:
        >>> unfold(np.ones((1, 2, 4, 4), "float32"), kernel_size=2, stride=2).shape
        (1, 8, 4)
    """
    x = _t(x)
    if x.ndim != 4:
        raise ValueError(
            f"unfold: argument 'x' must have rank 4 (N, C, H, W), got shape {tuple(x.shape)}"
        )
    kernel, dilation, padding, stride = _geometry("unfold", kernel_size, dilation, padding, stride)
    _positions("unfold", x.shape[2:], kernel, dilation, padding, stride)
    return _unfold(x, kernel, dilation, padding, stride)


@keras_op
def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum columns of sliding windows back into a `(N, C, oH, oW)` batch (col2im).

    Args:
        x: `(N, C * kH * kW, L)`, as `unfold` makes it.
        output_size: the spatial size `(oH, oW)` (or an int) of the result.
        kernel_size, dilation, padding, stride: as given to `unfold`.

    Returns:
        `(N, C, oH, oW)`: each pixel the sum of the column entries that cover it.

    Example:
        >>> cols = unfold(np.ones((1, 2, 4, 4), "float32"), kernel_size=2, stride=2)
        >>> fold(cols, output_size=(4, 4), kernel_size=2, stride=2).shape
        (1, 2, 4, 4)
    """
    x = _t(x)
    if x.ndim != 3:
        raise ValueError(
            f"fold: argument 'x' must have rank 3 (N, C * kH * kW, L), got shape {tuple(x.shape)}"
        )
    size = int_tuple("fold", "output_size", output_size, 2)
    kernel, dilation, padding, stride = _geometry("fold", kernel_size, dilation, padding, stride)
    per_channel = math.prod(kernel)
    if x.shape[1] % per_channel:
        raise ValueError(
            f"fold: the second axis of 'x' must be a multiple of kH * kW = {per_channel} "
            f"(kernel_size={kernel}), got shape {tuple(x.shape)}"
        )
    counts = _positions("fold", size, kernel, dilation, padding, stride)
    if x.shape[2] != math.prod(counts):
        raise ValueError(
            f"fold: the last axis of 'x' must be the number of window positions, "
            f"{counts[0]} * {counts[1]} = {math.prod(counts)} for output_size={size}, "
            f"got shape {tuple(x.shape)}"
        )
    image = jax.ShapeDtypeStruct((x.shape[0], x.shape[1] // per_channel, *size), x.dtype)
    if not jnp.issubdtype(x.dtype, jnp.inexact):  # linear_transpose needs floats
        return fold(x.astype(jnp.float32), size, kernel, dilation, padding, stride).astype(x.dtype)
    transpose = jax.linear_transpose(lambda v: _unfold(v, kernel, dilation, padding, stride), image)
    return transpose(x)[0]


__all__ = public_names(globals())
