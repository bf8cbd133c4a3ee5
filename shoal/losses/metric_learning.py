"""Circle loss (Sun et al., 2020) for metric learning on L2-normalised embeddings.

With cosine distances d = max(1 - y_pred @ ref_embeddings.T, 0), positives
(same label, self-pairs removed by default) and negatives (other labels):

    pos = -gamma * max(margin + d, 0) * (margin - d)         over positives
    neg =  gamma * max(1 + margin - d, 0) * (1 - margin - d)  over negatives
    loss = softplus(logsumexp(pos) + logsumexp(neg))          per row

As in Keras, rows whose loss is 0 (e.g. no positive pair) are masked out of the
"sum_over_batch_size" mean.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal.backend.tensors import convert_to_tensor
from shoal.losses.classes import LossFunctionWrapper
from shoal.losses.segmentation import check_number


def _as_column(labels):
    return labels.reshape(-1, 1) if labels.ndim == 1 else labels


def pair_masks(labels, ref_labels, remove_diagonal=True):
    """(positive, negative) boolean masks of shape (len(labels), len(ref_labels))."""
    labels, ref_labels = _as_column(labels), _as_column(ref_labels)
    positive = labels == ref_labels.T
    negative = ~positive
    if remove_diagonal:
        positive = positive & ~jnp.eye(labels.size, ref_labels.size, dtype=bool)
    return positive, negative


def _masked_logsumexp(values, mask):
    return jax.nn.logsumexp(jnp.where(mask, values, -jnp.inf), axis=1)


def _circle(
    y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80, margin=0.4
):
    check_number("circle", "gamma", gamma)
    check_number("circle", "margin", margin)
    y_pred = convert_to_tensor(y_pred)
    labels = convert_to_tensor(y_true).astype("int32")
    refs = y_pred if ref_embeddings is None else convert_to_tensor(ref_embeddings)
    ref_labels = labels if ref_labels is None else convert_to_tensor(ref_labels).astype("int32")
    distance = jnp.maximum(1 - y_pred @ refs.T, 0.0)
    positive, negative = pair_masks(labels, ref_labels, remove_diagonal)
    pos_weight = jnp.maximum((margin + distance) * positive, 0.0)
    neg_weight = jnp.maximum((1 + margin - distance) * negative, 0.0)
    pos = -gamma * pos_weight * (margin - distance)
    neg = gamma * neg_weight * (1 - margin - distance)
    loss = jax.nn.softplus(_masked_logsumexp(pos, positive) + _masked_logsumexp(neg, negative))
    return loss, loss > 0


def circle(
    y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80, margin=0.4
):
    """Per-row Circle loss of integer labels `y_true` and unit-norm embeddings `y_pred`.

    `ref_labels` / `ref_embeddings` default to `y_true` / `y_pred`.

    Example:
        >>> circle([0, 0, 1], [[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], gamma=10.0)
    """
    return _circle(y_true, y_pred, ref_labels, ref_embeddings, remove_diagonal, gamma, margin)[0]


class Circle(LossFunctionWrapper):
    """`circle` as a `Loss` (rows with zero loss are left out of the mean, as in Keras)."""

    def __init__(
        self,
        gamma=80.0,
        margin=0.4,
        remove_diagonal=True,
        reduction="sum_over_batch_size",
        name="circle",
        dtype=None,
    ):
        if not isinstance(remove_diagonal, bool):
            raise ValueError(
                f"Circle: argument `remove_diagonal` must be a bool; got {remove_diagonal!r}"
            )
        super().__init__(
            circle,
            reduction=reduction,
            name=name,
            dtype=dtype,
            gamma=check_number("Circle", "gamma", gamma),
            margin=check_number("Circle", "margin", margin),
            remove_diagonal=remove_diagonal,
        )

    def _call_with_mask(self, y_true, y_pred):
        return _circle(*self._aligned(y_true, y_pred), **self._fn_kwargs)
