"""Name lookup and (de)serialization for metrics, and Keras 3's meaning of "accuracy"."""

from __future__ import annotations

import inspect

from shoal.backend.naming import to_snake_case
from shoal.losses.registry import ALL_OBJECTS as LOSS_OBJECTS
from shoal.losses.registry import FUNCTIONS as LOSS_FUNCTIONS
from shoal.losses.registry import deserialize_object, get_object, serialize_object
from shoal.metrics import (
    accuracy,
    auc,
    confusion,
    correlation,
    fscore,
    iou,
    loss_metrics,
    reduction,
    regression,
)
from shoal.metrics.base import Metric

_MODULES = (
    accuracy,
    auc,
    confusion,
    correlation,
    fscore,
    iou,
    loss_metrics,
    reduction,
    regression,
)
_CLASSES = [Metric] + [
    obj
    for module in _MODULES
    for name, obj in vars(module).items()
    if inspect.isclass(obj)
    and issubclass(obj, Metric)
    and not name.startswith("_")
    and obj.__module__ == module.__name__
]
ALL_OBJECTS = {cls.__name__: cls for cls in _CLASSES}
ALL_OBJECTS.update({to_snake_case(cls.__name__): cls for cls in _CLASSES})
_ALIASES = {
    "bce": loss_metrics.BinaryCrossentropy,
    "mse": loss_metrics.MeanSquaredError,
    "mae": loss_metrics.MeanAbsoluteError,
    "mape": loss_metrics.MeanAbsolutePercentageError,
    "msle": loss_metrics.MeanSquaredLogarithmicError,
}
ALL_OBJECTS.update(_ALIASES)
ALL_OBJECTS.update({k.upper(): v for k, v in _ALIASES.items()})

# Functions a MeanMetricWrapper may hold, by name (for its config): keras.metrics' functions.
_ACCURACY_FUNCTIONS = (
    accuracy.accuracy,
    accuracy.binary_accuracy,
    accuracy.categorical_accuracy,
    accuracy.sparse_categorical_accuracy,
    accuracy.top_k_categorical_accuracy,
    accuracy.sparse_top_k_categorical_accuracy,
)
_CORRELATION_FUNCTIONS = (correlation.pearson_correlation, correlation.concordance_correlation)
FUNCTIONS = {
    fn.__name__: fn for fn in LOSS_FUNCTIONS + _ACCURACY_FUNCTIONS + _CORRELATION_FUNCTIONS
}


def serialize(metric):
    """A metric object (or function) as a Keras-format config (dict)."""
    return serialize_object(metric)


def deserialize(config, custom_objects=None):
    """The metric a name or `serialize` dict describes."""
    return deserialize_object(
        config, ALL_OBJECTS, "shoal.metrics.deserialize", "metric", custom_objects
    )


def deserialize_function(config, custom_objects=None):
    """The function (or Loss object) a MeanMetricWrapper wraps, from its name or dict."""
    known = {**LOSS_OBJECTS, **FUNCTIONS}
    return deserialize_object(config, known, "MeanMetricWrapper", "function", custom_objects)


def get(identifier):
    """A `Metric` instance (or callable) from a name, config dict, class or callable.

    Names follow Keras 3: class names and their snake_case forms ("auc",
    "binary_accuracy", "mean_squared_error") and the aliases "mse", "mae",
    "mape", "msle", "bce". "accuracy"/"acc" in `compile` depend on the data
    (see `resolve_accuracy`); here "accuracy" is `Accuracy` (exact equality).
    """
    return get_object(identifier, ALL_OBJECTS, "shoal.metrics.get", "metric", Metric)


def resolve_accuracy(loss=None, y_true_shape=None, y_pred_shape=None, name="accuracy"):
    """The metric Keras 3's `compile(metrics=["accuracy"])` builds for one output.

    Keras 3 decides from the shapes alone (`loss` is accepted for callers that
    have it, and ignored, as Keras 3 ignores it):

    - y_pred's last axis has size 1: `BinaryAccuracy`;
    - y_true has lower rank than y_pred, or y_true's last axis is 1 while
      y_pred's is larger: `SparseCategoricalAccuracy`;
    - otherwise: `CategoricalAccuracy`.

    Note the Keras quirk this keeps: rank-1 y_true and y_pred of shape (batch,)
    give `CategoricalAccuracy`.
    """
    del loss
    if y_true_shape is None or y_pred_shape is None:
        raise ValueError(
            "resolve_accuracy: `y_true_shape` and `y_pred_shape` are required; "
            f"got {y_true_shape!r} and {y_pred_shape!r}"
        )
    y_true_shape, y_pred_shape = tuple(y_true_shape), tuple(y_pred_shape)
    t_last = y_true_shape[-1] if y_true_shape else None
    p_last = y_pred_shape[-1] if y_pred_shape else None
    if p_last == 1:
        return accuracy.BinaryAccuracy(name=name)
    if len(y_true_shape) < len(y_pred_shape) or (t_last == 1 and p_last is not None and p_last > 1):
        return accuracy.SparseCategoricalAccuracy(name=name)
    return accuracy.CategoricalAccuracy(name=name)
