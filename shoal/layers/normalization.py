"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization,
UnitNormalization (Keras 3 semantics and numerics).

Statistics are computed in at least float32 (half-precision inputs overflow otherwise)
and the result is cast to the layer's compute dtype.
"""

from __future__ import annotations

import numbers
import warnings

import jax
import jax.numpy as jnp

from shoal import constraints, initializers, regularizers
from shoal.backend import config
from shoal.layers.base import Layer
from shoal.layers.input_spec import InputSpec


def _error(layer, arg, expected, value) -> ValueError:
    return ValueError(
        f"{type(layer).__name__} '{layer.name}': argument '{arg}' must be {expected}, got {value!r}"
    )


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _number(layer, arg, value, low=None, high=None, low_open=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        if low is not None and high is not None:
            expected = f"a number in [{low}, {high}]"
        elif low is not None:
            expected = f"a number {'>' if low_open else '>='} {low}"
        else:
            expected = "a number"
        raise _error(layer, arg, expected, value)
    return float(value)


def _axes_arg(layer, axis, allow_list=True):
    """Validate an `axis` argument: an int, or (if allowed) a non-empty list of ints."""
    if _is_int(axis):
        return int(axis)
    if allow_list and isinstance(axis, (list, tuple)) and axis and all(_is_int(a) for a in axis):
        return [int(a) for a in axis]
    expected = "an integer or a non-empty list of integers" if allow_list else "an integer"
    raise _error(layer, "axis", expected, axis)


def _resolve_axes(layer, axis, input_shape, need_known=True):
    """`axis` (int or list) as a sorted tuple of non-negative axes of `input_shape`."""
    ndim = len(input_shape)
    axes = [axis] if _is_int(axis) else list(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(
                f"{type(layer).__name__} '{layer.name}': argument 'axis' must name axes of "
                f"the input (between {-ndim} and {ndim - 1}); got axis={axis} for input "
                f"shape {tuple(input_shape)}"
            )
    resolved = sorted({a % ndim for a in axes})
    if len(resolved) != len(axes):
        raise _error(layer, "axis", "a list of distinct axes", axis)
    if need_known:
        for a in resolved:
            if input_shape[a] is None:
                raise ValueError(
                    f"{type(layer).__name__} '{layer.name}': the input dimension along axis "
                    f"{a} must be known; got input shape {tuple(input_shape)}"
                )
    return tuple(resolved)


def _serialize(module, obj):
    return None if obj is None else module.serialize(obj)


def _stat_dtype(x):
    return jnp.result_type(x.dtype, jnp.float32)


def _normalize(x, mean, variance, gamma, beta, epsilon):
    """`(x - mean) / sqrt(variance + epsilon) * gamma + beta`, in Keras' operation order."""
    inv = jax.lax.rsqrt(variance + epsilon)
    if gamma is not None:
        inv = inv * gamma
    res = -mean * inv
    if beta is not None:
        res = res + beta
    return x * inv + res


class _AffineNorm(Layer):
    """Shared `center` / `scale` arguments and gamma/beta weights."""

    def __init__(
        self,
        epsilon,
        center,
        scale,
        beta_initializer,
        gamma_initializer,
        beta_regularizer,
        gamma_regularizer,
        beta_constraint,
        gamma_constraint,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.epsilon = _number(self, "epsilon", epsilon, low=0)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.supports_masking = True
        self.gamma = None
        self.beta = None

    def _add_gamma(self, shape):
        self.gamma = self.add_weight(
            name="gamma",
            shape=shape,
            initializer=self.gamma_initializer,
            regularizer=self.gamma_regularizer,
            constraint=self.gamma_constraint,
            trainable=True,
            autocast=False,
        )

    def _add_beta(self, shape):
        self.beta = self.add_weight(
            name="beta",
            shape=shape,
            initializer=self.beta_initializer,
            regularizer=self.beta_regularizer,
            constraint=self.beta_constraint,
            trainable=True,
            autocast=False,
        )

    def compute_output_shape(self, input_shape):
        _resolve_axes(self, self.axis, input_shape, need_known=False)
        return input_shape

    def _affine_config(self):
        return {
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": _serialize(regularizers, self.beta_regularizer),
            "gamma_regularizer": _serialize(regularizers, self.gamma_regularizer),
            "beta_constraint": _serialize(constraints, self.beta_constraint),
            "gamma_constraint": _serialize(constraints, self.gamma_constraint),
        }


class BatchNormalization(_AffineNorm):
    """Normalizes each feature (along `axis`) with batch statistics while training.

    Training (`training=True`, and the layer trainable):
    `gamma * (x - mean(batch)) / sqrt(var(batch) + epsilon) + beta`, and the moving
    statistics move: `moving = moving * momentum + batch_stat * (1 - momentum)`.
    Inference (the default): the same formula with the moving statistics.
    A layer with `trainable=False` always runs in inference mode (Keras semantics).

    Weights, in order: gamma (if `scale`), beta (if `center`), moving_mean,
    moving_variance (then moving_stddev, renorm_mean, renorm_stddev with `renorm`).

    `synchronized` is accepted for Keras compatibility: shoal's data-parallel training
    computes on one global, sharded batch under `jax.jit`, so batch statistics are always
    those of the global batch (XLA inserts the cross-device reduction).

    Call with `mask` (the input's shape without the last axis, True = use) to
    compute the batch statistics from the unmasked positions only.
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        renorm=False,
        renorm_clipping=None,
        renorm_momentum=0.99,
        synchronized=False,
        **kwargs,
    ):
        super().__init__(
            epsilon,
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_regularizer,
            gamma_regularizer,
            beta_constraint,
            gamma_constraint,
            **kwargs,
        )
        # Keras 2 configs may spell a single axis as a one-element list.
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if not _is_int(axis):
            raise _error(self, "axis", "an integer", axis)
        self.axis = int(axis)
        self.momentum = _number(self, "momentum", momentum, low=0, high=1)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.synchronized = bool(synchronized)
        self.renorm = bool(renorm)
        self.renorm_momentum = _number(self, "renorm_momentum", renorm_momentum, low=0, high=1)
        self.renorm_clipping = (
            self._validate_clipping(renorm_clipping) if self.renorm else renorm_clipping
        )
        self.moving_mean = None
        self.moving_variance = None

    def _validate_clipping(self, clipping):
        clipping = dict(clipping or {})
        allowed = ("rmax", "rmin", "dmax")
        if set(clipping) - set(allowed):
            raise _error(self, "renorm_clipping", f"a dict with keys among {allowed}", clipping)
        rmax, rmin, dmax = (clipping.get(k) for k in allowed)
        if rmax is not None and rmin is not None and rmax < rmin:
            raise _error(self, "renorm_clipping", "a dict with rmax >= rmin", clipping)
        if dmax is not None and dmax < 0:
            raise _error(self, "renorm_clipping", "a dict with dmax >= 0", clipping)
        return clipping

    def build(self, input_shape):
        (self._axis,) = _resolve_axes(self, self.axis, input_shape)
        shape = (input_shape[self._axis],)
        if self.scale:
            self._add_gamma(shape)
        if self.center:
            self._add_beta(shape)
        self.moving_mean = self._add_stat("moving_mean", shape, self.moving_mean_initializer)
        self.moving_variance = self._add_stat(
            "moving_variance", shape, self.moving_variance_initializer
        )
        if self.renorm:
            # Renorm tracks standard deviations; they start at sqrt(initial variance).
            var_init = self.moving_variance_initializer

            def stddev_init(shape, dtype=None):
                return jnp.sqrt(var_init(shape, dtype=dtype))

            self.moving_stddev = self._add_stat("moving_stddev", shape, stddev_init)
            self.renorm_mean = self._add_stat("renorm_mean", shape, self.moving_mean_initializer)
            self.renorm_stddev = self._add_stat("renorm_stddev", shape, stddev_init)
        self.input_spec = InputSpec(ndim=len(input_shape), axes={self.axis: shape[0]})
        self.built = True

    def _add_stat(self, name, shape, initializer):
        return self.add_weight(
            name=name, shape=shape, initializer=initializer, trainable=False, autocast=False
        )

    def call(self, inputs, training=None, mask=None):
        if mask is not None and jnp.ndim(mask) != inputs.ndim - 1:
            raise ValueError(
                f"BatchNormalization '{self.name}': argument 'mask' must have one dimension "
                f"less than the inputs; got mask.shape={tuple(jnp.shape(mask))}, "
                f"inputs.shape={tuple(inputs.shape)}"
            )
        x = inputs.astype(_stat_dtype(inputs))
        shape = [1] * x.ndim
        shape[self._axis] = x.shape[self._axis]

        def read(variable):
            return None if variable is None else variable.value.astype(x.dtype)

        gamma, beta = read(self.gamma), read(self.beta)
        if training and self.trainable:
            mean, variance = self._moments(x, mask)
            if self.renorm:
                gamma, beta = self._renorm(mean, variance, gamma, beta)
            else:
                self._update(self.moving_mean, mean, self.momentum)
                self._update(self.moving_variance, variance, self.momentum)
        else:
            mean, variance = read(self.moving_mean), read(self.moving_variance)

        def b(v):
            return None if v is None else jnp.reshape(v, shape)

        out = _normalize(x, b(mean), b(variance), b(gamma), b(beta), self.epsilon)
        return out.astype(self.compute_dtype)

    @staticmethod
    def _update(variable, batch_value, momentum):
        moving = variable.value.astype(batch_value.dtype)
        variable.assign(moving * momentum + batch_value * (1.0 - momentum))

    def _moments(self, x, mask):
        axes = tuple(a for a in range(x.ndim) if a != self._axis)
        if mask is None:
            return jnp.mean(x, axis=axes), jnp.var(x, axis=axes)
        # A mask covers every axis but the last (Masking's), whatever the feature axis: Keras
        # broadcasts it along the last axis.
        weights = jnp.broadcast_to(jnp.expand_dims(jnp.asarray(mask), -1), x.shape)
        weights = weights.astype(bool)
        count = jnp.sum(weights.astype(x.dtype), axis=axes, keepdims=True) + config.epsilon()
        mean = jnp.sum(jnp.where(weights, x, 0), axis=axes, keepdims=True) / count
        sq = jnp.square(jnp.where(weights, x - mean, 0))
        variance = jnp.sum(sq, axis=axes, keepdims=True) / count
        return jnp.reshape(mean, (-1,)), jnp.reshape(variance, (-1,))

    def _renorm(self, mean, variance, gamma, beta):
        """Batch renormalization (Ioffe 2017): returns the corrected gamma and beta."""
        dtype = mean.dtype
        stddev = jnp.sqrt(variance + self.epsilon)
        renorm_mean = self.renorm_mean.value.astype(dtype)
        renorm_stddev = self.renorm_stddev.value.astype(dtype)
        floor = jnp.sqrt(jnp.asarray(self.epsilon, dtype))
        r = stddev / jnp.maximum(renorm_stddev, floor)
        d = (mean - renorm_mean) / jnp.maximum(renorm_stddev, floor)
        clip = self.renorm_clipping or {}
        if clip.get("rmin") is not None:
            r = jnp.maximum(r, clip["rmin"])
        if clip.get("rmax") is not None:
            r = jnp.minimum(r, clip["rmax"])
        if clip.get("dmax") is not None:
            d = jnp.clip(d, -clip["dmax"], clip["dmax"])
        r, d = jax.lax.stop_gradient(r), jax.lax.stop_gradient(d)
        if gamma is not None:
            new_gamma, new_beta = r * gamma, d * gamma
        else:
            new_gamma, new_beta = r, d
        if beta is not None:
            new_beta = new_beta + beta
        # Moving statistics: renorm ones with renorm_momentum, inference ones with momentum.
        self._update(self.renorm_mean, mean, self.renorm_momentum)
        self._update(self.renorm_stddev, stddev, self.renorm_momentum)
        self._update(self.moving_mean, mean, self.momentum)
        moving_stddev = self.moving_stddev.value.astype(dtype)
        moving_stddev = moving_stddev * self.momentum + stddev * (1.0 - self.momentum)
        self.moving_stddev.assign(moving_stddev)
        self.moving_variance.assign(jax.nn.relu(moving_stddev * moving_stddev - self.epsilon))
        return new_gamma, new_beta

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            **self._affine_config(),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "synchronized": self.synchronized,
            "renorm": self.renorm,
            "renorm_clipping": self.renorm_clipping,
            "renorm_momentum": self.renorm_momentum,
        }


class LayerNormalization(_AffineNorm):
    """Normalizes each example over `axis` (an int or a list of ints; default the last).

    `gamma * (x - mean) / sqrt(var + epsilon) + beta`, with mean and variance taken over
    `axis`; gamma and beta have the shape of the input along `axis`.

    `rms_scaling=True` is Keras' deprecated option: `x * rsqrt(var(x) + epsilon) * gamma`
    (no centering, no beta; note it uses the variance, not the mean square). Prefer a
    dedicated RMS normalization.
    """

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        rms_scaling=False,
        **kwargs,
    ):
        super().__init__(
            epsilon,
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_regularizer,
            gamma_regularizer,
            beta_constraint,
            gamma_constraint,
            **kwargs,
        )
        self.axis = _axes_arg(self, axis)
        self.rms_scaling = bool(rms_scaling)
        if self.rms_scaling:
            warnings.warn(
                f"LayerNormalization '{self.name}': rms_scaling=True is deprecated (as in "
                "Keras): it scales by the variance, not the root mean square.",
                stacklevel=2,
            )
        self.autocast = False

    def build(self, input_shape):
        self._axes = _resolve_axes(self, self.axis, input_shape)
        shape = tuple(input_shape[a] for a in self._axes)
        if self.scale or self.rms_scaling:
            self._add_gamma(shape)
        if self.center and not self.rms_scaling:
            self._add_beta(shape)
        self.built = True

    def call(self, inputs):
        x = inputs.astype(_stat_dtype(inputs))
        shape = [1] * x.ndim
        for a in self._axes:
            shape[a] = x.shape[a]

        def b(v):
            return None if v is None else jnp.reshape(v.value.astype(x.dtype), shape)

        variance = jnp.var(x, axis=self._axes, keepdims=True)
        if self.rms_scaling:
            out = x * jax.lax.rsqrt(variance + self.epsilon)
            if self.gamma is not None:
                out = out * b(self.gamma)
        else:
            mean = jnp.mean(x, axis=self._axes, keepdims=True)
            out = _normalize(x, mean, variance, b(self.gamma), b(self.beta), self.epsilon)
        return out.astype(self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            **self._affine_config(),
            "rms_scaling": self.rms_scaling,
        }


class GroupNormalization(_AffineNorm):
    """Normalizes each example over groups of channels (`groups` groups along `axis`).

    `groups=-1` gives one group per channel (instance normalization); `groups=1` is layer
    normalization over all non-batch axes. Channels must divide evenly into groups.
    """

    def __init__(
        self,
        groups=32,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(
            epsilon,
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_regularizer,
            gamma_regularizer,
            beta_constraint,
            gamma_constraint,
            **kwargs,
        )
        if not _is_int(groups) or (groups <= 0 and groups != -1):
            raise _error(
                self, "groups", "a positive integer (or -1 for instance normalization)", groups
            )
        self.groups = int(groups)
        self.axis = _axes_arg(self, axis, allow_list=False)
        self.autocast = False

    def build(self, input_shape):
        (self._axis,) = _resolve_axes(self, self.axis, input_shape)
        if self._axis == 0:
            raise _error(self, "axis", "a non-batch axis", self.axis)
        channels = input_shape[self._axis]
        groups = channels if self.groups == -1 else self.groups
        if channels < groups or channels % groups:
            raise ValueError(
                f"GroupNormalization '{self.name}': argument 'groups' must divide the "
                f"number of channels evenly; got groups={self.groups} for {channels} "
                f"channels (input shape {tuple(input_shape)}, axis {self.axis})"
            )
        self._groups = groups
        if self.scale:
            self._add_gamma((channels,))
        if self.center:
            self._add_beta((channels,))
        self.input_spec = InputSpec(ndim=len(input_shape), axes={self.axis: channels})
        self.built = True

    def call(self, inputs):
        x = inputs.astype(_stat_dtype(inputs))
        a, g = self._axis, self._groups
        grouped_shape = x.shape[:a] + (g, x.shape[a] // g) + x.shape[a + 1 :]
        grouped = jnp.reshape(x, grouped_shape)
        axes = tuple(i for i in range(1, grouped.ndim) if i != a)
        mean = jnp.mean(grouped, axis=axes, keepdims=True)
        variance = jnp.var(grouped, axis=axes, keepdims=True)
        param_shape = [1] * grouped.ndim
        param_shape[a], param_shape[a + 1] = g, x.shape[a] // g

        def b(v):
            return None if v is None else jnp.reshape(v.value.astype(x.dtype), param_shape)

        out = _normalize(grouped, mean, variance, b(self.gamma), b(self.beta), self.epsilon)
        return jnp.reshape(out, x.shape).astype(self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            **self._affine_config(),
        }


class UnitNormalization(Layer):
    """Scales each example to unit L2 norm over `axis` (an int or a list of ints).

    `x * min(1 / sqrt(sum(x**2)), 1e12)`: an all-zero slice stays zero.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axes_arg(self, axis)
        self.supports_masking = True
        self.built = True  # no state: built at once, as Keras

    def call(self, inputs):
        axes = _resolve_axes(self, self.axis, tuple(inputs.shape), need_known=False)
        if not jnp.issubdtype(inputs.dtype, jnp.floating):
            inputs = inputs.astype(self.compute_dtype)
        square_sum = jnp.sum(jnp.square(inputs), axis=axes, keepdims=True)
        # Keras clamps at 1 / 1e-12, which overflows (to no clamp) in float16.
        limit = 1e12 if float(jnp.finfo(inputs.dtype).max) > 1e12 else float("inf")
        inv_norm = jnp.minimum(jax.lax.rsqrt(square_sum), jnp.asarray(limit, inputs.dtype))
        return inputs * inv_norm

    def compute_output_shape(self, input_shape):
        _resolve_axes(self, self.axis, input_shape, need_known=False)
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
