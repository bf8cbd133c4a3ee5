"""`GRUCell` and `GRU` (Cho et al. 2014), Keras 3 semantics.

Gates in Keras' order z (update), r (reset), h (candidate), concatenated along the last
axis of `kernel` (input_dim, 3 * units) and `recurrent_kernel` (units, 3 * units):

    reset_after=True (default, cuDNN-compatible): bias (2, 3 * units), rows input/recurrent
        hh = activation(x_h + r * (h @ U_h + b_rec_h))
    reset_after=False: bias (3 * units,)
        hh = activation(x_h + (r * h) @ U_h)
    h' = z * h + (1 - z) * hh

With `reset_after=False` a step needs TWO recurrent matmuls: `(r * h) @ U_h` needs `r`,
which needs `h @ U_r`. With `reset_after=True` it needs one.
"""

from __future__ import annotations

from shoal import activations
from shoal.layers.input_spec import InputSpec
from shoal.layers.recurrent.fused import (
    FusedRNN,
    FusedRNNCell,
    cell_property,
    check_layer_args,
    gate_activations,
)
from shoal.layers.recurrent.recurrence_vjp import StepMath


class GRUCell(FusedRNNCell):
    """One step of a GRU; one state `h` (batch, units)."""

    gates = 3

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
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
        reset_after=True,
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
        self.reset_after = bool(reset_after)
        self.implementation = 1 if self.recurrent_dropout else implementation
        self.dropout_mask_count = 3 if self.implementation == 1 else 1
        self.state_size = self.units

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self):
        if self.bias is None:
            return None
        bias = self._read(self.bias)
        return bias[0] if self.reset_after else bias

    def recurrent_bias(self):
        if not self.reset_after or self.bias is None:
            return None
        return self._read(self.bias)[1]

    def step_math(self):
        """reset_after only: the other variant needs two matmuls a step."""
        if not self.reset_after:
            return None
        act, rec = self.activation, self.recurrent_activation
        u = self.units

        def combine(update, reset, z_h, r_h, h):
            candidate = act(z_h + reset * r_h)
            return [update * h + (1 - update) * candidate]

        def wide(z, r, states):
            update, reset = gate_activations(z[:, : 2 * u] + r[:, : 2 * u], u, [rec, rec])
            return combine(update, reset, z[:, 2 * u :], r[:, 2 * u :], states[0])

        def per_gate(z, r, states):
            return combine(rec(z[0] + r[0]), rec(z[1] + r[1]), z[2], r[2], states[0])

        return StepMath(gates=3, additive=False, wide=wide, per_gate=per_gate)

    def recurrent_step(self, z, states, rec_mask=None):
        if self.reset_after:
            return super().recurrent_step(z, states, rec_mask)
        h = states[0]
        u = self.units
        rec = self.recurrent_matmul(h, rec_mask, gates=(0, 2))
        update, reset = gate_activations(z[:, : 2 * u] + rec, u, [self.recurrent_activation] * 2)
        h_c = h if rec_mask is None else h * rec_mask[-1]
        kernel_c = self._read(self.recurrent_kernel)[:, 2 * u :]
        candidate = self.activation(z[:, 2 * u :] + (reset * h_c) @ kernel_c)
        h = update * h + (1 - update) * candidate
        return h, [h]

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }


class GRU(FusedRNN):
    """Gated Recurrent Unit layer (Keras 3 `GRU`).

    Example:
        >>> GRU(4, return_sequences=True)(np.zeros((2, 5, 3), "float32")).shape
        (2, 5, 4)
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
        reset_after=True,
        use_cudnn="auto",
        **kwargs,
    ):
        check_layer_args(type(self).__name__, units, dropout, recurrent_dropout, seed)
        cell = GRUCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
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
            reset_after=reset_after,
            seed=seed,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="gru_cell",
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
    reset_after = cell_property("reset_after")
