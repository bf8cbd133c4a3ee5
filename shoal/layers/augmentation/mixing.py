"""MixUp, CutMix: mix each image (and its labels) with another image of the batch.

Called with a dict `{"images": ..., "labels": ...}` both are mixed by the same draw, as in
Keras; labels should be one-hot (or soft) class scores.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal.layers.augmentation._image_ops import box_masks, spatial_axes
from shoal.layers.augmentation.base import arg_error, is_number
from shoal.layers.augmentation.base_more import DataAugmentation, keras_factor


def _mix_labels(layer, labels, transformation):
    """weight * labels + (1 - weight) * labels of the partner images."""
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.floating):
        labels = labels.astype(layer.compute_dtype)
    weight = jnp.asarray(transformation["mix_weight"], labels.dtype)
    # One weight per example, whatever the labels' rank (Keras reshapes to (-1, 1)).
    weight = weight.reshape((-1,) + (1,) * (labels.ndim - 1))
    partners = jnp.take(labels, transformation["permutation_order"], axis=0)
    return weight * labels + (1.0 - weight) * partners


class MixUp(DataAugmentation):
    """Blends each image with another image of the batch while training (MixUp).

    Each image i becomes `w_i * x_i + (1 - w_i) * x_p(i)` for a random permutation p of the
    batch and weights `w_i ~ Beta(alpha, alpha)`; labels passed with the images
    (`{"images": x, "labels": y}`) are blended with the same weights and partners.

    Args:
        alpha: concentration of the Beta distribution (> 0); small values mix little.
        data_format: "channels_last" or "channels_first".
        seed: an integer seed.

    Example:
        >>> x, y = np.random.rand(4, 8, 8, 3), np.eye(4)
        >>> out = MixUp(alpha=0.2, seed=0)({"images": x, "labels": y})
        >>> out["images"].shape, out["labels"].shape
        ((4, 8, 8, 3), (4, 4))
    """

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if not is_number(alpha) or alpha <= 0:
            raise arg_error(self, "alpha", "a positive number", alpha)
        self.alpha = alpha

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        batch = self._batch(data)
        perm_key, weight_key = self._keys(seed, 2)
        return {
            "mix_weight": jax.random.beta(weight_key, self.alpha, self.alpha, (batch,)),
            "permutation_order": jax.random.permutation(perm_key, batch),
        }

    def _transform(self, images, transformation):
        weight = jnp.asarray(transformation["mix_weight"], images.dtype).reshape(-1, 1, 1, 1)
        partners = jnp.take(images, transformation["permutation_order"], axis=0)
        return weight * images + (1.0 - weight) * partners

    def transform_labels(self, labels, transformation, training=True):
        if not training or transformation is None:
            return labels
        return _mix_labels(self, labels, transformation)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "seed": self.seed}


class CutMix(DataAugmentation):
    """Pastes a random box of another image of the batch into each image while training.

    A concentration `a` is drawn from `factor` (a number f: [0, f]; a pair: [lo, hi];
    in [0, 1]), then per image a weight `w ~ Beta(a, a)` sets the box to a fraction
    `1 - w` of the image area (side ratio `sqrt(1 - w)`) at a uniform position. Labels
    passed with the images are mixed by the area each image keeps. A single image
    (rank 3) is returned unchanged, as in Keras.

    Example:
        >>> x, y = np.random.rand(4, 8, 8, 3), np.eye(4)
        >>> out = CutMix(seed=0)({"images": x, "labels": y})
        >>> out["labels"].sum(axis=1).round(5).tolist()
        [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = keras_factor(self, "factor", factor, 0, 1)

    def get_random_transformation(self, data, training=True, seed=None):
        shape = self._shape(data)
        if not training or len(shape) == 3:
            return None
        batch = shape[0]
        h_axis, w_axis = spatial_axes(self.data_format)
        height, width = shape[h_axis], shape[w_axis]
        keys = self._keys(seed, 5)
        dtype = self.compute_dtype
        low, high = self.factor
        alpha = jax.random.uniform(keys[0], (), dtype, low, high) + 1e-6
        weight = jax.random.beta(keys[1], alpha, alpha, (batch,), dtype)
        ratio = jnp.sqrt(1.0 - weight)

        def bounds(key, length):
            crop = ratio * length
            start = jax.random.uniform(key, (batch,), dtype) * (length - crop)
            return start, start + crop

        x0, x1 = bounds(keys[2], width)
        y0, y1 = bounds(keys[3], height)
        masks = box_masks(shape, x0, x1, y0, y1, self.data_format, dtype)
        area = ((x1 - x0) * (y1 - y0)).reshape(-1, 1, 1, 1)
        return {
            "permutation_order": jax.random.permutation(keys[4], batch),
            "batch_masks": masks,
            # The share of each image that is kept, from the box's exact (fractional) area.
            "mix_weight": 1.0 - area / (width * height),
        }

    def _transform(self, images, transformation):
        partners = jnp.take(images, transformation["permutation_order"], axis=0)
        return jnp.where(transformation["batch_masks"], partners, images)

    def transform_labels(self, labels, transformation, training=True):
        if not training or transformation is None:
            return labels
        return _mix_labels(self, labels, transformation)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "seed": self.seed}
