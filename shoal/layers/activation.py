"""Activation layers: Activation, ReLU, LeakyReLU, PReLU, ELU, Softmax (Keras 3 semantics)."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from shoal import activations, constraints, initializers, regularizers
from shoal.layers.base import Layer
from shoal.layers.input_spec import InputSpec


def _error(layer, arg, expected, value) -> ValueError:
    return ValueError(
        f"{type(layer).__name__} '{layer.name}': argument '{arg}' must be {expected}, got {value!r}"
    )


def _non_negative(layer, arg, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        expected = "a non-negative number" + (" or None" if allow_none else "")
        raise _error(layer, arg, expected, value)
    return float(value)


def _serialize(module, obj):
    return None if obj is None else module.serialize(obj)


class _ElementwiseLayer(Layer):
    """Shape-preserving, mask-preserving layer with no weights."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape


class Activation(_ElementwiseLayer):
    """Applies an activation function: `Activation("relu")(x)`."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class ReLU(_ElementwiseLayer):
    """Rectified linear unit with Keras' options.

    `f(x) = max_value` for `x >= max_value`, `x` for `threshold <= x < max_value`,
    `negative_slope * (x - threshold)` otherwise.
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _non_negative(self, "max_value", max_value, allow_none=True)
        self.negative_slope = _non_negative(self, "negative_slope", negative_slope)
        self.threshold = _non_negative(self, "threshold", threshold)

    def call(self, inputs):
        return _parametric_relu(inputs, self.negative_slope, self.max_value, self.threshold)

    def get_config(self):
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


def _parametric_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras' parametrised ReLU (same formula, so results match bit for bit)."""
    if negative_slope != 0.0 and max_value is None and threshold == 0.0:
        return jax.nn.leaky_relu(x, negative_slope)
    negative_part = jax.nn.relu(threshold - x) if negative_slope != 0.0 else None
    if threshold != 0.0:
        x = jnp.where(x > threshold, x, jnp.zeros((), x.dtype))
    else:
        x = jax.nn.relu(x)
    if max_value is not None:
        x = jnp.clip(x, 0.0, max_value).astype(x.dtype)
    if negative_part is not None:
        x = x - negative_slope * negative_part
    return x


class LeakyReLU(_ElementwiseLayer):
    """`x` for `x >= 0`, `negative_slope * x` otherwise (Keras default slope 0.3)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # Keras 2 spelling, still in old configs
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _non_negative(self, "negative_slope", negative_slope)

    def call(self, inputs):
        return jax.nn.leaky_relu(inputs, self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_ElementwiseLayer):
    """`x` for `x > 0`, `alpha * (exp(x) - 1)` otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
            raise _error(self, "alpha", "a number", alpha)
        self.alpha = float(alpha)

    def call(self, inputs):
        return jax.nn.elu(inputs, self.alpha)

    def get_config(self):
        # Keras 3's ELU forgets `alpha` in its config; we keep it (Keras accepts it back).
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_ElementwiseLayer):
    """Softmax over `axis` (an int or a list of ints).

    Call with `mask` (broadcastable to the inputs, True = keep) to exclude positions:
    they get probability 0, as in Keras.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)) and axis and all(_is_int(a) for a in axis):
            axis = list(axis)
        elif not _is_int(axis):
            raise _error(self, "axis", "an integer or a non-empty list of integers", axis)
        self.axis = axis

    def call(self, inputs, mask=None):
        if mask is not None:
            mask = jnp.asarray(mask)
            self._check_mask(inputs, mask)
            if mask.dtype != jnp.bool_:
                mask = mask > 0.5
            big_negative = -3e4 if inputs.dtype == jnp.float16 else -1e9
            inputs = jnp.where(mask, inputs, jnp.asarray(big_negative, inputs.dtype))
        axis = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        outputs = jax.nn.softmax(inputs, axis=axis)
        if mask is not None:
            # A fully masked row would otherwise come out uniform.
            outputs = jnp.where(mask, outputs, jnp.zeros((), outputs.dtype))
        return outputs

    def _check_mask(self, inputs, mask):
        ok = mask.ndim <= inputs.ndim and all(
            m in (1, i) for m, i in zip(mask.shape[::-1], inputs.shape[::-1], strict=False)
        )
        if not ok:
            raise ValueError(
                f"Softmax '{self.name}': argument 'mask' must be broadcastable to the inputs "
                f"(each mask dimension 1 or equal to the input's, no extra dimensions); "
                f"got inputs.shape={tuple(inputs.shape)}, mask.shape={tuple(mask.shape)}"
            )

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


class PReLU(Layer):
    """Leaky ReLU with a learned slope: `relu(x) - alpha * relu(-x)`.

    `alpha` has the input's shape without the batch axis, with size 1 along
    `shared_axes` (e.g. `shared_axes=[1, 2]` shares one slope per channel of an image).
    """

    def __init__(
        self,
        alpha_initializer="Zeros",
        alpha_regularizer=None,
        alpha_constraint=None,
        shared_axes=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            if not all(_is_int(a) and a >= 1 for a in axes):
                raise _error(
                    self,
                    "shared_axes",
                    "None or a list of positive integers (axis 0 is the batch axis)",
                    shared_axes,
                )
            self.shared_axes = [int(a) for a in axes]

    def build(self, input_shape):
        ndim = len(input_shape)
        param_shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if axis >= ndim:
                raise ValueError(
                    f"PReLU '{self.name}': argument 'shared_axes' must name axes of the "
                    f"input (1 to {ndim - 1}); got {self.shared_axes} for input shape "
                    f"{tuple(input_shape)}"
                )
            param_shape[axis - 1] = 1
        if any(d is None for d in param_shape):
            raise ValueError(
                f"PReLU '{self.name}': every non-batch input dimension must be known, or "
                f"listed in 'shared_axes'; got input shape {tuple(input_shape)}"
            )
        self.alpha = self.add_weight(
            name="alpha",
            shape=param_shape,
            initializer=self.alpha_initializer,
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
        )
        shared = set(self.shared_axes or [])
        axes = {i: input_shape[i] for i in range(1, ndim) if i not in shared}
        self.input_spec = InputSpec(ndim=ndim, axes=axes)
        self.built = True

    def call(self, inputs):
        alpha = self.alpha.value.astype(inputs.dtype)
        return jax.nn.relu(inputs) - alpha * jax.nn.relu(-inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": _serialize(regularizers, self.alpha_regularizer),
            "alpha_constraint": _serialize(constraints, self.alpha_constraint),
            "shared_axes": self.shared_axes,
        }
