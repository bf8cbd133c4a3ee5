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

import onnx
from onnx import helper

from shoal.backend.symbolic import KerasTensor
from shoal.export.layer_graph import ExportError, label, unique_name
from shoal.export.onnx.builder import (
    MASK_MAKERS,
    ONNX,
    GraphBuilder,
    channels_first_perm,
    form_axis,
    onnx_dtype,
)

__all__ = [
    "ExportError",
    "GraphBuilder",
    "build_model",
    "channels_first_perm",
    "check_dtype",
    "emitter_for",
    "form_axis",
    "label",
    "model_nodes",
    "register",
    "register_mask",
    "supported_layers",
    "walk",
]

DEFAULT_OPSET = 17
MIN_OPSET = 17
BATCH = "batch"

# `register(*classes, mask=None)`: the decorator for `fn(g, layer, inputs, outputs, node)`.
register = ONNX.register
supported_layers = ONNX.supported_layers
emitter_for = ONNX.emitter_for
model_nodes = ONNX.model_nodes
check_dtype = ONNX.check_dtype


def register_mask(*classes):
    """Decorator: `fn(g, layer, node) -> bool mask name` for layers that create masks."""

    def decorate(fn):
        for cls in classes:
            MASK_MAKERS[cls] = fn
        return fn

    return decorate


# -- the walk -------------------------------------------------------------------------


def walk(g: GraphBuilder, nodes) -> None:
    for node, layer, emitter in ONNX.layers(nodes):
        _check_mask_policy(g, layer, node, emitter)
        outer = g.root.scope
        g.root.scope = layer.name if not outer else f"{outer}/{layer.name}"
        try:
            emitter.fn(g, layer, node.input_tensors, node.output_tensors, node)
        finally:
            g.root.scope = outer


def _check_mask_policy(g, layer, node, emitter) -> None:
    if not ONNX.refuses_mask(layer, emitter):
        return
    try:
        masked = any(m is not None for m in g.routed_masks(node))
    except ExportError:
        masked = True  # it gets a mask, one we could not even write
    if masked:
        raise ONNX.masked(layer, "its mask argument or a masking layer upstream")


def _value_info(name: str, tensor: KerasTensor, dtype=None):
    dims = []
    for i, d in enumerate(tensor.shape):
        if d is not None:
            dims.append(int(d))
        else:
            dims.append(BATCH if i == 0 else f"{name}_dim{i}")
    return helper.make_tensor_value_info(name, onnx_dtype(dtype or tensor.dtype), dims)


def build_model(model, opset: int = DEFAULT_OPSET, input_names=None) -> onnx.ModelProto:
    """Write `model` (Functional / Sequential) as a checked `onnx.ModelProto`; the graph
    inputs take the model's input names, or `input_names` (one per input, None keeps the
    model's) where given."""
    if not isinstance(opset, int) or isinstance(opset, bool) or opset < MIN_OPSET:
        raise ExportError(
            f"export (onnx): argument 'opset' must be an integer >= {MIN_OPSET} (ONNX "
            f"LayerNormalization needs 17); got {opset!r}"
        )
    nodes = model_nodes(model)
    g = GraphBuilder(opset)
    inputs = list(model.inputs)
    outputs = list(model.outputs)
    taken: set = set()  # one namespace: a graph value has one name
    names = list(model.input_names)
    if input_names is not None:
        if len(input_names) != len(names):
            raise ExportError(
                f"export (onnx): argument 'input_signature' must give one spec per model "
                f"input ({len(names)}); got {len(input_names)}"
            )
        names = [given or own for given, own in zip(input_names, names, strict=True)]
    input_names = [unique_name(str(n), taken) for n in names]
    output_names = [unique_name(str(n), taken) for n in model.output_names]
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
