"""`Catalog`: the named objects of one Keras-style module and its get/serialize/deserialize.

`shoal.initializers`, `regularizers`, `constraints` and `activations` each hold
a table of names (class names, snake_case aliases) and expose Keras'
`get(identifier)`, `serialize(obj)` and `deserialize(config)`. The table
lookup and the error for an unknown name live here once; the config format
and the registry of custom objects are `shoal.saving.serialization`'s.
"""

from __future__ import annotations

import inspect


def _serialization():
    # Imported on use: saving sits above this layer, and importing it must not
    # be needed just to build a layer.
    from shoal.saving import serialization

    return serialization


class Catalog:
    """Name -> object table for `kind` ("initializer", ...), with Keras' module functions."""

    def __init__(self, kind: str, objects: dict, instantiate: bool = True):
        self.kind = kind
        self.objects = dict(objects)
        self.instantiate = instantiate  # classes found by name are called with no arguments

    def _finish(self, obj):
        return obj() if self.instantiate and inspect.isclass(obj) else obj

    def lookup(self, name: str, custom_objects=None):
        """The object called `name` (custom objects and registered ones first)."""
        found = _serialization().get_registered_object(name, custom_objects, self.objects)
        if found is None:
            raise ValueError(
                f"Unknown {self.kind} identifier {name!r}. Known names: "
                f"{', '.join(sorted(self.objects))} (or register your own with "
                "shoal.saving.register_keras_serializable)."
            )
        return self._finish(found)

    def serialize(self, obj):
        """`obj` as a Keras 3 config dict."""
        return _serialization().serialize_keras_object(obj)

    def deserialize(self, config, custom_objects=None):
        """The object a config dict (or a name) describes."""
        if isinstance(config, str):
            return self.lookup(config, custom_objects)
        return self._finish(
            _serialization().deserialize_keras_object(
                config,
                custom_objects=custom_objects,
                module_objects=self.objects,
                printable_module_name=self.kind,
            )
        )

    def get(self, identifier):
        """The object for a name, config dict, class or callable (None stays None)."""
        if identifier is None:
            return None
        if isinstance(identifier, (str, dict)):
            return self.deserialize(identifier)
        obj = self._finish(identifier)
        if not callable(obj):
            raise ValueError(
                f"Could not interpret {self.kind} identifier {identifier!r} of type "
                f"{type(identifier).__name__}: expected a name, a config dict, a callable or None."
            )
        return obj
