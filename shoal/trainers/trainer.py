"""`Trainer`: compile / fit / evaluate / predict over pure, jitted steps.

State is one pytree, `(trainable, non_trainable, optimizer, metrics)` lists of
arrays in the order of the corresponding Variables. `train_step(state, data)
-> (logs, state)` is pure (Keras 3's JAX signature, so users may override it);
K steps are fused with `lax.scan` when `steps_per_execution=K`. After each
execution the new state is written back to the Variables by reference, so
`get_weights()` and callbacks see current values, and callbacks that change
Variables (learning rate, weights) are seen by the next execution.
"""

from __future__ import annotations

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import random as shoal_random
from shoal.backend.scope import StatelessScope
from shoal.backend.symbolic import is_keras_tensor
from shoal.optimizers.loss_scale import scaled_value_and_grad, wrap_for_policy
from shoal.trainers import data_adapter, fit_loop, nested_outputs
from shoal.trainers.compile_utils import (
    CompileLoss,
    CompileMetrics,
    batch_size_of,
    flatten_outputs,
)


class NotCompiledError(RuntimeError, ValueError):
    """fit / evaluate / train_on_batch ... on a model that was never compiled.

    Subclasses both RuntimeError (shoal's convention for a call made in the wrong
    state) and ValueError (what Keras 3 raises), so either `except` catches it.
    """


class Trainer:
    def __init__(self):
        self.compiled = False
        self.optimizer = None
        self._compile_loss = None
        self._compile_metrics = None
        self._loss_tracker = None
        self.stop_training = False
        self.history = None
        self._in_fit = False
        self._functions: dict = {}
        self._losses_override = None
        self.steps_per_execution = 1
        self._accumulation_steps = 1
        self._run_eagerly = False
        self.loss = None
        self._jit_compile = True
        self._compile_config = None

    # -- compile -----------------------------------------------------------
    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
        run_eagerly=False,
        steps_per_execution="auto",
        jit_compile="auto",
        auto_scale_loss=True,
        gradient_accumulation_steps=1,
    ):
        from shoal import optimizers
        from shoal.metrics import Mean

        if steps_per_execution != "auto" and (
            isinstance(steps_per_execution, bool)
            or not isinstance(steps_per_execution, (int, np.integer))
            or steps_per_execution <= 0
        ):
            raise ValueError(
                "compile(): argument `steps_per_execution` must be a positive integer or "
                f"'auto'; got {steps_per_execution!r}"
            )
        if (
            isinstance(gradient_accumulation_steps, bool)
            or not isinstance(gradient_accumulation_steps, (int, np.integer))
            or gradient_accumulation_steps <= 0
        ):
            raise ValueError(
                "compile(): argument `gradient_accumulation_steps` must be a positive integer; "
                f"got {gradient_accumulation_steps!r}"
            )
        # Everything is resolved (and checked) before anything changes: a compile that
        # raises leaves the model, its optimizer and that optimizer's state as they were.
        given_optimizer = optimizers.get(optimizer)
        output_names = self._output_names_for_compile()
        loss_names, specs = output_names, (loss, loss_weights, metrics, weighted_metrics)
        struct = getattr(self, "_outputs_struct", None)
        if nested_outputs.is_nested(struct):  # specs in the outputs' structure, as Keras
            arguments = ("loss", "loss_weights", "metrics", "weighted_metrics")
            specs = tuple(
                nested_outputs.flatten_spec(spec, struct, argument, output_names)
                for spec, argument in zip(specs, arguments, strict=True)
            )
            loss_names = nested_outputs.loss_names(struct, output_names)
        compile_loss = None if loss is None else CompileLoss(*specs[:2], loss_names)
        compile_metrics = CompileMetrics(*specs[2:], output_names)
        self.optimizer = given_optimizer
        if auto_scale_loss:  # mixed_float16: dynamic loss scaling, as Keras
            self.optimizer = wrap_for_policy(self.optimizer, self.dtype_policy)
        self._compile_loss, self._compile_metrics = compile_loss, compile_metrics
        self._loss_tracker = Mean(name="loss")
        # "auto" (the default) fuses as many steps per execution as keeps dispatch cheap
        # (auto_steps.py); batch-level callbacks still see every batch.
        self.steps_per_execution = (
            "auto" if steps_per_execution == "auto" else int(steps_per_execution)
        )
        self._accumulation_steps = int(gradient_accumulation_steps)
        self._run_eagerly = bool(run_eagerly)
        self._jit_compile = jit_compile is not False and not run_eagerly
        self.loss = loss  # as given, as Keras keeps it (`model.loss`)
        self._functions = {}
        self.__dict__.pop("_placements", None)
        # Objects are kept as given; saving serializes them as Keras does.
        self._compile_config = {
            "optimizer": given_optimizer,
            "loss": loss,
            "loss_weights": loss_weights,
            "metrics": metrics,
            "weighted_metrics": weighted_metrics,
            "run_eagerly": run_eagerly,
            # Keras has no "auto": files keep its default, 1, and shoal reads 1 as given.
            "steps_per_execution": 1 if steps_per_execution == "auto" else steps_per_execution,
            "jit_compile": self._jit_compile,  # "auto" resolved, as Keras writes it
        }
        if gradient_accumulation_steps != 1:
            self._compile_config["gradient_accumulation_steps"] = int(gradient_accumulation_steps)
        self.compiled = True

    def _output_names_for_compile(self):
        """The graph's output names; None for a model without a graph (subclassed), whose
        compiled losses and metrics learn its outputs from its first call."""
        struct = getattr(self, "_outputs_struct", None)
        if isinstance(struct, dict) and all(
            isinstance(k, str) and is_keras_tensor(v) for k, v in struct.items()
        ):
            # Keras names a dict output's losses and metrics by its keys ("alpha_loss"), not
            # by the layers that give them; sorted, as the outputs are flattened.
            return sorted(struct)
        names = getattr(self, "output_names", None)
        return list(names) if names else None

    def get_compile_config(self):
        """What `compile` was given, serialized as Keras writes it (optimizer, losses and
        metrics as config dicts), or None before `compile`."""
        if self._compile_config is None:
            return None
        from shoal.saving.serialization import serialize_dict

        config = dict(self._compile_config)
        if config.get("optimizer") is None and self.optimizer is not None:
            config["optimizer"] = self.optimizer  # Keras writes the optimizer's full config
        return serialize_dict(config)

    def compile_from_config(self, config):
        """Compile from what `get_compile_config` returned (as Keras, when loading). A
        model whose `compile` is its own is left uncompiled, with Keras' warning: its
        arguments are not the ones the file recorded."""
        from shoal.saving.serialization import compile_from_config

        if type(self).compile is not Trainer.compile:
            warnings.warn(
                "`compile()` was not called as part of model loading because the model's "
                "`compile()` method is custom. Subclassed models that override `compile()` "
                "should also override `get_compile_config()` and "
                "`compile_from_config(config)`, or call `compile()` after loading.",
                stacklevel=2,
            )
            return
        compile_from_config(self, config)

    # -- metrics -----------------------------------------------------------
    def _own_metrics(self) -> list:
        """Keras' order: the loss tracker, the compiled metrics (one Metric holding them
        all, "compile_metrics"), the per-output loss trackers."""
        out = []
        if self._loss_tracker is not None:
            out.append(self._loss_tracker)
        if self._compile_metrics is not None and self._compile_metrics.given:
            out.append(self._compile_metrics)
        if self._compile_loss is not None:
            out.extend(self._compile_loss.metrics)
        return out

    @property
    def metrics(self) -> list:
        return self._own_metrics() + self._tracked_metrics()

    def _tracked_metrics(self) -> list:
        """Metrics held as attributes by the model or its layers (a tracker made in
        `__init__`), which Keras lists in `model.metrics` too."""
        from shoal.metrics.base import Metric

        # The trainer's own (the per-output loss trackers are no layer's attributes).
        seen = {id(self._compile_metrics), id(self._loss_tracker)}
        found, pending, visited = [], [self], set()
        while pending:
            layer = pending.pop(0)
            if id(layer) in visited:
                continue
            visited.add(id(layer))
            pending.extend(getattr(layer, "_layers", []))
            if layer is not self and isinstance(layer, Trainer):
                continue  # a compiled sub-model's metrics are its own (a teacher), as in Keras
            for value in vars(layer).values():
                if isinstance(value, Metric) and id(value) not in seen:
                    seen.add(id(value))
                    found.append(value)
        return found

    @property
    def metrics_names(self) -> list:
        return [m.name for m in self.metrics]

    @property
    def metrics_variables(self) -> list:
        return [v for m in self.metrics for v in m.variables]

    def reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def _log_names(self) -> list:
        """The order of `evaluate()`'s list, as Keras': loss, per-output losses, compiled
        metrics, the model's own. With several outputs Keras finds the compiled metrics only
        under their prefixed names ('out_mae'), so it puts them last, sorted."""
        names = ["loss"]
        if self._compile_loss is not None:
            names += [t.name for t in self._compile_loss.trackers if t is not None]
        compiled = []
        if self._compile_metrics is not None and self._compile_metrics.built:
            compiled = list(self._compile_metrics._names)
        own = [m.name for m in self._tracked_metrics()]
        if len(getattr(self._compile_metrics, "output_names", None) or ()) > 1:
            return names + own + sorted(compiled)
        return names + compiled + own

    def get_metrics_result(self) -> dict:
        if type(self).metrics is not Trainer.metrics:
            # A model that lists its own metrics (Keras' VAE / GAN pattern) logs those.
            logs = {}
            for metric in self.metrics:
                result = metric.result()
                if isinstance(result, dict):
                    logs.update(result)
                else:
                    logs[metric.name] = result
            return logs
        logs = {"loss": self._loss_tracker.result()} if self._loss_tracker else {}
        if self._compile_loss is not None:
            for tracker in self._compile_loss.metrics:
                logs[tracker.name] = tracker.result()
        if self._compile_metrics is not None and self._compile_metrics.built:
            logs.update(self._compile_metrics.results())
        for metric in self._tracked_metrics():
            logs.setdefault(metric.name, metric.result())
        return logs

    # -- losses ------------------------------------------------------------
    @property
    def losses(self):
        if self._losses_override is not None:
            return list(self._losses_override)
        return super().losses

    def _output_masks(self, y_pred):
        """The masks the graph produced with `y_pred` (Keras attaches them to the tensors)."""
        graph = getattr(self, "_functional", None) or self
        masks = getattr(graph, "_last_output_masks", None)
        ids = getattr(graph, "_last_output_ids", None)
        if not masks or all(m is None for m in masks):
            return None
        by_id = dict(zip(ids, masks, strict=True))
        names = self._compile_loss.output_names if self._compile_loss is not None else None
        flat = flatten_outputs(y_pred, names or self._output_names_for_compile() or ["output"])
        found = [by_id.get(id(v)) for v in flat]
        return found if any(m is not None for m in found) else None

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = jnp.zeros((), jnp.float32)
        if self._compile_loss is not None and y is not None:
            value, parts = self._compile_loss(y, y_pred, sample_weight, self._output_masks(y_pred))
            total = total + value
            for tracker, part in zip(self._compile_loss.trackers, parts, strict=True):
                if tracker is not None and part is not None:
                    tracker.update_state(part, sample_weight=batch_size_of(y_pred))
        for extra in self.losses:
            total = total + jnp.sum(extra).astype(jnp.float32)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if self._compile_metrics is not None and y is not None:
            self._compile_metrics.update_state(y, y_pred, sample_weight, self._output_masks(y_pred))
        return self.get_metrics_result()

    # -- pure steps (Keras 3 JAX signatures) --------------------------------
    def _metric_mapping(self, metrics_variables):
        return list(zip(self.metrics_variables, metrics_variables, strict=True))

    def compute_loss_and_updates(
        self,
        trainable_variables,
        non_trainable_variables,
        metrics_variables,
        x,
        y,
        sample_weight,
        training=False,
        optimizer_variables=None,
    ):
        kwargs = {"training": training} if self._call_has_training else {}
        y_pred, non_trainable_variables, losses = self.stateless_call(
            trainable_variables, non_trainable_variables, x, return_losses=True, **kwargs
        )
        self._losses_override = losses
        try:
            loss, (_, non_trainable_variables, metrics_variables) = self.stateless_compute_loss(
                trainable_variables,
                non_trainable_variables,
                metrics_variables,
                x=x,
                y=y,
                y_pred=y_pred,
                sample_weight=sample_weight,
                training=training,
            )
        finally:
            self._losses_override = None
        return loss, (y_pred, non_trainable_variables, metrics_variables)

    def stateless_compute_loss(
        self,
        trainable_variables,
        non_trainable_variables,
        metrics_variables,
        x=None,
        y=None,
        y_pred=None,
        sample_weight=None,
        training=True,
    ):
        """`compute_loss` as a pure function of the given variable values: returns
        `(loss, (trainable_variables, non_trainable_variables, metrics_variables))`, the
        latter two updated by whatever `compute_loss` assigned (loss trackers, a feature
        queue). Regularization losses read the given trainable values."""
        mapping = list(zip(self.trainable_variables, trainable_variables, strict=True))
        mapping += list(zip(self.non_trainable_variables, non_trainable_variables, strict=True))
        mapping += self._metric_mapping(metrics_variables)
        with StatelessScope(mapping) as scope:
            extra = {"training": training} if _takes_training(self.compute_loss) else {}
            loss = self.compute_loss(x, y, y_pred, sample_weight, **extra)
        non_trainable_variables = [scope.get_value(v) for v in self.non_trainable_variables]
        metrics_variables = [scope.get_value(v) for v in self.metrics_variables]
        return loss, (trainable_variables, non_trainable_variables, metrics_variables)

    def _update_metrics(self, metrics_variables, loss, x, y, y_pred, sample_weight):
        with StatelessScope(self._metric_mapping(metrics_variables)) as scope:
            self._loss_tracker.update_state(loss, sample_weight=batch_size_of(x))
            logs = self.compute_metrics(x, y, y_pred, sample_weight)
        return logs, [scope.get_value(v) for v in self.metrics_variables]

    def _gradients(self, state, batch):
        """(grads, logs, non_trainable, metrics) of one batch: the loss gradient, the
        metrics updated with the batch. With `gradient_accumulation_steps=k` the batch runs
        as k micro-batches in a `lax.scan`, gradients averaged (1/k the activation memory,
        the same update)."""
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        # The loss is scaled when the optimizer scales it (LossScaleOptimizer); grads come
        # back scaled and `stateless_apply` unscales them.
        grad_fn = scaled_value_and_grad(self.compute_loss_and_updates, self.optimizer)

        def micro_step(non_trainable, metrics_vars, x, y, sample_weight):
            (loss, (y_pred, non_trainable, metrics_vars)), grads = grad_fn(
                trainable,
                non_trainable,
                metrics_vars,
                x,
                y,
                sample_weight,
                training=True,
                optimizer_variables=optimizer_vars,
            )
            logs, metrics_vars = self._update_metrics(
                metrics_vars, loss, x, y, y_pred, sample_weight
            )
            return grads, logs, non_trainable, metrics_vars

        k = self._accumulation_steps
        rows = batch_size_of(batch[0])
        if k == 1 or not rows or rows % k:  # one pass over the whole batch: same math
            return micro_step(non_trainable, metrics_vars, *batch)

        base_key = shoal_random.draw_key()

        def body(carry, micro):
            non_trainable, metrics_vars, total = carry
            index, micro = micro
            # Each micro-batch draws its own dropout masks, as separate steps would.
            with shoal_random.RngScope(jax.random.fold_in(base_key, index)):
                grads, logs, non_trainable, metrics_vars = micro_step(
                    non_trainable, metrics_vars, *micro
                )
            total = jax.tree_util.tree_map(jnp.add, total, grads)
            return (non_trainable, metrics_vars, total), logs

        micro = jax.tree_util.tree_map(lambda v: v.reshape((k, rows // k) + v.shape[1:]), batch)
        zeros = [jnp.zeros(v.shape, v.dtype) for v in trainable]
        (non_trainable, metrics_vars, total), logs = jax.lax.scan(
            body, (non_trainable, metrics_vars, zeros), (jnp.arange(k), micro)
        )
        grads = [g / k for g in total]
        logs = jax.tree_util.tree_map(lambda v: v[-1], logs)
        return grads, logs, non_trainable, metrics_vars

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        batch = data_adapter.unpack(data)
        grads, logs, non_trainable, metrics_vars = self._gradients(state, batch)
        trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads, trainable)
        trainable = [
            v.constraint(t) if getattr(v, "constraint", None) is not None else t
            for v, t in zip(self.trainable_variables, trainable, strict=True)
        ]
        return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)

    def test_step(self, state, data):
        trainable, non_trainable, metrics_vars = state
        x, y, sample_weight = data_adapter.unpack(data)
        loss, (y_pred, non_trainable, metrics_vars) = self.compute_loss_and_updates(
            trainable, non_trainable, metrics_vars, x, y, sample_weight, training=False
        )
        logs, metrics_vars = self._update_metrics(metrics_vars, loss, x, y, y_pred, sample_weight)
        return logs, (trainable, non_trainable, metrics_vars)

    def predict_step(self, state, data):
        trainable, non_trainable = state
        x, _, _ = data_adapter.unpack(data)
        kwargs = {"training": False} if self._call_has_training else {}
        outputs, non_trainable = self.stateless_call(trainable, non_trainable, x, **kwargs)
        return outputs, non_trainable

    # -- state <-> variables -------------------------------------------------
    def _state_variables(self, kind):
        groups = [self.trainable_variables, self.non_trainable_variables]
        if kind == "train":
            groups.append(self.optimizer.variables)
        if kind in ("train", "test"):
            groups.append(self.metrics_variables)
        return groups

    def _read_state(self, kind, groups=None):
        groups = groups if groups is not None else self._state_variables(kind)
        return tuple([v.value for v in group] for group in groups)

    def _write_state(self, kind, state, groups=None):
        groups = groups if groups is not None else self._state_variables(kind)
        for group, values in zip(groups, state, strict=True):
            for variable, value in zip(group, values, strict=True):
                variable._value = value

    # -- compiled functions ----------------------------------------------------
    def _function(self, kind, fused: bool, placement=None, indexed: bool = False):
        """The compiled `execution(state, key_data, count, data) -> (out, state)`.

        fused: `data` holds K batches stacked on a leading axis, run in one `lax.scan`.
        indexed: `data` is `(arrays, rows)`: the whole dataset, already on device, and the
            row indices of the batch (K batches: shape (K, batch)); batches are gathered
            inside the compiled function (see device_feed.py).
        """
        key = (kind, fused, None if placement is None else id(placement), indexed)
        if key in self._functions:
            return self._functions[key]
        core = self._step_function(kind)

        def one(state, rng, data):
            if indexed:
                arrays, rows = data
                data = jax.tree_util.tree_map(lambda a: jnp.take(a, rows, axis=0), arrays)
            return core(state, rng, data)

        def many(state, rng, stacked):
            def body(carry, data):
                state, i = carry
                data = (stacked[0], data) if indexed else data
                out, state = one(state, jax.random.fold_in(rng, i), data)
                return (state, i + 1), out

            xs = stacked[1] if indexed else stacked
            (state, _), outs = jax.lax.scan(body, (state, 0), xs)
            if kind == "predict":
                return outs, state
            return jax.tree_util.tree_map(lambda v: v[-1], outs), state

        def execution(state, key_data, count, data):
            # The step key is derived inside the compiled function: no host-side dispatch.
            key = jax.random.fold_in(jax.random.wrap_key_data(key_data), count)
            out, state = (many if fused else one)(state, key, data)
            if placement is not None:  # keep every execution's layout (see placement.py)
                state = placement.constrain_state(state)
                if kind != "predict":
                    out = placement.constrain_replicated(out)
            return out, state

        fn = execution
        if self._jit_compile:
            # The state's buffers are donated: updated in place, not copied (see
            # fit_loop._distinct_buffers).
            fn = jax.jit(fn, donate_argnums=0)
        self._functions[key] = fn
        return fn

    def _step_function(self, kind):
        """One step, `(state, rng, batch) -> (out, state)`, jitted once per kind and shared
        by every execution that runs it (the jit inlines into theirs): its trace is made
        once, and `auto_steps` reads its cost before any execution is compiled."""
        key = (kind, "step")
        if key in self._functions:
            return self._functions[key]
        step = {"train": self.train_step, "test": self.test_step}.get(kind)

        def core(state, rng, data):
            data = data_adapter.pack(*data)  # what Keras hands a (custom) step
            with shoal_random.RngScope(rng):
                if kind == "predict":
                    outputs, non_trainable = self.predict_step(state, data)
                    return outputs, (state[0], non_trainable)
                return step(state, data)

        fn = jax.jit(core) if self._jit_compile else core
        self._functions[key] = fn
        return fn

    def make_train_function(self, force=False):
        return self._function("train", False)

    def _compiled(self, kind):
        return next((fn for key, fn in self._functions.items() if key[0] == kind), None)

    def _forget_compiled(self, kind, value) -> None:
        if value is not None:
            raise ValueError(
                f"Model '{self.name}': argument '{kind}_function' can only be set to None "
                f"(to compile the {kind} step again on the next call); shoal compiles its own "
                f"steps, got {value!r} (override {kind}_step instead)"
            )
        self._functions = {k: fn for k, fn in self._functions.items() if k[0] != kind}

    # Keras' attributes: the compiled functions (None before the first call); setting one
    # to None makes the next fit / evaluate / predict trace the step again.
    train_function = property(
        lambda self: self._compiled("train"),
        lambda self, value: self._forget_compiled("train", value),
    )
    test_function = property(
        lambda self: self._compiled("test"),
        lambda self, value: self._forget_compiled("test", value),
    )
    predict_function = property(
        lambda self: self._compiled("predict"),
        lambda self, value: self._forget_compiled("predict", value),
    )

    def make_test_function(self, force=False):
        return self._function("test", False)

    def make_predict_function(self, force=False):
        return self._function("predict", False)

    def jax_state_sync(self) -> None:
        """Keras' JAX trainer copies its loop state back into the variables here; shoal
        writes the state back after every execution, so the variables are current."""

    # -- building ------------------------------------------------------------
    @property
    def run_eagerly(self) -> bool:
        return self._run_eagerly

    @run_eagerly.setter
    def run_eagerly(self, value) -> None:
        self._run_eagerly = bool(value)
        self._jit_compile = not self._run_eagerly

    @property
    def jit_compile(self) -> bool:
        return self._jit_compile

    @jit_compile.setter
    def jit_compile(self, value) -> None:
        self._jit_compile = bool(value) and not self._run_eagerly

    def _overrides_steps(self) -> bool:
        """Whether the model brings its own train_step or test_step."""
        return type(self).train_step is not Trainer.train_step or (
            type(self).test_step is not Trainer.test_step
        )

    def _build_for_data(self, x, y=None):
        """Create weights, compile metrics and optimizer slots from one batch's shapes.

        Once all three exist this does nothing: tracing the model to learn its output
        shapes took a whole trace of the forward pass (~10-20 ms for the benchmark's LSTM)
        on every fit / evaluate / predict / *_on_batch call."""
        metrics = self._compile_metrics
        loss = self._compile_loss
        traced = (
            not self.built
            or not (metrics is None or metrics.built or y is None)
            or (loss is not None and loss.output_names is None)
        )
        if not traced:  # built, metrics too: only the optimizer may be missing, and it
            # needs no call (a custom train_step's data need not suit `call`, as Keras)
            if self.optimizer is not None and not self.optimizer.built:
                self._check_optimizer_is_ours()
                self.optimizer.build(self.trainable_variables)
            return
        structs = jax.tree_util.tree_map(
            lambda v: jax.ShapeDtypeStruct(np.shape(v), jnp.asarray(v[:1]).dtype), x
        )
        try:
            with StatelessScope({}):
                y_pred = jax.eval_shape(lambda a: self(a), structs)
        except NotImplementedError:
            # No `call` (a GAN-style wrapper with its own train_step), as Keras allows: its
            # sub-models are built already or build themselves in the step.
            if type(self).call is not _base_call() or not self._overrides_steps():
                raise
            y_pred = None
        self.built = True
        if y_pred is not None and self._compile_loss is not None:
            self._compile_loss.build(y_pred)
        if (
            y_pred is not None
            and self._compile_metrics is not None
            and not self._compile_metrics.built
            and y is not None
        ):
            if self._compile_loss is not None:  # where targets go when fewer are given
                self._compile_metrics.has_loss = [f is not None for f in self._compile_loss.losses]
            self._compile_metrics.build(y, y_pred)
        if self.optimizer is not None:
            self._check_optimizer_is_ours()
            self.optimizer.build(self.trainable_variables)

    def _check_optimizer_is_ours(self):
        """An optimizer holds state for one set of variables: one already built for
        another model's cannot train this one."""
        index = getattr(self.optimizer, "_index", None)
        own = self.trainable_variables
        if not getattr(self.optimizer, "built", False) or not index or not own:
            return
        if not any(v in index for v in own):
            raise ValueError(
                f"Model '{self.name}': its optimizer ({type(self.optimizer).__name__}) was "
                "already built for the variables of another model, and holds their state. "
                "Give each model its own optimizer (e.g. compile(optimizer='adam') or a new "
                "instance)."
            )

    def _assert_compiled(self, what):
        if not self.compiled:
            raise NotCompiledError(
                f"You must call compile() on model '{self.name}' before {what}(); e.g. "
                "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')."
            )

    # -- public loops ----------------------------------------------------------
    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
    ):
        self._assert_compiled("fit")
        return fit_loop.fit(self, **{k: v for k, v in locals().items() if k != "self"})

    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict=False,
        **kwargs,
    ):
        self._assert_compiled("evaluate")
        return fit_loop.evaluate(
            self,
            x=x,
            y=y,
            batch_size=batch_size,
            verbose=verbose,
            sample_weight=sample_weight,
            steps=steps,
            callbacks=callbacks,
            return_dict=return_dict,
            **kwargs,
        )

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        return fit_loop.predict(
            self, x=x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks
        )

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        self._assert_compiled("train_on_batch")
        return fit_loop.on_batch(self, "train", x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._assert_compiled("test_on_batch")
        return fit_loop.on_batch(self, "test", x, y, sample_weight, None, return_dict)

    def predict_on_batch(self, x):
        return fit_loop.predict(
            self, x=x, batch_size=None, verbose=0, steps=None, callbacks=None, single_batch=True
        )


def _base_call():
    from shoal.layers.base import Layer

    return Layer.call


def _takes_training(method) -> bool:
    """Whether an (overridable) method accepts `training`, as Keras checks before passing
    it: compute_loss overrides written for Keras 2 lack it."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "training" or p.kind is p.VAR_KEYWORD for p in parameters)
