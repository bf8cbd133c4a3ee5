"""Keras-named optimizers whose update rules come from optax, and their schedules."""

from __future__ import annotations

from shoal.optimizers import schedules
from shoal.optimizers.adam import Adam, Adamax, AdamW, Lion, Nadam
from shoal.optimizers.adaptive import Adadelta, Adafactor, Adagrad, RMSprop
from shoal.optimizers.base import Optimizer
from shoal.optimizers.ftrl import Ftrl
from shoal.optimizers.lamb import Lamb
from shoal.optimizers.loss_scale import LossScaleOptimizer
from shoal.optimizers.multi_optimizer import MultiOptimizer, OptimizerMap
from shoal.optimizers.muon import Muon
from shoal.optimizers.schedule_free import ScheduleFreeAdamW
from shoal.optimizers.sgd import SGD

ALL_OBJECTS = (
    SGD,
    RMSprop,
    Adam,
    AdamW,
    Adamax,
    Nadam,
    Adagrad,
    Adadelta,
    Adafactor,
    Lion,
    Ftrl,
    Lamb,
    Muon,
    ScheduleFreeAdamW,
)
ALL_OBJECTS_DICT = {cls.__name__.lower(): cls for cls in ALL_OBJECTS}
# Wrappers: deserializable by class name, but not constructible from a bare name in `get`.
_WRAPPERS = {"lossscaleoptimizer": LossScaleOptimizer, "multioptimizer": MultiOptimizer}


def serialize(optimizer: Optimizer) -> dict:
    """The Keras 3 dict form: `{"module", "class_name", "config", "registered_name"}`."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            "optimizers.serialize: argument 'optimizer' must be an Optimizer, "
            f"got {type(optimizer).__name__}"
        )
    return {
        "module": "keras.optimizers",
        "class_name": type(optimizer).__name__,
        "config": optimizer.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """Inverse of `serialize`; built-in class names match case-insensitively, as in Keras."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "optimizers.deserialize: argument 'config' must be a dict with a 'class_name' key, "
            f"got {config!r}"
        )
    name = config["class_name"]
    custom = custom_objects or {}
    key = str(name).lower()
    cls = custom.get(name) or ALL_OBJECTS_DICT.get(key) or _WRAPPERS.get(key)
    if cls is None:
        raise ValueError(
            f"optimizers.deserialize: unknown optimizer {name!r}; "
            f"expected one of {sorted(ALL_OBJECTS_DICT)}"
        )
    return cls.from_config(dict(config.get("config") or {}), custom_objects)


def get(identifier) -> Optimizer | None:
    """An optimizer from a name ("adam"), a config dict, or an Optimizer (returned as is)."""
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() not in ALL_OBJECTS_DICT:
            raise ValueError(
                f"optimizers.get: unknown optimizer {identifier!r}; "
                f"expected one of {sorted(ALL_OBJECTS_DICT)}"
            )
        return ALL_OBJECTS_DICT[identifier.lower()]()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(
        "optimizers.get: argument 'identifier' must be an optimizer name, a config dict or an "
        f"Optimizer, got {identifier!r}"
    )


__all__ = [
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Ftrl",
    "Lamb",
    "Lion",
    "LossScaleOptimizer",
    "MultiOptimizer",
    "Muon",
    "Nadam",
    "Optimizer",
    "OptimizerMap",
    "RMSprop",
    "ScheduleFreeAdamW",
    "deserialize",
    "get",
    "schedules",
    "serialize",
]


def __getattr__(name):
    # `legacy` is imported on first use (Keras 2 names, kept out of every import of
    # shoal.optimizers).
    if name == "legacy":
        import importlib

        return importlib.import_module("shoal.optimizers.legacy")
    raise AttributeError(f"module 'shoal.optimizers' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), "legacy"])
