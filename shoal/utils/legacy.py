"""`keras.utils.legacy`: the Keras 2 serialization helpers, as in `keras.legacy.saving`."""

from shoal.legacy.saving import deserialize_keras_object, serialize_keras_object

__all__ = ["deserialize_keras_object", "serialize_keras_object"]
