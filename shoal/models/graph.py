"""Walk the nodes between symbolic inputs and outputs: order, depth, checks."""

from __future__ import annotations

from shoal.backend.symbolic import KerasTensor


def _node_of(tensor: KerasTensor):
    op, node_index, _ = tensor._keras_history
    return op._inbound_nodes[node_index]


def map_graph(inputs: list, outputs: list):
    """Return (nodes_in_order, operations_in_order) for the graph inputs -> outputs.

    Nodes are in execution order (every node after the nodes it consumes).
    Operations are ordered as Keras orders `model.layers`: by decreasing depth
    from the outputs, ties broken by discovery order, so weights come out in
    Keras' order.

    Raises ValueError for tensors without history, cycles, and outputs that
    depend on tensors that are not among `inputs` ("graph disconnected").
    """
    for t in list(inputs) + list(outputs):
        if not isinstance(t, KerasTensor) or t._keras_history is None:
            raise ValueError(
                "Functional model: every input and output must be a symbolic tensor produced "
                f"by shoal.Input or a layer called on one; got {t!r}"
            )
    input_ids = {id(t) for t in inputs}
    order: list = []  # post-order DFS: execution order
    discovery: dict = {}
    state: dict = {}  # id(node) -> "visiting" | "done"

    def visit(node):
        key = id(node)
        if state.get(key) == "done":
            return
        if state.get(key) == "visiting":
            raise ValueError(
                f"Functional model: the graph has a cycle through layer '{node.operation.name}'."
            )
        state[key] = "visiting"
        discovery.setdefault(key, len(discovery))
        for t in node.input_tensors:
            if id(t) in input_ids:
                visit(_node_of(t))
                continue
            if t._keras_history is None:
                raise ValueError(f"Functional model: tensor {t!r} has no producing layer.")
            parent = _node_of(t)
            if parent.is_input:
                raise ValueError(
                    "Functional model: graph disconnected: cannot obtain value for tensor "
                    f"{t} at layer '{node.operation.name}'. The input "
                    f"'{parent.operation.name}' it depends on is not among the model's inputs "
                    f"({[i.name for i in inputs]})."
                )
            visit(parent)
        state[key] = "done"
        order.append(node)

    for t in outputs:
        visit(_node_of(t))
    for t in inputs:
        visit(_node_of(t))

    # Depth from the outputs: consumers first.
    depth = {id(n): 0 for n in order}
    for node in reversed(order):
        for t in node.input_tensors:
            parent = _node_of(t)
            depth[id(parent)] = max(depth.get(id(parent), 0), depth[id(node)] + 1)
    op_depth: dict = {}
    op_first: dict = {}
    ops = {}
    for node in order:
        op = node.operation
        ops[id(op)] = op
        op_depth[id(op)] = max(op_depth.get(id(op), 0), depth[id(node)])
        op_first[id(op)] = min(op_first.get(id(op), 10**9), discovery[id(node)])
    operations = sorted(ops.values(), key=lambda op: (-op_depth[id(op)], op_first[id(op)]))
    # Execution order by decreasing depth keeps parents before children.
    position = {id(n): i for i, n in enumerate(order)}
    nodes = sorted(order, key=lambda n: (-depth[id(n)], position[id(n)]))
    return nodes, operations


def nodes_between(inputs: list, outputs: list, owner: str = "Functional model") -> list:
    """The nodes that compute `outputs` from `inputs`, in execution order, not looking
    past the `inputs` (which may be intermediate tensors of a larger graph). `owner`
    names the caller in errors."""
    input_ids = {id(t) for t in inputs}
    order: list = []
    done: set = set()

    def visit(node):
        if id(node) in done:
            return
        done.add(id(node))
        for t in node.input_tensors:
            if id(t) in input_ids:
                continue
            if t._keras_history is None or _node_of(t).is_input:
                raise ValueError(
                    f"{owner}: graph disconnected: cannot obtain value for tensor "
                    f"{t} at layer '{node.operation.name}' from the inputs "
                    f"({[i.name for i in inputs]})."
                )
            visit(_node_of(t))
        order.append(node)

    for t in outputs:
        if id(t) not in input_ids:
            visit(_node_of(t))
    return order
