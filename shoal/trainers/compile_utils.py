"""What `compile(loss=..., metrics=...)` turns into: per-output losses and metrics.

Losses and metrics may be given as one object for every output, a list in
output order, or a dict keyed by output name, as in Keras 3. The results are
named as Keras names them ("loss", "dense_1_loss", "dense_1_accuracy", ...).
"""

from __future__ import annotations

import inspect

import jax
import numpy as np

from shoal.backend.naming import to_snake_case
from shoal.metrics.base import Metric
from shoal.trainers import nested_outputs


def flatten_outputs(y, output_names):
    """Outputs / targets as a flat list in the model's output order."""
    if nested_outputs.is_nested(y):  # a model whose outputs nest: y in their structure
        return nested_outputs.leaves(y)
    if isinstance(y, dict):
        missing = [n for n in output_names if n not in y]
        unknown = sorted(set(y) - set(output_names))
        if missing or unknown:
            raise ValueError(
                f"The dict of targets/outputs must have one key per model output "
                f"{list(output_names)}; got keys {sorted(y)} "
                f"(unknown: {unknown}, missing: {missing})."
            )
        return [y[n] for n in output_names]
    if isinstance(y, (list, tuple)):
        return list(y)
    return [y]


def infer_output_names(y_pred) -> list:
    """Output names for a model without a graph (subclassed), from what its call returned:
    a dict's keys (in Keras' flattening order), None per entry of a list or tuple (Keras then
    names their losses and metrics without an output prefix), ["output"] for one array."""
    if isinstance(y_pred, dict):
        return sorted(y_pred)
    if isinstance(y_pred, (list, tuple)):
        return [None] * len(y_pred)
    return ["output"]


def _spec_leaves(spec) -> list:
    """The identifiers in a loss / metrics spec (one, or lists and dicts of them)."""
    if spec is None:
        return []
    if isinstance(spec, dict):
        spec = list(spec.values())
    if isinstance(spec, (list, tuple)):
        return [leaf for item in spec for leaf in _spec_leaves(item)]
    return [spec]


def align_targets(y_true: list, n_outputs: int, has_loss) -> list:
    """Targets given only for the outputs that have a loss (Keras: `loss=[fn, None]` then
    `fit(x, y)`) spread over all outputs, None for the others; other lists unchanged."""
    active = [i for i, flag in enumerate(has_loss or []) if flag]
    if len(y_true) == n_outputs or len(y_true) != len(active):
        return y_true
    given = iter(y_true)
    return [next(given) if i in active else None for i in range(n_outputs)]


def _per_output(spec, output_names, argument):
    """Spread a loss/metrics spec over outputs: returns a list aligned with output_names."""
    n = len(output_names)
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(output_names))
        if unknown:
            raise ValueError(
                f"compile(): argument `{argument}` has keys {unknown} that match no model "
                f"output; the outputs are {list(output_names)}."
            )
        return [spec.get(name) for name in output_names]
    if isinstance(spec, (list, tuple)) and argument in ("loss", "loss_weights"):
        if len(spec) != n:
            raise ValueError(
                f"compile(): argument `{argument}` is a list of {len(spec)} entries, but the "
                f"model has {n} outputs {list(output_names)}."
            )
        return list(spec)
    if n > 1 and isinstance(spec, (list, tuple)) and argument.endswith("metrics"):
        if len(spec) == n:
            # One entry per output (a metric, a list of them, or None), as Keras reads it.
            return list(spec)
        if any(isinstance(s, (list, tuple)) or s is None for s in spec):
            raise ValueError(
                f"compile(): argument `{argument}` is a list of {len(spec)} per-output lists, "
                f"but the model has {n} outputs {list(output_names)}."
            )
    return [spec] * n


def _loss_weight(value, name):
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(
            f"compile(): argument `loss_weights` must hold a number per output (a float, "
            f"or a list / dict of floats); got {value!r} for output '{name}'"
        )
    return float(value)


def _resolve_metric(identifier, y_true, y_pred):
    from shoal import metrics as metrics_module

    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        metric = metrics_module.resolve_accuracy(
            None, np.shape(y_true), tuple(y_pred.shape), name=identifier
        )
    else:
        metric = metrics_module.get(identifier)
        if not isinstance(metric, metrics_module.Metric):
            fn = metric
            # Keras logs a function metric under its snake-cased name (PSNR -> "psnr").
            name = to_snake_case(getattr(fn, "__name__", None) or type(fn).__name__)
            metric = metrics_module.MeanMetricWrapper(fn, name=name)
        if isinstance(identifier, str):
            metric.name = identifier
    # Metrics whose variables depend on data shapes create them now, outside any trace.
    metric.build(np.shape(y_true), tuple(y_pred.shape))
    return metric


def _as_loss(fn):
    """Loss functions ("mse" resolves to one) take no sample_weight: wrap them as Keras does."""
    from shoal import losses as losses_module

    if isinstance(fn, losses_module.Loss):
        return fn
    return losses_module.LossFunctionWrapper(fn, name=getattr(fn, "__name__", None))


def _crossentropy_for_shapes(y_true, y_pred):
    """compile's "crossentropy": binary, sparse or categorical by the shapes (Keras' rule,
    the one `resolve_accuracy` follows for "accuracy")."""
    from shoal import losses as losses_module

    true_shape, pred_shape = np.shape(y_true), np.shape(y_pred)
    if pred_shape[-1] == 1:
        return losses_module.binary_crossentropy(y_true, y_pred)
    if len(true_shape) < len(pred_shape) or (true_shape[-1] == 1 and pred_shape[-1] > 1):
        return losses_module.sparse_categorical_crossentropy(y_true, y_pred)
    return losses_module.categorical_crossentropy(y_true, y_pred)


def _get_loss(identifier):
    """`losses.get` as a Loss, plus the names only compile knows ("crossentropy", "ce")."""
    from shoal import losses as losses_module

    if isinstance(identifier, str) and identifier.lower() in ("crossentropy", "ce"):
        return losses_module.LossFunctionWrapper(_crossentropy_for_shapes, name=identifier)
    return _as_loss(losses_module.get(identifier))


class CompileLoss:
    """The compiled loss per output. A model without a graph (subclassed) learns its
    outputs from its first call: `build(y_pred)` then spreads the loss over them."""

    def __init__(self, loss, loss_weights, output_names):
        self._given = (loss, loss_weights)
        self.output_names = None
        self.losses, self.weights, self.trackers = [], [], []
        if output_names is not None:
            self._spread(list(output_names))
            return
        leaves = _spec_leaves(loss)
        for identifier in leaves:
            _get_loss(identifier)  # unknown names raise now, before any data
        if not leaves:
            raise ValueError(f"compile(): argument `loss` gives no loss; got loss={loss!r}")

    def build(self, y_pred) -> None:
        if self.output_names is None:
            self._spread(infer_output_names(y_pred))

    def _spread(self, output_names) -> None:
        loss, loss_weights = self._given
        self.output_names = output_names
        specs = _per_output(loss, self.output_names, "loss")
        # An output's loss may come as a one-entry list (`{"out": ["mse"]}`), as in Keras.
        specs = [s[0] if isinstance(s, (list, tuple)) and len(s) == 1 else s for s in specs]
        weights = _per_output(loss_weights, self.output_names, "loss_weights")
        self.losses = [None if s is None else _get_loss(s) for s in specs]
        self.weights = [
            _loss_weight(w, name) for w, name in zip(weights, self.output_names, strict=True)
        ]
        if all(fn is None for fn in self.losses):
            raise ValueError(
                f"compile(): argument `loss` gives no loss for any output {self.output_names}; "
                f"got loss={loss!r}"
            )
        from shoal.metrics import Mean

        multi = sum(fn is not None for fn in self.losses) > 1  # one loss: "loss" says it all
        # An unnamed output's tracker is named for its loss, as given ("mse_loss"), as Keras.
        self.trackers = [
            Mean(name=f"{name or (spec if isinstance(spec, str) else fn.name)}_loss")
            if multi and fn is not None
            else None
            for name, fn, spec in zip(self.output_names, self.losses, specs, strict=True)
        ]

    def __call__(self, y_true, y_pred, sample_weight=None, masks=None):
        """Total weighted loss and the per-output losses (masked timesteps excluded)."""
        self.build(y_pred)
        y_true = flatten_outputs(y_true, self.output_names)
        y_pred = flatten_outputs(y_pred, self.output_names)
        y_true = align_targets(y_true, len(y_pred), [fn is not None for fn in self.losses])
        if len(y_true) != len(y_pred):
            raise ValueError(
                f"The model has {len(y_pred)} outputs {self.output_names}, but {len(y_true)} "
                "target arrays were given."
            )
        sws = _per_output_weights(sample_weight, self.output_names, len(y_pred))
        masks = list(masks) if masks is not None else [None] * len(y_pred)
        total, parts = 0.0, []
        for fn, w, yt, yp, sw, mask in zip(
            self.losses, self.weights, y_true, y_pred, sws, masks, strict=True
        ):
            if fn is None:
                parts.append(None)
                continue
            value = fn._apply(yt, yp, sample_weight=sw, mask=mask)
            parts.append(value)
            total = total + w * value
        return total, parts

    @property
    def metrics(self):
        return [t for t in self.trackers if t is not None]


class CompileMetrics(Metric):
    """The metrics given to `compile`, as one Metric named "compile_metrics" (as Keras):
    `model.metrics` lists it after the loss tracker; its variables are all of theirs, its
    `result()` (and `stateless_result`) the dict of their results."""

    def __init__(self, metrics, weighted_metrics, output_names):
        super().__init__(name="compile_metrics")
        self.given = metrics is not None or weighted_metrics is not None
        self._given = (metrics, weighted_metrics)
        self.output_names = None
        if output_names is not None:
            self._spread(list(output_names))
        self.has_loss = None  # per output, set by compile: where targets go when fewer given
        self.built = False
        self.unweighted: list[list] = []
        self.weighted: list[list] = []
        self._validate()

    def _spread(self, output_names) -> None:
        metrics, weighted_metrics = self._given
        self.output_names = output_names
        self._specs = _per_output(metrics, output_names, "metrics")
        self._weighted_specs = _per_output(weighted_metrics, output_names, "weighted_metrics")

    def _validate(self):
        from shoal import metrics as metrics_module

        for item in _spec_leaves(list(self._given)):
            if isinstance(item, str) and item.lower() in ("accuracy", "acc"):
                continue
            metrics_module.get(item)  # raises ValueError on unknown names

    def build(self, y_true, y_pred):
        if self.output_names is None:  # a model without a graph: its outputs named now
            self._spread(infer_output_names(y_pred))
        y_pred = flatten_outputs(y_pred, self.output_names)
        y_true = align_targets(
            flatten_outputs(y_true, self.output_names), len(y_pred), self.has_loss
        )
        self.unweighted = [
            [_resolve_metric(m, yt, yp) for m in _as_list(spec)]
            for spec, yt, yp in zip(self._specs, y_true, y_pred, strict=True)
        ]
        self.weighted = [
            [_resolve_metric(m, yt, yp) for m in _as_list(spec)]
            for spec, yt, yp in zip(self._weighted_specs, y_true, y_pred, strict=True)
        ]
        self._names = self._result_names()
        self.built = True

    @property
    def metrics(self):
        return [m for group in self.unweighted + self.weighted for m in group]

    @property
    def variables(self) -> list:
        return [v for m in self.metrics for v in m.variables]

    def result(self) -> dict:
        return self.results() if self.built else {}

    def reset_state(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None, masks=None):
        y_pred = flatten_outputs(y_pred, self.output_names)
        y_true = align_targets(
            flatten_outputs(y_true, self.output_names), len(y_pred), self.has_loss
        )
        sws = _per_output_weights(sample_weight, self.output_names, len(y_pred))
        masks = list(masks) if masks is not None else [None] * len(y_pred)
        for group, yt, yp, mask in zip(self.unweighted, y_true, y_pred, masks, strict=True):
            for m in group:
                _update_metric(m, yt, yp, None, mask)
        for group, yt, yp, sw, mask in zip(self.weighted, y_true, y_pred, sws, masks, strict=True):
            for m in group:
                _update_metric(m, yt, yp, sw, mask)

    def _result_names(self):
        multi = len(self.output_names) > 1
        names, seen = [], {}
        for kind, groups in (("", self.unweighted), ("weighted_", self.weighted)):
            for out_name, group in zip(self.output_names, groups, strict=True):
                for m in group:
                    name = m.name
                    if name in seen and kind:
                        name = f"weighted_{name}"
                    if multi and out_name is not None:
                        name = f"{out_name}_{name}"
                    if name in seen:
                        seen[name] += 1
                        name = f"{name}_{seen[name] - 1}"
                    else:
                        seen[name] = 1
                    seen.setdefault(m.name, 1)
                    names.append(name)
        return names

    def results(self) -> dict:
        return {name: m.result() for name, m in zip(self._names, self.metrics, strict=True)}


def _per_output_weights(sample_weight, output_names, n):
    if isinstance(sample_weight, (dict, list, tuple)):
        return flatten_outputs(sample_weight, output_names)
    return [sample_weight] * n


def _update_metric(metric, y_true, y_pred, sample_weight, mask):
    if mask is None:
        metric.update_state(y_true, y_pred, sample_weight=sample_weight)
    elif "mask" in inspect.signature(metric.update_state).parameters:
        metric.update_state(y_true, y_pred, sample_weight=sample_weight, mask=mask)
    else:
        # As Keras: a metric without mask support sees the mask as a sample weight.
        weight = mask.astype(y_pred.dtype)
        if sample_weight is not None:
            weight = weight * sample_weight
        metric.update_state(y_true, y_pred, sample_weight=weight)


def _as_list(spec):
    if spec is None:
        return []
    if isinstance(spec, (list, tuple)):
        return [s for s in spec if s is not None]
    return [spec]


def batch_size_of(x) -> int:
    leaves = jax.tree_util.tree_leaves(x)
    return int(leaves[0].shape[0]) if leaves else 0
