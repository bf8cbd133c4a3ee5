"""MaxNumBoundingBoxes: pad or cut the bounding boxes of each image to a fixed count."""

from __future__ import annotations

import numbers

import jax.numpy as jnp

from shoal.layers.augmentation.base import arg_error, is_number
from shoal.layers.augmentation.base_more import DataAugmentation


class MaxNumBoundingBoxes(DataAugmentation):
    """Gives every image exactly `max_number` bounding boxes: extra boxes are dropped,
    missing ones are filled with `fill_value` (boxes and labels alike).

    Called with `{"images": ..., "bounding_boxes": {"boxes": (batch, n, 4),
    "labels": (batch, n)}}` (and optionally "labels"); images and labels pass unchanged.
    As in Keras, a `bounding_box_format` must be given to pass boxes.

    Example:
        >>> boxes = {"boxes": np.ones((2, 5, 4)), "labels": np.ones((2, 5))}
        >>> layer = MaxNumBoundingBoxes(3, bounding_box_format="xyxy")
        >>> layer({"images": np.ones((2, 8, 8, 3)), "bounding_boxes": boxes})["bounding_boxes"][
        ...     "boxes"
        ... ].shape
        (2, 3, 4)
    """

    _DICT_KEYS = ("images", "labels", "bounding_boxes")

    def __init__(self, max_number, fill_value=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(max_number, bool) or not isinstance(max_number, numbers.Integral):
            raise arg_error(self, "max_number", "a positive integer", max_number)
        if max_number < 1:
            raise arg_error(self, "max_number", "a positive integer", max_number)
        if not is_number(fill_value):
            raise arg_error(self, "fill_value", "a number", fill_value)
        self.max_number = int(max_number)
        self.fill_value = int(fill_value)

    def get_random_transformation(self, data, training=True, seed=None):
        return None

    def transform_images(self, images, transformation=None, training=True):
        return jnp.asarray(images)

    def transform_bounding_boxes(self, bounding_boxes, transformation=None, training=True):
        extra = sorted(set(bounding_boxes) - {"boxes", "labels"})
        if extra:
            raise ValueError(
                f"MaxNumBoundingBoxes '{self.name}': 'bounding_boxes' takes the keys "
                f"'boxes' and 'labels'; got also {extra}"
            )
        boxes = jnp.asarray(bounding_boxes["boxes"])
        labels = jnp.asarray(bounding_boxes["labels"])
        single = boxes.ndim == 2
        if single:
            boxes, labels = boxes[None], labels[None]
        count = boxes.shape[1]
        keep = min(count, self.max_number)
        pad = self.max_number - keep
        boxes = jnp.pad(
            boxes[:, :keep], ((0, 0), (0, pad), (0, 0)), constant_values=self.fill_value
        )
        labels = jnp.pad(labels[:, :keep], ((0, 0), (0, pad)), constant_values=self.fill_value)
        if single:
            boxes, labels = boxes[0], labels[0]
        return {**bounding_boxes, "boxes": boxes, "labels": labels}

    def _transform_extra(self, inputs, outputs, transformation, training):
        if "bounding_boxes" in inputs:
            if not self.bounding_box_format:
                raise ValueError(
                    f"MaxNumBoundingBoxes '{self.name}': inputs with 'bounding_boxes' need "
                    "the argument 'bounding_box_format' (e.g. bounding_box_format='xyxy')"
                )
            outputs["bounding_boxes"] = self.transform_bounding_boxes(inputs["bounding_boxes"])
        return outputs

    def get_config(self):
        return {**super().get_config(), "max_number": self.max_number}
