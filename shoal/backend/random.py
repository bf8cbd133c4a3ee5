"""PRNG keys for layers that need randomness (Dropout, noise, initializers).

Inside a pure step the trainer opens `RngScope(key)`; each `draw_key()` folds
a counter into that key, so a traced function gets fresh, deterministic
randomness from the step's key. Outside any scope keys come from a global
stream seeded by `set_seed` (what `shoal.utils.set_random_seed` calls).
"""

from __future__ import annotations

import random as python_random

import jax
import numpy as np

from shoal.backend.scope_stack import ScopeStack, StackedScope

_GLOBAL = {"seed": None, "count": 0}
_SEEDED: dict = {}


def set_seed(seed: int) -> None:
    if not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an integer; got {seed!r}")
    _GLOBAL["seed"] = int(seed)
    _GLOBAL["count"] = 0
    _SEEDED.clear()


class RngScope(StackedScope):
    _stack = ScopeStack()

    def __init__(self, key):
        self.key = key
        self.count = 0

    def next(self):
        self.count += 1
        return jax.random.fold_in(self.key, self.count)


def _next_global():
    """(seed, count) of the global stream's next draw; seeds it on first use."""
    if _GLOBAL["seed"] is None:
        _GLOBAL["seed"] = int(np.random.SeedSequence().entropy % (2**31))
    _GLOBAL["count"] += 1
    return _GLOBAL["seed"], _GLOBAL["count"]


def default_seed() -> int:
    """The seed of an unseeded initializer or SeedGenerator: Keras' `make_default_seed`,
    an int from Python's `random` (seeded by `set_random_seed`)."""
    return python_random.randint(1, int(1e9))


def raw_key(seed, counter=0):
    """The key Keras' JAX backend draws for `seed` at step `counter`: the raw key data
    `[seed, counter]` (uint32), so seeded draws give Keras' values. Under a PRNG
    implementation other than threefry, a key folded from the two."""
    if _key_data_shape() != (2,):
        return jax.random.fold_in(jax.random.key(seed), counter)
    if isinstance(seed, (int, np.integer)) and isinstance(counter, (int, np.integer)):
        data = np.array([int(seed) & 0xFFFFFFFF, int(counter) & 0xFFFFFFFF], np.uint32)
    else:
        data = jax.numpy.stack([seed, counter]).astype(jax.numpy.uint32)
    return jax.random.wrap_key_data(data)


def as_key(key):
    """A typed PRNG key from a typed key or raw key data (uint32[2], Keras' seeds)."""
    if jax.numpy.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    return jax.random.wrap_key_data(jax.numpy.asarray(key, jax.numpy.uint32))


def global_key():
    """A fresh key from the global, seedable stream (never inside a trace)."""
    seed, count = _next_global()
    return jax.random.fold_in(jax.random.key(seed), count)


def global_key_data() -> np.ndarray:
    """The data (uint32[2]) of a fresh key from the global stream, made on the host: a
    loop's base key costs no device computation (and no compile) when it starts."""
    seed, count = _next_global()
    shape = _key_data_shape()
    sequence = np.random.SeedSequence([seed, count])
    return sequence.generate_state(int(np.prod(shape)), np.uint32).reshape(shape)


def _key_data_shape():
    """The shape of a key's data under JAX's default PRNG implementation (traced only)."""
    impl = jax.config.jax_default_prng_impl
    if impl not in _KEY_SHAPES:
        _KEY_SHAPES[impl] = jax.eval_shape(lambda: jax.random.key_data(jax.random.key(0))).shape
    return _KEY_SHAPES[impl]


_KEY_SHAPES: dict = {}


def draw_key(seed=None):
    """A key for one random op: from the active RngScope, else global.

    Outside a scope a seeded op advances its own stream (`seed` -> 1st, 2nd,
    ... key), as a Keras SeedGenerator does, so repeated eager calls differ but
    are reproducible. `seed` may also be a `shoal.random.SeedGenerator` (a layer's
    own), whose `next()` gives the key.
    """
    if hasattr(seed, "next") and hasattr(seed, "state"):
        return as_key(seed.next())
    scope = RngScope._stack.current()
    if scope is not None:
        key = scope.next()
        if seed is not None:
            key = jax.random.fold_in(key, int(seed))
        return key
    if seed is None:
        return global_key()
    count = _SEEDED.get(int(seed), 0) + 1
    _SEEDED[int(seed)] = count
    return jax.random.fold_in(jax.random.key(int(seed)), count)


def in_rng_scope() -> bool:
    return bool(RngScope._stack.items)
