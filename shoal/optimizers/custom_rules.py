"""Keras 3's API for optimizers written as subclasses: `build` + `update_step`.

A Keras program may define its own rule the Keras way:

    class MomentumSGD(keras.optimizers.Optimizer):
        def build(self, variables):
            if self.built:
                return
            super().build(variables)
            self.momentums = self.add_optimizer_variables(variables, "momentum")

        def update_step(self, gradient, variable, learning_rate):
            m = self.momentums[self._get_variable_index(variable)]
            self.assign(m, self.momentum * m - learning_rate * gradient)
            self.assign_add(variable, m)

Such an optimizer keeps its state in the Variables it adds here; `Optimizer.apply`
calls `update_step` once per variable that has a gradient, and under `jax.jit` the
assignments resolve through the trainer's `StatelessScope` like every other update, so
the rule runs compiled and fused like the built-in (optax) ones. Weight decay, clipping,
EMA, gradient accumulation and loss scaling come from the base class, as in Keras.
"""

from __future__ import annotations

import numpy as np

from shoal import initializers
from shoal.backend import config


class CustomRules:
    """The Keras methods a subclass's `build` / `update_step` call (mixed into Optimizer)."""

    def update_step(self, gradient, variable, learning_rate):
        """Update one `variable` from its `gradient`: what a subclass written the Keras way
        implements (the built-in optimizers use optax rules instead)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement update_step(gradient, variable, "
            "learning_rate), or be one of shoal's built-in optimizers"
        )

    @property
    def _uses_custom_rule(self) -> bool:
        from shoal.optimizers.base import Optimizer

        return type(self).update_step is not Optimizer.update_step

    # -- variables ------------------------------------------------------------
    def add_variable(
        self, shape, initializer="zeros", dtype=None, aggregation="none", layout=None, name=None
    ):
        """A new optimizer Variable (not trainable), saved with the optimizer's state."""
        if layout is not None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': argument 'layout' must be None "
                "(optimizer variables follow the variable they shadow, or are replicated); "
                f"got {layout!r}"
            )
        return self._add_custom_variable(shape, initializer, dtype, name or "variable", None)

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros"):
        """A Variable of `reference_variable`'s shape and dtype, named
        `<reference path with _>_<name>` as Keras names it."""
        name = f"{reference_variable.path.replace('/', '_')}_{name or 'var'}"
        owner = self._index.get(reference_variable)
        return self._add_custom_variable(
            reference_variable.shape, initializer, reference_variable.dtype, name, owner
        )

    def add_optimizer_variables(self, trainable_variables, name, initializer="zeros"):
        """One Variable per trainable variable for `name` (a list of them for a list of
        names, interleaved per variable as Keras creates them); variables written with their
        gradient (float8 scales) get None."""
        names = [name] if isinstance(name, str) else list(name)
        inits = initializer if isinstance(initializer, (list, tuple)) else [initializer]
        inits = inits * len(names) if len(inits) == 1 else list(inits)
        if len(inits) != len(names):
            self._fail(
                "initializer", f"one initializer or {len(names)} (one per name)", initializer
            )
        out = tuple([] for _ in names)
        for variable in trainable_variables:
            skip = getattr(variable, "overwrite_with_gradient", False)
            for group, slot, init in zip(out, names, inits, strict=True):
                group.append(
                    None if skip else self.add_variable_from_reference(variable, slot, init)
                )
        return out[0] if isinstance(name, str) else out

    def _add_custom_variable(self, shape, initializer, dtype, name, owner):
        dtype = dtype if dtype is not None else config.floatx()
        init = initializers.get(initializer)
        value = init(tuple(int(d) for d in shape), dtype=dtype) if callable(init) else init
        variable = self._new_variable(np.asarray(value), name, dtype)
        self._custom_variables.append(variable)
        self._custom_owner.append(owner)
        return variable

    def _get_variable_index(self, variable) -> int:
        """The position of `variable` in the list the optimizer was built with."""
        return self._index[variable]

    # -- assignments ------------------------------------------------------------
    def assign(self, variable, value):
        variable.assign(value)

    def assign_add(self, variable, value):
        variable.assign_add(value)

    def assign_sub(self, variable, value):
        variable.assign_sub(value)

    def set_weights(self, weights) -> None:
        """Assign `weights` (arrays, in the order of `variables`) to the optimizer's state."""
        if not self.built:
            raise ValueError(
                f"You are calling `set_weights()` on optimizer '{self.name}' "
                f"({type(self).__name__}), which has not yet been built; call "
                "`optimizer.build(trainable_variables)` first to create its variables"
            )
        own = self.variables
        weights = list(weights)
        if len(weights) != len(own):
            self._fail("weights", f"a list of {len(own)} arrays (one per variable)", len(weights))
        for variable, weight in zip(own, weights, strict=True):
            if tuple(variable.shape) != tuple(np.shape(weight)):
                self._fail(
                    "weights",
                    f"an array of shape {tuple(variable.shape)} for variable '{variable.path}'",
                    tuple(np.shape(weight)),
                )
            variable.assign(weight)
