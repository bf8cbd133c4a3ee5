"""Argument checks shared by the `keras.ops.image` ops (no public names).

Every check raises before any computation, with a message that names the op, the
argument, what was expected and what was given.
"""

from __future__ import annotations

import numbers

import jax.numpy as jnp

from shoal.backend import config


def choice(op: str, name: str, value, allowed):
    """`value`, which must be one of `allowed`."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{op}: argument '{name}' must be one of {tuple(allowed)}, got {value!r}")
    return value


def data_format(op: str, value) -> str:
    """`value` standardized ('channels_last' / 'channels_first'), None -> the config."""
    if value is None:
        return config.image_data_format()
    fmt = str(value).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{op}: argument 'data_format' must be 'channels_last' or 'channels_first', "
            f"got {value!r}"
        )
    return fmt


def image_rank(op: str, name: str, x, ranks=(3, 4)):
    """Check the rank of an image (or batch of images) `x`."""
    if x.ndim not in ranks:
        wanted = " or ".join(str(r) for r in ranks)
        raise ValueError(
            f"{op}: argument '{name}' must have rank {wanted} (one image or a batch), "
            f"got shape {tuple(x.shape)}"
        )
    return x


def floating(op: str, name: str, x):
    """Check that `x` has a floating dtype."""
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(
            f"{op}: argument '{name}' must have a float dtype, got dtype {x.dtype.name}"
        )
    return x


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def int_tuple(op: str, name: str, value, n: int, minimum: int = 1) -> tuple[int, ...]:
    """An int or a length-`n` sequence of ints, each >= `minimum`, as an n-tuple."""
    items = (value,) * n if is_int(value) else value
    if (
        not isinstance(items, (tuple, list))
        or len(items) != n
        or not all(is_int(v) and v >= minimum for v in items)
    ):
        raise ValueError(
            f"{op}: argument '{name}' must be an int or a tuple of {n} ints, each >= "
            f"{minimum}, got {value!r}"
        )
    return tuple(int(v) for v in items)


def non_negative_int_or_none(op: str, name: str, value):
    if value is None:
        return None
    if not is_int(value) or value < 0:
        raise ValueError(f"{op}: argument '{name}' must be an int >= 0 or None, got {value!r}")
    return int(value)


def float_compute_dtype(dtype):
    """The dtype to filter in: `dtype` itself when floating, else float32 (floatx)."""
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.dtype(config.floatx())
