"""Object <-> config dicts in Keras 3's format, and the registry of custom objects.

`serialize_keras_object(obj)` returns the dict Keras 3 writes:

    {"module": "keras.layers", "class_name": "Dense", "config": {...},
     "registered_name": None, "build_config": {...}}

Built-in shoal classes are written under their Keras module (`keras.layers`,
`keras.optimizers`, ...) so that Keras can read our configs and we can read
its. Classes are looked up lazily in shoal's public namespaces; anything else
must be registered (`register_keras_serializable`) or passed in
`custom_objects`. Nothing here imports modules named by a config: a config can
only reach shoal's own namespaces and objects the user handed us.
"""

from __future__ import annotations

import importlib
import inspect
import threading
import types

import numpy as np

# -- registry ------------------------------------------------------------------

_GLOBAL_CUSTOM_OBJECTS: dict = {}
_GLOBAL_CUSTOM_NAMES: dict = {}
_STATE = threading.local()


class UnknownObjectError(TypeError, ValueError):
    """A config names a class or function that is neither built in nor registered.

    Subclasses both TypeError (what Keras raises) and ValueError (shoal's
    convention for bad user input), so either `except` catches it.
    """


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Register a class or function under `"package>name"` for (de)serialization.

    Example:
        >>> @register_keras_serializable(package="my_pkg")
        ... class Scale(shoal.layers.Layer):
        ...     ...
        >>> get_registered_name(Scale)
        'my_pkg>Scale'
    """
    if not isinstance(package, str) or ">" in package:
        raise ValueError(
            "register_keras_serializable: argument 'package' must be a string without '>'; "
            f"got {package!r}"
        )

    def decorator(obj):
        object_name = name if name is not None else getattr(obj, "__name__", None)
        if not object_name:
            raise ValueError(
                f"register_keras_serializable: cannot find a name for {obj!r}; pass `name=`."
            )
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError(
                f"register_keras_serializable: class {obj.__name__} has no get_config() "
                "method, so it cannot be serialized. Define get_config() (and from_config() "
                "if its constructor does not accept that config)."
            )
        registered = f"{package}>{object_name}"
        _GLOBAL_CUSTOM_OBJECTS[registered] = obj
        _GLOBAL_CUSTOM_NAMES[obj] = registered
        return obj

    return decorator


def get_registered_name(obj) -> str:
    """The name `obj` is registered under, or its Python name if it is not registered."""
    try:
        if obj in _GLOBAL_CUSTOM_NAMES:
            return _GLOBAL_CUSTOM_NAMES[obj]
    except TypeError:  # unhashable
        pass
    return obj.__name__


def get_custom_objects() -> dict:
    """The live global dict of registered objects (`"package>name"` -> object)."""
    return _GLOBAL_CUSTOM_OBJECTS


def _scope_objects() -> dict:
    return getattr(_STATE, "custom_objects", None) or {}


def get_registered_object(name, custom_objects=None, module_objects=None):
    """Look `name` up in the active custom-object scope, the registry, then the given dicts."""
    if name is None:
        return None
    scope = _scope_objects()
    if name in scope:
        return scope[name]
    if name in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[name]
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


class CustomObjectScope:
    """Within `with CustomObjectScope({"name": obj}):`, deserialization can find `obj`.

    Example:
        >>> with custom_object_scope({"Scale": Scale}):
        ...     model = shoal.saving.load_model("model.keras")
    """

    def __init__(self, custom_objects=None, *more):
        merged = {}
        for objects in (custom_objects, *more):
            merged.update(objects or {})
        self.custom_objects = merged
        self._backup = None

    def __enter__(self):
        self._backup = dict(_scope_objects())
        _STATE.custom_objects = {**self._backup, **self.custom_objects}
        return self

    def __exit__(self, *exc):
        _STATE.custom_objects = self._backup
        return False


custom_object_scope = CustomObjectScope


# -- safe mode -------------------------------------------------------------------

_UNSAFE = {"enabled": False}


def enable_unsafe_deserialization() -> None:
    """Allow loading Python bytecode (Lambda layers' lambdas) from files, process-wide.

    Only do this for files you trust: a lambda in a file can run arbitrary code.
    """
    _UNSAFE["enabled"] = True


def disable_unsafe_deserialization() -> None:
    """Undo `enable_unsafe_deserialization()`."""
    _UNSAFE["enabled"] = False


def in_safe_mode():
    """True/False inside a deserialization scope, False if unsafe mode is on globally, else None."""
    if _UNSAFE["enabled"]:
        return False
    return getattr(_STATE, "safe_mode", None)


class SafeModeScope:
    """Propagate a `safe_mode` flag to nested deserialization calls (e.g. Lambda.from_config)."""

    def __init__(self, safe_mode=True):
        self.safe_mode = safe_mode

    def __enter__(self):
        self._backup = getattr(_STATE, "safe_mode", None)
        _STATE.safe_mode = self.safe_mode
        return self

    def __exit__(self, *exc):
        _STATE.safe_mode = self._backup
        return False


class ObjectSharingScope:
    """Reuse objects that a config marks with the same `shared_object_id` (as Keras writes)."""

    def __enter__(self):
        self._backup = getattr(_STATE, "shared", None), getattr(_STATE, "shared_configs", None)
        _STATE.shared = {}
        _STATE.shared_configs = {}  # id(obj) -> (obj, its first config), while saving
        return self

    def __exit__(self, *exc):
        _STATE.shared, _STATE.shared_configs = self._backup
        return False


def _record_serialized(obj, config) -> None:
    """In an ObjectSharingScope, mark an object serialized twice (a layer both in a model
    and inside a wrapper) with one `shared_object_id` in both configs, as Keras does, so
    loading rebuilds one object."""
    seen = getattr(_STATE, "shared_configs", None)
    if seen is None:
        return
    if id(obj) not in seen:
        seen[id(obj)] = (obj, config)  # obj kept alive so its id stays unique
        return
    config["shared_object_id"] = id(obj)
    seen[id(obj)][1]["shared_object_id"] = id(obj)


# -- public class names ------------------------------------------------------------

# shoal namespace -> the Keras module its public classes are written under.
_NAMESPACES = (
    ("shoal.layers", "keras.layers"),
    ("shoal.models", "keras.models"),
    ("shoal.losses", "keras.losses"),
    ("shoal.metrics", "keras.metrics"),
    ("shoal.optimizers.schedules", "keras.optimizers.schedules"),
    ("shoal.optimizers", "keras.optimizers"),
    ("shoal.initializers", "keras.initializers"),
    ("shoal.regularizers", "keras.regularizers"),
    ("shoal.constraints", "keras.constraints"),
    ("shoal.activations", "keras.activations"),
    ("shoal.ops", "keras.ops"),
    ("shoal.quantizers", "keras.quantizers"),
    ("shoal.distillation", "keras.distillation"),
    ("shoal.utils", "keras.utils"),
    ("shoal.backend", "keras"),
    ("shoal.random", "keras.random"),  # after shoal.backend: Variable stays keras.Variable
)
# Classes Keras exports at its top level (`keras.Sequential`, ...).
_TOP_LEVEL = {"Model", "Sequential", "DTypePolicy", "Layer", "InputSpec", "Operation", "Variable"}
# Keras modules whose functions are written with module "builtins" or by bare name.
_BUILTIN_FUNCTION_NAMESPACES = (
    "shoal.activations",
    "shoal.losses",
    "shoal.metrics",
    "shoal.initializers",
    "shoal.regularizers",
    "shoal.constraints",
    "shoal.optimizers",
)
# Their Keras modules: Keras finds a function written under "builtins" there, and only there.
_BUILTIN_FUNCTION_MODULES = {"keras" + n[len("shoal") :] for n in _BUILTIN_FUNCTION_NAMESPACES}
_FUNCTIONAL_MODULE = "keras.src.models.functional"

_INDEX: dict = {}


def _import_optional(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _public_index() -> dict:
    """id(obj) -> (keras_module, public_name) for shoal's public classes and functions."""
    if _INDEX.get("complete"):
        return _INDEX["map"]
    mapping = {}
    complete = True
    for namespace, keras_module in _NAMESPACES:
        module = _import_optional(namespace)
        if module is None:
            complete = False
            continue
        names = getattr(module, "__all__", None) or [
            n for n in vars(module) if not n.startswith("_")
        ]
        for public in names:
            obj = getattr(module, public, None)
            if obj is None or not (inspect.isclass(obj) or callable(obj)):
                continue
            if not getattr(obj, "__module__", "").startswith("shoal"):
                continue
            if isinstance(obj, types.ModuleType):
                continue
            target = "keras" if public in _TOP_LEVEL and inspect.isclass(obj) else keras_module
            if public == getattr(obj, "__name__", None):
                # The canonical name beats aliases (MaxPooling2D, not MaxPool2D).
                previous = mapping.get(id(obj))
                if previous is None or previous[1] != public:
                    mapping[id(obj)] = (target, public)
            else:
                mapping.setdefault(id(obj), (target, public))
    functional = _import_optional("shoal.models.functional")
    if functional is not None:
        mapping[id(functional.Functional)] = (_FUNCTIONAL_MODULE, "Functional")
    dtype_policy = _import_optional("shoal.backend.dtype_policy")
    if dtype_policy is not None:
        mapping[id(dtype_policy.DTypePolicy)] = ("keras", "DTypePolicy")
        for name in dtype_policy.QUANTIZED_POLICY_CLASSES:
            mapping[id(getattr(dtype_policy, name))] = ("keras.dtype_policies", name)
        policy_map = importlib.import_module("shoal.backend.dtype_policy_map").DTypePolicyMap
        mapping[id(policy_map)] = ("keras.dtype_policies", "DTypePolicyMap")
    _INDEX["map"] = mapping
    _INDEX["complete"] = complete
    return mapping


def _public_name(obj):
    mapping = _public_index()
    found = mapping.get(id(obj))
    if found is None and getattr(obj, "__module__", "").startswith("shoal"):
        _INDEX.clear()  # a namespace may have been completed since: look again once
        found = _public_index().get(id(obj))
    return found


# Functions a config may name: pure math only (never loaders, session or file utilities).
_FUNCTION_NAMESPACES = _BUILTIN_FUNCTION_NAMESPACES + ("shoal.ops",)


def _lookup_in_namespaces(name: str, preferred: str | None = None, kind: str = "class"):
    """Find a public shoal object called `name`, trying the namespace matching `preferred` first."""
    if kind == "class":
        if name == "Functional":
            functional = _import_optional("shoal.models.functional")
            if functional is not None:
                return functional.Functional
        policies = importlib.import_module("shoal.backend.dtype_policy")
        if name == "DTypePolicy" or name in policies.QUANTIZED_POLICY_CLASSES:
            return getattr(policies, name)
        if name == "DTypePolicyMap":
            return importlib.import_module("shoal.backend.dtype_policy_map").DTypePolicyMap
        allowed = [ns for ns, _ in _NAMESPACES]
    else:
        allowed = list(_FUNCTION_NAMESPACES)
    exact = [ns for ns, km in _NAMESPACES if km == preferred and ns in allowed]
    order = exact + [ns for ns in allowed if ns not in exact]
    for namespace in order:
        module = _import_optional(namespace)
        if module is None:
            continue
        obj = getattr(module, name, None)
        if obj is None or isinstance(obj, types.ModuleType):
            continue
        if not getattr(obj, "__module__", "").startswith("shoal"):
            continue
        if kind == "class" and inspect.isclass(obj):
            if namespace == "shoal.backend" and name not in _TOP_LEVEL:
                continue
            return obj
        if kind == "function" and callable(obj) and not inspect.isclass(obj):
            return obj
    return None


# -- serialize ---------------------------------------------------------------------

PLAIN_TYPES = (str, int, float, bool)


def serialize_keras_object(obj):
    """Return the Keras 3 config dict (or plain value) representing `obj`."""
    if obj is None or isinstance(obj, PLAIN_TYPES):
        return obj
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        items = [serialize_keras_object(x) for x in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return serialize_dict(obj)
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, slice):
        return {
            "class_name": "__slice__",
            "config": {
                "start": serialize_keras_object(obj.start),
                "stop": serialize_keras_object(obj.stop),
                "step": serialize_keras_object(obj.step),
            },
        }
    if obj is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}

    from shoal.backend.symbolic import KerasTensor

    if isinstance(obj, KerasTensor):
        history = obj._keras_history
        if history is not None:
            history = [history[0].name, history[1], history[2]]
        return {
            "class_name": "__keras_tensor__",
            "config": {"shape": list(obj.shape), "dtype": obj.dtype, "keras_history": history},
        }
    if isinstance(obj, np.dtype):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        if obj.ndim == 0:
            return obj.item()
        return {
            "class_name": "__numpy__",
            "config": {"value": obj.tolist(), "dtype": str(obj.dtype)},
        }
    if _is_jax_array(obj):
        value = np.asarray(obj)
        return {
            "class_name": "__tensor__",
            "config": {"value": value.tolist(), "dtype": str(value.dtype)},
        }
    if isinstance(obj, types.FunctionType) and obj.__name__ == "<lambda>":
        from shoal.saving.lambda_code import serialize_lambda

        return serialize_lambda(obj)
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
        return _serialize_function(obj)
    if inspect.isclass(obj):
        # A class object (not an instance): written by name, as Keras does for
        # registered classes referenced from configs.
        return get_registered_name(obj)
    if not hasattr(obj, "get_config"):
        raise TypeError(
            f"serialize_keras_object: cannot serialize {obj!r} of type {type(obj).__name__}: "
            "it has no get_config() method. Give the class get_config() (and register it "
            "with shoal.saving.register_keras_serializable())."
        )
    inner = obj.get_config()
    if not isinstance(inner, dict):
        raise TypeError(
            f"serialize_keras_object: {type(obj).__name__}.get_config() must return a dict; "
            f"got {type(inner).__name__}"
        )
    config = _class_entry(type(obj), serialize_dict(inner))
    _add_build_and_compile_config(obj, config)
    _record_serialized(obj, config)
    return config


def _is_jax_array(obj) -> bool:
    try:
        import jax

        return isinstance(obj, jax.Array)
    except ImportError:  # pragma: no cover
        return False


def serialize_dict(obj: dict) -> dict:
    return {key: serialize_keras_object(value) for key, value in obj.items()}


def _class_entry(cls, inner_config) -> dict:
    registered = _GLOBAL_CUSTOM_NAMES.get(cls)
    public = None if registered else _public_name(cls)
    if public is not None:
        module, class_name = public
        return {
            "module": module,
            "class_name": class_name,
            "config": inner_config,
            "registered_name": "Functional" if class_name == "Functional" else None,
        }
    module = cls.__module__
    if module.startswith(_APPLICATIONS[1]):
        module = _APPLICATIONS[0] + module[len(_APPLICATIONS[1]) :]
    return {
        "module": None if module == "__main__" else module,
        "class_name": cls.__name__,
        "config": inner_config,
        "registered_name": registered or cls.__name__,
    }


def _serialize_function(fn) -> dict:
    registered = _GLOBAL_CUSTOM_NAMES.get(fn)
    public = None if registered else _public_name(fn)
    if public is not None:
        module, name = public
        if module in _BUILTIN_FUNCTION_MODULES:  # as Keras 3.15 writes its own functions
            return {
                "module": "builtins",
                "class_name": "function",
                "config": name,
                "registered_name": "function",
            }
        return {"module": module, "class_name": "function", "config": name, "registered_name": name}
    name = registered or fn.__name__
    module = fn.__module__
    return {
        "module": None if module == "__main__" else module,
        "class_name": "function",
        "config": name,
        "registered_name": name,
    }


def _add_build_and_compile_config(obj, config) -> None:
    get_build = getattr(obj, "get_build_config", None)
    if callable(get_build):
        build_config = get_build()
        if build_config is not None:
            config["build_config"] = serialize_dict(build_config)
    get_compile = getattr(obj, "get_compile_config", None)
    if callable(get_compile):
        compile_config = get_compile()
        if compile_config is not None:
            config["compile_config"] = serialize_dict(compile_config)


# -- deserialize -------------------------------------------------------------------


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """Rebuild the object described by a Keras 3 config dict.

    Args:
        config: a dict from `serialize_keras_object` (or Keras), or a plain value.
        custom_objects: dict of name -> class/function for custom objects.
        safe_mode: refuse Python bytecode (lambdas) in the config. Defaults to True.

    Raises:
        UnknownObjectError (a TypeError and ValueError): the config names a class or
        function that is not built in, not registered and not in `custom_objects`.
    """
    ambient = in_safe_mode()
    safe_mode = ambient if ambient is not None else safe_mode
    module_objects = kwargs.pop("module_objects", None)
    kwargs.pop("printable_module_name", None)  # accepted for Keras compatibility
    if kwargs:
        raise TypeError(
            f"deserialize_keras_object: unexpected keyword argument(s) {sorted(kwargs)}"
        )
    custom_objects = {**(custom_objects or {}), **_scope_objects()}

    if config is None:
        return None
    if isinstance(config, str):
        found = get_registered_object(config, custom_objects, module_objects)
        return found if found is not None else config
    if isinstance(config, PLAIN_TYPES):
        return config
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(x, custom_objects, safe_mode=safe_mode) for x in config]
    if not isinstance(config, dict):
        raise TypeError(
            f"deserialize_keras_object: could not parse config of type {type(config).__name__}: "
            f"{config!r}"
        )
    if "class_name" not in config or "config" not in config:
        return {
            key: deserialize_keras_object(value, custom_objects, safe_mode=safe_mode)
            for key, value in config.items()
        }

    class_name = config["class_name"]
    inner = config["config"] if config["config"] is not None else {}
    special = _deserialize_special(class_name, inner, custom_objects, safe_mode)
    if special is not _NOT_SPECIAL:
        return special

    module = config.get("module", _MISSING)
    registered_name = config.get("registered_name") or class_name

    if class_name == "function":
        if not isinstance(inner, str):
            raise TypeError(
                "deserialize_keras_object: a function config must hold the function's name "
                f"as a string; got {inner!r} in {config}"
            )
        return _retrieve(
            inner, registered_name, module, "function", config, custom_objects, module_objects
        )

    if not isinstance(inner, dict):
        raise TypeError(
            f"deserialize_keras_object: 'config' of {class_name} must be a dict; "
            f"got {type(inner).__name__}"
        )
    shared = getattr(_STATE, "shared", None)
    if shared is not None and "shared_object_id" in config:
        if config["shared_object_id"] in shared:
            return shared[config["shared_object_id"]]

    cls = _retrieve(
        class_name, registered_name, module, "class", config, custom_objects, module_objects
    )
    if isinstance(cls, types.FunctionType):
        return cls
    if not hasattr(cls, "from_config"):
        raise TypeError(
            f"deserialize_keras_object: cannot rebuild '{class_name}': {cls!r} has no "
            "from_config() method."
        )
    with CustomObjectScope(custom_objects), SafeModeScope(safe_mode):
        instance = _from_config(cls, inner, custom_objects)
        build_config = config.get("build_config")
        if build_config and not getattr(instance, "built", True):
            instance.build_from_config(build_config)
            instance.built = True
        compile_config = config.get("compile_config")
        if compile_config:
            _compile_from_config(instance, compile_config)
    if shared is not None and "shared_object_id" in config:
        shared[config["shared_object_id"]] = instance
    return instance


_NOT_SPECIAL = object()


def _deserialize_special(class_name, inner, custom_objects, safe_mode):
    if class_name == "__keras_tensor__":
        from shoal.backend.symbolic import KerasTensor

        tensor = KerasTensor(inner["shape"], dtype=inner["dtype"])
        tensor._pre_serialization_keras_history = inner.get("keras_history")
        return tensor
    if class_name == "__tensor__":
        import jax.numpy as jnp

        return jnp.asarray(np.array(inner["value"], dtype=inner["dtype"]))
    if class_name == "__numpy__":
        return np.array(inner["value"], dtype=inner["dtype"])
    if class_name == "__bytes__":
        return inner["value"].encode("utf-8")
    if class_name == "__ellipsis__":
        return Ellipsis
    if class_name == "__slice__":
        return slice(
            *(
                deserialize_keras_object(inner.get(k), custom_objects, safe_mode=safe_mode)
                for k in ("start", "stop", "step")
            )
        )
    if class_name == "__lambda__":
        from shoal.saving.lambda_code import deserialize_function

        return deserialize_function(
            {"class_name": "__lambda__", "config": inner}, safe_mode=safe_mode
        )
    if class_name == "__typespec__":
        raise TypeError(
            "deserialize_keras_object: the config holds a TensorFlow TypeSpec, which shoal "
            "cannot read."
        )
    return _NOT_SPECIAL


def _is_keras_module(module) -> bool:
    return isinstance(module, str) and (
        module in ("keras", "shoal") or module.startswith(("keras.", "shoal."))
    )


def _retrieve(name, registered_name, module, kind, full_config, custom_objects, module_objects):
    lookup = name if kind == "function" else registered_name
    found = get_registered_object(lookup, custom_objects, module_objects)
    if found is None and lookup != name:
        found = get_registered_object(name, custom_objects, module_objects)
    if found is None and kind == "function" and registered_name != name:
        found = get_registered_object(registered_name, custom_objects, module_objects)
    if found is not None:
        return found
    if module_objects and name in module_objects:
        return module_objects[name]
    application_layer = _application_class(module, name) if kind == "class" else None
    if application_layer is not None:
        return application_layer
    if module is _MISSING or _is_keras_module(module) or module == "builtins":
        preferred = None
        if isinstance(module, str):
            preferred = "keras" + module[len("shoal") :] if module.startswith("shoal") else module
        if kind == "function" and module == "builtins":
            for namespace in _BUILTIN_FUNCTION_NAMESPACES:
                mod = _import_optional(namespace)
                obj = getattr(mod, name, None) if mod is not None else None
                if callable(obj) and not inspect.isclass(obj):
                    return obj
        else:
            obj = _lookup_in_namespaces(name, preferred, kind)
            if obj is not None:
                return obj
        # Keras <= 3.6 wrote custom functions by bare name instead of "package>name".
        if kind == "function" and ">" not in name:
            for key, value in {**_GLOBAL_CUSTOM_OBJECTS, **custom_objects}.items():
                if key.endswith(f">{name}"):
                    return value
    what = "function" if kind == "function" else "class"
    raise UnknownObjectError(
        f"Could not locate {what} '{name}'"
        + (f" (module {module!r})" if isinstance(module, str) and module else "")
        + f". It is not a built-in shoal/Keras {what}, and it is "
        "neither registered nor in `custom_objects`. If it is your own "
        f"{what}, decorate it with `@shoal.saving.register_keras_serializable()` (and import "
        f"the module defining it before loading), or pass `custom_objects={{'{name}': "
        f"{name}}}` to the loading function. Config: {_short(full_config)}"
    )


# The helper layers of the applications (ConvNeXt's LayerScale, InceptionResNetV2's
# CustomScaleLayer) are in no public namespace: Keras writes them under their module,
# `keras.src.applications.<model>`, and so does shoal.
_APPLICATIONS = ("keras.src.applications.", "shoal.applications.")


def _application_class(module, name):
    if not isinstance(module, str) or not module.startswith(_APPLICATIONS):
        return None
    found = _import_optional("shoal.applications." + module.rsplit(".", 1)[-1])
    obj = getattr(found, name, None) if found is not None else None
    return obj if inspect.isclass(obj) else None


class _Missing:
    def __repr__(self):
        return "<missing>"


_MISSING = _Missing()


def _short(config, limit: int = 300) -> str:
    text = repr(config)
    return text if len(text) <= limit else text[:limit] + "...}"


def _from_config(cls, inner, custom_objects):
    try:
        params = inspect.signature(cls.from_config).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs = {"custom_objects": custom_objects} if "custom_objects" in params else {}
    try:
        return cls.from_config(dict(inner), **kwargs)
    except UnknownObjectError:
        raise
    except TypeError as err:
        reduced = _drop_unsupported_defaults(cls, inner)
        if reduced is None:
            raise TypeError(
                f"{cls.__name__} could not be rebuilt from its config: {err}. Config: "
                f"{_short(inner)}"
            ) from err
        try:
            return cls.from_config(reduced, **kwargs)
        except TypeError as err2:
            raise TypeError(
                f"{cls.__name__} could not be rebuilt from its config: {err2}. Config: "
                f"{_short(inner)}"
            ) from err2


# Values with which a Keras-only argument means "feature not used", so dropping it keeps
# the meaning (e.g. Dense's quantization_config=None, InputLayer's ragged=False).
def _is_default_like(value) -> bool:
    return value is None or value is False or value == {} or value == []


def _accepted_init_args(cls):
    accepted = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        has_var_kw = False
        for p in params:
            if p.kind == p.VAR_KEYWORD:
                has_var_kw = True
            elif p.kind != p.VAR_POSITIONAL and p.name != "self":
                accepted.add(p.name)
        if not has_var_kw:
            return accepted
        if getattr(klass, "__module__", "") == "shoal.layers.base":
            from shoal.layers import base

            return accepted | set(getattr(base, "_LAYER_KWARGS", ()))
    return None


def _drop_unsupported_defaults(cls, inner):
    """Config without the Keras-only keys that cls does not accept and that hold defaults."""
    accepted = _accepted_init_args(cls)
    if accepted is None:
        return None
    dropped = {k for k, v in inner.items() if k not in accepted and _is_default_like(v)}
    if not dropped:
        return None
    return {k: v for k, v in inner.items() if k not in dropped}


def _compile_from_config(model, compile_config) -> None:
    if hasattr(model, "compile_from_config"):
        model.compile_from_config(compile_config)
        return
    compile_from_config(model, compile_config)


def compile_from_config(model, compile_config) -> None:
    """`model.compile(**deserialized compile_config)`, keeping the arguments its
    `compile` takes."""
    compile_fn = getattr(model, "compile", None)
    if compile_fn is None:
        return
    config = deserialize_keras_object(compile_config)
    try:
        accepted = inspect.signature(compile_fn).parameters
        has_var_kw = any(p.kind == p.VAR_KEYWORD for p in accepted.values())
    except (TypeError, ValueError):
        accepted, has_var_kw = {}, True
    if not has_var_kw:
        config = {k: v for k, v in config.items() if k in accepted}
    # The optimizer's slots are created by weight loading when the file holds them.
    compile_fn(**config)
