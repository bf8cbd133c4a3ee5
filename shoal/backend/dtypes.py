"""Dtype names as Keras spells them, and conversion to NumPy/JAX dtypes."""

from __future__ import annotations

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
