"""`save_model` / `load_model` / `save_weights` / `load_weights` / `model_from_json`."""

from __future__ import annotations

import json
import os
import warnings

from shoal.saving import archive as _archive
from shoal.saving import weights_file as _weights


def _path(filepath, function: str) -> str:
    try:
        return os.fspath(filepath)
    except TypeError as err:
        raise TypeError(
            f"{function}: argument 'filepath' must be a str or os.PathLike; got "
            f"{type(filepath).__name__}"
        ) from err


def save_model(model, filepath, overwrite: bool = True, zipped=None, **kwargs) -> None:
    """Save `model` (config, weights, optimizer state) as a Keras 3 `.keras` archive.

    The archive is written to a temporary file next to `filepath` and then renamed over
    it, so a failed save never destroys an existing file.

    Example:
        >>> model.save("model.keras")
        >>> restored = shoal.saving.load_model("model.keras")
    """
    filepath = _path(filepath, "save_model")
    if kwargs:
        raise ValueError(
            f"save_model: unsupported argument(s) {sorted(kwargs)}; shoal writes the Keras 3 "
            "'.keras' format only."
        )
    if zipped is False:
        raise ValueError(
            "save_model: zipped=False (a directory) is not supported; use a .keras file."
        )
    if not filepath.endswith(".keras"):
        raise ValueError(
            "save_model: argument 'filepath' must end in '.keras' (weights alone: "
            f"save_weights with '.weights.h5'); got filepath={filepath!r}"
        )
    if not getattr(model, "built", False):
        warnings.warn(
            f"save_model: model '{model.name}' is not built yet, so the file holds no weights. "
            "Call the model on data or build(input_shape) before saving to keep them.",
            stacklevel=2,
        )
    with _weights.atomic_output(filepath, overwrite) as tmp:
        _archive.write_archive(model, tmp)


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Load a model saved by `save_model` (shoal) or `keras.Model.save` (Keras 3).

    Args:
        filepath: path to a `.keras` file.
        custom_objects: dict of name -> class/function for custom layers etc.
        compile: compile the model as it was when saved.
        safe_mode: refuse Python bytecode (Lambda layers' lambdas). Pass False only for
            files you trust.
    """
    filepath = _path(filepath, "load_model")
    if filepath.endswith((".h5", ".hdf5")) and not filepath.endswith(".weights.h5"):
        raise ValueError(
            f"load_model: {filepath!r} looks like a legacy Keras 2 HDF5 model, which shoal does "
            "not read. Re-save it with Keras 3 as a '.keras' file."
        )
    if not filepath.endswith(".keras"):
        raise ValueError(
            f"load_model: argument 'filepath' must end in '.keras'; got filepath={filepath!r}"
        )
    return _archive.load_archive(
        filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode
    )


def save_weights(model, filepath, overwrite: bool = True, **kwargs) -> None:
    """Save `model`'s weights to a `.weights.h5` file (Keras 3's layout)."""
    filepath = _path(filepath, "save_weights")
    if kwargs:
        raise ValueError(f"save_weights: unsupported argument(s) {sorted(kwargs)}")
    _weights.save_weights(model, filepath, overwrite=overwrite)


def load_weights(model, filepath, skip_mismatch: bool = False, **kwargs) -> None:
    """Load weights into `model` from a `.weights.h5` file, a `.keras` archive, or a legacy
    Keras 2 / tf.keras HDF5 file (`.h5` / `.hdf5`; `by_name=True` matches layers by name)."""
    filepath = _path(filepath, "load_weights")
    legacy = filepath.endswith((".h5", ".hdf5")) and not filepath.endswith(".weights.h5")
    if legacy:
        from shoal.saving.legacy_h5 import load_legacy_h5_weights

        by_name = kwargs.pop("by_name", False)
        if kwargs:
            raise ValueError(f"load_weights: unsupported argument(s) {sorted(kwargs)}")
        load_legacy_h5_weights(model, filepath, by_name=by_name, skip_mismatch=skip_mismatch)
        return
    if kwargs:
        raise ValueError(f"load_weights: unsupported argument(s) {sorted(kwargs)}")
    if filepath.endswith(".keras"):
        _weights.check_built(model, "load")
        _archive.load_weights_from_archive(model, filepath, skip_mismatch=skip_mismatch)
        return
    if not filepath.endswith(".weights.h5"):
        raise ValueError(
            "load_weights: argument 'filepath' must end in '.weights.h5', '.keras' or (legacy "
            "HDF5) '.h5'; "
            f"got filepath={filepath!r}"
        )
    _weights.load_weights(model, filepath, skip_mismatch=skip_mismatch)


def model_from_json(json_string, custom_objects=None):
    """Rebuild a model (architecture only, fresh weights) from `model.to_json()`."""
    from shoal.saving.serialization import ObjectSharingScope, deserialize_keras_object

    try:
        config = json.loads(json_string)
    except (TypeError, json.JSONDecodeError) as err:
        raise ValueError(
            f"model_from_json: argument 'json_string' is not valid JSON ({err})."
        ) from err
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "model_from_json: the JSON must describe a model (a dict with 'class_name' and "
            f"'config'); got {str(json_string)[:100]!r}"
        )
    with ObjectSharingScope():
        return deserialize_keras_object(config, custom_objects=custom_objects)


def model_from_config(config, custom_objects=None):
    """Rebuild a model from the dict `serialize_keras_object(model)` returned."""
    from shoal.saving.serialization import deserialize_keras_object

    return deserialize_keras_object(config, custom_objects=custom_objects)
