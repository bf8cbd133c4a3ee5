"""`bincount`, `histogram` and `unique` (in `keras.ops` / `keras.ops.numpy`).

Their output shapes depend on the values of `x`, so, as in Keras 3 on JAX,
they run eagerly only; `unique(..., size=n)` has a fixed shape and also works
under `jax.jit`.
"""

from __future__ import annotations

import builtins

import jax
import jax.numpy as jnp

from shoal.backend.symbolic import KerasTensor
from shoal.backend.tensors import convert_to_tensor
from shoal.ops.dispatch import keras_op, public_names, symbolic_spec


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bincount_spec(x, weights=None, minlength=0, sparse=False):
    dtype = "int32" if weights is None else weights.dtype
    return KerasTensor((None,) if len(x.shape) == 1 else (x.shape[0], None), dtype=dtype)


@symbolic_spec(_bincount_spec)
@keras_op
def bincount(x, weights=None, minlength=0, sparse=False):
    """Count (or sum `weights` of) each non-negative integer value in `x`.

    `x` of rank 1 gives `max(max(x) + 1, minlength)` bins; rank 2 counts each
    row separately (every row gets the same number of bins). With `weights`
    (same shape as `x`), bin `n` sums the weights where `x == n`.

    Example:
        >>> bincount([0, 1, 1, 3])  # [1, 2, 0, 1]
    """
    if sparse:
        raise ValueError(
            f"bincount: argument `sparse` must be False (no sparse tensors); got {sparse!r}"
        )
    if not _is_int(minlength) or minlength < 0:
        raise ValueError(f"bincount: argument `minlength` must be an int >= 0; got {minlength!r}")
    x = convert_to_tensor(x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise ValueError(f"bincount: argument `x` must hold integers; got dtype {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"bincount: argument `x` must have rank 1 or 2; got shape {x.shape}")
    if weights is not None:
        weights = convert_to_tensor(weights)
        if weights.shape != x.shape:
            raise ValueError(
                f"bincount: argument `weights` must have the shape of `x` {x.shape}; "
                f"got {weights.shape}"
            )
    if x.ndim == 1:
        return jnp.bincount(x, weights=weights, minlength=minlength)
    length = builtins.max(int(jnp.max(x)) + 1 if x.size else 0, minlength)
    if weights is None:
        return jax.vmap(lambda row: jnp.bincount(row, length=length))(x)
    return jax.vmap(lambda row, w: jnp.bincount(row, weights=w, length=length))(x, weights)


@keras_op
def histogram(x, bins=10, range=None):
    """(counts, bin edges) of the values of the rank-1 tensor `x`.

    `range=(low, high)` sets the outer edges (default: min and max of `x`).

    Example:
        >>> histogram([0.0, 0.2, 0.9], bins=2)  # counts [2, 1], edges [0, 0.45, 0.9]
    """
    if not _is_int(bins) or bins < 0:
        raise ValueError(f"histogram: argument `bins` must be an int >= 0; got {bins!r}")
    if range is not None:
        if not isinstance(range, tuple) or len(range) != 2:
            raise ValueError(
                f"histogram: argument `range` must be a tuple (low, high); got {range!r}"
            )
        if range[1] < range[0]:
            raise ValueError(
                f"histogram: argument `range` must have high >= low; got range={range!r}"
            )
    x = convert_to_tensor(x)
    if x.ndim > 1:
        raise ValueError(f"histogram: argument `x` must have rank 1; got shape {x.shape}")
    return jnp.histogram(x, bins=bins, range=range)


def _unique_spec(x, sorted=True, return_index=False, return_inverse=False,
                 return_counts=False, axis=None, size=None, fill_value=None):  # fmt: skip
    length = size  # None: known when run
    values_shape = (length,) if axis is None else (
        tuple(length if i == axis % len(x.shape) else d for i, d in enumerate(x.shape))
    )  # fmt: skip
    out = [KerasTensor(values_shape, dtype=x.dtype)]
    if return_index:
        out.append(KerasTensor((length,), dtype="int32"))
    if return_inverse:
        # axis=None: one index per element, in the input's shape (as jnp.unique and Keras)
        inverse = tuple(x.shape) if axis is None else (x.shape[axis],)
        out.append(KerasTensor(inverse, dtype="int32"))
    if return_counts:
        out.append(KerasTensor((length,), dtype="int32"))
    return out[0] if len(out) == 1 else tuple(out)


@symbolic_spec(_unique_spec)
@keras_op
def unique(
    x,
    sorted=True,
    return_index=False,
    return_inverse=False,
    return_counts=False,
    axis=None,
    size=None,
    fill_value=None,
):
    """The unique elements of `x` (flattened when `axis` is None), as `numpy.unique`.

    `size=n` pads (with `fill_value`, default the smallest value) or truncates
    the result to `n` entries, which makes the op jittable.

    Example:
        >>> unique([3, 1, 3, 2])  # [1, 2, 3]
    """
    if size is not None and (not _is_int(size) or size < 0):
        raise ValueError(f"unique: argument `size` must be None or an int >= 0; got {size!r}")
    if axis is not None and not _is_int(axis):
        raise ValueError(f"unique: argument `axis` must be None or an int; got {axis!r}")
    return jnp.unique(
        convert_to_tensor(x),
        return_index=return_index,
        return_inverse=return_inverse,
        return_counts=return_counts,
        axis=axis,
        equal_nan=False,
        size=size,
        sorted=sorted,
        fill_value=fill_value,
    )


__all__ = public_names(globals())
