"""AUC: area under the ROC or precision-recall curve, from thresholded counts.

Counts are accumulated at `num_thresholds` thresholds (by default evenly spaced
in [0, 1], widened by epsilon at both ends). `result()` sums trapezoids
("interpolation"), or lower / upper rectangles ("minoring" / "majoring").
For PR with interpolation, Keras' (and Davis & Goadrich's) interpolation of
precision between thresholds is used.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import config
from shoal.backend.tensors import convert_to_tensor
from shoal.losses.base import divide_no_nan
from shoal.metrics import confusion_utils as cu
from shoal.metrics.confusion import _CountsMetric

_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


def _choice(where, arg, value, canonical: dict):
    key = str(getattr(value, "value", value)).lower()
    if key not in canonical:
        raise ValueError(
            f"{where}: argument `{arg}` must be one of {sorted(set(canonical.values()))}; "
            f"got {value!r}"
        )
    return canonical[key]


class AUC(_CountsMetric):
    """Approximate area under the ROC or PR curve (see module docstring)."""

    _counts = (cu.TP, cu.FP, cu.TN, cu.FN)

    def __init__(
        self,
        num_thresholds=200,
        curve="ROC",
        summation_method="interpolation",
        name=None,
        dtype=None,
        thresholds=None,
        multi_label=False,
        num_labels=None,
        label_weights=None,
        from_logits=False,
    ):
        super().__init__(name=name, dtype=dtype)
        self.curve = _choice("AUC", "curve", curve, _CURVES)
        self.summation_method = _choice(
            "AUC", "summation_method", summation_method, {s: s for s in _SUMMATIONS}
        )
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(thresholds)
            self.num_thresholds = len(inner) + 2
            evenly = cu.evenly_distributed(np.array([0.0] + inner + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(
                    f"AUC: argument `num_thresholds` must be an integer > 1; got {num_thresholds!r}"
                )
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            evenly = True
        eps = config.epsilon()
        self._thresholds = np.array([0.0 - eps] + inner + [1.0 + eps])
        self._evenly = evenly
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None
        if label_weights is not None:
            self.label_weights = jnp.asarray(label_weights, self.dtype)
        self._from_logits = from_logits
        self.built = False
        if multi_label:
            if num_labels:
                self.build(None, (None, num_labels))
        elif num_labels:
            raise ValueError("AUC: `num_labels` is needed only when `multi_label` is True")
        else:
            self.build(None, None)

    @property
    def thresholds(self) -> list:
        return list(self._thresholds)

    def build(self, y_true_shape=None, y_pred_shape=None):
        if self.built:
            return
        shape = (self.num_thresholds,)
        if self.multi_label:
            if y_pred_shape is None or len(y_pred_shape) != 2:
                raise ValueError(
                    "AUC: `y_pred` must have rank 2 when `multi_label=True`; "
                    f"got shape {y_pred_shape}"
                )
            self._num_labels = y_pred_shape[1]
            shape = (self.num_thresholds, self._num_labels)
        self._init_counts(self._thresholds, self._evenly, shape=shape)
        self.built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = convert_to_tensor(y_pred)
        self.build(None, y_pred.shape)
        if self._from_logits:
            y_pred = jax.nn.sigmoid(y_pred)
        self._update(
            y_true,
            y_pred,
            sample_weight,
            multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights,
        )

    def _aggregate(self, per_threshold_terms):
        if not self.multi_label:
            return jnp.sum(per_threshold_terms)
        by_label = jnp.sum(per_threshold_terms, axis=0)
        if self.label_weights is None:
            return jnp.mean(by_label)
        return divide_no_nan(jnp.sum(by_label * self.label_weights), jnp.sum(self.label_weights))

    def _interpolated_pr_terms(self, tp, fp, fn):
        """Integrate precision over recall, precision interpolated between thresholds."""
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = divide_no_nan(dtp, jnp.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both_positive = (p[:-1] > 0) & (p[1:] > 0)
        ratio = jnp.where(
            both_positive, divide_no_nan(p[:-1], jnp.maximum(p[1:], 0)), jnp.ones_like(p[1:])
        )
        return divide_no_nan(
            slope * (dtp + intercept * jnp.log(ratio)), jnp.maximum(tp[1:] + fn[1:], 0)
        )

    def result(self):
        tp, fp, tn, fn = (self._count(k) for k in (cu.TP, cu.FP, cu.TN, cu.FN))
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._aggregate(self._interpolated_pr_terms(tp, fp, fn))
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, tp + fp)
        else:  # PRGAIN
            scale = divide_no_nan(tp + fn, tn + fp)
            recall_gain = 1.0 - scale * divide_no_nan(fn, tp)
            precision_gain = 1.0 - scale * divide_no_nan(fp, tp)
            x = jnp.maximum(jnp.where(tp == 0, 0.0, recall_gain), 0.0)
            y = jnp.where(tp == 0, 1.0, precision_gain)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = jnp.minimum(y[:-1], y[1:])
        else:
            heights = jnp.maximum(y[:-1], y[1:])
        return self._aggregate((x[:-1] - x[1:]) * heights)

    def get_config(self) -> dict:
        config = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": None
            if self.label_weights is None
            else np.asarray(self.label_weights).tolist(),
            "from_logits": self._from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = [float(t) for t in self.thresholds[1:-1]]
        return config
