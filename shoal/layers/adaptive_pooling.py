"""Adaptive pooling layers (1D-3D): pool to a fixed spatial `output_size`, whatever the input's.

Output cell `i` of an axis of length `L` pooled to `n` covers the input window
`[floor(i L / n), ceil((i + 1) L / n))`, as Keras 3 (and PyTorch) do; the work is
`shoal.ops.adaptive_average_pool` / `adaptive_max_pool`.
"""

from __future__ import annotations

import numbers

import jax.numpy as jnp

from shoal.layers import conv_utils as cu
from shoal.layers.base import Layer
from shoal.layers.input_spec import InputSpec
from shoal.ops.adaptive_pooling import adaptive_average_pool, adaptive_max_pool

_AXES = {1: "(length,)", 2: "(height, width)", 3: "(depth, height, width)"}


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _output_size(layer, value, rank: int) -> tuple:
    """An int or `rank` ints -> a tuple of `rank` positive ints (Keras: TypeError for a wrong
    type or length, ValueError for non-positive sizes)."""
    expected = f"a positive integer or a tuple of {rank} positive integers {_AXES[rank]}"
    where = f"{type(layer).__name__} '{layer.name}'"
    if _is_int(value):
        sizes = (int(value),) * rank
    elif isinstance(value, (tuple, list)) and len(value) == rank and all(map(_is_int, value)):
        sizes = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{where}: argument 'output_size' must be {expected}, got {value!r}")
    if any(s <= 0 for s in sizes):
        raise ValueError(f"{where}: argument 'output_size' must be {expected}, got {value!r}")
    return sizes


class BaseAdaptivePooling(Layer):
    """Adaptive pooling; subclasses set `rank` and `_pool` (the op)."""

    rank: int = 0

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.output_size = _output_size(self, output_size, self.rank)
        self.data_format = cu.data_format_arg(self, data_format)
        self.input_spec = InputSpec(ndim=self.rank + 2)
        self.built = True

    @staticmethod
    def _pool(inputs, output_size, data_format):
        raise NotImplementedError

    def call(self, inputs):
        return self._pool(inputs, self.output_size, self.data_format)

    def compute_output_shape(self, input_shape):
        shape = cu.check_rank(self, input_shape, self.rank)
        channels = shape[cu.channel_axis(self.data_format)]
        return cu.with_spatial(shape, self.output_size, channels, self.data_format)

    def get_config(self):
        return {
            **super().get_config(),
            "output_size": self.output_size,
            "data_format": self.data_format,
        }


class BaseAdaptiveAveragePooling(BaseAdaptivePooling):
    _pool = staticmethod(adaptive_average_pool)

    def call(self, inputs):
        x = jnp.asarray(inputs)
        if not jnp.issubdtype(x.dtype, jnp.floating):  # a mean of integers is a float
            x = x.astype(self.compute_dtype)
        return super().call(x)


class BaseAdaptiveMaxPooling(BaseAdaptivePooling):
    _pool = staticmethod(adaptive_max_pool)


class AdaptiveAveragePooling1D(BaseAdaptiveAveragePooling):
    """Mean over adaptive windows: `(batch, steps, channels)` -> `(batch, output_size, channels)`.

    Example:
        >>> AdaptiveAveragePooling1D(3)(np.ones((2, 7, 4), "float32")).shape
        (2, 3, 4)
    """

    rank = 1


class AdaptiveAveragePooling2D(BaseAdaptiveAveragePooling):
    """Mean over adaptive windows so `(height, width)` becomes `output_size`."""

    rank = 2


class AdaptiveAveragePooling3D(BaseAdaptiveAveragePooling):
    """Mean over adaptive windows so `(depth, height, width)` becomes `output_size`."""

    rank = 3


class AdaptiveMaxPooling1D(BaseAdaptiveMaxPooling):
    """Max over adaptive windows: `(batch, steps, channels)` -> `(batch, output_size, channels)`."""

    rank = 1


class AdaptiveMaxPooling2D(BaseAdaptiveMaxPooling):
    """Max over adaptive windows so `(height, width)` becomes `output_size`.

    Example:
        >>> AdaptiveMaxPooling2D((2, 3))(np.ones((1, 5, 7, 3), "float32")).shape
        (1, 2, 3, 3)
    """

    rank = 2


class AdaptiveMaxPooling3D(BaseAdaptiveMaxPooling):
    """Max over adaptive windows so `(depth, height, width)` becomes `output_size`."""

    rank = 3


__all__ = [
    "AdaptiveAveragePooling1D",
    "AdaptiveAveragePooling2D",
    "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D",
    "AdaptiveMaxPooling2D",
    "AdaptiveMaxPooling3D",
]
