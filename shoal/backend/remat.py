"""`keras.remat(f)`: recompute `f`'s activations in the backward pass instead of storing
them (gradient checkpointing), JAX's `jax.checkpoint`."""

from __future__ import annotations

import jax


def remat(f):
    """`f` wrapped so that differentiating it saves only its inputs, trading compute for
    memory."""
    if not callable(f):
        raise TypeError(f"remat: argument 'f' must be callable, got {f!r}")
    return jax.checkpoint(f)
