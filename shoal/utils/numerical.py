"""`to_categorical` and `normalize`, as in `keras.utils`.

NumPy in gives NumPy out (float64 one-hot, as Keras); a JAX array in gives a JAX array out.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import config


def to_categorical(x, num_classes=None):
    """Converts integer class labels to a one-hot matrix (class axis last).

    A trailing axis of size 1 is dropped first, so labels of shape `(n, 1)` give `(n, C)`.

    Args:
        x: integer labels in `[0, num_classes)` (array-like; floats are truncated as Keras).
        num_classes: number of classes; default `max(x) + 1`.

    Returns:
        A float64 NumPy array (float `floatx()` JAX array for a JAX input) of shape
        `x.shape + (num_classes,)`.

    Example:
        >>> to_categorical([0, 2, 1], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]])
    """
    if num_classes is not None and (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, (int, np.integer))
        or num_classes < 1
    ):
        raise ValueError(
            f"to_categorical: argument 'num_classes' must be a positive integer or None; "
            f"got {num_classes!r}"
        )
    if isinstance(x, jax.core.Tracer):  # values unknown under jit: no checks possible
        if num_classes is None:
            raise ValueError(
                "to_categorical: argument 'num_classes' is required for a traced input "
                "(inside jit the labels' maximum is unknown); got None"
            )
        return jax.nn.one_hot(_squeeze_last(x), int(num_classes), dtype=config.floatx())
    is_jax = isinstance(x, jax.Array)
    labels = _squeeze_last(np.array(x, dtype="int64"))
    if labels.size == 0 and num_classes is None:
        raise ValueError(
            "to_categorical: argument 'num_classes' is required when 'x' is empty; got None"
        )
    if labels.size and labels.min() < 0:
        raise ValueError(
            f"to_categorical: argument 'x' must hold class indices >= 0; "
            f"got a minimum of {labels.min()}"
        )
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif labels.size and labels.max() >= num_classes:
        raise ValueError(
            f"to_categorical: argument 'x' must hold class indices < num_classes={num_classes}; "
            f"got a maximum of {labels.max()}"
        )
    one_hot = np.zeros(labels.shape + (int(num_classes),))
    np.put_along_axis(one_hot, labels[..., None], 1.0, axis=-1)
    return jnp.asarray(one_hot, dtype=config.floatx()) if is_jax else one_hot


def _squeeze_last(x):
    if x.ndim > 1 and x.shape[-1] == 1:
        return x.reshape(x.shape[:-1])
    return x


def normalize(x, axis=-1, order=2):
    """Divides `x` by its `order`-norm along `axis`.

    For NumPy input, zero-norm slices are left unchanged (as Keras). For JAX input the norm
    is floored at `epsilon()` (as `keras.ops.normalize`).

    Args:
        x: array to normalize.
        axis: axis (or tuple of axes) along which the norm is taken.
        order: norm order (e.g. 2 for L2).

    Returns:
        An array of the same shape and kind (NumPy or JAX) as `x`.
    """
    if isinstance(x, np.ndarray):
        norm = np.linalg.norm(x, order, axis, keepdims=True)
        norm[norm == 0] = 1
        return x / norm
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"normalize: argument 'order' must be an int >= 1; got {order!r}")
    x = jnp.asarray(x)
    if x.ndim == 0:
        x = x[None]
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(config.floatx())
    if order == 2:  # rsqrt form, as keras.ops.normalize
        inv = jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
        return x * jnp.minimum(inv, 1.0 / config.epsilon())
    norm = jnp.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / jnp.maximum(norm, config.epsilon())
