"""`GraphBuilder`: the ONNX nodes, initializers and tensor values of one export.

Emitters read input values with `g.value(tensor)`, add ONNX nodes with `g.op(...)`,
weights with `g.const(...)` and publish outputs with `g.set(tensor, name)`.

Layouts: a model tensor may exist in several layouts at once. A layout is a permutation
`perm` of the Keras (natural) axes: the ONNX value is `transpose(keras_value, perm)`.
Convolutions and pooling ask for channels-first (`channels_first_perm`) and publish their
outputs that way, elementwise layers work in whatever layout their input has, and a
Transpose is inserted (once per tensor and layout) only where a layer needs another one.
So `Conv2D -> ReLU -> MaxPooling2D -> Conv2D -> Flatten` transposes twice, not eight times.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from shoal.backend.symbolic import KerasTensor
from shoal.export.layer_graph import (
    ExportError,
    ExportFormat,
    first_argument,
    tensor_arguments,
    unique_name,
)
from shoal.layers.base import Layer

# The ONNX exporter's emitter table and messages (the walk is in graph.py).
ONNX = ExportFormat(
    "onnx",
    "ONNX",
    alternatives="format='stablehlo' (which traces any model)",
    float32_advice="export a float32 copy of the model, or use format='stablehlo'",
)


def channels_first_perm(rank: int) -> tuple:
    """Channels-last -> channels-first permutation for a tensor of `rank` axes."""
    return (0, rank - 1, *range(1, rank - 1))


def _norm_perm(perm):
    if perm is None:
        return None
    perm = tuple(int(p) for p in perm)
    return None if perm == tuple(range(len(perm))) else perm


def form_axis(axis: int, rank: int, perm) -> int:
    """Where Keras axis `axis` lives in the layout `perm`."""
    axis = axis % rank
    return axis if perm is None else list(perm).index(axis)


class Forms:
    """One model tensor in the ONNX graph: its value name in each layout that exists."""

    def __init__(self, name: str, perm=None):
        self.by_perm = {_norm_perm(perm): name}


_ONNX_DTYPES = {
    "float32": TensorProto.FLOAT,
    "float64": TensorProto.DOUBLE,
    "float16": TensorProto.FLOAT16,
    "int32": TensorProto.INT32,
    "int64": TensorProto.INT64,
    "int8": TensorProto.INT8,
    "uint8": TensorProto.UINT8,
    "bool": TensorProto.BOOL,
}


def onnx_dtype(dtype: str) -> int:
    try:
        return _ONNX_DTYPES[str(dtype)]
    except KeyError:
        raise ExportError(f"export (onnx): unsupported tensor dtype {dtype!r}") from None


class GraphBuilder:
    """Collects ONNX nodes and initializers; a child builder collects a subgraph body."""

    def __init__(self, opset: int, parent: GraphBuilder | None = None):
        self.opset = opset
        self.parent = parent
        self.root = self if parent is None else parent.root
        self.nodes: list = []
        if parent is None:
            self.initializers: list = []
            self.used_names: set = set()
            self.env: dict = {}
            self.masks: dict = {}
            self.scope = ""
            self.temporaries: list = []  # tensors made by emitters; alive = their ids stay unique

    # -- names, nodes, constants ----------------------------------------------------
    def fresh(self, hint: str) -> str:
        root = self.root
        return unique_name(f"{root.scope}/{hint}" if root.scope else hint, root.used_names)

    def reserve(self, name: str) -> str:
        if name in self.root.used_names:
            raise ExportError(f"export (onnx): duplicate graph value name {name!r}")
        self.root.used_names.add(name)
        return name

    def op(self, op_type: str, inputs, n_out: int = 1, outputs=None, **attrs):
        """Add a node; returns its output name (or list of names when n_out > 1)."""
        if outputs is None:
            outputs = [self.fresh(op_type) for _ in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(
            helper.make_node(
                op_type, list(inputs), list(outputs), name=self.fresh(f"{op_type}_node"), **attrs
            )
        )
        return outputs[0] if len(outputs) == 1 else list(outputs)

    def const(self, value, hint: str = "const", dtype=None) -> str:
        """An initializer (of the top-level graph; subgraphs read it from the outer scope)."""
        array = np.asarray(value)
        if dtype is not None:
            array = array.astype(dtype)
        elif array.dtype == np.float64:
            array = array.astype(np.float32)
        elif array.dtype.kind in "iu" and array.dtype != np.int64:
            array = array.astype(np.int64)
        name = self.fresh(hint)
        self.root.initializers.append(numpy_helper.from_array(array, name))
        return name

    def ints(self, values, hint: str = "ints") -> str:
        return self.const(np.asarray(list(values), np.int64), hint)

    def scalar(self, value, dtype=np.float32, hint: str = "scalar") -> str:
        return self.const(np.asarray(value, dtype), hint)

    def subgraph(self) -> GraphBuilder:
        return GraphBuilder(self.opset, parent=self)

    # -- opset-dependent spellings ----------------------------------------------------
    def reduce(self, op_type: str, x: str, axes, keepdims: bool) -> str:
        """Reduce* over `axes` (an attribute before opset 18, an input from 18; ReduceSum 13)."""
        axes = [int(a) for a in axes]
        as_input = self.opset >= (13 if op_type == "ReduceSum" else 18)
        if as_input:
            return self.op(op_type, [x, self.ints(axes, "axes")], keepdims=int(keepdims))
        return self.op(op_type, [x], axes=axes, keepdims=int(keepdims))

    def squeeze(self, x: str, axes) -> str:
        return self.op("Squeeze", [x, self.ints(axes, "axes")])

    def unsqueeze(self, x: str, axes) -> str:
        return self.op("Unsqueeze", [x, self.ints(axes, "axes")])

    def transpose(self, x: str, perm) -> str:
        return self.op("Transpose", [x], perm=[int(p) for p in perm])

    def reverse(self, x: str, axis: int) -> str:
        """Reverse `x` along `axis` (a Slice with step -1)."""
        return self.op(
            "Slice",
            [
                x,
                self.ints([-1], "starts"),
                self.ints([np.iinfo(np.int64).min], "ends"),
                self.ints([axis], "axes"),
                self.ints([-1], "steps"),
            ],
        )

    # -- model tensors and their layouts ----------------------------------------------
    def set(self, tensor: KerasTensor, name: str, perm=None) -> None:
        self.root.env[id(tensor)] = Forms(name, perm)

    def alias(self, tensor: KerasTensor, source: KerasTensor) -> None:
        """`tensor` is `source` (identity layers): share every layout already made."""
        self.root.env[id(tensor)] = self._forms(source)

    def _forms(self, tensor) -> Forms:
        forms = self.root.env.get(id(tensor))
        if forms is None:
            raise ExportError(f"export (onnx): internal error: no value for tensor {tensor!r}")
        return forms

    def value(self, tensor: KerasTensor, perm=None) -> str:
        """The ONNX value of `tensor` in layout `perm` (None = Keras' own), transposing once."""
        forms = self._forms(tensor)
        want = _norm_perm(perm)
        if want in forms.by_perm:
            return forms.by_perm[want]
        have = None if None in forms.by_perm else next(iter(forms.by_perm))
        rank = len(tensor.shape)
        q = list(range(rank)) if have is None else list(have)
        p = list(range(rank)) if want is None else list(want)
        name = self.root.transpose(forms.by_perm[have], [q.index(a) for a in p])
        forms.by_perm[want] = name
        return name

    def any_value(self, tensor: KerasTensor, prefer=None):
        """(name, perm) of `tensor` in `prefer` if it exists, else natural, else any layout."""
        forms = self._forms(tensor).by_perm
        for key in (_norm_perm(prefer), None):
            if key in forms:
                return forms[key], key
        key = next(iter(forms))
        return forms[key], key

    def perms(self, tensor: KerasTensor) -> list:
        return list(self._forms(tensor).by_perm)

    # -- masks ----------------------------------------------------------------------
    #
    # Masks are derived the way a Functional call routes them at run time (Keras 3's rule):
    # a layer gets `mask=` (its explicit argument, else the mask(s) of its one tensor
    # argument) and its output mask is `compute_mask(first argument, that mask)`. The
    # exporter recognises mask makers (Embedding, Masking), layers that pass the mask on
    # unchanged, and nested models (whose output masks their own graph computes).

    def routed_masks(self, node) -> list:
        """The masks `node`'s layer receives: one per tensor of its routed argument."""
        explicit = node.call_kwargs.get("mask") if node is not None else None
        if explicit is not None:
            items = list(explicit) if isinstance(explicit, (list, tuple)) else [explicit]
            return [self._as_bool(m) if isinstance(m, KerasTensor) else None for m in items]
        if node is None or not node.input_tensors or tensor_arguments(node) != 1:
            return []
        return self._argument_masks(node)

    def _argument_masks(self, node) -> list:
        """The masks carried by the tensor(s) of `node`'s first call argument."""
        first = first_argument(node)
        tensors = list(first) if isinstance(first, (list, tuple)) else [first]
        return [self.mask(t) if isinstance(t, KerasTensor) else None for t in tensors]

    def node_mask(self, node):
        """The bool mask (ONNX name) a single-input layer receives, or None."""
        masks = self.routed_masks(node)
        return masks[0] if masks else None

    def _as_bool(self, tensor) -> str:
        m = self.value(tensor)
        return m if tensor.dtype == "bool" else self.op("Cast", [m], to=TensorProto.BOOL)

    def mask(self, tensor: KerasTensor):
        """The mask that travels with `tensor` at run time, as an ONNX bool value, or None."""
        cache = self.root.masks
        if id(tensor) not in cache:
            try:
                cache[id(tensor)] = self._derive_mask(tensor)
            except ExportError as err:
                cache[id(tensor)] = err
        result = cache[id(tensor)]
        if isinstance(result, ExportError):
            raise result
        return result

    def _derive_mask(self, tensor):
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            return None
        op, node_index, tensor_index = history
        node = op._inbound_nodes[node_index]
        if node.is_input or not isinstance(op, Layer) or id(tensor) not in self.root.env:
            return None  # model inputs, bare operations: no mask
        maker = MASK_MAKERS.get(type(op))
        if maker is not None:
            return maker(self, op, node)
        if node.call_kwargs.get("mask") is not None:
            incoming = self.routed_masks(node)
        else:
            incoming = self._argument_masks(node)
        if all(m is None for m in incoming):
            return None
        # Ask the layer what it does with a mask, giving it a stand-in it can only pass on.
        sentinel = object()
        given = [sentinel if m is not None else None for m in incoming]
        try:
            out = op.compute_mask(first_argument(node), given[0] if len(given) == 1 else given)
        except Exception:  # a layer that computes with its mask: not a pass-through
            out = _UNKNOWN
        if isinstance(out, (list, tuple)):
            out = out[tensor_index] if tensor_index < len(out) else None
        if out is None:
            return None
        if out is sentinel and len(incoming) == 1:
            return incoming[0]
        raise ONNX.unsupported_mask(op)


_UNKNOWN = object()

# Layers that create masks (Embedding, Masking): type -> fn(g, layer, node) -> mask name.
MASK_MAKERS: dict[type, Callable] = {}
