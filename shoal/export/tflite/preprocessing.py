"""Emitters for preprocessing layers at inference: augmentation (identities), Rescaling,
Normalization, CenterCrop (constants in `export/preprocessing_constants.py`)."""

from __future__ import annotations

from shoal import layers as L
from shoal.export import preprocessing_constants as constants
from shoal.export.tflite.graph import fail, register


@register(*constants.AUGMENTATION_LAYERS, mask="ignore")
def _augmentation(g, layer, node):
    return g.value(node.input_tensors[0])


def _float_input(g, node):
    x = g.value(node.input_tensors[0])
    return x if g.dtype(x) == "float32" else g.cast(x, "float32")


@register(L.Rescaling, mask="ignore")
def _rescaling(g, layer, node):
    scale, offset = constants.rescaling(layer)
    y = g.binary("MUL", _float_input(g, node), g.const(scale, "scale"))
    return g.binary("ADD", y, g.const(offset, "offset"))


@register(L.Normalization, mask="ignore")
def _normalization(g, layer, node):
    if 0 in layer._keep_axis:
        raise fail(layer, "normalizing per position of the batch axis is not supported.")
    mean, scale = constants.normalization(layer)
    x = _float_input(g, node)
    mean, scale = g.const(mean[0], "mean"), g.const(scale[0], "scale")  # batch axis: 1
    if layer.invert:
        return g.binary("ADD", mean, g.binary("MUL", x, scale))
    return g.binary("DIV", g.binary("SUB", x, mean), scale)


@register(L.CenterCrop, mask="ignore")
def _center_crop(g, layer, node):
    x = _float_input(g, node)
    begin, size = constants.center_crop(
        layer, node.input_tensors[0].shape, lambda why: fail(layer, why)
    )
    out = tuple(node.output_tensors[0].shape)
    return g.op("SLICE", [x, g.ints(begin, "begin"), g.ints(size, "size")], out)
