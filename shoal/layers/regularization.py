"""Regularization layers: Dropout, SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout,
ActivityRegularization.

The random layers are the identity unless called with `training=True` (which `fit()`
does). Their randomness comes from `shoal.backend.random.draw_key(seed)`: inside a
compiled train step from the step's key, eagerly from the global stream that
`shoal.utils.set_random_seed` seeds, so runs are repeatable.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp

from shoal import regularizers
from shoal.backend import config
from shoal.backend import random as shoal_random
from shoal.layers.base import Layer
from shoal.layers.input_spec import InputSpec
from shoal.random import seed_generator_for


def _error(layer, arg, expected, value) -> ValueError:
    return ValueError(
        f"{type(layer).__name__} '{layer.name}': argument '{arg}' must be {expected}, got {value!r}"
    )


def _unit_interval(layer, arg, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise _error(layer, arg, "a number between 0 and 1", value)
    return float(value)


def _seed(layer, seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise _error(layer, "seed", "an integer or None", seed)
    return None if seed is None else int(seed)


def _dropout(inputs, rate, noise_shape=None, seed=None):
    """Zero entries with probability `rate`, scale the kept ones by `1 / (1 - rate)`.

    `noise_shape` (None entries mean "as the input") lets entries share a mask.
    """
    if rate == 0:
        return inputs
    if rate == 1:
        return jnp.zeros_like(inputs)
    keep = 1.0 - rate
    shape = tuple(inputs.shape)
    if noise_shape is not None:
        shape = tuple(s if n is None else n for n, s in zip(noise_shape, shape, strict=True))
    mask = jax.random.bernoulli(shoal_random.draw_key(seed), p=keep, shape=shape)
    mask = jnp.broadcast_to(mask, inputs.shape)
    return jnp.where(mask, inputs / keep, 0)


class _NoiseLayer(Layer):
    """Shape-preserving layer, identity at inference."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape


class Dropout(_NoiseLayer):
    """Randomly sets a fraction `rate` of the inputs to 0 while training.

    Kept entries are scaled by `1 / (1 - rate)` so the expected sum is unchanged.
    `noise_shape` (e.g. `(batch, 1, features)`) shares one mask along the axes of size 1.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _unit_interval(self, "rate", rate)
        self.noise_shape = self._validate_noise_shape(noise_shape)
        self.seed = _seed(self, seed)
        self.seed_generator = seed_generator_for(self.rate, self.seed)

    def _validate_noise_shape(self, noise_shape):
        if noise_shape is None:
            return None
        expected = "None or a tuple of positive integers / None"
        if isinstance(noise_shape, (str, bytes)) or not hasattr(noise_shape, "__iter__"):
            raise _error(self, "noise_shape", expected, noise_shape)
        noise_shape = tuple(noise_shape)
        for d in noise_shape:
            if d is not None and (isinstance(d, bool) or not isinstance(d, int) or d <= 0):
                raise _error(self, "noise_shape", expected, noise_shape)
        return noise_shape

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        noise_shape = self._noise_shape(inputs)
        if noise_shape is not None and len(noise_shape) != inputs.ndim:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': argument 'noise_shape' must have one "
                f"entry per input dimension; got noise_shape={noise_shape} for input shape "
                f"{tuple(inputs.shape)}"
            )
        return _dropout(inputs, self.rate, noise_shape, self.seed_generator)

    def _noise_shape(self, inputs):
        return self.noise_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "seed": self.seed,
            "noise_shape": self.noise_shape,
        }


class _SpatialDropout(Dropout):
    """Drops whole feature maps (channels) instead of single entries."""

    _ndim = 3

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)
        self.data_format = config.standardize_data_format(data_format)
        self.input_spec = InputSpec(ndim=self._ndim)

    def _noise_shape(self, inputs):
        shape = [1] * inputs.ndim
        shape[0] = inputs.shape[0]
        channel = 1 if self.data_format == "channels_first" else inputs.ndim - 1
        shape[channel] = inputs.shape[channel]
        return tuple(shape)

    def get_config(self):
        # Keras' spatial dropouts take no other base-layer arguments (no `trainable`),
        # so their configs carry only these keys; we match them for interchange.
        base = Layer.get_config(self)
        return {
            "rate": self.rate,
            "seed": self.seed,
            "name": base["name"],
            "dtype": base["dtype"],
            "data_format": self.data_format,
        }


class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole 1D feature maps: inputs `(batch, steps, channels)`."""

    _ndim = 3

    def __init__(self, rate, seed=None, name=None, dtype=None, **kwargs):
        # Always channels-last, as in Keras (which has no `data_format` here).
        kwargs.pop("data_format", None)
        super().__init__(
            rate, data_format="channels_last", seed=seed, name=name, dtype=dtype, **kwargs
        )

    def get_config(self):
        config_ = super().get_config()
        del config_["data_format"]
        return config_


class SpatialDropout2D(_SpatialDropout):
    """Dropout of whole 2D feature maps: inputs `(batch, rows, cols, channels)` (channels_last)."""

    _ndim = 4


class SpatialDropout3D(_SpatialDropout):
    """Dropout of whole 3D feature maps: inputs `(batch, d1, d2, d3, channels)` (channels_last)."""

    _ndim = 5


class GaussianNoise(_NoiseLayer):
    """Adds zero-mean Gaussian noise of standard deviation `stddev` while training."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = _unit_interval(self, "stddev", stddev)
        self.seed = _seed(self, seed)
        self.seed_generator = seed_generator_for(self.stddev, self.seed)

    def call(self, inputs, training=False):
        if not training or self.stddev == 0:
            return inputs
        key = shoal_random.draw_key(self.seed_generator)
        noise = jax.random.normal(key, inputs.shape, dtype=self.compute_dtype)
        return inputs + self.stddev * noise

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_NoiseLayer):
    """Multiplies by Gaussian noise of mean 1 and stddev `sqrt(rate / (1 - rate))` while training."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _unit_interval(self, "rate", rate)
        if self.rate == 1:
            raise _error(self, "rate", "a number in [0, 1) (rate=1 gives infinite noise)", rate)
        self.seed = _seed(self, seed)
        self.seed_generator = seed_generator_for(self.rate, self.seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        key = shoal_random.draw_key(self.seed_generator)
        noise = jax.random.normal(key, inputs.shape, dtype=self.compute_dtype)
        return inputs * (1 + stddev * noise)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class ActivityRegularization(_NoiseLayer):
    """Identity that adds `l1 * sum(|x|) + l2 * sum(x**2)` of its output to the layer losses."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)  # fixed by l1/l2, as in Keras
        super().__init__(**kwargs)
        for arg, value in (("l1", l1), ("l2", l2)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
                raise _error(self, arg, "a non-negative number", value)
        self.l1 = float(l1)
        self.l2 = float(l2)
        self.activity_regularizer = regularizers.L1L2(l1=l1, l2=l2)

    def call(self, inputs):
        return inputs

    def get_config(self):
        config_ = super().get_config()
        config_.pop("activity_regularizer", None)
        return {**config_, "l1": self.l1, "l2": self.l2}
