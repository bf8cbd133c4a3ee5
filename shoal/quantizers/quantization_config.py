"""Quantization configs (Keras' `keras.quantizers.QuantizationConfig`) and the module's
get / serialize / deserialize.

`Int8QuantizationConfig(weight_quantizer=None, activation_quantizer="default")`: the
weight quantizer (default: abs-max over the kernel's contracted axes) runs once, in
`quantize`; the activation quantizer (default `AbsMaxQuantizer()`, per row of the inputs)
runs in every call; `activation_quantizer=None` keeps the inputs float (weight-only int8).

`Int4QuantizationConfig(weight_quantizer=None, activation_quantizer="default",
block_size=128)`: int4 weights, weight-only by default; `block_size` groups the contracted
axis (sub-channel, with a zero point per group), None or -1 keeps one scale per channel.
"""

from __future__ import annotations

import numbers

from shoal.backend.naming import to_snake_case
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


class Int4QuantizationConfig(QuantizationConfig):
    """int4 weights (two per byte); `block_size` rows of the contracted axis per group
    (sub-channel, asymmetric), or None / -1 for one abs-max scale per channel.

    Sub-channel quantization takes no custom quantizers; a per-channel `weight_quantizer`
    must produce int8 values in `value_range=(-8, 7)`. The inputs stay float unless an
    `activation_quantizer` is given (per-channel only).
    """

    def __init__(self, weight_quantizer=None, activation_quantizer="default", block_size=128):
        if isinstance(activation_quantizer, str) and activation_quantizer == "default":
            activation_quantizer = None  # weight-only by default, as Keras
        super().__init__(weight_quantizer, activation_quantizer)
        if block_size is not None and (
            isinstance(block_size, bool)
            or not isinstance(block_size, numbers.Integral)
            or (block_size <= 0 and block_size != -1)
        ):
            raise ValueError(
                "Int4QuantizationConfig: argument 'block_size' must be None, -1 (per-channel) "
                f"or a positive integer (sub-channel); got block_size={block_size!r}"
            )
        self.block_size = None if block_size is None else int(block_size)
        if self.sub_channel and (weight_quantizer is not None or self.activation_quantizer):
            raise ValueError(
                "Int4QuantizationConfig: arguments 'weight_quantizer' and "
                "'activation_quantizer' must be None for sub-channel quantization "
                f"(block_size > 0; use block_size=None or -1 for custom quantizers); got "
                f"block_size={block_size}, weight_quantizer={weight_quantizer!r}, "
                f"activation_quantizer={self.activation_quantizer!r}"
            )
        if weight_quantizer is not None:
            value_range = tuple(getattr(weight_quantizer, "value_range", ()))
            if value_range != (-8, 7) or weight_quantizer.output_dtype != "int8":
                raise ValueError(
                    "Int4QuantizationConfig: argument 'weight_quantizer' must have "
                    "value_range=(-8, 7) and output_dtype='int8'; got "
                    f"value_range={value_range}, output_dtype={weight_quantizer.output_dtype!r}"
                )

    @property
    def mode(self):
        return "int4"

    @property
    def sub_channel(self) -> bool:
        return self.block_size is not None and self.block_size > 0

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}

    @classmethod
    def from_config(cls, config):
        # No block_size: written before Keras had sub-channel int4 (per-channel then).
        return cls(
            weight_quantizer=deserialize(config.get("weight_quantizer")),
            activation_quantizer=deserialize(config.get("activation_quantizer")),
            block_size=config.get("block_size"),
        )


class Float8QuantizationConfig(QuantizationConfig):
    """float8 training and inference (delayed scaling); takes no custom quantizers."""

    def __init__(self):
        super().__init__(None, None)

    @property
    def mode(self):
        return "float8"

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls()


_OBJECTS = {
    cls.__name__: cls
    for cls in (
        Quantizer,
        AbsMaxQuantizer,
        QuantizationConfig,
        Int8QuantizationConfig,
        Int4QuantizationConfig,
        Float8QuantizationConfig,
    )
}
# `get` also takes the snake_case names (Keras' `get("abs_max_quantizer")`).
_NAMES = {**_OBJECTS, **{to_snake_case(name): cls for name, cls in _OBJECTS.items()}}


def serialize(initializer):
    """Keras' name for the argument (a quantizer or a quantization config)."""
    from shoal.saving.serialization import serialize_keras_object

    return serialize_keras_object(initializer)


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
    obj = _NAMES.get(identifier) if isinstance(identifier, str) else identifier
    if isinstance(obj, type):
        return obj(**kwargs)
    if callable(obj):
        return obj
    raise ValueError(f"quantizers.get: could not interpret quantizer identifier {identifier!r}")
