"""Models whose outputs nest (a dict of lists, a list of dicts, tuples in tuples), as
Keras 3 allows: `compile` specs in the outputs' structure, and the names Keras gives
their losses ("p/o1_loss": the path to the output, a final list index replaced by the
output layer's name).

Everything here works on the outputs flattened in the model's order (JAX's, which is
Keras' `tree.flatten` order: dict keys sorted).
"""

from __future__ import annotations

import jax

from shoal.backend.symbolic import is_keras_tensor

_CONTAINERS = (list, tuple, dict)


def is_nested(structure) -> bool:
    """A list, tuple or dict holding another list, tuple or dict."""
    if not isinstance(structure, _CONTAINERS):
        return False
    values = structure.values() if isinstance(structure, dict) else structure
    return any(isinstance(v, _CONTAINERS) for v in values)


def leaves(structure) -> list:
    """The leaves of a nested structure in the model's flat order (None kept)."""
    return jax.tree_util.tree_leaves(
        structure, is_leaf=lambda v: v is None or not isinstance(v, _CONTAINERS)
    )


def _paths(struct) -> list:
    flat = jax.tree_util.tree_flatten_with_path(struct, is_leaf=is_keras_tensor)[0]
    return [tuple(_key(k) for k in path) for path, _ in flat]


def _key(entry):
    if isinstance(entry, jax.tree_util.DictKey):
        return entry.key
    return entry.idx  # a SequenceKey


def loss_names(struct, output_names) -> list:
    """Keras' name for each output's loss: the path to it joined by "/", where a list
    index that ends the path is the output layer's name ({"p": [o1, o2]}: "p/o1")."""
    names = []
    for path, output in zip(_paths(struct), output_names, strict=True):
        if not path or isinstance(path[-1], int):
            path = path[:-1] + (output,)
        names.append("/".join(str(p) for p in path))
    return names


def flatten_spec(spec, struct, argument, output_names=()) -> list | None:
    """A `compile` spec (`loss`, `loss_weights`, `metrics`, ...) given in the outputs'
    structure, as one entry per output in flat order. A spec that is not a container
    where the outputs nest applies to every output below it; a flat list with one entry
    per output, or a dict keyed by the output layers' names, is taken as is (Keras)."""
    if spec is None:
        return None
    paths = _paths(struct)
    if isinstance(spec, (list, tuple)) and len(spec) == len(paths) and not is_nested(spec):
        return list(spec)
    if isinstance(spec, dict) and not isinstance(struct, dict) and set(spec) <= set(output_names):
        return [spec.get(name) for name in output_names]
    if not isinstance(spec, _CONTAINERS):
        return [spec] * len(paths)
    _check_keys(spec, struct, argument, ())
    return [_find(spec, path, argument) for path in paths]


def _check_keys(spec, struct, argument, walked) -> None:
    """Every key of a dict in `spec` names an entry of the outputs at that place."""
    if isinstance(spec, dict):
        if not isinstance(struct, dict) or set(spec) - set(struct):
            known = sorted(struct) if isinstance(struct, dict) else type(struct).__name__
            raise ValueError(
                f"compile(): argument `{argument}` has keys "
                f"{sorted(set(spec) - set(struct if isinstance(struct, dict) else ()))} at "
                f"{list(walked)} that match no model output; the outputs there are {known}."
            )
        for key, value in spec.items():
            _check_keys(value, struct[key], argument, walked + (key,))
    elif isinstance(spec, (list, tuple)) and isinstance(struct, (list, tuple)):
        for i, (value, sub) in enumerate(zip(spec, struct, strict=False)):
            _check_keys(value, sub, argument, walked + (i,))


def _find(spec, path, argument):
    walked = ()
    for key in path:
        if isinstance(spec, dict):
            if key not in spec:
                return None  # no entry for this output: no loss / metric
            spec = spec[key]
        elif isinstance(spec, (list, tuple)) and isinstance(key, int):
            if key >= len(spec):
                raise ValueError(
                    f"compile(): argument `{argument}` does not match the structure of the "
                    f"model's outputs: at {list(walked)} it has {len(spec)} entries, but the "
                    f"outputs there have more (index {key})."
                )
            spec = spec[key]
        elif isinstance(spec, (list, tuple)):  # metrics listed for every output below
            return spec
        else:  # one entry for every output below this point
            return spec
        walked += (key,)
    return spec
