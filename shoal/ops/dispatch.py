"""`keras_op`: the one decorator every public op in `shoal.ops` goes through.

It is the single place where an op meets the kinds of values users pass it:

- `Variable`s (anywhere in the arguments, also inside lists and dicts) are
  replaced by their current value, so op bodies only ever see arrays,
  NumPy values and Python scalars.
- symbolic `KerasTensor`s (Functional API) make the call record a graph node
  instead of computing: the op runs under `jax.eval_shape` to find the output
  shapes, and runs for real when the model executes the node. Variables stay
  in the node's arguments, so each execution reads their value of the moment.
"""

from __future__ import annotations

import functools

import jax

from shoal.backend import naming
from shoal.backend.operation import Operation
from shoal.backend.symbolic import KerasTensor, eval_op_output_spec
from shoal.backend.variables import Variable


def _is_leaf(x) -> bool:
    return isinstance(x, (Variable, KerasTensor))


class OpNode(Operation):
    """An op call on symbolic inputs: the Operation a graph node refers to."""

    def __init__(self, fn):
        super().__init__(name=naming.uniquify(fn.__name__))
        self.fn = fn

    def call(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def compute_output_spec(self, *args, **kwargs):
        spec = getattr(self.fn, "output_spec", None)
        if spec is not None:  # an op whose output shape depends on values (unique, ...)
            return spec(*args, **kwargs)
        return eval_op_output_spec(self.call, *args, **kwargs)


def symbolic_spec(spec):
    """Give an op (made by `keras_op`) the output spec of its symbolic calls, for ops
    whose output sizes depend on input values and so cannot be traced: `spec` takes the
    op's arguments (KerasTensors among them) and returns KerasTensors, None for sizes
    known only when run (as Keras does)."""

    def attach(op):
        op.output_spec = spec
        return op

    return attach


def keras_op(fn):
    """Make `fn` a public op: unwrap Variables, dispatch symbolic inputs."""

    @functools.wraps(fn)
    def op(*args, **kwargs):
        leaves, treedef = jax.tree_util.tree_flatten((args, kwargs), is_leaf=_is_leaf)
        if any(isinstance(x, KerasTensor) for x in leaves):
            return OpNode(op).symbolic_call(*args, **kwargs)
        if any(isinstance(x, Variable) for x in leaves):
            leaves = [x.value if isinstance(x, Variable) else x for x in leaves]
            args, kwargs = jax.tree_util.tree_unflatten(treedef, leaves)
        return fn(*args, **kwargs)

    return op


def public_names(namespace: dict) -> list[str]:
    """The public functions a module defines (its `__all__`), given its `globals()`."""
    module = namespace["__name__"]
    return sorted(
        name
        for name, value in namespace.items()
        if not name.startswith("_")
        and callable(value)
        and getattr(value, "__module__", None) == module
    )
