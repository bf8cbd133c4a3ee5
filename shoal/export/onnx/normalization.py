"""BatchNormalization (inference, folded into Mul + Add) and LayerNormalization."""

from __future__ import annotations

import numpy as np

from shoal.export.layer_graph import weight
from shoal.export.onnx.graph import form_axis, register
from shoal.layers.normalization import BatchNormalization, LayerNormalization


def _per_axis(values: np.ndarray, rank: int, axis: int) -> np.ndarray:
    """A (C,) vector shaped to broadcast along `axis` of a rank-`rank` tensor."""
    return values.reshape((-1,) + (1,) * (rank - 1 - axis))


@register(BatchNormalization, mask="ignore")  # the mask only matters for batch statistics
def _batch_norm(g, layer, inputs, outputs, node):
    rank = len(inputs[0].shape)
    x, perm = g.any_value(inputs[0])
    axis = form_axis(layer._axis, rank, perm)
    # Keras' inference formula and order: x * inv + (beta - mean * inv),
    # inv = rsqrt(moving_variance + epsilon) * gamma.
    mean = weight(layer.moving_mean)
    inv = (1.0 / np.sqrt(weight(layer.moving_variance) + np.float32(layer.epsilon))).astype(
        np.float32
    )
    if layer.gamma is not None:
        inv = inv * weight(layer.gamma)
    shift = -mean * inv
    if layer.beta is not None:
        shift = shift + weight(layer.beta)
    y = g.op("Mul", [x, g.const(_per_axis(inv, rank, axis), "scale")])
    y = g.op("Add", [y, g.const(_per_axis(shift.astype(np.float32), rank, axis), "shift")])
    g.set(outputs[0], y, perm)


@register(LayerNormalization)
def _layer_norm(g, layer, inputs, outputs, node):
    x = g.value(inputs[0])
    shape = tuple(inputs[0].shape)
    rank = len(shape)
    axes = list(layer._axes)
    stat_shape = [1] * rank
    for a in axes:
        stat_shape[a] = shape[a]
    # Weights broadcast from the first normalized axis to the last.
    bshape = stat_shape[axes[0] :]
    gamma = weight(layer.gamma).reshape(bshape) if layer.gamma is not None else None
    beta = weight(layer.beta).reshape(bshape) if layer.beta is not None else None
    trailing = axes == list(range(axes[0], rank))
    if trailing and not layer.rms_scaling:
        ones = np.ones(bshape, np.float32)
        y = g.op(
            "LayerNormalization",
            [
                x,
                g.const(gamma if gamma is not None else ones, "gamma"),
                g.const(beta if beta is not None else np.zeros_like(ones), "beta"),
            ],
            axis=axes[0],
            epsilon=float(layer.epsilon),
        )
        g.set(outputs[0], y)
        return
    # General axes / rms_scaling: mean, variance = mean((x - mean)^2), then Keras' formula.
    mean = g.reduce("ReduceMean", x, axes, keepdims=True)
    centered = g.op("Sub", [x, mean])
    variance = g.reduce("ReduceMean", g.op("Mul", [centered, centered]), axes, keepdims=True)
    inv = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [variance, g.scalar(layer.epsilon)])])])
    if layer.rms_scaling:
        y = g.op("Mul", [x, inv])
        if gamma is not None:
            y = g.op("Mul", [y, g.const(gamma, "gamma")])
    else:
        y = g.op("Mul", [centered, inv])
        if gamma is not None:
            y = g.op("Mul", [y, g.const(gamma, "gamma")])
        if beta is not None:
            y = g.op("Add", [y, g.const(beta, "beta")])
    g.set(outputs[0], y)
