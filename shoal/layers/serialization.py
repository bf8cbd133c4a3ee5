"""`keras.layers.serialize` / `deserialize`: a layer as a config dict and back."""

from __future__ import annotations


def serialize(layer) -> dict:
    """The Keras config dict of `layer` (module, class_name, config, registered_name)."""
    from shoal.saving.serialization import serialize_keras_object

    return serialize_keras_object(layer)


def deserialize(config, custom_objects=None):
    """A new layer (or model) from a dict made by `serialize`."""
    from shoal.saving.serialization import deserialize_keras_object

    if not isinstance(config, dict):
        raise ValueError(
            f"layers.deserialize: argument 'config' must be a dict made by "
            f"layers.serialize, got {config!r}"
        )
    return deserialize_keras_object(config, custom_objects=custom_objects)
