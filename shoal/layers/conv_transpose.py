"""Transposed convolutions: Conv1DTranspose / Conv2DTranspose / Conv3DTranspose.

The kernel is `(*kernel_size, filters, in_channels)` as in Keras. A transposed
convolution is the gradient of a convolution with respect to its input: we
dilate the input by `strides`, pad it so the output has Keras' (TensorFlow's)
size, and cross-correlate with the spatially flipped kernel.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from shoal import constraints, initializers, regularizers
from shoal.layers import conv_utils as cu
from shoal.layers.conv import BaseConv, _serialize


class ConvTranspose(BaseConv):
    """N-D transposed convolution ("deconvolution")."""

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
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
        cu.no_strides_with_dilation(self, self.strides, self.dilation_rate)
        if output_padding is None:
            self.output_padding = None
        else:
            self.output_padding = cu.int_tuple(
                self, "output_padding", output_padding, self.rank, allow_zero=True
            )
            if any(p >= s for p, s in zip(self.output_padding, self.strides, strict=True)):
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': argument 'output_padding' must be "
                    f"strictly less than 'strides' in every dimension; got "
                    f"output_padding={self.output_padding}, strides={self.strides}"
                )
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def _output_paddings(self):
        return self.output_padding or (None,) * self.rank

    def build(self, input_shape):
        channels = self._build_common(input_shape)
        self._check_output(input_shape, self.compute_output_shape(input_shape))
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (self.filters, channels),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs):
        pads = [
            cu.conv_transpose_pads(k, s, self.padding, p, d)
            for k, s, p, d in zip(
                self.kernel_size,
                self.strides,
                self._output_paddings(),
                self.dilation_rate,
                strict=True,
            )
        ]
        kernel = jnp.flip(self._read(self.kernel), axis=tuple(range(self.rank)))
        outputs = lax.conv_general_dilated(
            self._cast_inputs(inputs),
            kernel,
            window_strides=(1,) * self.rank,
            padding=pads,
            lhs_dilation=self.strides,
            rhs_dilation=self.dilation_rate,
            dimension_numbers=cu.dimension_numbers(self.rank, self.data_format, transpose=True),
        )
        return self._finish(outputs)

    def compute_output_shape(self, input_shape):
        input_shape = cu.check_rank(self, input_shape, self.rank)
        spatial = [
            cu.conv_transpose_output_length(n, k, s, self.padding, p, d)
            for n, k, s, p, d in zip(
                cu.spatial_dims(input_shape, self.data_format),
                self.kernel_size,
                self.strides,
                self._output_paddings(),
                self.dilation_rate,
                strict=True,
            )
        ]
        return cu.with_spatial(input_shape, spatial, self.filters, self.data_format)

    def get_config(self):
        return {
            **self._base_config(),
            "filters": self.filters,
            "output_padding": self.output_padding,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": _serialize(regularizers, self.kernel_regularizer),
            "kernel_constraint": _serialize(constraints, self.kernel_constraint),
        }


class Conv1DTranspose(ConvTranspose):
    """1D transposed convolution; kernel `(k, filters, in_channels)`."""

    rank = 1


class Conv2DTranspose(ConvTranspose):
    """2D transposed convolution; kernel `(kh, kw, filters, in_channels)`.

    Example:
        >>> Conv2DTranspose(4, 3, strides=2, padding="same")(np.zeros((1, 5, 5, 3), "float32")).shape
        (1, 10, 10, 4)
    """

    rank = 2


class Conv3DTranspose(ConvTranspose):
    """3D transposed convolution; kernel `(kd, kh, kw, filters, in_channels)`.

    Keras orders this layer's positional arguments `padding, data_format, output_padding`
    (the 1D / 2D layers: `padding, output_padding, data_format`); so does shoal."""

    rank = 3

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        output_padding=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        **kwargs,
    ):
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            output_padding=output_padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            **kwargs,
        )


Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
Convolution3DTranspose = Conv3DTranspose
