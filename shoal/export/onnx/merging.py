"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""

from __future__ import annotations

from shoal.export.onnx.graph import form_axis, register
from shoal.layers.merging import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
)


def _common_values(g, inputs):
    """The inputs' values in one shared layout (rank-aligned as Keras aligns them)."""
    ranks = {len(t.shape) for t in inputs}
    if len(ranks) == 1:
        # Work in a layout every input already has (e.g. all channels-first), if any.
        shared = set(g.perms(inputs[0]))
        for t in inputs[1:]:
            shared &= set(g.perms(t))
        perm = None if None in shared or not shared else next(iter(shared))
        return [g.value(t, perm) for t in inputs], perm
    # Keras inserts size-1 axes after the batch axis of the lower-rank inputs.
    top = max(ranks)
    values = []
    for t in inputs:
        x = g.value(t)
        missing = top - len(t.shape)
        values.append(g.unsqueeze(x, list(range(1, 1 + missing))) if missing else x)
    return values, None


def _chain(g, op_type, values):
    out = values[0]
    for x in values[1:]:
        out = g.op(op_type, [out, x])
    return out


def _chained(op_type: str):
    """The emitter of a merge layer that folds its inputs with the binary `op_type`."""

    def emit(g, layer, inputs, outputs, node):
        values, perm = _common_values(g, inputs)
        g.set(outputs[0], _chain(g, op_type, values), perm)

    return emit


# Add / Subtract / Average / Concatenate outputs do not depend on the masks (Keras only
# combines them into the output mask); Multiply / Maximum / Minimum do, so they refuse them.
register(Add, mask="ignore")(_chained("Add"))
register(Multiply)(_chained("Mul"))
register(Maximum)(_chained("Max"))
register(Minimum)(_chained("Min"))


@register(Subtract, mask="ignore")
def _subtract(g, layer, inputs, outputs, node):
    values, perm = _common_values(g, inputs)
    g.set(outputs[0], g.op("Sub", values), perm)


@register(Average, mask="ignore")
def _average(g, layer, inputs, outputs, node):
    values, perm = _common_values(g, inputs)
    total = _chain(g, "Add", values)
    g.set(outputs[0], g.op("Div", [total, g.scalar(float(len(values)))]), perm)


@register(Concatenate, mask="ignore")
def _concatenate(g, layer, inputs, outputs, node):
    values, perm = _common_values(g, inputs)
    axis = form_axis(layer.axis, len(outputs[0].shape), perm)
    g.set(outputs[0], g.op("Concat", values, axis=axis), perm)
