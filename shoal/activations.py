"""Activation functions (`keras.activations`) and their lookup by name.

Most are the `shoal.ops.nn` functions themselves; `relu` (with
`negative_slope`, `max_value`, `threshold`), `gelu` (exact by default, unlike
`ops.gelu`), `exponential` and `linear` are defined here. Built-ins serialize
to their name ("relu"), as in Keras.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal._catalog import Catalog
from shoal.ops import nn as _nn
from shoal.ops import numpy as _np
from shoal.ops.dispatch import keras_op
from shoal.ops.numpy import _t

celu = _nn.celu
elu = _nn.elu
glu = _nn.glu
hard_shrink = _nn.hard_shrink
hard_sigmoid = _nn.hard_sigmoid
hard_silu = _nn.hard_silu
hard_swish = hard_silu
hard_tanh = _nn.hard_tanh
leaky_relu = _nn.leaky_relu
log_sigmoid = _nn.log_sigmoid
log_softmax = _nn.log_softmax
mish = _nn.mish
relu6 = _nn.relu6
selu = _nn.selu
sigmoid = _nn.sigmoid
silu = _nn.silu
swish = silu
soft_shrink = _nn.soft_shrink
softmax = _nn.softmax
softplus = _nn.softplus
softsign = _nn.softsign
sparse_plus = _nn.sparse_plus
sparse_sigmoid = _nn.sparse_sigmoid
sparsemax = _nn.sparsemax
squareplus = _nn.squareplus
tanh = _np.tanh
tanh_shrink = _nn.tanh_shrink
threshold = _nn.threshold
exponential = _np.exp


@keras_op
def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit, generalized.

    `x` above `threshold` (else 0), capped at `max_value`, minus
    `negative_slope * (threshold - x)` below `threshold`. Defaults give `max(x, 0)`.
    """
    x = _t(x)
    out = jnp.where(x > threshold, x, 0) if threshold != 0 else jax.nn.relu(x)
    if max_value is not None:
        out = jnp.clip(out, 0, max_value)
    if negative_slope != 0:
        out = out - negative_slope * jax.nn.relu(threshold - x)
    return out


@keras_op
def gelu(x, approximate=False):
    """Gaussian error linear unit `x * P(X <= x)`, X ~ N(0, 1) (tanh approximation if asked)."""
    return jax.nn.gelu(_t(x), approximate=approximate)


def linear(x):
    """The identity: returns `x` unchanged."""
    return x


_BUILTINS = (
    celu, elu, exponential, gelu, glu, hard_shrink, hard_sigmoid, hard_silu, hard_tanh,
    leaky_relu, linear, log_sigmoid, log_softmax, mish, relu, relu6, selu, sigmoid, silu,
    soft_shrink, softmax, softplus, softsign, sparse_plus, sparse_sigmoid, sparsemax,
    squareplus, tanh, tanh_shrink, threshold,
)  # fmt: skip
# Canonical names are the functions' own, except `exponential`, which is `ops.exp`.
_NAMES = {id(fn): fn.__name__ for fn in _BUILTINS} | {id(exponential): "exponential"}
_CATALOG = Catalog(
    "activation function",
    {_NAMES[id(fn)]: fn for fn in _BUILTINS} | {"swish": silu, "hard_swish": hard_silu},
    instantiate=False,
)


def serialize(activation):
    """A built-in activation's name ("relu"); a Keras 3 config dict for anything else."""
    name = _NAMES.get(id(activation))
    return name if name is not None else _CATALOG.serialize(activation)


def deserialize(config, custom_objects=None):
    """The activation function a name or config dict describes."""
    return _CATALOG.deserialize(config, custom_objects)


def get(identifier):
    """An activation from a name ("relu"), config dict or callable; None gives `linear`."""
    return linear if identifier is None else _CATALOG.get(identifier)


__all__ = sorted(_NAMES.values()) + ["deserialize", "get", "hard_swish", "serialize", "swish"]
