"""`keras.name_scope`: a path prefix for the variables created inside it.

`with keras.name_scope("encoder"): v = keras.Variable(...)` gives `v.path ==
"encoder/variable"`. Scopes nest ("outer/inner/..."). A layer's weights take their
path from the layer (`layer.path/weight_name`), as in Keras.
"""

from __future__ import annotations

from shoal.backend.scope_stack import ScopeStack, StackedScope


class name_scope(StackedScope):  # noqa: N801 (Keras' public name)
    """Prefix `name` to the paths of variables created while the scope is entered."""

    _stack = ScopeStack()

    def __init__(self, name, caller=None, deduplicate=True, override_parent=None):
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(
                f"name_scope: argument 'name' must be a string, not empty and without '/'; "
                f"got {name!r}"
            )
        self.name = name
        self.caller = caller
        self.deduplicate = deduplicate
        self.override_parent = override_parent
        if override_parent is None and deduplicate:
            # A layer re-entering its scope later (from another path) keeps its first path.
            self.override_parent = getattr(caller, "_parent_path", None)

    def __enter__(self):
        parent = self._stack.current()
        repeated = (
            self.deduplicate
            and parent is not None
            and self.caller is not None
            and self.caller is parent.caller
            and self.name == parent.name
        )
        if repeated:  # the same caller re-entering its own scope: no second level
            self.path = parent.path
        else:
            if self.override_parent is not None:  # an absolute path: "/a/b" and "a/b/" mean "a/b"
                base = "/".join(p for p in self.override_parent.split("/") if p)
            else:
                base = current_path()
            self.path = f"{base}/{self.name}" if base else self.name
        return super().__enter__()


def current_path() -> str:
    """The active scopes' path ("" outside any)."""
    scope = name_scope._stack.current()
    return scope.path if scope is not None else ""
