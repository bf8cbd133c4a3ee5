"""`Operation`: anything that can be called on symbolic tensors (layers, ops)."""

from __future__ import annotations

from shoal.backend import naming
from shoal.backend.remat_scope import call_with_remat, get_current_remat_mode
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
        # The RematScope active at creation decides how this operation's calls rematerialize.
        self._remat_mode = get_current_remat_mode()

    def __call__(self, *args, **kwargs):
        if any_symbolic(args, kwargs):
            return self.symbolic_call(*args, **kwargs)
        if getattr(self, "_remat_mode", None) is not None:
            return call_with_remat(self, self.call, args, kwargs)
        return self.call(*args, **kwargs)

    def call(self, *args, **kwargs):
        raise NotImplementedError

    @property
    def input(self):
        """The symbolic input tensor(s) of the first call on symbolic tensors (as Keras)."""
        return self._first_node_tensors("input_tensors", "input")

    @property
    def output(self):
        """The symbolic output tensor(s) of the first call on symbolic tensors, e.g. to
        build a feature extractor: `Model(model.inputs, model.get_layer("conv").output)`."""
        return self._first_node_tensors("output_tensors", "output")

    def _first_node_tensors(self, attribute, what):
        if not self._inbound_nodes:
            raise AttributeError(
                f"{type(self).__name__} '{self.name}' has never been called on symbolic "
                f"tensors (shoal.Input or a layer's output), so it has no {what}."
            )
        tensors = getattr(self._inbound_nodes[0], attribute)
        return tensors[0] if len(tensors) == 1 else list(tensors)

    def compute_output_spec(self, *args, **kwargs):
        return eval_output_spec(self.call, *args, **kwargs)

    def symbolic_call(self, *args, **kwargs):
        outputs = self.compute_output_spec(*args, **kwargs)
        Node(self, call_args=args, call_kwargs=kwargs, outputs=outputs)
        return outputs
