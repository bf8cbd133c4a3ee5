"""RMSNormalization: `x * rsqrt(mean(x**2 over axis) + epsilon) * scale` (Keras 3 semantics).

Unlike `LayerNormalization(rms_scaling=True)` this divides by the root *mean square*, not
the standard deviation, and has no centering. Statistics are computed in at least float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal.layers.base import Layer
from shoal.layers.normalization import _axes_arg, _number, _resolve_axes, _stat_dtype


class RMSNormalization(Layer):
    """Root-mean-square normalization over `axis` (an int or a list of ints).

    `scale` (initialized to ones) has the shape of the input along the sorted axes.

    Example:
        >>> layer = RMSNormalization()
        >>> layer(np.ones((2, 4), "float32")).shape
        (2, 4)
    """

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axes_arg(self, axis)
        self.epsilon = _number(self, "epsilon", epsilon, low=0)
        self.supports_masking = True

    def build(self, input_shape):
        self._axes = _resolve_axes(self, self.axis, input_shape)
        self.scale = self.add_weight(
            name="scale",
            shape=tuple(input_shape[a] for a in self._axes),
            initializer="ones",
            trainable=True,
        )
        self.built = True

    def call(self, inputs):
        # `axis` counts from the input's own rank, as in Keras: a layer built on a shape
        # without the batch axis (`build((4, 8))`) normalizes the same axes of `(n, 4, 8)`.
        axes = _resolve_axes(self, self.axis, inputs.shape, need_known=False)
        x = inputs.astype(_stat_dtype(inputs))
        mean_square = jnp.mean(jnp.square(x), axis=axes, keepdims=True)
        out = x * jax.lax.rsqrt(mean_square + self.epsilon)
        # Broadcast `scale` along its own axes. Keras multiplies it against the trailing
        # axes, which is the same thing whenever the normalized axes are the last ones.
        shape = [1] * x.ndim
        for a in axes:
            shape[a] = x.shape[a]
        out = out * jnp.reshape(self.scale.value.astype(x.dtype), shape)
        return out.astype(inputs.dtype)

    def compute_output_shape(self, input_shape):
        _resolve_axes(self, self.axis, input_shape, need_known=False)
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}
