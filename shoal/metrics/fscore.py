"""F-beta and F1 scores for (multi-label or one-hot) classification."""

from __future__ import annotations

import jax.numpy as jnp

from shoal.backend import config
from shoal.backend.tensors import convert_to_tensor
from shoal.metrics.base import Metric

_AVERAGES = (None, "micro", "macro", "weighted")
_STATS = ("true_positives", "false_positives", "false_negatives", "intermediate_weights")


class FBetaScore(Metric):
    """(1 + beta^2) * precision * recall / (beta^2 * precision + recall).

    Args:
        average: None (one score per class), "micro" (counts pooled over
            classes), "macro" (mean of class scores) or "weighted" (class
            scores weighted by support).
        beta: weight of recall relative to precision (a float > 0).
        threshold: predictions above it are positive; None means the
            highest-scoring class of each sample is positive.
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        where = type(self).__name__
        if average not in _AVERAGES:
            raise ValueError(
                f"{where}: argument `average` must be one of {list(_AVERAGES)}; got {average!r}"
            )
        if not isinstance(beta, float) or beta <= 0.0:
            raise ValueError(f"{where}: argument `beta` must be a Python float > 0; got {beta!r}")
        if threshold is not None and (
            not isinstance(threshold, float) or not 0.0 < threshold <= 1.0
        ):
            raise ValueError(
                f"{where}: argument `threshold` must be a Python float in (0, 1]; got {threshold!r}"
            )
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self.built = False

    def build(self, y_true_shape=None, y_pred_shape=None):
        if self.built:
            return
        if y_pred_shape is None or len(y_pred_shape) != 2 or len(y_true_shape or ()) != 2:
            raise ValueError(
                f"{type(self).__name__}: expects 2D inputs (batch_size, output_dim); "
                f"got y_true.shape={y_true_shape}, y_pred.shape={y_pred_shape}"
            )
        shape = () if self.average == "micro" else (y_pred_shape[-1],)
        for stat in _STATS:
            setattr(self, stat, self.add_variable(shape, "zeros", dtype=self.dtype, name=stat))
        self.built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = convert_to_tensor(y_true, dtype=self.dtype)
        y_pred = convert_to_tensor(y_pred, dtype=self.dtype)
        self.build(y_true.shape, y_pred.shape)
        if self.threshold is None:
            top = jnp.max(y_pred, axis=-1, keepdims=True)
            y_pred = (y_pred >= top) & (jnp.abs(y_pred) > 1e-9)
        else:
            y_pred = y_pred > self.threshold
        y_pred = y_pred.astype(self.dtype)
        if sample_weight is not None:
            sample_weight = convert_to_tensor(sample_weight, dtype=self.dtype)

        def weighted_sum(x):
            if sample_weight is not None:
                x = x * jnp.expand_dims(sample_weight, 1)
            return jnp.sum(x, axis=self.axis)

        increments = (y_pred * y_true, y_pred * (1 - y_true), (1 - y_pred) * y_true, y_true)
        for stat, inc in zip(_STATS, increments, strict=True):
            var = getattr(self, stat)
            var.assign(var.value + weighted_sum(inc))

    def result(self):
        eps = config.epsilon()
        tp, fp, fn = (
            self.true_positives.value,
            self.false_positives.value,
            self.false_negatives.value,
        )
        precision = jnp.divide(tp, tp + fp + eps)
        recall = jnp.divide(tp, tp + fn + eps)
        b2 = self.beta**2
        score = jnp.divide(precision * recall, b2 * precision + recall + eps) * (1 + b2)
        if self.average == "weighted":
            w = self.intermediate_weights.value
            return jnp.sum(score * jnp.divide(w, jnp.sum(w) + eps))
        if self.average is not None:
            return jnp.mean(score)
        return score

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }


class F1Score(FBetaScore):
    """FBetaScore with beta = 1: the harmonic mean of precision and recall."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config
