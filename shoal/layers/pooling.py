"""Pooling layers: windowed max / average pooling (1D-3D) and global pooling (1D-3D).

Windowed pooling is one `reduce_window`: `shoal.ops.cpu_lowering.reduce_window`, which on
CPU lowers common windows as reshape + reduce (and max's gradient without
select-and-scatter; identical results), else `jax.lax.reduce_window`. Average pooling with
'same' padding divides each window by the number of real (non-padding) elements in it, as
Keras does.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from shoal.layers import conv_utils as cu
from shoal.layers.base import Layer
from shoal.layers.input_spec import InputSpec
from shoal.ops import cpu_lowering


class BasePooling(Layer):
    """Windowed pooling; subclasses set `rank` and `pool_mode` ('max' or 'average')."""

    rank: int = 0
    pool_mode: str = "max"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = cu.int_tuple(self, "pool_size", pool_size, self.rank)
        self.strides = (
            self.pool_size if strides is None else cu.int_tuple(self, "strides", strides, self.rank)
        )
        self.padding = cu.padding_arg(self, padding)
        self.data_format = cu.data_format_arg(self, data_format)
        self.input_spec = InputSpec(ndim=self.rank + 2)
        self.built = True  # no state: built at once, as Keras

    def call(self, inputs):
        x = jnp.asarray(inputs)
        self.compute_output_shape(x.shape)  # a clear error for an input too small
        window = cu.window_shape(self.pool_size, self.data_format)
        strides = cu.window_shape(self.strides, self.data_format)
        padding = self.padding.upper()
        if self.pool_mode == "max":
            if jnp.issubdtype(x.dtype, jnp.floating):
                init = np.array(-np.inf, x.dtype)
            else:
                init = np.array(np.iinfo(x.dtype).min if x.dtype != bool else False, x.dtype)
            # A concrete NumPy init value lets JAX use its differentiable max-window reducer.
            return cpu_lowering.reduce_window(x, init, lax.max, window, strides, padding)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(self.compute_dtype)
        zero = np.array(0, x.dtype)
        total = cpu_lowering.reduce_window(x, zero, lax.add, window, strides, padding)
        if self.padding == "valid":
            return total / np.array(cu.prod(self.pool_size), x.dtype)
        # Count the real elements under each window: one spatial-only pass over ones.
        ones_shape = cu.window_shape(cu.spatial_dims(x.shape, self.data_format), self.data_format)
        counts = lax.reduce_window(
            jnp.ones(ones_shape, x.dtype), zero, lax.add, window, strides, padding
        )
        return total / counts

    def compute_output_shape(self, input_shape):
        input_shape = cu.check_rank(self, input_shape, self.rank)
        spatial = [
            cu.conv_output_length(n, p, s, self.padding, 1)
            for n, p, s in zip(
                cu.spatial_dims(input_shape, self.data_format),
                self.pool_size,
                self.strides,
                strict=True,
            )
        ]
        cu.check_output_positive(self, input_shape, spatial)
        channels = tuple(input_shape)[cu.channel_axis(self.data_format)]
        return cu.with_spatial(input_shape, spatial, channels, self.data_format)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": self.data_format,
        }


class MaxPooling1D(BasePooling):
    """Max over windows of `pool_size` steps of `(batch, steps, channels)` inputs."""

    rank, pool_mode = 1, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(BasePooling):
    """Max over `pool_size` windows of `(batch, height, width, channels)` inputs.

    Example:
        >>> MaxPooling2D()(np.zeros((1, 6, 6, 3), "float32")).shape
        (1, 3, 3, 3)
    """

    rank, pool_mode = 2, "max"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(BasePooling):
    """Max over `pool_size` windows of `(batch, d1, d2, d3, channels)` inputs."""

    rank, pool_mode = 3, "max"

    def __init__(
        self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs
    ):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(BasePooling):
    """Mean over windows of `pool_size` steps of `(batch, steps, channels)` inputs."""

    rank, pool_mode = 1, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(BasePooling):
    """Mean over `pool_size` windows of `(batch, height, width, channels)` inputs."""

    rank, pool_mode = 2, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling3D(BasePooling):
    """Mean over `pool_size` windows of `(batch, d1, d2, d3, channels)` inputs."""

    rank, pool_mode = 3, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class BaseGlobalPooling(Layer):
    """Reduce over every spatial axis; subclasses set `rank` and `_reduce`."""

    rank: int = 0

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = cu.data_format_arg(self, data_format)
        if not isinstance(keepdims, (bool, np.bool_)):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': argument 'keepdims' must be a bool, "
                f"got {keepdims!r}"
            )
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=self.rank + 2)
        self.built = True

    def _axes(self) -> tuple:
        start = 1 if self.data_format == "channels_last" else 2
        return tuple(range(start, start + self.rank))

    def compute_output_shape(self, input_shape):
        shape = cu.check_rank(self, input_shape, self.rank)
        channels = shape[cu.channel_axis(self.data_format)]
        spatial = (1,) * self.rank if self.keepdims else ()
        return cu.with_spatial(shape, spatial, channels, self.data_format)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class _GlobalMax(BaseGlobalPooling):
    def call(self, inputs):
        return jnp.max(inputs, axis=self._axes(), keepdims=self.keepdims)


class _GlobalAverage(BaseGlobalPooling):
    def call(self, inputs):
        x = jnp.asarray(inputs)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(self.compute_dtype)
        return jnp.mean(x, axis=self._axes(), keepdims=self.keepdims)


class GlobalMaxPooling1D(_GlobalMax):
    """Max over the steps axis: `(batch, steps, channels)` -> `(batch, channels)`."""

    rank = 1


class GlobalMaxPooling2D(_GlobalMax):
    """Max over height and width: `(batch, h, w, channels)` -> `(batch, channels)`."""

    rank = 2


class GlobalMaxPooling3D(_GlobalMax):
    """Max over the three spatial axes -> `(batch, channels)`."""

    rank = 3


class GlobalAveragePooling1D(_GlobalAverage):
    """Mean over the steps axis; honours a `(batch, steps)` mask (masked steps are skipped).

    Example:
        >>> GlobalAveragePooling1D(keepdims=True)(np.ones((2, 5, 3), "float32")).shape
        (2, 1, 3)
    """

    rank = 1

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(data_format=data_format, keepdims=keepdims, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        x = jnp.asarray(inputs)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(self.compute_dtype)
        steps = self._axes()[0]
        weights = jnp.expand_dims(jnp.asarray(mask).astype(bool), 3 - steps).astype(x.dtype)
        total = jnp.sum(jnp.where(weights > 0, x, 0), axis=steps, keepdims=self.keepdims)
        return total / jnp.sum(weights, axis=steps, keepdims=self.keepdims)

    def compute_mask(self, inputs, previous_mask=None):
        return None


class GlobalAveragePooling2D(_GlobalAverage):
    """Mean over height and width: `(batch, h, w, channels)` -> `(batch, channels)`."""

    rank = 2


class GlobalAveragePooling3D(_GlobalAverage):
    """Mean over the three spatial axes -> `(batch, channels)`."""

    rank = 3


# Keras' short aliases.
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
MaxPool3D = MaxPooling3D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
AvgPool3D = AveragePooling3D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalMaxPool3D = GlobalMaxPooling3D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalAvgPool3D = GlobalAveragePooling3D
