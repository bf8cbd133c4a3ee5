"""RandomRotation, RandomZoom, RandomTranslation: random affine resampling of images.

Each draws per-image parameters, turns them into an 8-number transform (output pixel ->
input point) and resamples with `shoal.ops.image_transform.affine_transform`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from shoal.layers.augmentation.base import (
    BaseAugmentation,
    arg_error,
    factor_range,
    is_number,
    one_of,
)
from shoal.ops.image_transform import affine_transform

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("nearest", "bilinear")


def rotation_matrix(angle, height, width):
    """Transforms rotating images by `angle` degrees (one per image) about their centre."""
    angle = jnp.asarray(angle, jnp.float32) * (math.pi / 180.0)
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    zeros = jnp.zeros_like(angle)
    # Fixing the centre: input = R (output - c) + c.
    columns = [cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos]
    return jnp.stack(columns + [zeros, zeros], axis=-1)


class _AffineAugmentation(BaseAugmentation):
    """Shared arguments and resampling of the affine layers."""

    def __init__(
        self,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.fill_mode = one_of(self, "fill_mode", fill_mode, _FILL_MODES)
        self.interpolation = one_of(self, "interpolation", interpolation, _INTERPOLATIONS)
        if not is_number(fill_value):
            raise arg_error(self, "fill_value", "a number", fill_value)
        self.fill_value = fill_value

    def transform_images(self, images, transformation, training=True):
        images = self._cast(images)
        if not training or transformation is None:
            return images
        _, height, width = self._size(images.shape)
        return affine_transform(
            images,
            self._matrix(transformation, height, width),
            interpolation=self.interpolation,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
            data_format=self.data_format,
        )

    def _matrix(self, transformation, height, width):
        raise NotImplementedError

    def get_config(self):
        return {
            **super().get_config(),
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "interpolation": self.interpolation,
            "seed": self.seed,
        }


class RandomRotation(_AffineAugmentation):
    """Rotates each image by a random angle while training.

    `factor` is a fraction of a full turn: a number f draws angles in
    [-f * 360, f * 360] degrees, a pair (lo, hi) in [lo * 360, hi * 360]; positive
    angles rotate counter-clockwise. Uncovered pixels follow `fill_mode`
    ("reflect", "wrap", "constant" with `fill_value`, "nearest").

    Example:
        >>> layer = RandomRotation(0.1, fill_mode="constant", seed=0)
        >>> layer(np.ones((8, 8, 3)), training=True).shape
        (8, 8, 3)
    """

    def __init__(
        self,
        factor,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format=None,
        **kwargs,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = factor_range(self, "factor", 0.0 if factor is None else factor, -1, 1)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        shape = self._shape(data)
        batch, height, width = self._size(shape)
        (key,) = self._keys(seed, 1)
        low, high = self.factor
        angle = jax.random.uniform(key, (batch,), minval=low * 360.0, maxval=high * 360.0)
        matrix = rotation_matrix(angle, height, width)
        return {
            "angle": angle,
            "rotation_matrix": matrix[0] if len(shape) == 3 else matrix,
            "image_height": height,
            "image_width": width,
            "batch_size": batch,
        }

    def _matrix(self, transformation, height, width):
        return transformation["rotation_matrix"]

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class _ShiftScaleAugmentation(_AffineAugmentation):
    """Zoom and translation: independent height and width factors."""

    _LOW_OPEN = False  # True excludes -1 (zoom: a zero-size view)
    _WIDTH_OPTIONAL = False  # True lets a missing width factor follow the height (zoom)

    def __init__(
        self,
        height_factor,
        width_factor,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format=None,
        **kwargs,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = height_factor
        self.width_factor = width_factor
        self.height_range = self._factor("height_factor", height_factor)
        self.width_range = None
        if width_factor is not None or not self._WIDTH_OPTIONAL:
            self.width_range = self._factor("width_factor", width_factor)

    def _factor(self, arg, value):
        return factor_range(self, arg, value, -1, 1, low_open=self._LOW_OPEN)

    def _draw(self, data, seed, offset):
        """Per-image (batch, 1) draws for height and width, shifted by `offset`."""
        shape = self._shape(data)
        batch = shape[0] if len(shape) == 4 else 1
        keys = self._keys(seed, 2)
        h_low, h_high = self.height_range
        height = jax.random.uniform(
            keys[0], (batch, 1), minval=offset + h_low, maxval=offset + h_high
        )
        if self.width_range is None:
            return shape, height, height
        w_low, w_high = self.width_range
        width = jax.random.uniform(
            keys[1], (batch, 1), minval=offset + w_low, maxval=offset + w_high
        )
        return shape, height, width

    def get_config(self):
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
        }


def _rows(*columns):
    """(batch, 8) transforms from (batch, 1) columns and Python numbers."""
    batch = next(c for c in columns if not isinstance(c, (int, float))).shape[0]
    columns = [
        jnp.full((batch, 1), c, jnp.float32) if isinstance(c, (int, float)) else c for c in columns
    ]
    return jnp.concatenate(columns, axis=1).astype(jnp.float32)


class RandomZoom(_ShiftScaleAugmentation):
    """Zooms each image in or out by a random amount while training.

    `height_factor` (a number f: [-f, f]; a pair: [lo, hi]; each in (-1, 1]) is the
    relative change of the visible height: positive zooms out, negative zooms in.
    `width_factor` likewise; None (default) keeps the aspect ratio.

    Example:
        >>> layer = RandomZoom(0.2, seed=0)
        >>> layer(np.ones((2, 8, 8, 3)), training=True).shape
        (2, 8, 8, 3)
    """

    _LOW_OPEN = True
    _WIDTH_OPTIONAL = True

    def __init__(
        self,
        height_factor,
        width_factor=None,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format=None,
        **kwargs,
    ):
        super().__init__(
            height_factor,
            width_factor,
            fill_mode,
            interpolation,
            seed,
            fill_value,
            data_format,
            **kwargs,
        )

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        shape, height_zoom, width_zoom = self._draw(data, seed, offset=1.0)
        return {"height_zoom": height_zoom, "width_zoom": width_zoom, "input_shape": shape}

    def _matrix(self, transformation, height, width):
        # Scale about the image centre: input = z * (output - c) + c.
        zx = jnp.asarray(transformation["width_zoom"], jnp.float32)
        zy = jnp.asarray(transformation["height_zoom"], jnp.float32)
        x_offset = (width - 1.0) / 2.0 * (1.0 - zx)
        y_offset = (height - 1.0) / 2.0 * (1.0 - zy)
        return _rows(zx, 0.0, x_offset, 0.0, zy, y_offset, 0.0, 0.0)


class RandomTranslation(_ShiftScaleAugmentation):
    """Shifts each image by a random offset while training.

    `height_factor` and `width_factor` (a number f: [-f, f]; a pair: [lo, hi]; each in
    [-1, 1]) are fractions of the image height and width; positive moves down / right.

    Example:
        >>> layer = RandomTranslation(0.1, 0.1, seed=0)
        >>> layer(np.ones((2, 8, 8, 3)), training=True).shape
        (2, 8, 8, 3)
    """

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        shape, dy, dx = self._draw(data, seed, offset=0.0)
        _, height, width = self._size(shape)
        translations = jnp.concatenate([dx * width, dy * height], axis=1)
        return {"translations": translations, "input_shape": shape}

    def _matrix(self, transformation, height, width):
        shift = jnp.asarray(transformation["translations"], jnp.float32)
        return _rows(1.0, 0.0, -shift[:, 0:1], 0.0, 1.0, -shift[:, 1:2], 0.0, 0.0)
