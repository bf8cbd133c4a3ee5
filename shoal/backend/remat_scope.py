"""`RematScope`: which layers rematerialize their call (`keras.RematScope`).

Layers (and other Operations) take the scope active when they are *created*, as in Keras,
and apply it whenever they run on arrays:

- `"full"`: the whole call under `jax.checkpoint`;
- `"activations"`: only the layer's `activation` (layers without one run as usual);
- `"larger_than"`: the whole call when its output has more than `output_size_threshold`
  elements;
- `"list_of_layers"`: the whole call of the layers named in `layer_names`;
- `None`: nothing (a scope that switches an outer one off).
"""

from __future__ import annotations

import collections
import functools
import math
import numbers

import jax

from shoal.backend.remat import remat, remat_call
from shoal.backend.scope_stack import ScopeStack, StackedScope
from shoal.backend.symbolic import KerasTensor

MODES = ("full", "activations", "larger_than", "list_of_layers", None)

RematMode = collections.namedtuple("RematMode", ["mode", "output_size_threshold", "layer_names"])


class RematScope(StackedScope):
    """Rematerialization (gradient checkpointing) for the layers created inside it.

    Args:
        mode: one of "full", "activations", "larger_than", "list_of_layers" or None.
        output_size_threshold: for "larger_than", the output size (number of elements)
            above which a layer's call is rematerialized.
        layer_names: for "list_of_layers", the names of the layers to rematerialize.

    Example:
        >>> with RematScope(mode="list_of_layers", layer_names=["big"]):  # doctest: +SKIP
        ...     big = layers.Dense(4096, activation="relu", name="big")
        ...     small = layers.Dense(10, name="small")
    """

    _stack = ScopeStack()

    def __init__(self, mode="full", output_size_threshold=1024, layer_names=None):
        if mode not in MODES:
            raise ValueError(f"RematScope: argument 'mode' must be one of {MODES}; got {mode!r}")
        if (
            isinstance(output_size_threshold, bool)
            or not isinstance(output_size_threshold, numbers.Real)
            or output_size_threshold < 0
        ):
            raise ValueError(
                "RematScope: argument 'output_size_threshold' must be a non-negative number; "
                f"got {output_size_threshold!r}"
            )
        if layer_names is not None and (
            isinstance(layer_names, str)
            or not isinstance(layer_names, (list, tuple, set))
            or not all(isinstance(n, str) for n in layer_names)
        ):
            raise ValueError(
                "RematScope: argument 'layer_names' must be a list of layer names (str) or "
                f"None; got {layer_names!r}"
            )
        self.mode = mode
        self.output_size_threshold = output_size_threshold
        self.layer_names = list(layer_names or [])


def get_current_remat_mode():
    """The innermost active scope's `RematMode`, or None outside any `RematScope`."""
    scope = RematScope._stack.current()
    if scope is None:
        return None
    return RematMode(scope.mode, scope.output_size_threshold, scope.layer_names)


def _output_size(spec) -> int:
    leaves = jax.tree_util.tree_leaves(spec, is_leaf=lambda x: isinstance(x, KerasTensor))
    return sum(math.prod(d or 1 for d in x.shape) for x in leaves if isinstance(x, KerasTensor))


def _with_remat_activation(operation, fn):
    @functools.wraps(fn)
    def call(*args, **kwargs):
        original = operation.activation
        object.__setattr__(operation, "activation", remat(original))
        try:
            return fn(*args, **kwargs)
        finally:
            object.__setattr__(operation, "activation", original)

    return call


def call_with_remat(operation, fn, args, kwargs):
    """`fn(*args, **kwargs)` (the operation's call) rematerialized as the `RematScope`
    the operation was created in asks."""
    remat_mode = getattr(operation, "_remat_mode", None)
    mode = remat_mode.mode if remat_mode is not None else None
    whole = mode == "full" or (
        mode == "list_of_layers" and operation.name in remat_mode.layer_names
    )
    if mode == "larger_than":
        size = _output_size(operation.compute_output_spec(*args, **kwargs))
        whole = bool(size) and size > remat_mode.output_size_threshold
    if whole:
        return remat_call(fn, args, kwargs)
    if mode == "activations" and getattr(operation, "activation", None) is not None:
        return _with_remat_activation(operation, fn)(*args, **kwargs)
    return fn(*args, **kwargs)
