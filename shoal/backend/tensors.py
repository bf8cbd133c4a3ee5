"""Conversion of user values (lists, NumPy, Variables) to JAX arrays."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import dtypes
from shoal.backend.variables import Variable


def convert_to_tensor(x, dtype=None):
    if isinstance(x, Variable):
        x = x.value
    if dtype is not None:
        dtype = dtypes.standardize_dtype(dtype)
    if isinstance(x, jax.Array):
        return x if dtype is None or x.dtype == dtype else x.astype(dtype)
    if dtype is None and isinstance(x, (float, list, tuple)) and _has_float(x):
        arr = np.asarray(x)
        if arr.dtype == np.float64:
            dtype = "float32"
    if dtype is None and isinstance(x, np.ndarray) and x.dtype == np.float64:
        dtype = "float32" if not jax.config.jax_enable_x64 else None
    return jnp.asarray(x, dtype=dtype)


def _has_float(x) -> bool:
    try:
        return np.asarray(x).dtype.kind == "f"
    except (ValueError, TypeError):
        return False


def convert_to_numpy(x) -> np.ndarray:
    if isinstance(x, Variable):
        x = x.value
    return np.asarray(x)


def is_tensor(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray))


def shape_of(x) -> tuple:
    return tuple(x.shape)
