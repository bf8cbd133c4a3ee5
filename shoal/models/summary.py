"""`model.summary()`: the table Keras 3 prints, rendered with rich the same way."""

from __future__ import annotations

import collections
import math
import re
import shutil

_DTYPE_BITS = {
    **{f"float{i}": i for i in (16, 32, 64)},
    **{f"int{i}": i for i in (8, 16, 32, 64)},
    **{f"uint{i}": i for i in (8, 16, 32, 64)},
    "bfloat16": 16,
    "bool": 1,
}


def count_params(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def weight_memory_size(weights) -> float:
    """Bytes taken by `weights` (each counted once), as Keras computes it."""
    unique = {id(w): w for w in weights}.values()
    bits = 0
    for w in unique:
        dtype = str(w.dtype)
        if dtype not in _DTYPE_BITS:
            raise ValueError(f"summary: unknown dtype {dtype!r} of weight {getattr(w, 'path', w)}")
        bits += math.prod(w.shape) * _DTYPE_BITS[dtype]
    return bits / 8


def readable_memory_size(size: float) -> str:
    for unit in ["B", "KB", "MB", "GB", "TB", "PB"]:
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _number(x) -> str:
    return f"[color(45)]{x}[/]" if x is None else f"[color(34)]{x}[/]"


def _symbol(x) -> str:
    return f"[color(33)]{x}[/]"


def _bold(x, color=None) -> str:
    return f"[bold][color({color})]{x}[/][/]" if color else f"[bold]{x}[/]"


def _format_shape(shape) -> str:
    return "(" + ", ".join(_number(d) for d in shape) + ")"


def _layer_shape(layer, batch_size=None) -> str:
    """The output shape(s) Keras shows for `layer`: its last node's, else those computed
    from the shapes it was built with. `batch_size` stands in for a None batch size (a
    Sequential built by a call, whose graph Keras builds with that call's batch size)."""
    nodes = getattr(layer, "_inbound_nodes", [])
    build_shapes = getattr(layer, "_build_shapes", None)
    if not nodes and not build_shapes:
        return "?"
    if nodes:
        outputs = nodes[-1].output_tensors
        shapes = [_format_shape(_with_batch(t.shape, batch_size)) for t in outputs]
        if len(shapes) == 1:
            return shapes[0]
        return str(shapes).replace("'", "")
    try:
        if isinstance(build_shapes, dict):
            out = layer.compute_output_shape(**build_shapes)
        else:
            out = layer.compute_output_shape(build_shapes)
    except (NotImplementedError, TypeError, ValueError):
        return "?"
    flat = _flatten_shapes(out)
    if len(flat) == 1:
        return _format_shape(flat[0])
    return str([_format_shape(s) for s in flat]).replace("'", "")


def _with_batch(shape, batch_size):
    shape = tuple(shape)
    if batch_size is not None and shape and shape[0] is None:
        return (batch_size,) + shape[1:]
    return shape


def _flatten_shapes(x):
    if isinstance(x, (tuple, list)) and all(d is None or isinstance(d, int) for d in x):
        return [tuple(x)]
    if isinstance(x, dict):
        x = list(x.values())
    out = []
    for v in x:
        out.extend(_flatten_shapes(v))
    return out


def _type_name(layer) -> str:
    from shoal.models.functional_config import _is_op_node, _op_class_name

    return _op_class_name(layer) if _is_op_node(layer) else type(layer).__name__


def _parent_nodes(node):
    parents = []
    for t in node.input_tensors:
        if t._keras_history is not None:
            op, index, _ = t._keras_history
            parents.append(op._inbound_nodes[index])
    return parents


def nodes_by_depth(model) -> dict:
    """{depth: [nodes]} for a Functional model, computed as Keras' map_graph does."""
    nodes = list(model._nodes)
    in_graph = {id(n) for n in nodes}
    node_depth: dict = {}
    op_depth: dict = {}
    by_id = {id(n): n for n in nodes}
    # model._nodes is in execution order (parents first); walk it from the outputs back.
    for node in reversed(nodes):
        depth = node_depth.setdefault(id(node), 0)
        depth = max(depth, op_depth.get(id(node.operation), 0))
        op_depth[id(node.operation)] = depth
        node_depth[id(node)] = depth
        for parent in _parent_nodes(node):
            if id(parent) in in_graph:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    grouped = collections.defaultdict(list)
    for key, depth in node_depth.items():
        grouped[depth].append(by_id[key])
    return dict(grouped)


def _is_sequential_like(model, layers) -> tuple:
    from shoal.models.functional import Functional

    if not isinstance(model, Functional):
        return True, []
    grouped = nodes_by_depth(model)
    relevant = [n for v in grouped.values() for n in v]
    seen = []
    for v in grouped.values():
        if len(v) > 1 or (len(v) == 1 and len(v[0].input_tensors) > 1):
            return False, relevant
        seen += v
    seen_ids = {id(n) for n in seen}
    for layer in model.layers:
        count = sum(1 for n in layer._inbound_nodes if id(n) in seen_ids)
        if count > 1:
            return False, relevant
    return True, relevant


def _layer_range(layers, layer_range):
    if layer_range is None:
        return 0, len(layers)
    if len(layer_range) != 2:
        raise ValueError(
            "summary: argument 'layer_range' must be a list or tuple of 2 layer names; got "
            f"{layer_range!r} of length {len(layer_range)}"
        )
    if not all(isinstance(x, str) for x in layer_range):
        raise ValueError(f"summary: argument 'layer_range' must hold strings; got {layer_range!r}")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        raise ValueError(
            f"summary: 'layer_range' {layer_range!r} matches no layer names; layers are "
            f"{[layer.name for layer in layers]}"
        )
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1


def print_summary(
    model,
    line_length=None,
    positions=None,
    print_fn=None,
    expand_nested=False,
    show_trainable=False,
    layer_range=None,
):
    """Print the summary table of `model` (Keras 3's layout and numbers).

    With `print_fn`, the whole table is passed to it as one string (no colours), as
    Keras does; otherwise it is printed to the terminal with rich.
    """
    import rich.console
    import rich.markup
    import rich.table

    from shoal.models.functional import Functional

    if isinstance(model, Functional):
        layers = [op for op in model._operations]
    else:
        layers = list(model.layers)
    sequential_like, relevant = _is_sequential_like(model, layers)
    relevant_ids = {id(n) for n in relevant}

    if sequential_like:
        default_length = 88
        positions = positions or [0.45, 0.80, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #"]
        alignment = ["left", "left", "right"]
    else:
        default_length = 108
        positions = positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        alignment = ["left", "left", "right", "left"]
    if show_trainable:
        default_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        alignment.append("center")

    default_length = min(default_length, shutil.get_terminal_size().columns - 4)
    line_length = line_length or default_length
    widths, current = [], 0
    for pos in positions:
        width = int(pos * line_length) - current
        if width < 4:
            raise ValueError(
                f"summary: line_length={line_length} is too narrow for the columns at "
                f"positions={positions}."
            )
        widths.append(width)
        current += width

    columns = [
        rich.table.Column(name, justify=alignment[i], width=widths[i])
        for i, name in enumerate(header)
    ]
    table = rich.table.Table(*columns, width=line_length, show_lines=True)

    def connections(layer):
        text = ""
        for node in layer._inbound_nodes:
            if relevant_ids and id(node) not in relevant_ids:
                continue
            for t in node.input_tensors:
                op, node_index, tensor_index = t._keras_history
                if text:
                    text += ", "
                text += f"{op.name}[{_number(node_index)}][{_number(tensor_index)}]"
        return text or "-"

    def fields(layer, prefix=""):
        name = rich.markup.escape(f"{prefix}{layer.name}")
        name += f" ({_symbol(rich.markup.escape(_type_name(layer)))})"
        if not hasattr(layer, "built"):
            params = _number(0)
        elif not layer.built:
            params = f"{_number(0)} (unbuilt)"
        else:
            params = _number(f"{layer.count_params():,}")
        batch_size = getattr(model, "_called_batch_size", None) if not prefix else None
        row = [name, _layer_shape(layer, batch_size), params]
        if not sequential_like:
            row.append(connections(layer))
        if show_trainable:
            if len(getattr(layer, "weights", [])) > 0:
                row.append(_bold("Y", 34) if layer.trainable else _bold("N", 9))
            else:
                row.append(_bold("-"))
        return row

    def rows_for(layer, level=0):
        prefix = "   " * level + "└ " if level else ""
        rows = [fields(layer, prefix)]
        nested = getattr(layer, "layers", None) if expand_nested else None
        if nested:
            for sub in nested:
                rows.extend(rows_for(sub, level + 1))
        return rows

    start, stop = _layer_range(layers, layer_range)
    for layer in layers[start:stop]:
        for row in rows_for(layer):
            table.add_row(*row)

    trainable_weights = model.trainable_weights
    non_trainable_weights = model.non_trainable_weights
    trainable_count = count_params(trainable_weights)
    trainable_size = weight_memory_size(trainable_weights)
    non_trainable_count = count_params(non_trainable_weights)
    non_trainable_size = weight_memory_size(non_trainable_weights)
    optimizer = getattr(model, "optimizer", None)
    optimizer_built = bool(
        getattr(model, "compiled", False)
        and optimizer is not None
        and not isinstance(optimizer, str)
        and getattr(optimizer, "built", False)
    )
    if optimizer_built:
        opt_vars = list(optimizer.variables)
        optimizer_count = count_params(opt_vars)
        optimizer_size = weight_memory_size(opt_vars)
    else:
        optimizer_count = optimizer_size = 0
    total_count = trainable_count + non_trainable_count + optimizer_count
    total_size = trainable_size + non_trainable_size + optimizer_size

    if print_fn:
        console = rich.console.Console(highlight=False, force_terminal=False, color_system=None)
        console.begin_capture()
    else:
        console = rich.console.Console(highlight=False)
    console.print(_bold(f'Model: "{rich.markup.escape(model.name)}"'))
    console.print(table)
    console.print(
        _bold(" Total params: ")
        + _number(f"{total_count:,}")
        + f" ({readable_memory_size(total_size)})"
    )
    console.print(
        _bold(" Trainable params: ")
        + _number(f"{trainable_count:,}")
        + f" ({readable_memory_size(trainable_size)})"
    )
    console.print(
        _bold(" Non-trainable params: ")
        + _number(f"{non_trainable_count:,}")
        + f" ({readable_memory_size(non_trainable_size)})"
    )
    if optimizer_built:
        console.print(
            _bold(" Optimizer params: ")
            + _number(f"{optimizer_count:,}")
            + f" ({readable_memory_size(optimizer_size)})"
        )
    if print_fn:
        print_fn(console.end_capture())
