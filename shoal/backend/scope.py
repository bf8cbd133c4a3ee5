"""Stateless scopes: trace layer code with given values in place of variables.

Inside `StatelessScope(mapping)`, reading a `Variable` returns the value the
mapping holds for it, and `Variable.assign` records the new value in the
scope instead of mutating the variable. This is how pure functions
(`Model.stateless_call`, the jitted train step) run ordinary layer code.
"""

from __future__ import annotations

from shoal.backend.scope_stack import ScopeStack, StackedScope


class StatelessScope(StackedScope):
    _stack = ScopeStack()

    def __init__(self, state_mapping=None, collect_losses: bool = False, initialize_variables=True):
        # Keys are Variables (hashed by identity), values are arrays. Keras passes a list
        # of (variable, value) pairs; a dict works too.
        self.values = dict(_checked_pairs(state_mapping))
        self.assigned: dict = {}
        self.collect_losses = collect_losses
        self.losses: list = []

    def get_value(self, variable):
        if variable in self.assigned:
            return self.assigned[variable]
        return self.values.get(variable)

    def get_current_value(self, variable):
        """The value `variable` has in this scope (assigned here, or given), else None."""
        return self.get_value(variable)

    def assign(self, variable, value) -> None:
        self.assigned[variable] = value

    def add_loss(self, loss) -> None:
        self.losses.append(loss)


def _checked_pairs(state_mapping):
    """`(variable, value)` pairs with each value a tensor of the variable's dtype and shape
    (Keras' checks: a key that is no Variable, or a value of another shape, is refused)."""
    import jax.numpy as jnp

    from shoal.backend.variables import Variable

    pairs = state_mapping.items() if isinstance(state_mapping, dict) else state_mapping or ()
    for variable, value in pairs:
        if not isinstance(variable, Variable):
            raise ValueError(
                "StatelessScope: all keys in argument `mapping` must be Variable instances; "
                f"got {variable!r}"
            )
        if isinstance(value, Variable):
            value = value.value
        if value is not None and getattr(value, "dtype", None) != variable._dtype:
            value = jnp.asarray(value, dtype=variable._dtype)
        if value is not None and tuple(value.shape) != variable.shape:
            raise ValueError(
                "StatelessScope: all values in argument `mapping` must be tensors with the "
                f"shape of their variable; variable {variable.path!r} has shape "
                f"{variable.shape}, got a value of shape {tuple(value.shape)}"
            )
        yield variable, value


def current_stateless_scope() -> StatelessScope | None:
    return StatelessScope._stack.current()


def in_stateless_scope() -> bool:
    return bool(StatelessScope._stack.items)
