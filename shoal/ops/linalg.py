"""The `keras.ops.linalg` namespace over `jax.numpy.linalg` / `jax.scipy.linalg`.

Decompositions return plain tuples, as Keras does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from shoal.ops.dispatch import keras_op, public_names
from shoal.ops.numpy import _axis, _t


def _float(x):
    x = _t(x)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(x, float))


def _matrices(x, op):
    x = _float(x)
    if x.ndim < 2:
        raise ValueError(f"{op}: argument 'x' must have rank >= 2, got shape {x.shape}")
    return x


@keras_op
def norm(x, ord=None, axis=None, keepdims=False):
    """Vector or matrix norm of `x` (as `numpy.linalg.norm`)."""
    return jnp.linalg.norm(_float(x), ord=ord, axis=_axis(axis), keepdims=keepdims)


@keras_op
def det(x):
    """Determinant of (batches of) square matrices."""
    return jnp.linalg.det(_matrices(x, "det"))


@keras_op
def inv(x):
    """Inverse of (batches of) square matrices."""
    return jnp.linalg.inv(_matrices(x, "inv"))


@keras_op
def pinv(x, rcond=None):
    """Moore-Penrose pseudo-inverse; singular values below `rcond * max(s)` count as 0."""
    return jnp.linalg.pinv(_matrices(x, "pinv"), rtol=rcond)


@keras_op
def solve(a, b):
    """`x` with `a @ x = b`."""
    return jnp.linalg.solve(_float(a), _float(b))


@keras_op
def solve_triangular(a, b, lower=False):
    """`x` with `a @ x = b` for triangular `a` (lower or upper)."""
    return jsl.solve_triangular(_float(a), _float(b), lower=lower)


@keras_op
def lstsq(a, b, rcond=None):
    """Least-squares solution `x` minimizing `|a @ x - b|`."""
    return jnp.linalg.lstsq(_float(a), _float(b), rcond=rcond)[0]


@keras_op
def cholesky(x, upper=False):
    """Cholesky factor of positive-definite matrices (lower, or upper when `upper`).

    Eagerly, a matrix that is not positive definite raises ValueError (JAX would give
    NaNs), as Keras; under tracing the NaNs pass through.
    """
    out = jnp.linalg.cholesky(_matrices(x, "cholesky"), upper=upper)
    if not isinstance(out, jax.core.Tracer) and bool(jnp.any(jnp.isnan(out))):
        raise ValueError(
            "cholesky: argument 'x' must be positive definite matrices; the "
            f"decomposition of the given {out.shape} input gave NaNs"
        )
    return out


@keras_op
def cholesky_inverse(x, upper=False):
    """Inverse of the matrix whose Cholesky factor is `x`."""
    x = _matrices(x, "cholesky_inverse")
    eye = jnp.broadcast_to(jnp.eye(x.shape[-1], dtype=x.dtype), x.shape)
    inv_factor = jsl.solve_triangular(x, eye, lower=not upper)
    if upper:
        return inv_factor @ jnp.swapaxes(inv_factor, -1, -2)
    return jnp.swapaxes(inv_factor, -1, -2) @ inv_factor


@keras_op
def qr(x, mode="reduced"):
    """(q, r) with `x = q @ r`; `mode` is 'reduced' or 'complete'."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"qr: argument 'mode' must be 'reduced' or 'complete', got {mode!r}")
    return tuple(jnp.linalg.qr(_matrices(x, "qr"), mode=mode))


@keras_op
def svd(x, full_matrices=True, compute_uv=True):
    """(u, s, vh) with `x = u @ diag(s) @ vh`; only `s` when not `compute_uv`."""
    out = jnp.linalg.svd(_matrices(x, "svd"), full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(out) if compute_uv else out


@keras_op
def eig(x):
    """(eigenvalues, eigenvectors) of square matrices (complex)."""
    return tuple(jnp.linalg.eig(_matrices(x, "eig")))


@keras_op
def eigh(x):
    """(eigenvalues, eigenvectors) of symmetric / Hermitian matrices, ascending."""
    return tuple(jnp.linalg.eigh(_matrices(x, "eigh")))


@keras_op
def lu_factor(x):
    """(lu, pivots) LU factorization of (batches of) square matrices."""
    x = _matrices(x, "lu_factor")
    fn = jsl.lu_factor
    for _ in range(x.ndim - 2):
        fn = jax.vmap(fn)
    return fn(x)


@keras_op
def matrix_rank(x, tol=None):
    """Number of singular values of `x` above `tol` (default: max(s) * max(M, N) * eps)."""
    x = _matrices(x, "matrix_rank")
    s = jnp.linalg.svd(x, compute_uv=False)
    if tol is None:
        tol = jnp.max(s, axis=-1, keepdims=True) * max(x.shape[-2:]) * jnp.finfo(s.dtype).eps
    return jnp.sum(s > tol, axis=-1).astype("int32")


@keras_op
def jvp(fun, primals, tangents, has_aux=False):
    """(fun(*primals), Jacobian-vector product with `tangents`) (plus aux when `has_aux`)."""
    return jax.jvp(fun, primals, tangents, has_aux=has_aux)


__all__ = public_names(globals())
