"""Convolution layers: the shared base and Conv1D / Conv2D / Conv3D.

Kernels use Keras' layout `(*kernel_size, in_channels // groups, filters)`, so
weights interchange with Keras; `jax.lax.conv_general_dilated` does the work
in either data format.
"""

from __future__ import annotations

import jax.numpy as jnp

from shoal import activations, constraints, initializers, regularizers
from shoal.layers import conv_utils as cu
from shoal.layers.base import Layer
from shoal.layers.input_spec import InputSpec
from shoal.layers.lora import LoRAKernel
from shoal.ops import cpu_conv


def _serialize(module, obj):
    return None if obj is None else module.serialize(obj)


class BaseConv(Layer):
    """What every convolution shares: window arguments, bias, activation, input checks.

    Subclasses set `rank` and implement `build` / `_convolve` / `_output_channels`.
    """

    rank: int = 0
    _allow_causal = False

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        bias_initializer="zeros",
        bias_regularizer=None,
        bias_constraint=None,
        activity_regularizer=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        rank = self.rank
        self.kernel_size = cu.int_tuple(self, "kernel_size", kernel_size, rank)
        self.strides = cu.int_tuple(self, "strides", strides, rank)
        self.dilation_rate = cu.int_tuple(self, "dilation_rate", dilation_rate, rank)
        self.padding = cu.padding_arg(self, padding, allow_causal=self._allow_causal)
        self.data_format = cu.data_format_arg(self, data_format)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(ndim=rank + 2)

    # -- shared pieces -------------------------------------------------------
    def _build_common(self, input_shape) -> int:
        """Check the input shape, pin the channel count in input_spec; return channels."""
        channels = cu.input_channels(self, input_shape, self.rank)
        self.input_spec = InputSpec(
            ndim=self.rank + 2, axes={cu.channel_axis(self.data_format): channels}
        )
        return channels

    def _check_output(self, input_shape, output_shape) -> None:
        cu.check_output_positive(self, input_shape, cu.spatial_dims(output_shape, self.data_format))

    def _add_bias(self, channels: int) -> None:
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(channels,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def _read(self, variable):
        # Mixed precision: variables are stored in variable_dtype, computed in compute_dtype.
        value = variable.value
        return value if value.dtype == self.compute_dtype else value.astype(self.compute_dtype)

    def _lax_padding(self):
        return self.padding.upper()

    def _finish(self, outputs):
        if self.bias is not None:
            bias = self._read(self.bias)
            if self.data_format == "channels_first":
                bias = bias.reshape((-1,) + (1,) * self.rank)
            outputs = outputs + bias
        return self.activation(outputs) if self.activation is not None else outputs

    def _cast_inputs(self, inputs):
        inputs = jnp.asarray(inputs)
        return inputs if inputs.dtype == self.compute_dtype else inputs.astype(self.compute_dtype)

    def _output_shape(self, input_shape, channels):
        input_shape = cu.check_rank(self, input_shape, self.rank)
        spatial = [
            cu.conv_output_length(n, k, s, self.padding, d)
            for n, k, s, d in zip(
                cu.spatial_dims(input_shape, self.data_format),
                self.kernel_size,
                self.strides,
                self.dilation_rate,
                strict=True,
            )
        ]
        return cu.with_spatial(input_shape, spatial, channels, self.data_format)

    def _base_config(self) -> dict:
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "bias_regularizer": _serialize(regularizers, self.bias_regularizer),
            "activity_regularizer": _serialize(regularizers, self.activity_regularizer),
            "bias_constraint": _serialize(constraints, self.bias_constraint),
        }


class Conv(LoRAKernel, BaseConv):
    """N-D convolution (cross-correlation) with optional groups, bias and activation.

    `lora_rank` (or `enable_lora(rank)` once built) freezes the kernel and learns a low-rank
    update of it, as Keras' Conv1D/2D/3D (see `shoal.layers.lora`).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        lora_rank=None,
        lora_alpha=None,
        **kwargs,
    ):
        super().__init__(
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            bias_initializer=bias_initializer,
            bias_regularizer=bias_regularizer,
            bias_constraint=bias_constraint,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
        self.filters = cu.positive_int(self, "filters", filters)
        self.groups = cu.positive_int(self, "groups", groups)
        if self.filters % self.groups:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': argument 'filters' must be divisible by "
                f"'groups'; got filters={self.filters}, groups={self.groups}"
            )
        cu.no_strides_with_dilation(self, self.strides, self.dilation_rate)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self._init_lora(lora_rank, lora_alpha)

    def build(self, input_shape):
        channels = self._build_common(input_shape)
        if channels % self.groups:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the number of input channels must be "
                f"divisible by 'groups'; got {channels} channels (input shape "
                f"{tuple(input_shape)}) and groups={self.groups}"
            )
        self._check_output(input_shape, self.compute_output_shape(input_shape))
        self._kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (channels // self.groups, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self._add_bias(self.filters)
        self.built = True
        self._maybe_enable_lora()

    def _lax_padding(self):
        if self.padding == "causal":
            # Pad the past only, so output[t] sees input[:t + 1].
            return [(self.dilation_rate[0] * (self.kernel_size[0] - 1), 0)]
        return self.padding.upper()

    def convolution_op(self, inputs, kernel):
        """The convolution alone (no bias, no activation): Keras' hook for custom convolutions.

        A subclass overriding it (weight standardization, say) keeps the rest of the layer.
        """
        return cpu_conv.conv_general_dilated(
            self._cast_inputs(inputs),
            kernel,
            window_strides=self.strides,
            padding=self._lax_padding(),
            rhs_dilation=self.dilation_rate,
            dimension_numbers=cu.dimension_numbers(self.rank, self.data_format),
            feature_group_count=self.groups,
        )

    def call(self, inputs):
        kernel = self._kernel_value()  # merged with the LoRA update when that is on
        kernel = kernel if kernel.dtype == self.compute_dtype else kernel.astype(self.compute_dtype)
        return self._finish(self.convolution_op(inputs, kernel))

    def compute_output_shape(self, input_shape):
        return self._output_shape(input_shape, self.filters)

    def get_config(self):
        return {
            **self._base_config(),
            "filters": self.filters,
            "groups": self.groups,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": _serialize(regularizers, self.kernel_regularizer),
            "kernel_constraint": _serialize(constraints, self.kernel_constraint),
            **self._lora_config(),
        }


class Conv1D(Conv):
    """1D convolution over `(batch, steps, channels)`; padding may also be 'causal'.

    Example:
        >>> layer = Conv1D(filters=4, kernel_size=3, padding="causal")
        >>> layer(np.zeros((2, 10, 3), "float32")).shape
        (2, 10, 4)
    """

    rank = 1
    _allow_causal = True


class Conv2D(Conv):
    """2D convolution over `(batch, height, width, channels)` (or channels_first).

    Example:
        >>> Conv2D(8, 3, strides=2, padding="same")(np.zeros((1, 8, 8, 3), "float32")).shape
        (1, 4, 4, 8)
    """

    rank = 2


class Conv3D(Conv):
    """3D convolution over `(batch, depth, height, width, channels)` (or channels_first)."""

    rank = 3


Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution3D = Conv3D
