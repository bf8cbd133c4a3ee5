"""`shoal.random`: Keras-named random ops (keras.random), keyed by shoal's key streams.

`seed` may be None (the global stream, or the step's key inside fit), an int (the
same values on every call, as Keras documents; use a `SeedGenerator` for a stream), or a
`SeedGenerator`, as in Keras 3.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal.backend import dtypes
from shoal.backend import random as _random


class SeedGenerator:
    """A seeded stream of keys: each draw gives the next key (Keras' SeedGenerator)."""

    def __init__(self, seed=None, name=None, **kwargs):
        self.seed = (
            int(seed)
            if seed is not None
            else int(jax.random.randint(_random.global_key(), (), 0, 2**30))
        )
        self.name = name
        self._count = 0

    def next(self, ordered=True):
        self._count += 1
        base = _random.draw_key() if _random.in_rng_scope() else jax.random.key(self.seed)
        return jax.random.fold_in(jax.random.fold_in(base, self.seed), self._count)

    def get_config(self):
        return {"seed": self.seed, "name": self.name}


def _key(seed):
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if seed is not None and not isinstance(seed, int):
        if hasattr(seed, "dtype") and jnp.issubdtype(seed.dtype, jax.dtypes.prng_key):
            return seed
        if getattr(seed, "shape", None) == (2,) and jnp.issubdtype(seed.dtype, jnp.integer):
            # A raw key (`jax.random.PRNGKey(0)`) or a Keras seed tensor, as Keras accepts.
            return jax.random.wrap_key_data(jnp.asarray(seed, jnp.uint32))
        raise ValueError(f"Argument `seed` must be None, an int or a SeedGenerator; got {seed!r}")
    if seed is not None:  # an int: the same values on every call, as in Keras
        return jax.random.key(seed)
    return _random.draw_key(seed)


def _dtype(dtype):
    return dtypes.standardize_dtype(dtype)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return mean + stddev * jax.random.normal(_key(seed), tuple(shape), _dtype(dtype))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    return jax.random.uniform(_key(seed), tuple(shape), _dtype(dtype), minval, maxval)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    sample = jax.random.truncated_normal(_key(seed), -2.0, 2.0, tuple(shape), _dtype(dtype))
    return mean + stddev * sample


def randint(shape, minval, maxval, dtype="int32", seed=None):
    return jax.random.randint(_key(seed), tuple(shape), minval, maxval, _dtype(dtype))


def categorical(logits, num_samples, dtype="int32", seed=None):
    logits = jnp.asarray(logits)
    draws = jax.random.categorical(
        _key(seed), logits[:, None, :], axis=-1, shape=(logits.shape[0], num_samples)
    )
    return draws.astype(_dtype(dtype))


def dropout(inputs, rate, noise_shape=None, seed=None):
    inputs = jnp.asarray(inputs)
    keep = jax.random.bernoulli(_key(seed), 1.0 - rate, noise_shape or inputs.shape)
    return jnp.where(keep, inputs / (1.0 - rate), 0.0).astype(inputs.dtype)


def shuffle(x, axis=0, seed=None):
    return jax.random.permutation(_key(seed), jnp.asarray(x), axis=axis, independent=False)


def gamma(shape, alpha, dtype=None, seed=None):
    return jax.random.gamma(_key(seed), alpha, tuple(shape), _dtype(dtype))


def beta(shape, alpha, beta, dtype=None, seed=None):
    return jax.random.beta(_key(seed), alpha, beta, tuple(shape), _dtype(dtype))


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    return jax.random.binomial(_key(seed), counts, probabilities, tuple(shape), _dtype(dtype))
