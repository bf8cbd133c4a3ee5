"""The TFLite graph walker: shoal's layer graph in, a `.tflite` flatbuffer out.

A model's nodes are visited in execution order; each layer is written by the emitter
registered for its exact class (`register`). An emitter is `fn(g, layer, node)` and
returns the TFLite tensor index of each of `node.output_tensors` (a list, or one index).
It reads its inputs with `g.value(keras_tensor)` and writes operators with `g.op(...)`,
constants with `g.const(...)`, activations with `g.activation(...)` and weight matmuls
with `g.fully_connected(...)` (which also quantizes the weights when asked).

Layout: TFLite's native layout is NHWC, which is Keras' channels_last, so tensors are
written in Keras' own layout and no transposes are needed; channels_first layers are
refused.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shoal.backend.symbolic import KerasTensor
from shoal.export.layer_graph import (
    ExportError,
    ExportFormat,
    label,
    tensor_arguments,
    unique_name,
)
from shoal.export.tflite import quantize as q
from shoal.export.tflite.builder import FlatModel, options_for, schema

ACT = schema.ActivationFunctionType

# The TFLite exporter's emitter table and messages.
TFLITE = ExportFormat(
    "tflite",
    "TFLite",
    alternatives="format='stablehlo' or 'onnx'",
    float32_advice="export a float32 copy of the model; use quantize='dynamic' for int8 weights",
)
# `register(*classes, mask=None)`: the decorator for `fn(g, layer, node)`.
register = TFLITE.register
supported_layers = TFLITE.supported_layers
model_nodes = TFLITE.model_nodes
fail = TFLITE.fail


def broadcast_shape(a: tuple, b: tuple) -> tuple:
    """NumPy broadcasting of two Keras shapes (None: the batch axis)."""
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b, strict=True):
        if x is None or y is None:
            out.append(None if (x in (None, 1) and y in (None, 1)) else (x or y))
        else:
            out.append(max(x, y) if 1 in (x, y) else x)
    return tuple(out)


class GraphBuilder:
    """What emitters see: the flat model, the Keras-tensor environment, op helpers."""

    def __init__(self, batch_size: int | None, quantize: str | None):
        self.m = FlatModel(batch_size)
        self.quantize = quantize
        self.env: dict = {}
        self.masks: dict = {}
        self.scope = ""

    # -- tensors ----------------------------------------------------------------------
    def value(self, tensor: KerasTensor) -> int:
        index = self.env.get(id(tensor))
        if index is None:
            raise ExportError(f"export (tflite): internal error: no value for tensor {tensor!r}")
        return index

    def shape(self, index: int) -> tuple:
        return self.m.shape(index)

    def dtype(self, index: int) -> str:
        return self.m.dtype(index)

    def name(self, hint: str) -> str:
        return f"{self.scope}/{hint}" if self.scope else hint

    def const(self, value, hint: str = "const", dtype=None, quant=None) -> int:
        return self.m.const(value, self.name(hint), dtype=dtype, quant=quant)

    def ints(self, values, hint: str = "ints") -> int:
        return self.const(np.asarray(list(values), np.int32), hint)

    def scalar(self, value, hint: str = "scalar") -> int:
        return self.const(np.asarray(value, np.float32), hint)

    def op(self, op: str, inputs, shape, options=None, dtype="float32") -> int:
        """Append `op` with one new output of Keras shape `shape`; return its index."""
        out = self.m.tensor(self.name(op.lower()), tuple(shape), dtype)
        self.m.op(op, inputs, [out], options)
        return out

    def op_n(self, op: str, inputs, shapes, options=None, dtype="float32") -> list:
        """Append `op` with one output per shape in `shapes`; return their indices."""
        outs = [self.m.tensor(self.name(op.lower()), tuple(s), dtype) for s in shapes]
        self.m.op(op, inputs, outs, options)
        return outs

    # -- elementwise and shape helpers ------------------------------------------------
    def unary(self, op: str, x: int, options=None) -> int:
        return self.op(op, [x], self.shape(x), options)

    def binary(self, op: str, a: int, b: int, fused: int = ACT.NONE) -> int:
        """ADD / SUB / MUL / DIV / MAXIMUM / MINIMUM with NumPy broadcasting."""
        options = None
        if op in ("ADD", "SUB", "MUL", "DIV"):
            options = options_for(op.capitalize(), fusedActivationFunction=fused)
        shape = broadcast_shape(self.shape(a), self.shape(b))
        return self.op(op, [a, b], shape, options, dtype=self.dtype(a))

    def reshape(self, x: int, shape: tuple) -> int:
        """RESHAPE to a Keras shape; a None batch axis is written as -1."""
        dims = [-1 if d is None else int(d) for d in shape]
        if dims.count(-1) > 1:
            raise ExportError(f"export (tflite): cannot reshape to {shape}: two unknown axes")
        return self.op(
            "RESHAPE",
            [x, self.ints(dims, "shape")],
            shape,
            options_for("Reshape", newShape=dims),
            dtype=self.dtype(x),
        )

    def cast(self, x: int, dtype: str) -> int:
        return self.op("CAST", [x], self.shape(x), dtype=dtype)

    def concat(self, xs: list, axis: int) -> int:
        shapes = [self.shape(x) for x in xs]
        rank = len(shapes[0])
        axis %= rank
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes) if all(s[axis] for s in shapes) else None
        return self.op(
            "CONCATENATION",
            xs,
            tuple(out),
            options_for("Concatenation", axis=axis),
            dtype=self.dtype(xs[0]),
        )

    def unpack(self, x: int, axis: int) -> list:
        shape = self.shape(x)
        axis %= len(shape)
        n = shape[axis]
        piece = shape[:axis] + shape[axis + 1 :]
        return self.op_n(
            "UNPACK",
            [x],
            [piece] * n,
            options_for("Unpack", num=n, axis=axis),
            dtype=self.dtype(x),
        )

    def pack(self, xs: list, axis: int) -> int:
        shape = self.shape(xs[0])
        axis %= len(shape) + 1
        out = shape[:axis] + (len(xs),) + shape[axis:]
        return self.op(
            "PACK",
            xs,
            out,
            options_for("Pack", valuesCount=len(xs), axis=axis),
            dtype=self.dtype(xs[0]),
        )

    def split(self, x: int, n: int, axis: int = -1) -> list:
        shape = self.shape(x)
        axis %= len(shape)
        piece = list(shape)
        piece[axis] = shape[axis] // n
        return self.op_n(
            "SPLIT",
            [self.const(np.int32(axis), "axis"), x],
            [tuple(piece)] * n,
            options_for("Split", numSplits=n),
            dtype=self.dtype(x),
        )

    def batch_zeros(self, like: int, width: int, into: int | None = None) -> int:
        """A (batch, width) float tensor of zeros, following `like`'s (dynamic) batch size.

        `into` writes the zeros into an existing tensor (a variable state tensor).
        """
        shape = self.op(
            "SHAPE",
            [like],
            (len(self.shape(like)),),
            options_for("Shape", outType=schema.TensorType.INT32),
            dtype="int32",
        )
        batch = self.op(
            "STRIDED_SLICE",
            [shape, self.ints([0], "begin"), self.ints([1], "end"), self.ints([1], "strides")],
            (1,),
            options_for("StridedSlice"),
            dtype="int32",
        )
        dims = self.concat([batch, self.ints([width], "width")], 0)
        zero = self.scalar(0.0, "zero")
        if into is None:
            return self.op("FILL", [dims, zero], (None, width))
        self.m.op("FILL", [dims, zero], [into])
        return into

    # -- activations ------------------------------------------------------------------
    def fused(self, activation) -> tuple[int, Callable | None]:
        """(fused activation code, what remains to apply) for a Keras activation."""
        from shoal import activations as A

        if activation is None or activation is A.linear:
            return ACT.NONE, None
        if activation is A.relu:
            return ACT.RELU, None
        if activation is A.relu6:
            return ACT.RELU6, None
        return ACT.NONE, activation

    def activation(self, x: int, activation, layer=None) -> int:
        """Apply a Keras activation function (from `shoal.activations`) to `x`."""
        from shoal.export.tflite.activations import apply_activation

        return apply_activation(self, x, activation, layer)

    # -- weight ops --------------------------------------------------------------------
    def weights(self, w: np.ndarray, hint: str, axis: int) -> tuple[int, bool]:
        """A weight constant (int8 with per-channel scales along `axis` when quantizing)."""
        if self.quantize == "dynamic":
            values, quant = q.symmetric_int8(w, axis)
            return self.const(values, hint, dtype="int8", quant=quant), True
        return self.const(np.asarray(w, np.float32), hint), False

    def fully_connected(self, x: int, kernel, bias=None, activation=None, layer=None) -> int:
        """`activation(x @ kernel + bias)` over the last axis; kernel is Keras' (in, out)."""
        kernel = np.asarray(kernel, np.float32)
        units = kernel.shape[1]
        w, hybrid = self.weights(kernel.T, "kernel", axis=0)
        b = -1 if bias is None else self.const(np.asarray(bias, np.float32), "bias")
        fused, rest = self.fused(activation)
        shape = self.shape(x)
        options = options_for(
            "FullyConnected",
            fusedActivationFunction=fused,
            keepNumDims=len(shape) > 2,
            asymmetricQuantizeInputs=hybrid,
        )
        y = self.op("FULLY_CONNECTED", [x, w, b], shape[:-1] + (units,), options)
        return y if rest is None else self.activation(y, rest, layer)

    # -- masks --------------------------------------------------------------------------
    def mask_of(self, tensor: KerasTensor):
        """The Keras mask carried by `tensor` as a TFLite bool tensor, or None."""
        if id(tensor) not in self.masks and getattr(tensor, "_keras_mask", None) is None:
            return None
        if id(tensor) in self.masks:
            result = self.masks[id(tensor)]
            if isinstance(result, ExportError):  # recorded by a nested model
                raise result
            return result
        from shoal.export.tflite.masks import make_mask

        result = make_mask(self, tensor)
        self.masks[id(tensor)] = result
        return result


# -- the walk -------------------------------------------------------------------------


def has_mask(g, tensor) -> bool:
    """Whether `tensor` carries a Keras mask when the model runs.

    Usually its `_keras_mask`; the outputs of a nested model carry the masks its own
    graph makes (recorded in `g.masks` by the nested-model emitter), as `Functional.call`
    routes them.
    """
    return id(tensor) in g.masks or getattr(tensor, "_keras_mask", None) is not None


def node_mask_source(g, node):
    """The KerasTensor whose mask `node`'s layer receives, "explicit", or None (no mask)."""
    if node.call_kwargs.get("mask") is not None:
        return "explicit"
    if tensor_arguments(node) != 1:
        return None
    for t in node.input_tensors:
        if has_mask(g, t):
            return t
    return None


def _check_mask_policy(g, layer, node, emitter) -> None:
    if not TFLITE.refuses_mask(layer, emitter):
        return
    source = node_mask_source(g, node)
    if source is not None:
        where = "its mask argument" if source == "explicit" else "a masking layer upstream"
        raise TFLITE.masked(layer, where)


def walk(g: GraphBuilder, nodes) -> None:
    for node, layer, emitter in TFLITE.layers(nodes):
        _check_mask_policy(g, layer, node, emitter)
        first_new = len(g.m.tensors)
        outer = g.scope
        g.scope = f"{outer}/{layer.name}" if outer else layer.name
        try:
            result = emitter.fn(g, layer, node)
        finally:
            g.scope = outer
        results = list(result) if isinstance(result, (list, tuple)) else [result]
        if len(results) != len(node.output_tensors):
            raise ExportError(
                f"export (tflite): internal error: {label(layer)} gave {len(results)} "
                f"outputs for {len(node.output_tensors)}"
            )
        for k, (t, index) in enumerate(zip(node.output_tensors, results, strict=True)):
            if index >= first_new:  # made by this layer: name it after the layer
                g.m.rename(index, layer.name if len(results) == 1 else f"{layer.name}:{k}")
            g.env[id(t)] = index


def build_flatbuffer(model, batch_size: int | None = 1, quantize: str | None = None) -> bytes:
    """Write `model` (Functional / Sequential) as the bytes of a `.tflite` file."""
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ExportError(
            "export (tflite): argument 'batch_size' must be a positive integer, or None for "
            f"a dynamic batch size; got {batch_size!r}"
        )
    if quantize not in (None, "dynamic"):
        raise ExportError(
            "export (tflite): argument 'quantize' must be None (float32 weights) or "
            f"'dynamic' (int8 weights, float activations); got {quantize!r}"
        )
    nodes = model_nodes(model)
    g = GraphBuilder(batch_size, quantize)
    inputs, outputs = list(model.inputs), list(model.outputs)
    # The signature keys inputs and outputs apart: a name may stand in both.
    taken_in, taken_out = set(), set()
    input_names = [unique_name(str(n), taken_in) for n in model.input_names]
    output_names = [unique_name(str(n), taken_out) for n in model.output_names]
    for t, name in zip(inputs, input_names, strict=True):
        if any(d is None for d in t.shape[1:]):
            raise ExportError(
                f"export (tflite): input '{name}' has shape {t.shape}; every axis but the "
                "batch axis must have a fixed size in a TFLite model. Build the model with "
                "a fully specified Input(shape=...)."
            )
        index = g.m.tensor(name, t.shape, t.dtype)
        g.m.inputs.append(index)
        g.env[id(t)] = index
    walk(g, nodes)
    for t, name in zip(outputs, output_names, strict=True):
        index = g.value(t)
        if index in g.m.inputs or index in g.m.outputs:  # an input or repeated output
            index = g.op("RESHAPE", [index, g.ints([-1, *t.shape[1:]])], t.shape, dtype=t.dtype)
        g.m.rename(index, name)
        g.m.outputs.append(index)
    return g.m.serialize(input_names, output_names)
