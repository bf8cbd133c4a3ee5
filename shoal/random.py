"""`shoal.random`: Keras-named random ops (keras.random), keyed by shoal's key streams.

`seed` may be None (the global stream, or the step's key inside fit), an int (the
same values on every call, as Keras documents; use a `SeedGenerator` for a stream), or a
`SeedGenerator`, as in Keras 3.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import dtypes, name_scopes, naming
from shoal.backend import random as _random
from shoal.backend.variables import Variable


class SeedGenerator:
    """A seeded stream of keys: each draw gives the next key (Keras' SeedGenerator).

    Its position is a variable, `state` (`[seed, count]`, uint32), which layers list in
    `non_trainable_variables`: a pure function that threads those values (`fit`'s steps,
    or `stateless_call` under `jax.jit`) draws Keras' keys, `[seed, count]`, at every
    call. A generator no step carries draws from the step's key inside `fit`.
    """

    def __init__(self, seed=None, name=None, **kwargs):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(
                f"SeedGenerator: argument `seed` must be an integer or None; got {seed!r}"
            )
        unknown = set(kwargs) - {"backend"}
        if unknown:
            raise ValueError(
                f"SeedGenerator: Unrecognized keyword arguments {sorted(unknown)}; it takes "
                "`seed` and `name`"
            )
        self._initial_seed = None if seed is None else int(seed)
        self.seed = self._initial_seed if seed is not None else _random.default_seed()
        self.name = name or naming.auto_name("SeedGenerator")
        with name_scopes.name_scope(self.name):
            self.state = Variable(
                np.array([self.seed % 2**32, 0], np.uint32),
                shape=(2,),
                dtype="uint32",
                trainable=False,
                name="seed_generator_state",
            )

    def next(self, ordered=True):
        state = self.state._current()
        if isinstance(state, jax.core.Tracer):  # a step threading the state (fit's, or a
            return self._advance(state)  # user's jitted stateless_call): Keras' draws
        if _random.in_rng_scope():  # a generator the step does not carry: the step's key
            return _random.draw_key(self._initial_seed)
        with jax.ensure_compile_time_eval():  # eager, or a trace that does not thread it
            return self._advance(state)

    def _advance(self, state):
        # As Keras: the draw is the state itself, [seed, count] (raw key data), and the
        # count moves on.
        self.state.assign(state + jnp.array([0, 1], jnp.uint32))
        return state

    def get_config(self):
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def seed_generator_for(rate, seed):
    """The generator of a layer whose randomness is scaled by `rate`, or None when rate is 0.

    As Keras: a Dropout / noise / attention layer with nothing to draw holds no seed state,
    so its `non_trainable_variables` (and a model's, position for position) match Keras'.
    """
    return SeedGenerator(seed) if rate > 0 else None


def _key(seed):
    if isinstance(seed, SeedGenerator):
        return _random.as_key(seed.next())
    if seed is not None and not isinstance(seed, int):
        if hasattr(seed, "dtype") and jnp.issubdtype(seed.dtype, jax.dtypes.prng_key):
            return seed
        if getattr(seed, "shape", None) == (2,) and jnp.issubdtype(seed.dtype, jnp.integer):
            # A raw key (`jax.random.PRNGKey(0)`) or a Keras seed tensor, as Keras accepts.
            return jax.random.wrap_key_data(jnp.asarray(seed, jnp.uint32))
        raise ValueError(f"Argument `seed` must be None, an int or a SeedGenerator; got {seed!r}")
    if seed is not None:  # an int: the same values on every call, Keras' own values
        return _random.raw_key(seed)
    return _random.draw_key(seed)


def _dtype(dtype):
    return dtypes.standardize_dtype(dtype)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return mean + stddev * jax.random.normal(_key(seed), tuple(shape), _dtype(dtype))


def _check_dtype(dtype, function: str, floating: bool):
    """Keras' check: uniform draws floats, randint integers."""
    if dtype is None:
        return
    ok = dtypes.is_float_dtype(dtype) if floating else dtypes.is_int_dtype(dtype)
    if not ok:
        kind = "a floating point" if floating else "an integer"
        raise ValueError(
            f"`keras.random.{function}` requires {kind} `dtype`. Received: dtype={dtype}"
        )


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    _check_dtype(dtype, "uniform", floating=True)
    return jax.random.uniform(_key(seed), tuple(shape), _dtype(dtype), minval, maxval)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    sample = jax.random.truncated_normal(_key(seed), -2.0, 2.0, tuple(shape), _dtype(dtype))
    return mean + stddev * sample


def randint(shape, minval, maxval, dtype="int32", seed=None):
    _check_dtype(dtype, "randint", floating=False)
    return jax.random.randint(_key(seed), tuple(shape), minval, maxval, _dtype(dtype))


def categorical(logits, num_samples, dtype="int32", seed=None):
    logits = jnp.asarray(logits)
    if logits.ndim != 2:
        raise ValueError(
            "categorical: argument `logits` must be 2-D, (batch_size, num_classes); got shape "
            f"{tuple(logits.shape)}"
        )
    # Keras' layout of the draw (classes on axis 1), so seeded draws equal Keras'.
    draws = jax.random.categorical(
        _key(seed), logits[..., None], axis=1, shape=(logits.shape[0], num_samples)
    )
    return draws.astype(_dtype(dtype))


def dropout(inputs, rate, noise_shape=None, seed=None):
    inputs = jnp.asarray(inputs)
    if noise_shape is None:
        noise_shape = inputs.shape
    else:  # None entries take the input's size, as in Keras
        noise_shape = tuple(
            d if n is None else int(n) for n, d in zip(noise_shape, inputs.shape, strict=True)
        )
    keep = jax.random.bernoulli(_key(seed), 1.0 - rate, noise_shape)
    return jnp.where(keep, inputs / (1.0 - rate), 0.0).astype(inputs.dtype)


def shuffle(x, axis=0, seed=None):
    # Whole slices move, as Keras' TensorFlow and torch backends shuffle (its JAX backend
    # permutes each slice on its own, `independent=True`); 1-D draws equal all of them.
    return jax.random.permutation(_key(seed), jnp.asarray(x), axis=axis, independent=False)


def gamma(shape, alpha, dtype=None, seed=None):
    return jax.random.gamma(_key(seed), jnp.asarray(alpha), tuple(shape), _dtype(dtype))


def beta(shape, alpha, beta, dtype=None, seed=None):
    # Lists are accepted, as in Keras (JAX takes only arrays and scalars).
    alpha, beta = jnp.asarray(alpha), jnp.asarray(beta)
    return jax.random.beta(_key(seed), alpha, beta, tuple(shape), _dtype(dtype))


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    counts, probabilities = jnp.asarray(counts), jnp.asarray(probabilities)
    return jax.random.binomial(_key(seed), counts, probabilities, tuple(shape), _dtype(dtype))
