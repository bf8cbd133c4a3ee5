"""The `.keras` zip archive, laid out as Keras 3 writes it.

Members (stored uncompressed, in this order):

    metadata.json       {"keras_version": ..., "shoal_version": ..., "date_saved": ...}
    config.json         serialize_keras_object(model), with build/compile configs
    model.weights.h5    the weights (see shoal.saving.weights_file)

Reading is defensive: every member name is validated (no absolute paths, no `..`,
no backslashes or drive letters), only the expected members are read, oversized
members are refused, and a corrupt or truncated zip, a missing member or a weights
mismatch raises ValueError naming the file. Nothing is ever unpickled.
"""

from __future__ import annotations

import datetime
import json
import os
import posixpath
import zipfile

from shoal.saving.assets import ASSETS_PREFIX, read_assets, write_assets

CONFIG_FILENAME = "config.json"
METADATA_FILENAME = "metadata.json"
WEIGHTS_FILENAME = "model.weights.h5"
ASSETS_DIRNAME = "assets"
# The Keras release whose archive layout this module writes and is tested against.
KERAS_FORMAT_VERSION = "3.15.1"

_MAX_JSON_BYTES = 256 << 20
_BOMB_FLOOR_BYTES = 1 << 32
_MAX_EXPANSION = 100


def _metadata() -> dict:
    import shoal

    return {
        "keras_version": KERAS_FORMAT_VERSION,
        "shoal_version": shoal.__version__,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
    }


def model_to_config_json(model) -> str:
    from shoal.saving.serialization import ObjectSharingScope, serialize_keras_object

    with ObjectSharingScope():  # objects met twice get a shared_object_id, as in Keras
        config = serialize_keras_object(model)
    try:
        return json.dumps(config)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"Cannot save model '{model.name}': its config is not JSON-serializable ({err}). "
            "Every get_config() must return plain values (numbers, strings, lists, dicts) "
            "or objects serialize_keras_object understands."
        ) from err


def write_archive(model, path: str) -> None:
    """Write `model` as a `.keras` archive at `path` (a fresh file)."""
    from shoal.saving.weights_file import weights_to_bytes

    config_json = model_to_config_json(model)
    weights = weights_to_bytes(model)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(METADATA_FILENAME, json.dumps(_metadata()))
        zf.writestr(CONFIG_FILENAME, config_json)
        zf.writestr(WEIGHTS_FILENAME, weights)
        write_assets(model, zf)


def _check_member_name(name: str, label: str) -> None:
    bad = (
        not name
        or name.startswith(("/", "\\"))
        or "\\" in name
        or "\x00" in name
        or (len(name) > 1 and name[1] == ":")
        or ".." in name.split("/")
        or posixpath.isabs(name)
    )
    if bad:
        raise ValueError(
            f"{label}: refusing archive member {name!r}: member names must be relative paths "
            "without '..', backslashes or drive letters."
        )


class Archive:
    """A validated, read-only view of a `.keras` file."""

    def __init__(self, filepath):
        self.filepath = os.fspath(filepath)
        self.label = f"File {self.filepath!r}"
        if not os.path.exists(self.filepath):
            raise ValueError(f"{self.label} does not exist.")
        try:
            self._zip = zipfile.ZipFile(self.filepath, "r")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as err:
            raise ValueError(
                f"{self.label} is not a valid .keras archive: the zip is truncated or corrupt "
                f"({err})."
            ) from err
        try:
            infos = self._zip.infolist()
            for info in infos:
                _check_member_name(info.filename, self.label)
            self._infos = {info.filename: info for info in infos}
        except BaseException:
            self._zip.close()
            raise

    def close(self):
        self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def has(self, member: str) -> bool:
        return member in self._infos

    def read(self, member: str, limit: int | None = None) -> bytes:
        info = self._infos.get(member)
        if info is None:
            raise ValueError(
                f"{self.label} is not a valid .keras archive: member {member!r} is missing "
                f"(found {sorted(self._infos)})."
            )
        if limit is not None and info.file_size > limit:
            raise ValueError(
                f"{self.label}: member {member!r} is too large ({info.file_size} bytes)."
            )
        if info.file_size > _BOMB_FLOOR_BYTES and info.file_size > _MAX_EXPANSION * max(
            info.compress_size, 1
        ):
            raise ValueError(
                f"{self.label}: member {member!r} declares {info.file_size} bytes but stores "
                f"{info.compress_size}; refusing a potential decompression bomb."
            )
        try:
            return self._zip.read(info)
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as err:
            raise ValueError(
                f"{self.label} is not a valid .keras archive: member {member!r} cannot be "
                f"read; the zip is truncated or corrupt ({err})."
            ) from err

    def read_json(self, member: str):
        raw = self.read(member, limit=_MAX_JSON_BYTES)
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{self.label}: member {member!r} is not valid JSON ({err}).") from err

    def config(self) -> dict:
        config = self.read_json(CONFIG_FILENAME)
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(
                f"{self.label}: {CONFIG_FILENAME} does not describe a model (expected a dict "
                "with 'class_name' and 'config')."
            )
        return config

    def metadata(self) -> dict:
        if not self.has(METADATA_FILENAME):
            return {}
        data = self.read_json(METADATA_FILENAME)
        return data if isinstance(data, dict) else {}

    def weights_bytes(self) -> bytes:
        if not self.has(WEIGHTS_FILENAME):
            if self.has("model.weights.npz"):
                raise ValueError(
                    f"{self.label} stores its weights as model.weights.npz, which shoal does not "
                    "read (it needs pickle). Re-save it from Keras with the default h5 format."
                )
        return self.read(WEIGHTS_FILENAME)


def load_archive(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Rebuild the model stored in a `.keras` file (shoal's or Keras 3's)."""
    from shoal.saving.serialization import ObjectSharingScope, deserialize_keras_object
    from shoal.saving.weights_file import open_h5, read_weights

    with Archive(filepath) as archive:
        config = archive.config()
        weights = archive.weights_bytes()
        assets = {
            name: archive.read(name) for name in archive._infos if name.startswith(ASSETS_PREFIX)
        }
    if not compile:
        config["compile_config"] = None
    with ObjectSharingScope():
        model = deserialize_keras_object(config, custom_objects=custom_objects, safe_mode=safe_mode)
    label = f"File {os.fspath(filepath)!r} (member {WEIGHTS_FILENAME})"
    with open_h5(weights, label) as h5:
        read_weights(model, h5, label)
    read_assets(model, assets)
    return model


def load_weights_from_archive(model, filepath, skip_mismatch=False) -> None:
    from shoal.saving.weights_file import open_h5, read_weights

    with Archive(filepath) as archive:
        weights = archive.weights_bytes()
    label = f"File {os.fspath(filepath)!r} (member {WEIGHTS_FILENAME})"
    with open_h5(weights, label) as h5:
        read_weights(model, h5, label, skip_mismatch=skip_mismatch)
