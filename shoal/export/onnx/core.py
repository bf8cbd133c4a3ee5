"""Core layers: identities, Dense, Embedding, Masking, TimeDistributed, nested models."""

from __future__ import annotations

import dataclasses

import numpy as np
from onnx import TensorProto

from shoal.backend.symbolic import KerasTensor
from shoal.export.layer_graph import weight
from shoal.export.onnx.activation import apply_activation
from shoal.export.onnx.graph import (
    ExportError,
    check_dtype,
    emitter_for,
    label,
    model_nodes,
    register,
    register_mask,
    walk,
)
from shoal.layers.core import Dense, Identity, InputLayer
from shoal.layers.embedding import Embedding
from shoal.layers.masking import Masking
from shoal.layers.regularization import (
    ActivityRegularization,
    Dropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from shoal.layers.wrappers import TimeDistributed
from shoal.models.functional import Functional
from shoal.models.sequential import Sequential


# Identity at inference: Dropout and the noise layers only act with training=True.
@register(
    InputLayer,
    Identity,
    Dropout,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
    GaussianNoise,
    GaussianDropout,
    ActivityRegularization,
    mask="ignore",
)
def _identity(g, layer, inputs, outputs, node):
    g.alias(outputs[0], inputs[0])


@register(Dense, mask="ignore")
def _dense(g, layer, inputs, outputs, node):
    x = g.value(inputs[0])
    y = g.op("MatMul", [x, g.const(weight(layer.kernel), "kernel")])
    if layer.bias is not None:
        y = g.op("Add", [y, g.const(weight(layer.bias), "bias")])
    rank = len(outputs[0].shape)
    g.set(outputs[0], apply_activation(g, layer.activation, y, rank, owner=layer))


@register(Embedding)
def _embedding(g, layer, inputs, outputs, node):
    ids = g.value(inputs[0])
    if inputs[0].dtype != "int64":
        # Keras casts non-integer ids to int32 (truncation); Gather wants int32/int64.
        ids = g.op("Cast", [ids], to=TensorProto.INT64)
    table = g.const(weight(layer.embeddings), "embeddings")
    g.set(outputs[0], g.op("Gather", [table, ids], axis=0))


@register_mask(Embedding)
def _embedding_mask(g, layer, node):
    if not layer.mask_zero:
        return None
    ids = node.input_tensors[0]
    zero = g.const(np.zeros(()), "zero", dtype=np.dtype(ids.dtype))
    return g.op("Not", [g.op("Equal", [g.value(ids), zero])])


def _masking_keep(g, layer, tensor) -> str:
    """any(x != mask_value, axis=-1) as bool (batch, ...)."""
    x = g.value(tensor)
    value = g.const(np.asarray(layer.mask_value), "mask_value", dtype=np.dtype(tensor.dtype))
    differs = g.op("Cast", [g.op("Not", [g.op("Equal", [x, value])])], to=TensorProto.FLOAT)
    any_ = g.reduce("ReduceMax", differs, [-1], keepdims=False)
    return g.op("Greater", [any_, g.scalar(0.0)])


@register(Masking)
def _masking(g, layer, inputs, outputs, node):
    keep = g.unsqueeze(_masking_keep(g, layer, inputs[0]), [-1])
    zero = g.const(np.zeros(()), "zero", dtype=np.dtype(inputs[0].dtype))
    g.set(outputs[0], g.op("Where", [keep, g.value(inputs[0]), zero]))


@register_mask(Masking)
def _masking_mask(g, layer, node):
    return _masking_keep(g, layer, node.input_tensors[0])


@dataclasses.dataclass
class CallSite:
    """A node-like record for a layer called by another emitter (TimeDistributed)."""

    input_tensors: list
    output_tensors: list
    call_args: tuple = ()
    call_kwargs: dict = dataclasses.field(default_factory=dict)


@register(TimeDistributed)
def _time_distributed(g, layer, inputs, outputs, node):
    inner = layer.layer
    shape = tuple(inputs[0].shape)
    if any(d is None for d in shape[2:]) or any(d is None for d in outputs[0].shape[2:]):
        raise ExportError(
            f"export (onnx): {label(layer)} needs known per-step shapes; got input shape "
            f"{shape} and output shape {tuple(outputs[0].shape)}"
        )
    emitter = emitter_for(inner)
    check_dtype(inner)
    x = g.value(inputs[0])
    folded = g.op("Reshape", [x, g.ints([-1, *shape[2:]], "shape")])
    step_in = KerasTensor((None, *shape[2:]), dtype=inputs[0].dtype)
    step_out = KerasTensor((None, *outputs[0].shape[2:]), dtype=outputs[0].dtype)
    g.root.temporaries += [step_in, step_out]
    g.set(step_in, folded)
    emitter.fn(g, inner, [step_in], [step_out], CallSite([step_in], [step_out], (step_in,)))
    batch_time = g.op("Slice", [g.op("Shape", [x]), g.ints([0], "starts"), g.ints([2], "ends")])
    unfold = g.op("Concat", [batch_time, g.ints(outputs[0].shape[2:], "step_shape")], axis=0)
    g.set(outputs[0], g.op("Reshape", [g.value(step_out), unfold]))


@register(Functional, Sequential, mask="use")
def _nested_model(g, layer, inputs, outputs, node):
    """A model used as a layer: its graph is inlined, masks flowing in and out as at run
    time (the model's call gets the masks of its inputs; its outputs carry the masks its
    own graph computes)."""
    functional = getattr(layer, "_functional", None) or layer
    inner_inputs, inner_outputs = list(functional.inputs), list(functional.outputs)
    if len(inner_inputs) != len(inputs) or len(inner_outputs) != len(outputs):
        raise ExportError(
            f"export (onnx): nested model {label(layer)} is called with {len(inputs)} "
            f"input(s) / {len(outputs)} output(s) but has {len(inner_inputs)} / "
            f"{len(inner_outputs)}"
        )
    incoming = g.routed_masks(node)
    incoming = incoming + [None] * (len(inner_inputs) - len(incoming))
    root = g.root
    # A fresh mask table: the inner tensors may be visited again by a second call.
    outer_masks = root.masks
    root.masks = {id(t): m for t, m in zip(inner_inputs, incoming, strict=True)}
    try:
        for inner, outer in zip(inner_inputs, inputs, strict=True):
            g.alias(inner, outer)
        walk(g, model_nodes(layer))
        produced = {}
        for inner, outer in zip(inner_outputs, outputs, strict=True):
            g.alias(outer, inner)
            try:
                produced[id(outer)] = g.mask(inner)
            except ExportError as err:  # raised later, if a layer uses this mask
                produced[id(outer)] = err
    finally:
        root.masks = outer_masks
    root.masks.update(produced)
