"""Accuracy metrics: per-sample match functions and their running means."""

from __future__ import annotations

import jax.numpy as jnp

from shoal.backend import config
from shoal.backend.tensors import convert_to_tensor
from shoal.losses.base import squeeze_or_expand_to_same_rank
from shoal.metrics.reduction import MeanMetricWrapper


def _as_float(matches):
    return matches.astype(config.floatx())


def in_top_k(targets, predictions, k):
    """Whether each target's score ranks within the top `k` (NaN scores rank last)."""
    at_label = jnp.take_along_axis(predictions, targets[..., None], axis=-1)
    at_label = jnp.where(jnp.isnan(at_label), -jnp.inf, at_label)
    return 1 + jnp.sum(predictions > at_label, axis=-1) <= k


def accuracy(y_true, y_pred):
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, dtype=y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return _as_float(y_true == y_pred)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_pred = (y_pred > threshold).astype(y_true.dtype)
    return _as_float(y_true == y_pred)


def _argmax_matches(y_true, y_pred, squeeze_true: bool):
    """Compare integer labels with argmax(y_pred), keeping y_true's original shape."""
    original_shape = y_true.shape
    if squeeze_true:
        y_true = jnp.squeeze(y_true, -1)
    matches = _as_float(y_true == jnp.argmax(y_pred, axis=-1).astype(y_true.dtype))
    return jnp.reshape(matches, original_shape) if squeeze_true else matches


def categorical_accuracy(y_true, y_pred):
    y_pred = convert_to_tensor(y_pred)
    y_true = jnp.argmax(convert_to_tensor(y_true), axis=-1).astype(y_pred.dtype)
    return _argmax_matches(y_true, y_pred, y_true.ndim == y_pred.ndim)


def sparse_categorical_accuracy(y_true, y_pred):
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, dtype=y_pred.dtype)
    squeeze = y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1
    matches = _argmax_matches(y_true, y_pred, squeeze)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = jnp.squeeze(matches, -1)
    return matches


def _flat_top_k(y_true, y_pred, matches_fn):
    """Flatten leading axes to (N, classes), match, restore y_true's shape."""
    original_shape = y_true.shape
    if y_pred.ndim > 2:
        y_pred = jnp.reshape(y_pred, (-1, y_pred.shape[-1]))
    if y_true.ndim > 1:
        y_true = jnp.reshape(y_true, (-1,))
    matches = _as_float(matches_fn(y_true, y_pred))
    return jnp.reshape(matches, original_shape) if len(original_shape) > 1 else matches


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_pred = convert_to_tensor(y_pred)
    y_true = jnp.argmax(convert_to_tensor(y_true, dtype=y_pred.dtype), axis=-1)
    return _flat_top_k(y_true, y_pred, lambda t, p: in_top_k(t.astype("int32"), p, k))


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """With `from_sorted_ids`, y_pred holds class ids sorted by score, best first."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, dtype=y_pred.dtype if from_sorted_ids else "int32")

    def matches(t, p):
        if from_sorted_ids:
            return jnp.any(t[:, None] == p[:, :k], axis=1)
        return in_top_k(t, p, k)

    return _flat_top_k(y_true, y_pred, matches)


class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often (y_pred > threshold) equals the binary label."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals argmax of the one-hot label."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals the integer label."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label is among the `k` highest scores."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the `k` highest scores."""

    def __init__(
        self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False
    ):
        super().__init__(
            sparse_top_k_categorical_accuracy,
            name=name,
            dtype=dtype,
            k=k,
            from_sorted_ids=from_sorted_ids,
        )
        self.k = k
        self.from_sorted_ids = from_sorted_ids
