"""Generalized cross entropy (Zhang & Sabuncu, 2018), robust to noisy labels.

    loss = (1 - p ** q) / q,   p = y_pred's probability of the true class

q -> 0 approaches cross entropy, q -> 1 mean absolute error.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from shoal.backend.tensors import convert_to_tensor
from shoal.losses.classes import LossFunctionWrapper


def check_q(where: str, q):
    if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0 < q < 1:
        raise ValueError(f"{where}: argument `q` must be a float in (0, 1); got {q!r}")
    return q


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """Per-sample GCE of integer labels `y_true` against probabilities `y_pred`.

    Example:
        >>> categorical_generalized_cross_entropy([1], [[0.2, 0.8]], q=0.5)  # (1 - 0.8**0.5) / 0.5
    """
    check_q("categorical_generalized_cross_entropy", q)
    y_pred = convert_to_tensor(y_pred)
    labels = convert_to_tensor(y_true).astype("int32")
    # Labels of shape (batch, 1) broadcast against y_pred here exactly as in Keras.
    onehot = jax.nn.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
    p = jnp.sum(y_pred * onehot, axis=-1)
    return (1 - jnp.power(p, q)) / q


class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """`categorical_generalized_cross_entropy` as a `Loss`; `q` in (0, 1)."""

    def __init__(
        self,
        q=0.5,
        reduction="sum_over_batch_size",
        name="categorical_generalized_cross_entropy",
        dtype=None,
    ):
        super().__init__(
            categorical_generalized_cross_entropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            q=check_q("CategoricalGeneralizedCrossEntropy", q),
        )
