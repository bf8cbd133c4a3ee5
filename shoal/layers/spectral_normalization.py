"""`SpectralNormalization` (Keras 3): divide a layer's kernel by its largest singular value.

The largest singular value `sigma` of the kernel (reshaped to `(-1, out)`) is estimated by
power iteration from a persistent vector `u` (non-trainable weight `vector_u`, shape
`(1, out)`). In training each call runs `power_iterations` steps,

    v = normalize(u W^T),  u = normalize(v W),  sigma = v W u^T,

and writes `W / sigma` to the kernel and the new `u` to `vector_u`; in inference the kernel
is used as it is. This follows Keras 3 (Miyato et al., 2018), so weights transfer both ways.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal import initializers
from shoal.backend import config as backend_config
from shoal.layers.input_spec import InputSpec
from shoal.layers.wrappers import Wrapper


def _l2_normalize(x):
    """Keras' `ops.normalize(x, axis=None)`: x * min(rsqrt(sum(x^2)), 1 / epsilon)."""
    inv_norm = jax.lax.rsqrt(jnp.sum(jnp.square(x)))
    return x * jnp.minimum(inv_norm, 1.0 / backend_config.epsilon())


class SpectralNormalization(Wrapper):
    """Spectral normalization of a wrapped layer's weights (stabilises e.g. GAN training).

    Args:
        layer: a layer with a `kernel` (`Dense`, `Conv2D`, ...) or an `embeddings`
            (`Embedding`) weight.
        power_iterations: positive int, power-iteration steps per training call.

    Weights are the wrapped layer's kernel, then `vector_u` (shape `(1, kernel.shape[-1])`,
    non-trainable), then the wrapped layer's other weights, as in Keras.

    Example:
        >>> layer = SpectralNormalization(Dense(10))
        >>> layer(np.ones((1, 4), "float32"), training=True).shape
        (1, 10)
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if (
            isinstance(power_iterations, bool)
            or not isinstance(power_iterations, int)
            or power_iterations <= 0
        ):
            raise ValueError(
                "argument 'power_iterations' must be a positive integer (greater than zero), "
                f"got power_iterations={power_iterations!r}"
            )
        self.power_iterations = power_iterations

    def build(self, input_shape):
        super().build(input_shape)
        self.input_spec = InputSpec(min_ndim=1, axes={-1: input_shape[-1]})
        if hasattr(self.layer, "kernel"):
            kernel = self.layer.kernel
        elif hasattr(self.layer, "embeddings"):
            kernel = self.layer.embeddings
        else:
            raise ValueError(
                f"SpectralNormalization '{self.name}': argument 'layer' must have a 'kernel' "
                f"or an 'embeddings' weight once built; got {type(self.layer).__name__} "
                f"'{self.layer.name}', which has neither"
            )
        # Tracking the kernel here puts it first among this layer's weights, as in Keras.
        self.kernel = kernel
        self.kernel_shape = tuple(kernel.shape)
        self.vector_u = self.add_weight(
            shape=(1, self.kernel_shape[-1]),
            initializer=initializers.TruncatedNormal(stddev=0.02),
            trainable=False,
            name="vector_u",
            dtype=kernel.dtype,
        )
        self.built = True

    def call(self, inputs, training=False):
        if training:
            kernel = self.kernel.value
            vector_u = self.vector_u.value
            new_u, new_kernel = jax.lax.cond(
                jnp.all(kernel == 0),
                lambda u, w: (u, w),
                self._normalized_weights,
                vector_u,
                kernel,
            )
            self.vector_u.assign(new_u)
            self.kernel.assign(new_kernel)
        output = self.layer(inputs)
        return output.astype(inputs.dtype)

    def _normalized_weights(self, vector_u, kernel):
        """(new u, kernel / sigma) from the current u and kernel."""
        weights = jnp.reshape(kernel, (-1, self.kernel_shape[-1]))
        for _ in range(self.power_iterations):
            vector_v = _l2_normalize(vector_u @ weights.T)
            vector_u = _l2_normalize(vector_v @ weights)
        vector_u = jax.lax.stop_gradient(vector_u)
        vector_v = jax.lax.stop_gradient(vector_v)
        sigma = (vector_v @ weights) @ vector_u.T
        new_kernel = jnp.reshape(kernel / sigma, self.kernel_shape)
        return vector_u.astype(self.vector_u.dtype), new_kernel.astype(self.kernel.dtype)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}
