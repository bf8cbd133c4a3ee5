"""`Model.get_state_tree()` / `set_state_tree()`: every variable of a model (weights,
optimizer slots, metric accumulators) as nested dicts keyed by the parts of its path, as
Keras 3 lays them out ("trainable_variables" -> "seq" -> "dense" -> "kernel")."""

from __future__ import annotations

import re
import warnings

import numpy as np

GROUPS = (
    "trainable_variables",
    "non_trainable_variables",
    "optimizer_variables",
    "metrics_variables",
)
VALUE_FORMATS = ("backend_tensor", "numpy_array")


def group_variables(model, group) -> list:
    if group == "optimizer_variables":
        optimizer = getattr(model, "optimizer", None)
        return list(optimizer.variables) if optimizer is not None else []
    return list(getattr(model, group))


def get_state_tree(model, value_format="backend_tensor") -> dict:
    if value_format not in VALUE_FORMATS:
        raise ValueError(
            f"get_state_tree: argument `value_format` must be one of {VALUE_FORMATS}; got "
            f"{value_format!r}."
        )
    state = {}
    for group in GROUPS:
        nested, seen = {}, set()
        for variable in group_variables(model, group):
            if variable.path in seen:
                raise ValueError(
                    f"get_state_tree: the variable path {variable.path!r} occurs twice in "
                    f"'{model.name}'s {group}; paths must be unique. Give the layers (and other "
                    "objects) unique names."
                )
            seen.add(variable.path)
            *parents, leaf = variable.path.split("/")
            node = nested
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = (
                variable.value if value_format == "backend_tensor" else np.asarray(variable)
            )
        state[group] = nested
    return state


def flatten_paths(nested, prefix="") -> dict:
    """{"a/b/c": leaf} from {"a": {"b": {"c": leaf}}}."""
    flat = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            flat.update(flatten_paths(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def set_state_tree(model, state_tree) -> None:
    """Assign the values of `state_tree` (as `get_state_tree` returns it, any subset of its
    groups) to the variables with those paths. A weight path that names no variable of the
    model raises (nothing is assigned then); optimizer and metric entries without a
    variable are skipped, as Keras skips them."""
    if not isinstance(state_tree, dict):
        raise ValueError(
            f"set_state_tree: argument `state_tree` must be a dict with keys among {GROUPS}; "
            f"got {type(state_tree).__name__}."
        )
    unknown = sorted(set(state_tree) - set(GROUPS))
    if unknown:
        raise ValueError(
            f"set_state_tree: unknown key(s) {unknown} in `state_tree`; expected keys among "
            f"{GROUPS}."
        )
    optimizer = getattr(model, "optimizer", None)
    if state_tree.get("optimizer_variables") and optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)  # its slots exist before they are set
    assignments = []
    for group, nested in state_tree.items():
        nested = nested or {}
        if group == "optimizer_variables" and optimizer is not None and len(nested) == 1:
            # The optimizer's name is its variables' first path part, and names are made
            # unique per process ("adam", "adam_1", ...): one optimizer's state is the
            # model's optimizer's, whatever it was called when saved.
            nested = {optimizer.name: next(iter(nested.values()))}
        pairs, missing = _match(flatten_paths(nested), group_variables(model, group), model.name)
        if missing and group in ("trainable_variables", "non_trainable_variables"):
            paths = sorted(v.path for v in group_variables(model, group))
            raise ValueError(
                f"set_state_tree: {group} {missing[:5]}{' ...' if len(missing) > 5 else ''} "
                f"match no variable of model '{model.name}' (its paths: "
                f"{paths[:5]}{' ...' if len(paths) > 5 else ''})."
            )
        if missing and group == "optimizer_variables":
            warnings.warn(
                f"set_state_tree: {len(missing)} optimizer entries {missing[:3]} match no "
                f"variable of the model's optimizer; they were skipped.",
                stacklevel=3,
            )
        for path, variable, value in pairs:
            if tuple(np.shape(value)) != tuple(variable.shape):
                raise ValueError(
                    f"set_state_tree: {group} {path!r} holds shape {tuple(np.shape(value))}, "
                    f"but the variable has shape {tuple(variable.shape)}."
                )
            assignments.append((variable, value))
    for variable, value in assignments:
        variable.assign(value)


def _without_model_name(path, name):
    """`path` without the model's name where a model built inside its own scope has it:
    "seq/dense/kernel" -> "dense/kernel", "adam/seq_dense_kernel_momentum" ->
    "adam/dense_kernel_momentum"; else None."""
    if path.startswith(f"{name}/"):
        return path[len(name) + 1 :]
    head, _, rest = path.partition("/")
    if rest.startswith(f"{name}_"):
        return f"{head}/{rest[len(name) + 1 :]}"
    return None


def _paths_with_aliases(variables, name) -> dict:
    """{path: variable}, plus each path without the model's name where it has it. As in
    Keras, a Sequential rebuilt from a file builds its layers outside its own name scope,
    so its paths lack the model's name that a freshly built one's have: a checkpoint of
    either restores into the other."""
    by_path = {v.path: v for v in variables}
    for variable in variables:
        short = _without_model_name(variable.path, name)
        if short is not None:
            by_path.setdefault(short, variable)
    return by_path


def _resolve(path, by_path, name):
    """`path`, or its form without the model's name when only that names a variable."""
    if path in by_path:
        return path
    short = _without_model_name(path, name)
    return short if short in by_path else path


def _match(flat, variables, name):
    """[(path, variable, value)] and the paths of `flat` that name no variable. A path
    matches its variable's path, or that path without the model's name (see
    `_paths_with_aliases`); what is left is matched by the paths with the numbers that
    make names unique stripped ("seed_generator_2/state" and "seed_generator/state": names
    an object got from a per-process counter), in the order of those numbers."""
    by_path = _paths_with_aliases(variables, name)
    pairs, left, taken = [], [], set()
    for path, value in flat.items():
        key = _resolve(path, by_path, name)
        if key in by_path and id(by_path[key]) not in taken:
            taken.add(id(by_path[key]))
            pairs.append((path, by_path[key], value))
        else:
            left.append(path)
    free = [v for v in variables if id(v) not in taken]
    missing = []
    for stem, paths in _by_stem(left).items():
        candidates = _by_stem(free, key=lambda v: v.path).get(stem, [])
        if len(candidates) != len(paths):
            missing.extend(paths)
            continue
        pairs.extend((p, v, flat[p]) for p, v in zip(paths, candidates, strict=True))
    return pairs, missing


_UNIQUIFIER = re.compile(r"_(\d+)(?=/|$)")


def _by_stem(items, key=lambda item: item) -> dict:
    """{path with the `_<n>` suffixes of its parts removed: items, in order of those n}."""
    groups = {}
    for item in items:
        groups.setdefault(_UNIQUIFIER.sub("", key(item)), []).append(item)
    order = lambda item: [int(n) for n in _UNIQUIFIER.findall(key(item))]  # noqa: E731
    return {stem: sorted(group, key=order) for stem, group in groups.items()}
