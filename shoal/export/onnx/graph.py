"""The ONNX graph walker: shoal's layer graph in, an `onnx.ModelProto` out.

A model's nodes are visited in execution order; each layer is written by the emitter
registered for its exact class (`register`), which gets the `GraphBuilder` (`g`, see
`builder.py`), the layer, its input and output tensors and its node.

Masks: a layer that takes a `mask` and receives one must have an emitter that declares
what it does with it (`mask="ignore"` when inference outputs do not depend on it, `"use"`
when the emitter reads it through `g.node_mask(node)`); anything else is refused rather
than exported with different numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import onnx
from onnx import helper

from shoal.backend.symbolic import KerasTensor
from shoal.export.onnx.builder import (
    MASK_MAKERS,
    ExportError,
    GraphBuilder,
    channels_first_perm,
    form_axis,
    label,
    onnx_dtype,
)
from shoal.layers.base import Layer

__all__ = [
    "ExportError",
    "GraphBuilder",
    "build_model",
    "channels_first_perm",
    "emitter_for",
    "form_axis",
    "label",
    "register",
    "register_mask",
    "supported_layers",
    "walk",
]

DEFAULT_OPSET = 17
MIN_OPSET = 17
BATCH = "batch"


@dataclasses.dataclass(frozen=True)
class Emitter:
    fn: Callable
    mask: str | None  # None: must not get a mask; "ignore": outputs do not use it; "use"


_EMITTERS: dict[type, Emitter] = {}


def register(*classes, mask: str | None = None):
    """Decorator: `fn(g, layer, inputs, outputs, node)` writes layers of exactly `classes`."""

    def decorate(fn):
        for cls in classes:
            _EMITTERS[cls] = Emitter(fn, mask)
        return fn

    return decorate


def supported_layers() -> list[str]:
    """Names of the layer classes the ONNX exporter can write."""
    return sorted({cls.__name__ for cls in _EMITTERS})


def emitter_for(layer) -> Emitter:
    # Exact classes only: a subclass may override call() and compute something else.
    emitter = _EMITTERS.get(type(layer))
    if emitter is not None:
        return emitter
    cls = type(layer).__name__
    if cls == "Lambda":
        why = "A Lambda layer runs arbitrary Python code."
    elif any(isinstance(layer, known) for known in _EMITTERS):
        why = "It subclasses a supported layer, and its call() may compute something else."
    else:
        why = "Custom layers are not supported by the ONNX exporter."
    raise ExportError(
        f"export (onnx): layer '{layer.name}' of class {cls} has no ONNX emitter. {why} "
        "Export with format='stablehlo' instead, which traces any model. Supported "
        f"layers: {', '.join(supported_layers())}"
    )


def register_mask(*classes):
    """Decorator: `fn(g, layer, node) -> bool mask name` for layers that create masks."""

    def decorate(fn):
        for cls in classes:
            MASK_MAKERS[cls] = fn
        return fn

    return decorate


# -- the walk -------------------------------------------------------------------------


def model_nodes(model) -> list:
    """The nodes (execution order) of a Functional or built Sequential model."""
    functional = getattr(model, "_functional", None)
    if functional is not None:
        model = functional
    nodes = getattr(model, "_nodes", None)
    if nodes is None:
        raise ExportError(
            f"export (onnx): model '{model.name}' ({type(model).__name__}) has no layer "
            "graph: only Functional and built Sequential models can be written as ONNX. "
            "Build a Sequential with an Input, or export with format='stablehlo'."
        )
    return nodes


def check_dtype(layer) -> None:
    policy = getattr(layer, "dtype_policy", None)
    compute = getattr(policy, "compute_dtype", None) or getattr(layer, "compute_dtype", None)
    if compute is not None and str(compute) not in ("float32",):
        raise ExportError(
            f"export (onnx): {label(layer)} computes in {compute}; the ONNX exporter writes "
            "float32 graphs only (export a float32 copy of the model, or use "
            "format='stablehlo')."
        )


def walk(g: GraphBuilder, nodes) -> None:
    for node in nodes:
        if node.is_input:
            continue
        layer = node.operation
        if not isinstance(layer, Layer):
            raise ExportError(
                f"export (onnx): the graph applies the operation '{getattr(layer, 'name', layer)}'"
                f" ({type(layer).__name__}) directly to symbolic tensors; only layers can be "
                "exported. Wrap it in a layer, or export with format='stablehlo'."
            )
        emitter = emitter_for(layer)
        check_dtype(layer)
        if node.call_kwargs.get("training") is True:
            raise ExportError(
                f"export (onnx): {label(layer)} is called with training=True in the graph, so "
                "its inference output is random or batch-dependent; it cannot be exported."
            )
        _check_mask_policy(g, layer, node, emitter)
        outer = g.root.scope
        g.root.scope = layer.name if not outer else f"{outer}/{layer.name}"
        try:
            emitter.fn(g, layer, node.input_tensors, node.output_tensors, node)
        finally:
            g.root.scope = outer


def _check_mask_policy(g, layer, node, emitter) -> None:
    if emitter.mask is not None or not getattr(layer, "_call_has_mask", False):
        return
    try:
        masked = any(m is not None for m in g.routed_masks(node))
    except ExportError:
        masked = True  # it gets a mask, one we could not even write
    if masked:
        raise ExportError(
            f"export (onnx): {label(layer)} receives a mask (from its mask argument or a "
            "masking layer upstream) and its output depends on it; exporting it masked is "
            "not supported. Remove the mask (e.g. mask_zero=False) or export with "
            "format='stablehlo'."
        )


def _value_info(name: str, tensor: KerasTensor, dtype=None):
    dims = []
    for i, d in enumerate(tensor.shape):
        if d is not None:
            dims.append(int(d))
        else:
            dims.append(BATCH if i == 0 else f"{name}_dim{i}")
    return helper.make_tensor_value_info(name, onnx_dtype(dtype or tensor.dtype), dims)


def _unique(names: list, taken: set) -> list:
    """`names` made distinct from each other and from `taken` ("x", "x_1", ...)."""
    out = []
    for name in names:
        candidate, k = name, 0
        while candidate in taken:
            k += 1
            candidate = f"{name}_{k}"
        taken.add(candidate)
        out.append(candidate)
    return out


def build_model(model, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Write `model` (Functional / Sequential) as a checked `onnx.ModelProto`."""
    if not isinstance(opset, int) or isinstance(opset, bool) or opset < MIN_OPSET:
        raise ExportError(
            f"export (onnx): argument 'opset' must be an integer >= {MIN_OPSET} (ONNX "
            f"LayerNormalization needs 17); got {opset!r}"
        )
    if hasattr(model, "_functional") and model._functional is None:
        raise ExportError(
            f"export (onnx): model '{model.name}' is not built; give the Sequential an Input "
            "(or call it on data) before exporting."
        )
    nodes = model_nodes(model)
    g = GraphBuilder(opset)
    inputs = list(model.inputs)
    outputs = list(model.outputs)
    taken: set = set()
    input_names = _unique([str(n) for n in model.input_names], taken)
    output_names = _unique([str(n) for n in model.output_names], taken)
    graph_inputs = []
    for t, name in zip(inputs, input_names, strict=True):
        g.reserve(name)
        g.set(t, name)
        graph_inputs.append(_value_info(name, t))
    for name in output_names:
        g.reserve(name)
    walk(g, nodes)
    graph_outputs = []
    for t, name in zip(outputs, output_names, strict=True):
        g.op("Identity", [g.value(t)], outputs=[name])
        graph_outputs.append(_value_info(name, t))
    graph = helper.make_graph(
        g.nodes, model.name, graph_inputs, graph_outputs, initializer=g.initializers
    )
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="shoal",
        ir_version=helper.find_min_ir_version_for(opsets),
    )
    onnx.checker.check_model(proto, full_check=True)
    return proto
