"""`Function`: a graph of operations from symbolic inputs to symbolic outputs, callable on
new values, as `keras.Function`. Like a Functional model it replays the graph, but it is
only an Operation: no Layer API, no weights of its own, no masks or training flag."""

from __future__ import annotations

import jax

from shoal import tree
from shoal.backend.operation import Operation
from shoal.backend.symbolic import KerasTensor, eval_output_spec, is_keras_tensor
from shoal.models import graph


class Function(Operation):
    """The computation linking `inputs` to `outputs`, reapplied to new inputs.

    Args:
        inputs: a KerasTensor or a nested structure (list, tuple, dict) of them.
        outputs: a KerasTensor or a nested structure of them, computable from `inputs`.
        name: the function's name.

    Example:
        >>> a = KerasTensor(shape=(None, 2, 3))
        >>> b = KerasTensor(shape=(None, 2, 3))
        >>> fn = Function(inputs=[a, b], outputs=ops.sigmoid(a + b))  # doctest: +SKIP
        >>> fn([np.ones((4, 2, 3)), np.ones((4, 2, 3))]).shape  # doctest: +SKIP
        (4, 2, 3)
    """

    def __init__(self, inputs, outputs, name=None):
        super().__init__(name=name)
        self._inputs_struct = tree.map_structure(lambda x: x, inputs)
        self._outputs_struct = tree.map_structure(lambda x: x, outputs)
        self._inputs = tree.flatten(inputs)
        self._outputs = tree.flatten(outputs)
        for kind, flat, given in (
            ("inputs", self._inputs, inputs),
            ("outputs", self._outputs, outputs),
        ):
            if not flat:
                raise ValueError(
                    f"Function: argument '{kind}' must hold at least one KerasTensor; got {given!r}"
                )
            for x in flat:
                if not isinstance(x, KerasTensor):
                    raise ValueError(
                        f"Function: argument '{kind}' must hold only KerasTensors; got {x!r} "
                        f"of type {type(x).__name__}"
                    )
        input_ids = {id(x) for x in self._inputs}
        for path, x in tree.flatten_with_path(self._outputs_struct):
            if id(x) not in input_ids and x._keras_history is None:
                raise ValueError(
                    f"Function: output with path {_path(path)} is not connected to "
                    f"'inputs': it was not computed from them ({x!r})"
                )
        self._nodes = graph.nodes_between(self._inputs, self._outputs, owner="Function")
        self._check_connected()
        operations = {}
        for x in self._inputs:
            history = x._keras_history
            if history is not None and history[0]._inbound_nodes[history[1]].is_input:
                operations.setdefault(id(history[0]), history[0])
        for node in self._nodes:
            operations.setdefault(id(node.operation), node.operation)
        self._operations = list(operations.values())

    def _check_connected(self):
        available = {id(x) for x in self._inputs}
        for node in self._nodes:
            if not node.is_input:
                available.update(id(t) for t in node.output_tensors)
        for i, x in enumerate(self._outputs):
            if id(x) not in available:
                path = tree.flatten_with_path(self._outputs_struct)[i][0]
                raise ValueError(
                    f"Function: output with path {_path(path)} is not connected to 'inputs' ({x!r})"
                )

    @property
    def operations(self) -> list:
        """The operations of the graph, inputs first."""
        return self._operations[:]

    @property
    def inputs(self) -> list:
        """Flat list of the symbolic inputs."""
        return self._inputs

    @property
    def outputs(self) -> list:
        """Flat list of the symbolic outputs."""
        return self._outputs

    def call(self, inputs):
        """The outputs computed from new `inputs` (arrays in the inputs' structure)."""
        self._assert_input_compatibility(inputs)
        return self._run_through_graph(inputs)

    def _run_through_graph(self, inputs):
        values = {id(ref): x for ref, x in zip(self._inputs, tree.flatten(inputs), strict=True)}
        for node in self._nodes:
            if node.is_input:
                continue
            args, kwargs = node.map_arguments(values)
            outputs = node.operation(*args, **kwargs)
            flat = jax.tree_util.tree_leaves(outputs, is_leaf=is_keras_tensor)
            for t, value in zip(node.output_tensors, flat, strict=False):
                values[id(t)] = value
        return tree.pack_sequence_as(self._outputs_struct, [values[id(x)] for x in self._outputs])

    def compute_output_spec(self, inputs):
        self._assert_input_compatibility(inputs)
        if all(
            tuple(x.shape) == ref.shape
            for x, ref in zip(tree.flatten(inputs), self._inputs, strict=True)
        ):
            return tree.map_structure(
                lambda x: KerasTensor(x.shape, dtype=x.dtype), self._outputs_struct
            )
        return eval_output_spec(self._run_through_graph, inputs)

    def compute_output_shape(self, input_shape):
        specs = tree.map_shape_structure(lambda s: KerasTensor(s), input_shape)
        for spec, ref in zip(tree.flatten(specs), self._inputs, strict=True):
            spec.dtype = ref.dtype
        return tree.map_structure(lambda x: x.shape, self.compute_output_spec(specs))

    def _assert_input_compatibility(self, inputs):
        try:
            tree.assert_same_structure(inputs, self._inputs_struct)
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"Function '{self.name}': argument 'inputs' must have the structure of the "
                f"function's inputs {_describe(self._inputs_struct)}; got {_describe(inputs)}"
            ) from err
        for i, (x, ref) in enumerate(zip(tree.flatten(inputs), self._inputs, strict=True)):
            shape = tuple(getattr(x, "shape", ()))
            if len(shape) != len(ref.shape) or any(
                d is not None and r is not None and d != r
                for d, r in zip(shape, ref.shape, strict=True)
            ):
                raise ValueError(
                    f"Function '{self.name}': input {ref.name or i!r} must have shape {ref.shape}; "
                    f"got a value of shape {shape}"
                )


def _path(path) -> str:
    return "`" + ".".join(str(p) for p in path) + "`"


def _describe(structure):
    """`structure` with each leaf shown as its type and shape (arrays print long)."""
    return tree.map_structure(
        lambda x: f"{type(x).__name__}{tuple(getattr(x, 'shape', ()))}", structure
    )
