"""Layers that move values: Flatten, Reshape, Permute, RepeatVector, UpSampling,
ZeroPadding and Cropping."""

from __future__ import annotations

import numpy as np

from shoal.export.onnx.graph import (
    ExportError,
    channels_first_perm,
    form_axis,
    label,
    register,
)
from shoal.layers.padding_cropping import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)
from shoal.layers.reshaping import (
    Flatten,
    Permute,
    RepeatVector,
    Reshape,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    spatial_axes,
)

_INT64_MAX = np.iinfo(np.int64).max


@register(Flatten)
def _flatten(g, layer, inputs, outputs, node):
    rank = len(inputs[0].shape)
    # Keras flattens in its own (channels-last) order; channels_first moves channels last.
    perm = None
    if layer.data_format == "channels_first" and rank > 2:
        perm = (0, *range(2, rank), 1)
    g.set(outputs[0], g.op("Flatten", [g.value(inputs[0], perm)], axis=1))


@register(Reshape)
def _reshape(g, layer, inputs, outputs, node):
    dims = tuple(outputs[0].shape[1:])
    if all(d is not None for d in dims) and 0 not in dims:
        shape = [-1, *dims]
    else:  # the batch dimension is copied (0), one target dimension may be inferred (-1)
        shape = [0, *layer.target_shape]
    g.set(outputs[0], g.op("Reshape", [g.value(inputs[0]), g.ints(shape, "shape")]))


@register(Permute)
def _permute(g, layer, inputs, outputs, node):
    # Permute's output *is* the input in the layout (0, *dims): reuse it if it exists.
    g.set(outputs[0], g.value(inputs[0], (0, *layer.dims)))


@register(RepeatVector)
def _repeat_vector(g, layer, inputs, outputs, node):
    x = g.unsqueeze(g.value(inputs[0]), [1])
    g.set(outputs[0], g.op("Tile", [x, g.ints([1, layer.n, 1], "repeats")]))


def _resize(g, layer, tensor, out_tensor, axes, factors, mode="nearest", perm_pref=None):
    rank = len(tensor.shape)
    x, perm = g.any_value(tensor, prefer=perm_pref)
    if mode != "nearest" and perm != perm_pref:
        x, perm = g.value(tensor, perm_pref), perm_pref
    scales = [1.0] * rank
    for axis, factor in zip(axes, factors, strict=True):
        scales[form_axis(axis, rank, perm)] = float(factor)
    attrs = (
        # floor(i / s) with integer s: each value repeated s times, as jnp.repeat.
        {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
         "nearest_mode": "floor"}
        if mode == "nearest"
        # jax.image.resize: half-pixel centres, edge weights renormalised (= clamping).
        else {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    )  # fmt: skip
    scales_name = g.const(np.asarray(scales, np.float32), "scales")
    y = g.op("Resize", [x, "", scales_name], **attrs)
    g.set(out_tensor, y, perm)


@register(UpSampling1D)
def _upsampling_1d(g, layer, inputs, outputs, node):
    _resize(g, layer, inputs[0], outputs[0], [1], [layer.size])


@register(UpSampling2D)
def _upsampling_2d(g, layer, inputs, outputs, node):
    if layer.interpolation not in ("nearest", "bilinear"):
        raise ExportError(
            f"export (onnx): {label(layer)}: interpolation {layer.interpolation!r} is not "
            "supported (only 'nearest' and 'bilinear')"
        )
    first = channels_first_perm(4) if layer.data_format == "channels_last" else None
    mode = "nearest" if layer.interpolation == "nearest" else "linear"
    axes = list(spatial_axes(layer.data_format, 2))
    _resize(g, layer, inputs[0], outputs[0], axes, layer.size, mode, perm_pref=first)


@register(UpSampling3D)
def _upsampling_3d(g, layer, inputs, outputs, node):
    axes = list(spatial_axes(layer.data_format, 3))
    _resize(g, layer, inputs[0], outputs[0], axes, layer.size)


@register(ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)
def _zero_padding(g, layer, inputs, outputs, node):
    rank = len(inputs[0].shape)
    x, perm = g.any_value(inputs[0])
    begins, ends = [0] * rank, [0] * rank
    for axis, (before, after) in zip(layer._axes(), layer._pairs, strict=True):
        begins[form_axis(axis, rank, perm)] = before
        ends[form_axis(axis, rank, perm)] = after
    g.set(outputs[0], g.op("Pad", [x, g.ints(begins + ends, "pads")]), perm)


@register(Cropping1D, Cropping2D, Cropping3D)
def _cropping(g, layer, inputs, outputs, node):
    rank = len(inputs[0].shape)
    x, perm = g.any_value(inputs[0])
    starts, ends, axes = [], [], []
    for axis, (before, after) in zip(layer._axes(), layer._pairs, strict=True):
        axes.append(form_axis(axis, rank, perm))
        starts.append(before)
        ends.append(-after if after else _INT64_MAX)
    y = g.op(
        "Slice",
        [x, g.ints(starts, "starts"), g.ints(ends, "ends"), g.ints(axes, "axes")],
    )
    g.set(outputs[0], y, perm)
