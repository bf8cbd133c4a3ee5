"""`LSTMCell` and `LSTM` (Hochreiter & Schmidhuber 1997), Keras 3 semantics.

Gates in Keras' order i, f, c, o, concatenated along the last axis of `kernel`
(input_dim, 4 * units), `recurrent_kernel` (units, 4 * units) and `bias` (4 * units,):

    z = x @ kernel + h @ recurrent_kernel + bias
    i, f, o = recurrent_activation(z_i, z_f, z_o);  g = activation(z_c)
    c' = f * c + i * g;  h' = o * activation(c')
"""

from __future__ import annotations

import jax.numpy as jnp

from shoal import activations, initializers
from shoal.layers.input_spec import InputSpec
from shoal.layers.recurrent.fused import (
    FusedRNN,
    FusedRNNCell,
    cell_property,
    check_layer_args,
    gate_activations,
)
from shoal.layers.recurrent.recurrence_vjp import StepMath


class LSTMCell(FusedRNNCell):
    """One step of an LSTM; states are `[h, c]`, both (batch, units).

    `unit_forget_bias=True` initialises the forget gate's bias to ones. With
    `recurrent_dropout` each gate gets its own dropout masks, as in Keras.
    """

    gates = 4

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
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
        implementation = kwargs.pop("implementation", 2)
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            **kwargs,
        )
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        # Keras' implementation 1 (forced by recurrent dropout): one dropout mask per gate.
        self.implementation = 1 if self.recurrent_dropout else implementation
        self.dropout_mask_count = 4 if self.implementation == 1 else 1
        self.state_size = [self.units, self.units]

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, init = self.units, self.bias_initializer

        def bias_initializer(shape, dtype=None):
            return jnp.concatenate(
                [
                    init((units,), dtype=dtype),
                    initializers.get("ones")((units,), dtype=dtype),
                    init((2 * units,), dtype=dtype),
                ]
            )

        return bias_initializer

    def _combine(self, i, f, g, o, states):
        c = f * states[1] + i * g
        return [o * self.activation(c), c]

    def step_math(self):
        act, rec = self.activation, self.recurrent_activation

        def wide(pre, _, states):
            return self._combine(*gate_activations(pre, self.units, [rec, rec, act, rec]), states)

        def per_gate(gates, _, states):
            i, f, g, o = gates
            return self._combine(rec(i), rec(f), act(g), rec(o), states)

        return StepMath(
            gates=4,
            additive=True,
            wide=wide,
            per_gate=per_gate,
            activations=(rec, rec, act, rec),
            combine=lambda acts, states: self._combine(*acts, states),
        )

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


class LSTM(FusedRNN):
    """Long Short-Term Memory layer (Keras 3 `LSTM`).

    Example:
        >>> out, h, c = LSTM(4, return_state=True)(np.zeros((2, 5, 3), "float32"))
        >>> out.shape, h.shape, c.shape
        ((2, 4), (2, 4), (2, 4))
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        use_cudnn="auto",
        **kwargs,
    ):
        check_layer_args(type(self).__name__, units, dropout, recurrent_dropout, seed)
        cell = LSTMCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            unit_forget_bias=unit_forget_bias,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="lstm_cell",
            implementation=kwargs.pop("implementation", 2),
        )
        super().__init__(
            cell,
            use_cudnn=use_cudnn,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
        self.input_spec = InputSpec(ndim=3)

    recurrent_activation = cell_property("recurrent_activation")
    unit_forget_bias = cell_property("unit_forget_bias")
