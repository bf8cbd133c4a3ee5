"""The `keras.ops.nn` namespace: activations, convolution, pooling, normalization, losses.

Layout conventions are Keras': `data_format` "channels_last" (default, from
`image_data_format()`) or "channels_first"; kernels are
`(*spatial, in_channels / groups, out_channels)` for `conv`,
`(*spatial, in_channels, multiplier)` for `depthwise_conv` and
`(*spatial, out_channels, in_channels)` for `conv_transpose`.
"""

from __future__ import annotations

import math
import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from shoal.backend import config, run_settings
from shoal.backend.symbolic import unknown_batch
from shoal.ops import cpu_conv, cpu_lowering
from shoal.ops import numpy as _np
from shoal.ops.adaptive_pooling import (  # keras.ops.nn names defined there
    adaptive_average_pool as adaptive_average_pool,
)
from shoal.ops.adaptive_pooling import adaptive_max_pool as adaptive_max_pool
from shoal.ops.ctc import ctc_decode as ctc_decode
from shoal.ops.ctc import ctc_loss as ctc_loss
from shoal.ops.dispatch import keras_op, public_names
from shoal.ops.folding import fold as fold
from shoal.ops.folding import unfold as unfold
from shoal.ops.numpy import _dtype, _t

# -- activations -------------------------------------------------------------


def _activation(name, fn, doc):
    def op(x):
        return fn(_t(x))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return keras_op(op)


relu = _activation("relu", jax.nn.relu, "`max(x, 0)`.")
relu6 = _activation("relu6", jax.nn.relu6, "`min(max(x, 0), 6)`.")
sigmoid = _activation("sigmoid", jax.nn.sigmoid, "`1 / (1 + exp(-x))`.")
sparse_sigmoid = _activation(
    "sparse_sigmoid", jax.nn.sparse_sigmoid, "0 below -1, 1 above 1, `(x + 1) / 2` between."
)
log_sigmoid = _activation("log_sigmoid", jax.nn.log_sigmoid, "`log(sigmoid(x))`, stably.")
softplus = _activation("softplus", jax.nn.softplus, "`log(exp(x) + 1)`, stably.")
softsign = _activation("softsign", jax.nn.soft_sign, "`x / (abs(x) + 1)`.")
sparse_plus = _activation(
    "sparse_plus", jax.nn.sparse_plus, "0 below -1, x above 1, `(x + 1)**2 / 4` between."
)
silu = _activation("silu", jax.nn.silu, "`x * sigmoid(x)` (also called swish).")
swish = _activation("swish", jax.nn.silu, "`x * sigmoid(x)` (alias of silu).")
hard_sigmoid = _activation("hard_sigmoid", jax.nn.hard_sigmoid, "`relu6(x + 3) / 6`.")
hard_silu = _activation("hard_silu", jax.nn.hard_silu, "`x * hard_sigmoid(x)`.")
hard_swish = _activation("hard_swish", jax.nn.hard_silu, "`x * hard_sigmoid(x)` (alias).")
hard_tanh = _activation("hard_tanh", jax.nn.hard_tanh, "`x` clipped to [-1, 1].")
selu = _activation("selu", jax.nn.selu, "Scaled exponential linear unit.")
tanh_shrink = _activation("tanh_shrink", lambda x: x - jnp.tanh(x), "`x - tanh(x)`.")
mish = _activation("mish", lambda x: x * jnp.tanh(jax.nn.softplus(x)), "`x * tanh(softplus(x))`.")
tanh = _np.tanh


@keras_op
def leaky_relu(x, negative_slope=0.2):
    """`x` if `x >= 0` else `negative_slope * x`."""
    return jax.nn.leaky_relu(_t(x), negative_slope=negative_slope)


@keras_op
def elu(x, alpha=1.0):
    """`x` if `x > 0` else `alpha * (exp(x) - 1)`."""
    return jax.nn.elu(_t(x), alpha=alpha)


@keras_op
def celu(x, alpha=1.0):
    """`max(x, 0) + alpha * min(exp(x / alpha) - 1, 0)`."""
    return jax.nn.celu(_t(x), alpha=alpha)


@keras_op
def gelu(x, approximate=True):
    """Gaussian error linear unit (tanh approximation when `approximate`)."""
    return jax.nn.gelu(_t(x), approximate=approximate)


@keras_op
def glu(x, axis=-1):
    """Gated linear unit: `a * sigmoid(b)` for the halves `a, b` of `x` along `axis`."""
    return jax.nn.glu(_t(x), axis=axis)


@keras_op
def squareplus(x, b=4):
    """`(x + sqrt(x**2 + b)) / 2`."""
    return jax.nn.squareplus(_t(x), b=b)


@keras_op
def soft_shrink(x, threshold=0.5):
    """`x - threshold` above `threshold`, `x + threshold` below `-threshold`, else 0."""
    x = _t(x)
    return jnp.where(x > threshold, x - threshold, jnp.where(x < -threshold, x + threshold, 0.0))


@keras_op
def hard_shrink(x, threshold=0.5):
    """`x` where `|x| > threshold`, else 0."""
    x = _t(x)
    return jnp.where(jnp.abs(x) > threshold, x, 0.0)


@keras_op
def threshold(x, threshold, default_value):
    """`x` where `x > threshold`, else `default_value`."""
    x = _t(x)
    return jnp.where(x > threshold, x, default_value)


@keras_op
def softmax(x, axis=-1):
    """`exp(x) / sum(exp(x))` along `axis`, stably (warns, as Keras, when that axis has
    size 1: the result is then always 1)."""
    x = _t(x)
    if isinstance(axis, int) and -x.ndim <= axis < x.ndim and x.shape[axis] == 1:
        shape = unknown_batch(x.shape)
        warnings.warn(
            f"You are using a softmax over axis {axis} of a tensor of shape {shape}. This axis "
            "has size 1. The softmax operation will always return the value 1, which is likely "
            "not what you intended. Did you mean to use a sigmoid instead?",
            stacklevel=3,
        )
    return jax.nn.softmax(x, axis=axis)


@keras_op
def log_softmax(x, axis=-1):
    """`log(softmax(x))` along `axis`, stably."""
    return jax.nn.log_softmax(_t(x), axis=axis)


@keras_op
def sparsemax(x, axis=-1):
    """Euclidean projection of `x` onto the probability simplex along `axis`."""
    x = _np._as_float(_t(x))  # ints, unsigned, bools: as floats
    z = -jnp.sort(-x, axis=axis)
    cumsum = jnp.cumsum(z, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    k = jnp.arange(1, x.shape[axis] + 1, dtype=x.dtype).reshape(shape)
    support = z - (cumsum - 1) / k > 0
    n = jnp.sum(support, axis=axis, keepdims=True)
    # tau = (sum of the k largest - 1) / k (Martins & Astudillo 2016); Keras 3.15 sums the
    # running sums instead, which is wrong whenever two or more entries are kept.
    tau = (jnp.sum(jnp.where(support, z, 0.0), axis=axis, keepdims=True) - 1) / n
    return jnp.maximum(x - tau, 0.0)


# -- encodings ---------------------------------------------------------------


@keras_op
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """One-hot encoding of the integer tensor `x` (negative values give all zeros)."""
    _no_sparse("one_hot", sparse)
    return jax.nn.one_hot(_t(x), num_classes, axis=axis, dtype=_dtype(dtype) or config.floatx())


@keras_op
def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """Multi-hot encoding: 1 at every class index present in each row of `inputs`."""
    _no_sparse("multi_hot", sparse)
    num_classes = kwargs.pop("num_tokens", num_classes)
    if kwargs:
        raise TypeError(f"multi_hot: unexpected keyword arguments {sorted(kwargs)}")
    if num_classes is None:
        raise ValueError("multi_hot: argument 'num_classes' is required, got None")
    x = _t(inputs).astype("int32")
    encoded = jax.nn.one_hot(x, num_classes, axis=axis, dtype=_dtype(dtype) or config.floatx())
    return jnp.max(encoded, axis=1 if x.ndim > 1 else 0)


def _no_sparse(name, sparse):
    if sparse:
        raise ValueError(f"{name}: sparse outputs are not supported by shoal; got sparse=True")


@keras_op
def polar(abs_, angle):
    """The complex number with magnitude `abs_` and phase `angle`."""
    abs_, angle = _t(abs_), _t(angle)
    return jax.lax.complex(abs_ * jnp.cos(angle), abs_ * jnp.sin(angle))


def _block_size(op: str, block_size) -> int:
    if not isinstance(block_size, numbers.Integral) or block_size < 2:
        raise ValueError(f"{op}: argument 'block_size' must be an int >= 2, got {block_size!r}")
    return int(block_size)


@keras_op
def depth_to_space(x, block_size, data_format="channels_last"):
    """Move `block_size x block_size` blocks of channels into the spatial axes."""
    x, b = _t(x), _block_size("depth_to_space", block_size)
    if config.standardize_data_format(data_format) == "channels_last":
        n, h, w, c = x.shape
        x = x.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5)
        return x.reshape(n, h * b, w * b, c // (b * b))
    n, c, h, w = x.shape  # channels-first keeps Keras' channel-major (CRD) order
    x = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return x.reshape(n, c // (b * b), h * b, w * b)


@keras_op
def space_to_depth(x, block_size, data_format="channels_last"):
    """Move `block_size x block_size` spatial blocks into the channel axis."""
    x, b = _t(x), _block_size("space_to_depth", block_size)
    if config.standardize_data_format(data_format) == "channels_last":
        n, h, w, c = x.shape
        x = x.reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5)
        return x.reshape(n, h // b, w // b, b * b * c)
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 1, 3, 5, 2, 4)
    return x.reshape(n, c * b * b, h // b, w // b)


# -- convolution -------------------------------------------------------------


def _spatial(value, n, name, op):
    """An int or a length-n sequence as an n-tuple of ints."""
    values = (value,) * n if isinstance(value, numbers.Integral) else tuple(value)
    if len(values) != n or not all(isinstance(v, numbers.Integral) and v >= 1 for v in values):
        raise ValueError(
            f"{op}: argument '{name}' must be a positive int or a sequence of {n} positive ints, "
            f"got {value!r}"
        )
    return tuple(int(v) for v in values)


def _padding(padding, op):
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{op}: argument 'padding' must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def _dimension_numbers(n, channels_last):
    """lax dimension numbers for an n-D conv with Keras kernel layout (*spatial, in, out)."""
    spatial = tuple(range(1, n + 1)) if channels_last else tuple(range(2, n + 2))
    data = (0, n + 1, *spatial) if channels_last else (0, 1, *spatial)
    return lax.ConvDimensionNumbers(data, (n + 1, n, *range(n)), data)


def _conv_setup(inputs, kernel, strides, padding, data_format, dilation_rate, op):
    inputs, kernel = _t(inputs), _t(kernel)
    n = inputs.ndim - 2
    if n < 1 or kernel.ndim != inputs.ndim:
        raise ValueError(
            f"{op}: 'inputs' must have rank >= 3 and 'kernel' the same rank; "
            f"got inputs.shape={inputs.shape}, kernel.shape={kernel.shape}"
        )
    channels_last = config.standardize_data_format(data_format) == "channels_last"
    return (
        inputs,
        kernel,
        n,
        channels_last,
        _spatial(strides, n, "strides", op),
        _padding(padding, op).upper(),
        _spatial(dilation_rate, n, "dilation_rate", op),
    )


def _channels(inputs, channels_last):
    return inputs.shape[-1] if channels_last else inputs.shape[1]


@keras_op
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-D convolution; grouped when the input has a multiple of kernel.shape[-2] channels."""
    inputs, kernel, n, last, strides, padding, dilation = _conv_setup(
        inputs, kernel, strides, padding, data_format, dilation_rate, "conv"
    )
    channels = _channels(inputs, last)
    if channels % kernel.shape[-2]:
        raise ValueError(
            "conv: the input channel count must be a multiple of the kernel's in_channels "
            f"(kernel.shape[-2]); got {channels} input channels and kernel.shape={kernel.shape}"
        )
    return cpu_conv.conv_general_dilated(
        inputs.astype(kernel.dtype),  # as Keras: the kernel's dtype decides
        kernel,
        strides,
        padding,
        rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(n, last),
        feature_group_count=channels // kernel.shape[-2],
    )


@keras_op
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Depthwise convolution: each input channel convolved with its own `multiplier` filters."""
    inputs, kernel, n, last, strides, padding, dilation = _conv_setup(
        inputs, kernel, strides, padding, data_format, dilation_rate, "depthwise_conv"
    )
    channels = _channels(inputs, last)
    if kernel.shape[-2] != channels:
        raise ValueError(
            "depthwise_conv: kernel.shape[-2] must equal the input channel count; "
            f"got {channels} input channels and kernel.shape={kernel.shape}"
        )
    kernel = kernel.reshape(kernel.shape[:-2] + (1, channels * kernel.shape[-1]))
    return lax.conv_general_dilated(
        inputs,
        kernel.astype(inputs.dtype),
        strides,
        padding,
        rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(n, last),
        feature_group_count=channels,
    )


@keras_op
def separable_conv(
    inputs,
    depthwise_kernel,
    pointwise_kernel,
    strides=1,
    padding="valid",
    data_format=None,
    dilation_rate=1,
):
    """Depthwise convolution followed by a 1x1 (pointwise) convolution."""
    depthwise = depthwise_conv(
        inputs, depthwise_kernel, strides, padding, data_format, dilation_rate
    )
    return conv(depthwise, pointwise_kernel, 1, "valid", data_format)


def _transpose_pads(size, stride, dilation, padding, output_padding):
    """(low, high) padding that gives Keras' conv_transpose output length."""
    k = (size - 1) * dilation + 1  # effective (dilated) kernel size
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return k - 1, k - 1 + extra
    total = stride + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    low = min((total + 1) // 2, k - 1)
    return low, total - low


@keras_op
def conv_transpose(
    inputs,
    kernel,
    strides=1,
    padding="valid",
    output_padding=None,
    data_format=None,
    dilation_rate=1,
):
    """Transposed convolution (gradient of `conv`); kernel is (*spatial, out, in).

    Output length per spatial axis: `(in - 1) * stride + max(k, stride)` for
    'valid', `in * stride` for 'same' (plus `output_padding` adjustments).
    """
    inputs, kernel, n, last, strides, padding, dilation = _conv_setup(
        inputs, kernel, strides, padding, data_format, dilation_rate, "conv_transpose"
    )
    channels = _channels(inputs, last)
    if kernel.shape[-1] != channels:
        raise ValueError(
            "conv_transpose: kernel.shape[-1] must equal the input channel count; "
            f"got {channels} input channels and kernel.shape={kernel.shape}"
        )
    out_pad = (
        (output_padding,) * n
        if output_padding is None or isinstance(output_padding, int)
        else tuple(output_padding)
    )
    pads = [
        _transpose_pads(kernel.shape[i], strides[i], dilation[i], padding.lower(), out_pad[i])
        for i in range(n)
    ]
    return lax.conv_transpose(
        inputs,
        kernel.astype(inputs.dtype),
        strides,
        pads,
        rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(n, last),
        transpose_kernel=True,
    )


# -- pooling -----------------------------------------------------------------


def _pool_setup(inputs, pool_size, strides, padding, data_format, op):
    x = _t(inputs)
    n = x.ndim - 2
    if n not in (1, 2, 3):
        raise ValueError(
            f"{op}: argument `inputs` must have rank 3, 4 or 5 (batch, spatial..., channels); "
            f"got shape {tuple(x.shape)}"
        )
    pool = _spatial(pool_size, n, "pool_size", op)
    step = pool if strides is None else _spatial(strides, n, "strides", op)
    last = config.standardize_data_format(data_format) == "channels_last"

    def full(values):  # a per-axis tuple covering batch and channel axes too
        return (1, *values, 1) if last else (1, 1, *values)

    return x, full(pool), full(step), _padding(padding, op).upper()


@keras_op
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max over sliding windows of `pool_size` (strides default to `pool_size`)."""
    x, window, step, padding = _pool_setup(
        inputs, pool_size, strides, padding, data_format, "max_pool"
    )
    floor = -np.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).min
    return cpu_lowering.reduce_window(x, np.array(floor, x.dtype), lax.max, window, step, padding)


@keras_op
def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Mean over sliding windows; with 'same' padding, padded positions are not counted."""
    x, window, step, padding = _pool_setup(
        inputs, pool_size, strides, padding, data_format, "average_pool"
    )
    zero = np.array(0, x.dtype)
    total = cpu_lowering.reduce_window(x, zero, lax.add, window, step, padding)
    if padding == "VALID":
        return total / math.prod(window)
    ones = jnp.ones([d if w > 1 else 1 for d, w in zip(x.shape, window, strict=True)], x.dtype)
    return total / lax.reduce_window(ones, zero, lax.add, window, step, padding)


# -- normalization -----------------------------------------------------------


@keras_op
def moments(x, axes, keepdims=False, synchronized=False):
    """(mean, variance) of `x` over `axes`; float16/bfloat16 are reduced in float32.

    `synchronized` is accepted for Keras compatibility: under shoal's jitted,
    sharded steps, reductions over a sharded batch axis are already global.
    """
    x = _t(x)
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else (axes,)
    half = x.dtype in (jnp.float16, jnp.bfloat16)
    xc = x.astype(jnp.float32) if half else x
    mean = jnp.mean(xc, axis=axes, keepdims=keepdims)
    variance = jnp.var(xc, axis=axes, keepdims=keepdims)
    if half:  # clip before casting back so overflow saturates instead of giving inf
        limit = float(jnp.finfo(jnp.float16).max)
        mean = jnp.clip(mean, -limit, limit).astype(x.dtype)
        variance = jnp.clip(variance, -limit, limit).astype(x.dtype)
    return mean, variance


@keras_op
def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=0.001):
    """`(x - mean) / sqrt(variance + epsilon) * scale + offset`, statistics along `axis`."""
    x = _t(x)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]

    def along(v):
        return None if v is None else jnp.reshape(_t(v), shape)

    mean, variance, offset, scale = along(mean), along(variance), along(offset), along(scale)
    inv = lax.rsqrt(variance + epsilon)
    if scale is not None:
        inv = inv * scale
    shift = -mean * inv
    if offset is not None:
        shift = shift + offset
    return x * inv + shift


@keras_op
def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """Normalize `x` over `axis` (int or list) and apply `gamma`/`beta` (computed in >= float32).

    With `rms_scaling=True`, divides by the root of the variance only (no centering, no beta).
    """
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise TypeError(f"layer_normalization: unexpected keyword arguments {sorted(kwargs)}")
    eps = config.epsilon() if epsilon is None else epsilon
    x = _t(x)
    dtype = x.dtype
    x = x.astype(jnp.result_type(x, jnp.float32))
    axes = sorted([a % x.ndim for a in ([axis] if isinstance(axis, int) else axis)])
    shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]

    def along(v):
        return None if v is None else jnp.reshape(_t(v).astype(x.dtype), shape)

    gamma, beta = along(gamma), along(beta)
    mean, variance = moments(x, axes, keepdims=True)
    inv = lax.rsqrt(variance + eps)
    if rms_scaling:
        out = x * inv if gamma is None else x * inv * gamma
        return out.astype(dtype)
    if gamma is not None:
        inv = inv * gamma
    shift = -mean * inv
    if beta is not None:
        shift = shift + beta
    return (x * inv + shift).astype(dtype)


@keras_op
def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """`x / sqrt(mean(x**2) + epsilon) * scale` over `axis` (computed in >= float32)."""
    eps = config.epsilon() if epsilon is None else epsilon
    x = _t(x)
    dtype = x.dtype
    x = x.astype(jnp.result_type(x, jnp.float32))
    axis = tuple(sorted(axis)) if isinstance(axis, (list, tuple)) else axis
    out = x * lax.rsqrt(jnp.mean(jnp.square(x), axis=axis, keepdims=True) + eps)
    if scale is not None:
        out = out * _t(scale).astype(x.dtype)
    return out.astype(dtype)


@keras_op
def normalize(x, axis=-1, order=2, epsilon=None):
    """`x` divided by its `order`-norm along `axis` (the norm floored at `epsilon`)."""
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"normalize: argument 'order' must be an int >= 1, got {order!r}")
    eps = config.epsilon() if epsilon is None else epsilon
    x = _t(x)
    if x.ndim == 0:
        x = x[None]
    if order == 2:
        inv_norm = lax.rsqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
        return x * jnp.minimum(inv_norm, 1.0 / eps)
    norm = jnp.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / jnp.maximum(norm, eps)


# -- losses ------------------------------------------------------------------


def _same_shape(target, output, op):
    if target.shape != output.shape:
        raise ValueError(
            f"{op}: arguments 'target' and 'output' must have the same shape; "
            f"got target.shape={target.shape}, output.shape={output.shape}"
        )


def _log_probs(output, from_logits, axis):
    if from_logits:
        return jax.nn.log_softmax(output, axis=axis)
    eps = config.epsilon()
    probs = output / jnp.sum(output, axis=axis, keepdims=True)
    return jnp.log(jnp.clip(probs, eps, 1.0 - eps))


@keras_op
def binary_crossentropy(target, output, from_logits=False):
    """Element-wise binary crossentropy (probabilities clipped to [eps, 1 - eps])."""
    target, output = _t(target), _t(output)
    _same_shape(target, output, "binary_crossentropy")
    if from_logits:
        return -target * jax.nn.log_sigmoid(output) - (1.0 - target) * jax.nn.log_sigmoid(-output)
    eps = config.epsilon()
    output = jnp.clip(output, eps, 1.0 - eps)
    return -(target * jnp.log(output) + (1.0 - target) * jnp.log(1.0 - output))


@keras_op
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Crossentropy between one-hot (or soft) `target` and `output` along `axis`."""
    target, output = _t(target), _t(output)
    _same_shape(target, output, "categorical_crossentropy")
    if target.ndim < 1:
        raise ValueError(
            f"categorical_crossentropy: 'target' and 'output' must have rank >= 1, "
            f"got shape {target.shape}"
        )
    return -jnp.sum(target * _log_probs(output, from_logits, axis), axis=axis)


@keras_op
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Crossentropy between integer class `target` and `output` along `axis`."""
    target, output = _t(target).astype("int32"), _t(output)
    if target.ndim == output.ndim and target.shape[-1] == 1:
        target = jnp.squeeze(target, axis=-1)
    if output.ndim < 1 or target.shape != output.shape[:-1]:
        raise ValueError(
            "sparse_categorical_crossentropy: 'target' must have the shape of 'output' without "
            f"its last axis; got target.shape={target.shape}, output.shape={output.shape}"
        )
    log_probs = _log_probs(output, from_logits, axis)
    labels = jax.nn.one_hot(target, output.shape[axis], axis=axis, dtype=log_probs.dtype)
    return -jnp.sum(labels * log_probs, axis=axis)


@keras_op
def psnr(x1, x2, max_val):
    """Peak signal-to-noise ratio between `x1` and `x2`, in dB."""
    x1, x2 = _t(x1), _t(x2)
    if x1.shape != x2.shape:
        raise ValueError(
            f"psnr: 'x1' and 'x2' must have the same shape; got {x1.shape} and {x2.shape}"
        )
    mse = jnp.mean(jnp.square(x1 - x2))
    return 20 * jnp.log10(max_val) - 10 * jnp.log10(mse)


# -- attention ---------------------------------------------------------------


@keras_op
def dot_product_attention(
    query,
    key,
    value,
    bias=None,
    mask=None,
    scale=None,
    is_causal=False,
    flash_attention=None,
    attn_logits_soft_cap=None,
):
    """softmax(query . key / sqrt(depth) + bias, masked) . value, for (B, T, N, H) inputs."""
    query, key, value = _t(query), _t(key), _t(value)
    if not query.ndim == key.ndim == value.ndim == 4:
        raise ValueError(
            "dot_product_attention: query, key and value must have rank 4 (batch, time, heads, "
            f"depth); got {query.shape}, {key.shape}, {value.shape}"
        )
    if attn_logits_soft_cap is not None:
        raise NotImplementedError("dot_product_attention: 'attn_logits_soft_cap' is not supported")
    dtype = jnp.result_type(query, key, value)
    query, key, value = (t.astype(dtype) for t in (query, key, value))
    if flash_attention is None:  # keras.config.enable/disable_flash_attention()
        flash_attention = run_settings.is_flash_attention_enabled()
    impl = "cudnn" if flash_attention else None
    return jax.nn.dot_product_attention(
        query,
        key,
        value,
        bias=None if bias is None else _t(bias).astype(dtype),
        mask=None if mask is None else _t(mask),
        scale=scale,
        is_causal=is_causal,
        implementation=impl,
    )


_IMPORTED = [
    "adaptive_average_pool",
    "adaptive_max_pool",
    "ctc_decode",
    "ctc_loss",
    "fold",
    "unfold",
]
__all__ = sorted(public_names(globals()) + _IMPORTED)
