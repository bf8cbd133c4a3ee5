"""Functional models: a directed acyclic graph of layers from Inputs to outputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend.symbolic import KerasTensor, is_keras_tensor
from shoal.layers.base import Layer
from shoal.layers.core import InputLayer
from shoal.layers.input_spec import format_shape
from shoal.models import graph
from shoal.models.model import Model


def _flatten(structure) -> list:
    return jax.tree_util.tree_leaves(structure, is_leaf=is_keras_tensor)


class Functional(Model):
    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        for kind, structure in (("inputs", inputs), ("outputs", outputs)):
            for x in _flatten(structure):
                if not isinstance(x, KerasTensor):
                    raise ValueError(
                        f"Model '{self.name}': all `{kind}` must be symbolic tensors "
                        f"(from shoal.Input or a layer called on one); got {x!r} of type "
                        f"{type(x).__name__}"
                    )
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self._inputs = _flatten(inputs)
        self._outputs = _flatten(outputs)
        if not self._inputs:
            raise ValueError(f"Model '{self.name}': `inputs` is empty.")
        for t in self._inputs:
            if not isinstance(t._keras_history[0], InputLayer):
                raise ValueError(
                    f"Model '{self.name}': every input must come straight from shoal.Input; "
                    f"{t} was produced by layer '{t._keras_history[0].name}'."
                )
        self._nodes, self._operations = graph.map_graph(self._inputs, self._outputs)
        self._layers = [op for op in self._operations if isinstance(op, Layer)]
        self.output_names = [t._keras_history[0].name for t in self._outputs]
        self.input_names = [t._keras_history[0].name for t in self._inputs]
        self.built = True

    # -- structure ---------------------------------------------------------
    @property
    def layers(self) -> list:
        return [op for op in self._operations if isinstance(op, Layer)]

    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def input_shape(self):
        shapes = [t.shape for t in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    # -- running -----------------------------------------------------------
    def _standardize_inputs(self, inputs) -> list:
        """Map user inputs (array, list, tuple or dict) onto the flat list of model inputs."""
        if isinstance(inputs, dict):
            if isinstance(self._inputs_struct, dict):
                keys = list(self._inputs_struct.keys())
            else:
                keys = [t.name for t in self._inputs]
            unknown = sorted(set(inputs) - set(keys))
            missing = [k for k in keys if k not in inputs]
            if unknown or missing:
                raise ValueError(
                    f"Model '{self.name}': input dict keys must match the model's inputs "
                    f"{keys}; got keys {sorted(inputs)} (unknown: {unknown}, missing: {missing})"
                )
            flat = [inputs[k] for k in keys]
            if isinstance(self._inputs_struct, dict):
                flat = _flatten({k: inputs[k] for k in self._inputs_struct})
        elif isinstance(inputs, (list, tuple)) and not hasattr(inputs, "shape"):
            flat = list(inputs)
        else:
            flat = [inputs]
        if len(flat) != len(self._inputs):
            raise ValueError(
                f"Model '{self.name}' expects {len(self._inputs)} input(s) "
                f"{[t.name for t in self._inputs]}, but it received {len(flat)} input tensor(s)."
            )
        out = []
        for x, ref in zip(flat, self._inputs, strict=True):
            if isinstance(x, KerasTensor):
                out.append(x)
                continue
            x = _to_array(x, ref, self.name)
            out.append(x)
        return out

    def call(self, inputs, training=None, mask=None):
        flat = self._standardize_inputs(inputs)
        masks = [None] * len(flat) if mask is None else list(_flatten_masks(mask, len(flat)))
        values = {id(t): x for t, x in zip(self._inputs, flat, strict=True)}
        mask_of = {id(t): m for t, m in zip(self._inputs, masks, strict=True)}
        for node in self._nodes:
            if node.is_input:
                continue
            layer = node.operation
            args, kwargs = node.map_arguments(values)
            in_masks = [mask_of.get(id(t)) for t in node.input_tensors]
            layer_mask = None
            if any(m is not None for m in in_masks):
                layer_mask = in_masks[0] if len(in_masks) == 1 else in_masks
                if getattr(layer, "_call_has_mask", False) and kwargs.get("mask") is None:
                    kwargs["mask"] = layer_mask
            if training is not None and getattr(layer, "_call_has_training", False):
                kwargs.setdefault("training", training)
            outputs = layer(*args, **kwargs)
            out_flat = jax.tree_util.tree_leaves(outputs)
            out_mask = None
            if isinstance(layer, Layer):
                first = args[0] if args else None
                out_mask = layer.compute_mask(first, layer_mask)
            out_masks = (
                list(out_mask)
                if isinstance(out_mask, (list, tuple))
                else [out_mask] * len(out_flat)
            )
            for t, value, m in zip(node.output_tensors, out_flat, out_masks, strict=False):
                values[id(t)] = value
                mask_of[id(t)] = m
        results = [values[id(t)] for t in self._outputs]
        # Masks travel beside the outputs (JAX arrays cannot carry them); the trainer
        # looks them up for exactly these output values (see Trainer._output_masks).
        self._last_output_masks = [mask_of.get(id(t)) for t in self._outputs]
        self._last_output_ids = [id(r) for r in results]
        return jax.tree_util.tree_unflatten(
            jax.tree_util.tree_structure(self._outputs_struct, is_leaf=is_keras_tensor), results
        )

    def compute_output_shape(self, input_shape):
        return jax.tree_util.tree_map(
            lambda t: t.shape, self._outputs_struct, is_leaf=is_keras_tensor
        )

    def compute_output_spec(self, inputs, training=None, mask=None):
        flat = self._standardize_inputs(inputs)
        if all(
            tuple(x.shape[1:]) == tuple(t.shape[1:])
            for x, t in zip(flat, self._inputs, strict=True)
        ):
            batch = flat[0].shape[0]
            return jax.tree_util.tree_map(
                lambda t: KerasTensor((batch,) + tuple(t.shape[1:]), dtype=t.dtype),
                self._outputs_struct,
                is_leaf=is_keras_tensor,
            )
        return super().compute_output_spec(inputs)

    def build(self, input_shape=None):
        self.built = True

    # -- config ------------------------------------------------------------
    def get_config(self):
        from shoal.models.functional_config import functional_config

        return functional_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from shoal.models.functional_config import functional_from_config

        return functional_from_config(cls, config, custom_objects=custom_objects)


def _flatten_masks(mask, n):
    if isinstance(mask, (list, tuple)):
        return list(mask)
    return [mask] + [None] * (n - 1)


def _to_array(x, ref: KerasTensor, model_name: str):
    if isinstance(x, str) or (isinstance(x, np.ndarray) and x.dtype.kind in "USO"):
        raise TypeError(
            f"Model '{model_name}': input '{ref.name}' must be numeric; got an array of "
            f"dtype {getattr(x, 'dtype', type(x).__name__)}"
        )
    if not isinstance(x, jax.Array):
        x = jnp.asarray(np.asarray(x))
    if x.dtype != ref.dtype:
        x = x.astype(ref.dtype)
    shape, want = tuple(x.shape), ref.shape
    if len(shape) == len(want) + 1 and shape[-1] == 1:
        x = jnp.squeeze(x, -1)
    elif len(shape) == len(want) - 1 and want[-1] == 1:
        x = x[..., None]
    shape = tuple(x.shape)
    if len(shape) != len(want) or any(
        w is not None and w != s for w, s in zip(want, shape, strict=True)
    ):
        raise ValueError(
            f"Model '{model_name}': input '{ref.name}' expects shape "
            f"{format_shape(want)}, but received an input of shape {format_shape(tuple(np.shape(x)))}."
        )
    return x
