"""Random colour changes: RandomGrayscale, RandomHue, RandomSaturation,
RandomColorDegeneration, RandomSharpness, RandomInvert and RandomColorJitter.

Each draws per-image numbers (`get_random_transformation`) and applies them
(`transform_images`) while training; at inference they are the identity.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal.layers.augmentation import _image_ops as imops
from shoal.layers.augmentation.base import arg_error, is_number
from shoal.layers.augmentation.base_more import DataAugmentation, keras_factor, value_pair
from shoal.layers.augmentation.color import RandomBrightness, RandomContrast


class RandomGrayscale(DataAugmentation):
    """Turns each image grey (luma, kept in every channel) with probability `factor`.

    The transformation is the per-image boolean array, shape (batch, 1, 1, 1), as in Keras.

    Example:
        >>> out = RandomGrayscale(factor=1.0)(np.random.rand(2, 8, 8, 3))
        >>> bool(np.allclose(out[..., 0], out[..., 1]))
        True
    """

    _NONE_APPLIES = True  # as Keras: no transformation given -> draw one

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if not is_number(factor) or not 0 <= factor <= 1:
            raise arg_error(self, "factor", "a number in [0, 1]", factor)
        self.factor = factor

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        (key,) = self._keys(seed, 1)
        draws = jax.random.uniform(key, (self._batch(data),))
        return (draws < self.factor).reshape(-1, 1, 1, 1)

    def _transform(self, images, transformation):
        if transformation is None:
            transformation = self.get_random_transformation(images)
        gray = imops.rgb_to_grayscale(images, self.data_format)
        return jnp.where(transformation, gray, images)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "seed": self.seed}


class _PerImageColor(DataAugmentation):
    """One factor per image, drawn uniformly from `self.factor`, under `"factor"`."""

    _BOUNDS = (-1, 1)
    _SORT_RANGE = True  # Keras keeps a sorted list
    _DRAW_SHAPE = ()  # trailing dimensions of the draw

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = keras_factor(self, "factor", factor, *self._BOUNDS)
        self.value_range = value_pair(self, value_range, sort=self._SORT_RANGE)

    def _draw(self, data, seed):
        (key,) = self._keys(seed, 1)
        low, high = self.factor
        shape = (self._batch(data),) + self._DRAW_SHAPE
        return jax.random.uniform(key, shape, minval=low, maxval=high)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        return {"factor": self._draw(data, seed)}

    def _clip(self, images):
        return jnp.clip(images, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {
            **super().get_config(),
            "factor": self.factor,
            "value_range": self.value_range,
            "seed": self.seed,
        }


def _with_channel(images, plane, index, data_format):
    """`images` (HSV) with channel `index` replaced by `plane`."""
    axis = imops.channel_axis(data_format)
    planes = [jnp.take(images, i, axis=axis) for i in range(3)]
    planes[index] = plane
    return jnp.stack(planes, axis=axis)


class RandomHue(_PerImageColor):
    """Rotates each image's hue by a random amount while training.

    `factor` (a number f in [0, 1]: [0, f]; or a pair) is the largest shift as a fraction
    of half the colour wheel; the direction is random. `value_range` is the pixel range.

    Example:
        >>> layer = RandomHue(0.5, value_range=(0, 1), seed=0)
        >>> layer(np.random.rand(2, 8, 8, 3)).shape
        (2, 8, 8, 3)
    """

    _BOUNDS = (0, 1)
    _SORT_RANGE = False

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        sign_key, factor_key = self._keys(seed, 2)
        batch = self._batch(data)
        sign = jnp.where(jax.random.uniform(sign_key, (batch,)) > 0.5, -1.0, 1.0)
        return {"factor": sign * self._draw(data, factor_key) * 0.5}

    def _transform(self, images, transformation):
        images = imops.to_range(images, self.value_range, (0, 1))
        shift = jnp.asarray(transformation["factor"], images.dtype).reshape(-1, 1, 1)
        hsv = imops.rgb_to_hsv(images, self.data_format)
        hue = jnp.take(hsv, 0, axis=imops.channel_axis(self.data_format)) + shift
        hue = jnp.where(hue > 1.0, hue - 1.0, hue)
        hue = jnp.where(hue < 0.0, hue + 1.0, hue)
        hsv = _with_channel(hsv, hue, 0, self.data_format)
        images = jnp.clip(imops.hsv_to_rgb(hsv, self.data_format), 0, 1)
        return imops.to_range(images, (0, 1), self.value_range)


class RandomSaturation(_PerImageColor):
    """Scales each image's saturation by a random factor while training.

    A value v drawn from `factor` (a number f in [0, 1]: [-f, f]; or a pair) scales the
    saturation by v / (1 - v): 0.5 keeps it, 0 greys, 1 saturates fully. As in Keras, the
    scaled saturation is clipped to `value_range`, and the conversion works on the pixel
    values as given.

    Example:
        >>> RandomSaturation(0.5, seed=0)(np.random.rand(2, 8, 8, 3) * 255).shape
        (2, 8, 8, 3)
    """

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        factor = self._draw(data, seed)
        return {"factor": factor / (1 - factor + 1e-7)}

    def _transform(self, images, transformation):
        scale = jnp.asarray(transformation["factor"], images.dtype).reshape(-1, 1, 1)
        hsv = imops.rgb_to_hsv(images, self.data_format)
        saturation = jnp.take(hsv, 1, axis=imops.channel_axis(self.data_format)) * scale
        saturation = jnp.clip(saturation, self.value_range[0], self.value_range[1])
        return imops.hsv_to_rgb(
            _with_channel(hsv, saturation, 1, self.data_format), self.data_format
        )


class RandomColorDegeneration(_PerImageColor):
    """Blends each image towards its greyscale version by a random amount while training.

    `factor` (a number f in [0, 1]: [-f, f]; or a pair) is the blend weight: 0 keeps the
    image, 1 is grey, negative values push colours away from grey. Clipped to `value_range`.

    Example:
        >>> RandomColorDegeneration(0.5, seed=0)(np.random.rand(2, 8, 8, 3) * 255).shape
        (2, 8, 8, 3)
    """

    _DRAW_SHAPE = (1, 1, 1)

    def _transform(self, images, transformation):
        factor = jnp.asarray(transformation["factor"], images.dtype)
        gray = imops.rgb_to_grayscale(images, self.data_format)
        return self._clip(images + factor * (gray - images))


class RandomSharpness(_PerImageColor):
    """Sharpens or softens each image by a random amount while training.

    A value v drawn from `factor` (a number f in [0, 1]: [0, f]; or a pair) blends the
    image with a 3x3 smoothed copy: v = 0.5 keeps it, less blurs, more sharpens. Clipped
    to `value_range`.

    Example:
        >>> RandomSharpness(0.5, seed=0)(np.random.rand(2, 8, 8, 3) * 255).shape
        (2, 8, 8, 3)
    """

    _BOUNDS = (0, 1)

    def _transform(self, images, transformation):
        amount = jnp.asarray(transformation["factor"], images.dtype).reshape(-1, 1, 1, 1) * 2
        # Keras' smoothing kernel: 1/13 around, 5/13 at the centre, zero padded.
        around, centre = 1.0 / 13.0, 5.0 / 13.0
        smoothed = around * imops.box_filter3(images, self.data_format)
        smoothed = smoothed + (centre - around) * images
        return self._clip(images + (1.0 - amount) * (smoothed - images))


class RandomInvert(_PerImageColor):
    """Inverts each image (`value_range[1] - x`) with a random probability while training.

    Per image a probability is drawn from `factor` (a number f in [0, 1]: [0, f]; or a
    pair; default 1: [0, 1]) and the image is inverted with that probability.

    Example:
        >>> RandomInvert(value_range=(0, 1), seed=0)(np.random.rand(2, 8, 8, 3)).shape
        (2, 8, 8, 3)
    """

    _BOUNDS = (0, 1)
    _SORT_RANGE = False

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(factor, value_range, data_format=data_format, seed=seed, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        probability_key, threshold_key = self._keys(seed, 2)
        probability = self._draw(data, probability_key)
        threshold = jax.random.uniform(threshold_key, probability.shape)
        return {"apply_inversion": threshold < probability}

    def _transform(self, images, transformation):
        apply = jnp.asarray(transformation["apply_inversion"]).reshape(-1, 1, 1, 1)
        return jnp.where(apply, self.value_range[1] - images, images)


class RandomColorJitter(DataAugmentation):
    """Random brightness, contrast, saturation and hue changes, in that order.

    Each `*_factor` left None skips that step; the others are read as by
    `RandomBrightness`, `RandomContrast`, `RandomSaturation` and `RandomHue`. The
    transformation holds one drawn transformation per step, under the names of Keras'
    sub-layers ("random_brightness", ...).

    Example:
        >>> layer = RandomColorJitter(brightness_factor=0.2, hue_factor=0.1, seed=0)
        >>> layer(np.random.rand(2, 8, 8, 3) * 255).shape
        (2, 8, 8, 3)
    """

    _NONE_APPLIES = True  # as Keras: no transformation given -> draw one

    def __init__(
        self,
        value_range=(0, 255),
        brightness_factor=None,
        contrast_factor=None,
        saturation_factor=None,
        hue_factor=None,
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = value_pair(self, value_range)
        self.brightness_factor = brightness_factor
        self.contrast_factor = contrast_factor
        self.saturation_factor = saturation_factor
        self.hue_factor = hue_factor
        common = {"value_range": self.value_range, "data_format": self.data_format}
        steps = [
            ("random_brightness", RandomBrightness, brightness_factor),
            ("random_contrast", RandomContrast, contrast_factor),
            ("random_saturation", RandomSaturation, saturation_factor),
            ("random_hue", RandomHue, hue_factor),
        ]
        self._steps = []
        for step, cls, factor in steps:
            if factor is None:
                continue
            try:
                layer = cls(factor=factor, **common)
            except ValueError as error:
                name = step.replace("random_", "") + "_factor"
                raise arg_error(self, name, "a valid factor", factor) from error
            setattr(self, step, layer)
            self._steps.append(step)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        keys = self._keys(seed, 4)
        return {
            step: getattr(self, step).get_random_transformation(data, training=True, seed=key)
            for step, key in zip(self._steps, keys, strict=False)
        }

    def _transform(self, images, transformation):
        if transformation is None:
            transformation = self.get_random_transformation(images)
        for step in self._steps:
            images = getattr(self, step).transform_images(images, transformation[step])
            images = images.astype(self.compute_dtype)
        return images

    def get_config(self):
        return {
            **super().get_config(),
            "value_range": self.value_range,
            "brightness_factor": self.brightness_factor,
            "contrast_factor": self.contrast_factor,
            "saturation_factor": self.saturation_factor,
            "hue_factor": self.hue_factor,
            "seed": self.seed,
        }
