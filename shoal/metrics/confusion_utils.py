"""Accumulating confusion-matrix counts (TP, FP, TN, FN) at a list of thresholds.

A prediction is positive at threshold t when `y_pred > t`. Evenly spaced
thresholds (AUC's default) take a fast path that drops each prediction into
its bucket and reverse-cumsums, as Keras does; other thresholds compare every
prediction with every threshold.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import config
from shoal.backend.tensors import convert_to_tensor
from shoal.losses.base import squeeze_or_expand_to_same_rank

TP, FP, TN, FN = "true_positives", "false_positives", "true_negatives", "false_negatives"
NEG_INF = -1e10


def parse_thresholds(where: str, thresholds, default) -> list:
    if thresholds is None:
        return [default]
    listed = list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds]
    bad = [t for t in listed if t is None or not 0 <= t <= 1]
    if bad:
        raise ValueError(f"{where}: argument `thresholds` must lie in [0, 1]; got {bad}")
    return listed


def evenly_distributed(thresholds) -> bool:
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=config.epsilon()))


def filter_top_k(x, k):
    """Keep the top-k scores along the last axis; set the rest to NEG_INF."""
    _, idx = jax.lax.top_k(x, k)
    keep = jnp.sum(jax.nn.one_hot(idx, x.shape[-1], dtype=x.dtype), axis=-2)
    return x * keep + NEG_INF * (1 - keep)


def _reverse_cumsum(x, axis):
    return jnp.flip(jnp.cumsum(jnp.flip(x, axis), axis=axis), axis)


def _bucketed_counts(y_true, y_pred, thresholds, multi_label, sample_weight, label_weights):
    """TP/FP/TN/FN at evenly spaced thresholds via bucket sums (O(N + T))."""
    n = len(thresholds)
    with_epsilon = thresholds[0] < 0.0 or thresholds[-1] > 1.0
    weights = 1.0
    if sample_weight is not None:
        weights = jnp.broadcast_to(sample_weight.astype(y_pred.dtype), y_pred.shape)
    if label_weights is not None:
        weights = weights * jnp.broadcast_to(label_weights[None], y_pred.shape)
    weights = jnp.asarray(weights, y_true.dtype)
    if not multi_label:
        y_true, y_pred = y_true.ravel(), y_pred.ravel()
        if weights.ndim:
            weights = weights.ravel()
    y_pred = jnp.clip(y_pred, 0.0, 1.0)
    y_true = (y_true != 0).astype(y_true.dtype)
    true_labels, false_labels = y_true * weights, (1.0 - y_true) * weights
    buckets = jnp.ceil(y_pred * (jnp.asarray(n, y_pred.dtype) - 1)) - 1
    if with_epsilon:
        buckets = jnp.maximum(buckets, 0)
    buckets = buckets.astype("int32")

    def bucket_sum(data, ids):
        return jax.ops.segment_sum(data, ids, num_segments=n)

    if multi_label:  # per label: (labels, N) -> (labels, T) -> (T, labels)
        true_labels, false_labels, buckets = true_labels.T, false_labels.T, buckets.T
        tp = _reverse_cumsum(jax.vmap(bucket_sum)(true_labels, buckets), 1).T
        fp = _reverse_cumsum(jax.vmap(bucket_sum)(false_labels, buckets), 1).T
    else:
        tp = _reverse_cumsum(bucket_sum(true_labels, buckets), 0)
        fp = _reverse_cumsum(bucket_sum(false_labels, buckets), 0)

    def total(labels):  # per label, shaped to broadcast against (T, labels)
        return jnp.sum(labels, axis=-1)[None] if multi_label else jnp.sum(labels)

    return {
        TP: lambda: tp,
        FP: lambda: fp,
        TN: lambda: total(false_labels) - fp,
        FN: lambda: total(true_labels) - tp,
    }


def _thresholded_counts(y_true, y_pred, thresholds, multi_label, sample_weight, label_weights):
    """TP/FP/TN/FN by comparing every prediction with every threshold (O(N * T))."""
    thresholds = jnp.asarray(thresholds, y_pred.dtype)
    flat = (lambda x: x[None]) if multi_label else (lambda x: jnp.reshape(x, (1, -1)))
    t = thresholds.reshape((-1,) + (1,) * (2 if multi_label else 1))
    pred_pos = flat(y_pred) > t
    label_pos = jnp.broadcast_to(flat(y_true.astype(bool)), pred_pos.shape)
    weights = None
    if sample_weight is not None:
        weights = flat(jnp.broadcast_to(sample_weight.astype(y_pred.dtype), y_pred.shape))
    if label_weights is not None and not multi_label:
        lw = flat(jnp.broadcast_to(label_weights[None], y_pred.shape))
        weights = lw if weights is None else weights * lw

    def count(label, pred):
        hit = label & pred
        if weights is None:
            return jnp.sum(hit.astype(y_pred.dtype), axis=1)
        return jnp.sum(jnp.where(hit, weights.astype(y_pred.dtype), 0), axis=1)

    return {
        TP: lambda: count(label_pos, pred_pos),
        FP: lambda: count(~label_pos, pred_pos),
        TN: lambda: count(~label_pos, ~pred_pos),
        FN: lambda: count(label_pos, ~pred_pos),
    }


def update_confusion_matrix_variables(
    variables: dict,
    y_true,
    y_pred,
    thresholds,
    top_k=None,
    class_id=None,
    sample_weight=None,
    multi_label=False,
    label_weights=None,
    thresholds_distributed_evenly=False,
):
    """Add this batch's counts to `variables` ({TP: var, ...}, any subset).

    Counts have one entry per threshold (and per label with `multi_label`).
    """
    dtype = next(iter(variables.values())).dtype
    y_true = convert_to_tensor(y_true).astype(dtype)
    y_pred = convert_to_tensor(y_pred).astype(dtype)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = jnp.expand_dims(convert_to_tensor(sample_weight).astype(dtype), -1)
        _, sample_weight = squeeze_or_expand_to_same_rank(
            y_true, sample_weight, expand_rank_1=False
        )
    if label_weights is not None:
        label_weights = jnp.asarray(label_weights, dtype)
    if top_k is not None:
        y_pred = filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(
                "`class_id` needs y_pred of shape (num_samples, num_classes); "
                f"got shape {y_pred.shape}"
            )
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    counts_fn = _bucketed_counts if thresholds_distributed_evenly else _thresholded_counts
    counts = counts_fn(y_true, y_pred, list(thresholds), multi_label, sample_weight, label_weights)
    for key, variable in variables.items():
        variable.assign(variable.value + counts[key]())
