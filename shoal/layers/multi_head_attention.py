"""`MultiHeadAttention` (Vaswani et al., 2017) with Keras 3 semantics and weights.

query `(B, T, dim_q)`, value `(B, S, dim_v)` and key (default: value) are projected by
einsum kernels to `(B, T, heads, key_dim)`, `(B, S, heads, value_dim)`, ...; then

    scores = softmax(query_h . key_h / sqrt(key_dim))      # (B, heads, T, S), masked
    output = W_o(scores @ value_h)                          # (B, T, dim_q or output_shape)

The weights are Keras' EinsumDense kernels, in Keras' order and with Keras' names:
`query/kernel (dim_q, heads, key_dim)`, `query/bias (heads, key_dim)`, `key/...`,
(`gate/...` with `use_gate`), `value/...`, `attention_output/kernel (heads, value_dim,
*output_shape)`, `attention_output/bias (*output_shape,)`, so
`layer.set_weights(keras_layer.get_weights())` reproduces a Keras layer.

Masks: `query_mask (B, T)`, `value_mask (B, S)`, `key_mask (B, S)` (given explicitly, or
routed by a Functional model from the masks its `query`/`value`/`key` tensors carry, e.g.
after `Embedding(mask_zero=True)`: see `shoal.models.functional`), the causal mask and the
sliding-window band are merged with `attention_mask (B, T, S)` by logical AND, as in Keras.
The output carries the query's mask (the default `compute_mask` of the first argument).
"""

from __future__ import annotations

import functools
import math
import numbers
import string

import jax
import jax.numpy as jnp

from shoal import constraints, initializers, regularizers
from shoal.backend import naming
from shoal.backend.random import draw_key as _draw_key
from shoal.backend.symbolic import eval_output_spec
from shoal.layers.attention import _causal, _check_rate, _check_seed
from shoal.layers.base import Layer
from shoal.layers.einsum_dense import EinsumDense
from shoal.layers.input_spec import format_shape
from shoal.random import seed_generator_for


def _serialize(module, obj):
    return None if obj is None else module.serialize(obj)


def _letters(count: int, offset: int = 0) -> str:
    return string.ascii_lowercase[offset : offset + count]


def _projection_equation(free_dims: int, bound_dims: int, output_dims: int) -> str:
    """`abc,cde->abde`-style equation: contract `bound_dims`, append `output_dims`."""
    free = _letters(free_dims)
    bound = _letters(bound_dims, free_dims)
    out = _letters(output_dims, free_dims + bound_dims)
    return f"{free}{bound},{bound}{out}->{free}{out}"


def _attention_equations(rank: int, attention_axes: tuple) -> tuple:
    """Einsum equations over projected tensors of `rank` (`(B, ..., heads, channels)`).

    Returns (dot, combine, scores_rank): `dot` maps (key, query) to scores laid out as
    (batch dims incl. heads, query attention dims, key attention dims); `combine` maps
    (scores, value) back to the query layout.
    """
    target = _letters(rank)
    batch_dims = [i for i in range(rank - 1) if i not in attention_axes]
    source = list(target)
    for n, axis in enumerate(attention_axes):
        source[axis] = string.ascii_lowercase[rank + n]
    source = "".join(source)
    product = "".join(
        [target[i] for i in batch_dims]
        + [target[i] for i in attention_axes]
        + [source[i] for i in attention_axes]
    )
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


def _with_fan_axes(initializer, input_axes=None, output_axes=None):
    """A fresh copy of `initializer`; VarianceScaling ones learn which kernel axes are fans.

    Keras' EinsumDense does the same, so e.g. glorot_uniform on a (dim, heads, key_dim)
    kernel uses fan_in=dim, fan_out=heads*key_dim.
    """
    if not isinstance(initializer, initializers.Initializer):
        return initializer
    config = initializer.get_config()
    if (
        input_axes is not None
        and isinstance(initializer, initializers.VarianceScaling)
        and (initializer.input_axes is None or initializer.output_axes is None)
    ):
        config["seed"] = initializer.seed
        config["input_axes"], config["output_axes"] = list(input_axes), list(output_axes)
    return type(initializer).from_config(config)


def _expand_mask(mask, rank: int, n_axes: int):
    """Insert axes before the attention axes (the heads, missing batch dims), as Keras."""
    while mask.ndim < rank:
        mask = jnp.expand_dims(mask, -2 * n_axes - 1)
    return mask


# The attention core is jitted: run eagerly it would compile each of its small ops.
@functools.partial(jax.jit, static_argnames=("scale", "is_causal", "implementation"))
def _fused_attention(query, key, value, mask, *, scale, is_causal, implementation):
    # jax's kernel needs value_dim == key_dim, and (compiled for CPU) cannot take float16.
    cpu_float16 = query.dtype == jnp.float16 and jax.default_backend() == "cpu"
    if key.shape[-1] == value.shape[-1] and (implementation or not cpu_float16):
        return jax.nn.dot_product_attention(
            query,
            key,
            value,
            mask=mask,
            scale=scale,
            is_causal=is_causal,
            implementation=implementation,
        )
    # Otherwise: the same computation as jax's XLA kernel (logits and softmax in float32).
    logits = jnp.einsum(
        "BTNH,BSNH->BNTS",
        query.astype(jnp.promote_types(query.dtype, jnp.float32)),
        key.astype(jnp.promote_types(key.dtype, jnp.float32)),
    )
    logits = logits * jnp.asarray(scale, logits.dtype)
    if is_causal:
        causal = _causal(logits.shape[-2], logits.shape[-1])[None]
        mask = causal if mask is None else mask & causal
    if mask is not None:
        fill = jnp.asarray(-0.7 * jnp.finfo(logits.dtype).max, logits.dtype)
        logits = jnp.where(mask, logits, fill)
    probs = jax.nn.softmax(logits, axis=-1).astype(value.dtype)
    return jnp.einsum("BNTS,BSNH->BTNH", probs, value)


@functools.partial(jax.jit, static_argnames=("dot", "combine", "norm_axes", "scale", "rate"))
def _explicit_attention(query, key, value, mask, rng, *, dot, combine, norm_axes, scale, rate):
    """Keras' explicit path: scaled scores, masked softmax, dropout, weighted values."""
    query = query * jnp.asarray(scale, query.dtype)
    scores = jnp.einsum(dot, key, query)
    probs = _masked_softmax(scores, mask, norm_axes)
    kept = _dropped(probs, rng, rate) if rate > 0 else probs
    return jnp.einsum(combine, kept, value), probs


def _masked_softmax(scores, mask, norm_axes):
    """Keras' Softmax with a mask: True (or > 0.5) entries kept, the others left out."""
    if mask is None:
        return jax.nn.softmax(scores, axis=norm_axes)
    if mask.dtype != jnp.bool_:
        mask = mask > 0.5
    mask = _expand_mask(mask, scores.ndim, len(norm_axes))
    big_negative = -3e4 if scores.dtype == jnp.float16 else -1e9
    probs = jax.nn.softmax(
        jnp.where(mask, scores, jnp.asarray(big_negative, scores.dtype)), axis=norm_axes
    )
    # A fully masked row would otherwise come out uniform.
    return jnp.where(mask, probs, jnp.zeros((), probs.dtype))


def _dropped(probs, rng, rate):
    keep = jax.random.bernoulli(rng, 1.0 - rate, probs.shape)
    return jnp.where(keep, probs / (1.0 - rate), jnp.zeros((), probs.dtype))


def _einsum_projection(free_dims, kernel_shape, n_in, name, use_bias, kernel_initializer, **kwargs):
    """An attention layer's projection: the `EinsumDense` Keras builds, already built.

    Its equation contracts the input's trailing `n_in` axes with the kernel's leading
    ones (`abc,cde->abde` for `free_dims=2`); the bias covers the output's new axes.
    """
    n_out = len(kernel_shape) - n_in
    equation = _projection_equation(free_dims, n_in, n_out)
    in_axes, out_axes = range(n_in), range(n_in, len(kernel_shape))
    layer = EinsumDense(
        equation,
        output_shape=(None,) * (free_dims - 1) + tuple(kernel_shape[n_in:]),
        bias_axes=equation[-n_out:] if use_bias else None,
        kernel_initializer=_with_fan_axes(kernel_initializer, in_axes, out_axes),
        name=name,
        **kwargs,
    )
    layer.build((None,) * free_dims + tuple(kernel_shape[:n_in]))
    return layer


def _positive_int(layer, arg, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        expected = "a positive integer" + (" or None" if allow_none else "")
        raise ValueError(
            f"MultiHeadAttention '{layer.name}': argument '{arg}' must be {expected}, got {value!r}"
        )
    return int(value)


class MultiHeadAttention(Layer):
    """Multi-head (scaled dot-product) attention, as `keras.layers.MultiHeadAttention`.

    Args:
        num_heads: number of attention heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value (default `key_dim`).
        dropout: dropout rate on the attention probabilities while training, in [0, 1).
        use_bias: whether the projections have biases.
        output_shape: trailing output shape (an int or a tuple); default the query's
            last dimension.
        attention_axes: axes of the query (not batch, not features) attended over;
            default all of them (for `(B, T, dim)` inputs: the steps axis).
        sliding_window: if set, query i only sees keys j with `|i - j| < sliding_window`.
        flash_attention: True runs the cuDNN fused kernel (GPU, float16/bfloat16; no
            dropout, no returned scores); None/False the XLA one.
        use_gate: multiply the heads' outputs by `sigmoid(W_g query)` before the output
            projection (gated attention).
        kernel_*/bias_*: initializers, regularizers and constraints of the projections;
        activity_regularizer: applied to each projection's output (as Keras does).
        seed: seed of the attention dropout.

    Call: `layer(query, value, key=None, attention_mask=None, return_attention_scores=False,
    training=None, use_causal_mask=False)`; returns the output, or `(output, scores)`
    with scores of shape `(B, heads, T, S)`.

    Example:
        >>> x = np.ones((2, 5, 8), "float32")
        >>> MultiHeadAttention(num_heads=2, key_dim=4)(x, x).shape
        (2, 5, 8)
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        dropout=0.0,
        use_bias=True,
        output_shape=None,
        attention_axes=None,
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
        super().__init__(**kwargs)
        self._num_heads = _positive_int(self, "num_heads", num_heads)
        self._key_dim = _positive_int(self, "key_dim", key_dim)
        self._value_dim = _positive_int(self, "value_dim", value_dim, allow_none=True)
        if self._value_dim is None:
            self._value_dim = self._key_dim
        self._dropout = _check_rate(self, dropout)
        self._use_bias = bool(use_bias)
        self._use_gate = bool(use_gate)
        self._output_shape = self._check_output_shape(output_shape)
        self._attention_axes = self._check_attention_axes(attention_axes)
        self._sliding_window = _positive_int(self, "sliding_window", sliding_window, True)
        if flash_attention not in (None, True, False):
            raise ValueError(
                f"MultiHeadAttention '{self.name}': argument 'flash_attention' must be "
                f"True, False or None, got {flash_attention!r}"
            )
        self._flash_attention = flash_attention
        if flash_attention and self._dropout > 0:
            raise ValueError(
                f"MultiHeadAttention '{self.name}': dropout is not supported with "
                f"flash_attention=True; expected dropout=0.0, got dropout={self._dropout}"
            )
        self._kernel_initializer = initializers.get(kernel_initializer)
        self._bias_initializer = initializers.get(bias_initializer)
        self._kernel_regularizer = regularizers.get(kernel_regularizer)
        self._bias_regularizer = regularizers.get(bias_regularizer)
        self._activity_regularizer = regularizers.get(activity_regularizer)
        self._kernel_constraint = constraints.get(kernel_constraint)
        self._bias_constraint = constraints.get(bias_constraint)
        self.seed = _check_seed(self, seed)
        self.seed_generator = seed_generator_for(self._dropout, self.seed)
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(self._key_dim))
        self.supports_masking = True

    # -- arguments ---------------------------------------------------------
    def _check_output_shape(self, output_shape):
        if output_shape is None or output_shape == ():
            return None
        shape = (output_shape,) if isinstance(output_shape, numbers.Integral) else output_shape
        if (
            isinstance(shape, (str, bytes))
            or not isinstance(shape, (list, tuple))
            or not all(
                isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in shape
            )
        ):
            raise ValueError(
                f"MultiHeadAttention '{self.name}': argument 'output_shape' must be a "
                f"positive integer or a tuple of positive integers, got {output_shape!r}"
            )
        return tuple(int(d) for d in shape)

    def _check_attention_axes(self, axes):
        if axes is None:
            return None
        if isinstance(axes, numbers.Integral) and not isinstance(axes, bool):
            axes = (axes,)
        if not isinstance(axes, (list, tuple)) or not all(
            isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes
        ):
            raise ValueError(
                f"MultiHeadAttention '{self.name}': argument 'attention_axes' must be an "
                f"int, a tuple of ints or None, got {axes!r}"
            )
        return tuple(int(a) for a in axes)

    # -- properties (Keras' public surface) ---------------------------------
    @property
    def num_heads(self):
        return self._num_heads

    @property
    def key_dim(self):
        return self._key_dim

    @property
    def value_dim(self):
        return self._value_dim

    @property
    def dropout(self):
        return self._dropout

    @property
    def use_bias(self):
        return self._use_bias

    @property
    def attention_axes(self):
        return self._attention_axes

    # -- build -------------------------------------------------------------
    def build(self, query_shape, value_shape, key_shape=None):
        query_shape, value_shape = tuple(query_shape), tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        # Keras' build makes a Softmax and a Dropout layer here: the names they take keep
        # later auto-names ("dropout_1", ...) as in Keras.
        naming.auto_name("Softmax"), naming.auto_name("Dropout")
        name = f"MultiHeadAttention '{self.name}'"
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError(
                f"{name}: all dimensions of value and key except the last must be equal; "
                f"got value shape {format_shape(value_shape)} and key shape {format_shape(key_shape)}"
            )
        for arg, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) < 3 or shape[-1] is None:
                raise ValueError(
                    f"{name}: argument '{arg}' must have shape (batch, ..., features) with at "
                    f"least 3 dimensions and a known last dimension, got {format_shape(shape)}"
                )
        if len(query_shape) != len(value_shape):
            raise ValueError(
                f"{name}: query and value must have the same rank; got query shape "
                f"{format_shape(query_shape)} and value shape {format_shape(value_shape)}"
            )
        rank = len(query_shape)
        axes = self._attention_axes
        axes = tuple(range(1, rank - 1)) if axes is None else axes
        axes = tuple(a if a >= 0 else rank + a for a in axes)
        if not axes or len(set(axes)) != len(axes) or any(not 1 <= a <= rank - 2 for a in axes):
            raise ValueError(
                f"{name}: argument 'attention_axes' must name distinct axes of the query "
                f"between 1 and {rank - 2} (not the batch or feature axis), got "
                f"{self._attention_axes!r} for query shape {format_shape(query_shape)}"
            )
        self._axes = axes
        self._built_dims = {"query": query_shape[-1], "value": value_shape[-1]}
        self._built_dims["key"] = key_shape[-1]
        self._rank = rank
        heads = self._num_heads
        self.query_dense = self._projection("query", rank, query_shape[-1], self._key_dim)
        self.key_dense = self._projection("key", rank, key_shape[-1], self._key_dim)
        if self._use_gate:
            self._gate_dense = self._projection(
                "gate", rank, query_shape[-1], self._value_dim, activation="sigmoid"
            )
        self.value_dense = self._projection("value", rank, value_shape[-1], self._value_dim)
        out_shape = self._output_shape or (query_shape[-1],)
        self.output_dense = _einsum_projection(
            rank - 1,
            (heads, self._value_dim, *out_shape),
            n_in=2,
            name="attention_output",
            **self._sublayer_kwargs(),
        )
        (
            self._dot_product_equation,
            self._combine_equation,
            scores_rank,
        ) = _attention_equations(rank + 1, axes)
        self._norm_axes = tuple(range(scores_rank - len(axes), scores_rank))
        self.built = True

    def _sublayer_kwargs(self):
        return {
            "use_bias": self._use_bias,
            "kernel_initializer": self._kernel_initializer,
            "bias_initializer": _with_fan_axes(self._bias_initializer),
            "kernel_regularizer": self._kernel_regularizer,
            "bias_regularizer": self._bias_regularizer,
            "activity_regularizer": self._activity_regularizer,
            "kernel_constraint": self._kernel_constraint,
            "bias_constraint": self._bias_constraint,
            "dtype": self.dtype_policy,
        }

    def _projection(self, name, rank, in_dim, head_dim, activation=None):
        return _einsum_projection(
            rank - 1,
            (in_dim, self._num_heads, head_dim),
            n_in=1,
            name=name,
            activation=activation,
            **self._sublayer_kwargs(),
        )

    def _projections(self):
        gate = [self._gate_dense] if self._use_gate else []
        return [self.query_dense, self.key_dense, *gate, self.value_dense, self.output_dense]

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
        query, value = self._as_input(query), self._as_input(value)
        key = value if key is None else self._as_input(key)
        self._check_inputs(query, value, key)
        if attention_mask is not None:
            attention_mask = jnp.asarray(attention_mask)
            self._check_attention_mask(query, key, attention_mask)
        if use_causal_mask and len(self._axes) != 1:
            raise ValueError(
                f"MultiHeadAttention '{self.name}': use_causal_mask=True needs attention over "
                f"exactly one axis; got attention_axes={self._axes}"
            )
        if self._flash_attention and return_attention_scores:
            raise ValueError(
                f"MultiHeadAttention '{self.name}': return_attention_scores=True is not "
                "supported with flash_attention=True (the fused kernel never forms the "
                "scores); expected flash_attention=None or False"
            )
        # With only the causal mask, the fused kernels take `is_causal` instead of a mask.
        causal_only = (
            use_causal_mask
            and query_mask is None
            and value_mask is None
            and key_mask is None
            and attention_mask is None
            and self._sliding_window is None
        )
        if not causal_only:
            attention_mask = self._compute_attention_mask(
                query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask
            )
        gate = self._gate_dense(query) if self._use_gate else None
        query = self.query_dense(query)
        key = self.key_dense(key)
        value = self.value_dense(value)
        # `use_causal_mask` only when set, as Keras does: a subclass overriding
        # _compute_attention with the older signature (no such argument) keeps working.
        output, scores = self._compute_attention(
            query,
            key,
            value,
            attention_mask,
            training,
            return_attention_scores,
            **({"use_causal_mask": True} if causal_only else {}),
        )
        if gate is not None:
            output = output * gate
        output = self.output_dense(output)
        if return_attention_scores:
            return output, scores
        return output

    def _as_input(self, x):
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jnp.floating) and x.dtype != self.compute_dtype:
            x = x.astype(self.compute_dtype)
        return x

    def _check_inputs(self, query, value, key) -> None:
        name = f"MultiHeadAttention '{self.name}'"
        for arg, x in (("query", query), ("value", value), ("key", key)):
            want = self._built_dims[arg]
            if x.ndim != self._rank or x.shape[-1] != want:
                raise ValueError(
                    f"{name}: argument '{arg}' must have rank {self._rank} and last dimension "
                    f"{want} (the shapes the layer was built for), got shape {format_shape(x.shape)}"
                )
        if value.shape[:-1] != key.shape[:-1]:
            raise ValueError(
                f"{name}: all dimensions of value and key except the last must be equal; "
                f"got value shape {format_shape(value.shape)} and key shape {format_shape(key.shape)}"
            )

    def _scores_shape(self, query_shape, key_shape) -> tuple:
        """Shape of the scores, (batch dims..., heads, query attention dims, key ones)."""
        q = tuple(query_shape[:-1]) + (self._num_heads,)
        k = tuple(key_shape[:-1]) + (self._num_heads,)
        batch = [q[i] for i in range(len(q)) if i not in self._axes]
        return (*batch, *(q[i] for i in self._axes), *(k[i] for i in self._axes))

    def _check_attention_mask(self, query, key, mask) -> None:
        scores = self._scores_shape(query.shape, key.shape)
        attn = 2 * len(self._axes)
        head = len(scores) - attn - 1
        expected = scores[:head] + scores[head + 1 :]
        lead = mask.ndim - attn
        ok = attn <= mask.ndim <= len(scores)
        if ok:
            padded = mask.shape[:lead] + (1,) * (len(scores) - mask.ndim) + mask.shape[lead:]
            ok = all(m in (1, s) for m, s in zip(padded, scores, strict=True))
        if not ok:
            raise ValueError(
                f"MultiHeadAttention '{self.name}': argument 'attention_mask' must be "
                f"broadcastable to (batch, query steps, key steps) = {format_shape(expected)} (or, "
                f"with the heads axis, {format_shape(scores)}), got shape {format_shape(mask.shape)}"
            )

    def _compute_attention_mask(
        self, query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask
    ):
        """AND of the query (B, T, 1), value and key (B, 1, S), causal and window masks."""
        auto = None

        def merge(a, b):
            return b if a is None else a & b

        if query_mask is not None:
            auto = merge(auto, jnp.asarray(query_mask).astype(bool)[..., None])
        if value_mask is not None:
            auto = merge(auto, jnp.expand_dims(jnp.asarray(value_mask).astype(bool), -2))
        if key_mask is not None:
            auto = merge(auto, jnp.expand_dims(jnp.asarray(key_mask).astype(bool), -2))
        if use_causal_mask:
            auto = merge(auto, _causal(query.shape[1], value.shape[1]))
        if self._sliding_window is not None:
            rows = jnp.arange(query.shape[1])[:, None]
            cols = jnp.arange(value.shape[1])[None, :]
            auto = merge(auto, (jnp.abs(rows - cols) < self._sliding_window)[None])
        if attention_mask is not None:
            attention_mask = attention_mask.astype(bool)
        if auto is not None:
            attention_mask = auto if attention_mask is None else attention_mask & auto
        return attention_mask

    def _compute_attention(
        self,
        query,
        key,
        value,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
        use_causal_mask=False,
    ):
        """Attention over projected query (B, T, N, key_dim), key, value (B, S, N, ...).

        As Keras: without dropout or returned scores (and for 3-D inputs) the fused
        kernel runs, where a fully masked query row averages all values; otherwise the
        explicit softmax runs, where such a row gives zeros.
        """
        fused = not (self._dropout > 0 or return_attention_scores or query.ndim != 4)
        if fused:
            if attention_mask is not None:
                attention_mask = _expand_mask(attention_mask, 4, 1).astype(bool)
            implementation = None
            if self._flash_attention:
                self._check_flash_platform()
                implementation = "cudnn"
            try:
                output = _fused_attention(
                    query,
                    key,
                    value,
                    attention_mask,
                    scale=self._inverse_sqrt_key_dim,
                    is_causal=bool(use_causal_mask),
                    implementation=implementation,
                )
            except Exception as err:
                if implementation is None:
                    raise
                raise ValueError(
                    f"MultiHeadAttention '{self.name}': flash_attention=True but the cuDNN "
                    f"kernel cannot run these inputs (query {format_shape(query.shape)}, dtype "
                    f"{query.dtype}): {err}"
                ) from err
            return output, None
        if use_causal_mask:
            causal = _causal(query.shape[1], value.shape[1])
            attention_mask = causal if attention_mask is None else attention_mask & causal
        dropout = self._dropout if training else 0.0
        rng = _draw_key(self.seed_generator) if dropout > 0 else None
        return _explicit_attention(
            query,
            key,
            value,
            attention_mask,
            rng,
            dot=self._dot_product_equation,
            combine=self._combine_equation,
            norm_axes=self._norm_axes,
            scale=self._inverse_sqrt_key_dim,
            rate=dropout,
        )

    # Keras' pieces of the explicit path, for subclasses overriding _compute_attention
    # (e.g. keras.io's locality self-attention): `self._masked_softmax(scores, mask)` and
    # `self._dropout_layer(scores, training=training)`.
    def _masked_softmax(self, attention_scores, attention_mask=None):
        mask = None if attention_mask is None else jnp.asarray(attention_mask)
        return _masked_softmax(jnp.asarray(attention_scores), mask, self._norm_axes)

    def _dropout_layer(self, attention_scores, training=None):
        if not training or self._dropout == 0:
            return attention_scores
        return _dropped(
            jnp.asarray(attention_scores), _draw_key(self.seed_generator), self._dropout
        )

    def _check_flash_platform(self) -> None:
        platform = jax.devices()[0].platform
        if platform != "gpu":
            raise ValueError(
                f"MultiHeadAttention '{self.name}': flash_attention=True needs a GPU with "
                f"cuDNN; got platform '{platform}'. Pass flash_attention=None to use the XLA "
                "kernel."
            )

    # -- masks and shapes --------------------------------------------------
    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        query_shape, value_shape = tuple(query_shape), tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError(
                f"MultiHeadAttention '{self.name}': all dimensions of value and key except "
                f"the last must be equal; got value shape {format_shape(value_shape)} and key shape "
                f"{format_shape(key_shape)}"
            )
        if self._output_shape:
            return query_shape[:-1] + self._output_shape
        return query_shape

    def compute_output_spec(self, *args, **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k != "training"}
        return eval_output_spec(self.call, *args, **kwargs)

    # -- config ------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {
            **config,
            "num_heads": self._num_heads,
            "key_dim": self._key_dim,
            "value_dim": self._value_dim,
            "dropout": self._dropout,
            "use_bias": self._use_bias,
            "use_gate": self._use_gate,
            "output_shape": None if self._output_shape is None else list(self._output_shape),
            "attention_axes": None if self._attention_axes is None else list(self._attention_axes),
            "sliding_window": self._sliding_window,
            "flash_attention": self._flash_attention,
            "kernel_initializer": initializers.serialize(self._kernel_initializer),
            "bias_initializer": initializers.serialize(self._bias_initializer),
            "kernel_regularizer": _serialize(regularizers, self._kernel_regularizer),
            "bias_regularizer": _serialize(regularizers, self._bias_regularizer),
            "activity_regularizer": _serialize(regularizers, self._activity_regularizer),
            "kernel_constraint": _serialize(constraints, self._kernel_constraint),
            "bias_constraint": _serialize(constraints, self._bias_constraint),
            "seed": self.seed,
        }


__all__ = ["MultiHeadAttention"]
