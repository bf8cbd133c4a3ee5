"""`clone_model`: the same architecture with new layers and fresh weights."""

from __future__ import annotations

import jax

from shoal.backend.symbolic import KerasTensor, is_keras_tensor


def _default_clone(layer):
    return layer.__class__.from_config(layer.get_config())


def _wrap(clone_function, recursive, cache):
    from shoal.models.functional import Functional
    from shoal.models.sequential import Sequential

    clone_function = clone_function or _default_clone

    def wrapped(layer):
        if id(layer) in cache:
            return cache[id(layer)]
        if recursive and isinstance(layer, (Sequential, Functional)):
            clone = clone_model(layer, clone_function=clone_function, recursive=True, _cache=cache)
        else:
            clone = clone_function(layer)
        cache[id(layer)] = clone
        return clone

    return wrapped


def _copy_compile(source, target) -> None:
    if not getattr(source, "compiled", False):
        return
    get_config = getattr(source, "get_compile_config", None)
    from_config = getattr(target, "compile_from_config", None)
    if callable(get_config) and callable(from_config):
        config = get_config()
        if config:
            from_config(config)


def clone_model(
    model,
    input_tensors=None,
    clone_function=None,
    call_function=None,
    recursive=False,
    **kwargs,
):
    """Clone a Sequential or Functional model: new layers (from their configs), new weights.

    Args:
        model: a Sequential or Functional model (other models are cloned through
            their config).
        input_tensors: optional symbolic inputs to build the clone on (same structure
            as `model.input`).
        clone_function: `fn(layer) -> new_layer`, applied to every non-input layer;
            defaults to `layer.__class__.from_config(layer.get_config())`.
        call_function: `fn(layer, *args, **kwargs)` used to call each cloned layer
            (Functional models only).
        recursive: also clone the layers inside nested Sequential/Functional models.

    Example:
        >>> fresh = shoal.models.clone_model(model)
    """
    from shoal.models.functional import Functional
    from shoal.models.sequential import Sequential

    cache = kwargs.pop("_cache", None)
    if cache is None:
        cache = {}
    if kwargs:
        raise TypeError(f"clone_model: unexpected keyword argument(s) {sorted(kwargs)}")
    if clone_function is not None and not callable(clone_function):
        raise ValueError(
            f"clone_model: argument 'clone_function' must be callable; got {clone_function!r}"
        )
    if isinstance(model, Sequential):
        if call_function is not None:
            raise ValueError(
                "clone_model: argument 'call_function' is only supported for Functional "
                f"models; got a Sequential model '{model.name}'."
            )
        return _clone_sequential(model, _wrap(clone_function, recursive, cache), input_tensors)
    if isinstance(model, Functional):
        return _clone_functional(
            model, _wrap(clone_function, recursive, cache), input_tensors, call_function
        )
    if clone_function is not None or input_tensors is not None or call_function is not None:
        raise ValueError(
            "clone_model: 'clone_function', 'input_tensors' and 'call_function' are only "
            f"supported for Sequential and Functional models; got {type(model).__name__}."
        )
    from shoal.saving.serialization import deserialize_keras_object, serialize_keras_object

    config = serialize_keras_object(model)
    return deserialize_keras_object(config, custom_objects={type(model).__name__: type(model)})


def _clone_sequential(model, clone, input_tensors):
    from shoal.layers.core import Input
    from shoal.models.sequential import Sequential

    new_layers = [clone(layer) for layer in model.layers]
    ref = model._input_layer
    if input_tensors is not None:
        if isinstance(input_tensors, (list, tuple)):
            if len(input_tensors) != 1:
                raise ValueError(
                    "clone_model: argument 'input_tensors' must hold a single tensor for a "
                    f"Sequential model; got {len(input_tensors)}."
                )
            input_tensors = input_tensors[0]
        if not isinstance(input_tensors, KerasTensor):
            raise ValueError(
                "clone_model: argument 'input_tensors' must be a symbolic tensor (shoal.Input); "
                f"got {input_tensors!r}"
            )
        new_layers = [
            Input(tensor=input_tensors, name=ref.name if ref is not None else None)
        ] + new_layers
    elif ref is not None:
        new_layers = [
            Input(
                batch_shape=ref.batch_shape, dtype=ref.dtype, name=ref.name, optional=ref.optional
            )
        ] + new_layers
    cloned = Sequential(new_layers, name=model.name, trainable=model.trainable)
    _copy_compile(model, cloned)
    return cloned


def _clone_operation(op, clone):
    from shoal.layers.base import Layer
    from shoal.ops.dispatch import OpNode

    if isinstance(op, OpNode):
        new = OpNode(op.fn)
        new._static_kwargs = dict(getattr(op, "_static_kwargs", {}))
        return new
    if isinstance(op, Layer):
        return clone(op)
    return op


def _clone_functional(model, clone, input_tensors, call_function):
    from shoal.layers.core import Input
    from shoal.models.functional import Functional
    from shoal.models.functional_config import functional_like_constructor

    if input_tensors is not None:
        leaves = jax.tree_util.tree_leaves(input_tensors, is_leaf=is_keras_tensor)
        if not all(isinstance(x, KerasTensor) for x in leaves):
            raise ValueError(
                "clone_model: every entry of 'input_tensors' must be a symbolic tensor "
                f"(shoal.Input); got {input_tensors!r}"
            )
        given = jax.tree_util.tree_structure(input_tensors, is_leaf=is_keras_tensor)
        want = jax.tree_util.tree_structure(model.input, is_leaf=is_keras_tensor)
        if given != want:
            raise ValueError(
                "clone_model: 'input_tensors' must have the same structure as model.input "
                f"({model.input}); got {input_tensors}"
            )
    else:
        input_tensors = jax.tree_util.tree_map(
            lambda t: Input(batch_shape=t.shape, dtype=t.dtype, name=t.name),
            model.input,
            is_leaf=is_keras_tensor,
        )
    new_inputs = jax.tree_util.tree_leaves(input_tensors, is_leaf=is_keras_tensor)
    values = {id(old): new for old, new in zip(model._inputs, new_inputs, strict=True)}
    clones: dict = {}
    for node in model._nodes:
        if node.is_input:
            continue
        op = node.operation
        if id(op) not in clones:
            clones[id(op)] = _clone_operation(op, clone)
        new_op = clones[id(op)]
        args, kwargs = node.map_arguments(values)
        if call_function is not None:
            outputs = call_function(new_op, *args, **kwargs)
        elif hasattr(new_op, "symbolic_call") and not hasattr(new_op, "built"):
            outputs = new_op.symbolic_call(*args, **kwargs)
        else:
            outputs = new_op(*args, **kwargs)
        flat = jax.tree_util.tree_leaves(outputs, is_leaf=is_keras_tensor)
        for old, new in zip(node.output_tensors, flat, strict=False):
            values[id(old)] = new
    outputs = jax.tree_util.tree_map(lambda t: values[id(t)], model.output, is_leaf=is_keras_tensor)
    cls = type(model) if functional_like_constructor(type(model)) else Functional
    cloned = cls(input_tensors, outputs, name=model.name)
    _copy_compile(model, cloned)
    return cloned
