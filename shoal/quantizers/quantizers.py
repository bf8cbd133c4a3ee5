"""Abs-max int8 quantization: `abs_max_quantize`, `Quantizer`, `AbsMaxQuantizer` (Keras'
keras.quantizers).

Symmetric, zero point 0: along `axis` the scale is
`scale = value_range[1] / (max(|x|) + epsilon)` and the quantized tensor is
`clip(round(x * scale), *value_range)`, so `x ≈ q / scale` (the scale multiplies; it is
not a step size). Rounding is half-to-even, as `numpy.round` and `jnp.round`.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from shoal.backend import config, dtypes


def _axes(axis, ndim):
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim for a in axis)


def abs_max_quantize(
    inputs,
    axis,
    value_range=(-127, 127),
    dtype="int8",
    epsilon=None,
    to_numpy=False,
):
    """Quantize `inputs` with one abs-max scale per slice along `axis` (kept, size 1).

    Args:
        inputs: a float tensor.
        axis: the axis (or axes) reduced to find each scale's abs-max.
        value_range: `(low, high)` of the quantized values; the scale maps abs-max to `high`.
        dtype: the quantized dtype.
        epsilon: added to the abs-max (avoids dividing by zero); `keras.config.epsilon()`
            by default.
        to_numpy: compute on the host with NumPy (saves device memory for big kernels).

    Returns:
        `(quantized, scale)`: `quantized` in `dtype`, `scale` in the dtype of `inputs`,
        shaped like `inputs` with size 1 along `axis`; `inputs ≈ quantized / scale`.

    Example:
        >>> q, s = abs_max_quantize(np.array([[0.5, -1.0]], "float32"), axis=-1)
        >>> np.asarray(q), np.asarray(s)
        (array([[  64, -127]], dtype=int8), array([[126.99999]], dtype=float32))
    """
    epsilon = config.epsilon() if epsilon is None else epsilon
    low, high = value_range
    if to_numpy:
        source = dtypes.standardize_dtype(inputs.dtype)
        x = np.asarray(inputs)
        axes = _axes(axis, x.ndim)
        scale = np.divide(high, np.add(np.max(np.abs(x), axis=axes, keepdims=True), epsilon))
        q = np.clip(np.round(np.multiply(x, scale)), low, high).astype(dtype)
        return jnp.asarray(q), jnp.asarray(scale, dtype=source)
    x = jnp.asarray(inputs)
    axes = _axes(axis, x.ndim)
    scale = jnp.divide(high, jnp.add(jnp.max(jnp.abs(x), axis=axes, keepdims=True), epsilon))
    scale = scale.astype(x.dtype)
    q = jnp.clip(jnp.round(jnp.multiply(x, scale)), low, high).astype(dtype)
    return q, scale


class Quantizer:
    """Base class: `quantizer(x) -> quantized` (identity here); `get_config` for saving."""

    def __init__(self, output_dtype="int8"):
        self.output_dtype = output_dtype

    def __call__(self, x):
        return x

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")


class AbsMaxQuantizer(Quantizer):
    """`abs_max_quantize` with fixed settings: `quantizer(x, axis=None) -> (q, scale)`.

    Args:
        axis: default axis (or axes) of the scales; `__call__`'s `axis` wins, and -1 is used
            when neither is given.
        value_range: `(low, high)`, within [-128, 127] for int8 output.
        epsilon: added to the abs-max; `keras.config.epsilon()` by default.
        output_dtype: the quantized dtype.
    """

    def __init__(self, axis=None, value_range=(-127, 127), epsilon=None, output_dtype="int8"):
        super().__init__(output_dtype=output_dtype)
        self.axis = None
        if axis is not None:
            self.axis = (axis,) if isinstance(axis, int) else tuple(axis)
        self.value_range = tuple(value_range)
        self.epsilon = config.epsilon() if epsilon is None else epsilon
        if output_dtype == "int8" and (self.value_range[0] < -128 or self.value_range[1] > 127):
            raise ValueError(
                "AbsMaxQuantizer: argument 'value_range' must lie within [-128, 127] for "
                f"output_dtype='int8'; got value_range={value_range!r}"
            )

    def __call__(self, x, axis=None, to_numpy=False):
        axis = self.axis if axis is None else axis
        axis = -1 if axis is None else axis
        return abs_max_quantize(
            x, axis, self.value_range, self.output_dtype, self.epsilon, to_numpy
        )

    def get_config(self):
        config_ = {
            "value_range": self.value_range,
            "epsilon": self.epsilon,
            "output_dtype": self.output_dtype,
        }
        if self.axis is not None:
            config_["axis"] = self.axis
        return config_
