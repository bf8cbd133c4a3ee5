"""RandomErasing: fill a random box of each image, with a random probability."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal.layers.augmentation import _image_ops as imops
from shoal.layers.augmentation.base import arg_error, is_number
from shoal.layers.augmentation.base_more import DataAugmentation, keras_factor, value_pair


class RandomErasing(DataAugmentation):
    """Overwrites a random box of each image, with a random probability, while training.

    Per image an erasing probability is drawn from `factor` (a number f in [0, 1]:
    [0, f]; or a pair); the box's width and height are `sqrt(u) * size` with `u` drawn
    from `scale` (a fraction of each side's length squared), at a uniform position. The box
    is filled with `fill_value` (a number, or one number per channel), or with Gaussian
    noise of standard deviation `value_range[1]` when None, clipped to `value_range`.

    Example:
        >>> RandomErasing(seed=0)(np.random.rand(2, 8, 8, 3) * 255).shape
        (2, 8, 8, 3)
    """

    def __init__(
        self,
        factor=1.0,
        scale=(0.02, 0.33),
        fill_value=None,
        value_range=(0, 255),
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = keras_factor(self, "factor", factor, 0, 1)
        self.scale = keras_factor(self, "scale", scale, 0, 1)
        if fill_value is not None and not is_number(fill_value):
            if not (
                isinstance(fill_value, (tuple, list))
                and len(fill_value) == 3
                and all(is_number(v) for v in fill_value)
            ):
                raise arg_error(self, "fill_value", "None, a number or 3 numbers", fill_value)
        self.fill_value = fill_value
        self.value_range = value_pair(self, value_range)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        shape = self._shape(data)
        batch, height, width = self._size(shape)
        keys = self._keys(seed, 6)
        dtype = self.compute_dtype
        sides = jnp.sqrt(jax.random.uniform(keys[0], (batch, 2), dtype, *self.scale))

        def bounds(key, length, ratio):
            crop = ratio * length
            start = jax.random.uniform(key, (batch,), dtype) * (length - crop)
            return start, start + crop

        x0, x1 = bounds(keys[1], width, sides[:, 0])
        y0, y1 = bounds(keys[2], height, sides[:, 1])
        probability = jax.random.uniform(
            keys[3], (batch,), minval=self.factor[0], maxval=self.factor[1]
        )
        return {
            "apply_erasing": jax.random.uniform(keys[4], (batch,)) < probability,
            "batch_masks": imops.box_masks(shape, x0, x1, y0, y1, self.data_format, dtype),
            "fill_value": self._fill(shape, keys[5]),
        }

    def _fill(self, shape, key):
        dtype = self.compute_dtype
        if self.fill_value is None:
            fill = jax.random.normal(key, shape, dtype) * self.value_range[1]
        elif is_number(self.fill_value):
            fill = jnp.full(shape, self.fill_value, dtype)
        else:
            per_channel = jnp.asarray(self.fill_value, dtype)
            if self.data_format == "channels_first":
                per_channel = per_channel[:, None, None]
            fill = jnp.broadcast_to(per_channel, shape)
        return jnp.clip(fill, self.value_range[0], self.value_range[1])

    def _transform(self, images, transformation):
        fill = jnp.asarray(transformation["fill_value"], images.dtype)
        erased = jnp.where(transformation["batch_masks"], fill, images)
        apply = jnp.asarray(transformation["apply_erasing"]).reshape(-1, 1, 1, 1)
        return jnp.where(apply, erased, images)

    def get_config(self):
        return {
            **super().get_config(),
            "factor": self.factor,
            "scale": self.scale,
            "fill_value": self.fill_value,
            "value_range": self.value_range,
            "seed": self.seed,
        }
