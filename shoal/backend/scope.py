"""Stateless scopes: trace layer code with given values in place of variables.

Inside `StatelessScope(mapping)`, reading a `Variable` returns the value the
mapping holds for it, and `Variable.assign` records the new value in the
scope instead of mutating the variable. This is how pure functions
(`Model.stateless_call`, the jitted train step) run ordinary layer code.
"""

from __future__ import annotations

import threading

_LOCAL = threading.local()


def _stack() -> list:
    if not hasattr(_LOCAL, "stack"):
        _LOCAL.stack = []
    return _LOCAL.stack


class StatelessScope:
    def __init__(self, state_mapping=None, collect_losses: bool = False):
        # Keys are Variables (hashed by identity), values are arrays.
        self.values = dict(state_mapping or {})
        self.assigned: dict = {}
        self.collect_losses = collect_losses
        self.losses: list = []

    def get_value(self, variable):
        if variable in self.assigned:
            return self.assigned[variable]
        return self.values.get(variable)

    def assign(self, variable, value) -> None:
        self.assigned[variable] = value

    def add_loss(self, loss) -> None:
        self.losses.append(loss)

    def __enter__(self):
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        _stack().pop()
        return False


def current_stateless_scope() -> StatelessScope | None:
    stack = _stack()
    return stack[-1] if stack else None


def in_stateless_scope() -> bool:
    return bool(_stack())
