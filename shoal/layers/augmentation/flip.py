"""RandomFlip: mirror images left-right and/or top-bottom."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal.layers.augmentation.base import BaseAugmentation, one_of

HORIZONTAL = "horizontal"
VERTICAL = "vertical"
HORIZONTAL_AND_VERTICAL = "horizontal_and_vertical"
_MODES = (HORIZONTAL, VERTICAL, HORIZONTAL_AND_VERTICAL)


class RandomFlip(BaseAugmentation):
    """Flips each image with probability 1/2 while training.

    `mode` is "horizontal" (left-right), "vertical" (top-bottom) or
    "horizontal_and_vertical". As in Keras 3, one coin is tossed per image: in
    "horizontal_and_vertical" mode a flipped image is flipped both ways.

    Example:
        >>> layer = RandomFlip("horizontal", seed=1)
        >>> layer(np.ones((2, 8, 8, 3)), training=False).shape  # identity at inference
        (2, 8, 8, 3)
    """

    def __init__(self, mode=HORIZONTAL_AND_VERTICAL, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.mode = one_of(self, "mode", mode, _MODES)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        shape = self._shape(data)
        flips_shape = (1, 1, 1) if len(shape) == 3 else (shape[0], 1, 1, 1)
        (key,) = self._keys(seed, 1)
        flips = jax.random.uniform(key, flips_shape) <= 0.5
        return {"flips": flips, "input_shape": shape}

    def transform_images(self, images, transformation, training=True):
        images = self._cast(images)
        if not training or transformation is None:
            return images
        flips = transformation["flips"]
        h_axis, w_axis = self._hw_axes()
        if self.mode in (HORIZONTAL, HORIZONTAL_AND_VERTICAL):
            images = jnp.where(flips, jnp.flip(images, w_axis), images)
        if self.mode in (VERTICAL, HORIZONTAL_AND_VERTICAL):
            images = jnp.where(flips, jnp.flip(images, h_axis), images)
        return images

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "mode": self.mode}
