"""RandomContrast, RandomBrightness: random per-image changes of pixel values."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal.layers.augmentation.base import BaseAugmentation, factor_range, number_pair


class _ColorAugmentation(BaseAugmentation):
    """A per-image random number, (batch, 1, 1, 1), and a `value_range` to clip to."""

    _KEY = ""

    _SORT_RANGE = False

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = self._factor_range(0.0 if factor is None else factor)
        self.value_range = number_pair(self, "value_range", value_range, sort=self._SORT_RANGE)

    def _draw(self, data, training, seed, low, high):
        shape = self._shape(data)
        draw_shape = (1, 1, 1) if len(shape) == 3 else (shape[0], 1, 1, 1)
        if not training:
            return {self._KEY: jnp.zeros(draw_shape)}  # as Keras; unused at inference
        (key,) = self._keys(seed, 1)
        draw = jax.random.uniform(key, draw_shape, minval=low, maxval=high)
        return {self._KEY: draw.astype(self.compute_dtype)}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        images = self._cast(images)
        images = self._adjust(images, transformation[self._KEY].astype(images.dtype))
        return jnp.clip(images, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {
            **super().get_config(),
            "factor": self.factor,
            "value_range": self.value_range,
            "seed": self.seed,
        }


class RandomContrast(_ColorAugmentation):
    """Scales each image's deviation from its per-channel mean by a random factor while
    training, then clips to `value_range`.

    As in Keras 3, a number `factor` f draws contrast factors in [1, 1 + f] and a pair
    (lo, hi) in [1 - lo, 1 + hi]; numbers must lie in [0, 1].

    Example:
        >>> layer = RandomContrast(0.5, seed=0)
        >>> layer(np.full((4, 4, 3), 100.0), training=True)[0, 0]  # flat image: unchanged
        Array([100., 100., 100.], dtype=float32)
    """

    _KEY = "contrast_factor"

    def _factor_range(self, factor):
        return factor_range(self, "factor", factor, 0, 1)

    def get_random_transformation(self, data, training=True, seed=None):
        low, high = self.factor
        return self._draw(data, training, seed, 1.0 - low, 1.0 + high)

    def _adjust(self, images, contrast_factor):
        mean = jnp.mean(images, axis=self._hw_axes(), keepdims=True)
        return (images - mean) * contrast_factor + mean


class RandomBrightness(_ColorAugmentation):
    """Adds a random per-image delta while training, then clips to `value_range`.

    `factor` (a number f: [-f, f]; a pair: [lo, hi]; each in [-1, 1]) is the delta as a
    fraction of the width of `value_range`.

    Example:
        >>> layer = RandomBrightness(0.2, value_range=(0, 1), seed=0)
        >>> out = layer(np.full((4, 4, 3), 0.5), training=True)
        >>> bool(out.min() == out.max())  # one delta per image
        True
    """

    _KEY = "rgb_delta"
    _SORT_RANGE = True  # Keras keeps it as a sorted list

    def _factor_range(self, factor):
        return factor_range(self, "factor", factor, -1, 1)

    def get_random_transformation(self, data, training=True, seed=None):
        low, high = self.factor
        transformation = self._draw(data, training, seed, low, high)
        if training:
            scale = self.value_range[1] - self.value_range[0]
            transformation[self._KEY] = transformation[self._KEY] * scale
        return transformation

    def _adjust(self, images, rgb_delta):
        return images + rgb_delta
