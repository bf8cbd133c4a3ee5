"""Name lookup and (de)serialization for losses, as `keras.losses.get/serialize/deserialize`.

(De)serialization goes through `shoal.saving` (Keras 3's dict format, custom
object registry); `get_object` is shared with `shoal.metrics`.
"""

from __future__ import annotations

import inspect

from shoal.losses import classes as C
from shoal.losses import ctc_loss, metric_learning, noisy_labels, segmentation
from shoal.losses import functions as F
from shoal.losses.base import Loss


def unknown_identifier(where: str, kind: str, identifier, known: dict) -> ValueError:
    return ValueError(
        f"{where}: unknown {kind} identifier {identifier!r}; expected one of "
        f"{sorted(known)} (or a {kind} object, class or config dict)"
    )


def deserialize_object(config, known: dict, where: str, kind: str, custom_objects=None):
    """A name from `known`, or the object a Keras config dict describes."""
    if isinstance(config, str):
        found = (custom_objects or {}).get(config, known.get(config))
        if found is None:
            raise unknown_identifier(where, kind, config, known)
        return found
    if not isinstance(config, dict):
        raise TypeError(f"{where}: expected a name or a config dict; got {config!r}")
    from shoal.saving.serialization import deserialize_keras_object  # saving sits above us

    return deserialize_keras_object(
        config, custom_objects=custom_objects, module_objects=known, printable_module_name=kind
    )


def serialize_object(obj):
    from shoal.saving.serialization import serialize_keras_object

    return serialize_keras_object(obj)


def get_object(identifier, known: dict, where: str, kind: str, base: type):
    """Keras' `get`: None, a name, a config dict, a class (instantiated) or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize_object(identifier, known, where, kind)
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
    segmentation.dice,
    segmentation.tversky,
    noisy_labels.categorical_generalized_cross_entropy,
    metric_learning.circle,
    ctc_loss.ctc,
)
_CLASSES = [Loss] + [
    obj
    for module in (C, segmentation, noisy_labels, metric_learning, ctc_loss)
    for obj in vars(module).values()
    if inspect.isclass(obj) and issubclass(obj, Loss) and obj is not Loss
]
_CLASSES = list(dict.fromkeys(_CLASSES))
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
    return serialize_object(loss)


def deserialize(name, custom_objects=None):
    """The loss (instance or function) a name or `serialize` dict describes (`name`, as
    Keras calls the argument)."""
    return deserialize_object(name, ALL_OBJECTS, "shoal.losses.deserialize", "loss", custom_objects)


def get(identifier):
    """A loss function or `Loss` instance from a name, config dict, class or callable.

    Names follow Keras: function names ("mean_squared_error", "mse", "huber",
    ...) give functions, class names ("MeanSquaredError") give instances.
    """
    return get_object(identifier, ALL_OBJECTS, "shoal.losses.get", "loss", Loss)
