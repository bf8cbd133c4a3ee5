"""`export_tflite(model, filepath, quantize=None, batch_size=1)`: the TFLite entry point."""

from __future__ import annotations

import os

from shoal.export.tflite.graph import build_flatbuffer


def export_tflite(model, filepath=None, quantize=None, batch_size=1) -> bytes:
    """Write `model` as a TFLite flatbuffer (when `filepath` is given) and return its bytes.

    Args:
        model: a built Functional or Sequential model (float32).
        filepath: where to save the `.tflite` file; None only builds the bytes.
        quantize: None for float32 weights, or `"dynamic"` for dynamic-range quantization:
            the weights of FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D operators are
            stored as int8 with one symmetric scale per output channel, and TFLite's
            hybrid kernels quantize the float activations on the fly (about 4x smaller;
            outputs within about 1% of the float model). This includes the
            FULLY_CONNECTED operators of unrolled GRU / SimpleRNN / LSTM layers; a fused
            UNIDIRECTIONAL_SEQUENCE_LSTM keeps float weights.
        batch_size: the batch size the file's tensors are sized for (default 1), or None
            for a dynamic batch (shape signature -1; size it with
            `interpreter.resize_tensor_input(...)` before `allocate_tensors()`).
            Either way the interpreter can be resized to another batch size.

    Returns:
        The bytes of the `.tflite` file.

    Raises:
        ValueError (`ExportError`): a layer without a TFLite emitter (the message names it,
        its class, and lists the supported layers), or a configuration the exporter cannot
        reproduce exactly (e.g. a stateful RNN, channels_first, an unsupported activation).
    """
    content = build_flatbuffer(model, batch_size=batch_size, quantize=quantize)
    if filepath is not None:
        path = os.fspath(filepath)
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
    return content
