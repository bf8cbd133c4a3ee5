"""Emitters for convolutions, pooling and zero padding (NHWC, TFLite's native layout).

1-D layers run as their 2-D kernels on a `(batch, 1, steps, channels)` view.
"""

from __future__ import annotations

import numpy as np

from shoal import layers as L
from shoal.export.layer_graph import weight
from shoal.export.tflite.builder import options_for, schema
from shoal.export.tflite.graph import fail, register

PADDING = {"same": schema.Padding.SAME, "valid": schema.Padding.VALID}


def _channels_last(layer) -> None:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise fail(
            layer,
            "data_format='channels_first' is not supported: TFLite computes channels_last "
            "(NHWC). Build the model channels_last (the Keras default).",
        )


def _as_2d(g, x):
    """(batch, steps, channels) -> (batch, 1, steps, channels)."""
    _, steps, channels = g.shape(x)
    return g.reshape(x, (None, 1, steps, channels))


def _causal_pad(g, x, layer):
    """Left-pad the steps axis of a (batch, 1, steps, channels) view for causal padding."""
    amount = layer.dilation_rate[0] * (layer.kernel_size[0] - 1)
    if amount == 0:
        return x
    pads = g.const(np.array([[0, 0], [0, 0], [amount, 0], [0, 0]], np.int32), "paddings")
    b, one, steps, channels = g.shape(x)
    return g.op("PAD", [x, pads], (b, one, steps + amount, channels))


def _window_options(kind: str, layer, padding: str | None = None, **fields):
    """`<kind>Options` with the layer's padding, strides and dilation as 2-D pairs (a 1-D
    layer's window runs along the steps axis of the (batch, 1, steps, channels) view)."""
    strides, dilation = layer.strides, layer.dilation_rate
    if layer.rank == 1:
        strides, dilation = (1, *strides), (1, *dilation)
    return options_for(
        kind,
        padding=PADDING[padding or layer.padding],
        strideH=strides[0],
        strideW=strides[1],
        dilationHFactor=dilation[0],
        dilationWFactor=dilation[1],
        **fields,
    )


def _view_shape(layer, node) -> tuple:
    """The Keras output shape, as the 2-D operator computes it."""
    out = tuple(node.output_tensors[0].shape)
    return (out[0], 1, out[1], out[2]) if layer.rank == 1 else out


def _bias(layer, width: int) -> np.ndarray:
    return weight(layer.bias) if layer.bias is not None else np.zeros((width,), np.float32)


def _depthwise_weights(g, kernel, hint: str) -> tuple[int, int]:
    """A Keras (h, w, channels, multiplier) kernel as TFLite's (1, h, w, channels *
    multiplier) (Keras' output channel c * multiplier + m); returns (tensor, width)."""
    kh, kw, channels, multiplier = kernel.shape
    w, _ = g.weights(kernel.reshape(1, kh, kw, channels * multiplier), hint, axis=3)
    return w, channels * multiplier


def _conv(g, layer, node, x, kernel_hwio):
    """CONV_2D of `x` (NHWC) with a Keras (h, w, in, out) kernel; returns the NHWC result."""
    if getattr(layer, "groups", 1) != 1:
        raise fail(layer, "grouped convolutions (groups > 1) are not supported.")
    filters = kernel_hwio.shape[-1]
    w, _ = g.weights(np.transpose(kernel_hwio, (3, 0, 1, 2)), "kernel", axis=0)  # OHWI
    fused, rest = g.fused(layer.activation)
    padding = "valid" if layer.padding == "causal" else None
    options = _window_options("Conv2D", layer, padding, fusedActivationFunction=fused)
    bias = g.const(_bias(layer, filters), "bias")
    return g.op("CONV_2D", [x, w, bias], _view_shape(layer, node), options), rest


def _depthwise(g, layer, node, x, kernel):
    w, width = _depthwise_weights(g, kernel, "kernel")
    fused, rest = g.fused(layer.activation)
    options = _window_options(
        "DepthwiseConv2D",
        layer,
        depthMultiplier=kernel.shape[-1],
        fusedActivationFunction=fused,
    )
    bias = g.const(_bias(layer, width), "bias")
    return g.op("DEPTHWISE_CONV_2D", [x, w, bias], _view_shape(layer, node), options), rest


@register(L.Conv1D, L.Conv2D, L.DepthwiseConv1D, L.DepthwiseConv2D, mask="ignore")
def _convolution(g, layer, node):
    """Conv and DepthwiseConv, 2-D, or 1-D on the (batch, 1, steps, channels) view."""
    _channels_last(layer)
    x, kernel = g.value(node.input_tensors[0]), weight(layer.kernel)
    if layer.rank == 1:
        x, kernel = _as_2d(g, x), kernel[None]
        if layer.padding == "causal":
            x = _causal_pad(g, x, layer)
    depthwise = isinstance(layer, (L.DepthwiseConv1D, L.DepthwiseConv2D))
    y, rest = (_depthwise if depthwise else _conv)(g, layer, node, x, kernel)
    if layer.rank == 1:
        y = g.reshape(y, tuple(node.output_tensors[0].shape))
    return g.activation(y, rest, layer)


@register(L.SeparableConv1D, L.SeparableConv2D, mask="ignore")
def _separable(g, layer, node):
    """A depthwise convolution (no bias) then a 1x1 CONV_2D with the bias and activation."""
    _channels_last(layer)
    x = g.value(node.input_tensors[0])
    depthwise = weight(layer.depthwise_kernel)
    pointwise = weight(layer.pointwise_kernel)
    if layer.rank == 1:
        x = _as_2d(g, x)
        depthwise, pointwise = depthwise[None], pointwise[None]
    w, width = _depthwise_weights(g, depthwise, "depthwise")
    spatial = _view_shape(layer, node)[:-1]
    options = _window_options("DepthwiseConv2D", layer, depthMultiplier=depthwise.shape[-1])
    zeros = g.const(np.zeros((width,), np.float32), "zero_bias")
    y = g.op("DEPTHWISE_CONV_2D", [x, w, zeros], spatial + (width,), options)
    filters = pointwise.shape[-1]
    p, _ = g.weights(np.transpose(pointwise, (3, 0, 1, 2)), "pointwise", axis=0)
    fused, rest = g.fused(layer.activation)
    options = options_for(
        "Conv2D",
        padding=schema.Padding.VALID,
        strideH=1,
        strideW=1,
        fusedActivationFunction=fused,
    )
    bias = g.const(_bias(layer, filters), "bias")
    y = g.op("CONV_2D", [y, p, bias], spatial + (filters,), options)
    if layer.rank == 1:
        y = g.reshape(y, tuple(node.output_tensors[0].shape))
    return g.activation(y, rest, layer)


# -- pooling ------------------------------------------------------------------------------


def _pool(g, layer, node, rank: int):
    _channels_last(layer)
    x = g.value(node.input_tensors[0])
    pool, strides = layer.pool_size, layer.strides
    if rank == 1:
        x = _as_2d(g, x)
        pool, strides = (1, *pool), (1, *strides)
    options = options_for(
        "Pool2D",
        padding=PADDING[layer.padding],
        strideH=strides[0],
        strideW=strides[1],
        filterHeight=pool[0],
        filterWidth=pool[1],
    )
    op = "MAX_POOL_2D" if layer.pool_mode == "max" else "AVERAGE_POOL_2D"
    out = tuple(node.output_tensors[0].shape)
    if rank == 1:
        y = g.op(op, [x], (out[0], 1, out[1], out[2]), options)
        return g.reshape(y, out)
    return g.op(op, [x], out, options)


@register(L.MaxPooling2D, L.AveragePooling2D, mask="ignore")
def _pool2d(g, layer, node):
    return _pool(g, layer, node, 2)


@register(L.MaxPooling1D, L.AveragePooling1D, mask="ignore")
def _pool1d(g, layer, node):
    return _pool(g, layer, node, 1)


def _global(g, layer, node, op: str):
    _channels_last(layer)
    x = g.value(node.input_tensors[0])
    axes = g.ints(layer._axes(), "axes")
    out = tuple(node.output_tensors[0].shape)
    return g.op(op, [x, axes], out, options_for("Reducer", keepDims=layer.keepdims))


@register(L.GlobalAveragePooling2D, L.GlobalAveragePooling3D)
def _global_average(g, layer, node):
    return _global(g, layer, node, "MEAN")


@register(L.GlobalAveragePooling1D, mask="use")
def _global_average_1d(g, layer, node):
    from shoal.export.tflite.recurrent import _mask

    mask = _mask(g, layer, node)
    if mask is None:
        return _global(g, layer, node, "MEAN")
    # Keras: the mean over the unmasked steps only.
    _channels_last(layer)
    x = g.value(node.input_tensors[0])
    batch, steps, channels = g.shape(x)
    keep = g.reshape(mask, (batch, steps, 1))
    kept = g.op("SELECT_V2", [keep, x, g.scalar(0.0, "zero")], g.shape(x))
    weights = g.cast(keep, "float32")
    axis = g.ints([1], "axis")
    reducer = options_for("Reducer", keepDims=layer.keepdims)
    out = tuple(node.output_tensors[0].shape)
    count = (batch, 1, 1) if layer.keepdims else (batch, 1)
    total = g.op("SUM", [kept, axis], out, reducer)
    return g.binary("DIV", total, g.op("SUM", [weights, axis], count, reducer))


@register(L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D)
def _global_max(g, layer, node):
    return _global(g, layer, node, "REDUCE_MAX")


@register(L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D, mask="ignore")
def _zero_padding(g, layer, node):
    _channels_last(layer)
    x = g.value(node.input_tensors[0])
    widths = [[0, 0] for _ in g.shape(x)]
    for axis, pair in zip(layer._axes(), layer._pairs, strict=True):
        widths[axis] = list(pair)
    pads = g.const(np.array(widths, np.int32), "paddings")
    return g.op("PAD", [x, pads], tuple(node.output_tensors[0].shape))


@register(L.Cropping1D, L.Cropping2D, L.Cropping3D, mask="ignore")
def _cropping(g, layer, node):
    _channels_last(layer)
    x = g.value(node.input_tensors[0])
    shape = g.shape(x)
    begin, size = [0] * len(shape), [-1] * len(shape)
    for axis, (before, after) in zip(layer._axes(), layer._pairs, strict=True):
        begin[axis], size[axis] = before, shape[axis] - before - after
    out = tuple(node.output_tensors[0].shape)
    return g.op("SLICE", [x, g.ints(begin, "begin"), g.ints(size, "size")], out, dtype=g.dtype(x))


@register(L.UpSampling2D, mask="ignore")
def _upsampling2d(g, layer, node):
    _channels_last(layer)
    if layer.interpolation != "nearest":
        raise fail(
            layer, f"interpolation={layer.interpolation!r} is not supported (only 'nearest')."
        )
    x = g.value(node.input_tensors[0])
    out = tuple(node.output_tensors[0].shape)
    # Integer scale factors: nearest neighbour without half-pixel centers is a repeat.
    options = options_for("ResizeNearestNeighbor", alignCorners=False, halfPixelCenters=False)
    return g.op("RESIZE_NEAREST_NEIGHBOR", [x, g.ints(out[1:3], "size")], out, options)
