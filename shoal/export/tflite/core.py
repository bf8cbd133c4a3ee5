"""Emitters for core, activation, regularization, embedding, reshaping and merge layers."""

from __future__ import annotations

from shoal import layers as L
from shoal.export.layer_graph import ExportError, weight
from shoal.export.tflite.builder import options_for
from shoal.export.tflite.graph import (
    fail,
    has_mask,
    model_nodes,
    node_mask_source,
    register,
    walk,
)
from shoal.models.functional import Functional
from shoal.models.sequential import Sequential


def _input(g, node, k: int = 0) -> int:
    return g.value(node.input_tensors[k])


# -- core ---------------------------------------------------------------------------------


@register(L.Dense, mask="ignore")
def _dense(g, layer, node):
    bias = weight(layer.bias)
    return g.fully_connected(_input(g, node), weight(layer.kernel), bias, layer.activation, layer)


_IDENTITIES = [L.Identity, L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D]
_IDENTITIES += [L.SpatialDropout3D, L.GaussianNoise, L.GaussianDropout, L.ActivityRegularization]


@register(*_IDENTITIES, mask="ignore")
def _identity(g, layer, node):
    # Inference-time identities: no operator at all.
    return _input(g, node)


# -- activation layers -------------------------------------------------------------------


@register(L.Activation, mask="ignore")
def _activation(g, layer, node):
    return g.activation(_input(g, node), layer.activation, layer)


@register(L.ReLU, mask="ignore")
def _relu(g, layer, node):
    x = _input(g, node)
    slope, cap, threshold = layer.negative_slope, layer.max_value, layer.threshold
    if threshold == 0.0 and slope == 0.0:
        if cap is None:
            return g.unary("RELU", x)
        if cap == 6.0:
            return g.unary("RELU6", x)
        return g.binary("MINIMUM", g.unary("RELU", x), g.scalar(cap))
    if threshold == 0.0 and cap is None:
        return g.unary("LEAKY_RELU", x, options_for("LeakyRelu", alpha=slope))
    # Keras' formula: where(x > t, x, 0), capped, minus slope * relu(t - x).
    t = g.scalar(threshold)
    above = g.op("GREATER", [x, t], g.shape(x), dtype="bool")
    y = g.op("SELECT_V2", [above, x, g.scalar(0.0)], g.shape(x))
    if cap is not None:
        y = g.binary("MINIMUM", g.unary("RELU", y), g.scalar(cap))
    if slope != 0.0:
        below = g.unary("RELU", g.binary("SUB", t, x))
        y = g.binary("SUB", y, g.binary("MUL", below, g.scalar(slope)))
    return y


@register(L.LeakyReLU, mask="ignore")
def _leaky_relu(g, layer, node):
    x = _input(g, node)
    return g.unary("LEAKY_RELU", x, options_for("LeakyRelu", alpha=layer.negative_slope))


@register(L.PReLU, mask="ignore")
def _prelu(g, layer, node):
    # relu(x) - alpha * relu(-x) is x for x >= 0 and alpha * x below: TFLite's PRELU.
    x = g.value(node.input_tensors[0])
    return g.op("PRELU", [x, g.const(weight(layer.alpha), "alpha")], g.shape(x))


@register(L.ELU, mask="ignore")
def _elu(g, layer, node):
    from shoal.export.tflite.activations import _elu as elu

    return elu(g, _input(g, node), layer.alpha)


@register(L.Softmax)
def _softmax(g, layer, node):
    x = _input(g, node)
    rank = len(g.shape(x))
    axes = layer.axis if isinstance(layer.axis, list) else [layer.axis]
    if [a % rank for a in axes] != [rank - 1]:
        raise fail(layer, f"softmax over axis {layer.axis} is not supported (only the last).")
    return g.unary("SOFTMAX", x, options_for("Softmax", beta=1.0))


# -- embedding ---------------------------------------------------------------------------


@register(L.Embedding)
def _embedding(g, layer, node):
    ids = _input(g, node)
    if g.dtype(ids) not in ("int32", "int64"):
        ids = g.cast(ids, "int32")  # Keras truncates float ids
    table = g.const(weight(layer.embeddings), "embeddings")
    shape = g.shape(ids) + (layer.output_dim,)
    return g.op("GATHER", [table, ids], shape, options_for("Gather", axis=0, batchDims=0))


# -- reshaping ---------------------------------------------------------------------------


@register(L.Flatten, mask="ignore")
def _flatten(g, layer, node):
    x = _input(g, node)
    if layer.data_format == "channels_first" and len(g.shape(x)) > 2:
        raise fail(layer, "channels_first is not supported (TFLite works channels_last).")
    return g.reshape(x, tuple(node.output_tensors[0].shape))


@register(L.Reshape, mask="ignore")
def _reshape(g, layer, node):
    return g.reshape(_input(g, node), tuple(node.output_tensors[0].shape))


@register(L.Permute, mask="ignore")
def _permute(g, layer, node):
    x = _input(g, node)
    perm = g.ints((0, *layer.dims), "perm")
    return g.op("TRANSPOSE", [x, perm], tuple(node.output_tensors[0].shape), dtype=g.dtype(x))


@register(L.RepeatVector, mask="ignore")
def _repeat_vector(g, layer, node):
    x = _input(g, node)
    features = g.shape(x)[1]
    x = g.reshape(x, (None, 1, features))
    return g.op("TILE", [x, g.ints([1, layer.n, 1], "multiples")], (None, layer.n, features))


# -- merging -----------------------------------------------------------------------------


def _aligned(g, node) -> list:
    """The inputs, with size-1 axes after the batch axis where ranks differ (as Keras)."""
    xs = [g.value(t) for t in node.input_tensors]
    top = max(len(g.shape(x)) for x in xs)
    out = []
    for x in xs:
        shape = g.shape(x)
        if len(shape) < top:
            x = g.reshape(x, shape[:1] + (1,) * (top - len(shape)) + shape[1:])
        out.append(x)
    return out


def _fold(g, op: str, xs: list) -> int:
    out = xs[0]
    for x in xs[1:]:
        out = g.binary(op, out, x)
    return out


def _folded(op: str):
    """The emitter of a merge layer that folds its inputs with the binary `op`."""

    def emit(g, layer, node):
        return _fold(g, op, _aligned(g, node))

    return emit


# Add / Subtract / Average / Concatenate outputs do not depend on the masks (Keras only
# combines them into the output mask); Multiply / Maximum / Minimum do, so they refuse them.
register(L.Add, mask="ignore")(_folded("ADD"))
register(L.Multiply)(_folded("MUL"))
register(L.Maximum)(_folded("MAXIMUM"))
register(L.Minimum)(_folded("MINIMUM"))


@register(L.Subtract, mask="ignore")
def _subtract(g, layer, node):
    a, b = _aligned(g, node)
    return g.binary("SUB", a, b)


@register(L.Average, mask="ignore")
def _average(g, layer, node):
    xs = _aligned(g, node)
    return g.binary("DIV", _fold(g, "ADD", xs), g.scalar(float(len(xs))))


@register(L.Concatenate, mask="ignore")
def _concatenate(g, layer, node):
    return g.concat([g.value(t) for t in node.input_tensors], layer.axis)


# -- nested models -----------------------------------------------------------------------


@register(Functional, Sequential, mask="use")
def _nested_model(g, layer, node):
    """A model used as a layer: its own graph, inlined (once per call)."""
    inner_inputs = list(layer.inputs or [])
    if len(inner_inputs) != len(node.input_tensors):
        raise fail(
            layer,
            f"it is called with {len(node.input_tensors)} tensors but has "
            f"{len(inner_inputs)} inputs.",
        )
    if node_mask_source(g, node) is not None:
        raise fail(layer, "a mask flowing into a nested model is not supported.")
    saved_env, saved_masks = dict(g.env), dict(g.masks)
    for inner, outer in zip(inner_inputs, node.input_tensors, strict=True):
        g.env[id(inner)] = g.value(outer)
    walk(g, model_nodes(layer))
    inner_outputs = list(layer.outputs)
    results = [g.value(t) for t in inner_outputs]
    # The masks of the outputs are the ones the inner graph makes; record them now, while
    # the inner tensors have values (a call of the same model elsewhere reuses them).
    out_masks = {}
    for outer, inner in zip(node.output_tensors, inner_outputs, strict=False):
        if not has_mask(g, inner):
            continue
        try:
            out_masks[id(outer)] = g.mask_of(inner)
        except ExportError as error:  # raised only if a layer needs this mask
            out_masks[id(outer)] = error
    g.env, g.masks = saved_env, {**saved_masks, **out_masks}
    return results
