"""Dtype names as Keras spells them, and conversion to NumPy/JAX dtypes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import config

_ALIASES = {
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "int": "int32",
    "bool_": "bool",
}


def standardize_dtype(dtype) -> str:
    """Return the Keras string name of `dtype` (None means floatx())."""
    if dtype is None:
        return config.floatx()
    if isinstance(dtype, str):
        name = _ALIASES.get(dtype, dtype)
    elif hasattr(dtype, "name") and not isinstance(dtype, type):
        name = dtype.name
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError as err:
            raise ValueError(f"`dtype` must name a numeric dtype; got {dtype!r}") from err
    if name == "bfloat16":
        return name
    try:
        np.dtype(jnp.dtype(name))
    except TypeError as err:
        raise ValueError(f"`dtype` must name a numeric dtype; got {dtype!r}") from err
    return name


def is_float_dtype(dtype) -> bool:
    return jnp.issubdtype(jnp.dtype(standardize_dtype(dtype)), jnp.floating)


def is_int_dtype(dtype) -> bool:
    return jnp.issubdtype(jnp.dtype(standardize_dtype(dtype)), jnp.integer)


def result_type(*dtypes) -> str:
    """The dtype an op on values of `dtypes` returns (`keras.backend.result_type`).

    JAX's promotion lattice with 64-bit types canonicalized to 32 bits, as on Keras' JAX
    backend; Python `int` / `float` / `bool` are weak types. No dtypes give floatx().
    """
    if not dtypes:
        return config.floatx()
    weak = {int: int, float: float, bool: bool}
    resolved = [
        weak[d]
        if isinstance(d, type) and d in weak
        else jnp.dtype(NARROW.get(standardize_dtype(d), standardize_dtype(d)))
        for d in dtypes
    ]
    try:
        return standardize_dtype(jnp.result_type(*resolved))
    except jax.dtypes.TypePromotionError as err:
        if any("float8" in str(d) for d in resolved):
            raise ValueError(
                "There is no implicit conversions from float8 dtypes to others. You must "
                f"cast it explicitly. Received: {dtypes}"
            ) from err
        raise


# Without x64, JAX computes 64-bit types in 32 bits; narrowing first avoids its warning.
NARROW = {"int64": "int32", "uint64": "uint32", "float64": "float32", "complex128": "complex64"}
