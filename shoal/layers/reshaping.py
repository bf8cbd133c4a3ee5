"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, UpSampling1D/2D/3D.

They move values and never learn, so none has weights. Padding and cropping
live in `padding_cropping.py`.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp

from shoal.backend import dtypes
from shoal.backend.symbolic import KerasTensor
from shoal.layers.base import Layer
from shoal.layers.conv_utils import data_format_arg, int_tuple, positive_int
from shoal.layers.input_spec import InputSpec


def layer_label(layer) -> str:
    return f"{type(layer).__name__} '{layer.name}'"


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _prod(dims):
    return None if any(d is None for d in dims) else math.prod(dims)


def spatial_axes(data_format: str, rank: int) -> range:
    """Axes of the `rank` spatial dimensions of a (batch, ..., channels) or channels-first input."""
    return range(2, rank + 2) if data_format == "channels_first" else range(1, rank + 1)


class ShapeLayer(Layer):
    """A layer that only moves values: its output keeps the (autocast) input dtype.

    Subclasses give `compute_output_shape`; the symbolic output takes the input's dtype,
    not the layer's compute dtype, so integer inputs stay integer as in eager calls.
    """

    def compute_output_spec(self, inputs, **kwargs):
        dtype = inputs.dtype
        if self.autocast and dtypes.is_float_dtype(dtype):
            dtype = self.compute_dtype
        return KerasTensor(self.compute_output_shape(tuple(inputs.shape)), dtype=dtype)


class Flatten(ShapeLayer):
    """Flattens every non-batch axis: `(batch, d1, ..., dn) -> (batch, d1 * ... * dn)`.

    With `data_format="channels_first"` the channels axis is moved last first, so the
    order of values matches a channels-last model. A `(batch,)` input becomes `(batch, 1)`.

    Example:
        >>> Flatten()(np.zeros((2, 3, 4))).shape
        (2, 12)
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_arg(self, data_format)
        self.input_spec = InputSpec(min_ndim=1)

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = jnp.moveaxis(inputs, 1, -1)
        return jnp.reshape(inputs, (inputs.shape[0], math.prod(inputs.shape[1:])))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _prod(input_shape[1:]))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(ShapeLayer):
    """Reshapes each sample to `target_shape` (batch axis excluded); one entry may be -1.

    Example:
        >>> Reshape((3, -1))(np.zeros((2, 12))).shape
        (2, 3, 4)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        expected = "a tuple of non-negative integers with at most one -1"
        shape = tuple(target_shape) if isinstance(target_shape, (tuple, list)) else None
        if shape is None or not all(is_int(d) and d >= -1 for d in shape):
            raise ValueError(
                f"{layer_label(self)}: argument 'target_shape' must be {expected}, got {target_shape!r}"
            )
        if shape.count(-1) > 1:
            raise ValueError(
                f"{layer_label(self)}: argument 'target_shape' must be {expected} (only one "
                f"dimension can be inferred), got {target_shape!r}"
            )
        self.target_shape = tuple(int(d) for d in shape)

    def _resolve(self, input_shape):
        """Target shape with -1 filled in (or None when the input size is unknown)."""
        sample = tuple(input_shape[1:])
        size = _prod(sample)
        if size is None:
            return tuple(None if d == -1 else d for d in self.target_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 not in self.target_shape:
            if known == size:
                return self.target_shape
        elif known > 0 and size % known == 0:
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        raise ValueError(
            f"{layer_label(self)}: cannot reshape input of shape {tuple(input_shape)} "
            f"({size} values per sample) to target_shape {self.target_shape} "
            f"({'a multiple of ' if -1 in self.target_shape else ''}{known} values)"
        )

    def build(self, input_shape):
        self._resolve(input_shape)
        self.built = True

    def call(self, inputs):
        return jnp.reshape(inputs, (inputs.shape[0],) + self._resolve(inputs.shape))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolve(input_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(ShapeLayer):
    """Permutes the non-batch axes; `dims` is 1-based, e.g. `(2, 1)` swaps axes 1 and 2.

    Example:
        >>> Permute((2, 1))(np.zeros((2, 3, 4))).shape
        (2, 4, 3)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        values = tuple(dims) if isinstance(dims, (tuple, list)) else None
        if (
            not values
            or not all(is_int(d) for d in values)
            or sorted(int(d) for d in values) != list(range(1, len(values) + 1))
        ):
            raise ValueError(
                f"{layer_label(self)}: argument 'dims' must be a permutation of 1..n (the batch "
                f"axis 0 is excluded), e.g. (2, 1), got {dims!r}"
            )
        self.dims = tuple(int(d) for d in values)
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def call(self, inputs):
        return jnp.transpose(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(ShapeLayer):
    """Repeats a `(batch, features)` input `n` times: output `(batch, n, features)`."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = positive_int(self, "n", n)
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        return jnp.repeat(inputs[:, None, :], self.n, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}


def _scaled(input_shape, axes, factors):
    out = list(input_shape)
    for axis, factor in zip(axes, factors, strict=True):
        out[axis] = None if out[axis] is None else out[axis] * factor
    return tuple(out)


def _repeat(x, axes, factors):
    for axis, factor in zip(axes, factors, strict=True):
        x = jnp.repeat(x, factor, axis=axis)
    return x


class UpSampling1D(ShapeLayer):
    """Repeats each step of a `(batch, steps, features)` input `size` times."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = positive_int(self, "size", size)
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        return jnp.repeat(inputs, self.size, axis=1)

    def compute_output_shape(self, input_shape):
        return _scaled(input_shape, (1,), (self.size,))

    def get_config(self):
        return {**super().get_config(), "size": self.size}


_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")


class UpSampling2D(ShapeLayer):
    """Scales rows and columns by `size`: repeats for "nearest", else resizes by interpolation.

    Example:
        >>> UpSampling2D((2, 3))(np.zeros((1, 2, 2, 3))).shape
        (1, 4, 6, 3)
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_arg(self, data_format)
        self.size = int_tuple(self, "size", size, 2)
        if not isinstance(interpolation, str) or interpolation.lower() not in _INTERPOLATIONS:
            raise ValueError(
                f"{layer_label(self)}: argument 'interpolation' must be one of "
                f"{', '.join(map(repr, _INTERPOLATIONS))}, got {interpolation!r}"
            )
        self.interpolation = interpolation.lower()
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        axes = spatial_axes(self.data_format, 2)
        if self.interpolation == "nearest":
            return _repeat(inputs, axes, self.size)
        out_shape = _scaled(inputs.shape, axes, self.size)
        return jax.image.resize(inputs, out_shape, method=self.interpolation, antialias=False)

    def compute_output_shape(self, input_shape):
        return _scaled(input_shape, spatial_axes(self.data_format, 2), self.size)

    def get_config(self):
        return {
            **super().get_config(),
            "size": self.size,
            "data_format": self.data_format,
            "interpolation": self.interpolation,
        }


class UpSampling3D(ShapeLayer):
    """Repeats the three spatial axes of a 5D input by `size` (nearest neighbour)."""

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_arg(self, data_format)
        self.size = int_tuple(self, "size", size, 3)
        self.input_spec = InputSpec(ndim=5)

    def call(self, inputs):
        return _repeat(inputs, spatial_axes(self.data_format, 3), self.size)

    def compute_output_shape(self, input_shape):
        return _scaled(input_shape, spatial_axes(self.data_format, 3), self.size)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format}
