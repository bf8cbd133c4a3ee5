"""Emitters for LSTM, GRU and SimpleRNN.

LSTM (sigmoid gates, tanh activation, no mask, no returned states, no initial state) is
TFLite's fused UNIDIRECTIONAL_SEQUENCE_LSTM. Its h and c states are TFLite *variable*
tensors, which the kernel updates in place and which would carry over from one `invoke()`
to the next; a FILL of zeros into them before the op makes every run start from zero
states, as Keras does, and sizes them from the input's batch (so the batch size can be
resized).

Everything else is unrolled over the (fixed) timesteps into basic operators, following the
cell code of `shoal/layers/recurrent/` exactly: one FULLY_CONNECTED projects the inputs of
all timesteps (`x @ kernel + bias`), UNPACK splits them per step, and each step adds the
recurrent FULLY_CONNECTED (`h @ recurrent_kernel`) and applies the gates. The first step
skips the recurrent product (the initial state is zero). Masks (from
Embedding(mask_zero=True) or Masking) are honoured as Keras does: a masked step keeps
the states and repeats the previous output (or outputs zeros with zero_output_for_mask).
"""

from __future__ import annotations

import numpy as np

from shoal import activations as A
from shoal import layers as L
from shoal.backend.symbolic import KerasTensor
from shoal.export.layer_graph import weight
from shoal.export.tflite.builder import options_for, schema
from shoal.export.tflite.graph import fail, node_mask_source, register


def _call_arguments(layer, node) -> dict:
    try:
        return layer._call_signature.bind(*node.call_args, **node.call_kwargs).arguments
    except TypeError:
        return {}


def _initial_states(g, layer, node):
    initial = _call_arguments(layer, node).get("initial_state")
    if initial is None:
        return None
    leaves = initial if isinstance(initial, (list, tuple)) else [initial]
    if not all(isinstance(t, KerasTensor) for t in leaves):
        raise fail(layer, "initial_state must be symbolic tensors of the graph.")
    return [g.value(t) for t in leaves]


def _mask(g, layer, node):
    """The (batch, timesteps) bool mask the layer receives, or None."""
    explicit = _call_arguments(layer, node).get("mask")
    if isinstance(explicit, (list, tuple)):
        explicit = explicit[0] if explicit else None
    if isinstance(explicit, KerasTensor):
        m = g.value(explicit)
        return (
            m
            if g.dtype(m) == "bool"
            else g.op("NOT_EQUAL", [m, g.const(np.zeros((), g.dtype(m)))], g.shape(m), dtype="bool")
        )
    if explicit is not None:
        raise fail(layer, "a constant mask argument is not supported.")
    source = node_mask_source(g, node)
    return None if source is None or source == "explicit" else g.mask_of(source)


# -- the unrolled loop ---------------------------------------------------------------------


def _unrolled(g, layer, x, mask, initial, step, n_states: int):
    """Run `step(g, x_t, states) -> (output, states)` over time; returns the layer outputs.

    `x_t` are the per-step input projections (batch, gates * units); a state of None is
    zero.
    """
    cell = layer.cell
    bias = weight(cell.bias) if cell.use_bias else None
    if bias is not None and bias.ndim == 2:  # GRU reset_after: row 0 is the input bias
        bias = bias[0]
    projected = g.fully_connected(x, weight(cell.kernel), bias)  # (batch, T, gates * units)
    steps = g.unpack(projected, axis=1)
    masks = None
    if mask is not None:
        masks = [g.reshape(m, (None, 1)) for m in g.unpack(mask, axis=1)]
    order = list(range(len(steps)))
    if layer.go_backwards:
        order.reverse()
    states = initial or [None] * n_states
    zeros = None
    outputs = []
    for t in order:
        output, new_states = step(g, steps[t], states)
        if masks is not None:
            if zeros is None:
                zeros = g.batch_zeros(x, cell.units)
            keep = masks[t]
            new_states = [
                g.op("SELECT_V2", [keep, n, zeros if o is None else o], g.shape(n))
                for n, o in zip(new_states, states, strict=True)
            ]
            if layer.zero_output_for_mask:
                output = g.op("SELECT_V2", [keep, output, zeros], g.shape(output))
            elif layer.unroll:  # shoal's unrolled loop repeats the previous output (or 0)
                previous = outputs[-1] if outputs else zeros
                output = g.op("SELECT_V2", [keep, output, previous], g.shape(output))
            else:  # its scan repeats the previous first state: the kept one
                output = new_states[0]
        states = new_states
        outputs.append(output)
    result = g.pack(outputs, axis=1) if layer.return_sequences else outputs[-1]
    if layer.return_state:
        return [result, *states]
    return [result]


def _matmul(g, h, kernel, bias=None):
    return g.fully_connected(h, kernel, bias)


def _lstm_step(layer):
    cell = layer.cell
    recurrent = weight(cell.recurrent_kernel)

    def step(g, z, states):
        h, c = states
        if h is not None:
            z = g.binary("ADD", z, _matmul(g, h, recurrent))
        zi, zf, zc, zo = g.split(z, 4)
        i = g.activation(zi, cell.recurrent_activation, layer)
        f = g.activation(zf, cell.recurrent_activation, layer)
        candidate = g.binary("MUL", i, g.activation(zc, cell.activation, layer))
        c = candidate if c is None else g.binary("ADD", g.binary("MUL", f, c), candidate)
        o = g.activation(zo, cell.recurrent_activation, layer)
        h = g.binary("MUL", o, g.activation(c, cell.activation, layer))
        return h, [h, c]

    return step


def _gru_step(layer):
    cell = layer.cell
    u = cell.units
    recurrent = weight(cell.recurrent_kernel)
    bias = weight(cell.bias) if cell.use_bias else None
    one = None

    def sigma(g, v):
        return g.activation(v, cell.recurrent_activation, layer)

    def step(g, z, states):
        nonlocal one
        (h,) = states
        xz, xr, xh = g.split(z, 3)
        if cell.reset_after:
            rec_bias = None if bias is None else bias[1]
            if h is not None:
                rz, rr, rh = g.split(_matmul(g, h, recurrent, rec_bias), 3)
            elif rec_bias is not None:  # h = 0: the recurrent product is the bias alone
                rz, rr, rh = (g.const(rec_bias[k * u : (k + 1) * u], "rec_bias") for k in range(3))
            else:
                rz = rr = rh = None
            update = sigma(g, xz if rz is None else g.binary("ADD", xz, rz))
            reset = sigma(g, xr if rr is None else g.binary("ADD", xr, rr))
            inner = xh if rh is None else g.binary("ADD", xh, g.binary("MUL", reset, rh))
        else:
            if h is not None:
                rz, rr = g.split(_matmul(g, h, recurrent[:, : 2 * u]), 2)
                update = sigma(g, g.binary("ADD", xz, rz))
                reset = sigma(g, g.binary("ADD", xr, rr))
                gated = _matmul(g, g.binary("MUL", reset, h), recurrent[:, 2 * u :])
                inner = g.binary("ADD", xh, gated)
            else:
                update, inner = sigma(g, xz), xh
        candidate = g.activation(inner, cell.activation, layer)
        if one is None:
            one = g.scalar(1.0, "one")
        new = g.binary("MUL", g.binary("SUB", one, update), candidate)
        if h is not None:
            new = g.binary("ADD", g.binary("MUL", update, h), new)
        return new, [new]

    return step


def _simple_step(layer):
    cell = layer.cell
    recurrent = weight(cell.recurrent_kernel)

    def step(g, z, states):
        (h,) = states
        if h is not None:
            z = g.binary("ADD", z, _matmul(g, h, recurrent))
        out = g.activation(z, cell.activation, layer)
        return out, [out]

    return step


# -- emitters ------------------------------------------------------------------------------


def _fused_lstm(g, layer, x):
    """UNIDIRECTIONAL_SEQUENCE_LSTM with Keras' gates i, f, c, o mapped to its weights."""
    cell = layer.cell
    u = cell.units
    batch, steps, _ = g.shape(x)
    if layer.go_backwards:
        x = g.op("REVERSE_V2", [x, g.ints([1], "axis")], g.shape(x))
    kernel, recurrent = weight(cell.kernel), weight(cell.recurrent_kernel)
    bias = weight(cell.bias) if cell.use_bias else np.zeros((4 * u,), np.float32)
    gates = range(4)  # Keras order i, f, c, o == TFLite's input, forget, cell, output
    w = [g.const(kernel[:, k * u : (k + 1) * u].T, f"input_weights_{k}") for k in gates]
    r = [g.const(recurrent[:, k * u : (k + 1) * u].T, f"recurrent_weights_{k}") for k in gates]
    b = [g.const(bias[k * u : (k + 1) * u], f"gate_bias_{k}") for k in gates]
    h_state = g.m.tensor(g.name("output_state"), (batch, u))
    c_state = g.m.tensor(g.name("cell_state"), (batch, u))
    for state in (h_state, c_state):
        g.m.tensors[state].isVariable = True
        g.batch_zeros(x, u, into=state)  # zero states at every run (see the module doc)
    peephole = [-1, -1, -1]
    projection = [-1, -1]
    layer_norm = [-1, -1, -1, -1]
    inputs = [x, *w, *r, *peephole, *b, *projection, h_state, c_state, *layer_norm]
    options = options_for(
        "UnidirectionalSequenceLSTM",
        fusedActivationFunction=schema.ActivationFunctionType.TANH,
        timeMajor=False,
    )
    y = g.op("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, (batch, steps, u), options)
    if layer.return_sequences:
        return [y]
    last = g.op(
        "STRIDED_SLICE",
        [y, g.ints([0, steps - 1, 0], "begin"), g.ints([0, steps, 0], "end"), g.ints([1, 1, 1])],
        (batch, u),
        options_for("StridedSlice", beginMask=0b101, endMask=0b101, shrinkAxisMask=0b010),
    )
    return [last]


def run_rnn(g, layer, x, mask=None, initial=None) -> list:
    """The outputs of RNN layer `layer` (LSTM, GRU, SimpleRNN) on sequences `x`."""
    if layer.stateful:
        raise fail(
            layer,
            "stateful=True is not supported: a TFLite model starts every run from zero "
            "states. Export a copy built with stateful=False.",
        )
    cell = layer.cell
    if isinstance(layer, L.LSTM):
        fusable = (
            cell.recurrent_activation is A.sigmoid
            and cell.activation is A.tanh
            and not layer.return_state
            and initial is None
            and mask is None
        )
        if fusable:
            return _fused_lstm(g, layer, x)
        return _unrolled(g, layer, x, mask, initial, _lstm_step(layer), 2)
    if isinstance(layer, L.GRU):
        return _unrolled(g, layer, x, mask, initial, _gru_step(layer), 1)
    return _unrolled(g, layer, x, mask, initial, _simple_step(layer), 1)


@register(L.LSTM, L.GRU, L.SimpleRNN, mask="use")
def _rnn(g, layer, node):
    x = g.value(node.input_tensors[0])
    return run_rnn(g, layer, x, _mask(g, layer, node), _initial_states(g, layer, node))


_RNNS = (L.LSTM, L.GRU, L.SimpleRNN)


@register(L.Bidirectional, mask="use")
def _bidirectional(g, layer, node):
    forward, backward = layer.forward_layer, layer.backward_layer
    for child in (forward, backward):
        if type(child) not in _RNNS:
            raise fail(
                layer,
                f"it wraps {type(child).__name__} '{child.name}'; only LSTM, GRU and "
                "SimpleRNN layers are supported inside Bidirectional.",
            )
    x = g.value(node.input_tensors[0])
    mask = _mask(g, layer, node)
    initial = _initial_states(g, layer, node)
    half = None if initial is None else len(initial) // 2
    scope = g.scope
    try:
        g.scope = f"{scope}/{forward.name}"
        y = run_rnn(g, forward, x, mask, None if initial is None else initial[:half])
        g.scope = f"{scope}/{backward.name}"
        y_rev = run_rnn(g, backward, x, mask, None if initial is None else initial[half:])
    finally:
        g.scope = scope
    states = y[1:] + y_rev[1:]
    y, y_rev = y[0], y_rev[0]
    if layer.return_sequences:
        y_rev = g.op("REVERSE_V2", [y_rev, g.ints([1], "axis")], g.shape(y_rev))
    mode = layer.merge_mode
    if mode == "concat":
        outputs = [g.concat([y, y_rev], -1)]
    elif mode == "sum":
        outputs = [g.binary("ADD", y, y_rev)]
    elif mode == "ave":
        outputs = [g.binary("DIV", g.binary("ADD", y, y_rev), g.scalar(2.0))]
    elif mode == "mul":
        outputs = [g.binary("MUL", y, y_rev)]
    else:
        outputs = [y, y_rev]
    return outputs + states
