"""Patch extraction (`keras.ops.image.extract_patches`, `extract_patches_3d`).

A patch is the window of `size` pixels (`dilation_rate` apart) at each of the output
positions (`strides` apart); it comes back flattened into the channel axis in
(row, column, channel) order ((depth, row, column, channel) for volumes), as Keras
computes it with an identity-kernel convolution. Here each window offset is one strided
slice, so values are copied exactly (no multiply-add, any dtype, any device precision).
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp

from shoal.ops import image_args as A
from shoal.ops.dispatch import keras_op, public_names
from shoal.ops.numpy import _t


def _window_slices(x, axes, size, strides, dilation, pads):
    """The strided slices of `x` (one per window offset, row-major over `size`).

    `axes` are the spatial axes, `pads` a (before, after) zero padding per axis; each
    slice has the output's spatial shape `(L + pads - (k - 1) d - 1) // s + 1`.
    """
    widths = [(0, 0)] * x.ndim
    for axis, pad in zip(axes, pads, strict=True):
        widths[axis] = pad
    if any(p != (0, 0) for p in widths):
        x = jnp.pad(x, widths)
    counts = [
        (x.shape[a] - (k - 1) * d - 1) // s + 1
        for a, k, s, d in zip(axes, size, strides, dilation, strict=True)
    ]
    slices = []
    for offset in itertools.product(*(range(k) for k in size)):
        start, limit, step = [0] * x.ndim, list(x.shape), [1] * x.ndim
        for axis, o, n, s, d in zip(axes, offset, counts, strides, dilation, strict=True):
            start[axis] = o * d
            limit[axis] = o * d + (n - 1) * s + 1
            step[axis] = s
        slices.append(jax.lax.slice(x, start, limit, step))
    return slices


def _same_pads(lengths, size, strides, dilation):
    """TF-style "same" padding: output length ceil(L / s), the extra pixel at the end."""
    pads = []
    for length, k, s, d in zip(lengths, size, strides, dilation, strict=True):
        out = -(-length // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - length, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def _patches(op, images, size, strides, dilation_rate, padding, data_format, spatial, name):
    """Patches of a rank `spatial + 1` (one) or `spatial + 2` (batch) tensor."""
    size = A.int_tuple(op, "size", size, spatial)
    strides = size if strides is None else strides
    strides = A.int_tuple(op, "strides", strides, spatial)
    dilation = A.int_tuple(op, "dilation_rate", dilation_rate, spatial)
    if isinstance(padding, str):
        padding = padding.lower()
    padding = A.choice(op, "padding", padding, ("valid", "same"))
    data_format = A.data_format(op, data_format)
    images = _t(images)
    A.image_rank(op, name, images, (spatial + 1, spatial + 2))
    single = images.ndim == spatial + 1
    if single:
        images = images[None]
    first = 2 if data_format == "channels_first" else 1
    axes = tuple(range(first, first + spatial))
    lengths = [images.shape[a] for a in axes]
    if padding == "same":
        pads = _same_pads(lengths, size, strides, dilation)
    else:
        pads = [(0, 0)] * spatial
        for length, k, d in zip(lengths, size, dilation, strict=True):
            if (k - 1) * d + 1 > length:
                raise ValueError(
                    f"{op}: a patch of 'size' {size} with 'dilation_rate' {dilation} must fit "
                    f"in the input with padding='valid', got spatial shape {tuple(lengths)}"
                )
    slices = _window_slices(images, axes, size, strides, dilation, pads)
    channel_axis = 1 if data_format == "channels_first" else images.ndim - 1
    # Offsets go before the channel axis, so flattening gives (offset, channel) order.
    patches = jnp.stack(slices, axis=channel_axis)
    shape = list(patches.shape)
    shape[channel_axis : channel_axis + 2] = [math.prod(shape[channel_axis : channel_axis + 2])]
    patches = patches.reshape(shape)
    return patches[0] if single else patches


@keras_op
def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """Extract patches from images, or from volumes when `size` has three entries.

    Args:
        images: `(H, W, C)` or `(N, H, W, C)` (channels last); for 3-D patches
            `(D, H, W, C)` or `(N, D, H, W, C)`.
        size: patch size, an int or `(height, width)`; `(depth, height, width)` for
            volumes.
        strides: step between patches; defaults to `size` (non-overlapping patches).
        dilation_rate: spacing between the pixels of a patch.
        padding: "valid" or "same" (zero padding, TF-style).
        data_format: "channels_last" or "channels_first"; default from the config.

    Returns:
        `(..., out_h, out_w, size_h * size_w * C)` (channels last), each patch flattened
        in (row, column, channel) order.

    Example:
        >>> extract_patches(np.ones((2, 20, 20, 3), "float32"), (5, 5)).shape
        (2, 4, 4, 75)
    """
    if not A.is_int(size):
        if not isinstance(size, (tuple, list)):
            raise TypeError(
                "extract_patches: argument 'size' must be an int or a tuple of 2 or 3 ints, "
                f"got {size!r} of type {type(size).__name__}"
            )
        if len(size) not in (2, 3):
            raise ValueError(
                "extract_patches: argument 'size' must be an int or a tuple of 2 or 3 ints, "
                f"got {size!r} of length {len(size)}"
            )
    spatial = 3 if not A.is_int(size) and len(size) == 3 else 2
    return _patches(
        "extract_patches",
        images,
        size,
        strides,
        dilation_rate,
        padding,
        data_format,
        spatial,
        "images",
    )


@keras_op
def extract_patches_3d(
    volumes, size, strides=None, dilation_rate=1, padding="valid", data_format=None
):
    """Extract 3-D patches from a volume `(D, H, W, C)` or a batch `(N, D, H, W, C)`.

    `size` is an int or `(depth, height, width)`; the other arguments are those of
    `extract_patches`. Patches are flattened in (depth, row, column, channel) order.

    Example:
        >>> extract_patches_3d(np.ones((10, 10, 10, 3), "float32"), 3).shape
        (3, 3, 3, 81)
    """
    return _patches(
        "extract_patches_3d",
        volumes,
        size,
        strides,
        dilation_rate,
        padding,
        data_format,
        3,
        "volumes",
    )


__all__ = public_names(globals())
