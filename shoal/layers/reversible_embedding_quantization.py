"""int8 / int4 quantization of `ReversibleEmbedding`'s reverse projection, as Keras 3.

`quantize(mode)` quantizes the table as `Embedding` does; with `tie_weights=False` the
`(output_dim, input_dim)` `reverse_embeddings` is quantized too, per column (one scale per
vocabulary entry: int8 `reverse_embeddings` and `reverse_embeddings_scale (input_dim,)`),
int4 packed two rows per byte (`(ceil(output_dim / 2), input_dim)`), per column or, with a
`block_size`, in groups of `block_size` rows with a `(groups, input_dim)` step-size scale
and float32 `reverse_embeddings_zero` (Keras keeps this one float). The variables come
after the table's, in Keras' creation and file order.

`layer(hidden, reverse=True)` then quantizes `hidden` per row when the config has an
activation quantizer (int8's default), contracts it with the int values (tied: the
table's, transposed) and divides by both scales; grouped int4 dequantizes the kernel
first. `reverse_dtype` is not applied there, as in Keras. The gradient with respect to
`hidden` is that of the float contraction with the dequantized kernel.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from shoal import quantizers
from shoal.layers.quantization import (
    int4_block_size,
    int4_quantize,
    not_quantizable_error,
    resolve_quantize_args,
    with_float_gradient,
)
from shoal.quantizers import AbsMaxQuantizer, QuantizationConfig
from shoal.quantizers.int4 import dequantize_with_sz_map


class ReverseQuantization:
    """Mixin for `ReversibleEmbedding` (before `Embedding`)."""

    inputs_quantizer = None

    def quantize(self, mode=None, type_check=True, config=None):
        """Quantize the table (as `Embedding`) and an untied `reverse_embeddings`."""
        from shoal.layers.reversible_embedding import ReversibleEmbedding

        if type_check and type(self) is not ReversibleEmbedding:
            raise not_quantizable_error(self)
        mode, config = resolve_quantize_args(self, mode, config)
        reverse, old = None, None
        if not self.tie_weights and mode in ("int8", "int4"):
            reverse = self._reverse_quantized_values(mode, config)
            old = self.reverse_embeddings
        # Checks the rest, then builds the quantized table and (`_build_quantized_embeddings`)
        # the reverse one.
        super().quantize(mode, type_check=False, config=config)
        if reverse is not None:
            self._trainable_variables = [v for v in self._trainable_variables if v is not old]
            self._non_trainable_variables = [
                v for v in self._non_trainable_variables if v is not old
            ]
            for variable, value in zip(self._reverse_variables(), reverse, strict=True):
                variable.assign(value)

    def _reverse_quantized_values(self, mode, config) -> list:
        kernel = self.reverse_embeddings.value
        weight_quantizer = getattr(config, "weight_quantizer", None)
        if mode == "int8":
            quantizer = weight_quantizer or AbsMaxQuantizer(axis=0)
            values, scale = quantizer(kernel, to_numpy=True)
            return [values, scale.reshape(scale.shape[1:])]
        block_size = int4_block_size(self, config)
        values, scale, zero = int4_quantize(kernel, block_size, weight_quantizer)
        packed = quantizers.pack_int4(values, axis=0)[0]
        return [packed, scale] + ([zero.astype("float32")] if block_size else [])

    def _build_quantized_embeddings(self, mode) -> None:
        super()._build_quantized_embeddings(mode)
        self.inputs_quantizer = QuantizationConfig.activation_quantizer_or_default(
            self.quantization_config, AbsMaxQuantizer(axis=-1)
        )
        if self.tie_weights:
            return
        rows, scale_shape, block_size = self.output_dim, (self.input_dim,), None
        if mode == "int4":
            rows = (self.output_dim + 1) // 2
            block_size = self._int4_block_size
            if block_size:
                scale_shape = (math.ceil(self.output_dim / block_size), self.input_dim)
        self.reverse_embeddings = self.add_weight(
            name="reverse_embeddings",
            shape=(rows, self.input_dim),
            initializer="zeros",
            dtype="int8",
            trainable=False,
        )
        self.reverse_embeddings_scale = self.add_weight(
            name="reverse_embeddings_scale",
            shape=scale_shape,
            initializer="ones",
            trainable=False,
        )
        if block_size:
            self.reverse_embeddings_zero = self.add_weight(
                name="reverse_embeddings_zero",
                shape=scale_shape,
                initializer="zeros",
                trainable=False,
            )

    def _reverse_variables(self) -> list:
        """The quantized reverse projection's variables, in Keras' order (none when tied)."""
        if self.tie_weights or self.quantization_mode not in ("int8", "int4"):
            return []
        zero = [self.reverse_embeddings_zero] if self._int4_block_size else []
        return [self.reverse_embeddings, self.reverse_embeddings_scale] + zero

    # -- the reverse call ------------------------------------------------------------------
    def _quantized_reverse(self, inputs):
        """`inputs @ kernel` with the quantized kernel: `(int values, scale, zero)`."""
        compute = self.compute_dtype
        if self.tie_weights:
            packed, scale = self._embeddings.value.T, self.embeddings_scale.value.T
            zero = self.embeddings_zero.value.T if self._int4_block_size else None
        else:
            packed, scale = self.reverse_embeddings.value, self.reverse_embeddings_scale.value
            zero = self.reverse_embeddings_zero.value if self._int4_block_size else None
        if self.quantization_mode == "int4":
            values = quantizers.unpack_int4(packed, self.output_dim, axis=0)
        else:
            values = packed
        scale = scale.astype(compute)  # Keras autocasts float variables inside a call
        if zero is not None:
            kernel = dequantize_with_sz_map(
                values.astype(compute), scale, zero, self.g_idx.value, group_axis=0
            )
            scale = None
        else:
            kernel = values
        quantizer = self.inputs_quantizer

        def forward(x, kernel):
            x_scale = None
            if quantizer is not None:
                x, x_scale = quantizer(x)
            if x.dtype == jnp.int8 and kernel.dtype == jnp.int8:
                logits = jnp.matmul(x, kernel, preferred_element_type=jnp.int32)
            else:
                logits = jnp.matmul(x.astype(compute), kernel.astype(compute))
            logits = logits.astype(compute)
            if scale is not None:
                logits = logits / (scale if x_scale is None else x_scale * scale)
            elif x_scale is not None:
                logits = logits / x_scale
            return logits

        def float_forward(x, kernel):
            kernel = kernel.astype(compute)
            return jnp.matmul(x, kernel if scale is None else kernel / scale)

        return with_float_gradient(forward, float_forward)(inputs, kernel)


__all__ = ["ReverseQuantization"]
