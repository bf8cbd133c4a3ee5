"""Sum, Mean and MeanMetricWrapper (the running mean of a per-sample function)."""

from __future__ import annotations

import jax.numpy as jnp

from shoal.backend.tensor_masks import get_keras_mask
from shoal.backend.tensors import convert_to_tensor
from shoal.losses.base import apply_mask, divide_no_nan, squeeze_or_expand_to_same_rank
from shoal.losses.functions import values_and_mask
from shoal.metrics.base import Metric


def reduce_to_samplewise_values(values, sample_weight, reduce_fn, dtype, mask=None):
    """Weight `values` and reduce them to one value per sample (Keras' rule).

    Values with more axes than the weights are first reduced over the extra
    axes; weights with more than one axis are then reduced to one per sample.
    Returns (per-sample values, per-sample weights or None).
    """
    values = convert_to_tensor(values).astype(dtype)
    if sample_weight is not None:
        sample_weight = convert_to_tensor(sample_weight, dtype=dtype)
        if mask is not None:
            sample_weight = apply_mask(sample_weight, mask, dtype, reduction="sum")
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim = sample_weight.ndim
        if values.ndim > weight_ndim:
            values = reduce_fn(values, axis=tuple(range(weight_ndim, values.ndim)))
        # Broadcast first: a weight shared along an axis counts once per element there.
        sample_weight = jnp.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, weight_ndim)))
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Sum(Metric):
    """The (weighted) sum of all values seen."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", dtype=self.dtype, name="total")

    def update_state(self, values, sample_weight=None):
        values, _ = reduce_to_samplewise_values(values, sample_weight, jnp.sum, self.dtype)
        self.total.assign(self.total.value + jnp.sum(values))

    def result(self):
        return self.total.value.astype(self.dtype)


class Mean(Metric):
    """The (weighted) mean of per-sample values: total / count."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", dtype=self.dtype, name="total")
        self.count = self.add_variable((), "zeros", dtype=self.dtype, name="count")

    def update_state(self, values, sample_weight=None):
        self._accumulate(values, sample_weight)

    def _accumulate(self, values, sample_weight, mask=None):
        values, sample_weight = reduce_to_samplewise_values(
            values, sample_weight, jnp.mean, self.dtype, mask=mask
        )
        self.total.assign(self.total.value + jnp.sum(values))
        if sample_weight is not None:
            num_samples = jnp.sum(sample_weight)
        else:
            num_samples = values.shape[0] if values.ndim >= 1 else 1
        self.count.assign(self.count.value + jnp.asarray(num_samples, self.dtype))

    def result(self):
        return divide_no_nan(self.total.value, self.count.value.astype(self.dtype))


class MeanMetricWrapper(Mean):
    """The running mean of `fn(y_true, y_pred, **kwargs)`.

    `update_state` also takes `mask=` (a boolean mask on y_pred, e.g. from a
    masked sequence model): masked entries get zero weight.
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        if mask is None:  # the mask y_pred carries (a masking layer's output), as Keras
            mask = get_keras_mask(y_pred)
        values, values_mask = values_and_mask(self._fn, y_true, y_pred, **self._fn_kwargs)
        sample_weight = apply_mask(sample_weight, mask, self.dtype, reduction="sum")
        self._accumulate(values, sample_weight, values_mask)

    def get_config(self) -> dict:
        config = {**super().get_config(), **self._fn_kwargs}
        if type(self) is MeanMetricWrapper:
            from shoal.losses.registry import serialize_object

            config["fn"] = serialize_object(self._fn)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "fn" in config:
            from shoal.metrics.registry import deserialize_function

            config["fn"] = deserialize_function(config["fn"])
        return cls(**config)
