"""`keras.remat(f)`: recompute `f`'s activations in the backward pass instead of storing
them (gradient checkpointing), JAX's `jax.checkpoint`."""

from __future__ import annotations

import jax
import numpy as np


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
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
    traced = [i for i, x in enumerate(leaves) if isinstance(x, (jax.Array, np.ndarray))]

    def with_arrays(*arrays):
        filled = list(leaves)
        for i, a in zip(traced, arrays, strict=True):
            filled[i] = a
        call_args, call_kwargs = jax.tree_util.tree_unflatten(treedef, filled)
        return f(*call_args, **call_kwargs)

    return remat(with_arrays)(*[leaves[i] for i in traced])
