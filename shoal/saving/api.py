"""`save_model` / `load_model` / `save_weights` / `load_weights` / `model_from_json`."""

from __future__ import annotations

import json
import os
import warnings

from shoal.saving import archive as _archive
from shoal.saving import orbax_checkpoints
from shoal.saving import sharded_weights as _sharded
from shoal.saving import weights_file as _weights


def _path(filepath, function: str) -> str:
    try:
        return os.fspath(filepath)
    except TypeError as err:
        raise TypeError(
            f"{function}: argument 'filepath' must be a str or os.PathLike; got "
            f"{type(filepath).__name__}"
        ) from err


def _is_legacy_h5(filepath: str) -> bool:
    return filepath.endswith((".h5", ".hdf5")) and not filepath.endswith(".weights.h5")


def save_model(model, filepath, overwrite: bool = True, zipped=None, **kwargs) -> None:
    """Save `model` (config, weights, optimizer state) as a Keras 3 `.keras` archive, or,
    for a path ending in `.h5` / `.hdf5`, in Keras' legacy HDF5 format (with a warning).

    The file is written to a temporary file next to `filepath` and then renamed over
    it, so a failed save never destroys an existing file.

    Args:
        include_optimizer: (legacy HDF5 only) store the compile configuration and the
            optimizer's state. Defaults to True.

    Example:
        >>> model.save("model.keras")
        >>> restored = shoal.saving.load_model("model.keras")
    """
    filepath = _path(filepath, "save_model")
    include_optimizer = kwargs.pop("include_optimizer", True)
    save_format = kwargs.pop("save_format", None)
    if kwargs:
        raise ValueError(
            f"save_model: unsupported argument(s) {sorted(kwargs)}; shoal writes the Keras 3 "
            "'.keras' format (and legacy '.h5')."
        )
    if not isinstance(include_optimizer, bool):
        raise TypeError(
            "save_model: argument 'include_optimizer' must be a bool; got "
            f"{type(include_optimizer).__name__}"
        )
    if save_format:
        wanted = {"h5": (".h5", ".hdf5"), "keras": (".keras",)}.get(str(save_format))
        if wanted is None or not filepath.endswith(wanted):
            raise ValueError(
                "save_model: argument 'save_format' is deprecated in Keras 3; remove it and "
                "pass a filepath ending in '.keras' or '.h5' (the extension picks the format). "
                f"Got save_format={save_format!r}, filepath={filepath!r}"
            )
        warnings.warn(
            "save_model: the `save_format` argument is deprecated in Keras 3; the format "
            f"follows from the filepath. Received: save_format={save_format!r}",
            stacklevel=2,
        )
    if zipped is False:
        raise ValueError(
            "save_model: zipped=False (a directory) is not supported; use a .keras file."
        )
    legacy = _is_legacy_h5(filepath)
    if not legacy and not filepath.endswith(".keras"):
        raise ValueError(
            "save_model: argument 'filepath' must end in '.keras' (or, legacy, '.h5'; weights "
            f"alone: save_weights with '.weights.h5'); got filepath={filepath!r}"
        )
    if not getattr(model, "built", False) and not model.weights:
        warnings.warn(
            f"save_model: model '{model.name}' is not built yet, so the file holds no weights. "
            "Call the model on data or build(input_shape) before saving to keep them.",
            stacklevel=2,
        )
    if legacy:
        from shoal.saving.legacy_h5_model import LEGACY_WARNING, save_legacy_h5_model

        warnings.warn(LEGACY_WARNING, UserWarning, stacklevel=2)
        save_legacy_h5_model(model, filepath, overwrite, include_optimizer=include_optimizer)
        return
    with _weights.atomic_output(filepath, overwrite) as tmp:
        _archive.write_archive(model, tmp)


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Load a model saved by `save_model` (shoal) or `keras.Model.save` (Keras 3, or a
    legacy `.h5` / `.hdf5` file from Keras 3 or tf.keras 2.x).

    Args:
        filepath: path to a `.keras` file (or a legacy `.h5` / `.hdf5` model file, or an
            Orbax checkpoint directory written by `callbacks.OrbaxCheckpoint`: its latest
            step, or the step directory given).
        custom_objects: dict of name -> class/function for custom layers etc.
        compile: compile the model as it was when saved.
        safe_mode: refuse Python bytecode (Lambda layers' lambdas). Pass False only for
            files you trust.
    """
    filepath = _path(filepath, "load_model")
    if orbax_checkpoints.is_orbax_checkpoint(filepath):
        return orbax_checkpoints.load_model_from_orbax(
            filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode
        )
    if _is_legacy_h5(filepath):
        from shoal.saving.legacy_h5_model import load_legacy_h5_model

        return load_legacy_h5_model(
            filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode
        )
    if filepath.endswith(".weights.h5"):
        raise ValueError(
            f"load_model: {filepath!r} holds weights only ('.weights.h5'); build the model and "
            "call model.load_weights() on it instead."
        )
    if not filepath.endswith(".keras"):
        raise ValueError(
            "load_model: argument 'filepath' must end in '.keras' (or, legacy HDF5, '.h5' / "
            f"'.hdf5'); got filepath={filepath!r}"
        )
    return _archive.load_archive(
        filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode
    )


def save_weights(model, filepath, overwrite: bool = True, max_shard_size=None, **kwargs) -> None:
    """Save `model`'s weights to a `.weights.h5` file (Keras 3's layout), or, with
    `max_shard_size` (GB), to a `.weights.json` index and `*_NNNNN.weights.h5` shards of at
    most that size each (Keras 3's sharded layout; a `.weights.h5` path is renamed to
    `.weights.json`, with a warning).

    Example:
        >>> model.save_weights("model.weights.json", max_shard_size=0.25)
        >>> model.load_weights("model.weights.json")
    """
    filepath = _path(filepath, "save_weights")
    if kwargs:
        raise ValueError(f"save_weights: unsupported argument(s) {sorted(kwargs)}")
    if max_shard_size is not None:
        _sharded.save_sharded_weights(model, filepath, max_shard_size, overwrite=overwrite)
        return
    _weights.save_weights(model, filepath, overwrite=overwrite)


def load_weights(model, filepath, skip_mismatch: bool = False, **kwargs) -> None:
    """Load weights into `model` from a `.weights.h5` file, the `.weights.json` index of
    sharded weights (`save_weights(..., max_shard_size=)`), a `.keras` archive, a legacy
    Keras 2 / tf.keras HDF5 file (`.h5` / `.hdf5`; `by_name=True` matches layers by name), or
    an Orbax checkpoint directory (the whole state tree, optimizer and metrics included, onto
    the model's own shardings)."""
    filepath = _path(filepath, "load_weights")
    if _is_legacy_h5(filepath):
        from shoal.saving.legacy_h5 import load_legacy_h5_weights

        by_name = kwargs.pop("by_name", False)
        if kwargs:
            raise ValueError(f"load_weights: unsupported argument(s) {sorted(kwargs)}")
        load_legacy_h5_weights(model, filepath, by_name=by_name, skip_mismatch=skip_mismatch)
        return
    if kwargs:
        raise ValueError(f"load_weights: unsupported argument(s) {sorted(kwargs)}")
    if orbax_checkpoints.is_orbax_checkpoint(filepath):
        _weights.check_built(model, "load")
        orbax_checkpoints.load_weights_from_orbax(model, filepath)
        return
    if filepath.endswith(".keras"):
        _weights.check_built(model, "load")
        _archive.load_weights_from_archive(model, filepath, skip_mismatch=skip_mismatch)
        return
    if filepath.endswith(".weights.json"):
        _sharded.load_sharded_weights(model, filepath, skip_mismatch=skip_mismatch)
        return
    if not filepath.endswith(".weights.h5"):
        raise ValueError(
            "load_weights: argument 'filepath' must end in '.weights.h5', '.weights.json' "
            "(sharded), '.keras' or (legacy HDF5) '.h5'; "
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
