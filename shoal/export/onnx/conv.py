"""Convolutions and pooling: ONNX Conv / MaxPool / AveragePool work channels-first.

A channels-last input is transposed to channels-first once (the builder caches it) and the
output is published channels-first, so a chain of convolutions and poolings stays NCHW and
is transposed back only where a layer needs Keras' own layout (e.g. Flatten).
"""

from __future__ import annotations

import numpy as np

from shoal.export.layer_graph import weight
from shoal.export.onnx.activation import apply_activation
from shoal.export.onnx.graph import channels_first_perm, form_axis, register
from shoal.layers.conv import Conv1D, Conv2D, Conv3D
from shoal.layers.conv_depthwise import (
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from shoal.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)


def _layout(layer, rank: int):
    """The perm of the channels-first form of a Keras tensor (None if already NCHW)."""
    return channels_first_perm(rank + 2) if layer.data_format == "channels_last" else None


def _spatial(shape, layer):
    shape = tuple(shape)
    return shape[1:-1] if layer.data_format == "channels_last" else shape[2:]


def _pads(layer, spatial, kernel, strides, dilations, padding):
    """ONNX `pads` (begins then ends) for Keras padding, or None for auto_pad SAME_UPPER."""
    if padding == "valid":
        return [0] * (2 * len(kernel))
    if padding == "causal":
        return [dilations[0] * (kernel[0] - 1), 0]
    begins, ends = [], []
    for n, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
        if n is None:
            return None
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        begins.append(total // 2)  # XLA 'SAME': the odd element goes at the end
        ends.append(total - total // 2)
    return begins + ends


def _window_attrs(layer, spatial, kernel, strides, dilations, padding) -> dict:
    pads = _pads(layer, spatial, kernel, strides, dilations, padding)
    attrs = {"kernel_shape": list(kernel), "strides": list(strides)}
    if pads is None:
        attrs["auto_pad"] = "SAME_UPPER"
    else:
        attrs["pads"] = pads
    return attrs


def _onnx_kernel(kernel: np.ndarray, rank: int) -> np.ndarray:
    """Keras (*spatial, in / groups, out) -> ONNX (out, in / groups, *spatial)."""
    return np.ascontiguousarray(np.transpose(kernel, (rank + 1, rank, *range(rank))))


def _conv(g, x, layer, spatial, kernel, groups, bias=None, strides=None, padding=None):
    rank = layer.rank
    strides = tuple(layer.strides) if strides is None else strides
    padding = layer.padding if padding is None else padding
    attrs = _window_attrs(
        layer, spatial, kernel.shape[:rank], strides, layer.dilation_rate, padding
    )
    inputs = [x, g.const(_onnx_kernel(kernel, rank), "kernel")]
    if bias is not None:
        inputs.append(g.const(bias, "bias"))
    return g.op("Conv", inputs, dilations=list(layer.dilation_rate), group=int(groups), **attrs)


def _finish(g, layer, y, outputs, perm):
    rank = len(outputs[0].shape)
    y = apply_activation(g, layer.activation, y, rank, perm, owner=layer)
    g.set(outputs[0], y, perm)


@register(Conv1D, Conv2D, Conv3D)
def _conv_layer(g, layer, inputs, outputs, node):
    perm = _layout(layer, layer.rank)
    x = g.value(inputs[0], perm)
    bias = weight(layer.bias) if layer.bias is not None else None
    spatial = _spatial(inputs[0].shape, layer)
    y = _conv(g, x, layer, spatial, weight(layer.kernel), layer.groups, bias)
    _finish(g, layer, y, outputs, perm)


def _depthwise_kernel(layer, kernel):
    channels, multiplier = kernel.shape[-2], kernel.shape[-1]
    return kernel.reshape(tuple(layer.kernel_size) + (1, channels * multiplier)), channels


@register(DepthwiseConv1D, DepthwiseConv2D)
def _depthwise_layer(g, layer, inputs, outputs, node):
    perm = _layout(layer, layer.rank)
    x = g.value(inputs[0], perm)
    kernel, channels = _depthwise_kernel(layer, weight(layer.kernel))
    bias = weight(layer.bias) if layer.bias is not None else None
    spatial = _spatial(inputs[0].shape, layer)
    y = _conv(g, x, layer, spatial, kernel, channels, bias)
    _finish(g, layer, y, outputs, perm)


@register(SeparableConv1D, SeparableConv2D)
def _separable_layer(g, layer, inputs, outputs, node):
    perm = _layout(layer, layer.rank)
    x = g.value(inputs[0], perm)
    kernel, channels = _depthwise_kernel(layer, weight(layer.depthwise_kernel))
    spatial = _spatial(inputs[0].shape, layer)
    y = _conv(g, x, layer, spatial, kernel, channels)
    pointwise = weight(layer.pointwise_kernel)
    bias = weight(layer.bias) if layer.bias is not None else None
    y = g.op(
        "Conv",
        [y, g.const(_onnx_kernel(pointwise, layer.rank), "pointwise_kernel")]
        + ([g.const(bias, "bias")] if bias is not None else []),
        kernel_shape=[1] * layer.rank,
    )
    _finish(g, layer, y, outputs, perm)


@register(
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
)
def _pooling(g, layer, inputs, outputs, node):
    perm = _layout(layer, layer.rank)
    x = g.value(inputs[0], perm)
    spatial = _spatial(inputs[0].shape, layer)
    ones = (1,) * layer.rank
    attrs = _window_attrs(layer, spatial, layer.pool_size, layer.strides, ones, layer.padding)
    if layer.pool_mode == "max":
        y = g.op("MaxPool", [x], **attrs)
    else:
        # Keras divides by the number of real (non-padding) elements of each window.
        y = g.op("AveragePool", [x], count_include_pad=0, **attrs)
    g.set(outputs[0], y, perm)


def _global_pool(g, layer, inputs, outputs, reducer):
    rank = len(inputs[0].shape)
    x, perm = g.any_value(inputs[0])
    start = 1 if layer.data_format == "channels_last" else 2
    axes = sorted(form_axis(a, rank, perm) for a in range(start, start + layer.rank))
    y = g.reduce(reducer, x, axes, keepdims=layer.keepdims)
    # Without keepdims only (batch, channels) is left, in that order in every layout.
    g.set(outputs[0], y, perm if layer.keepdims else None)


@register(GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D)
def _global_max(g, layer, inputs, outputs, node):
    _global_pool(g, layer, inputs, outputs, "ReduceMax")


@register(GlobalAveragePooling2D, GlobalAveragePooling3D)
def _global_average(g, layer, inputs, outputs, node):
    _global_pool(g, layer, inputs, outputs, "ReduceMean")


@register(GlobalAveragePooling1D, mask="use")
def _global_average_1d(g, layer, inputs, outputs, node):
    mask = g.node_mask(node)
    if mask is None:
        _global_pool(g, layer, inputs, outputs, "ReduceMean")
        return
    # Masked mean over the steps: sum(where(mask, x, 0)) / count, as Keras.
    steps = 1 if layer.data_format == "channels_last" else 2
    x = g.value(inputs[0])
    weights = g.op("Cast", [g.unsqueeze(mask, [3 - steps])], to=1)  # float
    zero = g.scalar(0.0)
    kept = g.op("Where", [g.op("Greater", [weights, zero]), x, zero])
    total = g.reduce("ReduceSum", kept, [steps], keepdims=layer.keepdims)
    count = g.reduce("ReduceSum", weights, [steps], keepdims=layer.keepdims)
    g.set(outputs[0], g.op("Div", [total, count]))
