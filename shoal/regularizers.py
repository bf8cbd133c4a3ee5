"""Weight penalties (`keras.regularizers`): callables `x -> scalar` added to the loss."""

from __future__ import annotations

import math

import jax.numpy as jnp

from shoal._catalog import Catalog
from shoal.backend.naming import to_snake_case
from shoal.backend.tensors import convert_to_tensor
from shoal.ops.nn import normalize


def _factor(cls, name, value) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"{cls.__name__}: argument '{name}' must be a non-negative float, got {value!r}"
        )
    return float(value)


class Regularizer:
    """Base class: subclasses implement `__call__(x)` and `get_config()`.

    Example:
        >>> class L05(Regularizer):
        ...     def __call__(self, x):
        ...         return 0.01 * jnp.sum(jnp.sqrt(jnp.abs(x)))
        ...     def get_config(self):
        ...         return {}
    """

    def __call__(self, x):
        return 0.0

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _penalty(x, l1: float, l2: float):
    """`l1 * sum(|x|) + l2 * sum(x**2)` in x's dtype (terms with a zero factor skipped)."""
    x = convert_to_tensor(x)
    penalty = jnp.zeros((), x.dtype)
    if l1:
        penalty += jnp.asarray(l1, x.dtype) * jnp.sum(jnp.abs(x))
    if l2:
        penalty += jnp.asarray(l2, x.dtype) * jnp.sum(jnp.square(x))
    return penalty


class L1L2(Regularizer):
    """`l1 * sum(|x|) + l2 * sum(x**2)`."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(type(self), "l1", 0.0 if l1 is None else l1)
        self.l2 = _factor(type(self), "l2", 0.0 if l2 is None else l2)

    def __call__(self, x):
        return _penalty(x, self.l1, self.l2)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """`l1 * sum(|x|)`."""

    def __init__(self, l1=0.01):
        self.l1 = _factor(type(self), "l1", 0.01 if l1 is None else l1)

    def __call__(self, x):
        return _penalty(x, self.l1, 0.0)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """`l2 * sum(x**2)`."""

    def __init__(self, l2=0.01):
        self.l2 = _factor(type(self), "l2", 0.01 if l2 is None else l2)

    def __call__(self, x):
        return _penalty(x, 0.0, self.l2)

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (or columns) of a 2-D weight towards mutual orthogonality.

    Penalty: `factor * mean |cosine similarity|` over distinct pairs of rows
    (`mode="rows"`) or columns (`mode="columns"`).
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor(type(self), "factor", factor)
        if mode not in ("rows", "columns"):
            raise ValueError(
                f"OrthogonalRegularizer: argument 'mode' must be 'rows' or 'columns', got {mode!r}"
            )
        self.mode = mode

    def __call__(self, x):
        x = convert_to_tensor(x)
        if x.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer: input must have rank 2, got shape {x.shape}")
        vectors = normalize(x, axis=1) if self.mode == "rows" else normalize(x, axis=0).T
        n = vectors.shape[0]
        similarity = (vectors @ vectors.T) * (1.0 - jnp.eye(n, dtype=x.dtype))
        pairs = n * (n - 1.0) / 2.0
        return self.factor * 0.5 * jnp.sum(jnp.abs(similarity)) / pairs

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


_CLASSES = (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)
_ALIASES = {to_snake_case(cls.__name__): cls for cls in _CLASSES}
_ALIASES.update(l1l2=L1L2, l1_l2=L1L2)
_CATALOG = Catalog("regularizer", {**{c.__name__: c for c in _CLASSES}, **_ALIASES})
globals().update(_ALIASES)  # keras.regularizers.l2 is the class L2, as here


def serialize(regularizer) -> dict:
    """`regularizer` as a Keras 3 config dict."""
    return _CATALOG.serialize(regularizer)


def deserialize(config, custom_objects=None):
    """The regularizer a config dict or name describes."""
    return _CATALOG.deserialize(config, custom_objects)


def get(identifier):
    """A regularizer from a name ("l2"), config dict, instance, class or callable (None: None).

    As documented for Keras, the string "l1_l2" means `L1L2(l1=0.01, l2=0.01)`.
    """
    if isinstance(identifier, str) and identifier == "l1_l2":
        return L1L2(l1=0.01, l2=0.01)
    return _CATALOG.get(identifier)


__all__ = [c.__name__ for c in _CLASSES] + ["deserialize", "get", "serialize"]
