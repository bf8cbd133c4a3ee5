"""`Loss` base class and the weighting / masking / reduction rules of Keras 3.

A loss computes per-sample values with `call(y_true, y_pred)`, then
`reduce_weighted_values` merges any mask into the sample weights, multiplies,
and reduces:

    "sum"                      sum(values * w)
    "sum_over_batch_size"      sum(values * w) / values.size   ("mean" is the same)
    "mean_with_sample_weight"  sum(values * w) / sum(w)
    "none" / None              values * w, unreduced

With a mask under "sum_over_batch_size"/"mean", valid entries are weighted by
`total / valid` so the division by `values.size` becomes a mean over valid
entries only.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from shoal.backend import config, dtype_policy, naming
from shoal.backend.tensor_masks import get_keras_mask
from shoal.backend.tensors import convert_to_tensor

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Loss: argument `reduction` must be one of {list(REDUCTIONS)}; got {reduction!r}"
        )
    return reduction


def divide_no_nan(x, y):
    """x / y, with 0 wherever y == 0 (and no NaN in the gradient)."""
    safe_y = jnp.where(y == 0, 1, y)
    return jnp.where(y == 0, 0, jnp.divide(x, safe_y))


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1: bool = True):
    """Make ranks agree when they differ by one trailing dimension of size 1."""
    r1, r2 = len(x1.shape), len(x2.shape)
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = jnp.expand_dims(x2, -1)
        else:
            x1 = jnp.squeeze(x1, -1)
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = jnp.expand_dims(x1, -1)
        else:
            x2 = jnp.squeeze(x2, -1)
    return x1, x2


def apply_mask(sample_weight, mask, dtype, reduction):
    """Fold a boolean mask into the sample weights (see module docstring)."""
    if mask is None:
        return sample_weight
    mask = convert_to_tensor(mask)
    if reduction in ("mean", "sum_over_batch_size"):
        total = jnp.asarray(math.prod(mask.shape), dtype)
        valid = jnp.sum(mask.astype(dtype))
        float_mask = jnp.where(mask.astype(bool), divide_no_nan(total, valid), 0).astype(dtype)
    else:
        float_mask = mask.astype(dtype)
    if sample_weight is None:
        return float_mask
    sample_weight = convert_to_tensor(sample_weight).astype(dtype)
    float_mask, sample_weight = squeeze_or_expand_to_same_rank(float_mask, sample_weight)
    return sample_weight * float_mask


def reduce_values(values, sample_weight=None, reduction="sum_over_batch_size"):
    if reduction in (None, "none") or tuple(values.shape) in ((), (0,)):
        return values
    loss = jnp.sum(values)
    if reduction == "sum":
        return loss
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = jnp.sum(sample_weight).astype(loss.dtype)
    else:
        divisor = jnp.asarray(math.prod(values.shape), loss.dtype)
    return divide_no_nan(loss, divisor)


def reduce_weighted_values(
    values, sample_weight=None, mask=None, reduction="sum_over_batch_size", dtype=None
):
    reduction = standardize_reduction(reduction)
    values = convert_to_tensor(values, dtype=dtype)
    if sample_weight is not None:
        sample_weight = convert_to_tensor(sample_weight, dtype=dtype)
    if mask is not None:
        mask = convert_to_tensor(mask, dtype=dtype)
    sample_weight = apply_mask(sample_weight, mask, values.dtype, reduction)
    if sample_weight is not None:
        sample_weight = sample_weight.astype(values.dtype)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        try:
            jnp.broadcast_shapes(values.shape, sample_weight.shape)
        except ValueError:
            raise ValueError(
                f"Argument `sample_weight` has shape {tuple(sample_weight.shape)} (per batch), "
                "which does not broadcast to the loss values it weights, of shape "
                f"{tuple(values.shape)}: give one weight per sample (shape (batch,)) or one per "
                "loss value."
            ) from None
        values = values * sample_weight
    return reduce_values(values, sample_weight, reduction)


def _combine_masks(a, b):
    if a is None or b is None:
        return b if a is None else a
    return jnp.logical_and(convert_to_tensor(a).astype(bool), convert_to_tensor(b).astype(bool))


class Loss:
    """Base class of losses: subclass and implement `call(y_true, y_pred)`.

    `__call__` converts inputs to the loss dtype, computes per-sample values,
    applies `sample_weight` and reduces according to `reduction` (see module
    docstring).

    Example:
        >>> class MyMSE(Loss):
        ...     def call(self, y_true, y_pred):
        ...         return jnp.mean(jnp.square(y_pred - y_true), axis=-1)
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or naming.auto_name(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self._dtype_policy = dtype_policy.get(dtype or config.floatx())
        self._dtype = self._dtype_policy.compute_dtype

    @property
    def dtype(self) -> str:
        return self._dtype

    def __call__(self, y_true, y_pred, sample_weight=None):
        # The mask y_pred carries (a masking layer's output) excludes its entries, as Keras.
        return self._apply(y_true, y_pred, sample_weight, mask=get_keras_mask(y_pred))

    def _apply(self, y_true, y_pred, sample_weight=None, mask=None):
        """`__call__` with an optional boolean `mask` on y_pred (the trainer's entry point).

        Masked-out entries get zero weight; under "sum_over_batch_size" the
        loss is averaged over the valid entries only. A subclass that overrides `__call__`
        itself (as some Keras programs do) is called, the mask folded into the weights.
        """
        if type(self).__call__ is not Loss.__call__:
            if mask is not None:
                weight = jnp.asarray(mask, self.dtype)
                sample_weight = weight if sample_weight is None else weight * sample_weight
            return self(y_true, y_pred, sample_weight)
        y_true = self._to_dtype(y_true)
        y_pred = self._to_dtype(y_pred)
        values, out_mask = self._call_with_mask(y_true, y_pred)
        return reduce_weighted_values(
            values,
            sample_weight=sample_weight,
            mask=_combine_masks(mask, out_mask),
            reduction=self.reduction,
            dtype=self.dtype,
        )

    def _to_dtype(self, x):
        if isinstance(x, dict):
            return jax.tree.map(self._to_dtype, x)
        return convert_to_tensor(x, dtype=self.dtype)

    def _call_with_mask(self, y_true, y_pred):
        """Per-sample values and the mask they carry (None for most losses)."""
        return self.call(y_true, y_pred), None

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement `call(y_true, y_pred)`")

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"
