"""RandomGaussianBlur: blur images with a random Gaussian, with a random probability."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from shoal.layers.augmentation import _image_ops as imops
from shoal.layers.augmentation.base import arg_error
from shoal.layers.augmentation.base_more import DataAugmentation, keras_factor, value_pair


class RandomGaussianBlur(DataAugmentation):
    """Blurs each image, with a random probability, while training.

    Per image a probability is drawn from `factor` (a number f in [0, 1]: [0, f]; or a
    pair). One (x, y) pair of standard deviations is drawn per call from `sigma` (a number
    s in [0, 1]: [0, s]; or a pair). `kernel_size` is an odd number of taps, or an (x, y)
    pair of them. The result is clipped to `value_range`.

    Example:
        >>> RandomGaussianBlur(kernel_size=3, sigma=1.0, seed=0)(np.ones((2, 8, 8, 3))).shape
        (2, 8, 8, 3)
    """

    def __init__(
        self,
        factor=1.0,
        kernel_size=3,
        sigma=1.0,
        value_range=(0, 255),
        data_format=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = keras_factor(self, "factor", factor, 0, 1)
        self.kernel_size = self._kernel_size(kernel_size)
        self.sigma = keras_factor(self, "sigma", sigma, 0, 1)
        self.value_range = value_pair(self, value_range)

    def _kernel_size(self, value):
        sizes = value if isinstance(value, (tuple, list)) else (value, value)
        if len(sizes) != 2 or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 and v % 2
            for v in sizes
        ):
            raise arg_error(self, "kernel_size", "an odd positive integer or a pair of them", value)
        return (sizes[0], sizes[1])

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        batch = self._batch(data)
        keys = self._keys(seed, 3)
        probability = jax.random.uniform(
            keys[0], (batch,), minval=self.factor[0], maxval=self.factor[1]
        )
        apply = jax.random.uniform(keys[1], (batch,)) < probability
        sigma = jax.random.uniform(keys[2], (2,), self.compute_dtype, *self.sigma) + 1e-6
        return {"should_apply_blur": apply, "blur_factor": sigma}

    def _transform(self, images, transformation):
        # TODO: use shoal.ops.image.gaussian_blur once it exists
        sigma = jnp.asarray(transformation["blur_factor"], images.dtype)
        blurred = imops.gaussian_blur(
            images, self.kernel_size, (sigma[0], sigma[1]), self.data_format
        )
        apply = jnp.asarray(transformation["should_apply_blur"]).reshape(-1, 1, 1, 1)
        images = jnp.where(apply, blurred, images)
        return jnp.clip(images, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {
            **super().get_config(),
            "factor": self.factor,
            "kernel_size": self.kernel_size,
            "sigma": self.sigma,
            "value_range": self.value_range,
            "seed": self.seed,
        }
