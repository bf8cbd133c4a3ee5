"""Convolutional LSTM layers: ConvLSTM1D / ConvLSTM2D / ConvLSTM3D (Keras 3).

An LSTM whose input and recurrent transformations are convolutions. The weights
live on a `ConvLSTMCell` held as `cell` (Keras' layout and order: `kernel`
`(*kernel_size, in_channels, 4 * filters)`, `recurrent_kernel`
`(*kernel_size, filters, 4 * filters)`, `bias` `(4 * filters,)`, gates ordered
i, f, c, o), so `set_weights(keras_layer.get_weights())` works.

The layers are the recurrent package's generic `RNN` over a `ConvLSTMCell`, which
gives masking, `go_backwards`, `return_state`, `initial_state` and stateful states
(variables that are not weights) their Keras semantics. The cell speaks `RNN`'s fused
protocol: the input convolution does not depend on the state, so `project_inputs`
runs it once over every timestep (time folded into the batch) before the scan, and
`recurrent_step` does only the recurrent convolution, one for all four gates.
"""

from __future__ import annotations

import numbers

import jax.numpy as jnp

from shoal import activations, constraints, initializers, regularizers
from shoal.backend import naming
from shoal.layers import conv_utils as cu
from shoal.layers.base import Layer
from shoal.layers.input_spec import InputSpec
from shoal.layers.recurrent.dropout_masks import DropoutRNNCell
from shoal.layers.recurrent.rnn import RNN
from shoal.ops import cpu_conv
from shoal.random import SeedGenerator


def _serialize(module, obj):
    return None if obj is None else module.serialize(obj)


def _rate(layer, arg, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': argument '{arg}' must be a number "
            f"between 0 and 1, got {value!r}"
        )
    return float(value)


class ConvLSTMCell(DropoutRNNCell, Layer):
    """One step of a convolutional LSTM: `(x_t, [h, c]) -> (h_t, [h_t, c_t])`.

    Gates: `i = σ(x*Wi + h*Ui + bi)`, `f = σ(x*Wf + h*Uf + bf)`,
    `c_t = f c + i tanh(x*Wc + h*Uc + bc)`, `o = σ(x*Wo + h*Uo + bo)`,
    `h_t = o tanh(c_t)`, where `*` is the input convolution (the layer's strides,
    padding and dilation) or the recurrent one (stride 1, "same" padding).
    """

    def __init__(
        self,
        rank,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
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
        super().__init__(**kwargs)
        if rank not in (1, 2, 3):
            raise ValueError(
                f"ConvLSTMCell '{self.name}': argument 'rank' must be 1, 2 or 3, got {rank!r}"
            )
        self.rank = rank
        self.filters = cu.positive_int(self, "filters", filters)
        self.kernel_size = cu.int_tuple(self, "kernel_size", kernel_size, rank)
        self.strides = cu.int_tuple(self, "strides", strides, rank)
        self.padding = cu.padding_arg(self, padding)
        self.data_format = cu.data_format_arg(self, data_format)
        self.dilation_rate = cu.int_tuple(self, "dilation_rate", dilation_rate, rank)
        cu.no_strides_with_dilation(self, self.strides, self.dilation_rate)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = _rate(self, "dropout", dropout)
        self.recurrent_dropout = _rate(self, "recurrent_dropout", recurrent_dropout)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(
                f"ConvLSTMCell '{self.name}': argument 'seed' must be an integer or None, "
                f"got {seed!r}"
            )
        self.seed = seed
        self.seed_generator = SeedGenerator(seed)
        self.dropout_mask_count = 4
        self.input_spec = InputSpec(ndim=rank + 2)

    # -- shapes -------------------------------------------------------------------------
    @property
    def channel_axis(self) -> int:
        return cu.channel_axis(self.data_format)

    def build(self, inputs_shape, states_shape=None):
        inputs_shape = tuple(inputs_shape)
        spatial = cu.spatial_dims(inputs_shape, self.data_format)
        if len(inputs_shape) != self.rank + 2 or None in spatial:
            raise ValueError(
                f"ConvLSTMCell '{self.name}': each step's input must have rank {self.rank + 2} "
                f"with known spatial dimensions; got step input shape {inputs_shape}"
            )
        channels = inputs_shape[self.channel_axis]
        if channels is None:
            raise ValueError(
                f"ConvLSTMCell '{self.name}': the channel dimension of the input must be "
                f"known (data_format={self.data_format!r}); got step input shape {inputs_shape}"
            )
        self.spatial_dims = tuple(spatial)
        self.input_dim = int(channels)
        out = cu.spatial_dims(self.compute_output_shape(inputs_shape)[0], self.data_format)
        cu.check_output_positive(self, inputs_shape, out)
        self.input_spec = InputSpec(ndim=self.rank + 2, shape=(None,) + inputs_shape[1:])
        f = self.filters
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (self.input_dim, 4 * f),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel",
            shape=self.kernel_size + (f, 4 * f),
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            if self.unit_forget_bias:
                base = self.bias_initializer

                def bias_initializer(shape, dtype=None):
                    return jnp.concatenate(
                        [
                            base((f,), dtype=dtype),
                            jnp.ones((f,), dtype=dtype),
                            base((2 * f,), dtype=dtype),
                        ]
                    )

            else:
                bias_initializer = self.bias_initializer
            self.bias = self.add_weight(
                name="bias",
                shape=(4 * f,),
                initializer=bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.built = True

    @property
    def state_size(self):
        return [self.filters, self.filters]

    def compute_output_shape(self, inputs_shape, states_shape=None):
        inputs_shape = tuple(inputs_shape)
        spatial = [
            cu.conv_output_length(n, k, s, self.padding, d)
            for n, k, s, d in zip(
                cu.spatial_dims(inputs_shape, self.data_format),
                self.kernel_size,
                self.strides,
                self.dilation_rate,
                strict=True,
            )
        ]
        shape = cu.with_spatial(inputs_shape, spatial, self.filters, self.data_format)
        return shape, [shape, shape]

    def get_initial_state(self, batch_size=None):
        step = cu.with_spatial((batch_size,), self.spatial_dims, self.input_dim, self.data_format)
        shape = self.compute_output_shape(step)[0]
        zeros = jnp.zeros(shape, dtype=self.compute_dtype)
        return [zeros, zeros]

    # -- convolutions -------------------------------------------------------------------
    def _read(self, variable):
        value = variable.value
        return value if value.dtype == self.compute_dtype else value.astype(self.compute_dtype)

    def _dimension_numbers(self):
        return cu.dimension_numbers(self.rank, self.data_format)

    def _bias_shape(self, channels):
        if self.data_format == "channels_last":
            return (channels,)
        return (channels,) + (1,) * self.rank

    def input_conv(self, x, kernel, bias=None):
        out = cpu_conv.conv_general_dilated(
            x,
            kernel,
            self.strides,
            self.padding.upper(),
            rhs_dilation=self.dilation_rate,
            dimension_numbers=self._dimension_numbers(),
        )
        if bias is not None:
            out = out + bias.reshape(self._bias_shape(bias.shape[0]))
        return out

    def recurrent_conv(self, h, kernel):
        # Inside the time loop: im2col on CPU (cpu_conv), whose kernel gradient XLA:CPU
        # otherwise computes ~10x slower there.
        return cpu_conv.conv_general_dilated(
            h,
            kernel,
            (1,) * self.rank,
            "SAME",
            dimension_numbers=self._dimension_numbers(),
            in_loop=True,
        )

    # -- RNN's fused protocol -----------------------------------------------------------
    fuses_sequence = True

    def step_input_shape(self, batch):
        return cu.with_spatial((batch,), self.spatial_dims, self.input_dim, self.data_format)

    def recurrent_mask_shape(self, batch):
        return tuple(self.compute_output_shape(self.step_input_shape(batch))[0])

    def dropout_masks(self, step_input_shape, training):
        """(input masks (4, *step shape), recurrent masks (4, *state shape)) or Nones.

        Only the batch size is read from `step_input_shape`: the step shape of a
        convolutional cell is known from its build.
        """
        if not training:
            return None, None
        if self._cached_masks is not None:
            return self._cached_masks
        return self.draw_dropout_masks(self.step_input_shape(step_input_shape[0]))

    def project_inputs(self, sequences, dp_mask=None):
        """The input convolution and bias of every gate for every timestep, time-major.

        sequences `(batch, T, *step)` -> `(T, batch, *state spatial, 4 * filters)`
        (channels-first: `(T, batch, 4 * filters, *spatial)`). One convolution over
        `batch * T` samples; with input dropout, one per gate (each its own mask).
        """
        batch, steps = sequences.shape[0], sequences.shape[1]
        step_shape = tuple(sequences.shape[2:])
        kernel = self._read(self.kernel)
        bias = self._read(self.bias) if self.bias is not None else None
        if dp_mask is None:
            folded = sequences.reshape((batch * steps,) + step_shape)
            z = self.input_conv(folded, kernel, bias)
        else:
            kernels = jnp.split(kernel, 4, axis=-1)
            biases = jnp.split(bias, 4) if bias is not None else [None] * 4
            parts = []
            for gate in range(4):
                mask = dp_mask[gate if dp_mask.shape[0] > 1 else 0][:, None]
                folded = (sequences * mask).reshape((batch * steps,) + step_shape)
                parts.append(self.input_conv(folded, kernels[gate], biases[gate]))
            z = jnp.concatenate(parts, axis=self.channel_axis)
        z = z.reshape((batch, steps) + tuple(z.shape[1:]))
        return jnp.swapaxes(z, 0, 1)

    def recurrent_step(self, z, states, rec_mask=None):
        """(input pre-activations of one step, [h, c]) -> (h', [h', c'])."""
        h_tm1, c_tm1 = states[0], states[1]
        kernel = self._read(self.recurrent_kernel)
        if rec_mask is None:
            z = z + self.recurrent_conv(h_tm1, kernel)
        else:
            kernels = jnp.split(kernel, 4, axis=-1)
            parts = [
                self.recurrent_conv(h_tm1 * rec_mask[g if rec_mask.shape[0] > 1 else 0], k)
                for g, k in enumerate(kernels)
            ]
            z = z + jnp.concatenate(parts, axis=self.channel_axis)
        z_i, z_f, z_c, z_o = jnp.split(z, 4, axis=self.channel_axis)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_tm1 + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]

    def call(self, inputs, states, training=False):
        """One timestep on its own (inside an RNN the fused methods above run instead)."""
        dp_mask, rec_mask = self.dropout_masks(tuple(inputs.shape), training)
        z = self.project_inputs(inputs[:, None], dp_mask)[0]
        return self.recurrent_step(z, list(states), rec_mask)

    def get_config(self):
        return {
            **super().get_config(),
            "rank": self.rank,
            **_cell_config(self),
        }


def _cell_config(cell) -> dict:
    return {
        "filters": cell.filters,
        "kernel_size": cell.kernel_size,
        "strides": cell.strides,
        "padding": cell.padding,
        "data_format": cell.data_format,
        "dilation_rate": cell.dilation_rate,
        "activation": activations.serialize(cell.activation),
        "recurrent_activation": activations.serialize(cell.recurrent_activation),
        "use_bias": cell.use_bias,
        "kernel_initializer": initializers.serialize(cell.kernel_initializer),
        "recurrent_initializer": initializers.serialize(cell.recurrent_initializer),
        "bias_initializer": initializers.serialize(cell.bias_initializer),
        "unit_forget_bias": cell.unit_forget_bias,
        "kernel_regularizer": _serialize(regularizers, cell.kernel_regularizer),
        "recurrent_regularizer": _serialize(regularizers, cell.recurrent_regularizer),
        "bias_regularizer": _serialize(regularizers, cell.bias_regularizer),
        "kernel_constraint": _serialize(constraints, cell.kernel_constraint),
        "recurrent_constraint": _serialize(constraints, cell.recurrent_constraint),
        "bias_constraint": _serialize(constraints, cell.bias_constraint),
        "dropout": cell.dropout,
        "recurrent_dropout": cell.recurrent_dropout,
        "seed": cell.seed,
    }


_CELL_ARGS = (
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "data_format",
    "dilation_rate",
    "activation",
    "recurrent_activation",
    "use_bias",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "unit_forget_bias",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "dropout",
    "recurrent_dropout",
    "seed",
)


class ConvLSTM(RNN):
    """N-D convolutional LSTM over `(batch, time, *spatial, channels)` sequences.

    Base of ConvLSTM1D/2D/3D (see those for the arguments): an `RNN` over a
    `ConvLSTMCell`. Call arguments: `sequences`, `initial_state` (`[h, c]`), `mask`
    (`(batch, time)` booleans; masked steps keep the previous state), `training`
    (enables dropout).
    """

    rank: int = 0

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
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
        **kwargs,
    ):
        # The cell is made (and the arguments checked) before Layer.__init__ runs; name
        # the layer first so argument errors say "ConvLSTM2D 'conv_lstm2d': ...".
        name = kwargs.pop("name", None) or naming.auto_name(type(self).__name__)
        object.__setattr__(self, "name", name)
        rank = self.rank
        filters = cu.positive_int(self, "filters", filters)
        kernel_size = cu.int_tuple(self, "kernel_size", kernel_size, rank)
        strides = cu.int_tuple(self, "strides", strides, rank)
        padding = cu.padding_arg(self, padding)
        data_format = cu.data_format_arg(self, data_format)
        dilation_rate = cu.int_tuple(self, "dilation_rate", dilation_rate, rank)
        cu.no_strides_with_dilation(self, strides, dilation_rate)
        dropout = _rate(self, "dropout", dropout)
        recurrent_dropout = _rate(self, "recurrent_dropout", recurrent_dropout)
        cell = ConvLSTMCell(
            rank=rank,
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            name="conv_lstm_cell",
            dtype=kwargs.get("dtype"),
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            activity_regularizer=activity_regularizer,
            name=name,
            **kwargs,
        )
        self.input_spec = InputSpec(ndim=rank + 3)

    def _check_sequences_shape(self, sequences_shape):
        shape = tuple(sequences_shape)
        if len(shape) != self.rank + 3:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': argument 'sequences' must have rank "
                f"{self.rank + 3} (batch, time, {self.rank} spatial dims and channels), got "
                f"an input of shape {shape}"
            )
        return shape

    def build(self, sequences_shape, initial_state_shape=None):
        shape = self._check_sequences_shape(sequences_shape)
        step = (shape[0],) + shape[2:]
        spatial = cu.spatial_dims(step, self.data_format)
        if None in spatial or step[cu.channel_axis(self.data_format)] is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': argument 'sequences' must have known "
                f"spatial and channel dimensions (data_format={self.data_format!r}); got "
                f"an input of shape {shape}"
            )
        state = self.cell.compute_output_shape(step)[0]
        cu.check_output_positive(self, step, cu.spatial_dims(state, self.data_format))
        super().build(shape, initial_state_shape)

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        shape = self._check_sequences_shape(sequences_shape)
        batch, steps = shape[0], shape[1]
        state = tuple(self.cell.compute_output_shape((batch,) + shape[2:])[0])
        output = (batch, steps) + state[1:] if self.return_sequences else state
        if self.return_state:
            return [output, state, state]
        return output

    def get_config(self):
        config = {**super().get_config(), **_cell_config(self.cell)}
        del config["cell"]
        config["activity_regularizer"] = _serialize(regularizers, self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return Layer.from_config.__func__(cls, config)


def _cell_property(name):
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's `{name}`.")


# Hyper-parameters read through the layer (layer.filters, layer.padding, ...), as in Keras.
for _name in _CELL_ARGS:
    setattr(ConvLSTM, _name, _cell_property(_name))


class ConvLSTM1D(ConvLSTM):
    """1D convolutional LSTM: inputs `(batch, time, steps, channels)` (channels_last).

    Like an LSTM, but the input and recurrent transformations are 1D convolutions.

    Args:
        filters: number of output filters.
        kernel_size: int or tuple of 1 int.
        strides, padding ("valid"/"same"), data_format, dilation_rate: as Conv1D
            (strides > 1 and dilation_rate > 1 cannot be combined).
        activation: default "tanh". recurrent_activation: default "sigmoid".
        use_bias, kernel_initializer ("glorot_uniform"), recurrent_initializer
            ("orthogonal"), bias_initializer ("zeros"), unit_forget_bias (add 1 to
            the forget gate's bias at initialization), *_regularizer, *_constraint.
        dropout, recurrent_dropout: drop rates for the input / recurrent
            transformations (one mask per sequence); seed: their seed.
        return_sequences, return_state, go_backwards, stateful: as LSTM.

    Output: `(batch, new_steps, filters)`, or `(batch, time, new_steps, filters)`
    with `return_sequences=True`; with `return_state=True` also `h` and `c`.
    """

    rank = 1


class ConvLSTM2D(ConvLSTM):
    """2D convolutional LSTM: inputs `(batch, time, rows, cols, channels)` (channels_last).

    Same arguments as ConvLSTM1D with 2D kernels. Output:
    `(batch, new_rows, new_cols, filters)`, or with `return_sequences=True`
    `(batch, time, new_rows, new_cols, filters)`.

    Example:
        >>> x = np.zeros((2, 4, 8, 8, 3), "float32")
        >>> ConvLSTM2D(6, 3, padding="same", return_sequences=True)(x).shape
        (2, 4, 8, 8, 6)
    """

    rank = 2


class ConvLSTM3D(ConvLSTM):
    """3D convolutional LSTM: inputs `(batch, time, d1, d2, d3, channels)` (channels_last).

    Same arguments as ConvLSTM1D with 3D kernels.
    """

    rank = 3
