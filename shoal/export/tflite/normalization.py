"""Emitters for BatchNormalization (folded to MUL + ADD) and LayerNormalization."""

from __future__ import annotations

import numpy as np

from shoal import layers as L
from shoal.export.layer_graph import weight
from shoal.export.tflite.builder import options_for
from shoal.export.tflite.graph import fail, register


def _broadcastable(vector, axes, rank: int):
    """`vector` reshaped to broadcast against a (batch, ...) tensor along `axes`."""
    shape = [1] * rank
    for a, n in zip(axes, np.shape(vector), strict=False):
        shape[a] = n
    return np.reshape(vector, shape[1:])  # the batch axis broadcasts by rank alignment


# The moving statistics are constants at inference, so the layer is one scale and one
# shift per feature, computed in Keras' order: inv = rsqrt(var + eps) * gamma,
# out = x * inv + (beta - mean * inv).
@register(L.BatchNormalization, mask="ignore")
def _batch_norm(g, layer, node):
    x = g.value(node.input_tensors[0])
    rank = len(g.shape(x))
    axis = layer._axis % rank
    if axis == 0:
        raise fail(layer, "normalizing over the batch axis is not supported.")
    variance = weight(layer.moving_variance)
    mean = weight(layer.moving_mean)
    inv = (np.float32(1.0) / np.sqrt(variance + np.float32(layer.epsilon))).astype(np.float32)
    gamma, beta = weight(layer.gamma), weight(layer.beta)
    if gamma is not None:
        inv = inv * gamma
    shift = -mean * inv
    if beta is not None:
        shift = shift + beta
    scale = g.const(_broadcastable(inv, [axis], rank), "scale")
    offset = g.const(_broadcastable(shift.astype(np.float32), [axis], rank), "offset")
    return g.binary("ADD", g.binary("MUL", x, scale), offset)


@register(L.LayerNormalization, mask="ignore")
def _layer_norm(g, layer, node):
    x = g.value(node.input_tensors[0])
    shape = g.shape(x)
    rank = len(shape)
    axes = sorted(a % rank for a in layer._axes)
    if 0 in axes:
        raise fail(layer, "normalizing over the batch axis is not supported.")
    reduced = tuple(1 if a in axes else d for a, d in enumerate(shape))
    axes_t = g.ints(axes, "axes")

    def mean(v):
        return g.op("MEAN", [v, axes_t], reduced, options_for("Reducer", keepDims=True))

    mu = mean(x)
    variance = mean(g.op("SQUARED_DIFFERENCE", [x, mu], shape))
    gamma, beta = weight(layer.gamma), weight(layer.beta)
    param_shape = [d if a in axes else 1 for a, d in enumerate(shape)][1:]
    inv = g.unary("RSQRT", g.binary("ADD", variance, g.scalar(layer.epsilon)))
    if gamma is not None:
        inv = g.binary("MUL", inv, g.const(gamma.reshape(param_shape), "gamma"))
    if layer.rms_scaling:
        return g.binary("MUL", x, inv)
    shift = g.binary("MUL", mu, inv)
    if beta is not None:
        shift = g.binary("SUB", g.const(beta.reshape(param_shape), "beta"), shift)
    else:
        shift = g.unary("NEG", shift)
    return g.binary("ADD", g.binary("MUL", x, inv), shift)
