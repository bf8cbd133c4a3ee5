"""`keras.dtype_policies`: the dtype policy classes and their get/serialize/deserialize."""

from __future__ import annotations

from shoal.backend.dtype_policy import (
    QUANTIZATION_MODES,
    DTypePolicy,
    Int4DTypePolicy,
    QuantizedDTypePolicy,
    QuantizedFloat8DTypePolicy,
)
from shoal.backend.dtype_policy import get as _get
from shoal.backend.dtype_policy_map import DTypePolicyMap


class FloatDTypePolicy(DTypePolicy):
    """Keras' name for a float (or mixed-float) policy; the same thing as `DTypePolicy`."""


def get(identifier):
    """A policy from a name ("float32", "mixed_bfloat16", "int8_from_float32",
    "int4/128_from_float32", "float8_from_float32", ...), a config dict or a policy."""
    return _get(identifier)


def serialize(dtype_policy) -> dict:
    from shoal.saving.serialization import serialize_keras_object

    return serialize_keras_object(dtype_policy)


def deserialize(config, custom_objects=None):
    from shoal.saving.serialization import deserialize_keras_object

    if isinstance(config, dict) and config.get("class_name") in (
        "DTypePolicy",
        "FloatDTypePolicy",
        "QuantizedDTypePolicy",
        "Int4DTypePolicy",
        "QuantizedFloat8DTypePolicy",
        "DTypePolicyMap",
    ):
        return _get(config)
    return deserialize_keras_object(config, custom_objects=custom_objects)


__all__ = [
    "QUANTIZATION_MODES",
    "DTypePolicy",
    "DTypePolicyMap",
    "FloatDTypePolicy",
    "Int4DTypePolicy",
    "QuantizedDTypePolicy",
    "QuantizedFloat8DTypePolicy",
    "deserialize",
    "get",
    "serialize",
]
