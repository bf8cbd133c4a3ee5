"""Keras masks as TFLite bool tensors, and the Masking layer.

A mask is made by Embedding(mask_zero=True) (`ids != 0`) or Masking
(`any(x != mask_value, axis=-1)`), and passed on unchanged by layers whose
`compute_mask` returns the mask they got. Anything else is refused.
"""

from __future__ import annotations

import numpy as np

from shoal import layers as L
from shoal.export.tflite.builder import options_for
from shoal.export.tflite.graph import TFLITE, register


def _masking_keep(g, layer, x):
    value = np.asarray(layer.mask_value, np.float32)
    different = g.op("NOT_EQUAL", [x, g.const(value, "mask_value")], g.shape(x), dtype="bool")
    axis = g.ints([len(g.shape(x)) - 1], "axis")
    return g.op(
        "REDUCE_ANY",
        [different, axis],
        g.shape(x)[:-1],
        options_for("Reducer", keepDims=False),
        dtype="bool",
    )


def make_mask(g, tensor):
    op, node_index, tensor_index = tensor._keras_history
    node = op._inbound_nodes[node_index]
    first = node.input_tensors[0] if node.input_tensors else None
    if isinstance(op, L.Embedding) and op.mask_zero and first is not None:
        ids = g.value(first)
        zero = g.const(np.zeros((), g.dtype(ids)), "zero")
        return g.op("NOT_EQUAL", [ids, zero], g.shape(ids), dtype="bool")
    if isinstance(op, L.Masking) and first is not None:
        return _masking_keep(g, op, g.value(first))
    sentinel = object()
    passed = False
    if first is not None and hasattr(op, "compute_mask"):
        try:
            out = op.compute_mask(first, sentinel)
        except Exception:  # a layer that cannot take our stand-in: not a pass-through
            out = None
        if isinstance(out, (list, tuple)):
            out = out[tensor_index] if tensor_index < len(out) else None
        passed = out is sentinel
    if not passed:
        raise TFLITE.unsupported_mask(op)
    return g.mask_of(first)


@register(L.Masking, mask="ignore")
def _masking(g, layer, node):
    x = g.value(node.input_tensors[0])
    keep = g.reshape(_masking_keep(g, layer, x), g.shape(x)[:-1] + (1,))
    return g.op("SELECT_V2", [keep, x, g.scalar(0.0, "zero")], g.shape(x))
