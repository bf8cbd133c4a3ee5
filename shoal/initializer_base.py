"""`Initializer`: the base class of weight initializers (`keras.initializers.Initializer`)."""

from __future__ import annotations


class Initializer:
    """Base class: subclasses implement `__call__(shape, dtype=None)` and `get_config()`.

    Example:
        >>> class Halves(Initializer):
        ...     def __call__(self, shape, dtype=None):
        ...         return jnp.full(shape, 0.5, dtypes.standardize_dtype(dtype))
    """

    def __call__(self, shape, dtype=None):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(shape, dtype)")

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def clone(self):
        return type(self).from_config(self.get_config())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
