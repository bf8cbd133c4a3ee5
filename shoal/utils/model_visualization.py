"""`keras.utils.plot_model` / `model_to_dot`: a model's layer graph in Graphviz's DOT language.

The DOT text is written here (no pydot needed). `plot_model` saves it as is for `.dot` /
`.gv` files and renders other formats (png, svg, pdf, ...) with Graphviz's `dot` program,
which must be installed for those. `model_to_dot` returns a `pydot.Dot`, as Keras does,
and so needs pydot; `model_to_dot_text` gives the text without it.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess

import rich.text as rich_text

from shoal.models import summary

_TEXT_FORMATS = ("dot", "gv", "raw", "canon")
_RANKDIRS = ("TB", "LR", "BT", "RL")


def _layers_and_edges(model):
    """The model's layers in order and the (parent, child) layer pairs that connect them."""
    from shoal.models.functional import Functional

    layers = list(model.layers)
    if not isinstance(model, Functional):  # a Sequential not built as a graph, a subclass
        return layers, list(zip(layers, layers[1:], strict=False))
    in_graph = {id(node) for node in model._nodes}
    ids = {id(layer) for layer in layers}
    edges = []
    for layer in layers:
        for node in layer._inbound_nodes:
            if id(node) not in in_graph:
                continue
            for tensor in node.input_tensors:
                history = tensor._keras_history
                if history is not None and id(history[0]) in ids:
                    edges.append((history[0], layer))
    return layers, edges


def _shape_text(tensors) -> str:
    shapes = [str(tuple(t.shape)).replace(",)", ")") for t in tensors]
    return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"


def _label(layer, show_shapes, show_dtype, show_layer_names, show_activations, show_trainable):
    type_name = summary._type_name(layer)
    title = f"{layer.name} ({type_name})" if show_layer_names else type_name
    rows = [f"<b>{html.escape(title)}</b>"]
    if show_activations and hasattr(layer, "activation"):
        activation = getattr(layer.activation, "__name__", str(layer.activation))
        rows.append(f"Activation: {html.escape(activation)}")
    if show_dtype:
        dtype = getattr(getattr(layer, "dtype_policy", None), "name", None)
        rows.append(f"Dtype: {html.escape(str(dtype or '?'))}")
    if show_shapes:
        nodes = getattr(layer, "_inbound_nodes", [])
        if nodes:
            if nodes[-1].input_tensors:
                rows.append(f"Input shape: {html.escape(_shape_text(nodes[-1].input_tensors))}")
            rows.append(f"Output shape: {html.escape(_shape_text(nodes[-1].output_tensors))}")
        else:
            shape = summary._layer_shape(layer)
            rows.append(f"Output shape: {html.escape(rich_text.Text.from_markup(shape).plain)}")
    if show_trainable and getattr(layer, "weights", None):
        rows.append(f"Trainable: {'T' if layer.trainable else 'F'}")
    cells = "".join(f"<tr><td>{row}</td></tr>" for row in rows)
    return f'<<table border="0" cellborder="1" cellspacing="0">{cells}</table>>'


def model_to_dot_text(
    model,
    show_shapes=False,
    show_dtype=False,
    show_layer_names=True,
    rankdir="TB",
    dpi=200,
    show_layer_activations=False,
    show_trainable=False,
) -> str:
    """The DOT text of `model`'s layer graph (one node per layer, edges along the data)."""
    if rankdir not in _RANKDIRS:
        raise ValueError(
            f"plot_model: argument 'rankdir' must be one of {_RANKDIRS}, got {rankdir!r}"
        )
    if not getattr(model, "built", False):
        raise ValueError(
            f"plot_model: model {model.name!r} is not built yet; call it on data or build it "
            "with an input shape first"
        )
    layers, edges = _layers_and_edges(model)
    lines = [
        f"digraph {_quote(model.name)} {{",
        f'  graph [rankdir="{rankdir}", dpi={int(dpi)}, concentrate=true];',
        '  node [shape="plaintext"];',
    ]
    for layer in layers:
        label = _label(
            layer, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable
        )
        lines.append(f"  {_quote(layer.name)} [label={label}];")
    for parent, child in dict.fromkeys(edges):  # each connection once, in order
        lines.append(f"  {_quote(parent.name)} -> {_quote(child.name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(name) -> str:
    return '"' + str(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


def model_to_dot(
    model,
    show_shapes=False,
    show_dtype=False,
    show_layer_names=True,
    rankdir="TB",
    expand_nested=False,
    dpi=200,
    subgraph=False,
    show_layer_activations=False,
    show_trainable=False,
    **kwargs,
):
    """`model` as a `pydot.Dot` graph (needs pydot; see `model_to_dot_text` otherwise)."""
    try:
        import pydot
    except ImportError as err:
        raise ImportError(
            "model_to_dot returns a pydot graph: install pydot (`pip install pydot`), or use "
            "shoal.utils.model_visualization.model_to_dot_text for the DOT text"
        ) from err
    text = model_to_dot_text(
        model,
        show_shapes,
        show_dtype,
        show_layer_names,
        rankdir,
        dpi,
        show_layer_activations,
        show_trainable,
    )
    return pydot.graph_from_dot_data(text)[0]


def plot_model(
    model,
    to_file="model.png",
    show_shapes=False,
    show_dtype=False,
    show_layer_names=True,
    rankdir="TB",
    expand_nested=False,
    dpi=200,
    show_layer_activations=False,
    show_trainable=False,
    **kwargs,
):
    """Write a diagram of `model`'s layers to `to_file`, in the format its extension names.

    `.dot` / `.gv` files get the DOT text; other formats are rendered by Graphviz's `dot`
    program (install Graphviz for png, svg, pdf, ...). In a notebook the image is returned
    for display (png only), as in Keras.
    """
    text = model_to_dot_text(
        model,
        show_shapes,
        show_dtype,
        show_layer_names,
        rankdir,
        dpi,
        show_layer_activations,
        show_trainable,
    )
    extension = os.path.splitext(str(to_file))[1][1:].lower() or "png"
    if extension in _TEXT_FORMATS:
        with open(to_file, "w", encoding="utf-8") as file:
            file.write(text)
        return None
    program = shutil.which("dot")
    if program is None:
        raise ImportError(
            f"plot_model: writing {os.fspath(to_file)!r} as {extension} needs Graphviz's `dot` "
            "program (install Graphviz, e.g. `apt install graphviz`); a '.dot' file name "
            "writes the graph as text without it"
        )
    result = subprocess.run(
        [program, f"-T{extension}", "-o", os.fspath(to_file)],
        input=text.encode(),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise ValueError(
            f"plot_model: Graphviz could not write {os.fspath(to_file)!r} as {extension}: "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    if extension == "png":
        try:  # in IPython, show it
            from IPython import display

            return display.Image(filename=to_file)
        except ImportError:
            pass
    return None
