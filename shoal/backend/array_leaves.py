"""Calling a function of mixed arguments through a JAX transformation that takes arrays."""

from __future__ import annotations

import jax


def bind_static(fn, args, kwargs, is_array, is_leaf=None):
    """`(wrapped, arrays)` with `wrapped(*arrays) == fn(*args, **kwargs)`: the leaves of
    `(args, kwargs)` for which `is_array` holds become `wrapped`'s positional arguments (for
    `jax.eval_shape`, `jax.checkpoint`, ...); every other leaf stays as given."""
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs), is_leaf=is_leaf)
    positions = [i for i, x in enumerate(leaves) if is_array(x)]

    def wrapped(*arrays):
        filled = list(leaves)
        for i, a in zip(positions, arrays, strict=True):
            filled[i] = a
        call_args, call_kwargs = jax.tree_util.tree_unflatten(treedef, filled)
        return fn(*call_args, **call_kwargs)

    return wrapped, [leaves[i] for i in positions]
