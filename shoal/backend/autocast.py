"""Autocasting: float variables read inside a mixed-precision layer call come out in the
layer's compute dtype (Keras 3's `AutocastScope`).

Variables keep their own dtype (float32 "master weights" under `mixed_float16` /
`mixed_bfloat16`); only the value a read returns is cast, so gradients flow back to the
float32 values through the cast. `Layer.__call__` enters a scope when its policy is mixed
(or clears it for `autocast=False` layers); `Variable.value` consults the innermost one.
Works inside a `StatelessScope` too: the cast applies to the scope's value.

Example:
    >>> import jax.numpy as jnp
    >>> from shoal.backend.variables import Variable
    >>> v = Variable(jnp.ones(2))
    >>> with AutocastScope("float16"):
    ...     print(v.value.dtype, v.dtype)
    float16 float16
    >>> print(v.value.dtype)
    float32
"""

from __future__ import annotations

import jax.numpy as jnp

from shoal.backend import dtypes
from shoal.backend.scope_stack import ScopeStack, StackedScope


class AutocastScope(StackedScope):
    """Within this context, autocast-enabled float Variables read as `dtype`.

    `AutocastScope(None)` disables autocasting within it (a layer with `autocast=False`
    nested inside a mixed-precision one).
    """

    _stack = ScopeStack()

    def __init__(self, dtype):
        if dtype is not None:
            dtype = dtypes.standardize_dtype(dtype)
            if not dtypes.is_float_dtype(dtype):
                raise ValueError(
                    "AutocastScope: argument 'dtype' must be a floating-point dtype such as "
                    f"'float16' (or None), got {dtype!r}"
                )
        self.dtype = dtype

    def maybe_cast(self, value):
        """`value` cast to the scope's dtype when it is a float array of another dtype."""
        dtype = getattr(value, "dtype", None)
        if self.dtype is None or dtype is None or not jnp.issubdtype(dtype, jnp.floating):
            return value
        return value if dtypes.standardize_dtype(dtype) == self.dtype else value.astype(self.dtype)


def get_autocast_scope() -> AutocastScope | None:
    return AutocastScope._stack.current()


def layer_autocast_scope(layer) -> AutocastScope | None:
    """The scope `layer.__call__` must enter, or None to keep the current one (Keras' rule).

    Inside an active scope: clear it for `autocast=False` or non-float layers, switch it
    when the layer computes in another dtype. Outside any scope: enter one when the
    layer's policy is mixed (compute dtype != variable dtype).
    """
    current = get_autocast_scope()
    compute = layer.compute_dtype
    if current is not None:
        if not layer.autocast or not dtypes.is_float_dtype(compute):
            return None if current.dtype is None else AutocastScope(None)
        if current.dtype != compute:
            return AutocastScope(compute)
        return None
    if layer.autocast and compute != layer.variable_dtype and dtypes.is_float_dtype(compute):
        return AutocastScope(compute)
    return None
