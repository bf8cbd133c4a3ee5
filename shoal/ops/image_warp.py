"""Resampling ops of `keras.ops.image`: map_coordinates, perspective_transform,
elastic_transform and scale_and_translate.

All read the input at fractional source coordinates with nearest or (multi)linear
interpolation, pixel centres at integer coordinates, and fold outside points back in
by a `fill_mode` (see `image_transform`, whose `affine_transform` does the projective
case). `scale_and_translate` is `jax.image.scale_and_translate`, whose pixel centres
are at half-integers, as in Keras.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from shoal import random as shoal_random
from shoal.ops import image_args as A
from shoal.ops.dispatch import keras_op, public_names
from shoal.ops.image_filters import gaussian_blur
from shoal.ops.image_transform import _FILL_MODES, _INTERPOLATIONS, _fold, _taps, sample_points
from shoal.ops.image_transform import affine_transform as _affine_transform
from shoal.ops.numpy import _t

_ORDERS = {"nearest": 0, "bilinear": 1}
_SCALE_METHODS = (
    "linear",
    "bilinear",
    "trilinear",
    "cubic",
    "bicubic",
    "tricubic",
    "lanczos3",
    "lanczos5",
)


def _round_like(out, dtype):
    """`out` cast to `dtype`; integer results round half away from zero first."""
    if jnp.issubdtype(dtype, jnp.integer) and jnp.issubdtype(out.dtype, jnp.floating):
        out = jax.lax.round(out)
    return out.astype(dtype)


@keras_op
def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """Read `inputs` at `coordinates` (one row of coordinates per input axis).

    Args:
        inputs: an array of any rank `r`.
        coordinates: `(r, ...)`: `coordinates[i]` indexes axis `i`; the output has
            shape `coordinates.shape[1:]`.
        order: 0 (nearest) or 1 (linear).
        fill_mode: "constant", "nearest", "wrap", "mirror" or "reflect" (see
            `affine_transform`).
        fill_value: the value read outside `inputs` when `fill_mode="constant"`.

    Example:
        >>> map_coordinates(np.arange(4.0), [[0.5, 2.25]], order=1)
        Array([0.5 , 2.25], dtype=float32)
    """
    if order not in (0, 1) or isinstance(order, bool):
        raise ValueError(f"map_coordinates: argument 'order' must be 0 or 1, got {order!r}")
    A.choice("map_coordinates", "fill_mode", fill_mode, _FILL_MODES)
    inputs = _t(inputs)
    coordinates = _t(coordinates)
    if coordinates.ndim < 2 or coordinates.shape[0] != inputs.ndim:
        raise ValueError(
            "map_coordinates: argument 'coordinates' must have rank >= 2 and one row per "
            f"axis of 'inputs' (shape ({inputs.ndim}, ...)), got shape "
            f"{tuple(coordinates.shape)} for inputs of shape {tuple(inputs.shape)}"
        )
    if not jnp.issubdtype(coordinates.dtype, jnp.floating):
        coordinates = coordinates.astype(A.float_compute_dtype(inputs.dtype))
    taps_per_axis = [_taps(c, "nearest" if order == 0 else "bilinear") for c in coordinates]
    fill = jnp.asarray(fill_value, inputs.dtype)
    out = None
    for taps in _product(taps_per_axis):
        index = tuple(_fold(i, n, fill_mode) for (i, _), n in zip(taps, inputs.shape, strict=True))
        value = inputs[index]
        if fill_mode == "constant":
            inside = jnp.ones(value.shape, bool)
            for (i, _), n in zip(taps, inputs.shape, strict=True):
                inside &= (i >= 0) & (i < n)
            value = jnp.where(inside, value, fill)
        weights = [w for _, w in taps if w is not None]
        if weights:
            weight = weights[0]
            for w in weights[1:]:
                weight = weight * w
            value = weight * value
        out = value if out is None else out + value
    return _round_like(out, inputs.dtype)


def _product(lists):
    combos = [[]]
    for options in lists:
        combos = [c + [o] for c in combos for o in options]
    return combos


def _homographies(start_points, end_points):
    """(N, 8) transforms mapping each `end_points` quad onto its `start_points` quad."""
    sx, sy = start_points[..., 0], start_points[..., 1]
    ex, ey = end_points[..., 0], end_points[..., 1]
    zero, one = jnp.zeros_like(ex), jnp.ones_like(ex)
    # Unknowns [a0 a1 a2 b0 b1 b2 c0 c1]; from x_s (c0 x_e + c1 y_e + 1) = a0 x_e + ...
    x_rows = jnp.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], axis=-1)
    y_rows = jnp.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], axis=-1)
    system = jnp.concatenate([x_rows, y_rows], axis=-2)
    rhs = jnp.concatenate([sx, sy], axis=-1)[..., None]
    return jnp.linalg.solve(system, rhs)[..., 0]


def _points(name, points):
    points = _t(points)
    if points.ndim not in (2, 3) or tuple(points.shape[-2:]) != (4, 2):
        raise ValueError(
            f"perspective_transform: argument '{name}' must have shape (4, 2) or (N, 4, 2), "
            f"got shape {tuple(points.shape)}"
        )
    return points.reshape(-1, 4, 2).astype(jnp.float32)


@keras_op
def perspective_transform(
    images, start_points, end_points, interpolation="bilinear", fill_value=0, data_format=None
):
    """Warp images so that the quad `start_points` lands on the quad `end_points`.

    Points are `(x, y)` corners, `(4, 2)` for all images or `(N, 4, 2)` per image.
    Pixels read from outside the input are `fill_value`.

    Example:
        >>> corners = [[0, 0], [0, 8], [8, 0], [8, 8]]
        >>> perspective_transform(np.ones((8, 8, 1)), corners, corners).shape
        (8, 8, 1)
    """
    A.choice("perspective_transform", "interpolation", interpolation, _INTERPOLATIONS)
    data_format = A.data_format("perspective_transform", data_format)
    images = A.image_rank("perspective_transform", "images", _t(images))
    start_points, end_points = _t(start_points), _t(end_points)
    start, end = _points("start_points", start_points), _points("end_points", end_points)
    if start_points.shape != end_points.shape:
        raise ValueError(
            "perspective_transform: arguments 'start_points' and 'end_points' must have the "
            f"same shape, got {tuple(start_points.shape)} and {tuple(end_points.shape)}"
        )
    batch = 1 if images.ndim == 3 else images.shape[0]
    if start.shape[0] not in (1, batch):
        raise ValueError(
            "perspective_transform: argument 'start_points' must hold 1 quad or one per "
            f"image ({batch}), got {start.shape[0]} quads"
        )
    transform = _homographies(start, end)
    if images.ndim == 3:
        transform = transform[0]
    return _affine_transform(images, transform, interpolation, "constant", fill_value, data_format)


def _elastic_warp(
    images, noise_x, noise_y, alpha, sigma, interpolation, fill_mode, fill_value, data_format
):
    """The deterministic part of `elastic_transform`, given (B, H, W) standard normal noise."""
    single = images.ndim == 3
    x = images[None] if single else images
    if data_format == "channels_first":
        x = jnp.moveaxis(x, 1, -1)
    dtype = noise_x.dtype
    size = int(6 * float(sigma)) | 1  # an odd kernel spanning +-3 sigma
    sigma = jnp.asarray(sigma, dtype)

    def smooth(noise):
        blurred = gaussian_blur(
            (noise * sigma)[..., None], (size, size), (sigma, sigma), "channels_last"
        )
        return blurred[..., 0]

    alpha = jnp.asarray(alpha, dtype)
    grid_y = jnp.arange(x.shape[1])[None, :, None]
    grid_x = jnp.arange(x.shape[2])[None, None, :]
    src_x = grid_x + alpha * smooth(noise_x)
    src_y = grid_y + alpha * smooth(noise_y)
    out = sample_points(x, src_y, src_x, interpolation, fill_mode, fill_value)
    if data_format == "channels_first":
        out = jnp.moveaxis(out, -1, 1)
    return out[0] if single else out


def _check_seed(seed):
    if seed is None or isinstance(seed, shoal_random.SeedGenerator):
        return
    if A.is_int(seed):
        return
    if hasattr(seed, "dtype") and jnp.issubdtype(seed.dtype, jax.dtypes.prng_key):
        return
    raise ValueError(
        "elastic_transform: argument 'seed' must be None, an int, a SeedGenerator or a "
        f"PRNG key, got {seed!r}"
    )


@keras_op
def elastic_transform(
    images,
    alpha=20.0,
    sigma=5.0,
    interpolation="bilinear",
    fill_mode="reflect",
    fill_value=0.0,
    seed=None,
    data_format=None,
):
    """Deform images by a random, smooth displacement field.

    Each pixel reads the input at its position plus `alpha` times a displacement
    drawn from `sigma * N(0, 1)` and blurred by a Gaussian of standard deviation
    `sigma` (kernel `int(6 sigma) | 1` wide), one field per image, shared by its
    channels. `seed` follows `shoal.random`: None (the global stream, or the step's
    key inside `fit`), an int, a `SeedGenerator` or a PRNG key.

    Example:
        >>> elastic_transform(np.ones((2, 16, 16, 3), "float32"), seed=1).shape
        (2, 16, 16, 3)
    """
    A.choice("elastic_transform", "interpolation", interpolation, _INTERPOLATIONS)
    A.choice("elastic_transform", "fill_mode", fill_mode, _FILL_MODES)
    for name, value in (("alpha", alpha), ("sigma", sigma)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value >= 0:
            raise ValueError(
                f"elastic_transform: argument '{name}' must be a number >= 0, got {value!r}"
            )
    _check_seed(seed)
    data_format = A.data_format("elastic_transform", data_format)
    images = A.image_rank("elastic_transform", "images", _t(images))
    batch = 1 if images.ndim == 3 else images.shape[0]
    spatial = images.shape[-3:-1] if data_format == "channels_last" else images.shape[-2:]
    dtype = A.float_compute_dtype(images.dtype)
    key_x, key_y = jax.random.split(shoal_random._key(seed))
    noise_x = jax.random.normal(key_x, (batch, *spatial), dtype)
    noise_y = jax.random.normal(key_y, (batch, *spatial), dtype)
    return _elastic_warp(
        images, noise_x, noise_y, alpha, sigma, interpolation, fill_mode, fill_value, data_format
    )


@keras_op
def scale_and_translate(
    images, output_shape, scale, translation, spatial_dims, method, antialias=True
):
    """Resample `images` to `output_shape`, scaling and shifting `spatial_dims`.

    An input point `x` along spatial axis `k` lands at `x * scale[k] + translation[k]`
    in the output (pixel centres at half-integers); output points that come from
    outside the input are zero. `method` is one of "linear", "bilinear", "trilinear",
    "cubic", "bicubic", "tricubic", "lanczos3", "lanczos5"; `antialias` widens the
    kernel when downsampling.

    Example:
        >>> x = np.arange(9.0, dtype="float32").reshape(3, 3)
        >>> scale_and_translate(x, (5, 5), [2.0, 2.0], [-1.0, -1.0], (0, 1), "linear")
    """
    A.choice("scale_and_translate", "method", method, _SCALE_METHODS)
    images = _t(images)
    if (
        not isinstance(output_shape, (tuple, list))
        or len(output_shape) != images.ndim
        or not all(A.is_int(d) and d >= 0 for d in output_shape)
    ):
        raise ValueError(
            f"scale_and_translate: argument 'output_shape' must be {images.ndim} ints >= 0 "
            f"(one per axis of 'images'), got {output_shape!r}"
        )
    if not isinstance(spatial_dims, (tuple, list)) or not all(
        A.is_int(d) and -images.ndim <= d < images.ndim for d in spatial_dims
    ):
        raise ValueError(
            "scale_and_translate: argument 'spatial_dims' must be a tuple of axes of "
            f"'images' (rank {images.ndim}), got {spatial_dims!r}"
        )
    dtype = A.float_compute_dtype(images.dtype)
    scale, translation = _t(scale).astype(dtype), _t(translation).astype(dtype)
    for name, value in (("scale", scale), ("translation", translation)):
        if value.shape != (len(spatial_dims),):
            raise ValueError(
                f"scale_and_translate: argument '{name}' must have shape "
                f"({len(spatial_dims)},) (one entry per spatial dim), got shape "
                f"{tuple(value.shape)}"
            )
    return jax.image.scale_and_translate(
        images,
        tuple(int(d) for d in output_shape),
        tuple(int(d) for d in spatial_dims),
        scale,
        translation,
        method,
        antialias,
    )


__all__ = public_names(globals())
