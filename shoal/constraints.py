"""Weight constraints (`keras.constraints`): projections applied after each optimizer step."""

from __future__ import annotations

import jax.numpy as jnp

from shoal._catalog import Catalog
from shoal.backend.config import epsilon
from shoal.backend.naming import to_snake_case
from shoal.backend.tensors import convert_to_tensor


class Constraint:
    """Base class: subclasses implement `__call__(w)` returning the projected weight.

    Example:
        >>> class NonPositive(Constraint):
        ...     def __call__(self, w):
        ...         return jnp.minimum(w, 0.0)
    """

    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _norms(w, axis):
    return jnp.sqrt(
        jnp.sum(jnp.square(w), axis=tuple(axis) if isinstance(axis, list) else axis, keepdims=True)
    )


class MinMaxNorm(Constraint):
    """Rescale weights so each norm along `axis` lies in `[min_value, max_value]`.

    With `rate < 1` the norm moves only part of the way:
    `new_norm = rate * clip(norm, min_value, max_value) + (1 - rate) * norm`.
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        w = convert_to_tensor(w)
        norms = _norms(w, self.axis)
        desired = (
            self.rate * jnp.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        )
        return w.astype(norms.dtype) * (desired / (epsilon() + norms))

    def get_config(self):
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


class MaxNorm(Constraint):
    """Rescale weights whose norm along `axis` exceeds `max_value` down to it.

    For a Dense kernel `(input_dim, units)` use `axis=0`; for a Conv2D kernel
    `(rows, cols, in, out)` use `axis=[0, 1, 2]`.
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        w = convert_to_tensor(w)
        norms = _norms(w, self.axis)
        desired = jnp.clip(norms, 0, self.max_value)
        return w.astype(norms.dtype) * (desired / (epsilon() + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class UnitNorm(Constraint):
    """Rescale weights to unit norm along `axis`."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = convert_to_tensor(w)
        norms = _norms(w, self.axis)
        return w.astype(norms.dtype) / (epsilon() + norms)

    def get_config(self):
        return {"axis": self.axis}


class NonNeg(Constraint):
    """Clamp negative weights to zero."""

    def __call__(self, w):
        return jnp.maximum(convert_to_tensor(w), 0)


_CLASSES = (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
_ALIASES = {to_snake_case(cls.__name__): cls for cls in _CLASSES}
_CATALOG = Catalog("constraint", {**{c.__name__: c for c in _CLASSES}, **_ALIASES})
globals().update(_ALIASES)  # keras.constraints.max_norm is the class MaxNorm, as here


def serialize(constraint) -> dict:
    """`constraint` as a Keras 3 config dict."""
    return _CATALOG.serialize(constraint)


def deserialize(config, custom_objects=None):
    """The constraint a config dict or name describes."""
    return _CATALOG.deserialize(config, custom_objects)


def get(identifier):
    """A constraint from a name ("max_norm"), config dict, instance, class or callable (None: None)."""
    return _CATALOG.get(identifier)


__all__ = [c.__name__ for c in _CLASSES] + ["deserialize", "get", "serialize"]
