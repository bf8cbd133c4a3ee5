"""`keras.ops.image.pad_images` and `crop_images`: zero-pad or crop the spatial axes.

Along each axis exactly two of (before, after, target size) are given, as in Keras
(e.g. `top_padding`, `bottom_padding`, `target_height`); the third follows from the
image size. Everything is static, so both ops jit and run on symbolic tensors.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal.ops import image_args as A
from shoal.ops.dispatch import keras_op, public_names
from shoal.ops.numpy import _t


def _spatial_axes(images, data_format):
    first = images.ndim - 3 if data_format == "channels_last" else images.ndim - 2
    return first, first + 1


def _resolve(op, length, before, after, target, names):
    """(before, after) along one axis of `length`, from two of before/after/target."""
    before, after, target = (
        A.non_negative_int_or_none(op, n, v)
        for n, v in zip(names, (before, after, target), strict=True)
    )
    if [before, after, target].count(None) != 1:
        raise ValueError(
            f"{op}: exactly two of '{names[0]}', '{names[1]}', '{names[2]}' must be given, "
            f"got {names[0]}={before}, {names[1]}={after}, {names[2]}={target}"
        )
    sign = 1 if op == "pad_images" else -1  # padding grows the axis, cropping shrinks it
    if target is None:
        target = length + sign * (before + after)
    elif before is None:
        before = sign * (target - length) - after
    else:
        after = sign * (target - length) - before
    for name, value in zip(names, (before, after, target), strict=True):
        if value < 0:
            raise ValueError(
                f"{op}: '{name}' works out to {value} (must be >= 0) for an axis of "
                f"length {length}, got {names[0]}={before}, {names[1]}={after}, "
                f"{names[2]}={target}"
            )
    return before, after


@keras_op
def pad_images(
    images,
    top_padding=None,
    left_padding=None,
    bottom_padding=None,
    right_padding=None,
    target_height=None,
    target_width=None,
    data_format=None,
):
    """Pad images with zeros to a target height and width.

    Give two of `top_padding`, `bottom_padding`, `target_height`, and two of
    `left_padding`, `right_padding`, `target_width`.

    Example:
        >>> pad_images(np.ones((15, 25, 3)), 2, 3, target_height=20, target_width=30).shape
        (20, 30, 3)
    """
    data_format = A.data_format("pad_images", data_format)
    images = A.image_rank("pad_images", "images", _t(images))
    h_axis, w_axis = _spatial_axes(images, data_format)
    widths = [(0, 0)] * images.ndim
    widths[h_axis] = _resolve(
        "pad_images",
        images.shape[h_axis],
        top_padding,
        bottom_padding,
        target_height,
        ("top_padding", "bottom_padding", "target_height"),
    )
    widths[w_axis] = _resolve(
        "pad_images",
        images.shape[w_axis],
        left_padding,
        right_padding,
        target_width,
        ("left_padding", "right_padding", "target_width"),
    )
    return jnp.pad(images, widths)


@keras_op
def crop_images(
    images,
    top_cropping=None,
    left_cropping=None,
    bottom_cropping=None,
    right_cropping=None,
    target_height=None,
    target_width=None,
    data_format=None,
):
    """Crop images to a target height and width.

    Give two of `top_cropping`, `bottom_cropping`, `target_height`, and two of
    `left_cropping`, `right_cropping`, `target_width`. A crop that does not fit in the
    image is an error (Keras' JAX backend would silently shift it).

    Example:
        >>> crop_images(np.ones((3, 3, 3)), 0, 0, 2, 2).shape  # top, left, height, width
        (2, 2, 3)
    """
    data_format = A.data_format("crop_images", data_format)
    images = A.image_rank("crop_images", "images", _t(images))
    h_axis, w_axis = _spatial_axes(images, data_format)
    start, limit = [0] * images.ndim, list(images.shape)
    for axis, args, names in (
        (
            h_axis,
            (top_cropping, bottom_cropping, target_height),
            ("top_cropping", "bottom_cropping", "target_height"),
        ),
        (
            w_axis,
            (left_cropping, right_cropping, target_width),
            ("left_cropping", "right_cropping", "target_width"),
        ),
    ):
        before, after = _resolve("crop_images", images.shape[axis], *args, names)
        start[axis], limit[axis] = before, images.shape[axis] - after
    return jax.lax.slice(images, start, limit)


__all__ = public_names(globals())
