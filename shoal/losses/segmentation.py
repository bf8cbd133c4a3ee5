"""Overlap losses for segmentation: Dice and Tversky (as Keras 3).

Both compare soft masks by their overlap, summed over `axis` (all axes when
None, giving one scalar for the batch):

    dice    = 1 - 2 sum(t p) / (sum(t) + sum(p) + epsilon)
    tversky = 1 - sum(t p) / (sum(t p) + alpha sum((1 - p) t) + beta sum(p (1 - t)) + epsilon)

`epsilon` is `shoal.backend.config.epsilon()`, read at call time. Note that
Tversky's `alpha` weighs the entries where the target is set and the prediction
is not, `beta` the reverse (Keras' convention, kept for parity).
"""

from __future__ import annotations

import numbers

import jax.numpy as jnp

from shoal.backend import config
from shoal.backend.tensors import convert_to_tensor
from shoal.losses.classes import LossFunctionWrapper

_SOBS = "sum_over_batch_size"


def check_axis(where: str, axis):
    """`axis` as None, an int or a tuple of ints (lists become tuples)."""
    if axis is None or (isinstance(axis, int) and not isinstance(axis, bool)):
        return axis
    if isinstance(axis, (tuple, list)) and all(
        isinstance(a, int) and not isinstance(a, bool) for a in axis
    ):
        return tuple(axis)
    raise ValueError(
        f"{where}: argument `axis` must be None, an int or a tuple of ints; got {axis!r}"
    )


def check_number(where: str, name: str, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where}: argument `{name}` must be a real number; got {value!r}")
    return value


def _pair(y_true, y_pred):
    y_pred = convert_to_tensor(y_pred)
    return convert_to_tensor(y_true, dtype=y_pred.dtype), y_pred


def dice(y_true, y_pred, axis=None):
    """Dice loss: 1 - 2 |t p| / (|t| + |p|), summed over `axis` (all axes when None).

    Example:
        >>> dice([[1.0, 0.0]], [[1.0, 1.0]])  # 1 - 2 / 3
    """
    axis = check_axis("dice", axis)
    t, p = _pair(y_true, y_pred)
    overlap = jnp.sum(t * p, axis=axis)
    total = jnp.sum(t, axis=axis) + jnp.sum(p, axis=axis) + config.epsilon()
    return 1 - 2.0 * overlap / total


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """Tversky loss; alpha = beta = 0.5 gives the Dice loss.

    Example:
        >>> tversky([[1.0, 0.0]], [[1.0, 1.0]], alpha=0.3, beta=0.7)
    """
    axis = check_axis("tversky", axis)
    check_number("tversky", "alpha", alpha)
    check_number("tversky", "beta", beta)
    t, p = _pair(y_true, y_pred)
    overlap = jnp.sum(t * p, axis=axis)
    missed = jnp.sum((1 - p) * t, axis=axis)
    spurious = jnp.sum(p * (1 - t), axis=axis)
    denominator = overlap + alpha * missed + beta * spurious + config.epsilon()
    return 1 - overlap / denominator


class Dice(LossFunctionWrapper):
    """The Dice loss (see `dice`) as a `Loss`; `axis=None` reduces every axis."""

    def __init__(self, reduction=_SOBS, name="dice", axis=None, dtype=None):
        super().__init__(
            dice,
            reduction=reduction,
            name=name,
            dtype=dtype,
            axis=check_axis("Dice", axis),
        )


class Tversky(LossFunctionWrapper):
    """The Tversky loss (see `tversky`) as a `Loss`."""

    def __init__(self, alpha=0.5, beta=0.5, reduction=_SOBS, name="tversky", axis=None, dtype=None):
        super().__init__(
            tversky,
            reduction=reduction,
            name=name,
            dtype=dtype,
            alpha=check_number("Tversky", "alpha", alpha),
            beta=check_number("Tversky", "beta", beta),
            axis=check_axis("Tversky", axis),
        )
