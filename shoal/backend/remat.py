"""`keras.remat(f)`: recompute `f`'s activations in the backward pass instead of storing
them (gradient checkpointing), JAX's `jax.checkpoint`."""

from __future__ import annotations

import jax
import numpy as np

from shoal.backend.array_leaves import bind_static


def remat(f):
    """`f` wrapped so that differentiating it saves only its inputs, trading compute for
    memory."""
    if not callable(f):
        raise TypeError(f"remat: argument 'f' must be callable, got {f!r}")
    return jax.checkpoint(f)


def remat_call(f, args, kwargs):
    """`f(*args, **kwargs)` under `jax.checkpoint`, with only the array arguments traced:
    Python values among them (`training=True`, a size, a string) stay static, as `f` sees
    them without rematerialization."""
    wrapped, arrays = bind_static(f, args, kwargs, lambda x: isinstance(x, (jax.Array, np.ndarray)))
    return remat(wrapped)(*arrays)
