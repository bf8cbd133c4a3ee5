"""Per-thread stacks of active scopes (stateless, autocast, RNG, the training flag)."""

from __future__ import annotations

import threading


class ScopeStack(threading.local):
    """What is active in this thread, innermost last (`items`); one stack per kind."""

    def __init__(self):
        self.items: list = []

    def current(self):
        """The innermost item, or None."""
        return self.items[-1] if self.items else None


class StackedScope:
    """A context manager that is its kind's current scope while entered.

    Subclasses set `_stack = ScopeStack()`."""

    _stack: ScopeStack

    def __enter__(self):
        self._stack.items.append(self)
        return self

    def __exit__(self, *exc):
        self._stack.items.pop()
        return False
