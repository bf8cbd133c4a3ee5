"""Loss classes: each wraps one function of `functions.py` with its hyper-parameters.

Constructor arguments, their order and defaults, and default names follow Keras 3.
`get_config()` holds every hyper-parameter (Keras omits a few, e.g. Huber's
`delta`; a superset still loads in Keras).
"""

from __future__ import annotations

from shoal.losses import functions as F
from shoal.losses.base import Loss, squeeze_or_expand_to_same_rank

_SOBS = "sum_over_batch_size"


class LossFunctionWrapper(Loss):
    """A `Loss` from a function `fn(y_true, y_pred, **kwargs)`."""

    def __init__(self, fn, reduction=_SOBS, name=None, dtype=None, **kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs
        if type(self) is not LossFunctionWrapper:  # named subclasses expose their options
            for key, value in kwargs.items():
                setattr(self, key, value)

    def _aligned(self, y_true, y_pred):
        if isinstance(y_true, dict) or isinstance(y_pred, dict):
            return y_true, y_pred
        return squeeze_or_expand_to_same_rank(y_true, y_pred)

    def call(self, y_true, y_pred):
        return self.fn(*self._aligned(y_true, y_pred), **self._fn_kwargs)

    def _call_with_mask(self, y_true, y_pred):
        return F.values_and_mask(self.fn, *self._aligned(y_true, y_pred), **self._fn_kwargs)

    def get_config(self) -> dict:
        config = {**super().get_config(), **self._fn_kwargs}
        if type(self) is LossFunctionWrapper:
            from shoal.losses.registry import serialize_object

            config["fn"] = serialize_object(self.fn)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "fn" in config:
            from shoal.losses.registry import deserialize

            config["fn"] = deserialize(config["fn"])
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__}({getattr(self.fn, '__name__', self.fn)}, kwargs={self._fn_kwargs})>"


class MeanSquaredError(LossFunctionWrapper):
    """mean(square(y_true - y_pred), axis=-1)."""

    def __init__(self, reduction=_SOBS, name="mean_squared_error", dtype=None):
        super().__init__(F.mean_squared_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    """mean(abs(y_true - y_pred), axis=-1)."""

    def __init__(self, reduction=_SOBS, name="mean_absolute_error", dtype=None):
        super().__init__(F.mean_absolute_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """100 * mean(abs((y_true - y_pred) / max(abs(y_true), epsilon)), axis=-1)."""

    def __init__(self, reduction=_SOBS, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(
            F.mean_absolute_percentage_error, reduction=reduction, name=name, dtype=dtype
        )


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """mean(square(log(y_true + 1) - log(y_pred + 1)), axis=-1)."""

    def __init__(self, reduction=_SOBS, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(
            F.mean_squared_logarithmic_error, reduction=reduction, name=name, dtype=dtype
        )


class CosineSimilarity(LossFunctionWrapper):
    """-sum(l2_norm(y_true) * l2_norm(y_pred), axis)."""

    def __init__(self, axis=-1, reduction=_SOBS, name="cosine_similarity", dtype=None):
        super().__init__(
            F.cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis
        )


class Huber(LossFunctionWrapper):
    """Quadratic for |error| <= delta, linear beyond."""

    def __init__(self, delta=1.0, reduction=_SOBS, name="huber_loss", dtype=None):
        super().__init__(F.huber, reduction=reduction, name=name, dtype=dtype, delta=delta)


class LogCosh(LossFunctionWrapper):
    """mean(log(cosh(y_pred - y_true)), axis=-1)."""

    def __init__(self, reduction=_SOBS, name="log_cosh", dtype=None):
        super().__init__(F.log_cosh, reduction=reduction, name=name, dtype=dtype)


class Hinge(LossFunctionWrapper):
    """mean(maximum(1 - y_true * y_pred, 0), axis=-1); labels {0, 1} become {-1, 1}."""

    def __init__(self, reduction=_SOBS, name="hinge", dtype=None):
        super().__init__(F.hinge, reduction=reduction, name=name, dtype=dtype)


class SquaredHinge(LossFunctionWrapper):
    """mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)."""

    def __init__(self, reduction=_SOBS, name="squared_hinge", dtype=None):
        super().__init__(F.squared_hinge, reduction=reduction, name=name, dtype=dtype)


class CategoricalHinge(LossFunctionWrapper):
    """maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)."""

    def __init__(self, reduction=_SOBS, name="categorical_hinge", dtype=None):
        super().__init__(F.categorical_hinge, reduction=reduction, name=name, dtype=dtype)


class KLDivergence(LossFunctionWrapper):
    """sum(y_true * log(y_true / y_pred), axis=-1), both clipped to [epsilon, 1]."""

    def __init__(self, reduction=_SOBS, name="kl_divergence", dtype=None):
        super().__init__(F.kl_divergence, reduction=reduction, name=name, dtype=dtype)


class Poisson(LossFunctionWrapper):
    """mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)."""

    def __init__(self, reduction=_SOBS, name="poisson", dtype=None):
        super().__init__(F.poisson, reduction=reduction, name=name, dtype=dtype)


class BinaryCrossentropy(LossFunctionWrapper):
    """Crossentropy of independent binary labels, averaged over `axis`."""

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_SOBS,
        name="binary_crossentropy",
        dtype=None,
    ):
        super().__init__(
            F.binary_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Binary crossentropy down-weighting easy examples by (1 - p_t)^gamma."""

    def __init__(
        self,
        apply_class_balancing=False,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_SOBS,
        name="binary_focal_crossentropy",
        dtype=None,
    ):
        super().__init__(
            F.binary_focal_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class CategoricalCrossentropy(LossFunctionWrapper):
    """Crossentropy of one-hot (or soft) labels along `axis`."""

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_SOBS,
        name="categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            F.categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """Categorical crossentropy scaled by alpha * (1 - p)^gamma."""

    def __init__(
        self,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_SOBS,
        name="categorical_focal_crossentropy",
        dtype=None,
    ):
        super().__init__(
            F.categorical_focal_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Crossentropy with integer labels; `ignore_class` entries are masked out of the mean."""

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction=_SOBS,
        axis=-1,
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            F.sparse_categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )
