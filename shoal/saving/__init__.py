"""Saving and loading in Keras 3's formats (`.keras`, `.weights.h5`), and the object registry."""

from shoal.saving.api import (
    load_model,
    load_weights,
    model_from_config,
    model_from_json,
    save_model,
    save_weights,
)
from shoal.saving.serialization import (
    CustomObjectScope,
    ObjectSharingScope,
    SafeModeScope,
    UnknownObjectError,
    custom_object_scope,
    deserialize_keras_object,
    disable_unsafe_deserialization,
    enable_unsafe_deserialization,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    in_safe_mode,
    register_keras_serializable,
    serialize_keras_object,
)

__all__ = [
    "CustomObjectScope",
    "ObjectSharingScope",
    "SafeModeScope",
    "UnknownObjectError",
    "custom_object_scope",
    "deserialize_keras_object",
    "disable_unsafe_deserialization",
    "enable_unsafe_deserialization",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "in_safe_mode",
    "load_model",
    "load_weights",
    "model_from_config",
    "model_from_json",
    "register_keras_serializable",
    "save_model",
    "save_weights",
    "serialize_keras_object",
]
