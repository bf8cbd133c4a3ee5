"""Metrics over confusion-matrix counts: TP/FP/TN/FN, Precision, Recall, X-at-Y."""

from __future__ import annotations

import jax.numpy as jnp

from shoal.losses.base import divide_no_nan
from shoal.metrics import confusion_utils as cu
from shoal.metrics.base import Metric


class _CountsMetric(Metric):
    """A metric accumulating some of TP/FP/TN/FN (named in `_counts`) at given thresholds."""

    _counts: tuple = ()

    def _init_counts(self, thresholds, evenly, shape=None, names=None):
        """One variable per count in `_counts`, named as Keras names it."""
        self._count_thresholds = list(thresholds)
        self._thresholds_distributed_evenly = evenly
        shape = shape or (len(thresholds),)
        self._count_vars = {}
        for key in self._counts:
            name = (names or {}).get(key, key)
            self._count_vars[key] = self.add_variable(shape, "zeros", name=name)
            setattr(self, name, self._count_vars[key])

    def _update(self, y_true, y_pred, sample_weight, **kwargs):
        cu.update_confusion_matrix_variables(
            self._count_vars,
            y_true,
            y_pred,
            thresholds=self._count_thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly,
            sample_weight=sample_weight,
            **kwargs,
        )

    def _count(self, key):
        return self._count_vars[key].value

    def _per_threshold(self, value):
        return value[0] if len(self._count_thresholds) == 1 else value


class _ConditionCount(_CountsMetric):
    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        parsed = self.thresholds = cu.parse_thresholds(type(self).__name__, thresholds, 0.5)
        names = {self._counts[0]: "accumulator"}
        self._init_counts(parsed, cu.evenly_distributed(parsed), names=names)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._update(y_true, y_pred, sample_weight)

    def result(self):
        return self._per_threshold(self.accumulator.value)

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConditionCount):
    """Weighted count of positive labels predicted positive (y_pred > threshold)."""

    _counts = (cu.TP,)


class FalsePositives(_ConditionCount):
    """Weighted count of negative labels predicted positive."""

    _counts = (cu.FP,)


class TrueNegatives(_ConditionCount):
    """Weighted count of negative labels predicted negative."""

    _counts = (cu.TN,)


class FalseNegatives(_ConditionCount):
    """Weighted count of positive labels predicted negative."""

    _counts = (cu.FN,)


class _PrecisionRecall(_CountsMetric):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default = 0.5 if top_k is None else cu.NEG_INF
        parsed = self.thresholds = cu.parse_thresholds(type(self).__name__, thresholds, default)
        self._init_counts(parsed, cu.evenly_distributed(parsed))

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._update(y_true, y_pred, sample_weight, top_k=self.top_k, class_id=self.class_id)

    def result(self):
        tp, other = (self._count(k) for k in self._counts)
        return self._per_threshold(divide_no_nan(tp, tp + other))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Precision(_PrecisionRecall):
    """TP / (TP + FP), at each threshold (a scalar for a single threshold)."""

    _counts = (cu.TP, cu.FP)


class Recall(_PrecisionRecall):
    """TP / (TP + FN), at each threshold (a scalar for a single threshold)."""

    _counts = (cu.TP, cu.FN)


def _rates(m):
    tp, fp, tn, fn = (m._count(k) for k in (cu.TP, cu.FP, cu.TN, cu.FN))
    return {
        "sensitivity": divide_no_nan(tp, tp + fn),
        "specificity": divide_no_nan(tn, tn + fp),
        "precision": divide_no_nan(tp, tp + fp),
    }


class _AtConstraint(_CountsMetric):
    """Best `_dependent` rate over thresholds where `_constrained` rate >= `value`."""

    _counts = (cu.TP, cu.FP, cu.TN, cu.FN)
    _arg = ""  # the constructor argument holding `value`
    _constrained = _dependent = ""

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        where = type(self).__name__
        if not 0 <= value <= 1:
            raise ValueError(f"{where}: argument `{self._arg}` must be in [0, 1]; got {value!r}")
        if num_thresholds <= 0:
            raise ValueError(
                f"{where}: argument `num_thresholds` must be an integer > 0; got {num_thresholds!r}"
            )
        self.value = value
        setattr(self, self._arg, value)
        self.num_thresholds = num_thresholds
        self.class_id = class_id
        if num_thresholds == 1:
            self.thresholds = [0.5]
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds = [0.0] + inner + [1.0]
        self._init_counts(self.thresholds, num_thresholds > 1)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._update(y_true, y_pred, sample_weight, class_id=self.class_id)

    def result(self):
        rates = _rates(self)
        feasible = rates[self._constrained] >= self.value
        return jnp.max(jnp.where(feasible, rates[self._dependent], 0), initial=0)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "class_id": self.class_id,
            "num_thresholds": self.num_thresholds,
            self._arg: self.value,
        }


class SensitivityAtSpecificity(_AtConstraint):
    _arg, _constrained, _dependent = "specificity", "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtConstraint):
    _arg, _constrained, _dependent = "sensitivity", "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtConstraint):
    _arg, _constrained, _dependent = "recall", "sensitivity", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtConstraint):
    _arg, _constrained, _dependent = "precision", "precision", "sensitivity"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)
