"""Single-head attention over `[query, value(, key)]`: `Attention` (Luong) and
`AdditiveAttention` (Bahdanau), with Keras 3 semantics.

Both compute `scores (batch, Tq, Tv)` from query and key, take a softmax over `Tv`
(masked positions get `scores - 1e9` first, as in Keras), and return
`softmax(scores) @ value` of shape `(batch, Tq, value_dim)`; query positions whose
`query_mask` is False give zeros.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from shoal.backend.symbolic import KerasTensor
from shoal.layers.base import Layer
from shoal.layers.regularization import _dropout
from shoal.random import seed_generator_for


def _error(layer, arg, expected, value) -> ValueError:
    return ValueError(
        f"{type(layer).__name__} '{layer.name}': argument '{arg}' must be {expected}, got {value!r}"
    )


def _check_rate(layer, value, arg: str = "dropout") -> float:
    """A dropout rate in [0, 1) (shared with MultiHeadAttention)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise _error(layer, arg, "a float in [0, 1)", value)
    return float(value)


def _check_seed(layer, value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        raise _error(layer, "seed", "an integer or None", value)
    return None if value is None else int(value)


def _causal(tq: int, tv: int):
    """(1, Tq, Tv) lower-triangular boolean mask: query i sees keys j <= i."""
    return (jnp.arange(tq)[:, None] >= jnp.arange(tv)[None, :])[None]


class Attention(Layer):
    """Dot-product (Luong-style) attention.

    `inputs` is `[query (B, Tq, dim), value (B, Tv, value_dim)]` or
    `[query, value, key (B, Tv, dim)]` (key defaults to value); `mask` is
    `[query_mask (B, Tq), value_mask (B, Tv)]` (either may be None).

    With `score_mode="dot"`: `scores = query @ key^T`, times a learned scalar `scale`
    when `use_scale=True`. With `score_mode="concat"`:
    `scores = c * sum(tanh(scale * (query_i + key_j)))` with a learned scalar `c`
    (`concat_score_weight`). `dropout` drops attention weights while training.

    Example:
        >>> q, v = np.ones((2, 3, 4), "float32"), np.ones((2, 5, 4), "float32")
        >>> Attention()([q, v]).shape
        (2, 3, 4)
    """

    _SCORE_MODES = ("dot", "concat")

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = bool(use_scale)
        if score_mode not in self._SCORE_MODES:
            raise _error(self, "score_mode", f"one of {self._SCORE_MODES}", score_mode)
        self.score_mode = score_mode
        self.dropout = _check_rate(self, dropout)
        self.seed = _check_seed(self, seed)
        self.seed_generator = seed_generator_for(self.dropout, self.seed)
        self.supports_masking = True
        self.scale = None
        self.concat_score_weight = None

    # -- validation --------------------------------------------------------
    def _validate_inputs(self, inputs, mask=None):
        name = f"{type(self).__name__} '{self.name}'"
        single_shape = isinstance(inputs, (list, tuple)) and all(
            d is None or isinstance(d, int) for d in inputs
        )
        if not isinstance(inputs, (list, tuple)) or single_shape:
            if single_shape or hasattr(inputs, "shape"):
                shape = tuple(inputs) if single_shape else tuple(inputs.shape)
                got = f"a single tensor of shape {shape}"
            else:
                got = f"{type(inputs).__name__} {inputs!r}"
            raise ValueError(
                f"{name}: argument 'inputs' must be a list [query, value] or "
                f"[query, value, key], got {got}"
            )
        if not 2 <= len(inputs) <= 3:
            raise ValueError(
                f"{name}: argument 'inputs' must be a list of 2 or 3 tensors "
                f"([query, value(, key)]), got {len(inputs)}"
            )
        if mask is not None:
            if not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3:
                raise ValueError(
                    f"{name}: argument 'mask' must be a list [query_mask, value_mask], got {mask!r}"
                )

    def _check_shapes(self, shapes):
        name = f"{type(self).__name__} '{self.name}'"
        query, value = tuple(shapes[0]), tuple(shapes[1])
        key = tuple(shapes[2]) if len(shapes) > 2 else value
        for arg, shape in (("query", query), ("value", value), ("key", key)):
            if len(shape) < 3:
                raise ValueError(
                    f"{name}: input '{arg}' must have shape (batch, steps, features), "
                    f"got shape {shape}"
                )
        if query[-1] is not None and key[-1] is not None and query[-1] != key[-1]:
            what = "key" if len(shapes) > 2 else "value (used as key)"
            raise ValueError(
                f"{name}: the last dimension of query and {what} must be equal; "
                f"expected {query[-1]}, got {key[-1]} (query shape {query}, key shape {key})"
            )
        if value[-2] is not None and key[-2] is not None and value[-2] != key[-2]:
            raise ValueError(
                f"{name}: value and key must have the same number of steps; expected "
                f"{value[-2]}, got {key[-2]} (value shape {value}, key shape {key})"
            )

    # -- weights -----------------------------------------------------------
    def build(self, input_shape):
        self._validate_inputs(input_shape)
        self._check_shapes(input_shape)
        self.scale = None
        self.concat_score_weight = None
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(), initializer="ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(
                name="concat_score_weight", shape=(), initializer="ones"
            )
        self.built = True

    # -- computation -------------------------------------------------------
    def _calculate_scores(self, query, key):
        if self.score_mode == "dot":
            scores = jnp.matmul(query, jnp.swapaxes(key, -2, -1))
            if self.scale is not None:
                scores = scores * self.scale.value.astype(scores.dtype)
            return scores
        pairs = jnp.expand_dims(query, -2) + jnp.expand_dims(key, -3)  # (B, Tq, Tv, dim)
        if self.scale is not None:
            pairs = self.scale.value.astype(pairs.dtype) * pairs
        weight = self.concat_score_weight.value.astype(pairs.dtype)
        return weight * jnp.sum(jnp.tanh(pairs), axis=-1)

    def call(
        self,
        inputs,
        mask=None,
        training=False,
        return_attention_scores=False,
        use_causal_mask=False,
    ):
        self._validate_inputs(inputs, mask)
        inputs = [jnp.asarray(x) for x in inputs]
        self._check_shapes([x.shape for x in inputs])
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        query_mask = mask[0] if mask else None
        value_mask = mask[1] if mask else None
        scores = self._calculate_scores(query, key)
        scores_mask = None if value_mask is None else jnp.asarray(value_mask, bool)[..., None, :]
        if use_causal_mask:
            causal = _causal(scores.shape[-2], scores.shape[-1])
            scores_mask = causal if scores_mask is None else scores_mask & causal
        if scores_mask is not None:
            # Keras subtracts (rather than replaces) a large value; 65504 is float16's max.
            big = 65504.0 if scores.dtype == jnp.float16 else 1.0e9
            scores = jnp.where(scores_mask, scores, scores - big)
        weights = jax.nn.softmax(scores, axis=-1)
        kept = weights
        if training and self.dropout > 0:
            kept = _dropout(weights, self.dropout, seed=self.seed_generator)
        outputs = jnp.matmul(kept, value)
        if query_mask is not None:
            outputs = jnp.where(jnp.asarray(query_mask, bool)[..., None], outputs, 0)
        if return_attention_scores:  # the weights as applied (after dropout), as Keras
            return outputs, kept
        return outputs

    def compute_mask(self, inputs, mask=None):
        self._validate_inputs(inputs, mask)
        if mask is None or mask[0] is None:
            return None
        return mask[0] if isinstance(mask[0], KerasTensor) else jnp.asarray(mask[0])

    def compute_output_shape(self, input_shape):
        self._validate_inputs(input_shape)
        return (*tuple(input_shape[0])[:-1], tuple(input_shape[1])[-1])

    def compute_output_spec(
        self, inputs, mask=None, training=None, return_attention_scores=False, **kwargs
    ):
        self._validate_inputs(inputs, mask)
        shapes = [tuple(x.shape) for x in inputs]
        self._check_shapes(shapes)
        output = KerasTensor(self.compute_output_shape(shapes), dtype=self.compute_dtype)
        if not return_attention_scores:
            return output
        key_shape = shapes[2] if len(shapes) > 2 else shapes[1]
        scores = KerasTensor((*shapes[0][:-1], key_shape[-2]), dtype=self.compute_dtype)
        return output, scores

    def get_config(self):
        return {
            **super().get_config(),
            "use_scale": self.use_scale,
            "score_mode": self.score_mode,
            "dropout": self.dropout,
            "seed": self.seed,
        }


class AdditiveAttention(Attention):
    """Additive (Bahdanau-style) attention: `scores = sum(scale * tanh(query_i + key_j))`.

    `scale` is a learned vector of shape `(dim,)` when `use_scale=True` (the default),
    else 1. Inputs, masks and outputs are as for `Attention`.

    Example:
        >>> q, v = np.ones((2, 3, 4), "float32"), np.ones((2, 5, 4), "float32")
        >>> AdditiveAttention()([q, v]).shape
        (2, 3, 4)
    """

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        self._validate_inputs(input_shape)
        self._check_shapes(input_shape)
        dim = tuple(input_shape[0])[-1]
        if dim is None:
            raise ValueError(
                f"AdditiveAttention '{self.name}': the last dimension of query must be "
                f"known; got query shape {tuple(input_shape[0])}"
            )
        self.scale = None
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(dim,), initializer="glorot_uniform")
        self.built = True

    def _calculate_scores(self, query, key):
        tanh = jnp.tanh(jnp.expand_dims(query, -2) + jnp.expand_dims(key, -3))
        scale = self.scale.value.astype(tanh.dtype) if self.scale is not None else 1.0
        return jnp.sum(scale * tanh, axis=-1)

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config


__all__ = ["AdditiveAttention", "Attention"]
