"""`keras.tree`: utilities over nested structures (lists, tuples, namedtuples, dicts).

Built on optree, as Keras 3's own tree module is, with Keras' conventions: `None` is a
leaf, a dict's values are ordered by sorted key (an `OrderedDict` keeps its own order),
and namedtuples, deques and defaultdicts are containers. Classes registered with
`register_tree_node_class` are containers too; JAX pytrees of other kinds are leaves.
"""

from __future__ import annotations

import warnings

import optree

_NAMESPACE = "shoal"
_STRUCTURE_MISMATCH = "The two structures don't have the same nested structure."


class MAP_TO_NONE:  # noqa: N801 (Keras' public name)
    """Returned by a `traverse` function to put `None` in place of a sub-structure."""


def register_tree_node_class(cls):
    """Make `cls` (with `tree_flatten` / `tree_unflatten`) a container for these functions."""
    return optree.register_pytree_node_class(cls, namespace=_NAMESPACE)


def _is_leaf(value, none_is_leaf=True) -> bool:
    return optree.tree_is_leaf(value, none_is_leaf=none_is_leaf, namespace=_NAMESPACE)


def _check_callable(func):
    if not callable(func):
        raise TypeError(f"`func` must be callable, got {func!r}")


def is_nested(structure) -> bool:
    """Whether `structure` is a container (sequence, mapping, namedtuple), not a leaf."""
    return not _is_leaf(structure)


def flatten(structure) -> list:
    """The leaves of `structure` in order (dict values by sorted key); a leaf gives `[leaf]`."""
    leaves, _ = optree.tree_flatten(structure, none_is_leaf=True, namespace=_NAMESPACE)
    return leaves


def flatten_with_path(structure) -> list:
    """`(path, leaf)` pairs; a path is the tuple of indices and keys leading to the leaf."""
    paths, leaves, _ = optree.tree_flatten_with_path(
        structure, none_is_leaf=True, namespace=_NAMESPACE
    )
    return list(zip(paths, leaves, strict=True))


def pack_sequence_as(structure, flat_sequence):
    """`flat_sequence`'s items arranged as `structure` (the inverse of `flatten`)."""
    if isinstance(flat_sequence, (str, bytes)) or not hasattr(flat_sequence, "__iter__"):
        raise TypeError(
            f"`flat_sequence` must be an iterable sequence, got {type(flat_sequence).__name__}"
        )
    flat_sequence = list(flat_sequence)
    _, spec = optree.tree_flatten(structure, none_is_leaf=True, namespace=_NAMESPACE)
    if spec.num_leaves != len(flat_sequence):
        raise ValueError(
            f"`flat_sequence` has {len(flat_sequence)} items but `structure` has "
            f"{spec.num_leaves} leaves"
        )
    return optree.tree_unflatten(spec, flat_sequence)


def map_structure(func, *structures, none_is_leaf=True):
    """`func` applied leaf by leaf to structures of the same layout."""
    _check_callable(func)
    if not structures:
        raise ValueError("map_structure needs at least one structure, got none")
    if len(structures) == 1 and _is_leaf(structures[0], none_is_leaf):
        if structures[0] is None and not none_is_leaf:
            return None
        return func(structures[0])

    def checked(*leaves):
        if not all(_is_leaf(leaf, none_is_leaf) for leaf in leaves):
            raise ValueError(_STRUCTURE_MISMATCH)
        return func(*leaves)

    try:
        return optree.tree_map(
            checked if len(structures) > 1 else func,
            *structures,
            none_is_leaf=none_is_leaf,
            namespace=_NAMESPACE,
        )
    except ValueError as error:
        if str(error) == _STRUCTURE_MISMATCH:
            raise
        raise ValueError(f"{_STRUCTURE_MISMATCH} {error}") from None


def map_structure_up_to(shallow_structure, func, *structures):
    """`func` applied to the sub-structures found at `shallow_structure`'s leaves."""
    _check_callable(func)
    if not structures:
        raise ValueError("map_structure_up_to needs at least one structure, got none")

    def checked(shallow, *subtrees):
        if not _is_leaf(shallow):
            raise ValueError(_STRUCTURE_MISMATCH)
        return func(*subtrees)

    try:
        return optree.tree_map(
            checked, shallow_structure, *structures, none_is_leaf=True, namespace=_NAMESPACE
        )
    except ValueError as error:
        if str(error) == _STRUCTURE_MISMATCH:
            raise
        raise ValueError(f"{_STRUCTURE_MISMATCH} {error}") from None


def assert_same_structure(a, b, check_types=None):
    """Raise ValueError unless `a` and `b` nest the same containers the same way.

    `dict`, `OrderedDict` and `defaultdict` with the same keys match; `list`, `tuple`,
    namedtuples and deques do not match each other (see `assert_same_paths`).
    """
    if check_types is not None:
        warnings.warn(
            "assert_same_structure's `check_types` argument has no effect; for a looser "
            "check use assert_same_paths",
            DeprecationWarning,
            stacklevel=2,
        )
    map_structure(lambda *_: None, a, b)


def assert_same_paths(a, b):
    """Raise ValueError unless `a` and `b` have the same leaf paths (container types aside)."""
    a_paths = set(optree.tree_paths(a, none_is_leaf=True, namespace=_NAMESPACE))
    b_paths = set(optree.tree_paths(b, none_is_leaf=True, namespace=_NAMESPACE))
    if a_paths != b_paths:
        message = "`a` and `b` don't have the same paths."
        if a_paths - b_paths:
            message += f"\nPaths in `a` missing in `b`:\n{a_paths - b_paths}"
        if b_paths - a_paths:
            message += f"\nPaths in `b` missing in `a`:\n{b_paths - a_paths}"
        raise ValueError(message)


def traverse(func, structure, top_down=True):
    """Depth-first walk calling `func` on every sub-structure (leaves included).

    Top-down, a non-None result replaces that sub-structure and stops the descent into
    it; bottom-up, a non-None result replaces the already-traversed sub-structure.
    Return `MAP_TO_NONE` to put `None` in its place.
    """
    _check_callable(func)

    def children_traversed(node):
        if _is_leaf(node):
            return node
        children, spec = optree.tree_flatten(
            node, is_leaf=lambda x: x is not node, none_is_leaf=True, namespace=_NAMESPACE
        )
        return optree.tree_unflatten(spec, [visit(child) for child in children])

    def visit(node):
        if top_down:
            result = func(node)
            if result is None:
                return children_traversed(node)
        else:
            node = children_traversed(node)
            result = func(node)
            if result is None:
                return node
        return None if result is MAP_TO_NONE else result

    return visit(structure)


def lists_to_tuples(structure):
    """`structure` with every list turned into a tuple."""
    return traverse(
        lambda node: tuple(node) if isinstance(node, list) else None, structure, top_down=False
    )


def map_shape_structure(func, structure):
    """`map_structure` that treats shape tuples (ints and Nones) as leaves."""

    def is_shape(value):
        return isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, type(None))) for v in value
        )

    return optree.tree_map(
        func, structure, is_leaf=is_shape, none_is_leaf=True, namespace=_NAMESPACE
    )


__all__ = [
    "MAP_TO_NONE",
    "assert_same_paths",
    "assert_same_structure",
    "flatten",
    "flatten_with_path",
    "is_nested",
    "lists_to_tuples",
    "map_shape_structure",
    "map_structure",
    "map_structure_up_to",
    "pack_sequence_as",
    "register_tree_node_class",
    "traverse",
]
