"""The fast path of `RNN` over a fused cell: projection and recurrence as ONE `custom_vjp`.

JAX's own derivative of a `lax.scan` keeps one residual buffer per intermediate of the
step (each a fresh zero-filled `(time, batch, ...)` buffer) and, on XLA:CPU, spends most
of a step launching small kernels (each gate slice, its transpose padded back and added).
Here the backward pass is written out:

- the input projection `x @ kernel` is ONE matmul inside the custom VJP, so that its
  bias is added inside the loop (not in a pass over the projection) and the forward
  loop can overwrite the projection, in place, with the step's pre-activations (for
  additive cells `g = z + input bias + h @ recurrent_kernel`; else it keeps `z` and saves
  `r`, the recurrent part), besides the previous states: few, wide residuals, and no
  zero-filled buffer for the largest one;
- when every gate's activation is a sigmoid or a tanh (LSTM's and SimpleRNN's defaults),
  the forward loop activates all gates in one kernel and saves the activated gates
  instead (`tanh_form.py`), so the reverse loop multiplies by derivatives computed from
  them rather than recomputing the activations;
- a reverse loop redoes a step's pointwise math from them and takes its VJP (`jax.vjp`
  of the cell's per-gate formula, so any activation is differentiated exactly), then
  does ONE matmul `dr @ recurrent_kernel.T` for the previous `h`;
- a step reads each gate of a saved buffer as its own dynamic slice: XLA:CPU emits
  scalar code for a kernel that takes several static slices of one dynamic slice;
- the kernels' gradients are one matmul each over all timesteps and samples after the
  loop (`x^T @ dz`, `H_prev^T @ dr`), not sums carried through the loop;
- a long sequence runs in pieces (`piece_bounds`), each its own forward and reverse
  loop: XLA:CPU runs a loop's steps on one core, and runs a piece's matmuls (its
  projection, its share of those gradients and of the inputs' gradient) on the other
  cores while the next piece's loop runs. The benchmark's LSTM step (80 steps, 4 pieces)
  measured 14.6 vs 16.5 ms per step (medians of 8 epochs, alternated in one process).

The cell describes its step with a `StepMath` (`FusedRNNCell.step_math()`): `wide`, the
step on the `(batch, gates * units)` arrays the forward loop uses, and `per_gate`, the
same math on one `(batch, units)` array per gate, whose VJP concatenates the gates'
cotangents (the VJP of `wide`'s gate slices would pad and add them, kernel by kernel).

Covered: `unroll=False`, any activations, masks (a masked step keeps the states; the
output is the carried state, or zeros with `zero_output_for_mask`), `go_backwards`,
sequences or last output, states, initial states, one input dropout mask and one
recurrent dropout mask. Per-gate dropout masks (LSTM/GRU `recurrent_dropout`) and
`unroll=True` take the generic loop (`rnn.run_loop`). Forward-mode differentiation
(`jax.jvp`) of a fused recurrence is not available (a `custom_vjp` limitation);
`general_path_only()`, or `SHOAL_RNN_FAST_PATH=0` in the environment, traces the generic
loop instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from shoal.backend.switches import Switch
from shoal.layers.recurrent import tanh_form

_SWITCH = Switch("SHOAL_RNN_FAST_PATH")


def general_path_only():
    """Trace fused recurrent layers with the generic loop (autodiff of a scan) inside."""
    return _SWITCH.off()


def enabled() -> bool:
    """Whether `RNN` may take the fast path (see `general_path_only`)."""
    return _SWITCH.on


@dataclasses.dataclass(frozen=True)
class StepMath:
    """A fused cell's step after the recurrent matmul, for the fast path.

    `r = (h * rec_mask) @ recurrent_kernel (+ recurrent bias)`, `z` the projected input
    (with its bias). With `additive=True` the step depends on `z` and `r` only through
    `g = z + r`: `wide(g, None, states)` and `per_gate(g_gates, None, states)`. Else
    `wide(z, r, states)` and `per_gate(z_gates, r_gates, states)`. Both return the new
    states as a list, `h` (the output) first.

    An additive cell may also give `activations` (one per gate) and `combine(activated
    gates, states)`, the step after them: when they are all sigmoid or tanh, the fast path
    activates the gates in one kernel and saves them (`tanh_form.py`).
    """

    gates: int
    additive: bool
    wide: Callable
    per_gate: Callable
    activations: tuple | None = None
    combine: Callable | None = None


# The recurrence runs as up to PIECES consecutive loops of at least MIN_PIECE_STEPS steps
# each. XLA:CPU runs a loop on one core, and a piece's matmuls (its input projection
# before its loop; after its reverse loop, its share of the input and weight gradients)
# do not depend on the next piece's loop, so they run on the other cores meanwhile.
PIECES = 4
MIN_PIECE_STEPS = 8


def piece_bounds(steps):
    """[(first, end)] processing steps of each piece of a `steps`-long recurrence."""
    count = max(1, min(PIECES, steps // MIN_PIECE_STEPS))
    edges = [steps * k // count for k in range(count + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _at(buffer, t):
    """buffer[t]."""
    return lax.dynamic_index_in_dim(buffer, t, keepdims=False)


def _gates_at(buffer, t, gates):
    """The `gates` equal column blocks of buffer[t], each its own dynamic slice.

    XLA:CPU does not vectorize a kernel that reads several static slices of one dynamic
    slice (the loop index is reloaded for every element): ~10x slower per kernel.
    """
    _, batch, width = buffer.shape
    units = width // gates
    return [
        lax.dynamic_slice(buffer, (t, 0, k * units), (1, batch, units))[0] for k in range(gates)
    ]


def _put_gates(buffer, blocks, t):
    """buffer with buffer[t] = concatenate(blocks, -1), one update per block."""
    for k, block in enumerate(blocks):
        offset = k * block.shape[-1]
        buffer = lax.dynamic_update_slice(buffer, block[None].astype(buffer.dtype), (t, 0, offset))
    return buffer


def _put(buffer, value, t):
    """buffer with buffer[t] = value."""
    return lax.dynamic_update_index_in_dim(buffer, value.astype(buffer.dtype), t, axis=0)


def _where(mask_t, new, old):
    return jnp.where(mask_t[:, None], new, old)


def _recurrence(math, go_backwards, return_sequences, has):
    """The custom_vjp function of `(x, kernel, recurrent_kernel, *optional, *states)`.

    `x` and `mask` are time-major. `has` names the optional arguments given, in the
    order input_bias, recurrent_bias, mask, rec_mask. Returns `(outputs, final_states)`
    with `return_sequences` (outputs time-major, in processing order), else
    `final_states`.
    """
    gates, additive = math.gates, math.additive
    optional = ("input_bias", "recurrent_bias", "mask", "rec_mask")
    # Activated gates saved (instead of pre-activations) when they are sigmoid/tanh.
    form = tanh_form.of(math.activations) if additive and math.combine else None

    def unpack(args):
        x, kernel, recurrent_kernel, *rest = args
        named = dict.fromkeys(optional)
        for name in (n for n in optional if n in has):
            named[name] = rest.pop(0)
        return x, kernel, recurrent_kernel, named, rest

    def time_of(j, steps):
        return steps - 1 - j if go_backwards else j

    def time_span(first, end, steps):  # the timesteps of processing steps [first, end)
        return (steps - end, steps - first) if go_backwards else (first, end)

    def recurrent_part(h, recurrent_kernel, named):
        rec_mask, bias = named["rec_mask"], named["recurrent_bias"]
        r = (h if rec_mask is None else h * rec_mask) @ recurrent_kernel
        return r if bias is None else r + bias

    def input_gates(xs, t, named):  # xs[t] (+ input bias), gate by gate
        z = _gates_at(xs, t, gates)
        if named["input_bias"] is None:
            return z
        return [a + b for a, b in zip(z, jnp.split(named["input_bias"], gates), strict=True)]

    def forward(args, save):
        x, kernel, recurrent_kernel, named, states = unpack(args)
        steps, batch = x.shape[:2]
        outputs = None
        if return_sequences:
            outputs = jnp.zeros((steps, batch, states[0].shape[-1]), states[0].dtype)
        pieces = []
        for first, end in piece_bounds(steps):
            lo, hi = time_span(first, end, steps)
            # Each piece's projection is its own matmul: it runs while the previous
            # piece's loop does.
            xs = x[lo:hi] @ kernel
            mask = None if named["mask"] is None else named["mask"][lo:hi]
            states, outputs, saved = forward_piece(
                xs, mask, recurrent_kernel, named, states, outputs, first, save
            )
            pieces.append(saved)
        return states, outputs, pieces

    def forward_piece(xs, mask, recurrent_kernel, named, states, outputs, first, save):
        """The loop over one piece: `xs` its projected inputs, `first` its first step."""
        steps, batch = xs.shape[:2]

        def zeros(width, dtype):
            return jnp.zeros((steps, batch, width), dtype)

        # Residuals: the pre-activations (for additive cells in place of the
        # projection, and activated when in tanh form), the states each step started
        # from; and the outputs.
        if not save:
            pre = None
        elif additive:
            pre = xs
        else:
            pre = zeros(xs.shape[-1], xs.dtype)
        previous = [zeros(s.shape[-1], s.dtype) for s in states] if save else []

        def body(carry, j):
            states, pre, previous, outputs = carry
            t = time_of(j, steps)
            r = recurrent_part(states[0], recurrent_kernel, named)
            # Read gate by gate (`_gates_at`): the cell's formula slices `z`.
            source = xs if pre is None or not additive else pre
            z = jnp.concatenate(input_gates(source, t, named), axis=-1)
            if not additive:
                new = math.wide(z, r, states)
                if save:
                    pre = _put(pre, r, t)
            elif form is not None:
                act = form.activate(z + r)
                if save:
                    pre = _put(pre, act, t)
                    acts = _gates_at(pre, t, gates)  # read back, as below
                else:
                    acts = jnp.split(act, gates, axis=-1)
                new = math.combine(acts, states)
            elif save:
                pre = _put(pre, z + r, t)
                # Read back rather than reuse: only the update reads the old slot, so
                # XLA updates the buffer in place instead of copying it every step.
                new = math.wide(jnp.concatenate(_gates_at(pre, t, gates), axis=-1), None, states)
            else:
                new = math.wide(z + r, None, states)
            if save:
                previous = [_put(b, s, t) for b, s in zip(previous, states, strict=True)]
            new = [n.astype(s.dtype) for n, s in zip(new, states, strict=True)]
            if mask is not None:
                new = [_where(_at(mask, t), n, s) for n, s in zip(new, states, strict=True)]
            if return_sequences:
                outputs = _put(outputs, new[0], first + j)
            return (new, pre, previous, outputs), None

        carry = (list(states), pre, previous, outputs)
        (final, pre, previous, outputs), _ = lax.scan(body, carry, jnp.arange(steps))
        return final, outputs, (None if additive else xs, pre, previous)

    def primal(*args):
        final, outputs, _ = forward(args, save=False)
        return (outputs, final) if return_sequences else final

    def fwd(*args):
        final, outputs, pieces = forward(args, save=True)
        x, kernel, recurrent_kernel, named, _ = unpack(args)
        residuals = (x, kernel, recurrent_kernel, named, pieces)
        return ((outputs, final) if return_sequences else final), residuals

    def step_vjp(z_gates, pre_gates, states, d_new):
        """(dz, dr, d_states) of one step, by the VJP of the per-gate formula."""
        if additive:
            primals = (*pre_gates, *states)
        else:
            primals = (*z_gates, *pre_gates, *states)
        n_gates = len(primals) - len(states)

        def step(*a):
            gate_args = list(a[:n_gates])
            zs, rs = (gate_args, None) if additive else (gate_args[:gates], gate_args[gates:])
            return math.per_gate(zs, rs, list(a[n_gates:]))

        _, vjp = jax.vjp(step, *primals)
        d = vjp(list(d_new))
        dz = jnp.concatenate(d[:gates], axis=-1)
        dr = dz if additive else jnp.concatenate(d[gates:n_gates], axis=-1)
        return dz, dr, list(d[n_gates:])

    def activated_step_vjp(acts, states, d_new):
        """(dz, dz, d_states) of one step from its saved activated gates (tanh form)."""

        def step(*a):
            return math.combine(list(a[:gates]), list(a[gates:]))

        _, vjp = jax.vjp(step, *acts, *states)
        d = vjp(list(d_new))
        dz = [form.derivative(k, y) * d[k] for k, y in enumerate(acts)]
        return dz, dz, list(d[gates:])

    def backward_piece(saved, named, recurrent_kernel, mask, d_outputs, first, d_states):
        """The reverse loop over one piece: (d_states at its start, dz, d_pre)."""
        xs, pre, previous = saved
        rec_mask = named["rec_mask"]
        steps = pre.shape[0]
        # Written into fresh buffers, not over `pre`: a step reads its slot of `pre` in
        # several kernels, and overwriting it would make XLA copy `pre` every step.
        d_pre = jnp.zeros_like(pre)
        d_xs = None if additive else jnp.zeros_like(pre)

        def body(carry, i):
            # d_states: the cotangents of the states this step produced; the step's
            # own formula and the next step's matmul are summed into the first (`h`)
            # before it is carried, so a formula that does not read `h` (an LSTM's)
            # carries no zeros from one step to the next.
            d_states, d_pre, d_xs = carry
            j = steps - 1 - i
            t = time_of(j, steps)
            dh = d_states[0]
            if d_outputs is not None:
                dh = dh + _at(d_outputs, first + j)
            d_new = [dh, *d_states[1:]]
            if mask is not None:  # a masked step passes the states' cotangents through
                m = _at(mask, t)
                d_kept = [_where(m, jnp.zeros_like(d), d) for d in d_new]
                d_new = [_where(m, d, jnp.zeros_like(d)) for d in d_new]
            states = [_at(b, t) for b in previous]
            if form is not None:
                dz, dr, d_states = activated_step_vjp(_gates_at(pre, t, gates), states, d_new)
            else:
                z_gates = None if additive else input_gates(xs, t, named)
                dz, dr, d_states = step_vjp(z_gates, _gates_at(pre, t, gates), states, d_new)
            if mask is not None:
                d_states = [a + b for a, b in zip(d_states, d_kept, strict=True)]
            if form is not None:  # gate by gate: each written by the kernel computing it
                d_pre = _put_gates(d_pre, dr, t)
            else:
                d_pre = _put(d_pre, dr, t)
            if not additive:
                d_xs = _put(d_xs, dz, t)
            dh_matmul = lax.dot_general(_at(d_pre, t), recurrent_kernel, (((1,), (1,)), ((), ())))
            if rec_mask is not None:
                dh_matmul = dh_matmul * rec_mask
            return ([d_states[0] + dh_matmul, *d_states[1:]], d_pre, d_xs), None

        init = (list(d_states), d_pre, d_xs)
        (d_states, d_pre, d_xs), _ = lax.scan(body, init, jnp.arange(steps))
        return d_states, (d_pre if additive else d_xs), d_pre

    def bwd(residuals, cotangents):
        x, kernel, recurrent_kernel, named, pieces = residuals
        d_outputs, d_states = cotangents if return_sequences else (None, cotangents)
        rec_mask = named["rec_mask"]
        steps = x.shape[0]

        def weight_grad(inputs, d):  # one matmul over the piece's samples and timesteps
            return inputs.reshape(-1, inputs.shape[-1]).T @ d.reshape(-1, d.shape[-1])

        # Per piece, last first; each piece's matmuls run while the next piece's loop does.
        # `grads`: the kernel's, the recurrent kernel's and the biases', summed over pieces.
        biases = [name for name in ("input_bias", "recurrent_bias") if name in has]
        d_x, grads = [], None
        bounds = piece_bounds(steps)
        for (first, end), saved in zip(reversed(bounds), reversed(pieces), strict=True):
            lo, hi = time_span(first, end, steps)
            mask = None if named["mask"] is None else named["mask"][lo:hi]
            d_states, dz, d_pre = backward_piece(
                saved, named, recurrent_kernel, mask, d_outputs, first, d_states
            )
            h_prev = saved[2][0] if rec_mask is None else saved[2][0] * rec_mask
            d_x.append(dz @ kernel.T)
            piece = [weight_grad(x[lo:hi], dz), weight_grad(h_prev, d_pre)]
            piece += [
                {"input_bias": dz, "recurrent_bias": d_pre}[n].sum(axis=(0, 1)) for n in biases
            ]
            grads = piece if grads is None else [a + b for a, b in zip(grads, piece, strict=True)]
        if not go_backwards:  # the pieces' inputs in time order
            d_x.reverse()
        out = [(jnp.concatenate(d_x) if len(d_x) > 1 else d_x[0]).astype(x.dtype)]
        weights = [kernel, recurrent_kernel] + [named[name] for name in biases]
        out += [g.astype(w.dtype) for g, w in zip(grads, weights, strict=True)]
        out += [None] * sum(name in has for name in ("mask", "rec_mask"))
        return (*out, *d_states)

    recurrence = jax.custom_vjp(primal)
    recurrence.defvjp(fwd, bwd)
    return recurrence


def run(
    math: StepMath,
    sequences,
    kernel,
    input_bias,
    recurrent_kernel,
    recurrent_bias,
    initial_state,
    mask,
    rec_mask,
    *,
    go_backwards,
    zero_output_for_mask,
    return_sequences,
):
    """A fused cell over `sequences` (batch, time, features): (last, outputs, states).

    `kernel`, `input_bias`, `recurrent_kernel`, `recurrent_bias` are the cell's (the
    biases None when absent); `initial_state` a list of (batch, units); `mask`
    (time, batch) bool or None; `rec_mask` a (batch, units) recurrent dropout mask or
    None. `outputs` is (time, batch, units) in processing order (reversed with
    go_backwards, as Keras' outputs are) with `return_sequences`, else None.
    """
    states = list(initial_state)
    optional = {
        "input_bias": input_bias,
        "recurrent_bias": recurrent_bias,
        "mask": mask,
        "rec_mask": rec_mask,
    }
    has = tuple(name for name, value in optional.items() if value is not None)
    recurrence = _recurrence(math, go_backwards, return_sequences, has)
    args = [jnp.swapaxes(sequences, 0, 1), kernel, recurrent_kernel]
    args += [optional[name] for name in has] + states
    result = recurrence(*args)
    outputs, final = result if return_sequences else (None, result)
    final = list(final)
    last = final[0]
    if mask is not None and zero_output_for_mask:
        processed = jnp.flip(mask, 0) if go_backwards else mask
        last = _where(processed[-1], last, jnp.zeros_like(last))
        if outputs is not None:
            outputs = jnp.where(processed[..., None], outputs, jnp.zeros_like(outputs))
    return last, outputs, final
