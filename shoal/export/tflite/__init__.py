"""TFLite (LiteRT) export written by shoal from its own layer graph, without TensorFlow.

`export_tflite(model, path)` walks a Functional or Sequential model's nodes and writes one
group of TFLite builtin operators per layer (emitter tables: `core`, `conv`,
`normalization`, `recurrent`, `masks`) into a `.tflite` flatbuffer, using the schema
classes that the `ai-edge-litert` wheel ships and the `flatbuffers` package. Tensors stay
in Keras' channels_last layout, which is TFLite's NHWC. The file has one signature,
"serving_default", keyed by the model's input and output names.

Run it with LiteRT:

    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path="model.tflite")
    interpreter.allocate_tensors()
"""

from __future__ import annotations

from shoal.export.tflite import (  # noqa: F401  (importing registers the emitters)
    conv,
    core,
    masks,
    normalization,
    preprocessing,
    recurrent,
)
from shoal.export.tflite.api import export_tflite
from shoal.export.tflite.graph import ExportError, register, supported_layers

__all__ = ["ExportError", "export_tflite", "register", "supported_layers"]
