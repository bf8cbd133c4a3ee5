"""`ReversibleEmbedding`: an `Embedding` that can also project hidden states back to logits.

`layer(ids)` looks up `(..., output_dim)` vectors; `layer(hidden, reverse=True)` computes
`hidden @ embeddings.T` (tied weights, the default) or `hidden @ reverse_embeddings` (an
`(output_dim, input_dim)` weight of its own with `tie_weights=False`), giving
`(..., input_dim)` logits, optionally soft-capped to `tanh(logits / cap) * cap`
(Keras 3 semantics). `quantize("int8" | "int4")` quantizes both directions, as Keras (see
`reversible_embedding_quantization`).
"""

from __future__ import annotations

import numbers

import jax.numpy as jnp

from shoal.backend import dtypes
from shoal.backend.symbolic import eval_output_spec
from shoal.layers.embedding import Embedding
from shoal.layers.reversible_embedding_quantization import ReverseQuantization


class ReversibleEmbedding(ReverseQuantization, Embedding):
    """An embedding layer that can project backwards, from `output_dim` to `input_dim`.

    Args:
        input_dim: vocabulary size (maximum id + 1).
        output_dim: size of the embedding vectors.
        tie_weights: the reverse projection uses the transposed `embeddings`; if False
            it has its own trainable `reverse_embeddings` `(output_dim, input_dim)`.
        embeddings_initializer, embeddings_regularizer, embeddings_constraint, mask_zero:
            as `Embedding`.
        reverse_dtype: dtype of the reverse projection (inputs and kernel are cast to it);
            default: the dtypes as they are.
        logit_soft_cap: if set, reverse logits become `tanh(logits / cap) * cap`.

    Call: `layer(inputs, reverse=False)`.

    Example:
        >>> layer = ReversibleEmbedding(10, 4)
        >>> hidden = layer(np.array([[1, 2, 3]]))              # (1, 3, 4)
        >>> layer(hidden, reverse=True).shape
        (1, 3, 10)
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        tie_weights=True,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        reverse_dtype=None,
        logit_soft_cap=None,
        **kwargs,
    ):
        # Embedding reads `weights` as its one table; here it may hold the reverse one too.
        weights = kwargs.pop("weights", None)
        super().__init__(
            input_dim,
            output_dim,
            embeddings_initializer=embeddings_initializer,
            embeddings_regularizer=embeddings_regularizer,
            embeddings_constraint=embeddings_constraint,
            mask_zero=mask_zero,
            **kwargs,
        )
        self.tie_weights = tie_weights
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap
        self._reverse_call = False
        self._check_args()
        if weights is not None:
            self.build()
            self.set_weights(list(weights) if isinstance(weights, (list, tuple)) else [weights])

    def _check_args(self) -> None:
        where = f"ReversibleEmbedding '{self.name}'"
        if not isinstance(self.tie_weights, bool):
            raise TypeError(
                f"{where}: argument 'tie_weights' must be a bool, got {self.tie_weights!r}"
            )
        if self.reverse_dtype is not None:
            try:
                name = dtypes.standardize_dtype(self.reverse_dtype)
            except (ValueError, TypeError):
                name = None
            if name is None or not dtypes.is_float_dtype(name):
                raise ValueError(
                    f"{where}: argument 'reverse_dtype' must be None or a floating dtype "
                    f"name (e.g. 'float32'), got {self.reverse_dtype!r}"
                )
            self.reverse_dtype = name
        cap = self.logit_soft_cap
        if cap is not None and (
            isinstance(cap, bool) or not isinstance(cap, numbers.Real) or not cap > 0
        ):
            raise ValueError(
                f"{where}: argument 'logit_soft_cap' must be None or a positive number, got {cap!r}"
            )

    def build(self, input_shape=None):
        if self.built:
            return
        super().build(input_shape)  # quantized: the reverse projection's variables too
        if not self.tie_weights and self.quantization_mode is None:
            self.reverse_embeddings = self.add_weight(
                name="reverse_embeddings",
                shape=(self.output_dim, self.input_dim),
                initializer=self.embeddings_initializer,
                trainable=True,
            )
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        # The output mask depends on the direction: compute_mask (run right after the call,
        # by the symbolic call and by Functional models) reads the direction of this call.
        reverse = args[0] if args else kwargs.get("reverse", False)
        self._reverse_call = bool(reverse)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, reverse=False):
        if not reverse:
            return super().call(inputs)
        if self.quantization_mode is not None:
            logits = self._quantized_reverse(inputs)
            return self._soft_capped(logits)
        kernel = self._float_table().T if self.tie_weights else self.reverse_embeddings.value
        if self.reverse_dtype is not None:
            inputs = inputs.astype(self.reverse_dtype)
            kernel = kernel.astype(self.reverse_dtype)
        return self._soft_capped(jnp.matmul(inputs, kernel))

    def _soft_capped(self, logits):
        if self.logit_soft_cap is not None:
            cap = jnp.asarray(self.logit_soft_cap, logits.dtype)
            logits = jnp.tanh(logits / cap) * cap
        return logits

    def _extra_file_variables(self) -> list:
        # With LoRA on, weights files hold the merged table, then these (as Keras).
        if self.tie_weights:
            return []
        if self.quantization_mode is None:
            return [self.reverse_embeddings]
        return self._reverse_variables()

    def compute_mask(self, inputs, previous_mask=None):
        if self._reverse_call:
            return None  # logits carry no mask, as in Keras
        return super().compute_mask(inputs, previous_mask)

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return (*tuple(input_shape)[:-1], self.input_dim)
        return super().compute_output_shape(input_shape)

    def compute_output_spec(self, inputs, reverse=False):
        return eval_output_spec(self.call, inputs, reverse=reverse)

    def get_config(self):
        return {
            **super().get_config(),
            "tie_weights": self.tie_weights,
            "reverse_dtype": self.reverse_dtype,
            "logit_soft_cap": self.logit_soft_cap,
        }


__all__ = ["ReversibleEmbedding"]
