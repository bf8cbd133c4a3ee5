"""Quantization configs (Keras' `keras.quantizers.QuantizationConfig`) and the module's
get / serialize / deserialize.

`Int8QuantizationConfig(weight_quantizer=None, activation_quantizer="default")`: the
weight quantizer (default: abs-max over the kernel's contracted axes) runs once, in
`quantize`; the activation quantizer (default `AbsMaxQuantizer()`, per row of the inputs)
runs in every call; `activation_quantizer=None` keeps the inputs float (weight-only int8).
"""

from __future__ import annotations

from shoal.quantizers.quantizers import AbsMaxQuantizer, Quantizer


class QuantizationConfig:
    """Base class: a mode plus the quantizers for weights and activations."""

    def __init__(self, weight_quantizer=None, activation_quantizer=None):
        self.weight_quantizer = weight_quantizer
        self.activation_quantizer = activation_quantizer

    @property
    def mode(self):
        raise NotImplementedError(
            "QuantizationConfig: use a subclass with a mode, e.g. Int8QuantizationConfig"
        )

    def get_config(self):
        return {
            "weight_quantizer": serialize(self.weight_quantizer),
            "activation_quantizer": serialize(self.activation_quantizer),
        }

    @classmethod
    def from_config(cls, config):
        return cls(
            weight_quantizer=deserialize(config.get("weight_quantizer")),
            activation_quantizer=deserialize(config.get("activation_quantizer")),
        )

    @staticmethod
    def weight_quantizer_or_default(config, default):
        if config is not None and config.weight_quantizer is not None:
            return config.weight_quantizer
        return default

    @staticmethod
    def activation_quantizer_or_default(config, default):
        return default if config is None else config.activation_quantizer


class Int8QuantizationConfig(QuantizationConfig):
    """int8 weights; inputs quantized per call by `activation_quantizer` (None: float)."""

    def __init__(self, weight_quantizer=None, activation_quantizer="default"):
        if isinstance(activation_quantizer, str) and activation_quantizer == "default":
            activation_quantizer = AbsMaxQuantizer()
        super().__init__(weight_quantizer, activation_quantizer)
        if weight_quantizer is not None and weight_quantizer.output_dtype != "int8":
            raise ValueError(
                "Int8QuantizationConfig: argument 'weight_quantizer' must have "
                f"output_dtype='int8'; got output_dtype={weight_quantizer.output_dtype!r}"
            )

    @property
    def mode(self):
        return "int8"


_OBJECTS = {
    cls.__name__: cls
    for cls in (Quantizer, AbsMaxQuantizer, QuantizationConfig, Int8QuantizationConfig)
}


def serialize(obj):
    from shoal.saving.serialization import serialize_keras_object

    return serialize_keras_object(obj)


def deserialize(config, custom_objects=None):
    """A quantizer or quantization config from its Keras config dict (None stays None)."""
    if config is None:
        return None
    if isinstance(config, dict) and config.get("class_name") in _OBJECTS:
        cls = _OBJECTS[config["class_name"]]
        return cls.from_config(dict(config.get("config", {})))
    from shoal.saving.serialization import deserialize_keras_object

    return deserialize_keras_object(config, custom_objects=custom_objects)


def get(identifier, **kwargs):
    """A quantizer from None, a config dict, a class name or a quantizer."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    obj = _OBJECTS.get(identifier) if isinstance(identifier, str) else identifier
    if isinstance(obj, type):
        return obj(**kwargs)
    if callable(obj):
        return obj
    raise ValueError(f"quantizers.get: could not interpret quantizer identifier {identifier!r}")
