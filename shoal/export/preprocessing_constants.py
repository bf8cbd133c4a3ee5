"""The inference-time constants of preprocessing layers, shared by the ONNX and TFLite
emitters: both write Rescaling as `x * scale + offset`, Normalization as
`(x - mean) / scale` (or `mean + x * scale` inverted) and CenterCrop as a slice."""

from __future__ import annotations

import numpy as np

from shoal.backend import config
from shoal.layers import augmentation
from shoal.layers.feature_scaling import Normalization, Rescaling
from shoal.layers.image_sizing import CenterCrop

# Identities at inference (they act only with training=True). RandomCrop is not one: at
# inference it crops and resizes.
AUGMENTATION_LAYERS = (
    augmentation.RandomFlip,
    augmentation.RandomRotation,
    augmentation.RandomZoom,
    augmentation.RandomTranslation,
    augmentation.RandomContrast,
    augmentation.RandomBrightness,
)


def rescaling(layer: Rescaling):
    """(scale, offset) float32 arrays that broadcast against the layer's input."""
    scale = np.asarray(layer.scale, np.float32)
    offset = np.asarray(layer.offset, np.float32)
    if scale.ndim > 0 and config.image_data_format() == "channels_first":
        scale = scale.reshape(scale.shape + (1,) * (3 - scale.ndim))
    return scale, offset


def normalization(layer: Normalization):
    """(mean, scale) float32 arrays in the layer's broadcast shape."""
    mean, variance = (np.asarray(v, np.float32) for v in layer._statistics())
    scale = np.maximum(np.sqrt(variance), np.float32(config.epsilon())).astype(np.float32)
    return mean, scale


def center_crop(layer: CenterCrop, shape, fail):
    """(begin, size) per axis of an input of `shape` for a crop without resizing; raises
    `fail(why)` when the layer would resize (an image smaller than its target)."""
    h_axis, w_axis = layer._hw_axes(len(shape))
    begin, size = [0] * len(shape), [-1] * len(shape)
    for axis, target in ((h_axis, layer.height), (w_axis, layer.width)):
        extra = (shape[axis] or 0) - target
        if shape[axis] is None or extra < 0:
            raise fail(
                f"crops only images at least {layer.height}x{layer.width} of known size "
                f"(this input: {tuple(shape)}); a smaller image would be resized"
            )
        begin[axis], size[axis] = extra // 2, target
    return begin, size
