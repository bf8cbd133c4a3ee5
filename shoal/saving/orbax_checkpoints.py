"""Orbax checkpoints (the layout Keras 3's `OrbaxCheckpoint` writes): a directory of
numbered steps, each holding the model's state tree as the checkpointable "pytree", and,
unless weights alone were saved, its config ("model_config") and assets ("assets").

Arrays are restored straight onto the shardings of the model's own variables, so a
checkpoint written on one device layout (or by many processes) loads onto another.
Orbax (`pip install 'shoal[orbax]'`) is imported on first use.
"""

from __future__ import annotations

import os

import jax
import numpy as np

INDICATORS = {"orbax.checkpoint", "pytree.orbax-checkpoint", "checkpoint_metadata"}


def orbax_v1():
    """`orbax.checkpoint.v1`, or an ImportError that says how to install it."""
    try:
        import orbax.checkpoint as ocp
    except ImportError as err:
        raise ImportError(
            "Orbax checkpoints need the 'orbax-checkpoint' package: pip install "
            "'shoal[orbax]' (or pip install orbax-checkpoint)."
        ) from err
    return ocp.v1


def orbax_multihost():
    import orbax.checkpoint as ocp

    return ocp.multihost


def is_orbax_checkpoint(path) -> bool:
    """Whether `path` is an Orbax checkpoint directory (the root or one step)."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return False
    try:
        contents = os.listdir(path)
    except OSError:
        return False
    if INDICATORS & set(contents) or "_CHECKPOINT_METADATA" in contents:
        return True
    return any(
        ".orbax-checkpoint-tmp" in item
        or (item.isdigit() and os.path.isdir(os.path.join(path, item)))
        for item in contents
    )


def _step_dir(path) -> str:
    """The step directory to read: `path` itself, or the latest step under a root."""
    path = os.fspath(path)
    steps = [i for i in os.listdir(path) if i.isdigit() and os.path.isdir(os.path.join(path, i))]
    if not steps:
        return path
    latest = orbax_v1().training.Checkpointer(directory=path).latest
    if latest is None:
        raise ValueError(f"No complete Orbax checkpoint step in {path!r}.")
    return os.path.join(path, str(latest.step))


def _abstract_tree(step_dir, model) -> dict:
    """ShapeDtypeStructs of the saved arrays, each with the sharding of the model's
    variable at that path (or the default device's where the model has none)."""
    from shoal.models.state_tree import flatten_paths

    metadata = orbax_v1().metadata(step_dir, checkpointable_name="pytree").metadata
    reference = flatten_paths(model.get_state_tree())
    default = jax.sharding.SingleDeviceSharding(jax.devices()[0])

    def abstract(node, prefix):
        if isinstance(node, dict):
            return {k: abstract(v, f"{prefix}{k}/") for k, v in node.items()}
        ref = reference.get(prefix[:-1])
        sharding = getattr(ref, "sharding", None) or default
        return jax.ShapeDtypeStruct(tuple(node.shape), node.dtype, sharding=sharding)

    return {key: abstract(value, f"{key}/") for key, value in metadata.items()}


def _load(step_dir, model, checkpointer=None, step=None, with_assets=False):
    ocp = orbax_v1()
    request = {"pytree": _abstract_tree(step_dir, model)}
    if with_assets:
        request["assets"] = None
    with ocp.Context():
        if checkpointer is None:
            return ocp.load_checkpointables(step_dir, request)
        return checkpointer.load_checkpointables(step, request)


def _state_only(tree) -> dict:
    from shoal.models.state_tree import GROUPS

    return {k: v for k, v in tree.items() if k in GROUPS}


def load_weights_from_orbax(model, path) -> None:
    """Restore the state tree of the latest step under `path` (or of the step `path`)."""
    step_dir = _step_dir(path)
    loaded = _load(step_dir, model)
    model.set_state_tree(_state_only(loaded["pytree"]))


def load_model_from_orbax(path, custom_objects=None, compile=True, safe_mode=True):
    """Rebuild the model saved in the latest step under `path` and restore its state."""
    import json

    from shoal.saving.assets import ASSETS_PREFIX, read_assets
    from shoal.saving.serialization import ObjectSharingScope, deserialize_keras_object

    ocp = orbax_v1()
    step_dir = _step_dir(path)
    root, step = os.path.split(step_dir)
    checkpointer = ocp.training.Checkpointer(directory=root)
    step = int(step)
    with ocp.Context():
        saved = set(checkpointer.checkpointables_metadata(step).metadata)
        if "model_config" not in saved:
            raise ValueError(
                f"load_model: the Orbax checkpoint {step_dir!r} holds no model config (it was "
                "saved with save_weights_only=True); build the model and call "
                "model.load_weights() on it instead."
            )
        config = checkpointer.load_checkpointables(step, {"model_config": None})
    config = json.loads(config["model_config"]["config"])
    if not compile:
        config["compile_config"] = None
    with ObjectSharingScope():
        model = deserialize_keras_object(config, custom_objects=custom_objects, safe_mode=safe_mode)
    loaded = _load(step_dir, model, checkpointer, step, with_assets="assets" in saved)
    model.set_state_tree(_state_only(loaded["pytree"]))
    assets = loaded.get("assets")
    if assets:
        from shoal.models.state_tree import flatten_paths

        members = {
            ASSETS_PREFIX + name: np.asarray(data, np.uint8).tobytes()
            for name, data in flatten_paths(assets).items()
        }
        read_assets(model, members)
    return model


def checkpoint_payload(model, weights_only: bool) -> dict:
    """What one step holds: the state tree ("pytree"; weights only: the trainable and
    non-trainable variables), and unless `weights_only` the config and the assets."""
    from shoal.saving.archive import model_to_config_json
    from shoal.saving.assets import collect_assets

    state = model.get_state_tree()
    if weights_only:
        state = {k: state[k] for k in ("trainable_variables", "non_trainable_variables")}
    payload = {"pytree": state}
    if not weights_only:
        payload["model_config"] = {"config": model_to_config_json(model)}
        assets = {}
        for name, data in collect_assets(model).items():
            *parents, leaf = name.split("/")
            node = assets
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = np.frombuffer(data, np.uint8)
        if assets:
            payload["assets"] = assets
    return payload
