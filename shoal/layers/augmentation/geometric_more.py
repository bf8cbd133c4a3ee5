"""RandomShear, RandomPerspective, RandomElasticTransform: random resampling of images.

Shear and perspective are projective maps resampled by
`shoal.ops.image_transform.affine_transform`; the elastic transform reads each pixel at a
smoothly displaced point.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal.layers.augmentation import _image_ops as imops
from shoal.layers.augmentation.base import arg_error, is_number, one_of
from shoal.layers.augmentation.base_more import (
    DataAugmentation,
    keras_factor,
    value_pair,
)
from shoal.ops.image_transform import affine_transform

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("nearest", "bilinear")


def _fill_value(layer, value):
    if not is_number(value):
        raise arg_error(layer, "fill_value", "a number", value)
    return value


class RandomShear(DataAugmentation):
    """Shears each image along x and y by random amounts while training.

    `x_factor` and `y_factor` (a number f in [0, 1]: [-f, f]; or a pair) bound the shear
    coefficients; as in Keras, the two are drawn in the range and then share one random
    sign. The shear is about the top-left corner. Uncovered pixels follow `fill_mode`.

    Example:
        >>> RandomShear(x_factor=0.2, seed=0)(np.random.rand(2, 8, 8, 3)).shape
        (2, 8, 8, 3)
    """

    def __init__(
        self,
        x_factor=0.0,
        y_factor=0.0,
        interpolation="bilinear",
        fill_mode="reflect",
        fill_value=0.0,
        data_format=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.x_factor = self._factor("x_factor", x_factor)
        self.y_factor = self._factor("y_factor", y_factor)
        self.fill_mode = one_of(self, "fill_mode", fill_mode, _FILL_MODES)
        self.interpolation = one_of(self, "interpolation", interpolation, _INTERPOLATIONS)
        self.fill_value = _fill_value(self, fill_value)

    def _factor(self, arg, value):
        # Pairs may hold negative values (those are what get_config writes for a number).
        if isinstance(value, (tuple, list)):
            if len(value) != 2 or not all(is_number(v) and -1 <= v <= 1 for v in value):
                raise arg_error(self, arg, "a pair of numbers in [-1, 1]", value)
            lower, upper = sorted(value)
            return (lower, upper)
        if not is_number(value) or not 0 <= value <= 1:
            raise arg_error(self, arg, "a number in [0, 1] or a pair of numbers", value)
        return (-value, value)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        shape = self._shape(data)
        batch = shape[0] if len(shape) == 4 else 1
        sign_key, y_key, x_key = self._keys(seed, 3)
        dtype = self.compute_dtype
        sign = jnp.where(jax.random.uniform(sign_key, (batch, 1)) > 0.5, -1.0, 1.0)
        shear_y = jax.random.uniform(y_key, (batch, 1), dtype, *self.y_factor)
        shear_x = jax.random.uniform(x_key, (batch, 1), dtype, *self.x_factor)
        shear = jnp.concatenate([shear_x, shear_y], axis=1) * sign.astype(dtype)
        return {"shear_factor": shear, "input_shape": shape}

    def _transform(self, images, transformation):
        shear = jnp.asarray(transformation["shear_factor"], jnp.float32)
        ones, zeros = jnp.ones_like(shear[:, 0]), jnp.zeros_like(shear[:, 0])
        matrix = jnp.stack(
            [ones, shear[:, 0], zeros, shear[:, 1], ones, zeros, zeros, zeros], axis=1
        )
        return affine_transform(
            images,
            matrix,
            interpolation=self.interpolation,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
            data_format=self.data_format,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "x_factor": self.x_factor,
            "y_factor": self.y_factor,
            "fill_mode": self.fill_mode,
            "interpolation": self.interpolation,
            "seed": self.seed,
            "fill_value": self.fill_value,
        }


def _probability_gate(layer, keys, batch):
    """Per-image booleans: a probability drawn from `layer.factor`, then a coin."""
    probability = jax.random.uniform(
        keys[0], (batch,), minval=layer.factor[0], maxval=layer.factor[1]
    )
    return jax.random.uniform(keys[1], (batch,)) < probability


class RandomPerspective(DataAugmentation):
    """Applies a random perspective warp to each image, with a random probability, while
    training.

    Per image a probability is drawn from `factor` (a number f in [0, 1]: [0, f]; or a
    pair). The corners (x, y) of the image move to (x, y) * (1 + d) with each d uniform in
    [-scale / 2, scale / 2] (so, as in Keras, the top-left corner stays); the image is
    resampled so its corners land there. Outside points read `fill_value`.

    Example:
        >>> RandomPerspective(scale=0.5, seed=0)(np.random.rand(2, 8, 8, 3)).shape
        (2, 8, 8, 3)
    """

    def __init__(
        self,
        factor=1.0,
        scale=1.0,
        interpolation="bilinear",
        fill_value=0.0,
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = keras_factor(self, "factor", factor, 0, 1)
        if not is_number(scale) or not 0 <= scale <= 1:
            raise arg_error(self, "scale", "a number in [0, 1]", scale)
        self.scale = scale
        self.interpolation = one_of(self, "interpolation", interpolation, _INTERPOLATIONS)
        self.fill_value = _fill_value(self, fill_value)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        shape = self._shape(data)
        batch, height, width = self._size(shape)
        keys = self._keys(seed, 3)
        dtype = self.compute_dtype
        half = 0.5 * self.scale
        moves = jax.random.uniform(keys[2], (batch, 4, 2), dtype, -half, half)
        corners = [[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1], [width - 1, height - 1]]
        start = jnp.broadcast_to(jnp.asarray(corners, dtype), (batch, 4, 2))
        return {
            "apply_perspective": _probability_gate(self, keys, batch),
            "start_points": start,
            "end_points": start + start * moves,
            "input_shape": shape,
        }

    def _transform(self, images, transformation):
        # TODO: use shoal.ops.image.perspective_transform once it exists
        matrix = imops.homography(
            jnp.asarray(transformation["start_points"], jnp.float32),
            jnp.asarray(transformation["end_points"], jnp.float32),
        )
        warped = affine_transform(
            images,
            matrix,
            interpolation=self.interpolation,
            fill_mode="constant",
            fill_value=self.fill_value,
            data_format=self.data_format,
        )
        apply = jnp.asarray(transformation["apply_perspective"]).reshape(-1, 1, 1, 1)
        return jnp.where(apply, warped, images)

    def get_config(self):
        return {
            **super().get_config(),
            "factor": self.factor,
            "scale": self.scale,
            "interpolation": self.interpolation,
            "fill_value": self.fill_value,
            "seed": self.seed,
        }


class RandomElasticTransform(DataAugmentation):
    """Distorts each image by a smooth random displacement field, with a random
    probability, while training.

    Per image a probability is drawn from `factor` (a number f in [0, 1]: [0, f]; or a
    pair); one distortion strength `s` is drawn from `scale` per call. Two fields of
    standard normal noise (x and y) are smoothed by a Gaussian of sigma
    `0.05 * s * min(height, width)` and scaled to `0.1 * s * max(height, width)` pixels.
    The result is clipped to `value_range`.

    The transformation holds the noise ("dx", "dy", each (batch, height, width)) rather
    than Keras' seed: Keras 3.15 draws both fields from one key (x and y displacements are
    then equal); shoal draws them independently.

    Example:
        >>> RandomElasticTransform(scale=0.5, seed=0)(np.random.rand(2, 16, 16, 3)).shape
        (2, 16, 16, 3)
    """

    _FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")

    def __init__(
        self,
        factor=1.0,
        scale=1.0,
        interpolation="bilinear",
        fill_mode="reflect",
        fill_value=0.0,
        value_range=(0, 255),
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = keras_factor(self, "factor", factor, 0, 1)
        self.scale = keras_factor(self, "scale", scale, 0, 1)
        self.interpolation = one_of(self, "interpolation", interpolation, _INTERPOLATIONS)
        self.fill_mode = one_of(self, "fill_mode", fill_mode, self._FILL_MODES)
        self.fill_value = _fill_value(self, fill_value)
        self.value_range = value_pair(self, value_range)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training or self.scale[1] == 0 or self.factor[1] == 0:
            return None
        shape = self._shape(data)
        batch, height, width = self._size(shape)
        keys = self._keys(seed, 5)
        dtype = self.compute_dtype
        return {
            "apply_transform": _probability_gate(self, keys, batch),
            "distortion_factor": jax.random.uniform(keys[2], (), dtype, *self.scale),
            "dx": jax.random.normal(keys[3], (batch, height, width), dtype),
            "dy": jax.random.normal(keys[4], (batch, height, width), dtype),
        }

    def _transform(self, images, transformation):
        _, height, width = self._size(images.shape)
        dtype = images.dtype
        strength = transformation["distortion_factor"]
        largest = self.scale[1]
        if not isinstance(strength, jax.core.Tracer):
            largest = max(largest, float(strength))
        strength = jnp.asarray(strength, dtype)
        alpha = max(height, width) * (0.1 * strength)
        sigma = min(height, width) * (0.05 * strength)
        # Keras' kernel has int(6 sigma) | 1 taps: here a fixed size for the largest sigma,
        # with the taps beyond the (traced) sigma's half-width zeroed.
        size = int(6 * min(height, width) * 0.05 * largest) + 2 | 1
        half = jnp.floor(6 * sigma) // 2
        fields = []
        for key in ("dx", "dy"):
            noise = jnp.asarray(transformation[key], dtype)[..., None] * sigma
            smooth = imops.gaussian_blur(
                noise, (size, size), (sigma, sigma), "channels_last", (half, half)
            )
            fields.append(alpha * smooth[..., 0])
        rows = jnp.arange(height, dtype=dtype)[None, :, None]
        cols = jnp.arange(width, dtype=dtype)[None, None, :]
        warped = imops.sample(
            images,
            rows + fields[1],
            cols + fields[0],
            self.interpolation,
            self.fill_mode,
            self.fill_value,
            self.data_format,
        )
        apply = jnp.asarray(transformation["apply_transform"]).reshape(-1, 1, 1, 1)
        images = jnp.where(apply, warped, images)
        return jnp.clip(images, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {
            **super().get_config(),
            "factor": self.factor,
            "scale": self.scale,
            "interpolation": self.interpolation,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "value_range": self.value_range,
            "seed": self.seed,
        }
