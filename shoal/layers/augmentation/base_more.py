"""What the newer augmentation layers share on top of `BaseAugmentation`.

- Dict inputs, as Keras takes them: `{"images": ..., "labels": ...}`. The images are
  transformed, the labels go through `transform_labels` (unchanged except by the mixing
  layers, MixUp and CutMix). Bounding boxes and segmentation masks are not supported.
- A single image (rank 3) is transformed as a batch of one, as Keras'
  `transform_single_image` does, so subclasses write `_transform` for rank 4 only.
- Keras' readings of `factor` and `value_range` arguments, with errors naming them.
"""

from __future__ import annotations

import jax.numpy as jnp

from shoal.layers.augmentation.base import BaseAugmentation, arg_error, is_number


def keras_factor(layer, arg, value, low, high):
    """Keras' `_set_factor`: a number f in [low, high] means (max(-f, low), f); a pair is
    sorted, and only has to overlap [low, high]."""
    if isinstance(value, (tuple, list)):
        if (
            len(value) != 2
            or not all(is_number(v) for v in value)
            or value[0] > high
            or value[1] < low
        ):
            raise arg_error(layer, arg, f"a pair of numbers overlapping [{low}, {high}]", value)
        lower, upper = sorted(value)
        return (lower, upper)
    if not is_number(value) or not low <= value <= high:
        raise arg_error(layer, arg, f"a number in [{low}, {high}] or a pair of numbers", value)
    return (max(-abs(value), low), abs(value))


def value_pair(layer, value, arg="value_range", sort=False):
    """A (low, high) pair of numbers: sorted into a list (as Keras stores it) with `sort`,
    else kept as given."""
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(is_number(v) for v in value)
    ):
        raise arg_error(layer, arg, "a pair (low, high) of numbers", value)
    return sorted(value) if sort else value


class DataAugmentation(BaseAugmentation):
    """Base of the layers in the `*_more`, `mixing`, `tone`, `blur`, `erasing` and
    `policies` modules."""

    _APPLY_AT_INFERENCE = False  # AutoContrast is not random and always applies
    _NONE_APPLIES = False  # True: a None transformation still transforms (Keras' layers
    # that ignore the transformation, or draw their own when given none)
    _DICT_KEYS = ("images", "labels")

    def __init__(self, seed=None, data_format=None, bounding_box_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.bounding_box_format = bounding_box_format

    def call(self, inputs, training=True):
        if not isinstance(inputs, dict):
            transformation = self.get_random_transformation(inputs, training=training)
            return self.transform_images(inputs, transformation, training=training)
        unknown = sorted(set(inputs) - set(self._DICT_KEYS))
        if "images" not in inputs or unknown:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': dict inputs take the keys "
                f"{self._DICT_KEYS} ('images' required); got {sorted(inputs)}"
            )
        transformation = self.get_random_transformation(inputs, training=training)
        outputs = dict(inputs)
        images = inputs["images"]
        outputs["images"] = self.transform_images(images, transformation, training=training)
        single = jnp.ndim(images) == 3
        if "labels" in inputs:
            labels = jnp.asarray(inputs["labels"])
            labels = self.transform_labels(
                labels[None] if single else labels, transformation, training=training
            )
            outputs["labels"] = labels[0] if single else labels
        return self._transform_extra(inputs, outputs, transformation, training)

    def _transform_extra(self, inputs, outputs, transformation, training):
        return outputs

    def transform_labels(self, labels, transformation, training=True):
        return labels

    def transform_images(self, images, transformation, training=True):
        images = self._cast(images)
        if not (training or self._APPLY_AT_INFERENCE):
            return images
        if transformation is None and not self._NONE_APPLIES:
            return images
        self._shape(images)  # checks the rank
        if images.ndim == 3:
            return self._transform(images[None], transformation)[0]
        return self._transform(images, transformation)

    def _transform(self, images, transformation):
        """Transforms a rank-4 float batch (training, or always with _APPLY_AT_INFERENCE)."""
        raise NotImplementedError

    def _batch(self, data) -> int:
        shape = self._shape(data)
        return shape[0] if len(shape) == 4 else 1

    def get_config(self):
        config = super().get_config()
        if self.bounding_box_format is not None:
            config["bounding_box_format"] = self.bounding_box_format
        return config
