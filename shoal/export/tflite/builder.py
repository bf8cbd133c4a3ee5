"""A TFLite flatbuffer under construction: tensors, constant buffers, operators.

Written against the schema's generated object API (`ModelT`, `TensorT`, `OperatorT`, ...)
that the `ai-edge-litert` wheel ships as `ai_edge_litert.schema_py_generated`, packed with
`flatbuffers`. Nothing here knows about layers: emitters call `op(...)` and `const(...)`.

Shapes: a tensor's shape is given with `None` for the batch axis. With a fixed batch size
`None` becomes that size; with a dynamic batch (`batch_size=None`) the stored shape uses 1
and `shape_signature` uses -1, so `Interpreter.resize_tensor_input` can change it.
"""

from __future__ import annotations

import numpy as np

from shoal.export.layer_graph import ExportError, unique_name

try:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "TFLite export needs the `ai-edge-litert` and `flatbuffers` packages: "
        "pip install ai-edge-litert flatbuffers (or shoal[export])"
    ) from err

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3

_TYPES = {
    "float32": schema.TensorType.FLOAT32,
    "int32": schema.TensorType.INT32,
    "int64": schema.TensorType.INT64,
    "int8": schema.TensorType.INT8,
    "uint8": schema.TensorType.UINT8,
    "bool": schema.TensorType.BOOL,
}


def tensor_type(dtype: str) -> int:
    try:
        return _TYPES[str(dtype)]
    except KeyError:
        raise ExportError(
            f"export (tflite): unsupported tensor dtype {dtype!r} (supported: {', '.join(_TYPES)})"
        ) from None


def options_for(name: str, **fields):
    """An `<name>OptionsT` object with `fields` set (camelCase names, as the schema's)."""
    cls = getattr(schema, f"{name}OptionsT")
    options = cls()
    for key, value in fields.items():
        if not hasattr(options, key):
            raise AttributeError(f"{name}Options has no field {key!r}")
        setattr(options, key, value)
    return options


class FlatModel:
    """Collects the tensors, buffers and operators of one subgraph and packs them."""

    def __init__(self, batch_size: int | None):
        self.batch_size = batch_size
        self.tensors: list = []
        self.shapes: list = []  # Keras-style shape per tensor (None = batch axis)
        self.dtypes: list = []
        self.buffers: list = [schema.BufferT()]  # buffer 0: the empty sentinel
        self.operators: list = []
        self.opcodes: list = []
        self._opcode_index: dict = {}
        self._names: set = set()
        self.inputs: list = []
        self.outputs: list = []

    # -- names and tensors -------------------------------------------------------------
    def unique(self, name: str) -> str:
        return unique_name(name, self._names)

    def _dims(self, shape) -> tuple[list, list | None]:
        dynamic = self.batch_size is None and any(d is None for d in shape)
        concrete = [(1 if dynamic else self.batch_size) if d is None else int(d) for d in shape]
        signature = [-1 if d is None else int(d) for d in shape] if dynamic else None
        return concrete, signature

    def tensor(self, name: str, shape, dtype: str = "float32", buffer: int = 0, quant=None):
        """A new tensor; returns its index."""
        concrete, signature = self._dims(shape)
        t = schema.TensorT()
        t.name = self.unique(name)
        t.shape = concrete
        t.shapeSignature = signature
        t.hasRank = True  # else a scalar's empty shape reads as "unknown rank"
        t.type = tensor_type(dtype)
        t.buffer = buffer
        t.quantization = quant
        self.tensors.append(t)
        self.shapes.append(tuple(shape))
        self.dtypes.append(str(dtype))
        return len(self.tensors) - 1

    def const(self, value, name: str = "const", dtype: str | None = None, quant=None):
        """A constant tensor holding `value` (float64 is stored as float32)."""
        array = np.asarray(value)
        if dtype is not None:
            array = array.astype(dtype)
        elif array.dtype == np.float64:
            array = array.astype(np.float32)
        elif array.dtype == np.int64:
            array = array.astype(np.int32)
        array = np.array(array, order="C")  # (ascontiguousarray makes scalars 1-D)
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(array.tobytes(), dtype=np.uint8)
        self.buffers.append(buffer)
        return self.tensor(
            name, array.shape, str(array.dtype), buffer=len(self.buffers) - 1, quant=quant
        )

    def ints(self, values, name: str = "ints"):
        return self.const(np.asarray(list(values), np.int32), name)

    def shape(self, index: int) -> tuple:
        return self.shapes[index]

    def dtype(self, index: int) -> str:
        return self.dtypes[index]

    def rename(self, index: int, name: str) -> None:
        self._names.discard(self.tensors[index].name)
        self.tensors[index].name = self.unique(name)

    # -- operators ---------------------------------------------------------------------
    def _version(self, op: str, inputs, options) -> int:
        """The operator version TFLite's own converter would record (op_version.cc).

        Only the cases this exporter can produce are covered; everything else is 1.
        """
        present = [self.tensors[i] for i in inputs if i >= 0]
        types = [t.type for t in present]
        ranks = [len(t.shape) for t in present]
        T = schema.TensorType
        hybrid = len(types) > 1 and types[0] == T.FLOAT32 and types[1] == T.INT8
        per_channel = hybrid and len(present[1].quantization.scale) > 1
        if op == "FULLY_CONNECTED":
            if options.keepNumDims:
                return 5
            if hybrid:
                return 9 if options.asymmetricQuantizeInputs else 3
        elif op == "CONV_2D" and hybrid:
            return 5 if per_channel else 2
        elif op == "DEPTHWISE_CONV_2D":
            if hybrid:
                return 6 if per_channel else 4
            if options.dilationWFactor != 1 or options.dilationHFactor != 1:
                return 2
        elif op in ("SUB", "MAXIMUM", "MINIMUM", "DIV"):
            broadcast = len(present) > 1 and list(present[0].shape) != list(present[1].shape)
            if broadcast and max(ranks) > 4:
                return 2 if op == "DIV" else 3
        elif op in ("UNPACK", "STRIDED_SLICE", "TRANSPOSE") and types[0] == T.BOOL:
            return 3
        elif op == "STRIDED_SLICE" and ranks[0] > 4:
            return 4
        elif op == "TRANSPOSE" and ranks[0] > 4:
            return 6 if ranks[0] > 5 else 4
        elif op == "PAD" and ranks[0] > 4:
            return 4
        elif op == "SLICE" and ranks[0] > 4:
            return 5
        return 1

    def _opcode(self, op: str, version: int) -> int:
        code = getattr(schema.BuiltinOperator, op)
        key = (code, version)
        if key not in self._opcode_index:
            opcode = schema.OperatorCodeT()
            opcode.builtinCode = code
            # Codes above 127 live in `builtinCode`; the old byte field holds the marker.
            opcode.deprecatedBuiltinCode = min(code, 127)
            opcode.version = version
            self._opcode_index[key] = len(self.opcodes)
            self.opcodes.append(opcode)
        return self._opcode_index[key]

    def op(self, op: str, inputs, outputs, options=None) -> None:
        """Append operator `op` (a BuiltinOperator name) reading `inputs` (-1: omitted)."""
        operator = schema.OperatorT()
        operator.opcodeIndex = self._opcode(op, self._version(op, inputs, options))
        operator.inputs = [int(i) for i in inputs]
        operator.outputs = [int(o) for o in outputs]
        if options is not None:
            kind = type(options).__name__[:-1]  # "FullyConnectedOptionsT" -> "...Options"
            operator.builtinOptionsType = getattr(schema.BuiltinOptions, kind)
            operator.builtinOptions = options
        self.operators.append(operator)

    # -- the file ----------------------------------------------------------------------
    def serialize(self, input_names, output_names, description: str = "shoal") -> bytes:
        subgraph = schema.SubGraphT()
        subgraph.tensors = self.tensors
        subgraph.inputs = list(self.inputs)
        subgraph.outputs = list(self.outputs)
        subgraph.operators = self.operators
        subgraph.name = "main"

        signature = schema.SignatureDefT()
        signature.signatureKey = "serving_default"
        signature.subgraphIndex = 0
        signature.inputs = [
            _tensor_map(n, i) for n, i in zip(input_names, self.inputs, strict=True)
        ]
        signature.outputs = [
            _tensor_map(n, i) for n, i in zip(output_names, self.outputs, strict=True)
        ]

        model = schema.ModelT()
        model.version = SCHEMA_VERSION
        model.description = description
        model.operatorCodes = self.opcodes
        model.subgraphs = [subgraph]
        model.buffers = self.buffers
        model.signatureDefs = [signature]
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
        return bytes(builder.Output())


def _tensor_map(name: str, index: int):
    entry = schema.TensorMapT()
    entry.name = name
    entry.tensorIndex = int(index)
    return entry
