"""What the image augmentation layers share (Keras 3's `BaseImagePreprocessingLayer`).

Each layer splits its work in two, with Keras' method names, so one random draw can be
inspected, reused, or replayed by another implementation:

    transformation = layer.get_random_transformation(images, training=True, seed=None)
    outputs = layer.transform_images(images, transformation, training=True)

`call` is exactly these two steps. As in Keras, `call`'s `training` defaults to True, so a
bare `layer(images)` augments; models pass `training=False` at inference (`predict`,
`evaluate`) and the layers are then the identity (RandomCrop: a center crop and resize).

Randomness comes from `shoal.backend.random.draw_key(self.seed)`: inside a compiled train
step from the step's key, eagerly from the seedable global stream. One key is drawn per
call and split for the layer's draws.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from shoal.backend import config
from shoal.backend import random as shoal_random
from shoal.layers.base import Layer
from shoal.random import SeedGenerator


def arg_error(layer, arg, expected, value) -> ValueError:
    return ValueError(
        f"{type(layer).__name__} '{layer.name}': argument '{arg}' must be {expected}, got {value!r}"
    )


def is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def one_of(layer, arg, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise arg_error(layer, arg, f"one of {allowed}", value)
    return value


def factor_range(layer, arg, value, low, high, low_open=False):
    """Keras' reading of a factor: a number f means (-|f|, |f|) clipped below at `low`, a
    pair means (min, max). Every number must lie in [low, high] (or (low, high])."""
    bracket = "(" if low_open else "["
    expected = f"a number or a pair of numbers in {bracket}{low}, {high}]"

    def inside(v):
        return is_number(v) and (v > low if low_open else v >= low) and v <= high

    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not all(inside(v) for v in value):
            raise arg_error(layer, arg, expected, value)
        return tuple(sorted(value))
    if not inside(value):
        raise arg_error(layer, arg, expected, value)
    return (max(-abs(value), low), abs(value))


def number_pair(layer, arg, value, sort=False):
    """A (low, high) pair of numbers: as given, or as a sorted list with `sort`."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise arg_error(layer, arg, "a pair (low, high) of numbers", value)
    if sort:
        value = sorted(value) if all(is_number(v) for v in value) else value
    if not all(is_number(v) for v in value) or value[0] > value[1]:
        raise arg_error(layer, arg, "a pair (low, high) of numbers with low <= high", value)
    return value


class BaseAugmentation(Layer):
    """A shape-preserving (unless overridden) random image layer without weights.

    Subclasses define `get_random_transformation` and `transform_images`.
    """

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and not (isinstance(seed, numbers.Integral) and is_number(seed)):
            raise arg_error(self, "seed", "an integer or None", seed)
        self.seed = None if seed is None else int(seed)
        self.generator = SeedGenerator(self.seed)
        self.data_format = config.standardize_data_format(data_format)
        self.built = True

    # -- the two steps -------------------------------------------------------
    def call(self, inputs, training=True):
        if isinstance(inputs, dict):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': dict inputs (images with labels, "
                "bounding boxes or segmentation masks) are not supported; pass the images"
            )
        transformation = self.get_random_transformation(inputs, training=training)
        return self.transform_images(inputs, transformation, training=training)

    def get_random_transformation(self, data, training=True, seed=None):
        raise NotImplementedError

    def transform_images(self, images, transformation, training=True):
        raise NotImplementedError

    def transform_single_image(self, image, transformation, training=True):
        return self.transform_images(image[None], transformation, training=training)[0]

    # -- helpers -------------------------------------------------------------
    def _keys(self, seed, n):
        """`n` PRNG keys for one call: from `seed` (an int or a key) when given."""
        if seed is None:
            key = shoal_random.draw_key(self.generator)
        elif isinstance(seed, numbers.Integral):
            key = jax.random.key(int(seed))
        else:
            key = seed
        return jax.random.split(key, n)

    def _shape(self, data):
        """The shape of a rank-3 or rank-4 image tensor (or of `data["images"]`)."""
        images = data["images"] if isinstance(data, dict) else data
        shape = tuple(images.shape)
        if len(shape) not in (3, 4):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': expected images of rank 3 (one image) "
                f"or 4 (a batch); got shape {shape}"
            )
        return shape

    def _hw_axes(self):
        """Negative indices of the height and width axes."""
        return (-2, -1) if self.data_format == "channels_first" else (-3, -2)

    def _size(self, shape):
        """(batch, height, width) of an image shape; batch 1 for a single image."""
        h_axis, w_axis = self._hw_axes()
        batch = shape[0] if len(shape) == 4 else 1
        return batch, shape[h_axis], shape[w_axis]

    def _cast(self, images):
        return jnp.asarray(images).astype(self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
