"""Tone curves: RandomPosterization, Solarization (random, while training), AutoContrast
(always) and Equalization (while training, not random)."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from shoal.layers.augmentation import _image_ops as imops
from shoal.layers.augmentation.base import arg_error, is_number
from shoal.layers.augmentation.base_more import DataAugmentation, keras_factor, value_pair


class RandomPosterization(DataAugmentation):
    """Keeps only the top `bits` bits of each 8-bit pixel value while training.

    `factor` (a number f in [1, 8]: [1, f]; or a pair) bounds the bits kept; per image an
    integer is drawn from [low, high) (just `low` when they are equal), as Keras draws it.
    Pixels are read in `value_range` and mapped to [0, 255] for the cut.

    Example:
        >>> RandomPosterization(4, seed=0)(np.random.rand(2, 8, 8, 3) * 255).shape
        (2, 8, 8, 3)
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = keras_factor(self, "factor", factor, 1, 8)
        self.value_range = value_pair(self, value_range, sort=True)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        batch = self._batch(data)
        low, high = (int(v) for v in self.factor)
        if low != high:
            (key,) = self._keys(seed, 1)
            bits = jax.random.randint(key, (batch,), low, high).astype(jnp.uint8)
        else:
            bits = jnp.full((batch,), low, jnp.uint8)
        return {"shift_factor": 8 - bits}

    def _transform(self, images, transformation):
        shift = jnp.asarray(transformation["shift_factor"], jnp.uint8).reshape(-1, 1, 1, 1)
        pixels = imops.to_range(images, self.value_range, (0, 255)).astype(jnp.uint8)
        pixels = jnp.left_shift(jnp.right_shift(pixels, shift), shift)
        return imops.to_range(pixels.astype(images.dtype), (0, 255), self.value_range)

    def get_config(self):
        return {
            **super().get_config(),
            "factor": self.factor,
            "value_range": self.value_range,
            "seed": self.seed,
        }


class Solarization(DataAugmentation):
    """Adds a random amount to each image, then inverts the pixels above a random threshold,
    while training.

    `addition_factor` and `threshold_factor` (a number f in [0, 1]: [0, f]; a pair
    [lo, hi] in [0, 1]) are fractions of 255: per image an addition and a threshold are
    drawn from them, on pixel values mapped from `value_range` to [0, 255]. With the
    default threshold 0 every pixel is inverted (as in Keras).

    Example:
        >>> layer = Solarization(threshold_factor=0.5, value_range=(0, 1), seed=0)
        >>> layer(np.random.rand(2, 8, 8, 3)).shape
        (2, 8, 8, 3)
    """

    def __init__(
        self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255), seed=None, **kwargs
    ):
        super().__init__(seed=seed, **kwargs)
        self.addition_factor = self._factor("addition_factor", addition_factor)
        self.threshold_factor = self._factor("threshold_factor", threshold_factor)
        self.value_range = value_pair(self, value_range, sort=True)

    def _factor(self, arg, value):
        expected = "a number in [0, 1] or a pair of numbers in [0, 1]"
        if isinstance(value, (tuple, list)):
            if len(value) != 2 or not all(is_number(v) and 0 <= v <= 1 for v in value):
                raise arg_error(self, arg, expected, value)
            lower, upper = sorted(value)
            return (lower, upper)
        if not is_number(value) or not 0 <= value <= 1:
            raise arg_error(self, arg, expected, value)
        return (0, value)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        shape = self._shape(data)
        draw_shape = (shape[0], 1, 1, 1) if len(shape) == 4 else (1, 1, 1)
        add_key, threshold_key = self._keys(seed, 2)

        def draw(key, factor):
            # Keras scales only the upper bound by 255; its documentation (and we) both.
            low, high = factor[0] * 255.0, factor[1] * 255.0
            return jax.random.uniform(key, draw_shape, self.compute_dtype, low, high)

        return {
            "additions": draw(add_key, self.addition_factor),
            "thresholds": draw(threshold_key, self.threshold_factor),
        }

    def _transform(self, images, transformation):
        images = imops.to_range(images, self.value_range, (0, 255))
        results = jnp.clip(images + transformation["additions"], 0, 255)
        results = jnp.where(results < transformation["thresholds"], results, 255 - results)
        return imops.to_range(results, (0, 255), self.value_range)

    def get_config(self):
        return {
            **super().get_config(),
            "value_range": self.value_range,
            "addition_factor": self.addition_factor,
            "threshold_factor": self.threshold_factor,
            "seed": self.seed,
        }


class AutoContrast(DataAugmentation):
    """Stretches each channel of each image to span the whole `value_range`.

    Not random, and applied at inference too (as in Keras). A flat channel is left as is.

    Example:
        >>> x = np.stack([np.linspace(0.2, 0.6, 16).reshape(4, 4)] * 3, -1)
        >>> out = AutoContrast(value_range=(0, 1))(x)
        >>> float(out.min()), float(out.max())
        (0.0, 1.0)
    """

    _APPLY_AT_INFERENCE = True
    _NONE_APPLIES = True

    def __init__(self, value_range=(0, 255), **kwargs):
        super().__init__(**kwargs)
        self.value_range = value_pair(self, value_range, sort=True)

    def get_random_transformation(self, data, training=True, seed=None):
        return None

    def _transform(self, images, transformation):
        original = images
        images = imops.to_range(images, self.value_range, (0, 255))
        axes = imops.spatial_axes(self.data_format)
        low = jnp.min(images, axis=axes, keepdims=True)
        high = jnp.max(images, axis=axes, keepdims=True)
        spread = high - low
        scale = 255.0 / jnp.where(spread > 0, spread, 1.0)
        stretched = jnp.clip(images * scale - low * scale, 0.0, 255.0)
        stretched = imops.to_range(stretched, (0, 255), self.value_range)
        # Keras divides by zero and puts the input back where that made NaNs.
        return jnp.where(spread > 0, stretched, original)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range}


class Equalization(DataAugmentation):
    """Histogram-equalizes each channel while training (identity at inference).

    As Keras 3 computes it, the histogram of a channel (`bins` bins over `value_range`)
    counts the pixels of the whole batch, and one lookup table maps the batch.

    Example:
        >>> Equalization()(np.random.rand(2, 8, 8, 3) * 100).shape
        (2, 8, 8, 3)
    """

    _NONE_APPLIES = True

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 2:
            raise arg_error(self, "bins", "an integer >= 2", bins)
        self.bins = int(bins)
        self.value_range = value_pair(self, value_range, sort=True)

    def get_random_transformation(self, data, training=True, seed=None):
        return None

    def _equalize(self, channel):
        """One channel of the whole batch, in [0, 255]."""
        bins = self.bins
        index = jnp.clip(((channel - 0.0) * (bins - 1) / 255.0).astype(jnp.int32), 0, bins - 1)
        hist = jnp.bincount(index.reshape(-1), length=bins)
        cdf = jnp.cumsum(hist)
        cdf_min = cdf[jnp.argmax(cdf > 0)]
        denominator = cdf[-1] - cdf_min
        denominator = jnp.where(denominator == 0, 1, denominator)
        table = jnp.clip(jnp.round((cdf - cdf_min) * 255 / denominator), 0, 255)
        lookup = jnp.clip(channel / 255.0 * (bins - 1), 0, bins - 1).astype(jnp.int32)
        equalized = jnp.take(table, lookup).astype(channel.dtype)
        return jnp.where(jnp.count_nonzero(hist) <= 1, channel, equalized)

    def _transform(self, images, transformation):
        low, high = self.value_range
        scale = 255.0 / (high - low)
        images = images * scale + (0.0 - low * scale)
        axis = imops.channel_axis(self.data_format)
        channels = [
            self._equalize(jnp.take(images, i, axis=axis)) for i in range(images.shape[axis])
        ]
        images = jnp.stack(channels, axis=axis)
        back = (high - low) / 255.0
        return images * back + (low - 0.0 * back)

    def get_config(self):
        return {**super().get_config(), "bins": self.bins, "value_range": self.value_range}
