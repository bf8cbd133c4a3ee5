"""`Embedding`: a lookup table from integer ids to dense vectors (Keras 3 semantics)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from shoal import constraints, initializers, quantizers, regularizers
from shoal.backend.symbolic import KerasTensor
from shoal.layers.base import Layer
from shoal.layers.embedding_lora import EmbeddingLoRA
from shoal.layers.quantization import (
    add_group_variables,
    int4_block_size,
    int4_quantize,
    not_quantizable_error,
    quantized_policy,
    resolve_quantize_args,
)
from shoal.quantizers.int4 import dequantize_with_sz_map, group_index


def _serialize(module, obj):
    return None if obj is None else module.serialize(obj)


class Embedding(EmbeddingLoRA, Layer):
    """Maps integer ids in `[0, input_dim)` to rows of a `(input_dim, output_dim)` table.

    Inputs of any shape `(..., )` give outputs `(..., output_dim)`. Integer inputs are used
    as they are (never cast to float); float inputs are truncated to int32.

    With `mask_zero=True` id 0 is padding: `compute_mask` returns `inputs != 0`, and
    `input_dim` must count it (vocabulary size + 1).

    Out-of-range ids are not an error, because the check cannot run inside compiled code:
    as in Keras on JAX (`jnp.take`), ids in `[-input_dim, 0)` wrap around to the end of
    the table and ids outside `[-input_dim, input_dim)` give rows of NaN (with zero
    gradient), which makes the mistake visible in the loss.

    `input_length` (Keras 2) is accepted and ignored.

    `quantize("int8")` stores the table as int8 `embeddings` with one float scale per row
    (`embeddings_scale`, abs-max over `output_dim`): `row = int8_row / scale`, as in Keras.
    `quantize("int4")` packs each row two values per byte (`embeddings` is int8
    `(input_dim, ceil(output_dim / 2))`), with one abs-max scale per row (per-channel), or
    per row and group of `block_size` columns a step-size scale and an `embeddings_zero`
    (sub-channel, `g_idx` naming each column's group), as in Keras.
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        weights=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        **kwargs,
    ):
        kwargs.pop("input_length", None)
        super().__init__(**kwargs)
        for arg, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"Embedding '{self.name}': argument '{arg}' must be a positive integer, "
                    f"got {value!r}"
                )
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self._init_embedding_lora(lora_rank, lora_alpha)
        self.mask_zero = bool(mask_zero)
        self.quantization_config = quantizers.deserialize(quantization_config)
        self.supports_masking = self.mask_zero
        # Ids must not go through a float16 compute dtype (2049 == 2048 in float16).
        self.autocast = False
        if weights is not None:
            self.build()
            if not (isinstance(weights, list) and len(weights) == 1):
                weights = [weights]
            self.set_weights(weights)

    def build(self, input_shape=None):
        if self.built:
            return
        if self.quantization_mode is not None:
            self._build_quantized_embeddings(self.quantization_mode)
        else:
            self._embeddings = self.add_weight(
                name="embeddings",
                shape=(self.input_dim, self.output_dim),
                initializer=self.embeddings_initializer,
                regularizer=self.embeddings_regularizer,
                constraint=self.embeddings_constraint,
                trainable=True,
            )
        self.built = True
        if self.lora_rank and not self.lora_enabled:
            self.enable_lora(self.lora_rank, lora_alpha=self.lora_alpha)

    @property
    def embeddings(self):
        """The table, as Keras: the Variable itself, unpacked int4 values (int4), or with
        LoRA on the table plus the update (in the compute dtype)."""
        if not self.built:
            raise AttributeError(
                f"Embedding '{self.name}': build the layer before reading `embeddings`."
            )
        table = self._embeddings
        if self.quantization_mode == "int4":
            table = quantizers.unpack_int4(table.value, self.output_dim, axis=-1)
        if self.lora_enabled:
            value = table.value if hasattr(table, "value") else table
            return (value + self._lora_table_delta()).astype(self.compute_dtype)
        return table

    def call(self, inputs):
        if inputs.dtype not in (jnp.int32, jnp.int64):
            inputs = inputs.astype(jnp.int32)
        if self.quantization_mode is None:
            return jnp.take(self._float_table(), inputs, axis=0).astype(self.compute_dtype)
        outputs = self._dequantized_rows(inputs)
        if self.lora_enabled:
            outputs = (outputs + self._lora_rows(inputs)).astype(self.compute_dtype)
        return outputs

    def _dequantized_rows(self, ids):
        outputs = jnp.take(self._embeddings.value, ids, axis=0)
        if self.quantization_mode == "int4":
            outputs = quantizers.unpack_int4(outputs, self.output_dim, axis=-1)
        outputs = outputs.astype(self.compute_dtype)
        # In the compute dtype, as Keras' autocast variables (so are the outputs).
        scale = jnp.take(self.embeddings_scale.value, ids, axis=0).astype(outputs.dtype)
        if self._int4_block_size:
            zero = jnp.take(self.embeddings_zero.value, ids, axis=0)
            return dequantize_with_sz_map(outputs, scale, zero, self.g_idx.value)
        return outputs / scale[..., None]

    def _dequantized_table(self):
        return self._dequantized_rows(jnp.arange(self.input_dim))

    # -- quantization ----------------------------------------------------------------------
    _int4_block_size = None  # None: per-channel

    def quantize(self, mode=None, type_check=True, config=None):
        """Replace the table with Keras' int8 or int4 `embeddings` and their scales."""
        mode, config = resolve_quantize_args(self, mode, config)
        if type_check and type(self) is not Embedding:
            raise not_quantizable_error(self)
        if mode not in ("int8", "int4"):
            raise NotImplementedError(
                f"Embedding '{self.name}': quantize: argument 'mode' must be 'int8' or 'int4' "
                f"(an Embedding has no {mode!r} mode, as in Keras); got {mode!r}"
            )
        # With LoRA on, the base table is quantized and the factors kept, as Keras.
        table = self._embeddings.value
        if mode == "int8":
            values = self._int8_values(table, config)
        else:
            values = self._int4_values(table, int4_block_size(self, config), config)
        old = self._embeddings
        self._trainable_variables = [v for v in self._trainable_variables if v is not old]
        self._non_trainable_variables = [v for v in self._non_trainable_variables if v is not old]
        self.quantization_config = config
        self._build_quantized_embeddings(mode)
        for variable, value in zip(self._quantized_variables(), values, strict=True):
            variable.assign(value)
        self._set_policy(quantized_policy(mode, self._int4_block_size, self._policy.name))

    @staticmethod
    def _int8_values(table, config=None):
        quantizer = getattr(config, "weight_quantizer", None) or quantizers.AbsMaxQuantizer(axis=-1)
        table, scale = quantizer(table, to_numpy=True)
        return [table, scale.reshape(scale.shape[:1])]

    @staticmethod
    def _int4_values(table, block_size, config):
        if block_size:  # groups along output_dim: quantize the transposed table
            values, scale, zero = int4_quantize(np.asarray(table).T, block_size)
            groups = group_index(table.shape[1], block_size)
            return [quantizers.pack_int4(values.T, axis=-1)[0], scale.T, zero.T, groups]
        quantizer = getattr(config, "weight_quantizer", None) or quantizers.AbsMaxQuantizer(
            axis=-1, value_range=(-8, 7)
        )
        table, scale = quantizer(table, to_numpy=True)
        return [quantizers.pack_int4(table, axis=-1)[0], scale.reshape(scale.shape[:1])]

    def _quantized_variables(self) -> list:
        extra = [self.embeddings_zero, self.g_idx] if self._int4_block_size else []
        return [self._embeddings, self.embeddings_scale] + extra

    def _build_quantized_embeddings(self, mode) -> None:
        width, scale_shape, block_size = self.output_dim, (self.input_dim,), None
        if mode == "int4":
            block_size = self._int4_block_size = int4_block_size(self, self.quantization_config)
            width = (self.output_dim + 1) // 2
            if block_size:
                scale_shape = (self.input_dim, math.ceil(self.output_dim / block_size))
        self._embeddings = self.add_weight(
            name="embeddings",
            shape=(self.input_dim, width),
            initializer="zeros",
            dtype="int8",
            trainable=False,
        )
        self.embeddings_scale = self.add_weight(
            name="embeddings_scale", shape=scale_shape, initializer="ones", trainable=False
        )
        if mode == "int4" and block_size:
            self.embeddings_zero, self.g_idx = add_group_variables(
                self, "embeddings_zero", scale_shape, self.output_dim, block_size
            )

    def compute_mask(self, inputs, previous_mask=None):
        if not self.mask_zero:
            return None
        if isinstance(inputs, KerasTensor):
            return KerasTensor(inputs.shape, dtype="bool")
        return jnp.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": _serialize(regularizers, self.embeddings_regularizer),
            "embeddings_constraint": _serialize(constraints, self.embeddings_constraint),
            "mask_zero": self.mask_zero,
            "quantization_config": quantizers.serialize(self.quantization_config),
            **self._lora_config(),
        }
