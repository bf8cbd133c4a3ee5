"""`GroupQueryAttention` (Ainslie et al., 2023) with Keras 3 semantics and weights.

query `(B, T, dim)` is projected to `num_query_heads` heads, key and value `(B, S, dim_v)` to
`num_key_value_heads` heads (each of size `head_dim`); each key/value head is shared by
`num_query_heads // num_key_value_heads` query heads (repeated along the heads axis), then

    scores = softmax(query_h . key_h / sqrt(head_dim))      # (B, num_query_heads, T, S)
    output = W_o(scores @ value_h)                          # (B, T, dim)

`num_key_value_heads == 1` is multi-query attention; `== num_query_heads` is multi-head
attention. Weights, in Keras' order and with Keras' names: `query/kernel (dim, Nq, h)`,
`query/bias (Nq, h)`, `key/... (dim_k, Nkv, h)`, (`gate/...` with `use_gate`),
`value/... (dim_v, Nkv, h)`, `attention_output/kernel (Nq, h, dim)`, `attention_output/bias
(dim,)`, so `layer.set_weights(keras_layer.get_weights())` reproduces a Keras layer.

The projections, the attention kernels (fused and explicit) and the mask merging are
MultiHeadAttention's (`shoal.layers.multi_head_attention`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from shoal import constraints, initializers, regularizers
from shoal.backend.random import draw_key
from shoal.layers import conv_utils as cu
from shoal.layers.attention import _causal, _check_rate, _check_seed
from shoal.layers.base import Layer
from shoal.layers.input_spec import format_shape
from shoal.layers.multi_head_attention import (
    MultiHeadAttention,
    _attention_equations,
    _einsum_projection,
    _expand_mask,
    _explicit_attention,
    _fused_attention,
    _serialize,
    _with_fan_axes,
)
from shoal.random import seed_generator_for

# Projected tensors are (B, T, heads, head_dim); attention runs over axis 1.
_DOT, _COMBINE, _ = _attention_equations(4, (1,))


class GroupedQueryAttention(Layer):
    """Grouped-query attention, as `keras.layers.GroupQueryAttention`.

    Args:
        head_dim: size of each attention head (query, key and value).
        num_query_heads: number of query heads.
        num_key_value_heads: number of key/value heads; must divide `num_query_heads`.
        dropout: dropout rate on the attention probabilities while training, in [0, 1).
        use_bias: whether the projections have biases.
        sliding_window: if set, query i only sees keys j with `|i - j| < sliding_window`.
        flash_attention: True runs the cuDNN fused kernel (GPU, float16/bfloat16; no
            dropout, no returned scores); None/False the XLA one.
        kernel_*/bias_*: initializers, regularizers and constraints of the projections;
        activity_regularizer: applied to each projection's output and to the layer's
            outputs (as Keras does).
        use_gate: multiply the heads' outputs by `sigmoid(W_g query)` before the output
            projection (gated attention).
        seed: seed of the attention dropout.

    Call: `layer(query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
    attention_mask=None, return_attention_scores=False, training=None,
    use_causal_mask=False)`; returns the output `(B, T, dim)`, or `(output, scores)` with
    scores of shape `(B, num_query_heads, T, S)`.

    Example:
        >>> x = np.ones((2, 5, 8), "float32")
        >>> GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)(x, x).shape
        (2, 5, 8)
    """

    def __init__(
        self,
        head_dim,
        num_query_heads,
        num_key_value_heads,
        dropout=0.0,
        use_bias=True,
        sliding_window=None,
        flash_attention=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        use_gate=False,
        seed=None,
        **kwargs,
    ):
        # As in Keras the activity regularizer is the layer's own too (its outputs count).
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.head_dim = cu.positive_int(self, "head_dim", head_dim)
        self.num_query_heads = cu.positive_int(self, "num_query_heads", num_query_heads)
        self.num_key_value_heads = cu.positive_int(self, "num_key_value_heads", num_key_value_heads)
        if self.num_query_heads % self.num_key_value_heads:
            raise ValueError(
                f"{self._where()}: argument 'num_query_heads' must be divisible by "
                f"'num_key_value_heads'; got num_query_heads={num_query_heads} and "
                f"num_key_value_heads={num_key_value_heads}"
            )
        self.num_repeats = self.num_query_heads // self.num_key_value_heads
        self.dropout = _check_rate(self, dropout)
        self.use_bias = bool(use_bias)
        self.use_gate = bool(use_gate)
        self.sliding_window = (
            None
            if sliding_window is None
            else cu.positive_int(self, "sliding_window", sliding_window)
        )
        if flash_attention not in (None, True, False):
            raise ValueError(
                f"{self._where()}: argument 'flash_attention' must be True, False or None, "
                f"got {flash_attention!r}"
            )
        self._flash_attention = flash_attention
        if flash_attention and self.dropout > 0:
            raise ValueError(
                f"{self._where()}: dropout is not supported with flash_attention=True; "
                f"expected dropout=0.0, got dropout={self.dropout}"
            )
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = _check_seed(self, seed)
        self.seed_generator = seed_generator_for(self.dropout, self.seed)
        self._inverse_sqrt_head_dim = 1.0 / math.sqrt(float(self.head_dim))
        self.supports_masking = True

    def _where(self) -> str:
        return f"{type(self).__name__} '{self.name}'"

    # MultiHeadAttention's merge of the query/value/key, causal and sliding-window masks
    # (it reads `_sliding_window`), and its abstract-trace output spec.
    @property
    def _sliding_window(self):
        return self.sliding_window

    _compute_attention_mask = MultiHeadAttention._compute_attention_mask
    compute_output_spec = MultiHeadAttention.compute_output_spec

    # -- build -------------------------------------------------------------
    def build(self, query_shape, value_shape, key_shape=None):
        query_shape, value_shape = tuple(query_shape), tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        for arg, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) != 3 or shape[-1] is None:
                raise ValueError(
                    f"{self._where()}: argument '{arg}' must have shape (batch, steps, "
                    f"features) with a known last dimension, got {format_shape(shape)}"
                )
        self._check_value_key(value_shape, key_shape)
        self._built_dims = {"query": query_shape[-1], "value": value_shape[-1]}
        self._built_dims["key"] = key_shape[-1]
        self.feature_dim = query_shape[-1]
        heads, kv_heads = self.num_query_heads, self.num_key_value_heads
        self._query_dense = self._projection("query", query_shape[-1], heads)
        self._key_dense = self._projection("key", key_shape[-1], kv_heads)
        if self.use_gate:
            self._gate_dense = self._projection(
                "gate", query_shape[-1], heads, activation="sigmoid"
            )
        self._value_dense = self._projection("value", value_shape[-1], kv_heads)
        self._output_dense = _einsum_projection(
            2,
            (heads, self.head_dim, self.feature_dim),
            n_in=2,
            name="attention_output",
            **self._sublayer_kwargs(),
        )
        self.built = True

    def _projection(self, name, in_dim, heads, activation=None):
        return _einsum_projection(
            2,
            (in_dim, heads, self.head_dim),
            n_in=1,
            name=name,
            activation=activation,
            **self._sublayer_kwargs(),
        )

    def _sublayer_kwargs(self):
        return {
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": _with_fan_axes(self.bias_initializer),
            "kernel_regularizer": self.kernel_regularizer,
            "bias_regularizer": self.bias_regularizer,
            "activity_regularizer": self.activity_regularizer,
            "kernel_constraint": self.kernel_constraint,
            "bias_constraint": self.bias_constraint,
            "dtype": self.dtype_policy,
        }

    def _projections(self):
        gate = [self._gate_dense] if self.use_gate else []
        return [self._query_dense, self._key_dense, *gate, self._value_dense, self._output_dense]

    # -- calling -----------------------------------------------------------
    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
    ):
        query, value = jnp.asarray(query), jnp.asarray(value)
        key = value if key is None else jnp.asarray(key)
        self._check_inputs(query, value, key)
        if attention_mask is not None:
            attention_mask = jnp.asarray(attention_mask)
            self._check_attention_mask(query, key, attention_mask)
        if self._flash_attention and return_attention_scores:
            raise ValueError(
                f"{self._where()}: return_attention_scores=True is not supported with "
                "flash_attention=True (the fused kernel never forms the scores); expected "
                "flash_attention=None or False"
            )
        # With only the causal mask, the fused kernels take `is_causal` instead of a mask.
        causal_only = (
            use_causal_mask
            and query_mask is None
            and value_mask is None
            and key_mask is None
            and attention_mask is None
            and self.sliding_window is None
        )
        if not causal_only:
            attention_mask = self._compute_attention_mask(
                query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask
            )
        gate = self._gate_dense(query) if self.use_gate else None
        query = self._query_dense(query)
        # Each key/value head serves `num_repeats` consecutive query heads.
        key = jnp.repeat(self._key_dense(key), self.num_repeats, axis=2)
        value = jnp.repeat(self._value_dense(value), self.num_repeats, axis=2)
        output, scores = self._compute_attention(
            query, key, value, attention_mask, training, return_attention_scores, causal_only
        )
        if gate is not None:
            output = output * gate
        output = self._output_dense(output)
        if return_attention_scores:
            return output, scores
        return output

    def _compute_attention(
        self, query, key, value, attention_mask, training, return_attention_scores, causal_only
    ):
        """As Keras: without dropout or returned scores the fused kernel runs (a fully
        masked query row averages all values); otherwise the explicit softmax (zeros)."""
        if not (self.dropout > 0 or return_attention_scores):
            if attention_mask is not None:
                attention_mask = _expand_mask(attention_mask, 4, 1).astype(bool)
            implementation = None
            if self._flash_attention:
                platform = jax.devices()[0].platform
                if platform != "gpu":
                    raise ValueError(
                        f"{self._where()}: flash_attention=True needs a GPU with cuDNN; got "
                        f"platform '{platform}'. Pass flash_attention=None to use the XLA kernel."
                    )
                implementation = "cudnn"
            output = _fused_attention(
                query,
                key,
                value,
                attention_mask,
                scale=self._inverse_sqrt_head_dim,
                is_causal=bool(causal_only),
                implementation=implementation,
            )
            return output, None
        if causal_only:
            attention_mask = _causal(query.shape[1], key.shape[1])
        rate = self.dropout if training else 0.0
        return _explicit_attention(
            query,
            key,
            value,
            attention_mask,
            draw_key(self.seed_generator) if rate > 0 else None,
            dot=_DOT,
            combine=_COMBINE,
            norm_axes=(3,),
            scale=self._inverse_sqrt_head_dim,
            rate=rate,
        )

    # -- checks ------------------------------------------------------------
    def _check_value_key(self, value_shape, key_shape) -> None:
        if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ValueError(
                f"{self._where()}: all dimensions of value and key except the last must be "
                f"equal; got value shape {format_shape(value_shape)} and key shape "
                f"{format_shape(key_shape)}"
            )

    def _check_inputs(self, query, value, key) -> None:
        for arg, x in (("query", query), ("value", value), ("key", key)):
            want = self._built_dims[arg]
            if x.ndim != 3 or x.shape[-1] != want:
                raise ValueError(
                    f"{self._where()}: argument '{arg}' must have shape (batch, steps, {want}) "
                    f"(the shape the layer was built for), got shape {format_shape(x.shape)}"
                )
        self._check_value_key(value.shape, key.shape)

    def _check_attention_mask(self, query, key, mask) -> None:
        scores = (query.shape[0], self.num_query_heads, query.shape[1], key.shape[1])
        ok = 2 <= mask.ndim <= 4
        if ok:  # missing batch / heads axes broadcast (`_expand_mask` inserts them)
            shape = tuple(mask.shape)
            padded = {2: (1, 1) + shape, 3: shape[:1] + (1,) + shape[1:], 4: shape}[mask.ndim]
            ok = all(m in (1, s) for m, s in zip(padded, scores, strict=True))
        if not ok:
            raise ValueError(
                f"{self._where()}: argument 'attention_mask' must be broadcastable to "
                f"(batch, query steps, key steps) = "
                f"{format_shape((scores[0], *scores[2:]))} (or, with the heads axis, "
                f"{format_shape(scores)}), got shape {format_shape(mask.shape)}"
            )

    # -- shapes and config -------------------------------------------------
    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        value_shape = tuple(value_shape)
        self._check_value_key(value_shape, value_shape if key_shape is None else key_shape)
        return tuple(query_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "head_dim": self.head_dim,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "use_bias": self.use_bias,
            "use_gate": self.use_gate,
            "sliding_window": self.sliding_window,
            "dropout": self.dropout,
            "flash_attention": self._flash_attention,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _serialize(regularizers, self.kernel_regularizer),
            "bias_regularizer": _serialize(regularizers, self.bias_regularizer),
            "activity_regularizer": _serialize(regularizers, self.activity_regularizer),
            "kernel_constraint": _serialize(constraints, self.kernel_constraint),
            "bias_constraint": _serialize(constraints, self.bias_constraint),
            "seed": self.seed,
        }


# Keras' public name (its class is GroupedQueryAttention, exported as GroupQueryAttention).
GroupQueryAttention = GroupedQueryAttention

__all__ = ["GroupQueryAttention"]
