"""`RNN`: runs a recurrent cell over the time axis; `StackedRNNCells`; the fused-cell base.

A cell is any object with, as in Keras 3:

- `state_size`: an int (one state) or a list of them (one per state tensor);
- optionally `output_size` (else the first state size);
- `call(inputs, states, training=None) -> (output, new_states)` for one timestep;
- optionally `get_initial_state(batch_size)` (else zeros of `(batch, size)` per state).

Speed: the loop is one `jax.lax.scan` over time (a Python loop with `unroll=True`). The
built-in cells derive from `FusedRNNCell`: for them the input projection
`x @ kernel + bias` of *all* timesteps is one matmul before the scan, and a step does
only the recurrent matmul `h @ recurrent_kernel`, one fused matmul for all gates (the
gates are concatenated in the kernels exactly as Keras stores them).

Masking, as Keras 3 on JAX: a masked timestep leaves every state unchanged and outputs
the previous output: with `lax.scan` that is the carried first state (for stacked cells
the last cell's first state), with `unroll=True` the previous step's output (zeros before
the first step). With `zero_output_for_mask=True` masked steps output zeros.

Stateful layers keep their states in non-trainable Variables (`layer.states`), so pure
training steps carry them from batch to batch. As in Keras they are not *weights*:
`get_weights()`, `set_weights()` and weight files hold only the cell's weights.
"""

from __future__ import annotations

import contextlib
import inspect

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import dtype_policy as dtype_policies
from shoal.backend.scope import StatelessScope, current_stateless_scope
from shoal.backend.tensors import convert_to_tensor
from shoal.layers.base import Layer
from shoal.layers.recurrent import recurrence_vjp
from shoal.layers.recurrent.dropout_masks import sequence_masks


def _is_nested(x) -> bool:
    return isinstance(x, (list, tuple))


def _serialize(module, obj):
    return None if obj is None else module.serialize(obj)


def check_units(owner: str, units) -> int:
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
        raise ValueError(f"{owner}: argument 'units' must be a positive integer, got {units!r}")
    return int(units)


def check_seed(owner: str, seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"{owner}: argument 'seed' must be an integer or None, got {seed!r}")
    return None if seed is None else int(seed)


def check_cell(owner: str, arg: str, cell) -> None:
    if not callable(getattr(cell, "call", None)):
        raise ValueError(
            f"{owner}: argument '{arg}' must be an RNN cell with a method "
            f"`call(inputs, states)`; got {cell!r}"
        )
    if not hasattr(cell, "state_size"):
        raise ValueError(
            f"{owner}: argument '{arg}' must be an RNN cell with a `state_size` attribute "
            f"(an int, or a list of ints, one per state); got {cell!r} without one"
        )


def output_size_of(cell) -> int:
    size = getattr(cell, "output_size", None)
    if size is not None:
        return size
    state_size = cell.state_size
    return state_size[0] if _is_nested(state_size) else state_size


def _build_cell(cell, input_shape) -> None:
    if isinstance(cell, Layer) and not cell.built:
        cell.build(tuple(input_shape))
        cell._build_shapes = tuple(input_shape)
        cell.built = True


def _cell_caller(cell, training):
    """cell(inputs, states), with `training` when the cell's call takes it."""
    if isinstance(cell, Layer):
        if cell._call_has_training:
            return lambda x, s: cell(x, s, training=training)
        return cell
    fn = cell.__call__ if callable(cell) else cell.call
    if "training" in inspect.signature(cell.call).parameters:
        return lambda x, s: fn(x, s, training=training)
    return fn


def _where(mask_t, new, old):
    """Per-sample select: mask_t is (batch,), new/old are (batch, ...)."""
    m = mask_t.reshape(mask_t.shape + (1,) * (new.ndim - 1))
    return jnp.where(m, new, old)


def _first_state(states):
    """What Keras' scan emits at a masked step: the first state (last cell's if stacked)."""
    first = states[0]
    if _is_nested(first):
        last = states[-1]
        first = last[0] if _is_nested(last) else last
    return first


def run_loop(step, xs, initial_state, mask, *, go_backwards, unroll, zero_output_for_mask):
    """Run `step(x_t, states) -> (output, states)` over the leading (time) axis of `xs`.

    `mask` is (time, batch) bool or None. Returns (last_output, outputs[time, ...],
    final_states); outputs are in processing order (reversed with go_backwards).
    """
    treedef = jax.tree_util.tree_structure(initial_state)
    init_leaves = jax.tree_util.tree_leaves(initial_state)

    def restructure(new_states):
        leaves = jax.tree_util.tree_leaves(new_states)
        if len(leaves) != len(init_leaves):
            raise ValueError(
                f"RNN: the cell returned {len(leaves)} state tensor(s) but was given "
                f"{len(init_leaves)}; a cell must return one new state per state."
            )
        return jax.tree_util.tree_unflatten(
            treedef, [n.astype(o.dtype) for n, o in zip(leaves, init_leaves, strict=True)]
        )

    if go_backwards:
        xs = jax.tree_util.tree_map(lambda x: jnp.flip(x, 0), xs)
        mask = None if mask is None else jnp.flip(mask, 0)

    def masked(mask_t, output, new_states, states, previous):
        if zero_output_for_mask:
            output = _where(mask_t, output, jnp.zeros_like(output))
        else:
            output = _where(mask_t, output, previous)
        new_states = jax.tree_util.tree_map(lambda n, o: _where(mask_t, n, o), new_states, states)
        return output, new_states

    if unroll:
        steps = jax.tree_util.tree_leaves(xs)[0].shape[0]
        states, outputs = initial_state, []
        for t in range(steps):
            x_t = jax.tree_util.tree_map(lambda x, t=t: x[t], xs)
            output, new_states = step(x_t, states)
            new_states = restructure(new_states)
            if mask is not None:
                previous = outputs[-1] if outputs else jnp.zeros_like(output)
                output, new_states = masked(mask[t], output, new_states, states, previous)
            states = new_states
            outputs.append(output)
        return outputs[-1], jnp.stack(outputs), states

    def body(states, inputs):
        x_t, mask_t = inputs
        output, new_states = step(x_t, states)
        new_states = restructure(new_states)
        if mask_t is not None:
            output, new_states = masked(mask_t, output, new_states, states, _first_state(states))
        return new_states, output

    # Tracing the cell must not leak assignments or losses into layer objects (as Keras).
    scope = StatelessScope() if current_stateless_scope() is None else contextlib.nullcontext()
    with scope:
        final, outputs = jax.lax.scan(body, initial_state, (xs, mask))
    return outputs[-1], outputs, final


def _is_fused(cell) -> bool:
    """Whether `cell` splits a step in two halves that `RNN` runs separately (`fused.py`).

    Such a cell has `fuses_sequence = True` and
    `dropout_masks(step_input_shape, training) -> (input_mask, recurrent_mask)`,
    `project_inputs(sequences, input_mask) -> (time, batch, ...)` for all steps at once and
    `recurrent_step(projected_t, states, recurrent_mask) -> (output, new_states)`.
    """
    return bool(getattr(cell, "fuses_sequence", False))


def _dropout_inputs(cell, step_shape):
    """(cell, step input shape) for each cell whose dropout masks the RNN draws."""
    if isinstance(cell, StackedRNNCells):
        out = []
        for c in cell.cells:
            out.append((c, step_shape))
            step_shape = (step_shape[0], output_size_of(c))
        return out
    return [(cell, step_shape)]


class RNN(Layer):
    """Runs `cell` over the timesteps of `(batch, timesteps, ...)` inputs (Keras 3 `RNN`).

    `cell` is a cell or a list of cells (stacked with `StackedRNNCells`). Call with
    `initial_state=` (a tensor or list of tensors, one per state), `mask=` (`(batch,
    timesteps)` bool, True = use the step) and `training=`.

    Example:
        >>> layer = RNN(LSTMCell(4), return_sequences=True)
        >>> layer(np.zeros((2, 5, 3), "float32")).shape
        (2, 5, 4)
    """

    def __init__(
        self,
        cell,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        owner = type(self).__name__
        if _is_nested(cell):
            cell = StackedRNNCells(list(cell))
        check_cell(owner, "cell", cell)
        state_size = cell.state_size
        if isinstance(state_size, bool) or not isinstance(state_size, (int, list, tuple)):
            raise ValueError(
                f"{owner}: the cell's `state_size` must be an int or a list of ints (one per "
                f"state tensor), got {state_size!r}"
            )
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self.input_spec = None
        self.states = None
        self._expected_batch_size = None
        self.single_state = isinstance(state_size, int)
        self.state_size = [state_size] if self.single_state else list(state_size)

    # -- states are variables, not weights ------------------------------------
    def _state_variables(self) -> list:
        return [] if self.states is None else jax.tree_util.tree_leaves(self.states)

    @property
    def weights(self) -> list:
        states = {id(v) for v in self._state_variables()}
        return [w for w in Layer.weights.fget(self) if id(w) not in states]

    @property
    def non_trainable_weights(self) -> list:
        out = Layer.non_trainable_weights.fget(self)
        seen = {id(v) for v in out}
        return out + [v for v in self._state_variables() if id(v) not in seen]

    def _own_saved_weights(self) -> list:
        states = {id(v) for v in self._state_variables()}
        return [v for v in self._own_weights() if id(v) not in states]

    def save_own_variables(self, store) -> None:
        for i, variable in enumerate(self._own_saved_weights()):
            store[str(i)] = variable.value

    def load_own_variables(self, store) -> None:
        own = self._own_saved_weights()
        if len(store.keys()) != len(own):
            raise ValueError(
                f"{type(self).__name__} '{self.name}' has {len(own)} own variable(s), "
                f"the file holds {len(store.keys())}"
            )
        for i, variable in enumerate(own):
            variable.assign(store[str(i)])

    # -- build -------------------------------------------------------------------
    def build(self, sequences_shape, initial_state_shape=None):
        sequences_shape = tuple(sequences_shape)
        if len(sequences_shape) < 3:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': inputs must have shape (batch, "
                f"timesteps, features); got shape {sequences_shape}"
            )
        _build_cell(self.cell, (sequences_shape[0],) + sequences_shape[2:])
        if self.stateful:
            if self.states is not None:
                self.reset_state()
            else:
                batch = sequences_shape[0]
                if batch is None:
                    raise ValueError(
                        f"{type(self).__name__} '{self.name}': stateful=True needs a fixed "
                        f"batch size; got input shape {sequences_shape}. Pass "
                        "`batch_size=` (or `batch_shape=`) to the Input."
                    )
                specs = jax.eval_shape(lambda: self.get_initial_state(batch))
                leaves, treedef = jax.tree_util.tree_flatten(specs)
                variables = [
                    self.add_weight(
                        shape=spec.shape, initializer="zeros", trainable=False, name="rnn_state"
                    )
                    for spec in leaves
                ]
                self.states = jax.tree_util.tree_unflatten(treedef, variables)
                self._expected_batch_size = batch
        self.built = True

    def get_initial_state(self, batch_size):
        fn = getattr(self.cell, "get_initial_state", None)
        if fn is None:
            return [jnp.zeros((batch_size, d), dtype=self.compute_dtype) for d in self.state_size]
        init = fn(batch_size=batch_size)
        return list(init) if _is_nested(init) else [init]

    def reset_state(self) -> None:
        """Set the states of a stateful layer back to zeros."""
        for variable in self._state_variables():
            variable.assign(jnp.zeros(variable.shape, variable.dtype))

    def reset_states(self) -> None:
        """Alias of `reset_state()` (Keras 2 name)."""
        self.reset_state()

    # -- calling -------------------------------------------------------------------
    def _standardize_initial_state(self, initial_state, batch):
        """`initial_state` checked against the cell's states and arranged in their structure."""
        probe = batch if isinstance(batch, (int, np.integer)) else 1
        specs = jax.eval_shape(lambda: self.get_initial_state(probe))
        expected, treedef = jax.tree_util.tree_flatten(specs)
        want = [tuple(s.shape) for s in expected]
        if probe is not batch:
            want = [(None,) + w[1:] for w in want]
        given = jax.tree_util.tree_leaves(initial_state, is_leaf=lambda x: hasattr(x, "shape"))
        got = [tuple(np.shape(x)) if not hasattr(x, "shape") else tuple(x.shape) for x in given]
        ok = len(got) == len(want) and all(
            len(g) == len(w)
            and all(a is None or b is None or a == b for a, b in zip(g, w, strict=True))
            for g, w in zip(got, want, strict=True)
        )
        if not ok:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': argument 'initial_state' must be "
                f"{len(want)} tensor(s) of shape(s) {want} (one per state of the cell); got "
                f"{len(got)} tensor(s) of shape(s) {got}"
            )
        return jax.tree_util.tree_unflatten(treedef, given)

    def _standardize_mask(self, mask, sequences):
        if _is_nested(mask):
            mask = mask[0] if mask else None
        if mask is None:
            return None
        mask = convert_to_tensor(mask)
        if tuple(mask.shape) != tuple(sequences.shape[:2]):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': argument 'mask' must have shape "
                f"(batch, timesteps) = {tuple(sequences.shape[:2])}; got {tuple(mask.shape)}"
            )
        return mask.astype(bool)

    def compute_output_spec(self, sequences, initial_state=None, mask=None, training=None):
        if initial_state is not None:
            self._standardize_initial_state(initial_state, sequences.shape[0])
        return super().compute_output_spec(sequences)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        batch = sequences.shape[0]
        if self.stateful and self._expected_batch_size not in (None, batch):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': a stateful RNN needs the same batch "
                f"size at every call: expected {self._expected_batch_size}, got {batch}"
            )
        if initial_state is None:
            if self.stateful:
                initial_state = jax.tree_util.tree_map(lambda v: v.value, self.states)
            else:
                initial_state = self.get_initial_state(batch)
        else:
            initial_state = self._standardize_initial_state(initial_state, batch)
        dtype = getattr(self.cell, "compute_dtype", self.compute_dtype)
        initial_state = jax.tree_util.tree_map(
            lambda x: convert_to_tensor(x).astype(dtype), initial_state
        )
        mask = self._standardize_mask(mask, sequences)
        mask = None if mask is None else jnp.swapaxes(mask, 0, 1)
        training = False if training is None else bool(training)

        cell = self.cell
        loop = dict(
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
        )
        step_shape = (batch,) + tuple(sequences.shape[2:])
        if _is_fused(cell):
            dp_mask, rec_mask = cell.dropout_masks(step_shape, training)
            math = self._fast_step_math(dp_mask, rec_mask)
            if math is not None:
                last, outputs, states = recurrence_vjp.run(
                    math,
                    sequences if dp_mask is None else sequences * dp_mask[0][:, None],
                    cell._read(cell.kernel),
                    cell._input_bias(),
                    cell._read(cell.recurrent_kernel),
                    cell.recurrent_bias(),
                    initial_state,
                    mask,
                    None if rec_mask is None else rec_mask[0],
                    go_backwards=self.go_backwards,
                    zero_output_for_mask=self.zero_output_for_mask,
                    return_sequences=self.return_sequences,
                )
            else:
                last, outputs, states = run_loop(
                    lambda x_t, s: cell.recurrent_step(x_t, s, rec_mask),
                    cell.project_inputs(sequences, dp_mask),
                    initial_state,
                    mask,
                    **loop,
                )
        else:
            with sequence_masks(_dropout_inputs(cell, step_shape), training):
                last, outputs, states = run_loop(
                    _cell_caller(cell, training),
                    jnp.swapaxes(sequences, 0, 1),
                    initial_state,
                    mask,
                    **loop,
                )
        if self.stateful:
            for variable, value in zip(
                self._state_variables(), jax.tree_util.tree_leaves(states), strict=True
            ):
                variable.assign(value.astype(variable.dtype))
        output = jnp.swapaxes(outputs, 0, 1) if self.return_sequences else last
        output = output.astype(self.compute_dtype)
        if self.return_state:
            return [output, *states]
        return output

    def _fast_step_math(self, dp_mask, rec_mask):
        """The fused cell's `StepMath` when `recurrence_vjp` can run this call, else None."""
        if self.unroll or not recurrence_vjp.enabled():
            return None
        if any(m is not None and m.shape[0] != 1 for m in (dp_mask, rec_mask)):
            return None  # one dropout mask per gate (Keras' implementation 1)
        step_math = getattr(self.cell, "step_math", None)
        return None if step_math is None else step_math()

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, length = sequences_shape[0], sequences_shape[1]
        states = []
        for size in self.state_size:
            if _is_nested(size):
                states.append([(batch, s) for s in size])
            else:
                states.append((batch, size))
        output_size = output_size_of(self.cell)
        output = (batch, length, output_size) if self.return_sequences else (batch, output_size)
        if self.return_state:
            return [output, *states]
        return output

    def compute_mask(self, inputs, mask=None):
        if _is_nested(mask):
            mask = mask[0] if mask else None
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None for _ in self.state_size]
        return output_mask

    # -- config ------------------------------------------------------------------
    def get_config(self):
        from shoal.saving import serialization

        return {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "cell": serialization.serialize_keras_object(self.cell),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from shoal.saving import serialization

        config = dict(config)
        cell = serialization.deserialize_keras_object(
            config.pop("cell"), custom_objects=custom_objects
        )
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = dtype_policies.get(config["dtype"])
        return cls(cell, **config)


class StackedRNNCells(Layer):
    """Several cells acting as one: each step feeds each cell's output to the next cell."""

    def __init__(self, cells, **kwargs):
        if not _is_nested(cells) or not cells:
            raise ValueError(
                "StackedRNNCells: argument 'cells' must be a non-empty list of RNN cells, "
                f"got {cells!r}"
            )
        for i, cell in enumerate(cells):
            check_cell("StackedRNNCells", f"cells[{i}]", cell)
        super().__init__(**kwargs)
        self.cells = list(cells)

    @property
    def state_size(self):
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self):
        return output_size_of(self.cells[-1])

    def get_initial_state(self, batch_size=None):
        states = []
        for cell in self.cells:
            fn = getattr(cell, "get_initial_state", None)
            if fn is not None:
                states.append(fn(batch_size=batch_size))
            elif _is_nested(cell.state_size):
                states.append(
                    [jnp.zeros((batch_size, d), self.compute_dtype) for d in cell.state_size]
                )
            else:
                states.append(jnp.zeros((batch_size, cell.state_size), self.compute_dtype))
        return states

    def call(self, inputs, states, training=False):
        new_states = []
        for cell, cell_states in zip(self.cells, states, strict=True):
            was_list = _is_nested(cell_states)
            cell_states = list(cell_states) if was_list else [cell_states]
            inputs, cell_states = _cell_caller(cell, training)(inputs, cell_states)
            cell_states = list(cell_states) if _is_nested(cell_states) else [cell_states]
            if len(cell_states) == 1 and not was_list:
                cell_states = cell_states[0]
            new_states.append(cell_states)
        return inputs, new_states

    def build(self, input_shape):
        shape = tuple(input_shape)
        for cell in self.cells:
            _build_cell(cell, shape)
            shape = (shape[0], output_size_of(cell))
        self.built = True

    def get_config(self):
        from shoal.saving import serialization

        return {
            **super().get_config(),
            "cells": [serialization.serialize_keras_object(cell) for cell in self.cells],
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from shoal.saving import serialization

        config = dict(config)
        cells = [
            serialization.deserialize_keras_object(c, custom_objects=custom_objects)
            for c in config.pop("cells")
        ]
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = dtype_policies.get(config["dtype"])
        return cls(cells, **config)
