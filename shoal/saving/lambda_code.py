"""Python functions inside configs (Lambda layers), written the way Keras 3 writes them.

A Python `lambda` has no importable name, so Keras stores its bytecode:

    {"class_name": "__lambda__",
     "config": {"code": base64(marshal(fn.__code__)), "defaults": [...], "closure": [...]}}

Loading that runs code from the file, so it is refused unless the caller opts in
with `safe_mode=False` or `shoal.saving.enable_unsafe_deserialization()`. A named
function is written by name (`{"class_name": "function", ...}`) and resolved only
through shoal's built-ins, the registry or `custom_objects`. Bytecode is tied to the
Python version that wrote it: a file from another Python version fails to load.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import marshal
import types

_REFUSAL = (
    "Refusing to load a Python lambda from a saved config{where}: its bytecode is stored in "
    "the file, and running it could lead to arbitrary code execution, so it is disallowed "
    "by default (safe_mode=True). If you trust the source of this file, pass `safe_mode=False` to the "
    "loading function (e.g. shoal.saving.load_model(path, safe_mode=False)), or call "
    "`shoal.saving.enable_unsafe_deserialization()` first."
)


def _dump_code(fn) -> str:
    return base64.encodebytes(marshal.dumps(fn.__code__)).decode("ascii")


def serialize_lambda(fn) -> dict:
    """`{"class_name": "__lambda__", "config": {code, defaults, closure}}` for a lambda."""
    from shoal.saving.serialization import serialize_keras_object

    defaults = fn.__defaults__
    closure = tuple(c.cell_contents for c in fn.__closure__) if fn.__closure__ else None
    return {
        "class_name": "__lambda__",
        "config": {
            "code": _dump_code(fn),
            "defaults": None if defaults is None else serialize_keras_object(list(defaults)),
            "closure": None if closure is None else serialize_keras_object(list(closure)),
        },
    }


def serialize_function(fn):
    """Config for the function of a Lambda layer (Keras 3's layout).

    Lambdas are stored as bytecode; named functions and other callables by name
    (they must be built in, registered, or passed as custom_objects to load).
    """
    if isinstance(fn, types.LambdaType) and fn.__name__ == "<lambda>":
        return serialize_lambda(fn)
    if callable(fn):
        from shoal.saving.serialization import serialize_keras_object

        return serialize_keras_object(fn)
    raise ValueError(
        f"serialize_function: expected a callable, got {fn!r} of type {type(fn).__name__}"
    )


def _effective_safe_mode(safe_mode) -> bool:
    if safe_mode is not None:
        from shoal.saving.serialization import _UNSAFE

        return bool(safe_mode) and not _UNSAFE["enabled"]
    from shoal.saving.serialization import in_safe_mode

    # Unset everywhere means safe: a bare from_config() call never runs file bytecode.
    return in_safe_mode() is not False


def _load_lambda(code, defaults, closure, where=""):
    from shoal.saving.serialization import deserialize_keras_object

    if not isinstance(code, str):
        raise ValueError(
            f"Cannot load the lambda{where}: its 'code' must be a base64 string, got "
            f"{type(code).__name__}."
        )
    try:
        raw = base64.decodebytes(code.encode("ascii"))
    except (UnicodeEncodeError, binascii.Error):
        raw = code.encode("raw_unicode_escape")
    try:
        code_object = marshal.loads(raw)
    except (ValueError, EOFError, TypeError) as err:
        raise ValueError(
            f"Cannot load the lambda{where}: its bytecode is corrupt or was written by a "
            f"different Python version ({err})."
        ) from err
    if not isinstance(code_object, types.CodeType):
        raise ValueError(
            f"Cannot load the lambda{where}: its 'code' does not hold a Python code object "
            f"(got {type(code_object).__name__})."
        )
    if defaults is not None:
        defaults = tuple(deserialize_keras_object(list(defaults), safe_mode=False))
    cells = None
    if closure is not None:
        values = deserialize_keras_object(list(closure), safe_mode=False)
        cells = tuple(types.CellType(v) for v in values)
    if len(cells or ()) != len(code_object.co_freevars):
        raise ValueError(
            f"Cannot load the lambda{where}: it needs {len(code_object.co_freevars)} closure "
            f"value(s) {code_object.co_freevars}, but the config holds {len(cells or ())}."
        )
    return types.FunctionType(code_object, _lambda_globals(), code_object.co_name, defaults, cells)


def _lambda_globals() -> dict:
    """Globals for loaded lambdas: builtins plus the names Keras code commonly uses."""
    import numpy

    import shoal
    from shoal import ops

    return {"__builtins__": builtins, "keras": shoal, "shoal": shoal, "ops": ops, "np": numpy}


def deserialize_function(config, safe_mode=None, custom_objects=None, where: str = ""):
    """Inverse of `serialize_function`.

    Args:
        config: what `serialize_function` wrote (or Keras 2's `[code, defaults, closure]`).
        safe_mode: False allows bytecode; None uses the surrounding loading call's setting
            (safe when there is none).
        custom_objects: extra name -> function mapping for named functions.
        where: text naming the owner for error messages, e.g. " for layer 'lambda'".

    Raises:
        ValueError: the config holds a lambda and safe mode is on (the message says how to
            opt in), or the bytecode cannot be loaded.
    """
    if callable(config):
        return config
    legacy = isinstance(config, (list, tuple)) and len(config) == 3 and isinstance(config[0], str)
    is_lambda = legacy or (isinstance(config, dict) and config.get("class_name") == "__lambda__")
    if is_lambda:
        if _effective_safe_mode(safe_mode):
            raise ValueError(_REFUSAL.format(where=where))
        if legacy:
            code, defaults, closure = config
        else:
            inner = config.get("config") or {}
            code, defaults, closure = inner.get("code"), inner.get("defaults"), inner.get("closure")
        return _load_lambda(code, defaults, closure, where)
    from shoal.saving.serialization import deserialize_keras_object

    fn = deserialize_keras_object(config, custom_objects=custom_objects)
    if isinstance(fn, str):
        raise ValueError(
            f"Cannot resolve function {fn!r}{where}: it is not a built-in function, not "
            "registered, and not in `custom_objects`. Register it with "
            "`@shoal.saving.register_keras_serializable()` or pass "
            f"`custom_objects={{'{fn}': {fn}}}`."
        )
    if not callable(fn):
        raise ValueError(f"Config{where} does not describe a function: {config!r}")
    return fn
