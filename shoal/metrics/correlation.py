"""Correlation metrics: running means of per-sample Pearson and concordance coefficients.

Both functions compute one coefficient per row (along `axis`); the metric
classes average them over every sample seen (a `MeanMetricWrapper`, with its
`total` and `count` variables), as Keras 3 does.
"""

from __future__ import annotations

import jax.numpy as jnp

from shoal.backend import config
from shoal.backend.tensors import convert_to_tensor
from shoal.losses.base import squeeze_or_expand_to_same_rank
from shoal.metrics.reduction import MeanMetricWrapper


def _check_axis(where: str, axis):
    if isinstance(axis, int) and not isinstance(axis, bool):
        return axis
    if isinstance(axis, (tuple, list)) and all(
        isinstance(a, int) and not isinstance(a, bool) for a in axis
    ):
        return tuple(axis)
    raise ValueError(f"{where}: argument `axis` must be an int or a tuple of ints; got {axis!r}")


def _pair(y_true, y_pred):
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, dtype=y_pred.dtype)
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson's r of `y_true` and `y_pred` along `axis` (population std).

    Example:
        >>> pearson_correlation([[1.0, 2.0, 3.0]], [[2.0, 4.0, 7.0]])
    """
    axis = _check_axis("pearson_correlation", axis)
    t, p = _pair(y_true, y_pred)
    t = t - jnp.mean(t, axis=axis, keepdims=True)
    p = p - jnp.mean(p, axis=axis, keepdims=True)
    t = t / jnp.std(t, axis=axis, keepdims=True)
    p = p / jnp.std(p, axis=axis, keepdims=True)
    return jnp.mean(t * p, axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance coefficient of `y_true` and `y_pred` along `axis`.

    2 cov / (var(t) + var(p) + (mean(t) - mean(p))^2 + epsilon). For parity
    with Keras 3 the covariance term centres *both* factors on mean(y_pred).

    Example:
        >>> concordance_correlation([[1.0, 2.0, 3.0]], [[1.0, 2.0, 4.0]])
    """
    axis = _check_axis("concordance_correlation", axis)
    t, p = _pair(y_true, y_pred)
    t_mean = jnp.mean(t, axis=axis, keepdims=True)
    p_mean = jnp.mean(p, axis=axis, keepdims=True)
    t_var = jnp.var(t - t_mean, axis=axis, keepdims=True)
    p_var = jnp.var(p - p_mean, axis=axis, keepdims=True)
    covariance = (t - p_mean) * (p - p_mean)
    norm = t_var + p_var + jnp.square(t_mean - p_mean) + config.epsilon()
    return jnp.mean(2 * covariance / norm, axis=axis)


class PearsonCorrelation(MeanMetricWrapper):
    """The mean over samples of `pearson_correlation` along `axis`."""

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(
            pearson_correlation,
            name=name,
            dtype=dtype,
            axis=_check_axis("PearsonCorrelation", axis),
        )
        self.axis = self._fn_kwargs["axis"]


class ConcordanceCorrelation(MeanMetricWrapper):
    """The mean over samples of `concordance_correlation` along `axis`."""

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(
            concordance_correlation,
            name=name,
            dtype=dtype,
            axis=_check_axis("ConcordanceCorrelation", axis),
        )
        self.axis = self._fn_kwargs["axis"]
