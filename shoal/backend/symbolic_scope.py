"""`SymbolicScope`: marks the symbolic stage (output-shape inference), as
`keras.SymbolicScope`. shoal enters it while it infers a call's output spec; code that
must behave differently there (no state updates, no logging) checks `in_symbolic_scope()`.
"""

from __future__ import annotations

from shoal.backend.scope_stack import ScopeStack, StackedScope


class SymbolicScope(StackedScope):
    """Scope marking the symbolic stage; `in_symbolic_scope()` is True inside it."""

    _stack = ScopeStack()


def get_symbolic_scope():
    """The innermost active `SymbolicScope`, or None."""
    return SymbolicScope._stack.current()


def in_symbolic_scope() -> bool:
    """Whether a `SymbolicScope` is active in this thread."""
    return SymbolicScope._stack.current() is not None
