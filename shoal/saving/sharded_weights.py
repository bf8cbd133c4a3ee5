"""Model weights split over several HDF5 files, as Keras 3's `save_weights(max_shard_size=)`.

`model.save_weights("m.weights.json", max_shard_size=0.25)` writes the index `m.weights.json`

    {"metadata": {"total_size": <bytes>},
     "weight_map": {"/layers/dense/vars": "m_00000.weights.h5" or [<file>, ...], ...}}

and the shards `m_00000.weights.h5`, `m_00001.weights.h5`, ... next to it. Every shard has
the single-file layout of `weights_file` (the same object-tree walk); variables are written
in walk order and a new shard starts when the next one would push the current shard past
`max_shard_size` GB, so one object's `vars` may be spread over several shards (the map then
lists them all). As in Keras, an object's named `vars` group is created in the shard that is
current when the walk reaches it, and a shard started mid-object holds an unnamed group.

All files are written into a temporary directory next to the index and moved into place
only when every shard is complete, so a failed save leaves existing files untouched.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import shutil
import tempfile
import warnings

import jax

from shoal.saving import weights_file as _weights
from shoal.saving.weights_file import get_vars_group, unused_layer_weights, variable_to_numpy

_INDEX_SUFFIX = ".weights.json"


# -- arguments ------------------------------------------------------------------------------


def index_path(filepath: str) -> str:
    """The `.weights.json` path for a sharded save to `filepath` (Keras' extension rules)."""
    if filepath.endswith(_INDEX_SUFFIX):
        return filepath
    if filepath.endswith(".weights.h5"):
        renamed = filepath[: -len(".h5")] + ".json"
        warnings.warn(
            "save_weights: saving sharded weights requires '.weights.json' as the extension "
            f"of 'filepath'. The original path: {filepath} will be renamed to {renamed}.",
            UserWarning,
            stacklevel=4,
        )
        return renamed
    raise ValueError(
        "save_weights: argument 'filepath' must end in '.weights.json' when 'max_shard_size' "
        f"is given; got filepath={filepath!r}"
    )


def shard_size_bytes(max_shard_size) -> float:
    """`max_shard_size` (GB, as Keras: 1 GB = 1024**3 bytes) in bytes, checked."""
    if isinstance(max_shard_size, bool) or not isinstance(max_shard_size, numbers.Real):
        raise TypeError(
            "save_weights: argument 'max_shard_size' must be a number of GB (int or float) or "
            f"None; got {type(max_shard_size).__name__} {max_shard_size!r}"
        )
    if not (math.isfinite(max_shard_size) and max_shard_size > 0):
        raise ValueError(
            "save_weights: argument 'max_shard_size' must be a positive number of GB; got "
            f"max_shard_size={max_shard_size!r}"
        )
    return float(max_shard_size) * 1024**3


def readable_size(size: float) -> str:
    """Bytes as Keras prints them: '1.00 KB', '3.50 MB', ..."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _size_in_bytes(value) -> float:
    """A value's size as Keras counts it for sharding (a bool counts one bit)."""
    if value.dtype.kind == "b":
        return value.size / 8
    return float(value.nbytes)


# -- writing ----------------------------------------------------------------------------------


class _ShardWriter:
    """The shard files being written, the weight map and the running sizes."""

    def __init__(self, directory: str, base_name: str, max_bytes: float):
        self.directory, self.base_name, self.max_bytes = directory, base_name, max_bytes
        self.files: list = []
        self.weight_map: dict = {}
        self.total_size = 0.0
        self._shard_size = 0.0
        self.h5 = None
        self._next_shard()

    @property
    def index(self) -> int:
        return len(self.files) - 1

    def _next_shard(self):
        import h5py

        if self.h5 is not None:
            self.h5.close()
        name = f"{self.base_name}_{len(self.files):05}.weights.h5"
        self.files.append(name)
        self.h5 = h5py.File(os.path.join(self.directory, name), "w")

    def vars_group(self, path: str, name):
        parent = self.h5.require_group(path) if path else self.h5
        group = parent.require_group("vars")
        if name is not None:
            group.attrs["name"] = name
        return group

    def reserve(self, where: str, value) -> None:
        """Count `value` into the current shard, starting a new shard when it is full."""
        size = _size_in_bytes(value)
        self.total_size += size
        if size > self.max_bytes:
            raise ValueError(
                f"save_weights: the size of '{where}' is {readable_size(size)}, which exceeds "
                f"the maximum shard size {readable_size(self.max_bytes)}; increase the "
                "argument 'max_shard_size' to accommodate it."
            )
        self._shard_size += size
        if self._shard_size > self.max_bytes:
            self._next_shard()
            self._shard_size = size

    def record(self, group_name: str) -> None:
        shard = self.files[-1]
        entry = self.weight_map.get(group_name)
        if entry is None:
            self.weight_map[group_name] = shard
        elif isinstance(entry, str):
            if entry != shard:
                self.weight_map[group_name] = [entry, shard]
            else:
                self.weight_map[group_name] = [entry]
        elif shard not in entry:
            entry.append(shard)

    def close(self) -> None:
        if self.h5 is not None:
            self.h5.close()
            self.h5 = None

    def index_json(self) -> str:
        config = {"metadata": {"total_size": self.total_size}, "weight_map": self.weight_map}
        return json.dumps(config, indent=4)


class _ShardedWriteStore:
    """One object's `vars`, dict-like for save_own_variables, written across shards."""

    def __init__(self, writer: _ShardWriter, path: str, name):
        self._writer, self._path = writer, path
        self._group, self._shard = None, None
        self._keys: list = []
        if name is not None:  # named objects get their group now, in the current shard
            self._group, self._shard = writer.vars_group(path, name), writer.index

    def __setitem__(self, key, value):
        value = variable_to_numpy(value)
        self._writer.reserve(f"{self._path}/vars/{key}".lstrip("/"), value)
        if self._group is None or self._shard != self._writer.index:
            self._group, self._shard = self._writer.vars_group(self._path, None), self._writer.index
        _weights.write_dataset(self._group, key, value)
        self._writer.record(self._group.name)
        self._keys.append(key)

    def keys(self):
        return list(self._keys)

    def __len__(self):
        return len(self._keys)


def save_sharded_weights(model, filepath, max_shard_size, overwrite: bool = True) -> None:
    """Write `model`'s weights as a `.weights.json` index and `*_NNNNN.weights.h5` shards."""
    filepath = index_path(os.fspath(filepath))
    max_bytes = shard_size_bytes(max_shard_size)
    if not overwrite and os.path.exists(filepath):
        raise _weights.FileExistsSaveError(
            f"File {filepath!r} already exists and overwrite=False; pass overwrite=True to "
            "replace it."
        )
    _weights.check_built(model, "save")
    _weights.check_save_target(filepath)
    directory = os.path.dirname(os.path.abspath(filepath))
    base_name = os.path.basename(filepath)[: -len(_INDEX_SUFFIX)]
    staging = tempfile.mkdtemp(prefix=f".{base_name}.", suffix=".tmp", dir=directory)
    try:
        writer = _ShardWriter(staging, base_name, max_bytes)
        try:
            _weights.write_stores(model, lambda path, name: _ShardedWriteStore(writer, path, name))
        finally:
            writer.close()
        if jax.process_index() == 0:  # every process gathers the weights; process 0 writes
            for name in writer.files:
                os.replace(os.path.join(staging, name), os.path.join(directory, name))
            with open(os.path.join(staging, "index.json"), "w") as f:
                f.write(writer.index_json())
            os.replace(os.path.join(staging, "index.json"), filepath)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# -- reading ----------------------------------------------------------------------------------


class _MergedGroup:
    """The `vars` groups one object has in several shards, read as one group."""

    def __init__(self, groups: list):
        self._groups = groups

    def _owner(self, key):
        return next((g for g in self._groups if key in g), None)

    def keys(self):
        return list(dict.fromkeys(k for g in self._groups for k in g.keys()))

    def __len__(self):
        return len(self.keys())

    def __contains__(self, key):
        return self._owner(key) is not None

    def __getitem__(self, key):
        group = self._owner(key)
        if group is None:
            raise KeyError(key)
        return group[key]

    def get(self, key, default=None, getclass=False, getlink=False):
        group = self._owner(key)
        if group is None:
            return default
        return group.get(key, default, getclass=getclass, getlink=getlink)


class _ShardedFiles:
    """The shards a `.weights.json` index names, read through its weight map."""

    def __init__(self, filepath: str, stack: contextlib.ExitStack):
        self._directory = os.path.dirname(os.path.abspath(filepath))
        self._stack = stack
        self._open: dict = {}
        self.weight_map = _read_weight_map(filepath)

    def _h5(self, name):
        if name not in self._open:
            path = os.path.join(self._directory, name)
            if not os.path.isfile(path):
                raise ValueError(
                    f"load_weights: the shard {name!r} that the weight map names does not "
                    f"exist (looked for {path!r})."
                )
            self._open[name] = self._stack.enter_context(
                _weights.open_h5(path, f"Weights shard {path!r}")
            )
        return self._open[name]

    def vars_group(self, path):
        names = self.weight_map.get(f"/{path}/vars" if path else "/vars")
        if names is None:
            return None
        groups = []
        for name in names:
            group = get_vars_group(self._h5(name), path, f"weights shard {name!r}")
            if group is not None:
                groups.append(group)
        if not groups:
            return None
        return groups[0] if len(groups) == 1 else _MergedGroup(groups)

    def unused(self, consumed: set) -> list:
        names = dict.fromkeys(n for entry in self.weight_map.values() for n in entry)
        unused = [p for n in names for p in unused_layer_weights(self._h5(n), consumed)]
        return list(dict.fromkeys(unused))


def _read_weight_map(filepath: str) -> dict:
    """The index's weight map, each entry a list of plain shard file names."""
    try:
        with open(filepath) as f:
            config = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(
            f"load_weights: {filepath!r} is not a readable sharded-weights index ({err})."
        ) from err
    weight_map = config.get("weight_map") if isinstance(config, dict) else None
    if not isinstance(weight_map, dict):
        raise ValueError(
            f"load_weights: {filepath!r} is not a sharded-weights index: expected a JSON object "
            "with a 'weight_map' object (as save_weights(..., max_shard_size=) writes)."
        )
    checked = {}
    for key, entry in weight_map.items():
        names = [entry] if isinstance(entry, str) else entry
        if not isinstance(names, list) or not all(_is_plain_name(n) for n in names):
            raise ValueError(
                f"load_weights: {filepath!r}: the weight map entry {key!r} must name shard "
                f"files in the index's directory; got {entry!r}"
            )
        checked[key] = names
    return checked


def _is_plain_name(name) -> bool:
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and os.path.basename(name) == name
    )


def load_sharded_weights(model, filepath, skip_mismatch: bool = False) -> None:
    """Load weights written by `save_weights(..., max_shard_size=)` (shoal or Keras 3)."""
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise ValueError(f"load_weights: file {filepath!r} does not exist.")
    _weights.check_built(model, "load")
    with contextlib.ExitStack() as stack:
        shards = _ShardedFiles(filepath, stack)
        _weights.read_weights(
            model, shards, f"sharded weights {filepath!r}", skip_mismatch=skip_mismatch
        )
