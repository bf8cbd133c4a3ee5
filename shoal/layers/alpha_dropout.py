"""AlphaDropout: dropout that keeps the mean and variance of SELU activations.

While training, dropped entries are set to SELU's negative saturation value
`alpha' = -scale * alpha` (not 0), then the whole tensor goes through the affine map
`a * x + b` with

    a = ((1 - rate) * (1 + rate * alpha'**2)) ** -0.5
    b = -a * alpha' * rate

so that zero-mean, unit-variance inputs keep mean 0 and variance 1 (Klambauer et al.,
"Self-Normalizing Neural Networks", 2017). At inference the layer is the identity.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal.backend import random as shoal_random
from shoal.layers.regularization import Dropout, _error, _NoiseLayer, _seed, _unit_interval
from shoal.random import seed_generator_for

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
ALPHA_P = -SELU_ALPHA * SELU_SCALE


def alpha_dropout_affine(rate: float) -> tuple[float, float]:
    """The `(a, b)` of the correction `a * x + b` for dropout rate `rate` (0 <= rate < 1)."""
    a = ((1.0 - rate) * (1.0 + rate * ALPHA_P**2)) ** -0.5
    return a, -a * ALPHA_P * rate


def apply_alpha_dropout(inputs, keep_mask, rate):
    """Alpha dropout of `inputs` given a boolean `keep_mask` (broadcastable to `inputs`)."""
    a, b = alpha_dropout_affine(rate)
    kept = jnp.asarray(keep_mask).astype(inputs.dtype)
    x = inputs * kept + ALPHA_P * (1 - kept)
    return (a * x + b).astype(inputs.dtype)


class AlphaDropout(_NoiseLayer):
    """Alpha dropout with probability `rate`; `noise_shape` shares the mask as in Dropout.

    Example:
        >>> layer = AlphaDropout(0.2, seed=1)
        >>> x = np.ones((2, 3), "float32")
        >>> bool((layer(x) == x).all())  # identity unless training=True
        True
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _unit_interval(self, "rate", rate)
        if self.rate == 1:
            # Keras accepts it, then fails dividing by zero in the first training call.
            raise _error(self, "rate", "a number in [0, 1) (rate=1 has no affine correction)", rate)
        self.noise_shape = self._validate_noise_shape(noise_shape)
        self.seed = _seed(self, seed)
        self.seed_generator = seed_generator_for(self.rate, self.seed)

    _validate_noise_shape = Dropout._validate_noise_shape

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        shape = tuple(inputs.shape)
        if self.noise_shape is not None:
            if len(self.noise_shape) != inputs.ndim:
                raise ValueError(
                    f"AlphaDropout '{self.name}': argument 'noise_shape' must have one entry "
                    f"per input dimension; got noise_shape={self.noise_shape} for input shape "
                    f"{shape}"
                )
            shape = tuple(
                s if n is None else n for n, s in zip(self.noise_shape, shape, strict=True)
            )
        # As Keras: keep where uniform >= rate.
        uniform = jax.random.uniform(shoal_random.draw_key(self.seed_generator), shape)
        return apply_alpha_dropout(inputs, uniform >= self.rate, self.rate)

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "seed": self.seed,
            "noise_shape": self.noise_shape,
        }
