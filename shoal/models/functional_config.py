"""Functional model configs in Keras 3's format, and rebuilding models from them.

    {"name": ..., "trainable": ...,
     "layers": [{<serialize_keras_object(layer)>, "name": ..., "inbound_nodes": [
                    {"args": [<__keras_tensor__ with keras_history [layer, node, tensor]>, ...],
                     "kwargs": {...}}]}, ...],
     "input_layers": <structure of [layer_name, node_index, tensor_index]>,
     "output_layers": <same>}

Node indices count only the nodes that belong to this model (a layer shared with
another model may have other nodes). As in Keras, the `input_layers`/`output_layers`
references to a nested Functional model are offset by one (Keras counts a built-in
node for every Functional model there).

Graph ops (`x + 1`, `ops.reshape(x, ...)` on symbolic tensors) are written as Keras
writes op nodes, `{"module": "keras.src.ops.numpy", "class_name": "Add", ...}`.
"""

from __future__ import annotations

import functools
import inspect
import re

import jax

from shoal.backend.symbolic import KerasTensor, is_keras_tensor


def _is_functional_class(op) -> bool:
    from shoal.models.functional import Functional

    return isinstance(op, Functional)


def functional_like_constructor(cls) -> bool:
    """True when `cls(inputs, outputs, ...)` can rebuild instances (Keras' rule)."""
    from shoal.models.functional import Functional

    if cls is Functional:
        return True
    try:
        # unwrap: Layer.__init_subclass__ wraps a subclass' __init__ in (*args, **kwargs).
        spec = inspect.getfullargspec(inspect.unwrap(cls.__init__))
        base = inspect.getfullargspec(inspect.unwrap(Functional.__init__))
    except TypeError:
        return False
    if spec.args[1:] in (base.args[1:], ["inputs", "outputs", "name"]):
        return True
    return spec.varargs is not None and spec.varkw is not None


# -- graph ops ---------------------------------------------------------------------------


# Keras' op classes whose names are not the CamelCase of their function's name.
_OP_CLASS_NAMES = {
    "allclose": "AllClose",
    "cdist": "CDist",
    "ctc_decode": "CTCDecode",
    "ctc_loss": "CTCLoss",
    "fft": "FFT",
    "fft2": "FFT2",
    "ifft2": "IFFT2",
    "irfft": "IRFFT",
    "isin": "IsIn",
    "istft": "ISTFT",
    "jvp": "JVP",
    "psnr": "PSNR",
    "rfft": "RFFT",
    "searchsorted": "SearchSorted",
    "stft": "STFT",
    "svd": "SVD",
}
_OP_FUNCTION_NAMES = {v: k for k, v in _OP_CLASS_NAMES.items()}


def _camel(name: str) -> str:
    if name in _OP_CLASS_NAMES:
        return _OP_CLASS_NAMES[name]
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def _snake(name: str) -> str:
    if name in _OP_FUNCTION_NAMES:
        return _OP_FUNCTION_NAMES[name]
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _is_model(op) -> bool:
    from shoal.models.model import Model

    return isinstance(op, Model)


def _is_op_node(op) -> bool:
    from shoal.ops.dispatch import OpNode

    return isinstance(op, OpNode)


def _op_function(op):
    fn = op.fn
    if isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def _op_class_name(op) -> str:
    """Keras' class name for a graph op: `Add` for shoal.ops.add, `GetItem` for get_item."""
    return _camel(_op_function(op).__name__)


def _serialize_op(op) -> dict:
    fn = _op_function(op)
    module = getattr(fn, "__module__", "shoal.ops.numpy") or "shoal.ops.numpy"
    keras_module = "keras.src." + module[len("shoal.") :] if module.startswith("shoal.") else module
    static = dict(getattr(op, "_static_kwargs", {}))
    from shoal.saving.serialization import serialize_keras_object

    class_name = _camel(fn.__name__)
    return {
        "module": keras_module,
        "class_name": class_name,
        "config": {"name": op.name, **serialize_keras_object(static)},
        "registered_name": class_name,
    }


def _is_op_config(entry) -> bool:
    module = entry.get("module") or ""
    return isinstance(module, str) and (
        module.startswith("keras.src.ops.") or module.startswith("shoal.ops")
    )


def _deserialize_op(entry):
    from shoal import ops
    from shoal.ops.dispatch import OpNode
    from shoal.saving.serialization import deserialize_keras_object

    class_name = entry.get("class_name", "")
    fn_name = _snake(class_name)
    fn = getattr(ops, fn_name, None)
    if fn is None or not callable(fn) or inspect.isclass(fn):
        raise ValueError(
            f"Functional config: layer '{entry.get('name')}' is the graph op {class_name} "
            f"({entry.get('module')}), which shoal.ops does not provide (looked for "
            f"shoal.ops.{fn_name})."
        )
    inner = dict(entry.get("config") or {})
    name = inner.pop("name", None) or entry.get("name")
    static = deserialize_keras_object(inner)
    op = OpNode(fn)
    if static:
        op.fn = functools.partial(fn, **static)
    op._static_kwargs = static
    if name:
        op.name = name
    return op


# -- get_config ----------------------------------------------------------------------------


def _tensor_ref(tensor, reindex, own) -> list:
    op, node_index, tensor_index = tensor._keras_history
    node = op._inbound_nodes[node_index]
    if id(node) not in own:
        raise ValueError(
            f"Functional config: tensor {tensor} comes from node {node_index} of layer "
            f"'{op.name}', which is not part of this model."
        )
    return [op.name, reindex[id(node)], tensor_index]


def _serialize_node(node, own):
    from shoal.saving.serialization import serialize_keras_object

    def swap(x):
        if isinstance(x, KerasTensor):
            op, node_index, tensor_index = x._keras_history
            skipped = sum(1 for n in op._inbound_nodes[:node_index] if id(n) not in own)
            return {
                "class_name": "__keras_tensor__",
                "config": {
                    "shape": list(x.shape),
                    "dtype": x.dtype,
                    "keras_history": [op.name, node_index - skipped, tensor_index],
                },
            }
        return serialize_keras_object(x)

    call_kwargs = dict(node.call_kwargs)
    if (
        getattr(node.operation, "_call_has_mask", False)
        and "mask" not in call_kwargs
        and len(node.call_args) == 1
        and (is_keras_tensor(node.call_args[0]) or _is_model(node.operation))
    ):
        # Keras records the (absent) input masks of layers whose call() takes `mask`.
        masks = jax.tree_util.tree_map(
            lambda t: getattr(t, "_keras_mask", None), node.call_args[0], is_leaf=is_keras_tensor
        )
        if all(m is None for m in jax.tree_util.tree_leaves(masks, is_leaf=lambda m: m is None)):
            call_kwargs["mask"] = masks
    args = jax.tree_util.tree_map(swap, list(node.call_args), is_leaf=_leaf)
    kwargs = jax.tree_util.tree_map(swap, call_kwargs, is_leaf=_leaf)
    return {"args": _lists(args), "kwargs": _lists(kwargs)}


def _leaf(x) -> bool:
    return is_keras_tensor(x) or x is None or isinstance(x, (slice, type(Ellipsis)))


def _lists(x):
    """Tuples -> lists (JSON's shape), leaving serialized dicts alone."""
    if isinstance(x, (list, tuple)):
        return [_lists(v) for v in x]
    if isinstance(x, dict):
        return {k: _lists(v) for k, v in x.items()}
    return x


def functional_config(model) -> dict:
    """`model.get_config()` for a Functional model, in Keras 3's format."""
    from shoal.models.model import Model
    from shoal.saving.serialization import serialize_keras_object

    if not functional_like_constructor(type(model)):
        return Model.get_config(model)
    own = {id(n) for n in model._nodes}
    operations = list(model._operations)
    reindex = {}
    for op in operations:
        kept = 1 if _is_functional_class(op) else 0
        for node in op._inbound_nodes:
            if id(node) in own:
                reindex[id(node)] = kept
                kept += 1
    layer_configs = []
    names = set()
    for op in operations:
        if op.name in names:
            raise ValueError(
                f"Model '{model.name}': two layers are named '{op.name}'; layer names must be "
                "unique within a model to serialize it."
            )
        names.add(op.name)
        inbound = [
            _serialize_node(node, own)
            for node in op._inbound_nodes
            if id(node) in own and node.input_tensors
        ]
        entry = _serialize_op(op) if _is_op_node(op) else serialize_keras_object(op)
        entry["name"] = op.name
        entry["inbound_nodes"] = inbound
        layer_configs.append(entry)

    def refs(structure):
        # Each reference a list; tuples of inputs or outputs stay tuples, as Keras'
        # `tree.map_structure` keeps them (and a rebuilt model returns tuples again).
        return jax.tree_util.tree_map(
            lambda t: _tensor_ref(t, reindex, own), structure, is_leaf=is_keras_tensor
        )

    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": layer_configs,
        "input_layers": refs(model._inputs_struct),
        "output_layers": refs(model._outputs_struct),
    }


# -- from_config ------------------------------------------------------------------------------


class _NotReady(Exception):
    """A node's input comes from a node that has not been rebuilt yet."""

    def __init__(self, layer_name, node_index):
        super().__init__(layer_name, node_index)
        self.layer_name = layer_name
        self.node_index = node_index


def _is_ref(x) -> bool:
    return (
        isinstance(x, (list, tuple))
        and len(x) == 3
        and isinstance(x[0], str)
        and isinstance(x[1], int)
        and isinstance(x[2], int)
    )


def functional_from_config(cls, config, custom_objects=None):
    """Rebuild a Functional model (of class `cls`) from `functional_config` output or Keras'."""
    from shoal.saving.serialization import deserialize_keras_object

    if not isinstance(config, dict):
        raise ValueError(
            f"Functional.from_config: config must be a dict; got {type(config).__name__}"
        )
    missing = [k for k in ("layers", "input_layers", "output_layers") if k not in config]
    if missing:
        raise ValueError(
            f"Functional.from_config: config of model '{config.get('name')}' lacks {missing}; "
            "expected the dict Functional.get_config() returns."
        )
    config = dict(config)
    layer_entries = config.pop("layers")
    input_refs = config.pop("input_layers")
    output_refs = config.pop("output_layers")
    name = config.pop("name", None)
    trainable = config.pop("trainable", None)
    model_label = f"model '{name}'" if name else "the model"

    created: dict = {}
    pending: dict = {}
    order: list = []
    for entry in layer_entries:
        if not isinstance(entry, dict):
            raise ValueError(
                f"Functional config of {model_label}: layer entry {entry!r} is not a dict."
            )
        layer_name = entry.get("name") or (entry.get("config") or {}).get("name")
        if not layer_name:
            raise ValueError(
                f"Functional config of {model_label}: a layer entry has no name: {entry!r:.200}"
            )
        if layer_name in created:
            raise ValueError(
                f"Functional config of {model_label}: two layers are named '{layer_name}'."
            )
        if _is_op_config(entry):
            layer = _deserialize_op(entry)
        else:
            layer = deserialize_keras_object(entry, custom_objects=custom_objects)
        from shoal.backend.operation import Operation

        if not isinstance(layer, Operation):
            raise ValueError(
                f"Functional config of {model_label}: entry '{layer_name}' did not produce a "
                f"layer (got {type(layer).__name__})."
            )
        created[layer_name] = layer
        order.append(layer_name)
        nodes = entry.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise ValueError(
                f"Functional config of {model_label}: 'inbound_nodes' of layer '{layer_name}' "
                "must be a list."
            )
        pending[layer_name] = list(nodes)

    # Rebuild nodes in passes: a node waits until the nodes it reads from exist (a layer
    # shared at different depths, e.g. A(B(A(x))), needs several passes).
    while any(pending.values()):
        progressed = False
        blocked = {}
        for layer_name in order:
            queue = pending[layer_name]
            while queue:
                try:
                    args, kwargs = _node_arguments(queue[0], created, layer_name, model_label)
                except _NotReady as wait:
                    blocked[layer_name] = (wait.layer_name, wait.node_index)
                    break
                _call(created[layer_name], args, kwargs)
                queue.pop(0)
                progressed = True
        if not progressed:
            details = "; ".join(
                f"layer '{layer}' waits for node {idx} of layer '{src}'"
                for layer, (src, idx) in blocked.items()
            )
            raise ValueError(
                f"Functional config of {model_label} cannot be rebuilt: its graph has a cycle "
                f"or refers to nodes that are never created ({details})."
            )

    def get_tensor(ref):
        layer_name, node_index, tensor_index = ref
        if layer_name not in created:
            raise ValueError(
                f"Functional config of {model_label}: inputs/outputs refer to unknown layer "
                f"'{layer_name}'."
            )
        layer = created[layer_name]
        if _is_functional_class(layer):
            node_index -= 1  # Keras counts a built-in node for Functional models.
        nodes = layer._inbound_nodes
        if not 0 <= node_index < len(nodes):
            raise ValueError(
                f"Functional config of {model_label}: inputs/outputs refer to node "
                f"{ref[1]} of layer '{layer_name}', which does not exist."
            )
        outputs = nodes[node_index].output_tensors
        if not 0 <= tensor_index < len(outputs):
            raise ValueError(
                f"Functional config of {model_label}: inputs/outputs refer to tensor "
                f"{tensor_index} of layer '{layer_name}', which has {len(outputs)} output(s)."
            )
        return outputs[tensor_index]

    def map_refs(structure):
        if _is_ref(structure):
            return get_tensor(structure)
        if isinstance(structure, dict):
            return {k: map_refs(v) for k, v in structure.items()}
        if isinstance(structure, tuple):
            return tuple(map_refs(v) for v in structure)
        if isinstance(structure, list):
            return [map_refs(v) for v in structure]
        raise ValueError(
            f"Functional config of {model_label}: cannot read input/output reference "
            f"{structure!r}; expected [layer_name, node_index, tensor_index]."
        )

    inputs = map_refs(input_refs)
    outputs = map_refs(output_refs)
    from shoal.models.functional import Functional

    extra = {} if cls is Functional else {k: v for k, v in config.items()}
    kwargs = {"name": name}
    if trainable is not None:
        kwargs["trainable"] = trainable
    model = cls(inputs=inputs, outputs=outputs, **kwargs, **extra)
    return model


def _call(operation, args, kwargs):
    from shoal.layers.base import Layer

    if isinstance(operation, Layer):
        return operation(*args, **kwargs)
    return operation.symbolic_call(*args, **kwargs)  # graph ops (OpNode) are not callable


def _node_arguments(node_data, created, layer_name, model_label):
    """(args, kwargs) for one inbound node, with tensor references resolved."""
    from shoal.saving.serialization import deserialize_keras_object

    if isinstance(node_data, list):  # Keras 2 format: [[layer, node, tensor, kwargs], ...]
        tensors, kwargs = [], {}
        for item in node_data:
            if not isinstance(item, list) or len(item) not in (3, 4):
                raise ValueError(
                    f"Functional config of {model_label}: cannot read inbound node {item!r} "
                    f"of layer '{layer_name}'."
                )
            tensors.append(_resolve(item[:3], created, layer_name, model_label))
            if len(item) == 4:
                kwargs = dict(item[3] or {})
        return [tensors[0] if len(tensors) == 1 else tensors], kwargs
    if not isinstance(node_data, dict):
        raise ValueError(
            f"Functional config of {model_label}: inbound node of layer '{layer_name}' must be "
            f"a dict with 'args' and 'kwargs'; got {node_data!r:.200}"
        )
    args = deserialize_keras_object(node_data.get("args", []))
    kwargs = deserialize_keras_object(node_data.get("kwargs", {})) or {}

    def revive(x):
        if isinstance(x, KerasTensor):
            history = getattr(x, "_pre_serialization_keras_history", None)
            if history is None:
                raise ValueError(
                    f"Functional config of {model_label}: a tensor argument of layer "
                    f"'{layer_name}' has no keras_history."
                )
            return _resolve(history, created, layer_name, model_label)
        return x

    args = jax.tree_util.tree_map(revive, list(args), is_leaf=_leaf)
    kwargs = jax.tree_util.tree_map(revive, dict(kwargs), is_leaf=_leaf)
    return args, kwargs


def _resolve(history, created, layer_name, model_label):
    if not _is_ref(history):
        raise ValueError(
            f"Functional config of {model_label}: layer '{layer_name}' has a malformed "
            f"keras_history {history!r}; expected [layer_name, node_index, tensor_index]."
        )
    source, node_index, tensor_index = history
    if source not in created:
        raise ValueError(
            f"Functional config of {model_label}: layer '{layer_name}' takes its input from "
            f"unknown layer '{source}'."
        )
    nodes = created[source]._inbound_nodes
    if node_index < 0:
        raise ValueError(
            f"Functional config of {model_label}: layer '{layer_name}' refers to node "
            f"{node_index} of layer '{source}'."
        )
    if node_index >= len(nodes):
        raise _NotReady(source, node_index)
    outputs = nodes[node_index].output_tensors
    if not 0 <= tensor_index < len(outputs):
        raise ValueError(
            f"Functional config of {model_label}: layer '{layer_name}' refers to tensor "
            f"{tensor_index} of node {node_index} of layer '{source}', which has "
            f"{len(outputs)} output(s)."
        )
    return outputs[tensor_index]
