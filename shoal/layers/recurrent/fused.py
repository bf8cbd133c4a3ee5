"""`FusedRNNCell` / `FusedRNN`: the shared machinery of SimpleRNN, LSTM and GRU.

A fused cell splits a step in two: `project_inputs` (`x @ kernel + bias`, which does not
depend on the state) and `recurrent_step` (what does). `RNN` runs `project_inputs` on the
whole sequence as ONE matmul before its `lax.scan`, so that each step does only the
recurrent part, ONE matmul `h @ recurrent_kernel` for all gates. Called on its own, a cell
does both halves for one step.

A cell whose step is that one matmul then pointwise math also describes the math
(`step_math()`, a `recurrence_vjp.StepMath`), and `RNN` runs it as one custom VJP
(`recurrence_vjp.py`). Its gates are computed on the `(batch, gates, units)` reshape of
the pre-activations, one activation call for all the gates that share it, rather than on
`gates` slices: XLA:CPU runs each slice, and its padded-back gradient, as separate kernels.
"""

from __future__ import annotations

import jax.numpy as jnp

from shoal import activations, constraints, initializers, regularizers
from shoal.backend import dtype_policy as dtype_policies
from shoal.layers.base import Layer
from shoal.layers.recurrent.dropout_masks import DropoutRNNCell, check_rate
from shoal.layers.recurrent.rnn import RNN, _is_nested, _serialize, check_seed, check_units
from shoal.random import SeedGenerator

# The built-in activations act elementwise or along the last axis only, so applying one to
# `(batch, gates, units)` equals applying it to each `(batch, units)` gate. A custom
# activation may not (Keras hands it `(batch, units)`): it gets the gate slices.
_LAST_AXIS_ACTIVATIONS = frozenset(
    id(getattr(activations, name))
    for name in activations.__all__
    if name not in ("deserialize", "get", "serialize")
)


def gate_activations(pre, units, activation_of_gate):
    """`[activation_of_gate[k](gate k of pre)]` for pre (batch, gates * units).

    A built-in activation shared by several gates is ONE call on the
    `(batch, gates, units)` reshape (one kernel on XLA:CPU, not one per gate slice).
    """
    if not all(id(fn) in _LAST_AXIS_ACTIVATIONS for fn in activation_of_gate):
        return [fn(pre[:, k * units : (k + 1) * units]) for k, fn in enumerate(activation_of_gate)]
    wide = pre.reshape(pre.shape[0], len(activation_of_gate), units)
    shared = {id(fn): fn(wide) for fn in activation_of_gate if activation_of_gate.count(fn) > 1}
    return [
        shared[id(fn)][:, k] if id(fn) in shared else fn(wide[:, k])
        for k, fn in enumerate(activation_of_gate)
    ]


class FusedRNNCell(DropoutRNNCell, Layer):
    """Base of SimpleRNNCell, LSTMCell and GRUCell: `gates` gates of `units` units.

    Weights (Keras names, shapes and order): `kernel` (input_dim, gates * units),
    `recurrent_kernel` (units, gates * units), `bias`. Subclasses define the bias
    (`_bias_shape`, `_bias_initializer`, `_input_bias`) and `recurrent_step`, the part of a
    step that depends on the previous state. `call` (one step) is `project_inputs` then
    `recurrent_step`; `RNN` runs `project_inputs` on the whole sequence at once instead.
    """

    gates = 1

    @property
    def fuses_sequence(self) -> bool:
        # A subclass that overrides `call` gets the generic per-step loop, which runs it.
        return type(self).call is FusedRNNCell.call

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        owner = type(self).__name__
        units = check_units(owner, units)
        dropout = check_rate(owner, "dropout", dropout)
        recurrent_dropout = check_rate(owner, "recurrent_dropout", recurrent_dropout)
        seed = check_seed(owner, seed)
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.seed = seed
        self.seed_generator = SeedGenerator(seed)
        self.output_size = units

    # -- weights -----------------------------------------------------------------
    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def _input_bias(self):
        return None if self.bias is None else self._read(self.bias)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the last dimension of the inputs "
                f"must be known; got input shape {tuple(input_shape)}"
            )
        width = self.gates * self.units
        self.kernel = self.add_weight(
            shape=(input_dim, width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self._bias_shape(),
                name="bias",
                initializer=self._bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.built = True

    def _read(self, variable):
        value = variable.value
        return value if value.dtype == self.compute_dtype else value.astype(self.compute_dtype)

    # -- the two halves of a step ---------------------------------------------------
    def project_inputs(self, sequences, dp_mask=None):
        """`x @ kernel + input bias` for every timestep, as ONE matmul, time-major.

        sequences (batch, T, features) -> (T, batch, gates * units). `dp_mask` is
        (1 or gates, batch, features): one input dropout mask, or one per gate.
        """
        kernel = self._read(self.kernel)
        # Time-major first: transposing the (narrow) inputs is much cheaper than the
        # (gates * units wide) result, and XLA:CPU runs `(T, B, F) @ (F, K)` as one GEMM.
        x = jnp.swapaxes(sequences, 0, 1)
        if dp_mask is None or dp_mask.shape[0] == 1:
            z = (x if dp_mask is None else x * dp_mask[0]) @ kernel
        else:  # one mask per gate: a batched matmul over the gates
            gates = dp_mask.shape[0]
            steps, batch, features = x.shape
            xg = x[None] * dp_mask[:, None]  # (gates, T, batch, features)
            kg = jnp.moveaxis(kernel.reshape(features, gates, self.units), 1, 0)
            z = jnp.matmul(xg, kg[:, None])  # (gates, T, batch, units)
            z = jnp.moveaxis(z, 0, 2).reshape(steps, batch, gates * self.units)
        bias = self._input_bias()
        return z if bias is None else z + bias

    def recurrent_matmul(self, h, rec_mask=None, gates=None):
        """`h @ recurrent_kernel[:, gates]` as ONE matmul (per-gate masks: a batched one)."""
        lo, hi = gates if gates is not None else (0, self.gates)
        units = self.units
        kernel = self._read(self.recurrent_kernel)[:, lo * units : hi * units]
        if rec_mask is None:
            return h @ kernel
        if rec_mask.shape[0] == 1:
            return (h * rec_mask[0]) @ kernel
        n = hi - lo
        kg = jnp.moveaxis(kernel.reshape(units, n, units), 1, 0)  # (n, units, units)
        out = jnp.matmul(h[None] * rec_mask[lo:hi], kg)  # (n, batch, units): one matmul
        return jnp.moveaxis(out, 0, 1).reshape(h.shape[0], n * units)

    def recurrent_bias(self):
        """The bias added to `h @ recurrent_kernel` (GRU's reset_after), else None."""
        return None

    def step_math(self):
        """The step as a `recurrence_vjp.StepMath` for `RNN`'s fast path, or None."""
        return None

    def recurrent_step(self, z, states, rec_mask=None):
        """(projected inputs of one step, states) -> (output, new states list)."""
        math = self.step_math()
        if math is None:
            raise NotImplementedError
        r = self.recurrent_matmul(states[0], rec_mask)
        bias = self.recurrent_bias()
        r = r if bias is None else r + bias
        new_states = math.wide(z + r, None, states) if math.additive else math.wide(z, r, states)
        return new_states[0], new_states

    def call(self, inputs, states, training=False):
        nested = _is_nested(states)
        states = list(states) if nested else [states]
        dp_mask, rec_mask = self.dropout_masks(tuple(inputs.shape), training)
        z = self.project_inputs(inputs[:, None, :], dp_mask)[0]
        output, new_states = self.recurrent_step(z, states, rec_mask)
        if not nested and len(new_states) == 1:
            new_states = new_states[0]
        return output, new_states

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if _is_nested(self.state_size) else [self.state_size]
        return [jnp.zeros((batch_size, d), dtype=self.compute_dtype) for d in sizes]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _serialize(regularizers, self.kernel_regularizer),
            "recurrent_regularizer": _serialize(regularizers, self.recurrent_regularizer),
            "bias_regularizer": _serialize(regularizers, self.bias_regularizer),
            "kernel_constraint": _serialize(constraints, self.kernel_constraint),
            "recurrent_constraint": _serialize(constraints, self.recurrent_constraint),
            "bias_constraint": _serialize(constraints, self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }


_LAYER_BASE_KEYS = ("name", "trainable", "dtype", "batch_input_shape")


class FusedRNN(RNN):
    """Base of SimpleRNN, LSTM and GRU: an RNN over one fused cell, configured flat.

    The cell's arguments are the layer's (`layer.units` reads `layer.cell.units`), and
    `get_config()` lists them in place of a nested cell config, as Keras does.
    """

    def __init__(self, cell, use_cudnn="auto", **kwargs):
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                f"{type(self).__name__}: argument 'use_cudnn' must be one of 'auto', True, "
                f"False; got {use_cudnn!r}"
            )
        super().__init__(cell, **kwargs)
        self.use_cudnn = use_cudnn

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        cell_config = {k: v for k, v in self.cell.get_config().items() if k not in _LAYER_BASE_KEYS}
        return {
            **config,
            **cell_config,
            "activity_regularizer": _serialize(regularizers, self.activity_regularizer),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = dtype_policies.get(config["dtype"])
        return cls(**config)


def cell_property(name: str):
    """A read-only layer property forwarding to the cell's attribute `name`."""
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's `{name}`.")


# Arguments every fused layer forwards to its cell (`layer.units` reads `layer.cell.units`);
# LSTM and GRU add their own few.
for _name in (
    "units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer",
    "bias_initializer", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
    "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
    "recurrent_dropout",
):  # fmt: skip
    setattr(FusedRNN, _name, cell_property(_name))


def check_layer_args(owner: str, units, dropout, recurrent_dropout, seed) -> None:
    """Validate the arguments a layer hands to its cell, so that errors name the layer."""
    check_units(owner, units)
    check_rate(owner, "dropout", dropout)
    check_rate(owner, "recurrent_dropout", recurrent_dropout)
    check_seed(owner, seed)
