"""Position information for sequence models, as keras_hub defines it.

Both layers take embedded tokens `(batch, steps, features)` and return a tensor of the
same shape holding only position vectors, to be added to the tokens:

    x = Embedding(vocab, dim)(ids)
    x = x + PositionEmbedding(sequence_length=max_steps)(x)

`PositionEmbedding` learns a `(sequence_length, features)` table; `SinePositionEncoding`
computes the fixed sinusoids of "Attention Is All You Need". Neither looks at the input's
values, and neither carries masks (combine them with `Embedding(mask_zero=True)`).
"""

from __future__ import annotations

import numbers

import jax.numpy as jnp
from jax import lax

from shoal import initializers
from shoal.layers.base import Layer
from shoal.layers.input_spec import format_shape


def _check_rank(layer, shape) -> None:
    if len(shape) < 2:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': inputs must have shape "
            f"(batch, steps, features); got shape {format_shape(shape)}"
        )


class PositionEmbedding(Layer):
    """A learned position embedding: row `i` of a `(sequence_length, features)` table.

    Called on `(batch, steps, features)` inputs (`steps <= sequence_length`) it returns
    `table[start_index : start_index + steps]` broadcast to the input's shape, or
    `table[positions]` when `positions` (`(steps,)` or `(batch, steps)` ints) is given.
    The weight is named `embeddings`.

    Example:
        >>> x = np.zeros((2, 5, 8), "float32")
        >>> PositionEmbedding(sequence_length=10)(x).shape
        (2, 5, 8)
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if (
            isinstance(sequence_length, bool)
            or not isinstance(sequence_length, numbers.Integral)
            or sequence_length <= 0
        ):
            raise ValueError(
                f"PositionEmbedding '{self.name}': argument 'sequence_length' must be a "
                f"positive integer, got {sequence_length!r}"
            )
        self.sequence_length = int(sequence_length)
        self.initializer = initializers.get(initializer)

    def build(self, inputs_shape):
        inputs_shape = tuple(inputs_shape)
        _check_rank(self, inputs_shape)
        features = inputs_shape[-1]
        if features is None:
            raise ValueError(
                f"PositionEmbedding '{self.name}': the last dimension of the inputs must be "
                f"known; got shape {format_shape(inputs_shape)}"
            )
        self.position_embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, features),
            initializer=self.initializer,
        )
        self.built = True

    def call(self, inputs, start_index=0, positions=None):
        shape = tuple(inputs.shape)
        _check_rank(self, shape)
        steps, features = shape[-2], shape[-1]
        table = self.position_embeddings.value
        if positions is None:
            if steps > self.sequence_length:
                raise ValueError(
                    f"PositionEmbedding '{self.name}': inputs have {steps} steps, more than "
                    f"sequence_length={self.sequence_length}; expected at most "
                    f"{self.sequence_length}, got input shape {format_shape(shape)}"
                )
            rows = lax.dynamic_slice(table, (start_index, 0), (steps, features))
        else:
            rows = jnp.take(table, jnp.asarray(positions, "int32"), axis=0)
        return jnp.broadcast_to(rows, shape).astype(self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            "initializer": initializers.serialize(self.initializer),
        }


class SinePositionEncoding(Layer):
    """Fixed sinusoidal position encoding (Vaswani et al., 2017).

    For position `p` and feature `i` of `d`, with `w = max_wavelength`:
    `sin(p / w^(2k/d))` at even `i = 2k`, `cos(p / w^(2k/d))` at odd `i = 2k + 1`.
    Returns the encoding broadcast to the input's shape; positions start at
    `start_index`, or are given by `positions`.

    Example:
        >>> x = np.zeros((2, 5, 8), "float32")
        >>> SinePositionEncoding()(x).shape
        (2, 5, 8)
    """

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        if (
            isinstance(max_wavelength, bool)
            or not isinstance(max_wavelength, numbers.Real)
            or max_wavelength <= 0
        ):
            raise ValueError(
                f"SinePositionEncoding '{self.name}': argument 'max_wavelength' must be a "
                f"positive number, got {max_wavelength!r}"
            )
        self.max_wavelength = max_wavelength
        self.built = True

    def call(self, inputs, start_index=0, positions=None):
        shape = tuple(inputs.shape)
        _check_rank(self, shape)
        steps, features = shape[-2], shape[-1]
        dtype = self.compute_dtype
        if positions is None:
            positions = jnp.arange(steps) + start_index
        positions = jnp.asarray(positions).astype(dtype)
        index = jnp.arange(features)
        exponent = (2 * (index // 2)).astype(dtype) / jnp.asarray(features, dtype)
        timescales = jnp.power(jnp.asarray(1.0 / self.max_wavelength, dtype), exponent)
        angles = positions[..., None] * timescales
        odd = (index % 2).astype(dtype)
        encoding = jnp.sin(angles) * (1 - odd) + jnp.cos(angles) * odd
        return jnp.broadcast_to(encoding, shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength}


__all__ = ["PositionEmbedding", "SinePositionEncoding"]
