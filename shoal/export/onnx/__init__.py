"""ONNX export written by shoal from its own layer graph (needs the `onnx` package).

`export_onnx(model, path)` walks a Functional or Sequential model's nodes and writes one
ONNX node group per layer (emitter tables: `core`, `activation`, `conv`, `normalization`,
`reshaping`, `merging`, `recurrent`), with the weights as initializers, a dynamic batch
dimension named "batch", the model's input names and its output layers' names. The result
passes `onnx.checker.check_model(full_check=True)`.
"""

from __future__ import annotations

import os

try:
    import onnx
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ONNX export needs the `onnx` package: pip install onnx (or shoal[export])"
    ) from err

from shoal.export.onnx import (  # noqa: F401  (importing registers the emitters)
    activation,
    conv,
    core,
    merging,
    normalization,
    preprocessing,
    recurrent,
    reshaping,
)
from shoal.export.onnx.graph import (
    DEFAULT_OPSET,
    ExportError,
    build_model,
    register,
    supported_layers,
)


def export_onnx(
    model, filepath=None, opset: int = DEFAULT_OPSET, input_names=None
) -> onnx.ModelProto:
    """Write `model` as an ONNX file (when `filepath` is given) and return the ModelProto.

    Args:
        model: a built Functional or Sequential model.
        filepath: where to save the `.onnx` file; None only builds the proto.
        opset: the ONNX opset to target (17 or newer).
        input_names: the graph inputs' names, one per model input (None: the model's
            input names).

    Raises:
        ValueError (`ExportError`): a layer without an ONNX emitter (the message names it,
        its class, and lists the supported layers), or a configuration the exporter
        cannot reproduce exactly (e.g. a stateful RNN).
    """
    proto = build_model(model, opset=opset, input_names=input_names)
    if filepath is not None:
        path = os.fspath(filepath)
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        onnx.save(proto, path)
    return proto


__all__ = ["DEFAULT_OPSET", "ExportError", "export_onnx", "register", "supported_layers"]
