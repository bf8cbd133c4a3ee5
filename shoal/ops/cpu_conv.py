"""Convolutions lowered around XLA:CPU's slow ones: Winograd for 3x3, else im2col.

XLA differentiates a convolution with respect to its kernel as another convolution,
over the batch, with a window as large as the output: on CPU that runs at a small
fraction of matmul speed (the Keras MNIST convnet's 32->64 3x3 layer: 14 ms for the
kernel gradient of a batch of 128, against 9 ms for the forward convolution; its
1-channel first layer: 4 ms for 50 MFLOPs). `conv_general_dilated` below is a drop-in
for `lax.conv_general_dilated` that, on the CPU backend and for the cases `_plan`
accepts (stride 1, no dilation or groups, channels last, floats), computes

- a 3x3 float32 convolution with 16+ input and output channels as Winograd's minimal
  filtering F(4x4, 3x3) or F(2x2, 3x3) (`cpu_winograd`): per-point matmuls over
  transformed tiles, forward and both gradients. Measured against the previous path
  (jitted forward + both gradients, 2-core x86-64 VM with AVX-512, 2026-11-29, min of
  6-15 runs, input -> kernel, previous -> Winograd): (128,13,13,32) -> 3x3x64 valid
  (the MNIST convnet's second layer) im2col 7.7 -> 4.8 ms; (64,18,18,32) -> 64 im2col
  8.2 -> 4.3 ms; (64,34,34,32) -> 32 im2col 22.2 -> 10.7 ms (lax 85 ms); (128,30,30,16)
  -> 32 im2col 14.8 -> 13.6 ms; (8,58,58,64) -> 64 lax 39.0 -> 11.4 ms; (16,34,34,128)
  -> 128 lax 118.8 -> 22.0 ms; with 2x2 tiles (too few 4x4 ones): (32,10,10,128) -> 256
  lax 18.6 -> 8.8 ms, (16,9,9,256) -> 256 lax 13.3 -> 10.3 ms.
- otherwise im2col, in the region where it was measured faster than lax: forward, the
  patches `P` (each output position's receptive field, flattened: the window's shifted
  views concatenated, or one gather for inputs of few channels) and `y = P @ kernel`
  (one matmul; for 1-4 input channels a fused sum of scaled shifted views instead);
  kernel gradient `P^T @ dy` over every sample and position, reusing the forward's
  patches (as two half-length products, which XLA:CPU runs on both cores); input
  gradient a convolution of `dy` with the flipped kernel (the convolution's transpose
  in its input), which XLA:CPU runs well.

Results equal lax's up to float rounding (im2col: sums in another order, tests hold them
to 1e-5 relative; Winograd: its transforms' constants cost a few bits more, 1e-4).
Everything else (strides, dilation, groups, channels-first, other backends, symbolic
shapes, patches over `MAX_PATCH_BYTES`) calls `lax.conv_general_dilated`. The choice is
made when a function is traced; `cpu_lowering.lax_only()` (or `SHOAL_CPU_LOWERING=0`)
keeps lax here too, and exports trace under it. Forward-mode differentiation
(`jax.jvp`, `jax.jacfwd`) of these convolutions is not available (a `custom_vjp`
limitation); trace under `lax_only()` for it. (A `custom_jvp` formulation of im2col,
`d(x * k) = dx * k + patches @ dk`, was measured 10% slower on the convnet step: XLA
then materializes transposes of the output gradient.)

Earlier im2col measurements (2-core CI VM, 2026-11-29, with the allocator settings of
`shoal/_host_allocator.py`): the Keras MNIST convnet's training step at batch 128 took
33.5 ms with lax's convolutions, 22.9 ms with im2col (min of 50 interleaved steps). Per
layer (jitted forward + both gradients, input -> kernel, speedup over lax): (128,28,28,1)
-> 3x3x32 valid 1.34x; (128,13,13,32) -> 3x3x64 valid 1.42x; (64,32,32,3) -> 3x3x32 same
1.18x; slower: (32,28,28,16) -> 3x3x32 same 0.82x, (16,32,32,128) -> 3x3x128 same 0.84x,
(64,28,28,3) -> 5x5x16 same 0.82x, 1-D (64,100,64) -> 5x64 valid 0.91x. `_plan` takes
im2col only in the measured-faster region (`MIN_OUT_CHANNELS`, `MAX_DEPTH`,
`MAX_PADDED_DEPTH`). Later the same day, patches from shifted views and the kernel
gradient in two halves took the convnet step from 24.2 to 21.5 ms (median; min 22.6 ->
19.6). A first layer over 1 channel as scaled shifted views instead of lax's forward:
the MNIST convnet's `fit` 7.9k -> 8.4k samples/s (medians of 6 alternated epochs; the
lax forward of (128,28,28,1) -> 3x3x32 alone 0.91 ms, the views 0.26 ms).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from shoal.ops import cpu_lowering, cpu_winograd

# The patches are prod(window) times the input; above this, lax's convolution (which
# materializes nothing that large) is kept.
MAX_PATCH_BYTES = 256 * 2**20
# Where im2col was measured faster (see the module docstring): 2-D convolutions with at
# least 32 filters over patches up to 288 deep (3x3x32), and 'same'/explicit padding
# only up to 32 deep (a first layer over an image's few channels).
SPATIAL_RANKS = (2,)
MIN_OUT_CHANNELS = 32
MAX_DEPTH = 288
MAX_PADDED_DEPTH = 32
# Patches from shifted views from this many input channels up, else a gather (`_patches`).
MIN_SLICED_CHANNELS = 8
# Row blocks of the kernel gradient's long product (`_long_product`).
SPLIT = 2
# The name scope of the convolutions written here that run as well inside a loop body as
# outside (`_input_gradient`): `trainers.auto_steps` fuses steps that have only these.
LOOP_SAFE_SCOPE = "loop_safe_convolution"
# Winograd (`_winograd_tile`): 3x3 kernels with this many input and output channels,
# over at least this many tiles per point.
WINOGRAD_MIN_CHANNELS = 16
WINOGRAD_MIN_TILES = 256


def conv_general_dilated(
    lhs,
    rhs,
    window_strides,
    padding,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count=1,
    *,
    in_loop=False,
):
    """`lax.conv_general_dilated` (same arguments), lowered on CPU where `_plan` says so.

    `in_loop=True` for a convolution inside a loop body (ConvLSTM's recurrent one): there
    lax's kernel gradient is far slower than elsewhere, and im2col is taken for any
    window, depth and number of filters (see `_plan`).
    """
    plan = _plan(
        lhs,
        rhs,
        window_strides,
        padding,
        rhs_dilation,
        dimension_numbers,
        feature_group_count,
        in_loop,
    )
    if plan is None:
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            rhs_dilation=rhs_dilation,
            dimension_numbers=dimension_numbers,
            feature_group_count=feature_group_count,
        )
    if plan.tile:
        return cpu_winograd.conv3x3(_padded(lhs, plan.pads), rhs, plan.tile)
    return _im2col_conv(lhs, rhs, plan.pads)


class Plan(NamedTuple):
    """How `conv_general_dilated` computes a convolution: explicit spatial pads, and the
    Winograd tile size (`cpu_winograd`), or 0 for im2col."""

    pads: tuple
    tile: int = 0


def _channels_last_numbers(n):
    spatial = tuple(range(1, n + 1))
    return lax.ConvDimensionNumbers(
        (0, n + 1, *spatial), (n + 1, n, *range(n)), (0, n + 1, *spatial)
    )


def _plan(lhs, rhs, strides, padding, dilation, dimension_numbers, groups, in_loop=False):
    """A `Plan`, or None (lax).

    In a loop body (`in_loop`), XLA:CPU's kernel gradient of a convolution ran at a few
    GFLOP/s: ConvLSTM2D(16, 3, 'same') over (16, 10, 16, 16, 8), its training gradient
    750-860 ms with lax's recurrent convolution, 68-95 ms with im2col (2-core CI VM,
    2026-11-29). There im2col is taken for any window, depth and number of filters.
    Elsewhere a 3x3 float32 convolution Winograd's tiles suit (`_winograd_tile`) runs as
    Winograd, and im2col only in its measured region (rank, filters, depth, padding).
    """
    pads = _pads(lhs, rhs, strides, padding, dilation, dimension_numbers, groups)
    if pads is None:
        return None
    n = lhs.ndim - 2
    window = rhs.shape[:n]
    out = [
        s + lo + hi - k + 1 for s, (lo, hi), k in zip(lhs.shape[1:-1], pads, window, strict=True)
    ]
    if any(o < 1 for o in out):
        return None
    depth = rhs.size // rhs.shape[-1]  # prod(window) * in_channels
    if not in_loop:
        tile = _winograd_tile(lhs, rhs, out)
        if tile:
            return Plan(pads, tile)
        if n not in SPATIAL_RANKS or rhs.shape[-1] < MIN_OUT_CHANNELS or depth > MAX_DEPTH:
            return None
        valid = all(p == (0, 0) for p in pads)
        if depth > MAX_PADDED_DEPTH and not valid:
            return None
    patch_bytes = lhs.shape[0] * math.prod(out) * depth * lhs.dtype.itemsize
    if patch_bytes > MAX_PATCH_BYTES:
        return None
    return Plan(pads)


def _pads(lhs, rhs, strides, padding, dilation, dimension_numbers, groups):
    """The explicit spatial pads [(lo, hi), ...] of a stride-1, undilated, ungrouped,
    channels-last float convolution of known shapes; else None."""
    if not cpu_lowering.enabled() or jax.default_backend() != "cpu":
        return None
    n = lhs.ndim - 2
    if n < 1 or rhs.ndim != lhs.ndim or groups != 1 or lhs.dtype != rhs.dtype:
        return None
    if not jnp.issubdtype(lhs.dtype, jnp.floating):
        return None
    shapes = (*lhs.shape, *rhs.shape)
    if not all(isinstance(d, (int, np.integer)) for d in shapes):
        return None  # symbolic shapes (jax.export) keep lax
    if any(s != 1 for s in strides) or any(d != 1 for d in (dilation or (1,) * n)):
        return None
    if dimension_numbers is None or lax.conv_dimension_numbers(
        lhs.shape, rhs.shape, dimension_numbers
    ) != _channels_last_numbers(n):
        return None
    window = rhs.shape[:n]
    if isinstance(padding, str):
        if padding.upper() not in ("VALID", "SAME"):
            return None
        pads = lax.padtype_to_pads(lhs.shape[1:-1], window, (1,) * n, padding)
    else:
        pads = [tuple(int(p) for p in pair) for pair in padding]
        if len(pads) != n or any(p < 0 for pair in pads for p in pair):
            return None
    return tuple(tuple(pair) for pair in pads)


def _winograd_tile(lhs, rhs, out):
    """The Winograd output tile (4 or 2) for a 3x3 float32 convolution with
    `WINOGRAD_MIN_CHANNELS` in and out, or 0.

    The tile is the larger one whose per-point products still have `WINOGRAD_MIN_TILES`
    rows (tiles over the batch): small feature maps with many channels ran faster with
    2x2 tiles (16 products of (512, 128) x (128, 256) for (32, 10, 10, 128) -> 3x3x256:
    9.7 ms, 4x4 tiles 11.0 ms, lax 18.7 ms; 2-core CI VM, 2026-11-29).
    """
    if tuple(rhs.shape[:-2]) != (3, 3) or lhs.dtype != jnp.float32:
        return 0
    if min(rhs.shape[-2:]) < WINOGRAD_MIN_CHANNELS:
        return 0
    for m in (4, 2):
        tiles = lhs.shape[0] * math.prod(cpu_winograd.tile_counts(out, m))
        points_bytes = (m + 2) ** 2 * tiles * max(rhs.shape[-2:]) * lhs.dtype.itemsize
        if tiles >= WINOGRAD_MIN_TILES and points_bytes <= MAX_PATCH_BYTES:
            return m
    return 0


def _padded(x, pads):
    if any(p != (0, 0) for p in pads):
        x = lax.pad(
            x, np.array(0, x.dtype), [(0, 0, 0), *[(lo, hi, 0) for lo, hi in pads], (0, 0, 0)]
        )
    return x


def _shifted_views(x, window):
    """(offset, view) for each offset of the window, in row-major order: the slices of the
    (padded) input `x` that each output position reads at that offset."""
    out = [s - k + 1 for s, k in zip(x.shape[1:-1], window, strict=True)]
    for start in itertools.product(*(range(k) for k in window)):
        yield start, x[(slice(None), *(slice(a, a + o) for a, o in zip(start, out, strict=True)))]


def _patches(x, window, pads):
    """(batch, *out, prod(window) * channels): each output position's receptive field, in
    the kernel's (*window, channels) order.

    Over `MIN_SLICED_CHANNELS` channels or more, the window's shifted views of `x`
    concatenated along channels; over fewer, one gather (a concatenate of 1-3 channel
    pieces is a slow copy). XLA:CPU computes the gather's output window-major and then
    transposes it: for the convnet's (128, 13, 13, 32) input and 3x3 window, 3.7 ms
    against 1.5-1.9 ms for the concatenate (2-core CI VM, 2026-11-29).
    """
    n = len(window)
    x = _padded(x, pads)
    batch, *size, channels = x.shape
    if channels >= MIN_SLICED_CHANNELS:
        return jnp.concatenate([view for _, view in _shifted_views(x, window)], axis=-1)
    out = [s - k + 1 for s, k in zip(size, window, strict=True)]
    starts = np.array(list(itertools.product(*(range(k) for k in window))), np.int32)
    numbers = lax.GatherDimensionNumbers(
        offset_dims=(*range(n + 1), n + 2),  # batch, *out, then (window offset), channels
        collapsed_slice_dims=(),
        start_index_map=tuple(range(1, n + 1)),
    )
    patches = lax.gather(
        x,
        jnp.asarray(starts),
        numbers,
        slice_sizes=(batch, *out, channels),
        mode=lax.GatherScatterMode.PROMISE_IN_BOUNDS,
    )
    return patches.reshape(batch, *out, len(starts) * channels)


# Below this patch width (prod(window) * in_channels) the forward matmul is too thin to
# run well (a 3x3 1-channel layer: 9-deep, 5 ms against lax's ~1 ms): the forward stays
# lax's and the backward gathers the (then small) patches itself.
MIN_FORWARD_DEPTH = 64
# Of those, inputs of up to this many channels run the forward as `_shifted_products`.
MAX_PRODUCT_CHANNELS = 4


def _lax_conv(x, kernel, pads):
    n = x.ndim - 2
    return lax.conv_general_dilated(
        x, kernel, (1,) * n, pads, dimension_numbers=_channels_last_numbers(n)
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _im2col_conv(x, kernel, pads):
    return _fwd(x, kernel, pads)[0]


def _shifted_products(x, kernel, pads):
    """The convolution as a sum of the window's shifted views, each channel scaled by its
    row of the kernel: elementwise work XLA:CPU fuses into one loop (for inputs of a few
    channels, where a matmul over patches is too thin to run well)."""
    x = _padded(x, pads)
    total = None
    for start, view in _shifted_views(x, kernel.shape[: x.ndim - 2]):
        for c in range(x.shape[-1]):
            term = view[..., c : c + 1] * kernel[(*start, c)]
            total = term if total is None else total + term
    return total


def _fwd(x, kernel, pads):
    n = x.ndim - 2
    if kernel.size // kernel.shape[-1] < MIN_FORWARD_DEPTH:
        if x.shape[-1] <= MAX_PRODUCT_CHANNELS:
            return _shifted_products(x, kernel, pads), (x, kernel)
        return _lax_conv(x, kernel, pads), (x, kernel)
    patches = _patches(x, kernel.shape[:n], pads)
    return patches @ kernel.reshape(-1, kernel.shape[-1]), (patches, kernel)


def _input_struct(dy, kernel, pads):
    """The input's shape and dtype, from the output's (residuals hold arrays only, so
    that the convolution can be differentiated inside a loop)."""
    n = dy.ndim - 2
    window = kernel.shape[:n]
    size = [
        o + k - 1 - lo - hi for o, k, (lo, hi) in zip(dy.shape[1:-1], window, pads, strict=True)
    ]
    return jax.ShapeDtypeStruct((dy.shape[0], *size, kernel.shape[n]), kernel.dtype)


def _bwd(pads, residuals, dy):
    saved, kernel = residuals
    n = dy.ndim - 2
    depth = kernel.size // kernel.shape[-1]
    thin = depth < MIN_FORWARD_DEPTH  # the forward was lax's and saved x: gather them now
    patches = _patches(saved, kernel.shape[:n], pads) if thin else saved
    patches, dy2 = patches.reshape(-1, depth), dy.reshape(-1, dy.shape[-1])
    # Both contract the long (samples x positions) axis; XLA:CPU runs the second form ~25%
    # faster for deep patches, the first ~2.5x faster for thin ones (measured, 3x3 kernels
    # over 32 and 1 input channels); the second in halves (`_long_product`).
    d_kernel = patches.T @ dy2 if thin else _long_product(dy2, patches).T
    return _input_gradient(dy, kernel, pads), d_kernel.reshape(kernel.shape)


def _long_product(a, b):
    """`a.T @ b` for a (n, i), b (n, j) with n long and i * j small, as `SPLIT` products
    over blocks of rows, summed. XLA:CPU runs one such product on one core (its output is
    too small to split): the convnet's (15488, 64) x (15488, 288) kernel gradient took
    5.4 ms alone, 3.8-4.3 ms as a batch of two halves (2-core CI VM, 2026-11-29).
    """
    n = a.shape[0]
    if n % SPLIT:
        return a.T @ b
    a, b = a.reshape(SPLIT, n // SPLIT, -1), b.reshape(SPLIT, n // SPLIT, -1)
    return jnp.einsum("bni,bnj->bij", a, b).sum(axis=0)


def _input_gradient(dy, kernel, pads):
    """The convolution's transpose in its input: `dy` convolved ('full') with the kernel
    flipped in space, its in/out channels swapped.

    That kernel is materialized behind an optimization barrier, in the (*window, out,
    in) layout of a plain channels-last convolution. The transpose JAX derives
    (`linear_transpose`) leaves the flip and swap to XLA: at a program's top level XLA:CPU
    copies the kernel into the layout its fast convolution needs, but inside a loop body
    (a `lax.scan` of fused training steps) it kept the swapped labels and ran the
    convolution in its generic emitter: the MNIST convnet's training steps fused four at
    a time took 33-35 ms each against 25-28 ms one at a time; with this kernel, the same
    (2-core CI VM, 2026-11-29, `fit`).
    """
    n = dy.ndim - 2
    window = kernel.shape[:n]
    full = [(k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip(window, pads, strict=True)]
    if any(p < 0 for pair in full for p in pair):  # pads wider than the window: lax's
        x_struct = _input_struct(dy, kernel, pads)
        (dx,) = jax.linear_transpose(lambda x: _lax_conv(x, kernel, pads), x_struct)(dy)
        return dx
    flipped = lax.optimization_barrier(jnp.flip(kernel, axis=tuple(range(n))).swapaxes(-1, -2))
    with jax.named_scope(LOOP_SAFE_SCOPE):  # for `trainers.auto_steps`
        return _lax_conv(dy, flipped, full)


_im2col_conv.defvjp(_fwd, _bwd)
