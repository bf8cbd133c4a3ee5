"""`MonitorCallback`: the base of callbacks that watch one logged quantity for improvement.

EarlyStopping, ModelCheckpoint and ReduceLROnPlateau share Keras 3's rules: `mode="auto"`
minimizes `loss` / `val_loss` and otherwise asks the compiled metric of that name which way
is better; `min_delta` is the smallest change that counts as an improvement.
"""

from __future__ import annotations

import operator
import warnings

import numpy as np

from shoal.callbacks.callback import Callback

# Which way Keras 3's built-in metrics improve (their `_direction`), by class name; used when a
# metric object does not carry `_direction` itself. Subclasses inherit through the MRO.
_UP = frozenset(
    {
        "Accuracy",
        "BinaryAccuracy",
        "CategoricalAccuracy",
        "SparseCategoricalAccuracy",
        "TopKCategoricalAccuracy",
        "SparseTopKCategoricalAccuracy",
        "Precision",
        "Recall",
        "SensitivityAtSpecificity",
        "SpecificityAtSensitivity",
        "PrecisionAtRecall",
        "RecallAtPrecision",
        "AUC",
        "PearsonCorrelation",
        "ConcordanceCorrelation",
        "FBetaScore",
        "F1Score",
        "IoU",
        "BinaryIoU",
        "MeanIoU",
        "OneHotIoU",
        "OneHotMeanIoU",
        "CosineSimilarity",
        "R2Score",
    }
)
_DOWN = frozenset(
    {
        "Hinge",
        "SquaredHinge",
        "CategoricalHinge",
        "BinaryCrossentropy",
        "CategoricalCrossentropy",
        "SparseCategoricalCrossentropy",
        "MeanSquaredError",
        "MeanAbsoluteError",
        "MeanAbsolutePercentageError",
        "MeanSquaredLogarithmicError",
        "RootMeanSquaredError",
        "LogCoshError",
        "KLDivergence",
        "Poisson",
    }
)


def metric_direction(metric) -> str | None:
    """'up', 'down', or None when unknown."""
    direction = getattr(metric, "_direction", None)
    if direction in ("up", "down"):
        return direction
    for cls in type(metric).__mro__:
        if cls.__name__ in _UP:
            return "up"
        if cls.__name__ in _DOWN:
            return "down"
    return None


def _flat_metrics(metrics):
    for m in metrics:
        inner = getattr(m, "metrics", None)
        if isinstance(inner, (list, tuple)) and inner is not metrics:
            yield from _flat_metrics(inner)
        else:
            yield m


def to_float(value) -> float:
    """A logged scalar (Python number, NumPy or JAX scalar) as a Python float."""
    return float(np.asarray(value))


def learning_rate_of(optimizer) -> float:
    lr = optimizer.learning_rate
    return to_float(lr.numpy() if hasattr(lr, "numpy") else lr)


class MonitorCallback(Callback):
    """Base class for callbacks that compare a monitored quantity with its best value.

    Args:
        monitor: the key of the logs to watch, e.g. `"val_loss"`.
        mode: `"auto"`, `"min"` or `"max"`; `"auto"` infers the direction from the name.
        baseline: initial best value (None: the first value seen).
        min_delta: smallest absolute change that counts as an improvement.
    """

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.",
                stacklevel=3,
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self):
        if self.mode == "min":
            self.monitor_op = operator.lt
        elif self.mode == "max":
            self.monitor_op = operator.gt
        else:
            name = self.monitor.removeprefix("val_")
            if name == "loss":
                self.monitor_op = operator.lt
            for m in _flat_metrics(getattr(self.model, "metrics", None) or []):
                if getattr(m, "name", None) == name:
                    direction = metric_direction(m)
                    if direction is not None:
                        self.monitor_op = operator.gt if direction == "up" else operator.lt
            if self.monitor_op is None:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but "
                    "shoal isn't able to automatically determine whether that metric should be "
                    "maximized or minimized. Pass `mode='max'` in order to monitor based on "
                    "the highest metric value, or pass `mode='min'` in order to use the lowest "
                    "value."
                )
        if self.monitor_op is operator.lt:
            self.min_delta *= -1

    def _is_improvement(self, monitor_value, reference_value) -> bool:
        if reference_value is None:
            return True
        return bool(self.monitor_op(monitor_value - self.min_delta, reference_value))
