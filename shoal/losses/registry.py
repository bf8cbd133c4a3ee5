"""Name lookup and (de)serialization for losses, in Keras 3's dict format.

`serialize_object` / `deserialize_object` are generic (metrics use them too):
objects become `{"module", "class_name", "config", "registered_name"}` exactly
as `keras.saving.serialize_keras_object` writes them.
"""

from __future__ import annotations

import inspect

from shoal.losses import classes as C
from shoal.losses import functions as F
from shoal.losses.base import Loss


def serialize_object(obj, module: str, known: dict):
    if obj is None:
        return None
    if inspect.isfunction(obj):
        return {
            "module": "builtins",
            "class_name": "function",
            "config": obj.__name__,
            "registered_name": "function",
        }
    cls = type(obj)
    ours = known.get(cls.__name__) is cls
    return {
        "module": module if ours else cls.__module__,
        "class_name": cls.__name__,
        "config": obj.get_config(),
        "registered_name": None if ours else cls.__name__,
    }


def unknown_identifier(where: str, kind: str, identifier, known: dict) -> ValueError:
    return ValueError(
        f"{where}: unknown {kind} identifier {identifier!r}; expected one of "
        f"{sorted(known)} (or a {kind} object, class or config dict)"
    )


def _plural(kind: str) -> str:
    return "losses" if kind == "loss" else f"{kind}s"


def deserialize_object(config, known: dict, kind: str, custom_objects=None):
    objects = {**known, **(custom_objects or {})}
    where = f"shoal.{_plural(kind)}.deserialize"
    if isinstance(config, str):
        if config not in objects:
            raise unknown_identifier(where, kind, config, known)
        return objects[config]
    if not isinstance(config, dict) or "class_name" not in config:
        raise TypeError(
            f"{where}: expected a name or a config dict with 'class_name'; got {config!r}"
        )
    name = config["class_name"]
    if name == "function":
        name = config["config"]
    target = objects.get(name) or objects.get(config.get("registered_name") or "")
    if target is None:
        raise unknown_identifier(where, kind, name, known)
    if inspect.isclass(target):
        return target.from_config(config.get("config") or {})
    return target


def get_object(identifier, known: dict, kind: str, base: type):
    """Keras' `get`: None, a name, a config dict, a class (instantiated) or a callable."""
    where = f"shoal.{_plural(kind)}.get"
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize_object(identifier, known, kind)
    elif isinstance(identifier, str):
        if identifier not in known:
            raise unknown_identifier(where, kind, identifier, known)
        obj = known[identifier]
    else:
        obj = identifier
    if inspect.isclass(obj):
        obj = obj()
    if not callable(obj):
        raise TypeError(
            f"{where}: expected a {kind} name, config dict, {base.__name__} or callable; "
            f"got {identifier!r}"
        )
    return obj


FUNCTIONS = (
    F.mean_squared_error,
    F.mean_absolute_error,
    F.mean_absolute_percentage_error,
    F.mean_squared_logarithmic_error,
    F.cosine_similarity,
    F.huber,
    F.log_cosh,
    F.hinge,
    F.squared_hinge,
    F.categorical_hinge,
    F.kl_divergence,
    F.poisson,
    F.binary_crossentropy,
    F.binary_focal_crossentropy,
    F.categorical_crossentropy,
    F.categorical_focal_crossentropy,
    F.sparse_categorical_crossentropy,
)
_CLASSES = [Loss] + [
    obj for obj in vars(C).values() if inspect.isclass(obj) and issubclass(obj, Loss)
]
_ALIASES = {
    "bce": F.binary_crossentropy,
    "kld": F.kl_divergence,
    "mae": F.mean_absolute_error,
    "mse": F.mean_squared_error,
    "mape": F.mean_absolute_percentage_error,
    "msle": F.mean_squared_logarithmic_error,
}
ALL_OBJECTS = {obj.__name__: obj for obj in _CLASSES + list(FUNCTIONS)}
ALL_OBJECTS.update(_ALIASES)
ALL_OBJECTS.update({k.upper(): v for k, v in _ALIASES.items()})


def serialize(loss):
    """A loss object or function as a Keras-format config (dict)."""
    return serialize_object(loss, "keras.losses", ALL_OBJECTS)


def deserialize(config, custom_objects=None):
    """The loss (instance or function) a name or `serialize` dict describes."""
    return deserialize_object(config, ALL_OBJECTS, "loss", custom_objects)


def get(identifier):
    """A loss function or `Loss` instance from a name, config dict, class or callable.

    Names follow Keras: function names ("mean_squared_error", "mse", "huber",
    ...) give functions, class names ("MeanSquaredError") give instances.
    """
    return get_object(identifier, ALL_OBJECTS, "loss", Loss)
