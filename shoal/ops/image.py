"""The `keras.ops.image` namespace (a small part of it): resizing, and `affine_transform`
(`image_transform.py`)."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from shoal.backend import config
from shoal.ops.core import saturate_cast
from shoal.ops.dispatch import keras_op, public_names
from shoal.ops.image_color import hsv_to_rgb as hsv_to_rgb
from shoal.ops.image_color import rgb_to_grayscale as rgb_to_grayscale
from shoal.ops.image_color import rgb_to_hsv as rgb_to_hsv
from shoal.ops.image_crop_pad import crop_images as crop_images
from shoal.ops.image_crop_pad import pad_images as pad_images
from shoal.ops.image_filters import gaussian_blur as gaussian_blur
from shoal.ops.image_filters import sobel_edges as sobel_edges
from shoal.ops.image_filters import ssim as ssim
from shoal.ops.image_patches import extract_patches as extract_patches
from shoal.ops.image_patches import extract_patches_3d as extract_patches_3d
from shoal.ops.image_transform import affine_transform as affine_transform
from shoal.ops.image_warp import elastic_transform as elastic_transform
from shoal.ops.image_warp import map_coordinates as map_coordinates
from shoal.ops.image_warp import perspective_transform as perspective_transform
from shoal.ops.image_warp import scale_and_translate as scale_and_translate
from shoal.ops.numpy import _t

_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")


def _hw_axes(images, data_format):
    """Indices of the height and width axes of a rank-3 or rank-4 image tensor."""
    if images.ndim not in (3, 4):
        raise ValueError(
            "resize: 'images' must have rank 3 (one image) or 4 (a batch); "
            f"got shape {images.shape}"
        )
    first = images.ndim - 3 if data_format == "channels_last" else images.ndim - 2
    return first, first + 1


def _crop_to_aspect(images, axes, target):
    h, w = images.shape[axes[0]], images.shape[axes[1]]
    th, tw = target
    ch = max(min(h, int(w * th / tw)), 1)
    cw = max(min(w, int(h * tw / th)), 1)
    images = jax.lax.slice_in_dim(images, (h - ch) // 2, (h - ch) // 2 + ch, axis=axes[0])
    return jax.lax.slice_in_dim(images, (w - cw) // 2, (w - cw) // 2 + cw, axis=axes[1])


def _pad_to_aspect(images, axes, target, fill_value):
    h, w = images.shape[axes[0]], images.shape[axes[1]]
    th, tw = target
    # As Keras: the same margin on both sides, so an odd deficit leaves the result one short.
    dh = (max(h, int(w * th / tw)) - h) // 2
    dw = (max(w, int(h * tw / th)) - w) // 2
    widths = [(0, 0)] * images.ndim
    if dh > 0:
        widths[axes[0]] = (dh, dh)
    elif dw > 0:
        widths[axes[1]] = (dw, dw)
    return jnp.pad(images, widths, constant_values=jnp.asarray(fill_value, images.dtype))


def _check_resize_args(owner, interpolation, fill_mode, crop_to_aspect_ratio, pad_to_aspect_ratio):
    """Raise a ValueError naming `owner` for options `resize` does not take."""
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(
            f"{owner}: argument 'interpolation' must be one of {_INTERPOLATIONS}; got "
            f"{interpolation!r}"
        )
    if fill_mode != "constant":
        raise ValueError(f"{owner}: argument 'fill_mode' must be 'constant'; got {fill_mode!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(
            f"{owner}: only one of 'crop_to_aspect_ratio' and 'pad_to_aspect_ratio' may be True"
        )


@keras_op
def resize(
    images,
    size,
    interpolation="bilinear",
    antialias=False,
    crop_to_aspect_ratio=False,
    pad_to_aspect_ratio=False,
    fill_mode="constant",
    fill_value=0.0,
    data_format=None,
):
    """Resize images to `size` = (height, width).

    `crop_to_aspect_ratio` first center-crops to the target aspect ratio;
    `pad_to_aspect_ratio` instead pads with `fill_value`.
    """
    _check_resize_args(
        "resize", interpolation, fill_mode, crop_to_aspect_ratio, pad_to_aspect_ratio
    )
    if (
        isinstance(size, (str, bytes))
        or len(size) != 2
        or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0
                   for d in size)
    ):  # fmt: skip
        raise ValueError(
            f"resize: argument 'size' must be (height, width), two positive integers; got {size!r}"
        )
    images = _t(images)
    dtype = images.dtype
    axes = _hw_axes(images, config.standardize_data_format(data_format))
    if crop_to_aspect_ratio:
        images = _crop_to_aspect(images, axes, size)
    elif pad_to_aspect_ratio:
        images = _pad_to_aspect(images, axes, size, fill_value)
    shape = list(images.shape)
    shape[axes[0]], shape[axes[1]] = int(size[0]), int(size[1])
    resized = jax.image.resize(images, tuple(shape), method=interpolation, antialias=antialias)
    if resized.dtype == dtype:
        return resized
    # As Keras: the input's dtype comes back (uint8 images stay uint8), integers rounded.
    if jnp.issubdtype(dtype, jnp.integer):
        resized = jnp.round(resized)
    return saturate_cast(resized, dtype)


_IMPORTED = [
    "affine_transform",
    "crop_images",
    "elastic_transform",
    "extract_patches",
    "extract_patches_3d",
    "gaussian_blur",
    "hsv_to_rgb",
    "map_coordinates",
    "pad_images",
    "perspective_transform",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "scale_and_translate",
    "sobel_edges",
    "ssim",
]
__all__ = sorted(public_names(globals()) + _IMPORTED)
