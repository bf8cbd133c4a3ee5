"""Model weights in Keras 3's HDF5 layout (`.weights.h5`, and `model.weights.h5` in `.keras`).

The file mirrors the object tree, as Keras 3's saving_lib walks it:

    vars                        (attrs: name=<model name>; the model's own variables)
    layers/dense/vars/0, /1     (kernel, bias of the first Dense in model.layers)
    layers/dense_1/vars/0 ...   (containers name children by snake-cased class, uniquified)
    layers/sequential/layers/dense/vars/0   (nested models recurse)
    layers/my_block/inner/vars/0            (sub-layers held as attributes: by attribute name)
    optimizer/vars/0 ...

Every object's `vars` group carries its name as an attribute. Loading validates the
whole file against the model before assigning anything, so a failed load leaves the
model unchanged. Links, external and virtual datasets are refused.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import tempfile
import warnings

import jax
import numpy as np

from shoal.backend.host_arrays import to_numpy

_H5_BOMB_FLOOR_BYTES = 1 << 32
_H5_MAX_EXPANSION = 1000


# -- the object tree ------------------------------------------------------------------


def _to_snake_case(name: str) -> str:
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def _name_key(name: str) -> str:
    """Private attributes are visited last, as in Keras."""
    return f"~{name}" if name.startswith("_") else name


# Internal attributes of shoal's Layer/Model/Sequential/Functional that are not children.
_INTERNAL = {
    "_explicit_layers",
    "_layers",
    "_stack",
    "_functional",
    "_input_layer",
    "_inbound_nodes",
    "_outbound_nodes",
    "_operations",
    "_nodes",
    "_inputs",
    "_outputs",
    "_inputs_struct",
    "_outputs_struct",
    "_returned_struct",
    "_seed_generators",
    "_trainable_variables",
    "_non_trainable_variables",
}
_SKIP_CACHE: dict = {}


def _base_attribute_names() -> set:
    """Attribute names every bare Layer/Model has: never children of the object tree."""
    if "names" in _SKIP_CACHE:
        return _SKIP_CACHE["names"]
    from shoal.layers.base import Layer

    names = set(_INTERNAL)
    names.update(vars(Layer(name="__shoal_probe__")))
    try:
        from shoal.models.model import Model

        names.update(vars(Model(name="__shoal_probe__")))
    except Exception:  # noqa: BLE001 - the trainer may not be importable in a partial checkout
        pass
    names.discard("optimizer")
    _SKIP_CACHE["names"] = names
    return names


def _is_layer(obj) -> bool:
    from shoal.layers.base import Layer

    return isinstance(obj, Layer)


def _is_model_graph(obj) -> bool:
    from shoal.models.functional import Functional
    from shoal.models.sequential import Sequential

    return isinstance(obj, (Functional, Sequential))


def _is_model(obj) -> bool:
    try:
        from shoal.models.model import Model
    except Exception:  # noqa: BLE001
        return False
    return isinstance(obj, Model)


def _children(obj):
    """(attribute name, child) pairs in the order Keras' saving_lib visits them."""
    out = []
    if _is_model_graph(obj):
        out.append(("layers", list(obj.layers)))
    if not _is_layer(obj):
        return out
    skip = _base_attribute_names()
    attrs = {k: v for k, v in vars(obj).items() if k not in skip and not k.startswith("__")}
    if _is_model(obj) and not _is_model_graph(obj):
        # Keras visits a subclassed model's `layers` property among its attributes: a
        # layer first reached there (attribute names after "layers") is stored under it.
        attrs.setdefault("layers", list(obj.layers))
    if _is_model(obj):
        optimizer = getattr(obj, "optimizer", None)
        if optimizer is not None and not isinstance(optimizer, str):
            attrs["optimizer"] = optimizer
    for name in sorted(attrs, key=_name_key):
        value = attrs[name]
        if value is None:
            continue
        if _is_layer(value) or (name == "optimizer" and _is_model(obj)):
            out.append((name, value))
        elif isinstance(value, (list, tuple, dict)) and _holds_layers(value):
            out.append((name, value))
    return out


def _holds_layers(container, depth=0) -> bool:
    if depth > 4:
        return False
    values = container.values() if isinstance(container, dict) else container
    for v in values:
        if _is_layer(v):
            return True
        if isinstance(v, (list, tuple, dict)) and _holds_layers(v, depth + 1):
            return True
    return False


def _overridden(obj, name):
    """`obj`'s `name` method when it is its own (not the base Layer's default), else None."""
    from shoal.layers.base import Layer

    method = getattr(obj, name, None)
    if not callable(method) or getattr(type(obj), name, None) is getattr(Layer, name):
        return None
    if getattr(obj, "lora_enabled", None) is False and obj.quantization_mode is None:
        from shoal.layers.lora import LoRAKernel
        from shoal.layers.quantization import QuantizedKernel

        plain = (getattr(LoRAKernel, name), getattr(QuantizedKernel, name))
        if any(getattr(type(obj), name, None) is m for m in plain):
            return None  # LoRA off, not quantized: the plain layout, checked with the others
    return method


def _own_variables(obj) -> list:
    if _is_layer(obj):
        return list(obj._trainable_variables) + list(obj._non_trainable_variables)
    variables = getattr(obj, "variables", None)
    if variables is None:
        return []
    return list(variables() if callable(variables) else variables)


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _walk(obj, path, visit, visited):
    """Call visit(obj, path) for every saveable object, depth first, each object once."""
    if id(obj) in visited:
        return
    visit(obj, path)
    visited.add(id(obj))
    for name, child in _children(obj):
        if isinstance(child, (list, tuple, dict)):
            _walk_container(child, _join(path, name), visit, visited, set())
        else:
            _walk(child, _join(path, name), visit, visited)


def _walk_container(container, path, visit, visited, seen_containers):
    if id(container) in seen_containers:
        return
    seen_containers.add(id(container))
    used: dict = {}
    values = list(container.values()) if isinstance(container, dict) else list(container)
    for value in values:
        if _is_layer(value):
            name = _unique(_to_snake_case(type(value).__name__), used)
            _walk(value, _join(path, name), visit, visited)
        elif isinstance(value, (list, tuple, dict)):
            name = _unique("container", used)
            _walk_container(value, _join(path, name), visit, visited, seen_containers)


def _unique(name, used):
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


# -- writing -----------------------------------------------------------------------------


class _WriteStore:
    """The `vars` group of one object, created lazily (dict-like, for save_own_variables)."""

    def __init__(self, h5, path, name):
        self._h5, self._path, self._name = h5, path, name
        self._group = None
        if name is not None:
            self._ensure()

    def _ensure(self):
        if self._group is None:
            parent = self._h5.require_group(self._path) if self._path else self._h5
            self._group = parent.create_group("vars")
            if self._name is not None:
                self._group.attrs["name"] = self._name
        return self._group

    def __setitem__(self, key, value):
        write_dataset(self._ensure(), key, value)

    def keys(self):
        return list(self._group.keys()) if self._group is not None else []

    def __len__(self):
        return len(self.keys())


def variable_to_numpy(value):
    inner = getattr(value, "value", None)
    if inner is not None and not isinstance(value, np.ndarray):
        value = inner
    return to_numpy(value)  # gathers arrays sharded across processes


def write_dataset(group, key: str, value) -> None:
    """Store one variable's value (or an array) as dataset `key` of `group`."""
    value = variable_to_numpy(value)
    if value.dtype.name == "bfloat16":
        # As Keras: HDF5 has no bfloat16, h5py stores it opaque; the attribute says what it is.
        dataset = group.create_dataset(key, data=value)
        dataset.attrs["dtype"] = "bfloat16"
    else:
        group[key] = value


def write_weights(model, h5) -> None:
    """Write every variable of `model` (and its optimizer) into the open h5py File `h5`."""
    write_stores(model, lambda path, name: _WriteStore(h5, path, name))


def write_stores(model, make_store) -> None:
    """Walk `model`'s object tree, writing each object's variables into
    `make_store(path, name)` (a dict-like `vars` group; `name` is None for unnamed objects)."""

    def visit(obj, path):
        name = getattr(obj, "name", None)
        store = make_store(path, name if isinstance(name, str) else None)
        custom = _overridden(obj, "save_own_variables")
        if custom is not None:
            custom(store)
            return
        for i, variable in enumerate(_own_variables(obj)):
            store[str(i)] = variable

    _walk(model, "", visit, set())


# -- reading -----------------------------------------------------------------------------


class _ReadStore:
    """Read access to one object's `vars` group (dict-like, for load_own_variables)."""

    def __init__(self, group, path, source):
        self._group, self.path, self._source = group, path, source
        self.used: set = set()

    def keys(self):
        return list(self._group.keys()) if self._group is not None else []

    def __len__(self):
        return len(self.keys())

    def __contains__(self, key):
        return self._group is not None and key in self._group

    def __getitem__(self, key):
        if self._group is None or key not in self._group:
            raise KeyError(key)
        self.used.add(key)
        return _read_dataset(self._group, key, f"{self.path}/vars/{key}".lstrip("/"), self._source)


def _read_dataset(group, key, where, source):
    import h5py

    kind = group.get(key, getclass=True, getlink=True)
    if kind in (h5py.SoftLink, h5py.ExternalLink):
        raise ValueError(f"{source}: refusing the HDF5 link at '{where}' ({kind.__name__}).")
    dataset = group[key]
    if not isinstance(dataset, h5py.Dataset):
        raise ValueError(f"{source}: expected a dataset at '{where}', found a group.")
    if dataset.external:
        raise ValueError(f"{source}: refusing the external dataset at '{where}'.")
    if dataset.is_virtual:
        raise ValueError(f"{source}: refusing the virtual dataset at '{where}'.")
    declared = math.prod(dataset.shape) * dataset.dtype.itemsize
    stored = dataset.id.get_storage_size()
    if declared > _H5_BOMB_FLOOR_BYTES and declared > _H5_MAX_EXPANSION * stored:
        raise ValueError(
            f"{source}: dataset '{where}' declares {declared} bytes but stores {stored}; "
            "refusing a potential decompression bomb."
        )
    if dataset.dtype.kind == "S":  # fixed-length bytes: a lookup layer's vocabulary
        return np.asarray(dataset[()])
    if dataset.dtype.kind not in "biufc":
        if dataset.attrs.get("dtype") == "bfloat16":
            import ml_dtypes

            return np.asarray(dataset[()]).view(ml_dtypes.bfloat16)
        raise ValueError(
            f"{source}: dataset '{where}' has dtype {dataset.dtype}, which is not a numeric weight."
        )
    value = np.asarray(dataset[()])
    if dataset.attrs.get("dtype") == "bfloat16":
        import ml_dtypes

        value = (
            value.view(ml_dtypes.bfloat16)
            if value.dtype == np.uint16
            else value.astype(ml_dtypes.bfloat16)
        )
    return value


def get_vars_group(h5, path, source):
    import h5py

    node = h5
    if path:
        for part in path.split("/"):
            if part not in node:
                return None
            kind = node.get(part, getclass=True, getlink=True)
            if kind in (h5py.SoftLink, h5py.ExternalLink):
                raise ValueError(f"{source}: refusing the HDF5 link at '{path}'.")
            node = node[part]
            if not isinstance(node, h5py.Group):
                raise ValueError(f"{source}: expected a group at '{path}', found a dataset.")
    if "vars" not in node:
        return None
    kind = node.get("vars", getclass=True, getlink=True)
    if kind in (h5py.SoftLink, h5py.ExternalLink):
        raise ValueError(f"{source}: refusing the HDF5 link at '{_join(path, 'vars')}'.")
    group = node["vars"]
    if not isinstance(group, h5py.Group):
        raise ValueError(f"{source}: expected a group at '{_join(path, 'vars')}'.")
    return group


def _describe(obj, path):
    name = getattr(obj, "name", None)
    kind = type(obj).__name__
    where = f"'{path}'" if path else "the top level"
    return f"{kind} '{name}' (stored at {where})"


class _SingleFile:
    """The `vars` groups of one open h5py File (what `read_weights` reads from)."""

    def __init__(self, h5, source):
        self._h5, self._source = h5, source

    def vars_group(self, path):
        return get_vars_group(self._h5, path, self._source)

    def unused(self, consumed: set) -> list:
        return unused_layer_weights(self._h5, consumed)


def read_weights(model, h5, source: str, skip_mismatch: bool = False) -> None:
    """Load the variables of `model` from the open h5py File `h5` (or from any object with
    `vars_group(path)` and `unused(consumed)`, such as the shards of a `.weights.json`).

    Everything is checked before any variable is assigned. Mismatched layers raise
    ValueError naming the layer and the file, or (skip_mismatch=True) are skipped with
    a warning.
    """
    tree = h5 if hasattr(h5, "vars_group") else _SingleFile(h5, source)
    pending: list = []  # (variable, value)
    custom_loads: list = []
    problems: list = []
    consumed: set = set()

    def visit(obj, path):
        group = tree.vars_group(path)
        store = _ReadStore(group, path, source)
        if group is not None:
            consumed.add(_join(path, "vars"))
        elif not _is_layer(obj):
            return  # no optimizer state in the file (saved before compile): keep the current one
        if not _is_layer(obj) and len(store.keys()) > len(_own_variables(obj)):
            build = getattr(obj, "build", None)  # an optimizer saved after training: make slots
            if callable(build) and not getattr(obj, "built", False):
                build(model.trainable_variables)
        custom = _overridden(obj, "load_own_variables")
        if custom is not None:
            custom_loads.append((obj, path, custom, store))
            return
        variables = _own_variables(obj)
        is_optimizer = not _is_layer(obj)
        keys = store.keys()
        if len(keys) != len(variables) or any(str(i) not in keys for i in range(len(keys))):
            if is_optimizer:
                warnings.warn(
                    f"{source}: skipped loading the optimizer state: the file holds "
                    f"{len(keys)} optimizer variables, the optimizer has {len(variables)}.",
                    stacklevel=4,
                )
                return
            problems.append(
                f"{_describe(obj, path)} has {len(variables)} variable(s) "
                f"{[tuple(v.shape) for v in variables]}, but the file holds {len(keys)} "
                f"there{_shapes_listing(store)}."
            )
            return
        values = []
        for i, variable in enumerate(variables):
            value = store[str(i)]
            want = tuple(variable.shape)
            if tuple(value.shape) != want:
                problems.append(
                    f"{_describe(obj, path)}: variable '{getattr(variable, 'name', i)}' has "
                    f"shape {want}, but the file holds shape {tuple(value.shape)} at "
                    f"'{_join(path, 'vars')}/{i}'."
                )
                return
            values.append((variable, value))
        pending.extend(values)

    _walk(model, "", visit, set())

    unused = tree.unused(consumed)
    if unused:
        problems.append(
            "the file holds weights that no layer of the model uses: "
            + ", ".join(unused[:10])
            + (" ..." if len(unused) > 10 else "")
            + " (is it from a different architecture?)"
        )
    if problems:
        message = f"Cannot load weights from {source}: " + " ".join(problems)
        if not skip_mismatch:
            raise ValueError(message + " Pass skip_mismatch=True to skip mismatched layers.")
        warnings.warn(message + " These were skipped (skip_mismatch=True).", stacklevel=3)
    # Layers with their own load_own_variables run after the checked assignments: if one
    # fails, every variable gets its value back, so nothing trained is lost.
    snapshot = [(v, v.value) for v in _all_variables(model)] if custom_loads else []
    for variable, value in pending:
        variable.assign(
            value.astype(np.dtype(variable.dtype)) if _needs_cast(value, variable) else value
        )
    for obj, path, custom, store in custom_loads:
        try:
            custom(store)
        except Exception as err:
            if not skip_mismatch:
                for variable, value in snapshot:
                    variable.assign(value)
                raise ValueError(
                    f"Cannot load weights from {source}: {_describe(obj, path)} failed in "
                    f"load_own_variables: {err}"
                ) from err
            warnings.warn(f"{source}: skipped {_describe(obj, path)}: {err}", stacklevel=3)


def _all_variables(model) -> list:
    """The model's variables and its optimizer's (what a weights file can change)."""
    optimizer = getattr(model, "optimizer", None)
    extra = list(getattr(optimizer, "variables", None) or []) if optimizer is not None else []
    return list(model.variables) + [v for v in extra if hasattr(v, "assign")]


def _needs_cast(value, variable) -> bool:
    try:
        return str(value.dtype) != str(variable.dtype)
    except Exception:  # noqa: BLE001
        return False


def _shapes_listing(store) -> str:
    try:
        shapes = [tuple(store._group[k].shape) for k in sorted(store.keys(), key=_int_key)]
    except Exception:  # noqa: BLE001
        return ""
    return f" {shapes}" if shapes else ""


def _int_key(k):
    return (0, int(k)) if k.isdigit() else (1, k)


def unused_layer_weights(h5, consumed: set) -> list:
    """Paths of `.../vars` groups under `layers/` holding datasets the model did not read."""
    import h5py

    unused = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and name.endswith("vars") and name.split("/")[-1] == "vars":
            if name not in consumed and len(obj) > 0:
                unused.append(name)

    if "layers" in h5:
        h5["layers"].visititems(lambda n, o: visit(f"layers/{n}", o))
    return unused


# -- files -----------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_output(filepath: str, overwrite: bool = True):
    """Yield a temporary path next to `filepath`; on success, rename it over `filepath`.

    A failed write leaves any existing file untouched. In a multi-process job every process
    writes (gathering sharded weights is collective) but only process 0 keeps the file.
    """
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsSaveError(
            f"File {filepath!r} already exists and overwrite=False; pass overwrite=True to "
            "replace it."
        )
    check_save_target(filepath)
    directory = os.path.dirname(os.path.abspath(filepath))
    fd, tmp = tempfile.mkstemp(
        prefix=f".{os.path.basename(filepath)}.", suffix=".tmp", dir=directory
    )
    os.close(fd)
    try:
        yield tmp
        if jax.process_index() == 0:
            os.replace(tmp, filepath)
        else:  # multi-process: every process gathers the weights, process 0 writes the file
            os.remove(tmp)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def check_save_target(filepath: str) -> None:
    """The folder to save in exists, and `filepath` is not itself a folder."""
    directory = os.path.dirname(os.path.abspath(filepath))
    if not os.path.isdir(directory):
        raise ValueError(f"Cannot save to {filepath!r}: directory {directory!r} does not exist.")
    if os.path.isdir(filepath):
        raise IsADirectoryError(
            f"Cannot save to {filepath!r}: it is a directory; give the path of a file (in "
            "that directory, or elsewhere) instead."
        )


class FileExistsSaveError(FileExistsError, ValueError):
    """The target file exists and overwrite=False (both FileExistsError and ValueError)."""


def check_built(model, action: str) -> None:
    if not getattr(model, "built", False):
        raise ValueError(
            f"Model '{getattr(model, 'name', model)}' is not built yet, so it has no weights to "
            f"{action}: call it on data, or build(input_shape), first."
        )


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Write `model`'s weights to a `.weights.h5` file in Keras 3's layout."""
    import h5py

    filepath = os.fspath(filepath)
    if not filepath.endswith(".weights.h5"):
        raise ValueError(
            "save_weights: argument 'filepath' must end in '.weights.h5' (or '.weights.json' "
            f"with max_shard_size, for sharded weights); got filepath={filepath!r}"
        )
    check_built(model, "save")
    with atomic_output(filepath, overwrite) as tmp:
        with h5py.File(tmp, "w") as h5:
            write_weights(model, h5)


def weights_to_bytes(model) -> bytes:
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        write_weights(model, h5)
    return buffer.getvalue()


def open_h5(source, label: str):
    """Open an HDF5 file (path or bytes) for reading; corrupt files raise ValueError."""
    import h5py

    try:
        if isinstance(source, (bytes, bytearray)):
            return h5py.File(io.BytesIO(bytes(source)), "r")
        return h5py.File(source, "r")
    except (OSError, ValueError) as err:
        raise ValueError(f"{label} is not a readable HDF5 weights file ({err}).") from err


def load_weights(model, filepath, skip_mismatch: bool = False) -> None:
    """Load weights saved by `save_weights` (shoal or Keras 3) into `model`."""
    filepath = os.fspath(filepath)
    if not filepath.endswith(".weights.h5"):
        raise ValueError(
            "load_weights: argument 'filepath' must end in '.weights.h5' or '.keras'; "
            f"got filepath={filepath!r}"
        )
    if not os.path.exists(filepath):
        raise ValueError(f"load_weights: file {filepath!r} does not exist.")
    check_built(model, "load")
    with open_h5(filepath, f"Weights file {filepath!r}") as h5:
        read_weights(model, h5, f"weights file {filepath!r}", skip_mismatch=skip_mismatch)
