"""Keras' legacy HDF5 weight tree (`model.save_weights("x.h5")` in Keras 2, tf.keras), read
and written.

This is the format of `keras.applications`' pretrained files. Layout:

    attrs: layer_names = [b"input_1", b"conv1", ...]   (every layer, in model.layers order;
           the list may be split over layer_names0, layer_names1, ... when it is long)
    conv1/                   attrs: weight_names = [b"conv1/kernel:0", b"conv1/bias:0"]
    conv1/conv1/kernel:0     the arrays, at the paths weight_names lists
    top_level_model_weights/ (Keras 3 only: variables the model itself owns)

A whole-model file keeps the same tree under `model_weights/`. Loading is topological as in
Keras: the file's layers that hold weights are matched, in order, with the model's layers
that hold weights, each taking `trainable_weights + non_trainable_weights` (the legacy order).
With `by_name=True`, layers are matched by name instead and unmatched ones are skipped.
Every value is checked before anything is assigned, so a failed load leaves the model as it was.

Writing (for whole-model `.h5` files, see legacy_h5_model.py) follows Keras 3.15: layer groups
in name order, each weight at its variable path, string lists split into numbered chunks when
one HDF5 attribute cannot hold them.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from shoal.saving.weights_file import _read_dataset, check_built, open_h5, write_dataset

# The most bytes one HDF5 object header (so one attribute) holds.
HDF5_OBJECT_HEADER_LIMIT = 64512


def _attribute_list(group, name: str) -> list[str]:
    """A string-list attribute, joined from its numbered chunks when HDF5 needed them."""
    if name in group.attrs:
        raw = list(group.attrs[name])
    else:
        raw, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            raw.extend(group.attrs[f"{name}{chunk}"])
            chunk += 1
    return [v.decode("utf8") if hasattr(v, "decode") else str(v) for v in raw]


def _child_group(group, key: str, source: str):
    import h5py

    node = group
    for part in key.split("/"):
        if part not in node:
            raise ValueError(f"{source}: the file has no group '{key}' under '{group.name}'.")
        kind = node.get(part, getclass=True, getlink=True)
        if kind in (h5py.SoftLink, h5py.ExternalLink):
            raise ValueError(f"{source}: refusing the HDF5 link at '{node.name}/{part}'.")
        node = node[part]
        if not isinstance(node, h5py.Group):
            raise ValueError(f"{source}: expected a group at '{node.name}', found a dataset.")
    return node


def _read_values(group, source: str) -> list[np.ndarray]:
    """The arrays of one layer group, in the order of its `weight_names` attribute."""
    values = []
    for weight_name in _attribute_list(group, "weight_names"):
        parent, _, leaf = weight_name.rpartition("/")
        holder = _child_group(group, parent, source) if parent else group
        values.append(_read_dataset(holder, leaf, f"{group.name}/{weight_name}", source))
    return values


def _legacy_variables(layer) -> list:
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _root(h5, source: str):
    if "layer_names" not in h5.attrs and "layer_names0" not in h5.attrs:
        if "model_weights" in h5:
            return _child_group(h5, "model_weights", source)
        raise ValueError(
            f"{source} is not a legacy Keras HDF5 weights file (no 'layer_names' attribute). "
            "Keras 3 weight files end in '.weights.h5'."
        )
    return h5


def load_legacy_h5_weights(model, filepath, by_name: bool = False, skip_mismatch: bool = False):
    """Load a legacy Keras HDF5 weights file (`.h5` / `.hdf5`) into a built `model`.

    Args:
        model: a built shoal model whose layers match the file's (topologically, or by
            name with `by_name=True`).
        filepath: path to the `.h5` file.
        by_name: match layers by name; layers missing on either side are skipped.
        skip_mismatch: skip (with a warning) layers whose weight count or shapes differ
            instead of raising.

    Raises:
        ValueError: the file is not a legacy weights file, or it does not fit the model.
    """
    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise ValueError(f"load_weights: file {filepath!r} does not exist.")
    check_built(model, "load")
    source = f"weights file {filepath!r}"
    with open_h5(filepath, f"Weights file {filepath!r}") as h5:
        load_weights_from_group(
            model, _root(h5, source), source, by_name=by_name, skip_mismatch=skip_mismatch
        )


def load_weights_from_group(model, root, source, by_name=False, skip_mismatch=False) -> None:
    """Load the legacy weight tree at h5py group `root` (a file, or its `model_weights`)."""
    saved = []  # (layer name, values) of the file's layers that hold weights
    for name in _attribute_list(root, "layer_names"):
        group = _child_group(root, name, source)
        if _attribute_list(group, "weight_names"):
            saved.append((name, _read_values(group, source)))
    top_level = None
    if "top_level_model_weights" in root:
        top_level = _read_values(_child_group(root, "top_level_model_weights", source), source)

    pairs = []  # (what, variables, values)
    if by_name:
        index: dict = {}
        for layer in model.layers:
            index.setdefault(layer.name, []).append(layer)
        for name, values in saved:
            for layer in index.get(name, []):
                pairs.append((f"layer '{layer.name}'", _legacy_variables(layer), values))
    else:
        with_weights = [layer for layer in model.layers if _legacy_variables(layer)]
        if len(with_weights) != len(saved):
            raise ValueError(
                f"Cannot load {source} into model '{model.name}': the model has "
                f"{len(with_weights)} layers with weights, the file {len(saved)} "
                f"(is it from a different architecture, or include_top setting?)."
            )
        for k, (layer, (name, values)) in enumerate(zip(with_weights, saved, strict=True)):
            what = f"layer #{k} ('{layer.name}' in the model, '{name}' in the file)"
            pairs.append((what, _legacy_variables(layer), values))
    if top_level:
        own = list(model._trainable_variables) + list(model._non_trainable_variables)
        pairs.append(("the model's own variables", own, top_level))

    pending, problems = [], []
    for what, variables, values in pairs:
        if len(variables) != len(values):
            problems.append(f"{what} has {len(variables)} weight(s), the file holds {len(values)}.")
            continue
        bad = [
            f"'{v.name}' {tuple(v.shape)} vs {tuple(a.shape)}"
            for v, a in zip(variables, values, strict=True)
            if tuple(v.shape) != tuple(a.shape)
        ]
        if bad:
            problems.append(f"{what}: shapes differ (model vs file): {', '.join(bad)}.")
            continue
        pending.extend(zip(variables, values, strict=True))
    if problems:
        message = f"Cannot load {source} into model '{model.name}': " + " ".join(problems)
        if not skip_mismatch:
            raise ValueError(message + " Pass skip_mismatch=True to skip mismatched layers.")
        warnings.warn(message + " These were skipped (skip_mismatch=True).", stacklevel=2)
    for variable, value in pending:
        variable.assign(np.asarray(value).astype(np.dtype(variable.dtype), copy=False))


# -- writing ----------------------------------------------------------------------------


def write_attribute_list(group, name: str, values) -> None:
    """Store a list of strings as attribute `name`, in numbered chunks (`name0`, `name1`, ...)
    when one attribute cannot hold it all."""
    encoded = [str(v).encode("utf8") for v in values]
    too_long = [v for v in encoded if len(v) > HDF5_OBJECT_HEADER_LIMIT]
    if too_long:
        raise ValueError(
            f"Cannot write attribute '{name}' of HDF5 group '{group.name}': "
            f"{len(too_long)} name(s) are longer than {HDF5_OBJECT_HEADER_LIMIT} bytes."
        )
    data = np.asarray(encoded)
    chunks = [data]
    while any(chunk.nbytes > HDF5_OBJECT_HEADER_LIMIT for chunk in chunks):
        chunks = np.array_split(data, len(chunks) + 1)
    if len(chunks) == 1:
        group.attrs[name] = encoded  # as Keras: a list (variable-length strings)
        return
    for k, chunk in enumerate(chunks):
        group.attrs[f"{name}{k}"] = chunk


def write_weight_subset(group, variables, what: str) -> None:
    """Write `variables` into `group`: `weight_names` lists their paths, each array lies at
    its path below the group."""
    names = [str(getattr(v, "path", None) or v.name) for v in variables]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"Cannot save {what} in HDF5 format: several of its weights share the path(s) "
            f"{repeated}; give the weights distinct names, or save in '.keras' format."
        )
    write_attribute_list(group, "weight_names", names)
    for name, variable in zip(names, variables, strict=True):
        parent, _, leaf = name.rpartition("/")
        try:
            holder = group.require_group(parent) if parent else group
            write_dataset(holder, leaf, variable)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"Cannot save weight '{name}' of {what} in HDF5 format ({err}); a weight path "
                "must not also be the prefix of another weight's path."
            ) from err


def write_legacy_weights(group, model, keras_version: str, backend: str = "jax") -> None:
    """Write `model`'s weights into `group` in the legacy tree (a file's `model_weights`)."""
    layers = list(model.layers)
    write_attribute_list(group, "layer_names", [layer.name for layer in layers])
    group.attrs["backend"] = backend.encode("utf8")
    group.attrs["keras_version"] = keras_version.encode("utf8")
    # Sorted by name, as Keras, so group names grow strictly (no prefix clashes).
    for layer in sorted(layers, key=lambda layer: layer.name):
        write_weight_subset(
            group.create_group(layer.name), _legacy_variables(layer), f"layer '{layer.name}'"
        )
    in_model = {id(v) for v in model.weights}
    own = list(model._trainable_variables) + list(model._non_trainable_variables)
    write_weight_subset(
        group.create_group("top_level_model_weights"),
        [v for v in own if id(v) in in_model],
        f"model '{model.name}'",
    )


def write_optimizer_weights(h5, optimizer) -> None:
    """The `optimizer_weights` group: every optimizer variable, at its path."""
    variables = list(getattr(optimizer, "variables", None) or [])
    if variables:
        write_weight_subset(
            h5.create_group("optimizer_weights"), variables, f"optimizer '{optimizer.name}'"
        )


def read_optimizer_weights(h5, source: str) -> list[np.ndarray]:
    """The arrays of a file's `optimizer_weights` group, in their listed order."""
    return _read_values(_child_group(h5, "optimizer_weights", source), source)
