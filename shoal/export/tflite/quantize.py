"""Dynamic-range ("hybrid") quantization: int8 weights, float32 activations.

TFLite's hybrid kernels (FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D) take int8 weights
with symmetric scales (zero point 0) and float inputs, which they quantize on the fly.
"""

from __future__ import annotations

import numpy as np

from shoal.export.tflite.builder import schema


def symmetric_int8(weights, axis: int):
    """(int8 values, QuantizationParametersT) with one scale per index of `axis`."""
    w = np.asarray(weights, np.float32)
    reduce_axes = tuple(a for a in range(w.ndim) if a != axis % w.ndim)
    max_abs = np.max(np.abs(w), axis=reduce_axes)
    scale = np.where(max_abs > 0, max_abs / 127.0, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    values = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    quant = schema.QuantizationParametersT()
    quant.scale = [float(s) for s in scale]
    quant.zeroPoint = [0] * len(scale)
    quant.quantizedDimension = axis % w.ndim
    return values, quant
