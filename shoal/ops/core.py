"""The `keras.ops` core namespace: conversion, control flow, slicing, scatter.

Control-flow ops are `jax.lax` primitives under their Keras names and
signatures, so code written for `keras.ops.scan`/`while_loop`/`cond` runs
unchanged and compiles to a single XLA loop or branch.
"""

from __future__ import annotations

import builtins

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import dtypes
from shoal.backend import tensors as _tensors
from shoal.backend.symbolic import KerasTensor
from shoal.backend.variables import Variable
from shoal.ops.dispatch import keras_op, public_names, symbolic_spec

# -- conversion and inspection -----------------------------------------------


@keras_op
def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """`x` (array, NumPy value, list, scalar, Variable) as a JAX array."""
    if sparse or ragged:
        raise ValueError(
            "convert_to_tensor: sparse and ragged tensors are not supported by shoal; "
            f"got sparse={sparse!r}, ragged={ragged!r}"
        )
    return _tensors.convert_to_tensor(x, dtype=dtype)


@keras_op
def cast(x, dtype):
    """`x` converted to `dtype`."""
    return _tensors.convert_to_tensor(x, dtype=dtype)


def _range_of(dtype: str):
    if dtype == "bool":
        return 0, 1
    info = jnp.iinfo if "int" in dtype else jnp.finfo
    return info(dtype).min, info(dtype).max


@keras_op
def saturate_cast(x, dtype):
    """`x` cast to `dtype`, values first clipped to the range `dtype` can hold."""
    x = _tensors.convert_to_tensor(x)
    dtype = dtypes.standardize_dtype(dtype)
    in_dtype = dtypes.standardize_dtype(x.dtype)
    (in_min, in_max), (out_min, out_max) = _range_of(in_dtype), _range_of(dtype)
    # The output limits may not be representable in the input dtype (float32 cannot
    # hold 2**32 - 1 exactly); nudge them inwards so the clipped value fits.
    lo = np.asarray(builtins.max(in_min, out_min)).astype(np.dtype(x.dtype))
    if lo < out_min:
        lo = np.nextafter(lo, 0, dtype=lo.dtype)
    hi = np.asarray(builtins.min(in_max, out_max)).astype(np.dtype(x.dtype))
    if hi > out_max:
        hi = np.nextafter(hi, 0, dtype=hi.dtype)
    return jnp.clip(x, lo, hi).astype(dtype)


def convert_to_numpy(x) -> np.ndarray:
    """`x` as a NumPy array (copied to host)."""
    if isinstance(x, KerasTensor):
        raise ValueError(
            "convert_to_numpy: argument 'x' must hold values; got a symbolic KerasTensor "
            f"{x!r}. Build a Model from your Inputs and outputs, then call it on data."
        )
    return np.array(_tensors.convert_to_numpy(x))


def is_tensor(x) -> bool:
    """Whether `x` is a backend tensor (a JAX array or tracer)."""
    return isinstance(x, jax.Array)


def shape(x) -> tuple:
    """The static shape of `x` as a tuple (None for unknown symbolic dims)."""
    return tuple(x.shape) if hasattr(x, "shape") else tuple(np.shape(x))


def dtype(x) -> str:
    """The dtype name of `x` ("float32", ...)."""
    if isinstance(x, Variable) or hasattr(x, "dtype"):
        return dtypes.standardize_dtype(x.dtype)
    return dtypes.standardize_dtype(_tensors.convert_to_tensor(x).dtype)


@keras_op
def stop_gradient(variable):
    """`variable` with no gradient flowing back through it."""
    return jax.lax.stop_gradient(_tensors.convert_to_tensor(variable))


# -- control flow ------------------------------------------------------------


@keras_op
def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """Loop `carry, y = f(carry, x)` over the leading axis of `xs`; return (carry, ys)."""
    if not isinstance(unroll, bool) and (not isinstance(unroll, int) or unroll < 1):
        raise ValueError(
            f"scan: argument 'unroll' must be a positive int or a bool, got {unroll!r}"
        )
    return jax.lax.scan(f, init, xs=xs, length=length, reverse=reverse, unroll=unroll)


@keras_op
def associative_scan(f, elems, reverse=False, axis=0):
    """Parallel prefix scan of `elems` with the associative binary `f`."""
    return jax.lax.associative_scan(f, elems, reverse=reverse, axis=axis)


@keras_op
def map(f, xs):
    """`f` applied to each slice of `xs` along its leading axis (stacked)."""
    return jax.lax.map(f, xs)


@keras_op
def fori_loop(lower, upper, body_fun, init_val):
    """`val = body_fun(i, val)` for i in [lower, upper); return the final val."""
    return jax.lax.fori_loop(lower, upper, body_fun, init_val)


@keras_op
def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """Repeat `loop_vars = body(*loop_vars)` while `cond(*loop_vars)`.

    A tuple or list of `loop_vars` is unpacked into `cond` and `body`; a single
    value is passed as is. At most `maximum_iterations` iterations run when given.
    """
    is_seq = isinstance(loop_vars, (tuple, list))
    state = (tuple(loop_vars) if is_seq else (loop_vars,), 0)

    def keep_going(s):
        ok = cond(*s[0])
        return ok if maximum_iterations is None else jnp.logical_and(ok, s[1] < maximum_iterations)

    def step(s):
        out = body(*s[0])
        return (tuple(out) if is_seq else (out,), s[1] + 1)

    out, _ = jax.lax.while_loop(keep_going, step, state)
    return out if is_seq else out[0]


@keras_op
def cond(pred, true_fn, false_fn):
    """`true_fn()` if `pred` else `false_fn()`, as one compiled branch."""
    return jax.lax.cond(pred, true_fn, false_fn)


@keras_op
def switch(index, branches, *operands):
    """`branches[index](*operands)`, with `index` clamped to the valid range."""
    return jax.lax.switch(index, branches, *operands)


@keras_op
def vectorized_map(function, elements):
    """`function` mapped over the leading axis of `elements`, vectorized (vmap)."""
    return jax.vmap(function)(elements)


def custom_gradient(f):
    """Decorator: `f(*args)` returns `(y, grad_fn)`; `grad_fn(upstream)` gives input grads."""
    with_grad = jax.custom_gradient(f)
    return keras_op(with_grad)


# -- slicing and scattering --------------------------------------------------


@keras_op
def slice(inputs, start_indices, shape):
    """The block of `inputs` at `start_indices` of `shape` (-1: to the end)."""
    inputs = _tensors.convert_to_tensor(inputs)
    if isinstance(start_indices, (jax.Array, np.ndarray)):
        start_indices = list(start_indices)
    sizes = tuple(
        inputs.shape[i] - int(start_indices[i]) if s == -1 else s for i, s in enumerate(shape)
    )
    return jax.lax.dynamic_slice(inputs, start_indices, sizes)


@keras_op
def slice_update(inputs, start_indices, updates):
    """`inputs` with the block at `start_indices` replaced by `updates`."""
    inputs = _tensors.convert_to_tensor(inputs)
    updates = _tensors.convert_to_tensor(updates, dtype=inputs.dtype)
    return jax.lax.dynamic_update_slice(inputs, updates, tuple(start_indices))


def _index_tuple(indices):
    """(N, rank) index rows as the per-axis index arrays `x.at[...]` takes."""
    return tuple(jnp.moveaxis(_tensors.convert_to_tensor(indices), -1, 0))


@keras_op
def scatter(indices, values, shape):
    """Zeros of `shape` with `values` added at `indices` (shape (N, rank))."""
    values = _tensors.convert_to_tensor(values)
    return jnp.zeros(shape, values.dtype).at[_index_tuple(indices)].add(values)


_SCATTER_REDUCTIONS = {None: "set", "add": "add", "max": "max", "min": "min", "mul": "multiply"}


@keras_op
def scatter_update(inputs, indices, updates, reduction=None):
    """`inputs` with `updates` written (or reduced, see `reduction`) at `indices`."""
    if reduction not in _SCATTER_REDUCTIONS:
        raise ValueError(
            "scatter_update: argument 'reduction' must be one of None, 'add', 'max', 'min', "
            f"'mul'; got {reduction!r}"
        )
    inputs = _tensors.convert_to_tensor(inputs)
    at = inputs.at[_index_tuple(indices)]
    return getattr(at, _SCATTER_REDUCTIONS[reduction])(_tensors.convert_to_tensor(updates))


def _unstack_spec(x, num=None, axis=0):
    rank = len(x.shape)
    if not -rank <= axis < rank:
        raise ValueError(f"unstack: argument 'axis' {axis} is out of bounds for rank {rank}")
    axis %= rank
    count = x.shape[axis] if x.shape[axis] is not None else num
    if count is None:
        raise ValueError(
            f"unstack: argument 'num' is needed when axis {axis} of 'x' has an unknown "
            f"size; got shape {x.shape} and num=None"
        )
    shape = x.shape[:axis] + x.shape[axis + 1 :]
    return [KerasTensor(shape, dtype=x.dtype) for _ in range(count)]


@symbolic_spec(_unstack_spec)
@keras_op
def unstack(x, num=None, axis=0):
    """The slices of `x` along `axis`, as a list."""
    x = _tensors.convert_to_tensor(x)
    return [jax.lax.index_in_dim(x, i, axis, keepdims=False) for i in range(x.shape[axis])]


__all__ = public_names(globals())
