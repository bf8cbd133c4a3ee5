"""Regression metrics with their own state: RootMeanSquaredError and R2Score."""

from __future__ import annotations

import jax.numpy as jnp

from shoal.backend.tensors import convert_to_tensor
from shoal.losses.base import squeeze_or_expand_to_same_rank
from shoal.metrics.base import Metric
from shoal.metrics.reduction import Mean

_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


class RootMeanSquaredError(Mean):
    """sqrt of the running (weighted) mean of squared errors."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = convert_to_tensor(y_true, self.dtype)
        y_pred = convert_to_tensor(y_pred, self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        super().update_state(jnp.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self):
        return jnp.sqrt(super().result())


class R2Score(Metric):
    """Coefficient of determination, per output column then aggregated.

    Args:
        class_aggregation: None (one score per column), "uniform_average" or
            "variance_weighted_average".
        num_regressors: p for the adjusted score 1 - (1 - R2) (n - 1) / (n - p - 1);
            0 gives the plain score. Where n - 1 <= p the plain score is
            returned (Keras also warns; a jitted metric cannot).
    """

    def __init__(
        self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None
    ):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in _AGGREGATIONS:
            raise ValueError(
                f"R2Score: argument `class_aggregation` must be one of {list(_AGGREGATIONS)}; "
                f"got {class_aggregation!r}"
            )
        if num_regressors < 0:
            raise ValueError(
                f"R2Score: argument `num_regressors` must be >= 0; got {num_regressors!r}"
            )
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self.num_samples = self.add_variable((), "zeros", name="num_samples")
        self.built = False

    def build(self, y_true_shape=None, y_pred_shape=None):
        if self.built:
            return
        if y_pred_shape is None or len(y_pred_shape) != 2 or len(y_true_shape or ()) != 2:
            raise ValueError(
                "R2Score: expects 2D inputs (batch_size, output_dim); "
                f"got y_true.shape={y_true_shape}, y_pred.shape={y_pred_shape}"
            )
        shape = (y_pred_shape[-1],)
        self.squared_sum = self.add_variable(shape, "zeros", name="squared_sum")
        self.sum = self.add_variable(shape, "zeros", name="sum")
        self.total_mse = self.add_variable(shape, "zeros", name="residual")
        self.count = self.add_variable(shape, "zeros", name="count")
        self.built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = convert_to_tensor(y_true, dtype=self.dtype)
        y_pred = convert_to_tensor(y_pred, dtype=self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        self.build(y_true.shape, y_pred.shape)
        sample_weight = convert_to_tensor(1 if sample_weight is None else sample_weight, self.dtype)
        if sample_weight.ndim == 1:
            sample_weight = jnp.expand_dims(sample_weight, 1)
        sample_weight = jnp.broadcast_to(sample_weight, y_true.shape).astype(y_true.dtype)
        weighted = y_true * sample_weight
        self.sum.assign(self.sum.value + jnp.sum(weighted, axis=0))
        self.squared_sum.assign(self.squared_sum.value + jnp.sum(y_true * weighted, axis=0))
        residual = jnp.sum((y_true - y_pred) ** 2 * sample_weight, axis=0)
        self.total_mse.assign(self.total_mse.value + residual)
        self.count.assign(self.count.value + jnp.sum(sample_weight, axis=0))
        self.num_samples.assign(self.num_samples.value + y_true.size)

    def result(self):
        mean = self.sum.value / self.count.value
        total = self.squared_sum.value - self.sum.value * mean
        raw = 1 - self.total_mse.value / total
        raw = jnp.where(jnp.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = jnp.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            score = jnp.sum(total * raw) / jnp.sum(total)
        else:
            score = raw
        if self.num_regressors == 0:
            return score
        n = self.num_samples.value.astype("float32")
        p = jnp.asarray(self.num_regressors, "float32")
        adjusted = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
        return jnp.where(p < n - 1, adjusted, score)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }
