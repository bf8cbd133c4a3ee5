"""`Operation`: anything that can be called on symbolic tensors (layers, ops)."""

from __future__ import annotations

from shoal.backend import naming
from shoal.backend.symbolic import Node, any_symbolic, eval_output_spec


class Operation:
    def __init__(self, name: str | None = None):
        if name is not None and (not isinstance(name, str) or "/" in name):
            raise ValueError(
                f"{type(self).__name__}: argument 'name' must be a string without '/', got {name!r}"
            )
        self.name = name or naming.auto_name(type(self).__name__)
        self._inbound_nodes: list = []
        self._outbound_nodes: list = []

    def __call__(self, *args, **kwargs):
        if any_symbolic(args, kwargs):
            return self.symbolic_call(*args, **kwargs)
        return self.call(*args, **kwargs)

    def call(self, *args, **kwargs):
        raise NotImplementedError

    def compute_output_spec(self, *args, **kwargs):
        return eval_output_spec(self.call, *args, **kwargs)

    def symbolic_call(self, *args, **kwargs):
        outputs = self.compute_output_spec(*args, **kwargs)
        Node(self, call_args=args, call_kwargs=kwargs, outputs=outputs)
        return outputs
