"""Functional models: a directed acyclic graph of layers from Inputs to outputs."""

from __future__ import annotations

import threading
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import tensor_masks
from shoal.backend.scope import StatelessScope
from shoal.backend.symbolic import KerasTensor, is_keras_tensor
from shoal.layers.base import Layer
from shoal.layers.core import InputLayer
from shoal.layers.input_spec import format_shape
from shoal.models import graph
from shoal.models.model import Model
from shoal.trainers import nested_outputs


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
        if not _flatten(inputs):
            raise ValueError(f"Model '{self.name}': `inputs` is empty.")
        if not all(_from_input_layer(t) for t in _flatten(inputs)):
            inputs, outputs = _detach_at_inputs(inputs, outputs)
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        # What calls return: one output given as a one-element list comes back alone (as
        # Keras' unpack_singleton); `model.output` keeps the list.
        one = isinstance(outputs, (list, tuple)) and len(outputs) == 1
        self._returned_struct = outputs[0] if one else outputs
        self._inputs = _flatten(inputs)
        self._outputs = _flatten(outputs)
        self._nodes, self._operations = graph.map_graph(self._inputs, self._outputs)
        self._layers = [op for op in self._operations if isinstance(op, Layer)]
        _check_unique_names(self.name, self._operations)
        self.output_names = [t._keras_history[0].name for t in self._outputs]
        self.input_names = [t._keras_history[0].name for t in self._inputs]
        self.built = True

    # -- structure ---------------------------------------------------------
    @property
    def layers(self) -> list:
        return [op for op in self._operations if isinstance(op, Layer)]

    @property
    def operations(self) -> list:
        """Every operation of the graph (InputLayers included), in topological order."""
        return list(self._operations)

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
            unknown = sorted(set(inputs) - set(keys), key=str)
            missing = [k for k in keys if k not in inputs]
            if missing:
                raise ValueError(
                    f"Model '{self.name}': input dict keys must match the model's inputs "
                    f"{keys}; got keys {sorted(inputs, key=str)} (unknown: {unknown}, "
                    f"missing: {missing})"
                )
            if unknown:  # Keras warns and leaves the extra entries out
                warnings.warn(
                    "The structure of `inputs` doesn't match the expected structure.\n"
                    f"Expected: {keys}\nReceived: inputs={sorted(inputs, key=str)}\n"
                    f"Model '{self.name}' ignores the extra entries {unknown}.",
                    stacklevel=2,
                )
            flat = [inputs[k] for k in keys]
            if isinstance(self._inputs_struct, dict):
                flat = _flatten({k: inputs[k] for k in self._inputs_struct})
        elif (
            isinstance(inputs, (list, tuple))
            and isinstance(self._inputs_struct, (list, tuple))
            and nested_outputs.is_nested(self._inputs_struct)
        ):
            flat = nested_outputs.leaves(inputs)  # given in the structure of the model's inputs
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
            if isinstance(x, KerasTensor) or (x is None and _is_optional(ref)):
                out.append(x)  # None: an optional input left out, for its layers to handle
                continue
            if x is None:
                raise ValueError(
                    f"Model '{self.name}': input '{ref.name}' is not optional, but it was given "
                    "None; pass an array (or declare it with `Input(..., optional=True)`)."
                )
            x = _to_array(x, ref, self.name)
            out.append(x)
        if not _PROBE.active:
            self.check_input_shapes([getattr(x, "shape", None) for x in out], _input_mismatch)
        return out

    # A model built with `Input`s checks sizes against them, as Keras' Functional does;
    # a Sequential's graph (and `predict`, as in Keras) accepts the sizes it can run on.
    _lenient_inputs = False

    def check_input_shapes(self, shapes, describe, lenient=None) -> None:
        """Check input sizes against the declared ones. Where lenient (a Sequential, or
        `predict`), accept other sizes where the model can run on them, as Keras does (its
        layers check what they need): trace the model once per new set of shapes. Raise
        `describe(model, declared, given)` (+ why, when lenient)."""
        lenient = self._lenient_inputs if lenient is None else lenient
        refs = list(self._inputs)
        mismatched = [
            (ref, tuple(shape))
            for ref, shape in zip(refs, shapes, strict=True)
            if shape is not None
            and any(
                w is not None and w != s for w, s in zip(ref.shape[1:], shape[1:], strict=False)
            )
        ]
        if not mismatched:
            return
        key = tuple(None if s is None else tuple(s[1:]) for s in shapes)  # any batch size
        accepted = self.__dict__.setdefault("_accepted_input_shapes", set())
        if key in accepted:  # probed already (a predict's data, then traced in its step)
            return
        if not lenient:
            ref, shape = mismatched[0]
            raise ValueError(describe(self, ref, shape))
        specs = [
            jax.ShapeDtypeStruct(
                tuple(1 if d is None else d for d in (shape if shape is not None else ref.shape)),
                ref.dtype,
            )
            for ref, shape in zip(refs, shapes, strict=True)
        ]
        _PROBE.active = True
        try:
            with StatelessScope():  # reads variables; keeps nothing it assigns or adds
                jax.eval_shape(lambda xs: self.call(xs, training=False), specs)
        except Exception as err:  # noqa: BLE001 - any failure means the model cannot run
            ref, shape = mismatched[0]
            raise ValueError(
                f"{describe(self, ref, shape)} The model cannot run on it: {err}"
            ) from err
        finally:
            _PROBE.active = False
        accepted.add(key)

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
            first, previous_mask = None, None
            # The arguments carry their masks into the layer's call too, as Keras tensors
            # do: a custom layer's own sub-layers (a MultiHeadAttention inside a
            # transformer block) pick them up there.
            for t in node.input_tensors:
                if mask_of.get(id(t)) is not None:
                    tensor_masks.set_keras_mask(values[id(t)], mask_of[id(t)])
            if isinstance(layer, Layer):
                args, kwargs, first, previous_mask = _route_masks(
                    layer, node, args, kwargs, mask_of
                )
            if training is not None and getattr(layer, "_call_has_training", False):
                kwargs["training"] = training  # the model's call decides, as in Keras
            outputs = layer(*args, **kwargs)
            out_flat = jax.tree_util.tree_leaves(outputs)
            out_mask = None
            if isinstance(layer, Layer):
                out_mask = layer.compute_mask(first, previous_mask)
            out_masks = (
                list(out_mask)
                if isinstance(out_mask, (list, tuple))
                else [out_mask] * len(out_flat)
            )
            inner = _nested_output_masks(layer, out_flat)
            if inner is not None:  # a nested model: the masks its own graph produced
                out_masks = inner
            for t, value, m in zip(node.output_tensors, out_flat, out_masks, strict=False):
                values[id(t)] = value
                mask_of[id(t)] = m
        results = [values[id(t)] for t in self._outputs]
        # Masks travel beside the outputs (JAX arrays cannot carry them); the trainer
        # looks them up for exactly these output values (see Trainer._output_masks).
        self._last_output_masks = [mask_of.get(id(t)) for t in self._outputs]
        self._last_output_ids = [id(r) for r in results]
        return jax.tree_util.tree_unflatten(
            jax.tree_util.tree_structure(self._returned_struct, is_leaf=is_keras_tensor), results
        )

    def compute_output_shape(self, input_shape):
        """The output shapes for inputs of `input_shape` (the graph run on specs, as Keras:
        a batch size other than the one the model was built with carries through)."""
        specs = self._standardize_inputs(_shape_specs(input_shape))
        if any(x is None for x in specs):  # an optional input left out: the graph's shapes
            outputs = self._returned_struct
        else:
            specs = [
                KerasTensor(x.shape, dtype=t.dtype)
                for x, t in zip(specs, self._inputs, strict=True)
            ]
            outputs = self.compute_output_spec(specs)
        return jax.tree_util.tree_map(lambda t: t.shape, outputs, is_leaf=is_keras_tensor)

    def compute_output_spec(self, inputs, training=None, mask=None):
        flat = self._standardize_inputs(inputs)
        if all(
            tuple(x.shape[1:]) == tuple(t.shape[1:])
            for x, t in zip(flat, self._inputs, strict=True)
        ):
            batch = flat[0].shape[0]
            return jax.tree_util.tree_map(
                lambda t: KerasTensor((batch,) + tuple(t.shape[1:]), dtype=t.dtype),
                self._returned_struct,
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
        from shoal.models.functional_config import (
            functional_from_config,
            functional_like_constructor,
        )

        if functional_like_constructor(cls) or not isinstance(config, dict):
            return functional_from_config(cls, config, custom_objects=custom_objects)
        # A subclass building its graph in its own __init__ (`MyModel(**kwargs)`): its
        # config holds that constructor's arguments, as Keras' Model.from_config does.
        return super().from_config(config, custom_objects=custom_objects)


def _shape_specs(shapes):
    """KerasTensors (float32) with the shapes in `shapes`: a shape, or a list or dict of them."""
    if isinstance(shapes, (tuple, list)) and all(d is None or isinstance(d, int) for d in shapes):
        return KerasTensor(tuple(shapes), dtype="float32")
    if isinstance(shapes, dict):
        return {k: _shape_specs(v) for k, v in shapes.items()}
    return [_shape_specs(s) for s in shapes]


def _from_input_layer(t) -> bool:
    return t._keras_history is not None and isinstance(t._keras_history[0], InputLayer)


def _detach_at_inputs(inputs, outputs):
    """Keras' handling of intermediate tensors given as `inputs`: each becomes a new Input
    of its shape and dtype, and the layers between the inputs and `outputs` are called
    again on those (the layers, and so their weights, are shared with the larger graph)."""
    from shoal.layers.core import Input

    flat_inputs = _flatten(inputs)
    for t in flat_inputs:
        if t._keras_history is None:
            raise ValueError(
                f"Functional model: input {t!r} was not produced by shoal.Input or a layer"
            )
    values = {
        id(t): t if _from_input_layer(t) else Input(batch_shape=t.shape, dtype=t.dtype)
        for t in flat_inputs
    }
    for node in graph.nodes_between(flat_inputs, _flatten(outputs)):
        op = node.operation
        args, kwargs = node.map_arguments(values)
        if isinstance(op, Layer):
            result = op(*args, **kwargs)
        else:  # an op called on symbolic tensors (OpNode)
            result = op.symbolic_call(*args, **kwargs)
        for old, new in zip(node.output_tensors, _flatten(result), strict=True):
            values[id(old)] = new

    def swap(t):
        return values[id(t)]

    return (
        jax.tree_util.tree_map(swap, inputs, is_leaf=is_keras_tensor),
        jax.tree_util.tree_map(swap, outputs, is_leaf=is_keras_tensor),
    )


def _is_optional(t) -> bool:
    """Whether `t` is an `Input(optional=True)`, which may be given None."""
    history = getattr(t, "_keras_history", None)
    return bool(history) and getattr(history[0], "optional", False)


def _flatten_masks(mask, n):
    if isinstance(mask, (list, tuple, dict)):
        return jax.tree_util.tree_leaves(mask, is_leaf=lambda m: m is None)
    return [mask] + [None] * (n - 1)


# -- mask routing ------------------------------------------------------------------------
#
# Keras attaches a mask to each tensor (`_keras_mask`); JAX arrays cannot carry one, so
# `Functional.call` keeps `mask_of[id(graph tensor)]` and hands the masks over as Keras 3's
# `Layer.__call__` does (keras/src/layers/layer.py, "Populate mask argument(s)"):
#
# - the call arguments are bound to the names of the layer's `call` signature; an argument
#   is a *tensor argument* when it is a tensor, or a non-empty list/tuple/dict of tensors
#   (and Nones);
# - exactly one tensor argument, and `call` takes `mask`: `mask=` gets that argument's
#   mask(s), in its structure (a merge layer's list of inputs gets the list of their masks);
# - several tensor arguments: each `<name>` whose `call` takes `<name>_mask` gets its
#   mask(s) there (MultiHeadAttention's `query_mask`, `value_mask`, `key_mask`);
# - a mask argument the user gave (not None) is never replaced;
# - the layer's output mask is `compute_mask(first argument, previous_mask)`, where
#   `previous_mask` is the `mask` argument if one was given or routed, else the mask(s) of
#   the first argument of `call`; a nested model's outputs keep the masks its graph made.
#
# Keras passes an all-None structure (`mask=[None, None]`); here an argument whose masks are
# all None is left unset (None), which layers treat alike. Calls on arrays route the masks
# the arrays carry (backend/tensor_masks.py) by the same rules, so the sub-layers a custom
# layer calls inside its own `call` see the masks of its inputs, as in Keras.


def _nested_output_masks(layer, out_flat):
    """The output masks a nested Functional (or Sequential) model just computed, if any."""
    graph = getattr(layer, "_functional", None) or layer
    if not isinstance(graph, Functional):
        return None
    masks = getattr(graph, "_last_output_masks", None)
    ids = getattr(graph, "_last_output_ids", None)
    if not masks or ids != [id(v) for v in out_flat] or all(m is None for m in masks):
        return None
    return list(masks)


def _is_tensor(x) -> bool:
    return isinstance(x, (jax.Array, KerasTensor))


def _is_tensor_argument(value) -> bool:
    if _is_tensor(value):
        return True
    if isinstance(value, (list, tuple, dict)) and len(value) > 0:
        leaves = jax.tree_util.tree_leaves(value, is_leaf=lambda x: x is None or _is_tensor(x))
        return all(x is None or _is_tensor(x) for x in leaves)
    return False


def _has_mask(mask) -> bool:
    return any(m is not None for m in jax.tree_util.tree_leaves(mask))


def _route_masks(layer, node, args, kwargs, mask_of):
    """Add the masks of `node`'s tensors to the layer's call arguments, as Keras 3 does.

    Returns (args, kwargs, first argument, previous mask for `compute_mask`).
    """

    def mask_for(x):
        return mask_of.get(id(x)) if isinstance(x, KerasTensor) else None

    mask_args, mask_kwargs = jax.tree_util.tree_map(
        mask_for, (node.call_args, node.call_kwargs), is_leaf=is_keras_tensor
    )
    signature = getattr(layer, "_call_signature", None)
    try:
        bound = signature.bind(*args, **kwargs)
        bound_masks = signature.bind(*mask_args, **mask_kwargs).arguments
    except (AttributeError, TypeError):  # no usable signature: the first argument's masks
        first = args[0] if args else next(iter(kwargs.values()), None)
        masks = mask_args[0] if args else next(iter(mask_kwargs.values()), None)
        return args, kwargs, first, masks if _has_mask(masks) else None
    arguments = bound.arguments
    params = signature.parameters
    positional = [
        name for name, p in params.items() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ][: len(args)]
    args, kwargs = list(args), dict(kwargs)

    def give(name, mask):
        if name in positional:
            args[positional.index(name)] = mask
        else:
            kwargs[name] = mask

    tensor_names = [name for name, value in arguments.items() if _is_tensor_argument(value)]
    if len(tensor_names) == 1:
        mask = bound_masks[tensor_names[0]]
        if "mask" in params and arguments.get("mask") is None and _has_mask(mask):
            give("mask", mask)
    else:
        for name in tensor_names:
            target = f"{name}_mask"
            mask = bound_masks[name]
            if target in params and arguments.get(target) is None and _has_mask(mask):
                give(target, mask)
    first_name = next(iter(params), None)
    first = arguments.get(first_name)
    previous_mask = kwargs.get("mask") if "mask" in params else None
    if previous_mask is None and "mask" in positional:
        previous_mask = args[positional.index("mask")]
    if previous_mask is None:
        previous_mask = bound_masks.get(first_name)
    if not _has_mask(previous_mask):
        previous_mask = None
    return tuple(args), kwargs, first, previous_mask


def _check_unique_names(model_name, operations) -> None:
    """Layer names must be unique within a model, as in Keras: weights files, `get_layer`
    and saved configs find layers by name."""
    seen: dict = {}
    for op in operations:
        name = getattr(op, "name", None)
        if name in seen and seen[name] is not op:
            raise ValueError(
                f"Model '{model_name}': the layer name {name!r} is used by two different "
                f"layers ({type(seen[name]).__name__} and {type(op).__name__}); layer names "
                "must be unique within a model. Pass a different `name=` to one of them."
            )
        seen.setdefault(name, op)


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
    if len(shape) != len(want):  # other sizes are checked by `check_input_shapes`
        raise ValueError(
            f"Model '{model_name}': input '{ref.name}' expects shape "
            f"{format_shape(want)}, but received an input of shape {format_shape(tuple(np.shape(x)))}."
        )
    return x


class _Probe(threading.local):
    active = False  # tracing the model to check new input sizes (no nested checks)


_PROBE = _Probe()


def _input_mismatch(model, ref, shape) -> str:
    return (
        f"Model '{model.name}': input '{ref.name}' expects shape {format_shape(ref.shape)}, "
        f"but received an input of shape {format_shape(shape)}."
    )
