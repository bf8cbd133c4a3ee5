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
        from shoal.backend.variables import Variable

        # A value may itself be a variable (`metric.stateless_update_state(metric.variables,
        # ...)` eagerly): its current value stands in, as Keras converts each value.
        self.values = {
            k: v.value if isinstance(v, Variable) else v
            for k, v in (
                state_mapping.items() if isinstance(state_mapping, dict) else state_mapping or ()
            )
        }
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


def current_stateless_scope() -> StatelessScope | None:
    return StatelessScope._stack.current()


def in_stateless_scope() -> bool:
    return bool(StatelessScope._stack.items)
