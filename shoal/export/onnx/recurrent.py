"""SimpleRNN / GRU / LSTM (and `RNN` over their cells) and `Bidirectional`.

Unmasked layers whose activations ONNX RNN operators know become the native `RNN`, `GRU`
and `LSTM` operators (a Bidirectional pair becomes one operator with
direction="bidirectional"). Keras' weights are converted: kernels transposed, LSTM gates
reordered from Keras' i, f, c, o to ONNX's i, o, f, c, GRU's z, r, h kept, with
`linear_before_reset=1` and the second bias row as the recurrent bias when
`reset_after=True`.

Masked inputs (Embedding(mask_zero=True), Masking) cannot use the native operators: their
`sequence_lens` only models right padding, while Keras skips masked steps anywhere. Those
layers (and layers with activations the operators lack) are written as an ONNX `Scan`
over the cell's step with Keras' masking rule: a masked step keeps every state and
outputs the previous output (zeros with `zero_output_for_mask`, as Bidirectional sets).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from onnx import TensorProto, helper

from shoal.backend.symbolic import KerasTensor
from shoal.export.layer_graph import weight
from shoal.export.onnx.activation import activation_name, apply_activation, can_apply
from shoal.export.onnx.graph import ExportError, label, register
from shoal.layers.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell
from shoal.layers.wrappers import Bidirectional

TIME_MAJOR = (1, 0, 2)  # (batch, time, features) <-> (time, batch, features)
_NATIVE_ACTIVATIONS = {
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "relu": "Relu",
    "softsign": "Softsign",
    "softplus": "Softplus",
}
_KINDS = {LSTMCell: "LSTM", GRUCell: "GRU", SimpleRNNCell: "RNN"}
_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


@dataclasses.dataclass
class Cell:
    """A built-in cell's weights and options, as the exporter needs them."""

    kind: str  # ONNX operator: "LSTM", "GRU" or "RNN"
    units: int
    kernel: np.ndarray  # (features, gates * units), Keras gate order
    recurrent: np.ndarray  # (units, gates * units)
    bias: np.ndarray | None  # (gates * units,), or (2, 3 * units) for GRU reset_after
    activation: object
    recurrent_activation: object
    reset_after: bool

    @property
    def activations(self) -> list:
        if self.kind == "LSTM":
            return [self.recurrent_activation, self.activation, self.activation]
        if self.kind == "GRU":
            return [self.recurrent_activation, self.activation]
        return [self.activation]

    @property
    def native_activations(self):
        names = [_NATIVE_ACTIVATIONS.get(activation_name(fn)) for fn in self.activations]
        return None if None in names else names


def _cell(layer) -> Cell:
    if getattr(layer, "stateful", False):
        raise ExportError(
            f"export (onnx): {label(layer)} is stateful; its state lives between batches, "
            "which an ONNX graph cannot hold. Export a stateless copy of the model."
        )
    cell = getattr(layer, "cell", None)
    kind = _KINDS.get(type(cell))
    if kind is None:
        raise ExportError(
            f"export (onnx): {label(layer)} runs cell {type(cell).__name__}; only the "
            "built-in SimpleRNNCell, GRUCell and LSTMCell can be exported"
        )
    spec = Cell(
        kind=kind,
        units=int(cell.units),
        kernel=weight(cell.kernel),
        recurrent=weight(cell.recurrent_kernel),
        bias=weight(cell.bias),
        activation=cell.activation,
        recurrent_activation=getattr(cell, "recurrent_activation", None),
        reset_after=bool(getattr(cell, "reset_after", False)),
    )
    for fn in spec.activations:
        if not can_apply(fn):
            apply_activation(None, fn, "", 2, owner=layer)  # raises the activation error
    return spec


# -- native operators -------------------------------------------------------------------


def _gate_blocks(matrix: np.ndarray, cell: Cell) -> np.ndarray:
    """Reorder gate blocks along the last axis from Keras' order to ONNX's."""
    if cell.kind != "LSTM":
        return matrix
    i, f, c, o = np.split(matrix, 4, axis=-1)
    return np.concatenate([i, o, f, c], axis=-1)


def _native_weights(cell: Cell):
    w = _gate_blocks(cell.kernel, cell).T  # (gates * units, features)
    r = _gate_blocks(cell.recurrent, cell).T
    width = _GATES[cell.kind] * cell.units
    wb, rb = np.zeros(width, np.float32), np.zeros(width, np.float32)
    if cell.bias is not None:
        if cell.kind == "GRU" and cell.reset_after:
            wb, rb = cell.bias[0], cell.bias[1]
        else:
            wb = _gate_blocks(cell.bias, cell)
    return w, r, np.concatenate([wb, rb])


def _native(g, cells: list, x_tm: str, direction: str, initial: list | None, want_seq: bool):
    """Run the native operator; returns (Y (time, dirs, batch, units) or None, [Y_h, Y_c])."""
    kind = cells[0].kind
    weights = [_native_weights(c) for c in cells]
    w = g.const(np.stack([wt[0] for wt in weights]), "W")
    r = g.const(np.stack([wt[1] for wt in weights]), "R")
    b = g.const(np.stack([wt[2] for wt in weights]), "B")
    inputs = [x_tm, w, r, b]
    if initial:
        inputs += [""] + initial  # no sequence_lens: every step is used
    n_states = 2 if kind == "LSTM" else 1
    outs = [g.fresh("Y") if want_seq else ""] + [g.fresh("Y_h")]
    if n_states == 2:
        outs.append(g.fresh("Y_c"))
    attrs = {
        "hidden_size": cells[0].units,
        "direction": direction,
        "activations": sum((c.native_activations for c in cells), []),
    }
    if kind == "GRU":
        attrs["linear_before_reset"] = int(cells[0].reset_after)
    g.op(kind, inputs, outputs=outs, **attrs)
    return (outs[0] or None), outs[1:]


def _native_direction(g, cell: Cell, x_tm, initial, want_seq):
    """One direction: (sequence (time, batch, units) or None, [states (batch, units)])."""
    init = [g.unsqueeze(s, [0]) for s in initial] if initial else None
    y, states = _native(g, [cell], x_tm, "forward", init, want_seq)
    seq = g.squeeze(y, [1]) if y is not None else None
    return seq, [g.squeeze(s, [0]) for s in states]


# -- Scan: the cell step written out, with Keras' masking ---------------------------------


def _zeros_state(g, x_tm: str, units: int) -> str:
    batch = g.op("Slice", [g.op("Shape", [x_tm]), g.ints([1], "starts"), g.ints([2], "ends")])
    shape = g.op("Concat", [batch, g.ints([units], "units")], axis=0)
    zero = helper.make_tensor("value", TensorProto.FLOAT, [1], [0.0])
    return g.op("ConstantOfShape", [shape], value=zero)


def _step(b, cell: Cell, z_t: str, states: list) -> list:
    """One Keras step in the body builder `b`: (projected input, states) -> new states."""
    u = cell.units
    act = cell.activation
    rec_act = cell.recurrent_activation

    def split(x, n):
        return b.op("Split", [x, b.ints([u] * n, "split")], n_out=n, axis=1)

    def f(fn, x):
        return apply_activation(b, fn, x, 2)

    h = states[0]
    if cell.kind == "RNN":
        rec = b.op("MatMul", [h, b.const(cell.recurrent, "recurrent_kernel")])
        return [f(act, b.op("Add", [z_t, rec]))]
    if cell.kind == "LSTM":
        c = states[1]
        z = b.op("Add", [z_t, b.op("MatMul", [h, b.const(cell.recurrent, "recurrent_kernel")])])
        zi, zf, zc, zo = split(z, 4)
        i, fg, o = f(rec_act, zi), f(rec_act, zf), f(rec_act, zo)
        c2 = b.op("Add", [b.op("Mul", [fg, c]), b.op("Mul", [i, f(act, zc)])])
        return [b.op("Mul", [o, f(act, c2)]), c2]
    # GRU
    xz, xr, xh = split(z_t, 3)
    if cell.reset_after:
        rec = b.op("MatMul", [h, b.const(cell.recurrent, "recurrent_kernel")])
        if cell.bias is not None:
            rec = b.op("Add", [rec, b.const(cell.bias[1], "recurrent_bias")])
        rz, rr, rh = split(rec, 3)
        update = f(rec_act, b.op("Add", [xz, rz]))
        reset = f(rec_act, b.op("Add", [xr, rr]))
        candidate = f(act, b.op("Add", [xh, b.op("Mul", [reset, rh])]))
    else:
        rec = b.op("MatMul", [h, b.const(cell.recurrent[:, : 2 * u], "recurrent_kernel_zr")])
        rz, rr = split(rec, 2)
        update = f(rec_act, b.op("Add", [xz, rz]))
        reset = f(rec_act, b.op("Add", [xr, rr]))
        kernel_h = b.const(cell.recurrent[:, 2 * u :], "recurrent_kernel_h")
        candidate = f(act, b.op("Add", [xh, b.op("MatMul", [b.op("Mul", [reset, h]), kernel_h])]))
    # h' = z * h + (1 - z) * candidate
    keep = b.op("Mul", [update, h])
    new = b.op("Mul", [b.op("Sub", [b.scalar(1.0), update]), candidate])
    return [b.op("Add", [keep, new])]


def _scan_direction(g, cell: Cell, x_tm, mask_tm, initial, zero_output: bool):
    """(sequence (time, batch, units), [final states]) by an ONNX Scan over the steps."""
    u = cell.units
    z = g.op("MatMul", [x_tm, g.const(cell.kernel, "kernel")])
    if cell.bias is not None:
        input_bias = cell.bias[0] if (cell.kind == "GRU" and cell.reset_after) else cell.bias
        z = g.op("Add", [z, g.const(input_bias, "bias")])
    n_states = 2 if cell.kind == "LSTM" else 1
    init = list(initial) if initial else [_zeros_state(g, x_tm, u) for _ in range(n_states)]

    b = g.subgraph()
    state_in = [b.fresh(f"state{k}_in") for k in range(n_states)]
    z_t = b.fresh("z_t")
    m_t = b.fresh("mask_t") if mask_tm is not None else None
    new_states = _step(b, cell, z_t, state_in)
    if m_t is not None:
        # Keras: a masked step keeps the states; it outputs the previous output (= state 0).
        kept = [b.op("Where", [m_t, n, o]) for n, o in zip(new_states, state_in, strict=True)]
        if zero_output:
            out = b.op("Where", [m_t, new_states[0], b.scalar(0.0)])
        else:
            out = b.op("Identity", [kept[0]])
        new_states = kept
    else:
        out = b.op("Identity", [new_states[0]])
    states_out = [b.op("Identity", [s]) for s in new_states]

    def info(name, elem=TensorProto.FLOAT, dims=(None, u)):
        return helper.make_tensor_value_info(name, elem, list(dims))

    body_inputs = [info(s) for s in state_in] + [info(z_t, dims=(None, _GATES[cell.kind] * u))]
    if m_t is not None:
        body_inputs.append(info(m_t, TensorProto.BOOL, (None, 1)))
    body_outputs = [info(s) for s in states_out] + [info(out)]
    body = helper.make_graph(b.nodes, g.fresh("step"), body_inputs, body_outputs)

    scan_inputs = [z] + ([mask_tm] if mask_tm is not None else [])
    outs = [g.fresh("state_final") for _ in range(n_states)] + [g.fresh("Y")]
    g.op("Scan", init + scan_inputs, outputs=outs, body=body, num_scan_inputs=len(scan_inputs))
    return outs[-1], outs[:-1]


# -- layers -------------------------------------------------------------------------------


def _call_parts(node):
    """(sequence tensor, initial-state tensors or None) of an RNN / Bidirectional call."""
    args, kwargs = list(node.call_args), dict(node.call_kwargs)
    seq = args[0] if args else kwargs.get("sequences")
    initial = args[1] if len(args) > 1 else kwargs.get("initial_state")
    if initial is None:
        return seq, None
    initial = list(initial) if isinstance(initial, (list, tuple)) else [initial]
    if not all(isinstance(t, KerasTensor) for t in initial):
        raise ExportError("export (onnx): an RNN's initial_state must come from the graph")
    return seq, initial


def _mask_time_major(g, mask):
    if mask is None:
        return None
    return g.unsqueeze(g.transpose(mask, (1, 0)), [2])  # (time, batch, 1)


def _direction(g, layer, cell: Cell, seq, mask, initial, want_seq: bool):
    """Keras' run of one RNN layer: (sequence in processing order (time-major), last, states).

    With go_backwards the steps are processed last to first and the sequence output is in
    processing order, exactly as Keras returns it.
    """
    x_tm = g.value(seq, TIME_MAJOR)
    mask_tm = _mask_time_major(g, mask)
    if layer.go_backwards:
        x_tm = g.reverse(x_tm, 0)
        mask_tm = g.reverse(mask_tm, 0) if mask_tm is not None else None
    init = [g.value(t) for t in initial] if initial else None
    zero_output = bool(getattr(layer, "zero_output_for_mask", False))
    if mask_tm is None and cell.native_activations is not None:
        seq_out, states = _native_direction(g, cell, x_tm, init, want_seq)
        return seq_out, states[0], states
    seq_out, states = _scan_direction(g, cell, x_tm, mask_tm, init, zero_output)
    if zero_output and mask_tm is not None:
        # Keras' last output is the output of the last step: zeros if it was masked.
        last = g.op("Gather", [seq_out, g.const(np.asarray(-1, np.int64), "last")], axis=0)
    else:
        last = states[0]
    return seq_out, last, states


@register(RNN, SimpleRNN, GRU, LSTM, mask="use")
def _rnn_layer(g, layer, inputs, outputs, node):
    cell = _cell(layer)
    seq, initial = _call_parts(node)
    mask = g.node_mask(node)
    seq_out, last, states = _direction(
        g, layer, cell, seq, mask, initial, want_seq=layer.return_sequences
    )
    if layer.return_sequences:
        g.set(outputs[0], seq_out, TIME_MAJOR)
    else:
        g.set(outputs[0], last)
    if layer.return_state:
        for t, s in zip(outputs[1:], states, strict=True):
            g.set(t, s)


def _fusable(fwd, bwd, cells, mask) -> bool:
    a, b = cells
    return (
        mask is None
        and not fwd.go_backwards
        and bwd.go_backwards
        and a.kind == b.kind
        and a.units == b.units
        and a.reset_after == b.reset_after
        and a.native_activations is not None
        and a.native_activations == b.native_activations
    )


def _halves(g, x, axis):
    """The two directions of a bidirectional output, split along `axis` and squeezed."""
    parts = g.op("Split", [x, g.ints([1, 1], "split")], n_out=2, axis=axis)
    return g.squeeze(parts[0], [axis]), g.squeeze(parts[1], [axis])


def _merge(g, mode, y, y_rev):
    if mode == "concat":
        return g.op("Concat", [y, y_rev], axis=-1)
    if mode == "sum":
        return g.op("Add", [y, y_rev])
    if mode == "ave":
        return g.op("Div", [g.op("Add", [y, y_rev]), g.scalar(2.0)])
    return g.op("Mul", [y, y_rev])


@register(Bidirectional, mask="use")
def _bidirectional(g, layer, inputs, outputs, node):
    fwd, bwd = layer.forward_layer, layer.backward_layer
    for child in (fwd, bwd):
        if type(child) not in (RNN, SimpleRNN, GRU, LSTM):
            raise ExportError(
                f"export (onnx): {label(layer)} wraps {label(child)}; only RNN, SimpleRNN, "
                "GRU and LSTM can be exported inside Bidirectional"
            )
    cells = [_cell(fwd), _cell(bwd)]
    seq, initial = _call_parts(node)
    half = len(initial) // 2 if initial else 0
    inits = [initial[:half], initial[half:]] if initial else [None, None]
    mask = g.node_mask(node)
    want_seq = layer.return_sequences
    if _fusable(fwd, bwd, cells, mask):
        init = None
        if initial:  # (2, batch, units): forward state, then backward state
            init = [
                g.op("Concat", [g.unsqueeze(g.value(t), [0]) for t in pair], axis=0)
                for pair in zip(inits[0], inits[1], strict=True)
            ]
        y, finals = _native(g, cells, g.value(seq, TIME_MAJOR), "bidirectional", init, want_seq)
        finals = [_halves(g, f, 0) for f in finals]  # [(forward, backward) per state]
        fwd_states, bwd_states = [f[0] for f in finals], [f[1] for f in finals]
        # The backward direction's Y is in input-time order already: what Keras' flip of
        # the go_backwards output gives.
        y_f, y_b = _halves(g, y, 1) if want_seq else (fwd_states[0], bwd_states[0])
    else:
        seq_f, last_f, fwd_states = _direction(g, fwd, cells[0], seq, mask, inits[0], want_seq)
        seq_b, last_b, bwd_states = _direction(g, bwd, cells[1], seq, mask, inits[1], want_seq)
        if want_seq:
            y_f, y_b = seq_f, g.reverse(seq_b, 0)  # Keras flips the backward sequence
        else:
            y_f, y_b = last_f, last_b
    perm = TIME_MAJOR if want_seq else None
    if layer.merge_mode is None:
        g.set(outputs[0], y_f, perm)
        g.set(outputs[1], y_b, perm)
        rest = outputs[2:]
    else:
        g.set(outputs[0], _merge(g, layer.merge_mode, y_f, y_b), perm)
        rest = outputs[1:]
    if layer.return_state:
        for t, s in zip(rest, fwd_states + bwd_states, strict=True):
            g.set(t, s)
