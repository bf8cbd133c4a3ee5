"""An optax rule's initial state, filled on the host when it is made of constants.

`tx.init(params)` run eagerly makes each leaf with a device operation (`zeros_like`), and
JAX compiles one small program per distinct shape: ~20 ms each on a 2-core CPU, paid in the
first `fit` of a process. The initial states of the rules shoal uses are constant fills
(zeros, ones, a scalar count), so `initial_state` traces `tx.init` (no compile), reads each
leaf's constant from the jaxpr and fills it with NumPy; any leaf that is not a constant
fill sends the whole state back to the eager `tx.init`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jax_core

# Primitives that turn one constant operand into a constant result of the output's shape.
_FILLS = ("broadcast_in_dim", "convert_element_type", "copy", "reshape")


def initial_state(tx, variables):
    """`tx.init` for arrays shaped like `variables` (their values are not read)."""
    structs = [jax.ShapeDtypeStruct(tuple(v.shape), jnp.dtype(v.dtype)) for v in variables]
    closed, out_shape = jax.make_jaxpr(tx.init, return_shape=True)(structs)
    leaves, treedef = jax.tree_util.tree_flatten(out_shape)
    producer = {}
    for eqn in closed.jaxpr.eqns:
        for var in eqn.outvars:
            producer[var] = eqn
    consts = dict(zip(closed.jaxpr.constvars, closed.consts, strict=True))
    values = []
    for var, leaf in zip(closed.jaxpr.outvars, leaves, strict=True):
        fill = _constant(var, producer, consts)
        if fill is None or np.ndim(fill) != 0:
            return tx.init([jnp.zeros(s.shape, s.dtype) for s in structs])
        values.append(jax.device_put(np.full(leaf.shape, fill, leaf.dtype)))
    return jax.tree_util.tree_unflatten(treedef, values)


def _constant(var, producer, consts):
    """The scalar constant `var` is filled with, or None."""
    if isinstance(var, jax_core.Literal):
        return var.val
    if var in consts:
        return consts[var] if np.ndim(consts[var]) == 0 else None
    eqn = producer.get(var)
    if eqn is None or eqn.primitive.name not in _FILLS or len(eqn.invars) != 1:
        return None
    return _constant(eqn.invars[0], producer, consts)
