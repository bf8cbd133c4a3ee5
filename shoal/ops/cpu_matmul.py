"""Dense-layer matmuls whose weight gradient XLA:CPU runs slowly, with that product rewritten.

JAX differentiates `y = x @ w` with respect to `w` as `x^T @ dy`, a product contracting
x's leading (samples) axis. XLA:CPU gives that form to Eigen, which runs it well below the
speed of its YNNPACK path for a plain `(n, k) @ (k, m)` product (2-core CI VM, 2026-11-29:
`x^T @ dy` for x (8192, 128), dy (8192, 512) took 7.5-10.3 ms; with x^T materialized
first, 6.1-6.3 ms). `matmul(x, w)` below equals `x @ w`; its JVP writes the weight term
with a transposed copy of x behind an optimization barrier (which XLA keeps), so the
product the VJP transposes it into is a plain one on that materialized x^T. Measured
(min of interleaved training steps): Transformer block 113.7 -> 104.8 ms, MLP at batch
128 2.86 -> 2.64 ms.

Forward mode and higher derivatives work (a `custom_jvp`). On other backends, and under
`cpu_lowering.lax_only()` (`SHOAL_CPU_LOWERING=0`), it is `jnp.matmul`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from shoal.ops import cpu_lowering

# Rows (samples x positions) from which the rewrite is taken. Below, on a 2-core x86-64
# VM with AVX-512 (2026-11-29), the benchmark MLP at batch 128 trained faster without it:
# 73-80k against 86-88k samples/s (alternated processes; its products alone were
# within noise either way), while the Transformer block (8192 rows) kept its gain, 978-990
# against 900-905 samples/s.
MIN_ROWS = 1024


@jax.custom_jvp
def _matmul_2d(x, w):
    return jnp.matmul(x, w)


def _matmul_2d_jvp(primals, tangents):
    (x, w), (dx, dw) = primals, tangents
    y = jnp.matmul(x, w)
    terms = []
    if not isinstance(dx, SymbolicZero):  # the inputs' tangent (none for a model's inputs)
        terms.append(jnp.matmul(dx, w))
    if not isinstance(dw, SymbolicZero):
        x_transposed = lax.optimization_barrier(x.T)  # materialized: transposes to a plain dot
        terms.append(jnp.matmul(x_transposed.T, dw))
    if not terms:
        return y, jnp.zeros_like(y)
    return y, sum(terms[1:], terms[0])


_matmul_2d.defjvp(_matmul_2d_jvp, symbolic_zeros=True)


def _rewritten(x, n_in=1) -> bool:
    if not all(isinstance(d, int) for d in x.shape) or 0 in x.shape:
        return False  # symbolic shapes (jax.export) and empty arrays keep jnp.matmul
    if math.prod(x.shape[: x.ndim - n_in]) < MIN_ROWS:
        return False
    return cpu_lowering.enabled() and jax.default_backend() == "cpu"


def matmul(x, w):
    """`x @ w` for x (..., k) and a 2-D weight w (k, m), its weight gradient rewritten on CPU."""
    if w.ndim != 2 or x.ndim < 2 or not _rewritten(x, 1):
        return jnp.matmul(x, w)
    return contract(x, w, 1)


def contract(x, w, n_in):
    """x's trailing `n_in` axes contracted with w's leading ones, in order:
    `(*batch, *in) x (*in, *out) -> (*batch, *out)`, as `matmul` on the flattened axes."""
    if x.ndim <= n_in or not _rewritten(x, n_in):
        return jnp.tensordot(x, w, axes=n_in)
    lead, inner = x.shape[: x.ndim - n_in], math.prod(w.shape[:n_in])
    y = _matmul_2d(x.reshape(-1, inner), w.reshape(inner, -1))
    return y.reshape(*lead, *w.shape[n_in:])
