"""`CategoryEncoding`: integer category ids to one-hot, multi-hot or count vectors.

Plain jax.numpy, so it runs inside compiled models.
"""

from __future__ import annotations

import jax.numpy as jnp

from shoal.backend.symbolic import KerasTensor
from shoal.layers.base import Layer
from shoal.layers.index_lookup import _is_int, check_output_mode, encode


class CategoryEncoding(Layer):
    """Encodes integer ids in `[0, num_tokens)`. 'one_hot' encodes every id (a trailing
    axis of size 1 is replaced by the encoding); 'multi_hot' and 'count' encode each sample
    (the last axis; a 1-D input is one sample). Ids outside the range are not counted.
    `count_weights` (with 'count') weights each id.

    Example:
        >>> CategoryEncoding(num_tokens=4, output_mode="multi_hot")(np.array([[0, 1], [1, 2]])).tolist()
        [[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]]
    """

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        owner = f"CategoryEncoding '{self.name}'"
        if not _is_int(num_tokens) or num_tokens < 1:
            raise ValueError(
                f"{owner}: argument 'num_tokens' must be an integer >= 1 (use IntegerLookup "
                f"when the number of tokens is not known); got {num_tokens!r}"
            )
        self.output_mode = check_output_mode(owner, output_mode, ("one_hot", "multi_hot", "count"))
        if sparse:
            raise ValueError(
                f"{owner}: argument 'sparse' must be False (sparse outputs need the TensorFlow "
                f"backend in Keras as well); got {sparse!r}"
            )
        self.num_tokens = int(num_tokens)
        self.sparse = False

    def call(self, inputs, count_weights=None):
        inputs = jnp.asarray(inputs)
        if not jnp.issubdtype(inputs.dtype, jnp.integer):
            inputs = inputs.astype("int32")  # token ids given as floats: cast, as Keras
        if count_weights is None:
            return encode(inputs, self.output_mode, self.num_tokens, jnp, self.compute_dtype)
        if self.output_mode != "count":
            raise ValueError(
                f"CategoryEncoding '{self.name}': 'count_weights' is only used with "
                f"output_mode='count'; got output_mode={self.output_mode!r}"
            )
        weights = jnp.asarray(count_weights, self.compute_dtype)
        if inputs.ndim == 0:
            inputs, weights = inputs[None], weights.reshape(1)
        hits = inputs[..., None] == jnp.arange(self.num_tokens)
        return (hits * weights[..., None]).sum(axis=-2)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if not input_shape:
            return (self.num_tokens,)
        if self.output_mode == "one_hot" and (len(input_shape) == 1 or input_shape[-1] != 1):
            return input_shape + (self.num_tokens,)
        return input_shape[:-1] + (self.num_tokens,)

    def compute_output_spec(self, inputs, count_weights=None):
        return KerasTensor(self.compute_output_shape(inputs.shape), dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "num_tokens": self.num_tokens,
            "output_mode": self.output_mode,
        }
