"""`keras.ops.image.affine_transform`: resample images through projective transforms.

Each transform is 8 numbers `[a0, a1, a2, b0, b1, b2, c0, c1]` that map an OUTPUT pixel
`(x, y)` to the INPUT point

    x' = (a0 x + a1 y + a2) / k,   y' = (b0 x + b1 y + b2) / k,   k = c0 x + c1 y + 1,

(pixel centres at integer coordinates). The output pixel is read there with nearest or
bilinear interpolation; taps that fall outside the image are folded back in by
`fill_mode` or, for "constant", read as `fill_value`, one tap at a time as
`jax.scipy.ndimage.map_coordinates` does (what Keras' JAX backend computes).

The whole batch is one gather per interpolation tap: no per-image loop or vmap.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal.backend import config
from shoal.ops.dispatch import keras_op
from shoal.ops.numpy import _t

_INTERPOLATIONS = ("nearest", "bilinear")
_FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def _fold(index, size: int, fill_mode: str):
    """Integer source indices brought into [0, size) as `fill_mode` extends the image."""
    if fill_mode == "wrap":  # a b c d | a b c d
        return jnp.mod(index, size)
    if fill_mode == "mirror" and size > 1:  # c b | a b c d | c b  (edge not repeated)
        period = 2 * (size - 1)
        m = jnp.mod(index, period)
        return jnp.where(m < size, m, period - m)
    if fill_mode == "reflect":  # b a | a b c d | d c  (edge repeated)
        period = 2 * size
        m = jnp.mod(index, period)
        return jnp.where(m < size, m, period - 1 - m)
    # "nearest", a one-pixel "mirror", and "constant" (whose outside taps are masked anyway).
    return jnp.clip(index, 0, size - 1)


def _taps(coordinate, interpolation):
    """(integer index, weight) pairs whose weighted sum interpolates at `coordinate`."""
    if interpolation == "nearest":
        # lax.round rounds halves away from zero, as map_coordinates does (jnp.round: to even).
        return [(jax.lax.round(coordinate).astype(jnp.int32), None)]
    lower = jnp.floor(coordinate)
    upper_weight = coordinate - lower
    lower = lower.astype(jnp.int32)
    return [(lower, 1 - upper_weight), (lower + 1, upper_weight)]


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(
            f"affine_transform: argument '{name}' must be one of {allowed}, got {value!r}"
        )


def sample_points(images, src_y, src_x, interpolation, fill_mode, fill_value):
    """Read a (B, H, W, C) batch at per-image source points `src_y`, `src_x` (B, H', W'),
    as `map_coordinates` reads each channel; integer images round halves away from zero."""
    batch, height, width, _ = images.shape
    rows = jnp.arange(batch)[:, None, None]
    fill = jnp.asarray(fill_value, images.dtype)
    out = None
    for iy, wy in _taps(src_y, interpolation):
        for ix, wx in _taps(src_x, interpolation):
            value = images[rows, _fold(iy, height, fill_mode), _fold(ix, width, fill_mode)]
            if fill_mode == "constant":
                inside = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
                value = jnp.where(inside[..., None], value, fill)
            if wy is not None:
                value = (wy * wx)[..., None] * value
            out = value if out is None else out + value
    if jnp.issubdtype(images.dtype, jnp.integer) and jnp.issubdtype(out.dtype, jnp.floating):
        out = jax.lax.round(out)
    return out.astype(images.dtype)


@keras_op
def affine_transform(
    images,
    transform,
    interpolation="bilinear",
    fill_mode="constant",
    fill_value=0,
    data_format=None,
):
    """Apply projective transforms to images (rank 3: one image, rank 4: a batch).

    Args:
        images: `(batch, height, width, channels)` or `(height, width, channels)`
            (channels first with `data_format="channels_first"`).
        transform: `(8,)` or `(batch, 8)` (a batch of 1 applies to every image): each row
            `[a0, a1, a2, b0, b1, b2, c0, c1]` maps output points to input points.
        interpolation: "nearest" or "bilinear".
        fill_mode: how points outside the input are read: "constant" (`fill_value`),
            "nearest" (`a a | a b c d | d d`), "wrap" (`c d | a b c d | a b`),
            "mirror" (`c b | a b c d | c b`) or "reflect" (`b a | a b c d | d c`).
        fill_value: the value read outside the input when `fill_mode="constant"`.
        data_format: "channels_last" or "channels_first"; default from the config.

    Returns:
        The transformed images, with the shape and dtype of `images`.

    Example:
        >>> shift_right = [1, 0, -1, 0, 1, 0, 0, 0]   # output x reads input x - 1
        >>> affine_transform(np.ones((4, 4, 1)), shift_right)[:, 0, 0]  # column 0 -> fill
        Array([0., 0., 0., 0.], dtype=float32)
    """
    _check("interpolation", interpolation, _INTERPOLATIONS)
    _check("fill_mode", fill_mode, _FILL_MODES)
    data_format = config.standardize_data_format(data_format)
    images = _t(images)
    transform = _t(transform)
    if images.ndim not in (3, 4):
        raise ValueError(
            "affine_transform: 'images' must have rank 3 (one image) or 4 (a batch); "
            f"got shape {images.shape}"
        )
    if transform.ndim not in (1, 2) or transform.shape[-1] != 8:
        raise ValueError(
            "affine_transform: 'transform' must have shape (8,) or (batch, 8); "
            f"got shape {transform.shape}"
        )
    single = images.ndim == 3
    if single:
        images = images[None]
    if data_format == "channels_first":
        images = jnp.moveaxis(images, 1, -1)
    batch, height, width, _ = images.shape
    transform = jnp.atleast_2d(transform)
    if transform.shape[0] not in (1, batch):
        raise ValueError(
            f"affine_transform: 'transform' has {transform.shape[0]} rows for {batch} images; "
            "give one row per image, or one row for all"
        )
    if not jnp.issubdtype(transform.dtype, jnp.floating):
        transform = transform.astype(jnp.float32)
    transform = jnp.broadcast_to(transform, (batch, 8))

    # Source coordinates of every output pixel: (batch, height, width) each.
    a0, a1, a2, b0, b1, b2, c0, c1 = (transform[:, i, None, None] for i in range(8))
    y = jnp.arange(height, dtype=transform.dtype)[None, :, None]
    x = jnp.arange(width, dtype=transform.dtype)[None, None, :]
    k = c0 * x + c1 * y + 1
    src_x = (a0 * x + a1 * y + a2) / k
    src_y = (b0 * x + b1 * y + b2) / k

    out = sample_points(images, src_y, src_x, interpolation, fill_mode, fill_value)

    if data_format == "channels_first":
        out = jnp.moveaxis(out, -1, 1)
    return out[0] if single else out


__all__ = ["affine_transform"]  # sample_points is shared with image_warp, not public
