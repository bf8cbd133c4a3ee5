"""Adaptive pooling (`keras.ops.adaptive_average_pool` / `adaptive_max_pool`).

The output has a fixed spatial size; output cell `i` of an axis of length `L`
pooled to `n` covers the input window `[floor(i L / n), ceil((i + 1) L / n))`
(PyTorch's rule, which Keras 3 follows). Windows are built as static gather
indices, one spatial axis at a time (both pools are separable), so the ops jit.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from shoal.backend import config
from shoal.backend.tensors import convert_to_tensor
from shoal.ops.dispatch import keras_op, public_names


def _windows(length: int, out: int):
    """(indices [out, widest], valid mask [out, widest], sizes [out]) of each window."""
    starts = (np.arange(out) * length) // out
    ends = -((-np.arange(1, out + 1) * length) // out)  # ceil division
    sizes = ends - starts
    offsets = np.arange(sizes.max())
    valid = offsets[None, :] < sizes[:, None]
    indices = starts[:, None] + np.minimum(offsets[None, :], sizes[:, None] - 1)
    return indices, valid, sizes


def _pool_axis(x, axis: int, out: int, reduce: str):
    indices, valid, sizes = _windows(x.shape[axis], out)
    windows = jnp.take(x, jnp.asarray(indices), axis=axis)  # axis -> (out, widest)
    if reduce == "max":  # repeated edge entries never change a max
        return jnp.max(windows, axis=axis + 1)
    shape = [1] * windows.ndim
    shape[axis], shape[axis + 1] = valid.shape
    weights = (valid / sizes[:, None]).reshape(shape).astype(windows.dtype)
    return jnp.sum(windows * weights, axis=axis + 1)


def _adaptive_pool(op: str, inputs, output_size, data_format, reduce: str):
    x = convert_to_tensor(inputs)
    spatial = x.ndim - 2
    if spatial not in (1, 2, 3):
        raise ValueError(
            f"{op}: argument `inputs` must have rank 3, 4 or 5 (batch, spatial..., channels); "
            f"got shape {x.shape}"
        )
    sizes = (output_size,) * spatial if isinstance(output_size, int) else output_size
    if (
        not isinstance(sizes, (tuple, list))
        or len(sizes) != spatial
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)
    ):
        raise ValueError(
            f"{op}: argument `output_size` must be a positive int or a tuple of {spatial} "
            f"positive ints; got {output_size!r}"
        )
    first = config.standardize_data_format(data_format) == "channels_first"
    if reduce == "mean" and not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(config.floatx())  # averages of ints are floats, as in Keras
    axes = range(2, 2 + spatial) if first else range(1, 1 + spatial)
    for axis, size in zip(axes, sizes, strict=True):
        x = _pool_axis(x, axis, size, reduce)
    return x


@keras_op
def adaptive_average_pool(inputs, output_size, data_format=None):
    """Average over adaptive windows so the spatial shape becomes `output_size`.

    Example:
        >>> adaptive_average_pool(jnp.ones((1, 5, 7, 3)), (2, 3)).shape  # (1, 2, 3, 3)
    """
    return _adaptive_pool("adaptive_average_pool", inputs, output_size, data_format, "mean")


@keras_op
def adaptive_max_pool(inputs, output_size, data_format=None):
    """Maximum over adaptive windows so the spatial shape becomes `output_size`.

    Example:
        >>> adaptive_max_pool(jnp.ones((1, 5, 7, 3)), 2).shape  # (1, 2, 2, 3)
    """
    return _adaptive_pool("adaptive_max_pool", inputs, output_size, data_format, "max")


__all__ = public_names(globals())
