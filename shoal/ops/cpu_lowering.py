"""Max / sum window pooling lowered around XLA:CPU's slow `reduce_window`.

On CPU, max pooling through `lax.reduce_window` is slow, and its gradient (XLA's
select-and-scatter) far slower: on the 2-core CI machine the Keras MNIST convnet's
training step spends most of its time there. `reduce_window` below is a drop-in for
`lax.reduce_window(x, init, lax.max | lax.add, window, strides, padding)` that, on the
CPU backend and for the cases `_pool_plan` accepts, computes the same values with what
XLA:CPU does well:

- window == strides ("reshape"): split each windowed axis d into (d // w, w) and reduce
  over the window axes ('same' pads first, 'valid' crops the ragged tail);
- max pooling with overlapping windows ("slices"): the prod(window) shifted strided slices
  of the (padded) input, combined elementwise.

Everything else, and every other backend, calls `lax.reduce_window`.

Gradients equal lax's exactly, ties included: max pooling's gradient goes to the one
element select-and-scatter picks, the first maximum in row-major window order (XLA walks
the window and moves to a new element unless `current >= new`; NaN follows the same
rule), not spread over ties as `jnp.max`'s gradient is. Ties are common: ReLU zeros.
Forward mode (jvp) picks the same element (lax's own forward mode may pick another tied
one in padded windows, disagreeing with its reverse mode).

Convolutions: see cpu_conv.py. Shifted-slice im2col for the whole convolution (the
kernel-size shifted views stacked on the channel axis, one matmul, differentiated by JAX)
was measured and did not pay: its gradients go through the slices' transposes. What pays
is im2col for the kernel gradient only (one gather of the patches, `P^T @ dy`), which
XLA:CPU otherwise computes as a slow batch-sized convolution.

The choice is made when a function is traced, by `jax.default_backend()`. `lax_only()` (or
`SHOAL_CPU_LOWERING=0` in the environment) keeps `lax.reduce_window`, e.g. to trace for
another platform. It affects new traces only: JAX may reuse an earlier trace of the same
Python function with the same argument shapes.
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from shoal.backend.switches import Switch

_SWITCH = Switch("SHOAL_CPU_LOWERING")


def lax_only():
    """Trace pooling with `lax.reduce_window` (and convolutions with
    `lax.conv_general_dilated`, see cpu_conv.py) inside this block."""
    return _SWITCH.off()


def enabled() -> bool:
    """Whether CPU lowerings may replace lax's here (see `lax_only`)."""
    return _SWITCH.on


def _pool_plan(x, computation, init_value, window, strides, padding):
    """'reshape', 'slices' or None (lax.reduce_window), with the measurements behind it.

    2-core AMD EPYC (shared, noisy), float32, jitted forward + backward, min of 30
    interleaved runs, lax -> lowered:
    max 2x2/2 valid (128, 26, 26, 32): 66 -> 1.6 ms; (128, 11, 11, 64): 9.0 -> 1.05 ms;
    max 3x3/3 valid (64, 27, 27, 32): 12.5 -> 1.1 ms; 2x2/2 same (64, 29, 29, 32): 45 -> 3.1 ms;
    max 3x3/2 valid (64, 27, 27, 32): 37 -> 6.1 ms, same (64, 28, 28, 32): 55 -> 10.6 ms;
    max 2x2/1 valid (64, 28, 28, 32): 94 -> 6.5 ms; 3x3/1 valid: 135 -> 52 ms;
    max 1-D 2/2 (64, 200, 64): 3.2 -> 0.7 ms; 3-D 2x2x2/2 (16, 16, 16, 16, 16): 10.5 -> 1.2 ms;
    average 3x3/3 valid (64, 27, 27, 32): 9.4 -> 0.8 ms; 2x2/2 valid (128, 26, 26, 32):
    1.2-1.5 ms both ways (a tie).
    Left to lax, measured slower as slices: max 3x3/1 'same' (~1.3x slower), windows over 9
    elements (4x4/2 'same', 5x5/3: 1.5-2x slower); and overlapping sum pooling, whose lax
    gradient has no select-and-scatter.
    """
    if not _SWITCH.on or jax.default_backend() != "cpu":
        return None
    if not jnp.issubdtype(x.dtype, jnp.floating) or not x.ndim == len(window) == len(strides):
        return None
    if not all(isinstance(v, (int, np.integer)) for v in (*x.shape, *window, *strides)):
        return None  # symbolic shapes (jax.export) keep lax
    if not isinstance(padding, str) or padding.upper() not in ("VALID", "SAME"):
        return None
    if not _is_identity(init_value, computation):
        return None
    if all(w == 1 for w in window) or any(s > w for w, s in zip(window, strides, strict=True)):
        return None  # nothing to reduce, or windows that skip elements: rare, keep lax
    if tuple(window) == tuple(strides):
        return "reshape"
    if computation is lax.max and math.prod(window) <= 9:
        if padding.upper() == "VALID" or all(
            s >= 2 for w, s in zip(window, strides, strict=True) if w > 1
        ):
            return "slices"
    return None


def _is_identity(init_value, computation) -> bool:
    """Whether init_value is the reduction's identity: -inf for max, 0 for add."""
    try:
        init = np.asarray(init_value)
    except (TypeError, jax.errors.TracerArrayConversionError):
        return False  # traced: not known
    if init.shape != ():
        return False
    if computation is lax.max:
        return bool(init == -np.inf)
    return computation is lax.add and bool(init == 0)


def _padded(x, window, strides, padding, fill):
    pads = lax.padtype_to_pads(x.shape, window, strides, padding)
    if any(p != (0, 0) for p in pads):
        x = lax.pad(x, np.array(fill, x.dtype), [(lo, hi, 0) for lo, hi in pads])
    return x


# -- window == strides: reshape ------------------------------------------------


def _split_windows(x, window):
    """Crop the ragged tail; split each windowed axis d into (d // w, w). -> view, axes."""
    out = [d // w for d, w in zip(x.shape, window, strict=True)]
    if any(o * w != d for o, w, d in zip(out, window, x.shape, strict=True)):
        x = lax.slice(x, (0,) * x.ndim, tuple(o * w for o, w in zip(out, window, strict=True)))
    shape, axes = [], []
    for o, w in zip(out, window, strict=True):
        shape.append(o)
        if w > 1:
            axes.append(len(shape))
            shape.append(w)
    return x.reshape(shape), tuple(axes)


def _window_elements(view, axes):
    """The elements of each window, in row-major window order, as arrays of output shape."""
    for offsets in itertools.product(*(range(view.shape[a]) for a in axes)):
        index = [slice(None)] * view.ndim
        for axis, offset in zip(axes, offsets, strict=True):
            index[axis] = offset
        yield view[tuple(index)]


def _selected(elements):
    """Per output element, the window position select-and-scatter picks (see docstring)."""
    elements = iter(elements)
    best = next(elements)
    index = jnp.zeros(best.shape, jnp.int32)
    for position, value in enumerate(elements, start=1):
        move = ~(best >= value)
        best = jnp.where(move, value, best)
        index = jnp.where(move, jnp.int32(position), index)
    return index


def _window_position(view, axes):
    """Each element's row-major position within its window, broadcastable to `view`."""
    position = np.zeros([1] * view.ndim, np.int32)
    for axis in axes:
        shape = [1] * view.ndim
        shape[axis] = view.shape[axis]
        position = position * view.shape[axis] + np.arange(
            view.shape[axis], dtype=np.int32
        ).reshape(shape)
    return position


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _reshaped_max(view, axes):
    return jnp.max(view, axis=axes)


@_reshaped_max.defjvp
def _reshaped_max_jvp(axes, primals, tangents):
    (view,), (dview,) = primals, tangents
    index = _selected(_window_elements(view, axes))
    chosen = _window_position(view, axes) == jnp.expand_dims(index, axes)
    dout = jnp.sum(jnp.where(chosen, dview, jnp.zeros((), dview.dtype)), axis=axes)
    return jnp.max(view, axis=axes), dout


# -- overlapping max windows: shifted strided slices ---------------------------


def _shifted_slices(x, window, strides):
    """The prod(window) strided views whose elementwise max is the pooled output."""
    out = [(d - w) // s + 1 for d, w, s in zip(x.shape, window, strides, strict=True)]
    for offset in itertools.product(*(range(w) for w in window)):
        limit = [o + (n - 1) * s + 1 for o, n, s in zip(offset, out, strides, strict=True)]
        yield lax.slice(x, offset, limit, strides)


def _slices_max(x, window, strides):
    return functools.reduce(lax.max, _shifted_slices(x, window, strides))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _sliced_max(x, window, strides):
    return _slices_max(x, window, strides)


@_sliced_max.defjvp
def _sliced_max_jvp(window, strides, primals, tangents):
    (x,), (dx,) = primals, tangents
    index = _selected(_shifted_slices(x, window, strides))
    dout = None
    for position, dview in enumerate(_shifted_slices(dx, window, strides)):
        dout = dview if dout is None else jnp.where(index == position, dview, dout)
    return _slices_max(x, window, strides), dout


def reduce_window(operand, init_value, computation, window_dimensions, window_strides, padding):
    """`lax.reduce_window` with the same arguments; max / sum pooling rewritten on CPU."""
    window, strides = tuple(window_dimensions), tuple(window_strides)
    plan = _pool_plan(operand, computation, init_value, window, strides, padding)
    if plan is None:
        return lax.reduce_window(operand, init_value, computation, window, strides, padding)
    is_max = computation is lax.max
    x = _padded(operand, window, strides, padding, -np.inf if is_max else 0)
    if plan == "slices":
        return _sliced_max(x, window, strides)
    view, axes = _split_windows(x, window)
    return _reshaped_max(view, axes) if is_max else jnp.sum(view, axis=axes)
