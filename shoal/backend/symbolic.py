"""Symbolic tensors and graph nodes for the Functional API.

A `KerasTensor` is a shape and a dtype with a history: the operation (layer
or op) and node that produced it. Calling an operation on KerasTensors adds a
`Node`; functional models walk those nodes.
"""

from __future__ import annotations

import threading

import jax
import numpy as np

from shoal.backend import dtypes
from shoal.backend.array_leaves import bind_static
from shoal.backend.symbolic_scope import SymbolicScope
from shoal.backend.unknown_sizes import candidate_sizes, needed_sizes


class KerasTensor:
    def __init__(
        self, shape, dtype="float32", sparse=False, ragged=False, record_history=True, name=None
    ):
        if ragged:
            raise ValueError(
                "KerasTensor: argument 'ragged' must be False (ragged tensors exist only on "
                f"Keras' TensorFlow backend; JAX arrays are dense), got ragged={ragged!r}"
            )
        self.ragged = False
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtypes.standardize_dtype(dtype)
        self.sparse = bool(sparse)
        self.record_history = bool(record_history)
        self.name = name
        self._keras_history = None
        self._keras_mask = None  # a KerasTensor when the producing layer emits a mask

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def reshape(self, newshape):
        from shoal import ops

        return ops.reshape(self, newshape)

    def squeeze(self, axis=None):
        from shoal import ops

        return ops.squeeze(self, axis=axis)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __iter__(self):
        raise NotImplementedError(
            "Iterating over a symbolic KerasTensor is not supported: its length is not known "
            "until the model runs. Use shoal.ops (e.g. ops.unstack) instead."
        )

    def __bool__(self):
        raise TypeError("A symbolic KerasTensor cannot be used as a Python bool.")

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "A symbolic KerasTensor cannot be converted to a NumPy array: it holds no values. "
            "Build a Model from your Inputs and outputs, then call it on data."
        )

    def __getitem__(self, key):
        from shoal import ops

        return ops.get_item(self, key)


def _symbolic_binary(name, reverse=False):
    def method(self, other):
        from shoal import ops

        fn = getattr(ops, name)
        return fn(other, self) if reverse else fn(self, other)

    return method


for _dunder, _op in {
    "add": "add",
    "sub": "subtract",
    "mul": "multiply",
    "truediv": "divide",
    "floordiv": "floor_divide",
    "mod": "mod",
    "pow": "power",
    "matmul": "matmul",
}.items():
    setattr(KerasTensor, f"__{_dunder}__", _symbolic_binary(_op))
    setattr(KerasTensor, f"__r{_dunder}__", _symbolic_binary(_op, reverse=True))
for _dunder, _op in {
    "lt": "less",
    "le": "less_equal",
    "gt": "greater",
    "ge": "greater_equal",
    "ne": "not_equal",  # no __eq__, as in Keras: KerasTensors compare and hash by identity
}.items():
    setattr(KerasTensor, f"__{_dunder}__", _symbolic_binary(_op))
for _dunder, _op in {"and": "logical_and", "or": "logical_or", "xor": "logical_xor"}.items():
    setattr(KerasTensor, f"__{_dunder}__", _symbolic_binary(_op))
    setattr(KerasTensor, f"__r{_dunder}__", _symbolic_binary(_op, reverse=True))


def _unary(name):
    def method(self):
        from shoal import ops

        return getattr(ops, name)(self)

    return method


KerasTensor.__neg__ = _unary("negative")
KerasTensor.__abs__ = _unary("abs")
KerasTensor.__invert__ = _unary("logical_not")


def _round(self, ndigits=None):
    from shoal import ops

    return ops.round(self, decimals=ndigits or 0)


KerasTensor.__round__ = _round


def is_keras_tensor(x) -> bool:
    return isinstance(x, KerasTensor)


def any_symbolic(args, kwargs=None) -> bool:
    leaves = jax.tree_util.tree_leaves((args, kwargs or {}), is_leaf=is_keras_tensor)
    return any(isinstance(x, KerasTensor) for x in leaves)


class Node:
    """One call of an operation on symbolic inputs."""

    def __init__(self, operation, call_args=(), call_kwargs=None, outputs=None):
        self.operation = operation
        self.call_args = tuple(call_args)
        self.call_kwargs = dict(call_kwargs or {})
        self.outputs = outputs
        leaves = jax.tree_util.tree_leaves(
            (self.call_args, self.call_kwargs), is_leaf=is_keras_tensor
        )
        self.input_tensors = [x for x in leaves if isinstance(x, KerasTensor)]
        self.output_tensors = [
            x
            for x in jax.tree_util.tree_leaves(outputs, is_leaf=is_keras_tensor)
            if isinstance(x, KerasTensor)
        ]
        self.is_input = not self.input_tensors
        operation._inbound_nodes.append(self)
        node_index = len(operation._inbound_nodes) - 1
        for i, t in enumerate(self.output_tensors):
            t._keras_history = (operation, node_index, i)
        for t in self.input_tensors:
            if t._keras_history is not None:
                t._keras_history[0]._outbound_nodes.append(self)

    @property
    def parent_nodes(self) -> list:
        parents = []
        for t in self.input_tensors:
            if t._keras_history is not None:
                op, index, _ = t._keras_history
                parents.append(op._inbound_nodes[index])
        return parents

    def map_arguments(self, values: dict):
        """Rebuild (args, kwargs) with each input KerasTensor replaced by values[id(tensor)]."""

        def swap(x):
            return values[id(x)] if isinstance(x, KerasTensor) else x

        args, kwargs = jax.tree_util.tree_map(
            swap, (self.call_args, self.call_kwargs), is_leaf=is_keras_tensor
        )
        return args, kwargs


def spec_to_struct(x, fill: int, sizes=None):
    """A KerasTensor as a jax.ShapeDtypeStruct with unknown dims set to `fill`, or to
    `sizes[axis]` where given."""
    sizes = sizes or {}
    shape = tuple(sizes.get(i, fill) if d is None else d for i, d in enumerate(x.shape))
    return jax.ShapeDtypeStruct(shape, np.dtype(x.dtype) if x.dtype != "bfloat16" else x.dtype)


class _TraceFill(threading.local):
    value = None  # the size standing in for unknown dimensions in the current trace


_TRACE_FILL = _TraceFill()


def in_shape_trace() -> bool:
    """Whether an output-shape trace (`eval_output_spec`) is in progress."""
    return _TRACE_FILL.value is not None


def unknown_batch(shape):
    """`shape` with its first size None when it is the stand-in for an unknown size of the
    output-shape trace in progress (layers then build, and record, `(None, ...)`)."""
    fill = _TRACE_FILL.value
    if fill is not None and isinstance(shape, tuple) and shape and shape[0] == fill:
        return (None,) + shape[1:]
    return shape


_FACTORS = 5040  # 7!: divisible by every window or group size up to 10, and many more


def eval_output_spec(fn, *args, **kwargs):
    """Output KerasTensors of fn(*args, **kwargs) with KerasTensor inputs, by abstract tracing.

    Unknown dimensions are traced at two sizes; output dims that differ are unknown.
    """
    return _eval_output_spec(fn, args, kwargs, probe_small=False)


def eval_op_output_spec(fn, *args, **kwargs):
    """`eval_output_spec` for an op: output sizes that are bounded by a known size when an
    unknown one is large (`x[:5]`, the diagonal of `(None, 3)`) are unknown too, as in Keras,
    found by a third trace with small stand-ins."""
    return _eval_output_spec(fn, args, kwargs, probe_small=True)


_SMALL_FILL = 2
_MAX_SINGLE_GUESSES = 32  # one None set to one known size, once the alignments fail


def _retry(trace, shapes, probe_small, err):
    """`(first, second, sizes)` traces for a call whose trace with stand-ins failed."""
    # Code that folds the unknown batch into another axis and back (a reshape to
    # (-1, window, ...)) needs sizes divisible by its factors, as Keras' None allows.
    try:
        return trace(83 * _FACTORS), trace(89 * _FACTORS), {}
    except Exception:  # noqa: BLE001
        pass

    def works(sizes):
        try:
            trace(83, sizes)
            return True
        except Exception:  # noqa: BLE001
            return False

    # A None that must equal a known size takes it (Keras' broadcast rule).
    # Ops trace cheaply, so they try more guesses than layers (whose traces can be costly).
    for sizes in candidate_sizes(shapes, _MAX_SINGLE_GUESSES if probe_small else 0):
        if works(sizes):
            sizes = needed_sizes(sizes, works)
            try:
                return trace(83, sizes), trace(89, sizes), sizes
            except Exception:  # noqa: BLE001
                continue
    # An op may bound an unknown size from above (padding or cropping to a target size).
    if probe_small:
        try:
            return trace(_SMALL_FILL), trace(_SMALL_FILL + 1), {}
        except Exception:  # noqa: BLE001
            pass
    raise err from None


def _same_ranks(a, b) -> bool:
    """Whether two traced outputs have the same structure and ranks."""
    leaves_a, tree_a = jax.tree_util.tree_flatten(a)
    leaves_b, tree_b = jax.tree_util.tree_flatten(b)
    return tree_a == tree_b and all(
        getattr(x, "ndim", None) == getattr(y, "ndim", None)
        for x, y in zip(leaves_a, leaves_b, strict=True)
    )


def _eval_output_spec(fn, args, kwargs, probe_small):
    leaves = jax.tree_util.tree_leaves((args, kwargs), is_leaf=is_keras_tensor)
    tensors = list({id(x): x for x in leaves if isinstance(x, KerasTensor)}.values())

    def trace(fill, sizes=None):
        sizes = sizes or {}
        index = {id(t): i for i, t in enumerate(tensors)}

        def convert(x):
            if not isinstance(x, KerasTensor):
                return x
            i = index[id(x)]
            axes = {axis: size for (j, axis), size in sizes.items() if j == i}
            return spec_to_struct(x, fill, axes)

        sargs, skwargs = jax.tree_util.tree_map(convert, (args, kwargs), is_leaf=is_keras_tensor)

        def is_struct(x):
            return isinstance(x, jax.ShapeDtypeStruct)

        wrapped, structs = bind_static(fn, sargs, skwargs, is_struct, is_leaf=is_struct)

        previous = _TRACE_FILL.value
        _TRACE_FILL.value = fill
        try:
            with SymbolicScope():
                return jax.eval_shape(wrapped, *structs)
        finally:
            _TRACE_FILL.value = previous

    has_unknown = any(None in t.shape for t in tensors)
    sizes = {}
    try:
        first = trace(83)
        second = trace(89) if has_unknown else first
    except Exception as err:  # noqa: BLE001 - retried below; this error stands if that fails
        if not has_unknown:
            raise
        first, second, sizes = _retry(trace, [t.shape for t in tensors], probe_small, err)
    third = None
    if probe_small and has_unknown:
        try:
            third = trace(_SMALL_FILL, sizes)
        except Exception:  # noqa: BLE001 - small sizes may not suit the op: no information
            third = None
        if third is not None and not _same_ranks(first, third):
            third = None  # e.g. a size-1 axis squeezed away: no information either

    def merge(a, b, c=None):
        if a is None:
            return None
        shape = tuple(
            da if da == db and (c is None or c.shape[i] == da) else None
            for i, (da, db) in enumerate(zip(a.shape, b.shape, strict=True))
        )
        return KerasTensor(shape, dtype=dtypes.standardize_dtype(a.dtype))

    def is_none(x):
        return x is None

    if third is None:
        return jax.tree_util.tree_map(merge, first, second, is_leaf=is_none)
    return jax.tree_util.tree_map(merge, first, second, third, is_leaf=is_none)
