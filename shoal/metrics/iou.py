"""Intersection-over-union metrics, from an accumulated confusion matrix.

IoU of class c = TP_c / (TP_c + FP_c + FN_c); classes never seen (zero
denominator) are left out of the mean. As in Keras, the default dtype is
int32, so fractional sample weights are truncated.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp

from shoal.backend import config, dtypes
from shoal.backend.tensors import convert_to_tensor
from shoal.losses.base import squeeze_or_expand_to_same_rank
from shoal.metrics.base import Metric


def confusion_matrix(labels, predictions, num_classes, weights=None, dtype="int32"):
    """(num_classes, num_classes) matrix; entry [i, j] sums weights of label i predicted j."""
    labels = convert_to_tensor(labels, dtype)
    predictions = convert_to_tensor(predictions, dtype)
    labels, predictions = squeeze_or_expand_to_same_rank(labels, predictions)
    values = jnp.ones_like(predictions) if weights is None else convert_to_tensor(weights, dtype)
    matrix = jnp.zeros((int(num_classes), int(num_classes)), dtype)
    return matrix.at[labels.astype("int32"), predictions.astype("int32")].add(values)


class _IoUBase(Metric):
    def __init__(
        self,
        num_classes,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        super().__init__(name=name, dtype=dtype or "int")
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis
        self.total_cm = self.add_variable(
            (num_classes, num_classes), "zeros", dtype=self.dtype, name="total_confusion_matrix"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not self.sparse_y_true:
            y_true = jnp.argmax(convert_to_tensor(y_true), axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = jnp.argmax(convert_to_tensor(y_pred), axis=self.axis)
        y_true = convert_to_tensor(y_true, dtype=self.dtype).reshape(-1)
        y_pred = convert_to_tensor(y_pred, dtype=self.dtype).reshape(-1)
        if sample_weight is None:
            sample_weight = 1
        elif dtypes.is_float_dtype(
            getattr(sample_weight, "dtype", "int32")
        ) and dtypes.is_int_dtype(self.dtype):
            warnings.warn(
                f"{type(self).__name__}: `sample_weight` is float but the metric dtype is "
                f"{self.dtype}; weights will be truncated. Consider integer weights.",
                stacklevel=2,
            )
        sample_weight = convert_to_tensor(sample_weight, dtype=self.dtype)
        sample_weight = jnp.broadcast_to(sample_weight.reshape(-1), y_true.shape)
        in_range = (y_true >= 0) & (y_true < self.num_classes)
        valid = in_range & (y_pred >= 0) & (y_pred < self.num_classes)
        if self.ignore_class is not None:
            valid = valid & (y_true != self.ignore_class)
        y_true = jnp.where(valid, y_true, 0)
        y_pred = jnp.where(valid, y_pred, 0)
        sample_weight = jnp.where(valid, sample_weight, 0).astype(self.dtype)
        current = confusion_matrix(y_true, y_pred, self.num_classes, sample_weight, self.dtype)
        self.total_cm.assign(self.total_cm.value + current)


class IoU(_IoUBase):
    """Mean IoU over `target_class_ids`."""

    def __init__(
        self,
        num_classes,
        target_class_ids,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        super().__init__(
            num_classes,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=sparse_y_true,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )
        if max(target_class_ids) >= num_classes:
            raise ValueError(
                f"{type(self).__name__}: `target_class_ids` must lie in [0, {num_classes}); "
                f"got {list(target_class_ids)}"
            )
        self.target_class_ids = list(target_class_ids)

    def result(self):
        cm = self.total_cm.value
        tp = jnp.diag(cm).astype(self.dtype)
        denominator = (
            jnp.sum(cm, axis=0).astype(self.dtype) + jnp.sum(cm, axis=1).astype(self.dtype) - tp
        )
        ids = jnp.asarray(self.target_class_ids, "int32")
        tp = tp[ids].astype("float32")
        denominator = denominator[ids].astype("float32")
        valid = denominator > 1e-9
        iou = jnp.where(valid, tp / (denominator + config.epsilon()), 0.0)
        return jnp.sum(iou, axis=self.axis) / (jnp.sum(valid.astype("float32")) + config.epsilon())

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "target_class_ids": self.target_class_ids,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


class BinaryIoU(IoU):
    """IoU of binary labels against `y_pred >= threshold`."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = convert_to_tensor(y_pred, dtype="float32") >= self.threshold
        super().update_state(y_true, y_pred.astype(self.dtype), sample_weight)

    def get_config(self) -> dict:
        return {
            "target_class_ids": self.target_class_ids,
            "threshold": self.threshold,
            "name": self.name,
            "dtype": self.dtype,
        }


class MeanIoU(IoU):
    """Mean IoU over all `num_classes` classes."""

    def __init__(
        self,
        num_classes,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        super().__init__(
            num_classes,
            list(range(num_classes)),
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=sparse_y_true,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self) -> dict:
        config = super().get_config()
        del config["target_class_ids"]
        return config


class OneHotIoU(IoU):
    """IoU with one-hot y_true (and, unless `sparse_y_pred`, scores for y_pred)."""

    def __init__(
        self,
        num_classes,
        target_class_ids,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_pred=False,
        axis=-1,
    ):
        super().__init__(
            num_classes,
            target_class_ids,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self) -> dict:
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """MeanIoU with one-hot y_true (and, unless `sparse_y_pred`, scores for y_pred)."""

    def __init__(
        self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1
    ):
        super().__init__(
            num_classes,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self) -> dict:
        config = super().get_config()
        del config["sparse_y_true"]
        return config
