"""Loss functions (`shoal.losses.mean_squared_error`, ...), numerically as Keras 3 on JAX.

Each takes `(y_true, y_pred, **hyper-parameters)` and returns per-sample values
(usually reduced over the last axis). Probabilities are clipped to
`[epsilon, 1 - epsilon]` with `shoal.backend.config.epsilon()` read at call
time, as Keras does.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp

from shoal.backend import config
from shoal.backend.tensors import convert_to_tensor
from shoal.losses.base import squeeze_or_expand_to_same_rank


def _pair(y_true, y_pred, align: bool = True):
    """Convert to arrays, y_true in y_pred's dtype, optionally rank-aligned."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, dtype=y_pred.dtype)
    if align:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return y_true, y_pred


def _check_same_shape(fn: str, target, output):
    if target.shape != output.shape:
        raise ValueError(
            f"{fn}: `y_true` and `y_pred` must have the same shape; "
            f"got y_true.shape={target.shape}, y_pred.shape={output.shape}"
        )


def _check_axis(fn: str, axis):
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"{fn}: argument `axis` must be an int; got {axis!r}")


def _clip_probs(p):
    eps = config.epsilon()
    return jnp.clip(p, eps, 1.0 - eps)


def _bce(target, output, from_logits):
    """Element-wise binary crossentropy."""
    if from_logits:
        return -target * jax.nn.log_sigmoid(output) - (1.0 - target) * jax.nn.log_sigmoid(-output)
    output = _clip_probs(output)
    return -(target * jnp.log(output) + (1.0 - target) * jnp.log(1.0 - output))


def _log_probs(output, from_logits, axis):
    if from_logits:
        return jax.nn.log_softmax(output, axis=axis)
    return jnp.log(_clip_probs(output / jnp.sum(output, axis, keepdims=True)))


def normalize(x, axis=-1):
    """L2-normalise along `axis`: x * min(rsqrt(sum(x^2)), 1/epsilon)."""
    inv_norm = jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
    return x * jnp.minimum(inv_norm, 1.0 / config.epsilon())


def _warn_single_class(fn, y_pred):
    if y_pred.shape and y_pred.shape[-1] == 1:
        warnings.warn(
            f"In loss {fn}, expected y_pred.shape to be (batch_size, num_classes) with "
            f"num_classes > 1. Received: y_pred.shape={y_pred.shape}. Consider using "
            "'binary_crossentropy' if you only have 2 classes.",
            SyntaxWarning,
            stacklevel=3,
        )


def _smooth(y_true, label_smoothing, num_classes):
    if not label_smoothing:
        return y_true
    return y_true * (1.0 - label_smoothing) + label_smoothing / num_classes


# -- regression ---------------------------------------------------------------


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return jnp.mean(jnp.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return jnp.mean(jnp.abs(y_true - y_pred), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    eps = jnp.asarray(config.epsilon(), y_pred.dtype)
    diff = jnp.abs((y_true - y_pred) / jnp.maximum(jnp.abs(y_true), eps))
    return 100.0 * jnp.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    eps = config.epsilon()
    first = jnp.log(jnp.maximum(y_pred, eps) + 1.0)
    second = jnp.log(jnp.maximum(y_true, eps) + 1.0)
    return jnp.mean(jnp.square(first - second), axis=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Negative cosine similarity (so that minimising it aligns the vectors)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return -jnp.sum(normalize(y_true, axis) * normalize(y_pred, axis), axis=axis)


def huber(y_true, y_pred, delta=1.0):
    """0.5 * e^2 where |e| <= delta, else delta * |e| - 0.5 * delta^2; mean over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    delta = jnp.asarray(delta, y_pred.dtype)
    error = y_pred - y_true
    abs_error = jnp.abs(error)
    half = jnp.asarray(0.5, abs_error.dtype)
    quadratic = half * jnp.square(error)
    linear = delta * abs_error - half * jnp.square(delta)
    return jnp.mean(jnp.where(abs_error <= delta, quadratic, linear), axis=-1)


def log_cosh(y_true, y_pred):
    """log(cosh(e)) computed stably as e + softplus(-2e) - log(2)."""
    y_true, y_pred = _pair(y_true, y_pred)
    x = y_pred - y_true
    log2 = jnp.asarray(jnp.log(2.0), y_pred.dtype)
    return jnp.mean(x + jax.nn.softplus(x * -2.0) - log2, axis=-1)


# -- hinge ----------------------------------------------------------------------


def _to_signed_labels(y_true):
    """Labels in {0, 1} become {-1, 1}; anything else is left as given."""
    is_binary = jnp.all((y_true == 0) | (y_true == 1))
    return jnp.where(is_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    y_true = _to_signed_labels(y_true)
    return jnp.mean(jnp.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    y_true = _to_signed_labels(y_true)
    return jnp.mean(jnp.square(jnp.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def categorical_hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    pos = jnp.sum(y_true * y_pred, axis=-1)
    neg = jnp.max((1.0 - y_true) * y_pred, axis=-1)
    return jnp.maximum(neg - pos + 1.0, jnp.asarray(0.0, y_pred.dtype))


# -- probabilistic ----------------------------------------------------------------


def kl_divergence(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    eps = config.epsilon()
    y_true = jnp.clip(y_true, eps, 1)
    y_pred = jnp.clip(y_pred, eps, 1)
    return jnp.sum(y_true * jnp.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    eps = jnp.asarray(config.epsilon(), y_pred.dtype)
    return jnp.mean(y_pred - y_true * jnp.log(y_pred + eps), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    _check_same_shape("binary_crossentropy", y_true, y_pred)
    y_true = _smooth(y_true, label_smoothing, 2.0)
    return jnp.mean(_bce(y_true, y_pred, from_logits), axis=axis)


def binary_focal_crossentropy(
    y_true,
    y_pred,
    apply_class_balancing=False,
    alpha=0.25,
    gamma=2.0,
    from_logits=False,
    label_smoothing=0.0,
    axis=-1,
):
    """Binary crossentropy scaled by (1 - p_t)^gamma, optionally by alpha / (1 - alpha)."""
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    _check_same_shape("binary_focal_crossentropy", y_true, y_pred)
    y_true = _smooth(y_true, label_smoothing, 2.0)
    if from_logits:
        y_pred = jax.nn.sigmoid(y_pred)
    bce = _bce(y_true, y_pred, from_logits=False)
    p_t = y_true * y_pred + (1 - y_true) * (1 - y_pred)
    focal_bce = jnp.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal_bce = (y_true * alpha + (1 - y_true) * (1 - alpha)) * focal_bce
    return jnp.mean(focal_bce, axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    _check_axis("categorical_crossentropy", axis)
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    _warn_single_class("categorical_crossentropy", y_pred)
    _check_same_shape("categorical_crossentropy", y_true, y_pred)
    y_true = _smooth(y_true, label_smoothing, jnp.asarray(y_true.shape[-1], y_pred.dtype))
    return -jnp.sum(y_true * _log_probs(y_pred, from_logits, axis), axis=axis)


def categorical_focal_crossentropy(
    y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1
):
    _check_axis("categorical_focal_crossentropy", axis)
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    _warn_single_class("categorical_focal_crossentropy", y_pred)
    y_true = _smooth(y_true, label_smoothing, jnp.asarray(y_true.shape[-1], y_pred.dtype))
    if from_logits:
        y_pred = jax.nn.softmax(y_pred, axis=axis)
    output = _clip_probs(y_pred / jnp.sum(y_pred, axis=axis, keepdims=True))
    cce = -y_true * jnp.log(output)
    return jnp.sum(jnp.power(1.0 - output, gamma) * alpha * cce, axis=axis)


def _sparse_cce_with_mask(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Sparse crossentropy and the mask of entries whose label is not `ignore_class`."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = jnp.squeeze(y_true, axis=axis)
    valid = None
    if ignore_class is not None:
        class_axis = axis % y_pred.ndim
        res_shape = tuple(d for i, d in enumerate(y_pred.shape) if i != class_axis)
        valid = y_true != jnp.asarray(ignore_class, y_pred.dtype)
        y_true = jnp.where(valid, y_true, 0)
        y_pred = jnp.where(jnp.expand_dims(valid, axis), y_pred, 0)
    target = y_true.astype("int32")
    if target.ndim == y_pred.ndim and target.shape[-1] == 1:
        target = jnp.squeeze(target, axis=-1)
    if y_pred.ndim < 1 or target.shape != y_pred.shape[:-1]:
        raise ValueError(
            "sparse_categorical_crossentropy: `y_true` must have the shape of `y_pred` "
            f"without its last axis; got y_true.shape={y_true.shape}, "
            f"y_pred.shape={y_pred.shape}"
        )
    one_hot = jax.nn.one_hot(target, y_pred.shape[axis], axis=axis, dtype=y_pred.dtype)
    res = -jnp.sum(one_hot * _log_probs(y_pred, from_logits, axis), axis=axis)
    if valid is not None:
        valid = jnp.reshape(valid, res_shape)
        res = jnp.where(valid, res, 0.0)
    return res, valid


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Crossentropy with integer labels; entries labelled `ignore_class` contribute 0."""
    return _sparse_cce_with_mask(y_true, y_pred, from_logits, ignore_class, axis)[0]


# Loss functions whose values carry a mask (Keras attaches it to the tensor; we return it).
_WITH_MASK = {sparse_categorical_crossentropy: _sparse_cce_with_mask}


def values_and_mask(fn, y_true, y_pred, **kwargs):
    """`fn(y_true, y_pred, **kwargs)` and the mask Keras would attach to the result."""
    masked = _WITH_MASK.get(fn)
    if masked is not None:
        return masked(y_true, y_pred, **kwargs)
    return fn(y_true, y_pred, **kwargs), None
