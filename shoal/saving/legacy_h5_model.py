"""Whole models in Keras' legacy HDF5 format (`model.save("m.h5")`, `load_model("m.h5")`).

The layout Keras 3.15 (and tf.keras 2.x) writes:

    attrs: keras_version, backend
           model_config     JSON {"class_name": ..., "config": model.get_config()}, the
                            layers of Sequential/Functional configs in the legacy form
                            {"class_name": <registered name>, "config": ...} (no "module")
           training_config  JSON of the compile arguments (compiled models only), the
                            optimizer as "optimizer_config"
    model_weights/          the legacy weight tree (see legacy_h5.py)
    optimizer_weights/      every optimizer variable at its path (compiled models only)

shoal adds `build_config` to `model_config` for subclassed models, so that it can build them
again before assigning weights (Keras ignores the key; files written by Keras lack it, and
Keras itself cannot reload such models from HDF5).
"""

from __future__ import annotations

import collections.abc
import json
import os
import types
import warnings

import numpy as np

from shoal.saving import legacy_h5 as _tree
from shoal.saving.archive import KERAS_FORMAT_VERSION
from shoal.saving.weights_file import atomic_output, open_h5

LEGACY_WARNING = (
    "You are saving your model as an HDF5 file via `model.save()` or "
    "`shoal.saving.save_model(model)`. This file format is considered legacy. We recommend "
    "using instead the native Keras format, e.g. `model.save('my_model.keras')` or "
    "`shoal.saving.save_model(model, 'my_model.keras')`."
)
_MAX_JSON_BYTES = 256 << 20


# -- configs ----------------------------------------------------------------------------


def _registered_name(obj) -> str:
    from shoal.saving.serialization import get_registered_name

    return get_registered_name(obj)


def legacy_serialize(obj):
    """`obj` as legacy Keras serialization writes it: {"class_name", "config"} for objects
    with get_config (nested objects marked `__passive_serialization__`), names for
    functions and classes."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if hasattr(obj, "get_config") and not isinstance(obj, type):
        config = {}
        for key, value in obj.get_config().items():
            if _serializable_object(value):
                value = legacy_serialize(value)
                if isinstance(value, dict):
                    value["__passive_serialization__"] = True
            config[key] = value
        return {"class_name": _registered_name(type(obj)), "config": config}
    if hasattr(obj, "__name__"):
        return _registered_name(obj)
    raise ValueError(f"Cannot serialize {obj!r}: it has no get_config() method.")


def _serializable_object(value) -> bool:
    if isinstance(value, (str, dict, list, tuple, int, float, bool)) or value is None:
        return False
    return hasattr(value, "get_config") or isinstance(value, (types.FunctionType, type))


def _json_default(obj):
    """Values json cannot write, as Keras' legacy encoder writes them."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "__array__") and hasattr(obj, "dtype"):  # jax arrays
        return np.asarray(obj).tolist()
    if hasattr(obj, "get_config") and not isinstance(obj, type):
        serialized = legacy_serialize(obj)
        serialized["__passive_serialization__"] = True
        return serialized
    if callable(obj) and hasattr(obj, "__name__"):
        return obj.__name__
    if isinstance(obj, collections.abc.Mapping):
        return dict(obj)
    if obj is Ellipsis:
        return {"class_name": "__ellipsis__"}
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "value": obj.decode("utf-8")}
    raise TypeError(f"{obj!r} of type {type(obj).__name__} is not JSON-serializable")


def _dumps(value, what: str, model) -> bytes:
    try:
        return json.dumps(value, default=_json_default).encode("utf8")
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"Cannot save model '{model.name}' in HDF5 format: its {what} is not "
            f"JSON-serializable ({err})."
        ) from err


def _is_class_entry(entry) -> bool:
    return isinstance(entry, dict) and "class_name" in entry and "config" in entry


def _legacy_layers(config):
    """A Sequential/Functional config with its layer entries in the legacy form."""
    if not isinstance(config, dict):
        return config
    layers = config.get("layers")
    if not isinstance(layers, list) or not all(_is_class_entry(e) for e in layers):
        return config
    converted = []
    for entry in layers:
        legacy = {
            "class_name": entry.get("registered_name") or entry["class_name"],
            "config": _legacy_layers(entry["config"]),
        }
        for key in ("name", "inbound_nodes"):
            if key in entry:
                legacy[key] = entry[key]
        converted.append(legacy)
    return {**config, "layers": converted}


def model_config(model) -> dict:
    """The `model_config` attribute: Keras' legacy form of `model.get_config()`."""
    try:
        config = model.get_config()
    except NotImplementedError as err:
        raise NotImplementedError(
            f"Cannot save model '{model.name}' ({type(model).__name__}) in HDF5 format: it "
            "has no get_config(). Implement get_config() (and from_config() if needed), or "
            "save it in the '.keras' format."
        ) from err
    out = {"class_name": type(model).__name__, "config": _legacy_layers(config)}
    if not _is_graph_model(model) and getattr(model, "built", False):
        build_config = model.get_build_config()
        if build_config:
            out["build_config"] = build_config
    return out


def _is_graph_model(model) -> bool:
    from shoal.models.functional import Functional
    from shoal.models.sequential import Sequential

    return isinstance(model, (Functional, Sequential))


def training_config(model):
    """The `training_config` attribute (None when the model is not compiled)."""
    compile_config = getattr(model, "_compile_config", None)
    optimizer = getattr(model, "optimizer", None)
    if not getattr(model, "compiled", False) or compile_config is None or optimizer is None:
        return None
    config = {k: v for k, v in compile_config.items() if k != "optimizer"}
    config = _map_nested(config, lambda x: legacy_serialize(x) if callable(x) else x)
    config["optimizer_config"] = {
        "class_name": _registered_name(type(optimizer)),
        "config": optimizer.get_config(),
    }
    return config


def _map_nested(value, fn):
    if isinstance(value, dict):
        return {k: _map_nested(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map_nested(v, fn) for v in value]
    return fn(value)


# -- saving -----------------------------------------------------------------------------


def save_legacy_h5_model(model, filepath: str, overwrite: bool = True, include_optimizer=True):
    """Write `model` as a legacy HDF5 file at `filepath` (atomically), creating missing
    folders as Keras does (its `.keras` saving does not)."""
    import h5py

    directory = os.path.dirname(os.fspath(filepath))
    if directory:
        os.makedirs(directory, exist_ok=True)

    attributes = {
        "keras_version": KERAS_FORMAT_VERSION,
        "backend": "jax",
        "model_config": _dumps(model_config(model), "config", model),
    }
    train = training_config(model) if include_optimizer else None
    if train is not None:
        attributes["training_config"] = _dumps(train, "compile configuration", model)
    with atomic_output(filepath, overwrite) as tmp:
        with h5py.File(tmp, "w") as h5:
            for key, value in attributes.items():
                h5.attrs[key] = value
            _tree.write_legacy_weights(
                h5.create_group("model_weights"), model, KERAS_FORMAT_VERSION
            )
            if train is not None:
                _tree.write_optimizer_weights(h5, model.optimizer)


# -- loading ----------------------------------------------------------------------------


def _decode_hook(obj):
    name = obj.get("class_name")
    if name == "__tuple__":
        return tuple(obj["items"])
    if name == "__ellipsis__":
        return Ellipsis
    if name == "TensorShape":  # tf.keras 2.x
        return obj.get("items")
    return obj


def _json_attribute(h5, name: str, source: str):
    raw = h5.attrs.get(name)
    if raw is None:
        return None
    if isinstance(raw, np.ndarray) and raw.shape == ():
        raw = raw.item()
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    if not isinstance(raw, str) or len(raw) > _MAX_JSON_BYTES:
        raise ValueError(f"{source}: attribute '{name}' is not a JSON string.")
    try:
        return json.loads(raw, object_hook=_decode_hook)
    except json.JSONDecodeError as err:
        raise ValueError(f"{source}: attribute '{name}' is not valid JSON ({err}).") from err


_LAMBDA_DEPRECATED = ("module", "function_type", "output_shape_type", "output_shape_module")


def _upgrade_layer_config(entry) -> None:
    """Keras 2 spellings Keras 3 renamed, fixed in place (as Keras' legacy loader does)."""
    if not _is_class_entry(entry) or not isinstance(entry["config"], dict):
        return
    config = entry["config"]
    batch_input_shape = config.pop("batch_input_shape", None)
    if batch_input_shape is not None:
        key = "batch_shape" if entry["class_name"] == "InputLayer" else "batch_input_shape"
        config[key] = batch_input_shape
    if isinstance(config.get("axis"), list) and len(config["axis"]) == 1:
        config["axis"] = int(config["axis"][0])
    if entry["class_name"] == "Lambda":
        for key in _LAMBDA_DEPRECATED:
            config.pop(key, None)
        function = config.get("function")
        if isinstance(function, list):
            code, defaults, closure = (list(function) + [None, None])[:3]
            config["function"] = {
                "class_name": "__lambda__",
                "config": {"code": code, "defaults": defaults, "closure": closure},
            }
    for layer in config.get("layers") or []:
        _upgrade_layer_config(layer)


def _deserialize_model(config, custom_objects, safe_mode, source):
    from shoal.saving.serialization import ObjectSharingScope, deserialize_keras_object

    if not _is_class_entry(config):
        raise ValueError(
            f"{source}: attribute 'model_config' does not describe a model (expected a dict "
            f"with 'class_name' and 'config'); got {str(config)[:200]!r}"
        )
    build_config = config.pop("build_config", None)
    _upgrade_layer_config(config)
    _find_registered_model_class(config, custom_objects)
    with ObjectSharingScope():
        model = deserialize_keras_object(config, custom_objects=custom_objects, safe_mode=safe_mode)
    if not getattr(model, "built", True) and build_config:
        model.build_from_config(build_config)
    return model


def _find_registered_model_class(config, custom_objects) -> None:
    """The model's class is written by bare class name (`type(model).__name__`), also when it
    is registered as "package>Name": point the lookup at the one registration of that name."""
    from shoal.saving.serialization import get_custom_objects

    name = config["class_name"]
    if not isinstance(name, str) or ">" in name or name in (custom_objects or {}):
        return
    matches = [key for key in get_custom_objects() if key.endswith(f">{name}")]
    if len(matches) == 1 and name not in get_custom_objects():
        config["registered_name"] = matches[0]


def _has_saved_weights(root) -> bool:
    for name in _tree._attribute_list(root, "layer_names"):
        group = root.get(name)
        if group is not None and _tree._attribute_list(group, "weight_names"):
            return True
    return False


def load_legacy_h5_model(filepath: str, custom_objects=None, compile=True, safe_mode=True):
    """Rebuild the model of a legacy HDF5 file (shoal's, Keras 3's or tf.keras 2.x's)."""
    if not os.path.isfile(filepath):
        raise ValueError(f"load_model: file {filepath!r} does not exist.")
    source = f"File {filepath!r}"
    with open_h5(filepath, source) as h5:
        config = _json_attribute(h5, "model_config", source)
        if config is None:
            raise ValueError(
                f"{source} holds no model config (attribute 'model_config'), so it is not a "
                "whole-model HDF5 file. If it holds weights only, build the model and call "
                "model.load_weights() on it."
            )
        model = _deserialize_model(config, custom_objects, safe_mode, source)
        weights_root = _tree._child_group(h5, "model_weights", source)
        if not getattr(model, "built", False) and _has_saved_weights(weights_root):
            raise ValueError(
                f"{source}: model '{model.name}' ({type(model).__name__}) rebuilt from the "
                "file's config is not built, so its weights cannot be loaded: the file holds "
                "no build information for this subclassed model (Keras cannot reload it from "
                "HDF5 either). Save it in the '.keras' format instead."
            )
        _tree.load_weights_from_group(model, weights_root, source)
        if not compile:
            return model
        train = _json_attribute(h5, "training_config", source)
        if train is None:
            warnings.warn(
                f"{source} holds no training configuration, so the model was *not* compiled. "
                "Compile it manually.",
                stacklevel=3,
            )
            return model
        arguments = compile_arguments(train, custom_objects, source)
        if len(getattr(model, "outputs", None) or ()) == 1:
            for key in ("metrics", "weighted_metrics"):  # tf.keras 2 wrote [[...]] per output
                value = arguments[key]
                if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
                    arguments[key] = value[0]
        model.compile(**arguments)
        if "optimizer_weights" in h5:
            _restore_optimizer(model, _tree.read_optimizer_weights(h5, source), source)
    return model


# tf.keras 2.11+ optimizer config keys with no meaning in Keras 3 (which refuses them).
_TF_KERAS_OPTIMIZER_KEYS = ("jit_compile", "is_legacy_optimizer")


def compile_arguments(train: dict, custom_objects, source: str) -> dict:
    """`model.compile` arguments from a file's `training_config`."""
    from shoal import losses, metrics, optimizers
    from shoal.saving.serialization import CustomObjectScope, get_registered_object

    if not isinstance(train, dict) or "optimizer_config" not in train:
        raise ValueError(
            f"{source}: attribute 'training_config' must be a dict with 'optimizer_config'; "
            f"got {str(train)[:200]!r}"
        )

    def nested(deserialize):
        def one(value):
            if isinstance(value, dict) and "class_name" in value:
                return deserialize(value)
            if isinstance(value, str) and get_registered_object(value) is not None:
                return get_registered_object(value)  # "my_package>my_loss", as Keras writes
            return value  # a name: compile resolves it, keeping the given name

        return lambda value: _map_nested_configs(value, one)

    optimizer_config = train["optimizer_config"]
    if isinstance(optimizer_config, dict) and isinstance(optimizer_config.get("config"), dict):
        inner = dict(optimizer_config["config"])
        for key in _TF_KERAS_OPTIMIZER_KEYS:
            inner.pop(key, None)
        if not inner.get("decay"):
            inner.pop("decay", None)
        optimizer_config = {**optimizer_config, "config": inner}
    with CustomObjectScope(custom_objects or {}):
        args = {
            "optimizer": optimizers.deserialize(optimizer_config),
            "loss": nested(losses.deserialize)(train.get("loss")),
            "metrics": nested(metrics.deserialize)(train.get("metrics")),
            "weighted_metrics": nested(metrics.deserialize)(train.get("weighted_metrics")),
            "loss_weights": train.get("loss_weights"),
        }
    return args


def _map_nested_configs(value, fn):
    if value is None:
        return None
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _map_nested_configs(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map_nested_configs(v, fn) for v in value]
    return fn(value)


def _restore_optimizer(model, values, source: str) -> None:
    """Give the optimizer the file's state when it fits; otherwise warn and keep it fresh.

    A file saved before training holds only the step count and learning rate (the optimizer
    was not built yet); those are restored and the slots are made on first use."""
    optimizer = model.optimizer

    def fits(variables):
        return len(variables) == len(values) and all(
            tuple(v.shape) == tuple(np.shape(a)) for v, a in zip(variables, values, strict=True)
        )

    variables = list(getattr(optimizer, "variables", None) or [])
    build = getattr(optimizer, "build", None)
    if not fits(variables) and callable(build) and not getattr(optimizer, "built", False):
        build(model.trainable_variables)
        variables = list(getattr(optimizer, "variables", None) or [])
    if not fits(variables):
        warnings.warn(
            f"{source}: the saved optimizer state ({len(values)} variables) does not fit the "
            f"optimizer ({len(variables)} variables), so the model starts with a freshly "
            "initialized optimizer.",
            stacklevel=4,
        )
        return
    for variable, value in zip(variables, values, strict=True):
        variable.assign(np.asarray(value).astype(np.dtype(variable.dtype), copy=False))
