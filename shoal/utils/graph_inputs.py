"""`get_source_inputs`: the Input tensors a symbolic tensor was computed from."""

from __future__ import annotations

from shoal.backend.symbolic import is_keras_tensor


def get_source_inputs(tensor):
    """The `shoal.Input` tensors that `tensor` depends on, in the order first reached
    (depth first through each layer call's inputs), as `keras.utils.get_source_inputs`."""
    if not is_keras_tensor(tensor):
        raise ValueError(
            f"get_source_inputs: argument 'tensor' must be a symbolic tensor; got {tensor!r}"
        )
    found, seen, pending = [], set(), [tensor]
    while pending:
        t = pending.pop()
        history = t._keras_history
        if history is None:
            continue
        operation, node_index, _ = history
        node = operation._inbound_nodes[node_index]
        if node.is_input:
            if id(t) not in seen:
                seen.add(id(t))
                found.append(t)
            continue
        pending.extend(reversed(node.input_tensors))
    return found
