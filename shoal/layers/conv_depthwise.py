"""Depthwise and separable convolutions: DepthwiseConv1D/2D, SeparableConv1D/2D.

A depthwise convolution convolves every input channel with its own
`depth_multiplier` filters (kernel `(*kernel_size, in_channels, depth_multiplier)`,
output channel `c * depth_multiplier + m`); it is a grouped convolution with one
group per input channel. A separable convolution follows it with a 1x1
("pointwise") convolution to `filters` channels.
"""

from __future__ import annotations

from jax import lax

from shoal import constraints, initializers, regularizers
from shoal.layers import conv_utils as cu
from shoal.layers.conv import BaseConv, _serialize


class _DepthwiseBase(BaseConv):
    def _init_depthwise(self, depth_multiplier, initializer, regularizer, constraint):
        self.depth_multiplier = cu.positive_int(self, "depth_multiplier", depth_multiplier)
        self.depthwise_initializer = initializers.get(initializer)
        self.depthwise_regularizer = regularizers.get(regularizer)
        self.depthwise_constraint = constraints.get(constraint)

    def _depthwise(self, inputs, kernel):
        channels = inputs.shape[cu.channel_axis(self.data_format)]
        kernel = kernel.reshape(self.kernel_size + (1, channels * self.depth_multiplier))
        return lax.conv_general_dilated(
            inputs,
            kernel,
            window_strides=self.strides,
            padding=self.padding.upper(),
            rhs_dilation=self.dilation_rate,
            dimension_numbers=cu.dimension_numbers(self.rank, self.data_format),
            feature_group_count=channels,
        )

    def _depthwise_config(self) -> dict:
        return {
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "depthwise_regularizer": _serialize(regularizers, self.depthwise_regularizer),
            "depthwise_constraint": _serialize(constraints, self.depthwise_constraint),
        }


class DepthwiseConv(_DepthwiseBase):
    """N-D depthwise convolution; output channels = in_channels * depth_multiplier."""

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
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
        self._init_depthwise(
            depth_multiplier, depthwise_initializer, depthwise_regularizer, depthwise_constraint
        )

    def build(self, input_shape):
        channels = self._build_common(input_shape)
        self._check_output(input_shape, self.compute_output_shape(input_shape))
        # Keras names this weight "kernel" (attribute `kernel`); keep it for interchange.
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (channels, self.depth_multiplier),
            initializer=self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
        )
        self._add_bias(channels * self.depth_multiplier)
        self.built = True

    def call(self, inputs):
        outputs = self._depthwise(self._cast_inputs(inputs), self._read(self.kernel))
        return self._finish(outputs)

    def compute_output_shape(self, input_shape):
        channels = cu.check_rank(self, input_shape, self.rank)[cu.channel_axis(self.data_format)]
        out_channels = None if channels is None else channels * self.depth_multiplier
        return self._output_shape(input_shape, out_channels)

    def get_config(self):
        return {**self._base_config(), **self._depthwise_config()}


class SeparableConv(_DepthwiseBase):
    """Depthwise convolution followed by a pointwise (1x1) convolution to `filters`."""

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        depth_multiplier=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        pointwise_constraint=None,
        bias_constraint=None,
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
        self._init_depthwise(
            depth_multiplier, depthwise_initializer, depthwise_regularizer, depthwise_constraint
        )
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape):
        channels = self._build_common(input_shape)
        self._check_output(input_shape, self.compute_output_shape(input_shape))
        self.depthwise_kernel = self.add_weight(
            name="depthwise_kernel",
            shape=self.kernel_size + (channels, self.depth_multiplier),
            initializer=self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
        )
        self.pointwise_kernel = self.add_weight(
            name="pointwise_kernel",
            shape=(1,) * self.rank + (channels * self.depth_multiplier, self.filters),
            initializer=self.pointwise_initializer,
            regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint,
        )
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs):
        depthwise = self._depthwise(self._cast_inputs(inputs), self._read(self.depthwise_kernel))
        outputs = lax.conv_general_dilated(
            depthwise,
            self._read(self.pointwise_kernel),
            window_strides=(1,) * self.rank,
            padding="VALID",
            dimension_numbers=cu.dimension_numbers(self.rank, self.data_format),
        )
        return self._finish(outputs)

    def compute_output_shape(self, input_shape):
        return self._output_shape(input_shape, self.filters)

    def get_config(self):
        return {
            **self._base_config(),
            **self._depthwise_config(),
            "filters": self.filters,
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "pointwise_regularizer": _serialize(regularizers, self.pointwise_regularizer),
            "pointwise_constraint": _serialize(constraints, self.pointwise_constraint),
        }


class DepthwiseConv1D(DepthwiseConv):
    """1D depthwise convolution; kernel `(k, in_channels, depth_multiplier)`."""

    rank = 1


class DepthwiseConv2D(DepthwiseConv):
    """2D depthwise convolution; kernel `(kh, kw, in_channels, depth_multiplier)`.

    Example:
        >>> DepthwiseConv2D(3, depth_multiplier=2)(np.zeros((1, 6, 6, 3), "float32")).shape
        (1, 4, 4, 6)
    """

    rank = 2


class SeparableConv1D(SeparableConv):
    """1D separable convolution: depthwise `(k, in, m)` then pointwise `(1, in * m, filters)`."""

    rank = 1


class SeparableConv2D(SeparableConv):
    """2D separable convolution: depthwise `(kh, kw, in, m)` then pointwise `(1, 1, in*m, filters)`."""

    rank = 2


SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D
