"""Preprocessing layers at inference: augmentation (identities), Rescaling,
Normalization, CenterCrop (constants in `export/preprocessing_constants.py`)."""

from __future__ import annotations

from onnx import TensorProto

from shoal.export import preprocessing_constants as constants
from shoal.export.onnx.graph import ExportError, label, register
from shoal.layers.feature_scaling import Normalization, Rescaling
from shoal.layers.image_sizing import CenterCrop


@register(*constants.AUGMENTATION_LAYERS, mask="ignore")
def _augmentation(g, layer, inputs, outputs, node):
    g.alias(outputs[0], inputs[0])


def _float_input(g, tensor):
    x = g.value(tensor)
    return x if tensor.dtype == "float32" else g.op("Cast", [x], to=TensorProto.FLOAT)


@register(Rescaling, mask="ignore")
def _rescaling(g, layer, inputs, outputs, node):
    scale, offset = constants.rescaling(layer)
    y = g.op("Mul", [_float_input(g, inputs[0]), g.const(scale, "scale")])
    g.set(outputs[0], g.op("Add", [y, g.const(offset, "offset")]))


@register(Normalization, mask="ignore")
def _normalization(g, layer, inputs, outputs, node):
    mean, scale = constants.normalization(layer)
    x = _float_input(g, inputs[0])
    mean, scale = g.const(mean, "mean"), g.const(scale, "scale")
    if layer.invert:
        y = g.op("Add", [mean, g.op("Mul", [x, scale])])
    else:
        y = g.op("Div", [g.op("Sub", [x, mean]), scale])
    g.set(outputs[0], y)


@register(CenterCrop, mask="ignore")
def _center_crop(g, layer, inputs, outputs, node):
    def fail(why):
        return ExportError(f"export (onnx): {label(layer)} {why}")

    begin, size = constants.center_crop(layer, inputs[0].shape, fail)
    axes = [a for a, s in enumerate(size) if s != -1]
    starts = [begin[a] for a in axes]
    ends = [begin[a] + size[a] for a in axes]
    x = _float_input(g, inputs[0])
    y = g.op("Slice", [x, g.ints(starts, "starts"), g.ints(ends, "ends"), g.ints(axes, "axes")])
    g.set(outputs[0], y)
