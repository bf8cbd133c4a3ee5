"""RandomCrop: a random window of a fixed size while training, a center crop at inference."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from shoal.layers.augmentation.base import BaseAugmentation, arg_error
from shoal.ops.image import resize


class RandomCrop(BaseAugmentation):
    """Crops each batch to `height` x `width` at a random position while training.

    One window is drawn per call (shared by the images of a batch), as in Keras 3. An
    input not larger than the target in both dimensions is cut at its center and resized
    to the target instead. At inference the largest center window with the target's
    aspect ratio is resized to the target (Keras' documented behaviour).

    Example:
        >>> layer = RandomCrop(4, 4, seed=0)
        >>> layer(np.ones((2, 8, 6, 3)), training=True).shape
        (2, 4, 4, 3)
    """

    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        for arg, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise arg_error(self, arg, "a positive integer", value)
        self.height = int(height)
        self.width = int(width)

    def get_random_transformation(self, data, training=True, seed=None):
        """(h_start, w_start) of the window: random while training if the input is larger
        than the target in both dimensions, else centered as Keras computes it."""
        _, in_height, in_width = self._size(self._shape(data))
        if training and in_height > self.height and in_width > self.width:
            keys = self._keys(seed, 2)
            h_start = jax.random.randint(keys[0], (), 0, in_height - self.height + 1)
            w_start = jax.random.randint(keys[1], (), 0, in_width - self.width + 1)
            return h_start, w_start
        crop_height = max(min(in_height, int(in_width * self.height / self.width)), 1)
        crop_width = max(min(in_width, int(in_height * self.width / self.height)), 1)
        return (in_height - crop_height) // 2, (in_width - crop_width) // 2

    def transform_images(self, images, transformation, training=True):
        images = self._cast(images)
        h_axis, w_axis = (images.ndim + a for a in self._hw_axes())
        in_height, in_width = images.shape[h_axis], images.shape[w_axis]
        if not training:
            if (in_height, in_width) == (self.height, self.width):
                return images
            return self._resize(images, crop_to_aspect_ratio=True)
        h_start, w_start = transformation
        if in_height >= self.height and in_width >= self.width:
            # The window fits: a slice at a possibly traced position.
            images = jax.lax.dynamic_slice_in_dim(images, h_start, self.height, axis=h_axis)
            return jax.lax.dynamic_slice_in_dim(images, w_start, self.width, axis=w_axis)
        # Too small somewhere: what is left of the window from the (static) start, resized.
        h_start, w_start = int(h_start), int(w_start)
        images = jax.lax.slice_in_dim(
            images, h_start, min(h_start + self.height, in_height), axis=h_axis
        )
        images = jax.lax.slice_in_dim(
            images, w_start, min(w_start + self.width, in_width), axis=w_axis
        )
        return self._resize(images)

    def _resize(self, images, crop_to_aspect_ratio=False):
        out = resize(
            images,
            (self.height, self.width),
            crop_to_aspect_ratio=crop_to_aspect_ratio,
            data_format=self.data_format,
        )
        return jnp.asarray(out).astype(self.compute_dtype)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        h_axis, w_axis = self._hw_axes()
        shape[h_axis], shape[w_axis] = self.height, self.width
        return tuple(shape)

    def get_config(self):
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "seed": self.seed,
        }
