"""Preprocessing layers that scale features: Rescaling and Normalization.

Both run in training and inference alike. `Normalization` learns its statistics from data
with `adapt()` (or takes them as `mean` / `variance`) and keeps adapted statistics in
non-trainable weights `mean`, `variance` and `count`, as Keras does, so saved models and
Keras weight files load.
"""

from __future__ import annotations

import itertools
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import config
from shoal.layers.base import Layer
from shoal.layers.input_spec import format_shape


def _number_or_array(layer, name, value):
    if isinstance(value, bool) or not (
        isinstance(value, numbers.Real) or np.ndim(value) >= 1 and _all_real(value)
    ):
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': argument '{name}' must be a number or "
            f"an array of numbers; got {value!r}"
        )
    return value


def _all_real(value) -> bool:
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except (TypeError, ValueError):
        return False


class Rescaling(Layer):
    """`inputs * scale + offset`, in the layer's compute dtype (integer inputs become
    floats). `scale` and `offset` may be arrays broadcastable to the inputs (per channel).

    Example:
        >>> Rescaling(1 / 255)(np.array([[0, 255]])).tolist()
        [[0.0, 1.0]]
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _number_or_array(self, "scale", scale)
        self.offset = _number_or_array(self, "offset", offset)
        self.supports_masking = True

    def call(self, inputs):
        dtype = self.compute_dtype
        scale = jnp.asarray(self.scale, dtype)
        offset = jnp.asarray(self.offset, dtype)
        if scale.ndim > 0 and config.image_data_format() == "channels_first":
            scale = scale.reshape(scale.shape + (1,) * (3 - scale.ndim))
        return jnp.asarray(inputs).astype(dtype) * scale + offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "scale": _jsonable(self.scale),
            "offset": _jsonable(self.offset),
        }


def _jsonable(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


class Normalization(Layer):
    """`(inputs - mean) / sqrt(variance)` per position of `axis` (the features axis by
    default), with statistics from `adapt(data)` or given as `mean` and `variance`.
    `invert=True` undoes it: `mean + inputs * sqrt(variance)`. `axis=None` uses one mean
    and variance for all values.

    Example:
        >>> layer = Normalization()
        >>> layer.adapt(np.array([[0.0, 10.0], [2.0, 30.0]]))
        >>> layer(np.array([[1.0, 20.0]])).tolist()
        [[0.0, 0.0]]
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        owner = f"Normalization '{self.name}'"
        if axis is None:
            axis = ()
        elif isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
            axis = (int(axis),)
        elif isinstance(axis, (tuple, list)) and all(
            isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axis
        ):
            axis = tuple(int(a) for a in axis)
        else:
            raise ValueError(
                f"{owner}: argument 'axis' must be an integer, a tuple of integers or None; "
                f"got {axis!r}"
            )
        if (mean is None) != (variance is None):
            raise ValueError(
                f"{owner}: arguments 'mean' and 'variance' must be given together; got "
                f"mean={mean!r}, variance={variance!r}"
            )
        if mean is not None:
            mean = _number_or_array(self, "mean", mean)
            variance = _number_or_array(self, "variance", variance)
            if np.shape(mean) != np.shape(variance):
                raise ValueError(
                    f"{owner}: 'mean' and 'variance' must have the same shape; got "
                    f"{np.shape(mean)} and {np.shape(variance)}"
                )
            if np.ndim(mean) > len(axis):
                raise ValueError(
                    f"{owner}: 'mean' may have at most as many dimensions as 'axis' has "
                    f"entries ({len(axis)}); got mean of shape {np.shape(mean)}"
                )
        self.axis = axis
        self.input_mean = mean
        self.input_variance = variance
        self.invert = bool(invert)
        self.supports_masking = True
        self.adapt_mean = self.adapt_variance = self.count = None

    def build(self, input_shape):
        if input_shape is None:
            return
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(
                f"Normalization '{self.name}': every 'axis' must be in [-{ndim}, {ndim}) for "
                f"inputs of shape {tuple(input_shape)}; got axis={self.axis}"
            )
        self._keep_axis = tuple(sorted(a % ndim for a in self.axis))
        for a in self._keep_axis:
            if input_shape[a] is None:
                raise ValueError(
                    f"Normalization '{self.name}': the kept axis {a} of inputs "
                    f"{tuple(input_shape)} must have a known size"
                )
        self._reduce_axis = tuple(d for d in range(ndim) if d not in self._keep_axis)
        self._broadcast_shape = tuple(
            input_shape[d] if d in self._keep_axis else 1 for d in range(ndim)
        )
        self._stats_shape = tuple(input_shape[d] for d in self._keep_axis)
        self._build_shapes = tuple(input_shape)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(
                name="mean", shape=self._stats_shape, initializer="zeros", trainable=False
            )
            self.adapt_variance = self.add_weight(
                name="variance", shape=self._stats_shape, initializer="ones", trainable=False
            )
            self.count = self.add_weight(
                name="count", shape=(), dtype="int32", initializer="zeros", trainable=False
            )
        self.built = True

    @property
    def mean(self):
        """The mean in the broadcast shape (after build or adapt; None before), as Keras."""
        return self._statistics()[0] if self.built else None

    @property
    def variance(self):
        return self._statistics()[1] if self.built else None

    def _statistics(self):
        """(mean, variance) in the broadcast shape and compute dtype."""
        dtype = self.compute_dtype
        if self.input_mean is None:
            mean, variance = self.adapt_mean.value, self.adapt_variance.value
            shape = self._broadcast_shape
            return mean.reshape(shape).astype(dtype), variance.reshape(shape).astype(dtype)
        values = []
        for given in (self.input_mean, self.input_variance):
            value = jnp.asarray(given, dtype)
            expanded = [1] * len(self._broadcast_shape)
            for i in range(1, value.ndim + 1):  # trailing dims fill the last kept axes
                expanded[self._keep_axis[-i]] = value.shape[-i]
            values.append(jnp.broadcast_to(value.reshape(expanded), self._broadcast_shape))
        return tuple(values)

    def call(self, inputs):
        inputs = jnp.asarray(inputs).astype(self.compute_dtype)
        want = self._broadcast_shape
        if inputs.ndim == len(want):
            for a in self._keep_axis:
                if inputs.shape[a] != want[a]:
                    raise ValueError(
                        f"Normalization '{self.name}': expected size {want[a]} on axis {a} "
                        f"(as built or adapted, inputs {format_shape((None, *want[1:]))} with 1 "
                        f"on reduced axes); got inputs of shape {tuple(inputs.shape)}"
                    )
        mean, variance = self._statistics()
        scale = jnp.maximum(jnp.sqrt(variance), config.epsilon())
        if self.invert:
            return mean + inputs * scale
        return (inputs - mean) / scale

    def adapt(self, data):
        """Learn the mean and variance of `data`, per position of `axis`: an array, or an
        iterable of batches (a list of arrays, a generator, a PyDataset; `(x, y)` batches
        use `x`). Batches are combined exactly (not a running average)."""
        batches, shape = _batches(self, data)
        if not self.built:
            self.build(shape)
        elif self.input_mean is not None:
            raise ValueError(
                f"Normalization '{self.name}': adapt() cannot change a 'mean' and 'variance' "
                "given at construction."
            )
        total_count, total_mean, total_var = 0, None, None
        for batch in batches:
            batch = np.asarray(batch, dtype=np.float64)
            kept = tuple(batch.shape[d] for d in self._keep_axis)
            if batch.ndim != len(self._build_shapes) or kept != self._stats_shape:
                raise ValueError(
                    f"Normalization '{self.name}': adapt() got data of shape {batch.shape}, "
                    f"incompatible with the layer's input shape {self._build_shapes}"
                )
            count = math.prod(batch.shape[d] for d in self._reduce_axis)
            if count == 0:
                continue
            mean = batch.mean(axis=self._reduce_axis)
            var = batch.var(axis=self._reduce_axis)
            if total_mean is None:
                total_count, total_mean, total_var = count, mean, var
                continue
            # Chan et al.'s pairwise combination of (count, mean, variance).
            new_count = total_count + count
            delta = mean - total_mean
            total_mean = total_mean + delta * (count / new_count)
            total_var = (
                total_var * total_count + var * count + delta**2 * (total_count * count / new_count)
            ) / new_count
            total_count = new_count
        if total_mean is None:
            raise ValueError(f"Normalization '{self.name}': adapt() got no data.")
        self.adapt_mean.assign(total_mean.astype(self.adapt_mean.dtype))
        self.adapt_variance.assign(total_var.astype(self.adapt_variance.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "invert": self.invert,
            "mean": np.array(self.input_mean).tolist(),
            "variance": np.array(self.input_variance).tolist(),
        }


def _first_input(batch):
    return batch[0] if isinstance(batch, tuple) else batch


def _batches(layer, data):
    """(iterable of batches, shape of the first) for `Normalization.adapt`."""
    if isinstance(data, (np.ndarray, jax.Array)) or (
        isinstance(data, (list, tuple)) and data and isinstance(data[0], numbers.Number)
    ):
        data = np.asarray(data)
        return [data], data.shape
    if isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        raise TypeError(
            f"Normalization '{layer.name}': adapt() takes an array or an iterable of batches "
            f"(a list of arrays, a generator, a PyDataset); got {type(data).__name__}"
        )
    if hasattr(data, "__getitem__") and hasattr(data, "__len__") and not isinstance(data, list):
        dataset = data
        data = (dataset[i] for i in range(len(dataset)))  # a PyDataset: batches by index
    iterator = iter(data)
    first = next(iterator, None)
    if first is None:
        raise ValueError(f"Normalization '{layer.name}': adapt() got an empty iterable.")
    first = np.asarray(_first_input(first))
    rest = (np.asarray(_first_input(b)) for b in iterator)
    return itertools.chain([first], rest), first.shape
