"""LoRA for `Embedding`, as Keras 3: `enable_lora(rank)` freezes the table and learns
`lora_embeddings_a (input_dim, rank)` and `lora_embeddings_b (rank, output_dim)` (float32,
zero-initialised on the `b` side), so rows are looked up in
`embeddings + (lora_alpha / rank) * a @ b`. Weights files hold the merged table only (for a
quantized table: merged, then quantized again), and loading one zeroes the factors.
"""

from __future__ import annotations

import jax.numpy as jnp

from shoal import initializers
from shoal.layers.lora import _positive_int, lora_arguments


class EmbeddingLoRA:
    """Mixin for `Embedding` (which keeps its table Variable in `self._embeddings`)."""

    lora_enabled = False
    lora_rank = None
    lora_alpha = None

    def _init_embedding_lora(self, lora_rank, lora_alpha) -> None:
        owner = f"{type(self).__name__} '{self.name}'"
        self.lora_rank, self.lora_alpha = lora_arguments(owner, lora_rank, lora_alpha)
        self.lora_enabled = False

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform", b_initializer="zeros"):
        """Freeze the table and learn a rank-`rank` update `a @ b` of it (LoRA)."""
        where = f"{type(self).__name__} '{self.name}'"
        if not _positive_int(rank):
            raise ValueError(f"{where}: argument 'rank' must be a positive integer; got {rank!r}")
        if self.embeddings_constraint is not None:
            raise ValueError(
                f"{where}: LoRA cannot be enabled with an embeddings_constraint (it cannot "
                f"constrain a merged table); got {self.embeddings_constraint!r}"
            )
        if not self.built or self.lora_enabled:
            raise ValueError(
                f"{where}: enable_lora needs a built layer without LoRA; got "
                f"built={self.built}, lora_enabled={self.lora_enabled}"
            )
        # float32 factors whatever the policy, as Keras (no underflow while fine-tuning).
        self.lora_embeddings_a = self.add_weight(
            name="lora_embeddings_a",
            shape=(self.input_dim, rank),
            initializer=initializers.get(a_initializer),
            dtype="float32",
            regularizer=self.embeddings_regularizer,
        )
        self.lora_embeddings_b = self.add_weight(
            name="lora_embeddings_b",
            shape=(rank, self.output_dim),
            initializer=initializers.get(b_initializer),
            dtype="float32",
            regularizer=self.embeddings_regularizer,
        )
        table = self._embeddings
        if table.trainable:  # a quantized table is frozen already
            table.trainable = False
            self._trainable_variables = [v for v in self._trainable_variables if v is not table]
            self._non_trainable_variables.insert(0, table)
        self.lora_enabled = True
        self.lora_rank = int(rank)
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank

    def _own_weights(self):
        # Keras' order (creation order): a float table first, then the factors; a quantized
        # table (never trainable) after them.
        own = super()._own_weights()
        if not self.lora_enabled or self.quantization_mode is not None:
            return own
        return [self._embeddings] + [v for v in own if v is not self._embeddings]

    def _lora_scale(self) -> float:
        return self.lora_alpha / self.lora_rank

    def _lora_table_delta(self):
        return self._lora_scale() * jnp.matmul(
            self.lora_embeddings_a.value, self.lora_embeddings_b.value
        )

    def _lora_rows(self, ids):
        """The update's rows for `ids`: `take(a, ids) @ b`, scaled."""
        rows = jnp.take(self.lora_embeddings_a.value, ids, axis=0)
        return self._lora_scale() * jnp.matmul(rows, self.lora_embeddings_b.value)

    def _float_table(self):
        """The float table to look rows up in (merged with the LoRA update when on)."""
        table = self._embeddings.value
        if self.lora_enabled:
            table = (table + self._lora_table_delta()).astype(self.compute_dtype)
        return table

    def _lora_config(self) -> dict:
        return (
            {"lora_rank": self.lora_rank, "lora_alpha": self.lora_alpha} if self.lora_rank else {}
        )

    # -- weights files: the update merged in, as Keras ------------------------------------------
    def _extra_file_variables(self) -> list:
        """A subclass's own variables, saved after the table's (`ReversibleEmbedding`'s
        reverse projection)."""
        return []

    def _saved_without_factors(self) -> list:
        extra = [v.value for v in self._extra_file_variables()]
        if self.quantization_mode is None:
            return [self._float_table()] + extra
        merged = self._dequantized_table() + self._lora_table_delta()
        if self.quantization_mode == "int8":
            return self._int8_values(merged) + extra
        return self._int4_values(merged, self._int4_block_size, self.quantization_config) + extra

    def save_own_variables(self, store):
        if not self.lora_enabled:
            return super().save_own_variables(store)
        for i, value in enumerate(self._saved_without_factors()):
            store[str(i)] = value

    def load_own_variables(self, store):
        if not self.lora_enabled:
            return super().load_own_variables(store)
        table = [self._embeddings] if self.quantization_mode is None else None
        variables = (table or self._quantized_variables()) + self._extra_file_variables()
        self._load_variables(store, variables)
        self.lora_embeddings_a.assign(jnp.zeros(self.lora_embeddings_a.shape))
        self.lora_embeddings_b.assign(jnp.zeros(self.lora_embeddings_b.shape))
