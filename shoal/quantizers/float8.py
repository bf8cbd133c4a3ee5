"""float8 scaling helpers (Keras' `keras.quantizers` float8 functions).

Delayed scaling, as NVIDIA's Transformer Engine: a tensor is divided by a float32 `scale`,
clipped to the float8 format's range and rounded to it, then multiplied back
(`quantize_and_dequantize`). The scale for the next step comes from the largest absolute
value seen over a window of past steps (`compute_float8_amax_history` rolls the window and
puts the newest max first; `compute_float8_scale` turns the window's max into a scale).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes

from shoal.ops.dispatch import keras_op

E4M3_MAX = float(ml_dtypes.finfo("float8_e4m3fn").max)  # 448
E5M2_MAX = float(ml_dtypes.finfo("float8_e5m2").max)  # 57344


def compute_float8_scale(amax, scale, dtype_max, margin=0):
    """The new scale: `amax / dtype_max * 2**margin`, or the old one where `amax` is zero
    or not finite (computed through reciprocals, as Keras)."""
    amax, scale = jnp.asarray(amax), jnp.asarray(scale)
    inv = 1.0 / scale
    sf = (dtype_max / amax) / (2**margin)
    sf = jnp.where(amax > 0.0, sf, inv)
    sf = jnp.where(jnp.isfinite(amax), sf, inv)
    return 1.0 / sf


def compute_float8_amax_history(x, amax_history):
    """`amax_history` rolled left by one with `max(|x|)` written at index 0."""
    amax_history = jnp.asarray(amax_history)
    amax = jnp.max(jnp.abs(x)).astype(amax_history.dtype)
    return jnp.roll(amax_history, -1).at[0].set(amax)


def quantize_and_dequantize(inputs, scale, quantized_dtype, compute_dtype):
    """`inputs / scale` clipped to `quantized_dtype`'s range, rounded to it, times `scale`,
    in `compute_dtype`."""
    top = jnp.asarray(float(ml_dtypes.finfo(quantized_dtype).max), compute_dtype)
    scale = jnp.asarray(scale).astype(compute_dtype)
    x = jnp.clip(jnp.asarray(inputs) / scale, -top, top).astype(quantized_dtype)
    return x.astype(compute_dtype) * scale


def _nudge(min_range, max_range, num_bits, narrow_range):
    """Keras' (TensorFlow's) nudged `(min, max, scale, 1 / scale)`: the range moved so that
    zero is exactly representable."""
    quant_min, quant_max = (1 if narrow_range else 0), (1 << num_bits) - 1
    diff = max_range - min_range
    scale = diff / (quant_max - quant_min)
    inv_scale = (quant_max - quant_min) / diff
    zero = jnp.round(jnp.clip(quant_min - min_range / scale, quant_min, quant_max))
    return (quant_min - zero) * scale, (quant_max - zero) * scale, scale, inv_scale


@keras_op
def fake_quant_with_min_max_vars(
    inputs, min_vals, max_vals, num_bits=8, narrow_range=False, axis=None
):
    """Quantize `inputs` to `2**num_bits` levels in `[min_vals, max_vals]` (per tensor, or
    per channel along `axis`, the bounds broadcasting against `inputs`) and back to float.
    Gradients: straight through inside the range for `inputs`; the clipped values' upstream
    summed into `min_vals` / `max_vals`. Symbolic `inputs` give a symbolic result (a graph
    node), as Keras' op does."""
    inputs = jnp.asarray(inputs)
    num_bits = int(num_bits)
    if axis is not None:
        axis = axis % inputs.ndim

    @jax.custom_vjp
    def fq(x, lo, hi):
        return _forward(x, lo, hi)[0]

    def _forward(x, lo, hi):
        lo = lo.astype(jnp.result_type(lo.dtype, jnp.float32))
        hi = hi.astype(lo.dtype)
        nmin, nmax, scale, inv = _nudge(lo, hi, num_bits, narrow_range)
        zero = jnp.floor(-nmin * inv + 0.5)
        shifted = jnp.clip(x.astype(nmin.dtype), nmin, nmax) - nmin
        out = (jnp.floor(shifted * inv - zero + 0.5) * scale).astype(x.dtype)
        return out, nmin, nmax

    def fwd(x, lo, hi):
        out, nmin, nmax = _forward(x, lo, hi)
        return out, (x, lo, hi, nmin, nmax)

    def bwd(res, g):
        x, lo, hi, nmin, nmax = res
        axes = None if axis is None else tuple(i for i in range(x.ndim) if i != axis)
        g_lo = jnp.sum(jnp.where(x <= nmin, g, 0.0), axis=axes)
        g_hi = jnp.sum(jnp.where(x >= nmax, g, 0.0), axis=axes)
        dx = jnp.where((x >= nmin) & (x <= nmax), g, 0.0)
        return dx, g_lo.reshape(lo.shape).astype(lo.dtype), g_hi.reshape(hi.shape).astype(hi.dtype)

    fq.defvjp(fwd, bwd)
    return fq(inputs, jnp.asarray(min_vals), jnp.asarray(max_vals))


__all__ = [
    "E4M3_MAX",
    "E5M2_MAX",
    "compute_float8_amax_history",
    "compute_float8_scale",
    "fake_quant_with_min_max_vars",
    "quantize_and_dequantize",
]
