"""`Embedding`: a lookup table from integer ids to dense vectors (Keras 3 semantics)."""

from __future__ import annotations

import jax.numpy as jnp

from shoal import constraints, initializers, quantizers, regularizers
from shoal.backend.dtype_policy import QuantizedDTypePolicy
from shoal.backend.symbolic import KerasTensor
from shoal.layers.base import Layer
from shoal.layers.quantization import not_quantizable_error, resolve_quantize_args


def _serialize(module, obj):
    return None if obj is None else module.serialize(obj)


class Embedding(Layer):
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
        for arg, value in (("lora_rank", lora_rank), ("lora_alpha", lora_alpha)):
            if value is not None:
                raise ValueError(
                    f"Embedding '{self.name}': argument '{arg}' is not supported by shoal "
                    f"(expected None), got {value!r}"
                )
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
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
            self._build_int8_embeddings()
            self.built = True
            return
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.input_dim, self.output_dim),
            initializer=self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
            trainable=True,
        )
        self.built = True

    def call(self, inputs):
        if inputs.dtype not in (jnp.int32, jnp.int64):
            inputs = inputs.astype(jnp.int32)
        outputs = jnp.take(self.embeddings.value, inputs, axis=0)
        if self.quantization_mode == "int8":
            scale = jnp.take(self.embeddings_scale.value, inputs, axis=0)
            return outputs.astype(self.compute_dtype) / scale[..., None]
        return outputs.astype(self.compute_dtype)

    # -- int8 ------------------------------------------------------------------------------
    def quantize(self, mode=None, type_check=True, config=None):
        """Replace the table with int8 `embeddings` + per-row `embeddings_scale` (Keras')."""
        mode, config = resolve_quantize_args(self, mode, config)
        if type_check and type(self) is not Embedding:
            raise not_quantizable_error(self)
        quantizer = quantizers.QuantizationConfig.weight_quantizer_or_default(
            config, quantizers.AbsMaxQuantizer(axis=-1)
        )
        table, scale = quantizer(self.embeddings.value, to_numpy=True)
        old = self.embeddings
        self._trainable_variables = [v for v in self._trainable_variables if v is not old]
        self._non_trainable_variables = [v for v in self._non_trainable_variables if v is not old]
        self.quantization_config = config
        self._build_int8_embeddings()
        self.embeddings.assign(table)
        self.embeddings_scale.assign(scale.reshape(scale.shape[:1]))
        self.dtype_policy = QuantizedDTypePolicy(mode, self.dtype_policy.name)

    def _build_int8_embeddings(self) -> None:
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.input_dim, self.output_dim),
            initializer="zeros",
            dtype="int8",
            trainable=False,
        )
        self.embeddings_scale = self.add_weight(
            name="embeddings_scale", shape=(self.input_dim,), initializer="ones", trainable=False
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
        }
