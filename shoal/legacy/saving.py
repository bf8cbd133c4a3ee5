"""`keras.legacy.saving`: the Keras 2 config format, `{"class_name", "config"}` with nested
objects marked `"__passive_serialization__"` and functions by name (as in legacy `.h5`
files). New code should use `shoal.saving.serialize_keras_object`."""

from __future__ import annotations

import inspect

from shoal.saving.legacy_h5_model import legacy_serialize
from shoal.saving.serialization import CustomObjectScope, get_registered_object

__all__ = ["deserialize_keras_object", "serialize_keras_object"]


def serialize_keras_object(instance):
    """The legacy (Keras 2) serialization of `instance`.

    Objects with `get_config()` give `{"class_name": name, "config": config}` (config entries
    that are objects are serialized too and marked `"__passive_serialization__": True`);
    functions and classes give their registered name; None gives None.

    Example:
        >>> serialize_keras_object(shoal.layers.ReLU())["class_name"]
        'ReLU'
    """
    instance = inspect.unwrap(instance)
    if instance is None:
        return None
    if hasattr(instance, "get_config") or hasattr(instance, "__name__"):
        return legacy_serialize(instance)
    raise ValueError(
        f"serialize_keras_object: cannot serialize {instance!r}: it has no get_config() "
        "method and no __name__"
    )


def _lookup(name, custom_objects, module_objects, printable_module_name):
    obj = get_registered_object(name, custom_objects, module_objects)
    if obj is None:
        raise ValueError(
            f"Unknown {printable_module_name}: {name!r}. Pass it in 'custom_objects' (or "
            "'module_objects'), use shoal.utils.custom_object_scope, or register it with "
            "shoal.saving.register_keras_serializable."
        )
    return obj


def _config_items(cls_config, custom_objects, module_objects):
    out = {}
    for key, item in cls_config.items():
        if key == "name":  # a name is a string even where it matches a function's name
            out[key] = item
        elif isinstance(item, dict) and "__passive_serialization__" in item:
            out[key] = deserialize_keras_object(
                item, module_objects, custom_objects, printable_module_name="config_item"
            )
        elif isinstance(item, str) and inspect.isfunction(
            get_registered_object(item, custom_objects, module_objects)
        ):
            out[key] = get_registered_object(item, custom_objects, module_objects)
        else:
            out[key] = item
    return out


def deserialize_keras_object(
    identifier, module_objects=None, custom_objects=None, printable_module_name="object"
):
    """Rebuilds an object from its legacy serialization.

    Args:
        identifier: a `{"class_name", "config"}` dict, a registered name, a function, or
            None.
        module_objects: dict of built-in objects to look names up in (Keras leaves it to
            the caller, e.g. `vars(shoal.layers)`).
        custom_objects: dict of user objects to look names up in.
        printable_module_name: what the object is, for error messages.

    Returns:
        The object: `cls.from_config(config)` for a dict; for a name, an instance of a class
        (built without arguments) or the function itself.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        if "class_name" not in identifier or "config" not in identifier:
            raise ValueError(
                "deserialize_keras_object: a config dict needs the keys 'class_name' and "
                f"'config'; got keys {sorted(identifier)}"
            )
        cls = _lookup(
            identifier["class_name"], custom_objects, module_objects, printable_module_name
        )
        cls_config = identifier["config"]
        if isinstance(cls_config, dict):
            cls_config = _config_items(cls_config, custom_objects, module_objects)
        custom_objects = custom_objects or {}
        if not hasattr(cls, "from_config"):  # a function building the object from kwargs
            with CustomObjectScope(custom_objects):
                return cls(**cls_config)
        if "custom_objects" in inspect.signature(cls.from_config).parameters:
            return cls.from_config(cls_config, custom_objects=custom_objects)
        with CustomObjectScope(custom_objects):
            return cls.from_config(cls_config)
    if isinstance(identifier, str):
        obj = _lookup(identifier, custom_objects, module_objects, printable_module_name)
        return obj() if inspect.isclass(obj) else obj
    if inspect.isfunction(identifier):
        return identifier
    raise ValueError(
        f"deserialize_keras_object: could not interpret serialized {printable_module_name}: "
        f"{identifier!r}"
    )
