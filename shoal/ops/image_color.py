"""Colour-space conversions of `keras.ops.image`: grayscale and HSV.

Images are rank 3 (one image) or rank 4 (a batch); the channel axis is the last
(`channels_last`) or the third from last (`channels_first`). HSV values are all in
[0, 1]: a hue of 0 is red, 1/3 green, 2/3 blue (the convention of dm_pix and
`tf.image`, which Keras follows).
"""

from __future__ import annotations

import jax.numpy as jnp

from shoal.ops import image_args as A
from shoal.ops.dispatch import keras_op, public_names
from shoal.ops.numpy import _t

# ITU-R 601 luma weights, as tf.image.rgb_to_grayscale (and Keras) use them.
_LUMA = (0.2989, 0.5870, 0.1140)


def _channels_axis(data_format) -> int:
    return -1 if data_format == "channels_last" else -3


def _three_channels(op, images, axis):
    if images.shape[axis] != 3:
        raise ValueError(
            f"{op}: argument 'images' must have 3 channels on axis {axis}, "
            f"got shape {tuple(images.shape)}"
        )


@keras_op
def rgb_to_grayscale(images, data_format=None):
    """Convert RGB images to grayscale: `0.2989 R + 0.5870 G + 0.1140 B`.

    Images with one channel are returned unchanged. The result keeps the input dtype
    (integer images are truncated after the weighted sum, as in Keras).

    Example:
        >>> rgb_to_grayscale(np.ones((2, 4, 4, 3), "float32")).shape
        (2, 4, 4, 1)
    """
    data_format = A.data_format("rgb_to_grayscale", data_format)
    images = A.image_rank("rgb_to_grayscale", "images", _t(images))
    axis = _channels_axis(data_format)
    if images.shape[axis] not in (1, 3):
        raise ValueError(
            f"rgb_to_grayscale: argument 'images' must have 1 or 3 channels on axis {axis}, "
            f"got shape {tuple(images.shape)}"
        )
    if images.shape[axis] == 1:
        return images
    compute = A.float_compute_dtype(images.dtype)
    weights = jnp.asarray(_LUMA, compute)
    gray = jnp.tensordot(images.astype(compute), weights, axes=([axis], [0]))
    return jnp.expand_dims(gray, axis).astype(images.dtype)


@keras_op
def rgb_to_hsv(images, data_format=None):
    """Convert float RGB images (values in [0, 1]) to HSV, all channels in [0, 1].

    Example:
        >>> rgb_to_hsv(np.array([[[1.0, 0.0, 0.0]]], "float32"))  # pure red
        Array([[[0., 1., 1.]]], dtype=float32)
    """
    data_format = A.data_format("rgb_to_hsv", data_format)
    images = A.floating("rgb_to_hsv", "images", A.image_rank("rgb_to_hsv", "images", _t(images)))
    axis = _channels_axis(data_format)
    _three_channels("rgb_to_hsv", images, axis)
    # Denormal-small inputs are treated as 0, so the hue of near-black pixels is stable.
    images = jnp.where(jnp.abs(images) < jnp.finfo(images.dtype).eps, 0.0, images)
    r, g, b = (jnp.take(images, i, axis=axis) for i in range(3))
    value = jnp.maximum(jnp.maximum(r, g), b)
    spread = value - jnp.minimum(jnp.minimum(r, g), b)
    saturation = jnp.where(value > 0, spread / jnp.where(value > 0, value, 1.0), 0.0)
    # Hue: which channel is the maximum picks the sextant; red wins ties, then green.
    scale = 1.0 / (6.0 * jnp.where(spread > 0, spread, 1.0))
    hue = jnp.where(value == g, scale * (b - r) + 1.0 / 3.0, scale * (r - g) + 2.0 / 3.0)
    hue = jnp.where(value == r, scale * (g - b), hue)
    hue = jnp.where(spread > 0, hue, 0.0) + (hue < 0.0).astype(hue.dtype)
    return jnp.stack([hue, saturation, value], axis=axis).astype(images.dtype)


@keras_op
def hsv_to_rgb(images, data_format=None):
    """Convert float HSV images (all channels in [0, 1]) to RGB.

    Example:
        >>> hsv_to_rgb(np.array([[[2 / 3, 1.0, 1.0]]], "float32"))  # pure blue
    """
    data_format = A.data_format("hsv_to_rgb", data_format)
    images = A.floating("hsv_to_rgb", "images", A.image_rank("hsv_to_rgb", "images", _t(images)))
    axis = _channels_axis(data_format)
    _three_channels("hsv_to_rgb", images, axis)
    hue, saturation, value = (jnp.take(images, i, axis=axis) for i in range(3))
    sextant = jnp.mod(hue, 1.0) * 6.0
    # Each channel's share is a clipped triangle wave of the hue.
    red = jnp.clip(jnp.abs(sextant - 3.0) - 1.0, 0.0, 1.0)
    green = jnp.clip(2.0 - jnp.abs(sextant - 2.0), 0.0, 1.0)
    blue = jnp.clip(2.0 - jnp.abs(sextant - 4.0), 0.0, 1.0)
    grey = 1.0 - saturation
    channels = [value * (grey + saturation * share) for share in (red, green, blue)]
    return jnp.stack(channels, axis=axis).astype(images.dtype)


__all__ = public_names(globals())
