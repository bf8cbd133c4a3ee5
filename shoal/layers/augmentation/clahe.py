"""ContrastLimitedAdaptiveHistogramEqualization: CLAHE, histogram equalization per tile
with the histogram clipped, blended between neighbouring tiles (not random; applied at
inference too, as Keras)."""

from __future__ import annotations

import functools
import numbers

import jax
import jax.numpy as jnp

from shoal.layers.augmentation import _image_ops as imops
from shoal.layers.augmentation.base import arg_error, is_number
from shoal.layers.augmentation.base_more import DataAugmentation, value_pair

LEVELS = 256  # histogram bins: the 8-bit levels of [0, 255]


class ContrastLimitedAdaptiveHistogramEqualization(DataAugmentation):
    """Equalizes each channel over a `tile_grid_size` grid of tiles, each tile's histogram
    of 8-bit levels clipped at `clip_limit` times its mean count (the excess spread over
    all levels; `clip_limit=0` does not clip); a pixel's value is the bilinear blend of the
    four nearest tiles' equalization curves, as Keras 3 computes it. Values are read in
    `value_range`; integer images come back in their own dtype.

    Example:
        >>> layer = ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(2, 2))
        >>> layer(np.random.randint(0, 256, (1, 16, 16, 3))).shape
        (1, 16, 16, 3)
    """

    _APPLY_AT_INFERENCE = True
    _NONE_APPLIES = True

    def __init__(
        self,
        value_range=(0, 255),
        clip_limit=4.0,
        tile_grid_size=(8, 8),
        data_format=None,
        **kwargs,
    ):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = value_pair(self, value_range)
        if not is_number(clip_limit) or clip_limit < 0:
            raise arg_error(self, "clip_limit", "a number >= 0", clip_limit)
        self.clip_limit = clip_limit
        if (
            not isinstance(tile_grid_size, (tuple, list))
            or len(tile_grid_size) != 2
            or not all(
                isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0
                for n in tile_grid_size
            )
        ):
            raise arg_error(self, "tile_grid_size", "a pair of positive integers", tile_grid_size)
        self.tile_grid_size = tuple(int(n) for n in tile_grid_size)

    def get_random_transformation(self, data, training=True, seed=None):
        return None

    def transform_images(self, images, transformation, training=True):
        dtype = jnp.asarray(images).dtype
        out = super().transform_images(images, transformation, training=training)
        return out if jnp.issubdtype(dtype, jnp.floating) else out.astype(dtype)

    def _transform(self, images, transformation):
        channels_first = self.data_format == "channels_first"
        if channels_first:
            images = jnp.transpose(images, (0, 2, 3, 1))
        images = imops.to_range(images.astype(jnp.float32), self.value_range, (0, 255))
        equalized = equalize(images, self.tile_grid_size, float(self.clip_limit))
        images = imops.to_range(equalized, (0, 255), self.value_range)
        return jnp.transpose(images, (0, 3, 1, 2)) if channels_first else images

    def get_config(self):
        return {
            **super().get_config(),
            "value_range": self.value_range,
            "clip_limit": self.clip_limit,
            "tile_grid_size": self.tile_grid_size,
        }


def _curves(levels, grid, clip_limit, tile_h, tile_w):
    """Each tile's equalization curve, (batch, rows, cols, channels, LEVELS), from the
    padded images' integer levels."""
    batch, _, _, channels = levels.shape
    rows, cols = grid
    tiles = levels.reshape(batch, rows, tile_h, cols, tile_w, channels)
    tiles = tiles.transpose(0, 1, 3, 5, 2, 4).reshape(-1, tile_h * tile_w)
    counts = jnp.zeros((tiles.shape[0], LEVELS), jnp.float32)
    counts = counts.at[jnp.arange(tiles.shape[0])[:, None], tiles].add(1.0)
    area = tile_h * tile_w
    if clip_limit > 0:
        clipped = jnp.minimum(counts, jnp.float32(clip_limit * area / LEVELS))
        excess = jnp.sum(counts - clipped, axis=-1, keepdims=True)
        counts = clipped + excess / LEVELS
    cdf = jnp.cumsum(counts, axis=-1)
    lowest = jnp.min(cdf, axis=-1, keepdims=True)
    spread = area - lowest
    curves = (cdf - lowest) * 255.0 / jnp.where(spread == 0, 1.0, spread)
    return jnp.clip(curves, 0, 255).reshape(batch, rows, cols, channels, LEVELS)


@functools.partial(jax.jit, static_argnums=(1, 2))
def equalize(images, grid, clip_limit):
    """Rank-4 channels-last images in [0, 255] -> CLAHE over a `grid` (rows, cols) of
    tiles, in [0, 255]. Jitted: one compilation per shape instead of one per operation in
    eager calls."""
    batch, height, width, channels = images.shape
    rows, cols = grid
    tile_h, tile_w = -(-height // rows), -(-width // cols)
    pad = ((0, 0), (0, tile_h * rows - height), (0, tile_w * cols - width), (0, 0))
    padded = jnp.pad(images, pad, mode="symmetric")
    levels = jnp.clip(padded.astype(jnp.int32), 0, LEVELS - 1)
    curves = _curves(levels, grid, clip_limit, tile_h, tile_w)
    # One tile more on every side (copies of the edge tiles): pixels near the border
    # blend an edge tile with itself.
    curves = jnp.pad(curves, ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0)), mode="edge")

    def neighbours(tile, count):
        """Per padded pixel along one axis: the lower and upper tile, the weight."""
        position = (jnp.arange(tile * count, dtype=jnp.float32) - tile / 2.0) / tile + 1.0
        low = jnp.floor(position)
        weight = position - low
        clamp = lambda v: jnp.clip(v, 0, count + 1).astype(jnp.int32)  # noqa: E731
        return clamp(low), clamp(low + 1.0), weight

    y0, y1, wy = neighbours(tile_h, rows)
    x0, x1, wx = neighbours(tile_w, cols)
    b = jnp.arange(batch)[:, None, None, None]
    c = jnp.arange(channels)[None, None, None, :]

    def curve_at(ys, xs):
        return curves[b, ys[None, :, None, None], xs[None, None, :, None], c, levels]

    wx, wy = wx[None, None, :, None], wy[None, :, None, None]
    top = curve_at(y0, x0) * (1.0 - wx) + curve_at(y0, x1) * wx
    bottom = curve_at(y1, x0) * (1.0 - wx) + curve_at(y1, x1) * wx
    blended = top * (1.0 - wy) + bottom * wy
    return blended[:, :height, :width, :]
