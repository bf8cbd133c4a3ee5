"""The epoch / batch loops behind fit, evaluate, predict and the *_on_batch calls."""

from __future__ import annotations

import collections
import warnings

import jax
import numpy as np

from shoal.backend import random as shoal_random
from shoal.backend import run_settings
from shoal.backend.host_arrays import is_multiprocess, to_numpy
from shoal.ops import cpu_conv
from shoal.trainers import auto_steps, data_adapter, device_feed, flop_count, preflight
from shoal.trainers.placement import placement_for


def _verbose(verbose):
    if verbose == "auto":
        verbose = 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"Argument `verbose` must be 'auto', 0, 1 or 2; got {verbose!r}")
    return verbose if jax.process_index() == 0 else 0  # one progress bar per job


def _to_device(batch):
    return jax.device_put(batch)  # one transfer call for the whole batch pytree


def _pythonify(logs):
    """Host floats in key order, as Keras 3 hands logs to callbacks and `History` (sorted).
    The logs are an execution's, already flat (`_Runner.__call__`)."""
    return {k: _host_value(logs[k]) for k in sorted(logs)}


def _largest_divisor_up_to(n: int, limit: int) -> int:
    """The largest divisor of `n` not above `limit` (steps fused per execution when saves
    fall every `n` batches: each save then lands at the end of an execution)."""
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def _metrics_or_logs(model, logs):
    """Keras' rule at the end of an epoch or evaluation: when a model's own train_step /
    test_step logs exactly the names of its metrics, the metrics' accumulated results
    stand for them (not the last step's values)."""
    if not logs or not model._overrides_steps():
        return logs
    results = model.get_metrics_result()
    return results if set(results) == set(logs) else logs


def _results(logs, model, return_dict):
    """`evaluate` / `*_on_batch`'s return: the logs, or their values in `metrics_names`'
    order (loss, per-output losses, metrics), the rest sorted, as Keras lists them."""
    if return_dict:
        return logs
    order = model._log_names()
    values = [logs[k] for k in order if k in logs] + [logs[k] for k in logs if k not in order]
    return values[0] if len(values) == 1 else values


def _flat_logs(logs):
    """Nested dicts merged into one level, as Keras does: a JAX-style `train_step` that logs
    every metric of `self.metrics` by name logs the compiled metrics' container as a dict."""
    if not isinstance(logs, dict) or not any(isinstance(v, dict) for v in logs.values()):
        return logs
    flat = {}
    for key, value in logs.items():
        flat.update(_flat_logs(value) if isinstance(value, dict) else {key: value})
    return flat


def _host_value(value):
    """A float, or a NumPy array for metrics with one value per class (F1Score(average=None))."""
    value = np.asarray(to_numpy(value))
    return float(value) if value.ndim == 0 else value


def _executions(model, data, runner):
    """Yield (first_step_index, n_steps, fused, device_batch); K consecutive batches of
    one shape make one fused execution, others run alone. Arrays kept on device yield
    row indices instead of batches (device_feed.py)."""
    feed = runner.feed
    if feed is not None:
        batches, shape_of, put = feed.epoch_rows(), len, feed.put_rows
    else:
        batches, shape_of, put = data.epoch(), _shapes, runner.put_batch
    for start, group in _groups(batches, runner.steps, shape_of):
        if len(group) == 1:
            yield start, 1, False, put(group[0], False)
        else:
            stacked = jax.tree_util.tree_map(lambda *v: np.stack(v), *group)
            yield start, len(group), True, put(stacked, True)


def _groups(items, k, shape_of):
    """(index of the first, items) runs: k consecutive items of one shape, else single."""
    pending, start = [], 0
    for index, item in enumerate(items):
        if pending and shape_of(item) != shape_of(pending[0]):
            yield from ((start + i, [p]) for i, p in enumerate(pending))
            pending = []
        if not pending:
            start = index
        pending.append(item)
        if len(pending) == k:
            yield start, pending
            pending = []
    yield from ((start + i, [p]) for i, p in enumerate(pending))


def _shapes(batch):
    return [np.shape(v) for v in jax.tree_util.tree_leaves(batch)]


# Executions dispatched but possibly not finished, at most: enough to keep the device busy
# while Python prepares the next one, few enough that the progress bar and callbacks see
# recent results, and that batches streamed from the host do not pile up on the device.
IN_FLIGHT = 2


class _Runner:
    """Runs one kind of compiled function over batches, keeping state between executions.

    Under a distribution, state and batches are laid out by a `Placement`. At most
    `IN_FLIGHT` executions are outstanding: dispatching one waits for the one `IN_FLIGHT`
    before it.
    """

    def __init__(self, model, kind, data=None, first=None, every_batch=False, batch_multiple=None):
        self.model, self.kind = model, kind
        self.every_batch = every_batch  # a callback acts on each batch: "auto" means 1
        self.batch_multiple = batch_multiple  # "auto" fuses a divisor of it (saves every N)
        key_data = shoal_random.global_key_data()
        self.count = 0
        self.in_flight = collections.deque()
        # The variables behind the state, resolved once per loop (walking layers is slow).
        self.groups = model._state_variables(kind)
        self.placement = placement_for(model, kind, self.groups)
        if self.placement is None:
            self.key_data = key_data
        else:
            if is_multiprocess():  # every process must draw the same dropout masks
                from jax.experimental import multihost_utils

                key_data = np.asarray(multihost_utils.broadcast_one_to_all(key_data))
            self.key_data = self.placement.put_scalar(key_data)
            self.placement.place_state(self.groups)
        self.feed = None if data is None else device_feed.feed_for(data, self.placement)
        self.steps = 1 if data is None else self._steps(data, first)

    def _steps(self, data, first):
        """`steps_per_execution`, resolving "auto" once per model, kind and batch shape."""
        k = self.model.steps_per_execution
        if k != "auto":
            return k
        if not self.model._jit_compile or self.every_batch:
            return 1
        cache = self.model.__dict__.setdefault("_auto_steps", {})
        key = (self.kind, id(self.placement), str(_shapes(first)))
        if key not in cache:
            state = self.model._read_state(self.kind, self.groups)
            fn = self.model._step_function(self.kind)
            rng = jax.eval_shape(lambda: jax.random.key(0))  # traced only
            args = (state, rng, self.put_batch(first, False))
            full = data.num_batches
            if isinstance(data, data_adapter.ArrayData):  # full-size batches in a pass
                full = min(full, data.num_samples // data.batch_size)
            jaxpr = flop_count.trace(fn, args)
            flops = 0.0 if jaxpr is None else flop_count.jaxpr_flops(jaxpr)
            used = frozenset(
                () if jaxpr is None else flop_count.primitives(jaxpr, cpu_conv.LOOP_SAFE_SCOPE)
            )
            cache[key] = auto_steps.choose(flops, auto_steps.platform_of(state), full, used)
        if self.batch_multiple:
            return _largest_divisor_up_to(self.batch_multiple, cache[key])
        return cache[key]

    def put_batch(self, batch, fused):
        if self.placement is None:
            return _to_device(batch)
        return self.placement.put_batch(batch, fused)

    def __call__(self, batch, fused):
        fn = self.model._function(self.kind, fused, self.placement, self.feed is not None)
        state = _distinct_buffers(self.model._read_state(self.kind, self.groups))
        self.count += 1
        count = np.uint32(self.count)
        if self.placement is not None and is_multiprocess():
            count = self.placement.put_scalar(count)
        out, state = fn(state, self.key_data, count, batch)
        self.model._write_state(self.kind, state, self.groups)
        if self.kind != "predict":
            out = _flat_logs(out)
        self.in_flight.append(out)
        if len(self.in_flight) > IN_FLIGHT:
            jax.block_until_ready(self.in_flight.popleft())
        return out


def _distinct_buffers(state):
    """The step donates its state; two variables holding the same array (one created
    from the other's value) would donate it twice, so such a repeat gets its own copy."""
    seen = set()
    for group in state:
        for i, value in enumerate(group):
            if id(value) in seen:
                group[i] = value.copy()
            seen.add(id(group[i]))
    return state


def _batch_free(model) -> bool:
    """Whether rows are computed independently of the batch's size, so predict may pad: no
    input with a fixed batch dimension, no stateful layer (whose states have one), and only
    shoal's own layers and models. A user's `call` may mix rows (a sum or a `tensordot` over
    the batch axis); padding would then change the real rows' outputs, unlike Keras."""
    try:
        inputs = list(model.inputs or [])
    except (AttributeError, ValueError):  # a subclassed model has no symbolic inputs
        inputs = []
    if any(getattr(t, "shape", (None,))[0] is not None for t in inputs):
        return False
    pending, seen = [model], set()
    while pending:
        layer = pending.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if getattr(layer, "stateful", False) or not _is_shoal_class(layer):
            return False
        pending.extend(getattr(layer, "_layers", []))
    return True


def _is_shoal_class(obj) -> bool:
    from shoal.layers.core import Lambda
    from shoal.layers.jax_layer import JaxLayer

    if isinstance(obj, (Lambda, JaxLayer)):  # shoal classes that run the user's functions
        return False
    return type(obj).__module__.split(".")[0] == "shoal"


class NoBatchesError(ValueError):
    """The data yielded no batch at all."""


_RAN_OUT = (
    "Your input ran out of data; interrupting training. Make sure that your dataset or "
    "generator can generate at least `steps_per_epoch * epochs` batches."
)


def warn_if_ran_out(data) -> None:
    """Keras' warning when an epoch of `steps` batches reached the end of the data."""
    if getattr(data, "ran_out", False):
        warnings.warn(_RAN_OUT, stacklevel=3)


def _first_batch(data):
    if hasattr(data, "peek"):  # iterators: read without consuming it
        batch = data.peek()
        if batch is not None:
            return batch
    else:
        for batch in data.epoch():
            return batch
    raise NoBatchesError("The dataset yielded no batches; fit/evaluate/predict need data.")


def fit(
    model,
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
    from shoal.callbacks.callback_list import CallbackList

    verbose = _verbose(verbose)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"Argument `epochs` must be a non-negative integer; got {epochs!r}")
    epochs = run_settings.capped_epochs(epochs)
    data_adapter.check_batch_size(batch_size)
    data_adapter.check_batch_size(validation_batch_size, "validation_batch_size")
    if not isinstance(validation_split, (int, float)) or not 0 <= validation_split < 1:
        raise ValueError(
            f"Argument `validation_split` must be a float in [0, 1); got {validation_split!r}"
        )
    _check_validation_freq(validation_freq)
    data_adapter.check_batch_size(validation_steps, "validation_steps")  # a positive int
    if validation_split and validation_data is None:
        if not data_adapter.is_array_data(x):
            raise ValueError(
                "Argument `validation_split` is only supported for array inputs; got x of type "
                f"{type(x).__name__}"
            )
        (x, y, sample_weight), validation_data = data_adapter.split_validation(
            x, y, sample_weight, validation_split
        )
    data = data_adapter.make_data(
        x,
        y,
        sample_weight,
        batch_size=batch_size,
        shuffle=shuffle,
        steps=steps_per_epoch,
        class_weight=class_weight,
    )
    first = _first_batch(data)
    preflight.check(model, first[0], getattr(data, "y", first[1]), "train")
    model._build_for_data(first[0], first[1])
    val_data = None
    if validation_data is not None:
        val_data = _validation_tuple(validation_data)
        if data_adapter.is_array_data(val_data[0]):  # checked before any epoch trains
            _check_validation_arrays(val_data)
            preflight.check(model, val_data[0], val_data[1], "test", "validation_data")

    cbs = CallbackList(
        callbacks,
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=data.num_batches,
    )
    runner = _Runner(
        model,
        "train",
        data,
        first,
        cbs.needs_every_batch("train"),
        batch_multiple=cbs.batch_multiple("train"),
    )
    model.stop_training = False
    model._in_fit = True
    epoch_logs = {}
    try:
        cbs.on_train_begin()
        # A callback (BackupAndRestore) may resume from a later epoch; for this fit only.
        initial_epoch = getattr(model, "_initial_epoch", None) or initial_epoch
        model._initial_epoch = None
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            cbs.on_epoch_begin(epoch)
            logs = {}
            for start, n, fused, batch in _executions(model, data, runner):
                for i in range(n):
                    cbs.on_train_batch_begin(start + i)
                logs = runner(batch, fused)
                for i in range(n):
                    cbs.on_train_batch_end(start + i, logs)
                if model.stop_training:
                    break
            if not logs:  # a finite generator ran out: stop, keeping what was trained
                warnings.warn(_RAN_OUT, stacklevel=2)
                break
            warn_if_ran_out(data)
            epoch_logs = _pythonify(_metrics_or_logs(model, logs))
            if val_data is not None and _should_validate(epoch, validation_freq):
                val_x, val_y, val_sw = val_data
                try:
                    val_logs = evaluate(
                        model,
                        val_x,
                        val_y,
                        sample_weight=val_sw,
                        batch_size=validation_batch_size or batch_size,
                        steps=validation_steps,
                        callbacks=cbs,
                        verbose=0,
                        return_dict=True,
                    )
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                except NoBatchesError:  # a finite validation generator, used up
                    warnings.warn(
                        "fit(): `validation_data` yielded no batches in this epoch (a "
                        "generator used up by an earlier epoch); validation stops. Pass a "
                        "re-iterable dataset or a PyDataset to validate every epoch.",
                        stacklevel=2,
                    )
                    val_data = None
            cbs.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        if hasattr(model.optimizer, "finalize_variable_values"):
            model.optimizer.finalize_variable_values(model.trainable_variables)
    finally:
        model._in_fit = False
    cbs.on_train_end(epoch_logs)
    return cbs.history


def _validation_tuple(validation_data):
    # Keras reads a list like a tuple, (x_val,) for models that need no targets (a
    # compute_loss override), and anything else (an array or a dict of inputs for a model
    # whose loss comes from add_loss, a dataset) as inputs alone. A model compiled with a
    # loss then says that targets are required, before anything runs.
    if isinstance(validation_data, (tuple, list)) and len(validation_data) in (1, 2, 3):
        return (*validation_data, None, None)[:3]
    if isinstance(validation_data, (tuple, list)):
        raise ValueError(
            "Argument `validation_data` must be a tuple (x_val,), (x_val, y_val) or (x_val, "
            "y_val, sample_weight), a dataset, or inputs alone; got a "
            f"{type(validation_data).__name__} of {len(validation_data)} entries"
        )
    return (validation_data, None, None)


def _check_validation_arrays(val_data):
    """Sample counts and dtypes of array `validation_data`, as `evaluate` will check them
    after the first epoch, said now (naming `validation_data`), before anything trains."""
    try:
        data_adapter.standardize_arrays(*val_data)
    except (TypeError, ValueError) as error:
        raise type(error)(f"Argument `validation_data` is invalid: {error}") from None


def _check_validation_freq(freq):
    if isinstance(freq, bool) or not isinstance(freq, (int, np.integer, list, tuple, set)):
        ok = False
    elif isinstance(freq, (int, np.integer)):
        ok = freq > 0
    else:
        ok = all(isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in freq)
    if not ok:
        raise ValueError(
            "Argument `validation_freq` must be a positive integer (validate every N epochs) "
            f"or a list of epoch numbers (1-based); got {freq!r}"
        )


def _should_validate(epoch, freq):
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return epoch + 1 in freq


def evaluate(
    model,
    x=None,
    y=None,
    batch_size=None,
    verbose="auto",
    sample_weight=None,
    steps=None,
    callbacks=None,
    return_dict=False,
):
    from shoal.callbacks.callback_list import CallbackList

    verbose = _verbose(verbose)
    data = data_adapter.make_data(x, y, sample_weight, batch_size=batch_size, steps=steps)
    first = _first_batch(data)
    preflight.check(model, first[0], first[1], "test")
    model._build_for_data(first[0], first[1])
    if isinstance(callbacks, CallbackList):
        cbs = callbacks
    else:
        cbs = CallbackList(
            callbacks,
            add_progbar=verbose != 0,
            model=model,
            verbose=verbose,
            epochs=1,
            steps=data.num_batches,
        )
    runner = _Runner(model, "test", data, first, cbs.needs_every_batch("test"))
    model.reset_metrics()
    model.stop_evaluating = False
    cbs.on_test_begin()
    logs = {}
    for start, n, fused, batch in _executions(model, data, runner):
        for i in range(n):
            cbs.on_test_batch_begin(start + i)
        logs = runner(batch, fused)
        for i in range(n):
            cbs.on_test_batch_end(start + i, logs)
        if model.stop_evaluating:  # a callback asked to stop (Keras 3)
            break
    warn_if_ran_out(data)
    logs = _pythonify(_metrics_or_logs(model, logs))
    cbs.on_test_end(logs)
    return _results(logs, model, return_dict)


def predict(
    model, x, batch_size=None, verbose="auto", steps=None, callbacks=None, single_batch=False
):
    from shoal.callbacks.callback_list import CallbackList

    verbose = _verbose(verbose)
    if single_batch:
        x, _, _, n = data_adapter.standardize_arrays(x)
        batch_size = n
    data = data_adapter.make_data(x, None, None, batch_size=batch_size, steps=steps)
    first = _first_batch(data)
    preflight.check(model, first[0], None, "predict")
    model._build_for_data(first[0])
    cbs = CallbackList(
        callbacks,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=1,
        steps=data.num_batches,
    )
    padded = isinstance(data, data_adapter.ArrayData) and steps is None and _batch_free(model)
    if padded:  # one compiled shape for all batches; padded rows are dropped below
        data.pad_last = True
        first = _first_batch(data)
    runner = _Runner(model, "predict", data, first, cbs.needs_every_batch("predict"))
    model.stop_predicting = False
    cbs.on_predict_begin()
    outputs, emitted = [], 0
    for start, n, fused, batch in _executions(model, data, runner):
        for i in range(n):
            cbs.on_predict_batch_begin(start + i)
        out = runner(batch, fused)
        if fused:
            out = jax.tree_util.tree_map(lambda v: v.reshape((-1,) + v.shape[2:]), out)
        out = jax.tree_util.tree_map(to_numpy, out)
        if padded:  # drop the rows that only padded the last batch
            remaining = data.num_samples - emitted
            out = jax.tree_util.tree_map(lambda v, r=remaining: v[:r], out)
            emitted += len(jax.tree_util.tree_leaves(out)[0])
        outputs.append(out)
        for i in range(n):
            cbs.on_predict_batch_end(start + i, {"outputs": out})
        if model.stop_predicting:  # a callback asked to stop (Keras 3)
            break
    warn_if_ran_out(data)
    cbs.on_predict_end()
    if not outputs:
        raise ValueError("predict(): the input yielded no batches.")
    return jax.tree_util.tree_map(lambda *v: np.concatenate(v, axis=0), *outputs)


def on_batch(model, kind, x, y, sample_weight, class_weight, return_dict):
    x, y, sample_weight, n = data_adapter.standardize_arrays(x, y, sample_weight)
    if class_weight is not None:
        data_adapter.check_class_weight_with(y, sample_weight)
        sample_weight = data_adapter.class_weight_to_sample_weight(y, class_weight)
    preflight.check(model, x, y, kind)
    model._build_for_data(x, y)
    model.reset_metrics()
    runner = _Runner(model, kind)
    logs = _pythonify(runner(runner.put_batch((x, y, sample_weight), False), False))
    return _results(logs, model, return_dict)
