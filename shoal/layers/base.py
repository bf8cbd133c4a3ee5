"""`Layer`: Keras 3 layer semantics over a functional core.

A layer owns Variables (created by `add_weight` in `build`) and sub-layers
(found through its attributes). Called on arrays it runs eagerly; called on
symbolic `KerasTensor`s it records a graph node. Inside a stateless scope the
same `call` code reads and writes the scope's values instead of its
variables, which is how models become pure functions.
"""

from __future__ import annotations

import copy
import inspect

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import dtype_policy as dtype_policies
from shoal.backend import dtypes, naming, tensor_masks
from shoal.backend import random as shoal_random
from shoal.backend.autocast import layer_autocast_scope
from shoal.backend.dtype_policy_map import DTypePolicyMap
from shoal.backend.name_scopes import current_path, name_scope
from shoal.backend.operation import Operation
from shoal.backend.remat_scope import call_with_remat
from shoal.backend.scope import StatelessScope, current_stateless_scope
from shoal.backend.scope_stack import ScopeStack
from shoal.backend.symbolic import (
    KerasTensor,
    Node,
    any_symbolic,
    eval_output_spec,
    is_keras_tensor,
    unknown_batch,
)
from shoal.backend.variables import Variable
from shoal.layers.input_spec import assert_input_compatibility
from shoal.layers.layer_introspection import LayerIntrospection
from shoal.random import SeedGenerator

# The `training` argument of the layer calls in progress, outermost first.
_TRAINING = ScopeStack()


def _is_array(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, KerasTensor, Variable)) or hasattr(x, "shape")


def _shape_of(x):
    return tuple(x.shape)


def _shapes(structure):
    """Nested structure of arrays -> same structure of shape tuples (tuple leaves)."""
    if isinstance(structure, (list, tuple)) and not _is_array(structure):
        return type(structure)(_shapes(s) for s in structure)
    if isinstance(structure, dict):
        return {k: _shapes(v) for k, v in structure.items()}
    if _is_array(structure):
        return _shape_of(structure)
    return structure


_LAYER_KWARGS = {
    "input_shape",
    "input_dim",
    "batch_input_shape",
    "batch_size",
    "weights",
    "autocast",
}


class Layer(LayerIntrospection, Operation):
    """Base class of all layers (Keras 3 semantics).

    Subclass it as in Keras: create weights in `build(input_shape)` with
    `add_weight`, compute in `call(inputs, training=None, mask=None)`.

    Example:
        >>> class Scale(Layer):
        ...     def build(self, input_shape):
        ...         self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")
        ...     def call(self, x):
        ...         return x * self.w
    """

    _parent_path: str | None = None  # the name-scope path of the first call or build

    def __new__(cls, *args, **kwargs):
        instance = super().__new__(cls)
        # What the constructor was given, when it is plain data: `get_config` returns it
        # for a subclass that does not write its own (as Keras' auto-config does).
        object.__setattr__(instance, "_auto_config", _auto_config(cls, args, kwargs))
        return instance

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            init = _name_errors(cls.__init__)
            if cls.__module__.startswith("shoal.layers."):
                init = _unbuilt_for_user_build(init)
            cls.__init__ = init
        if "build" in cls.__dict__:
            cls.build = _scoped_build(
                cls.__dict__["build"], marks_built=not cls.__module__.startswith("shoal.")
            )

    def __init__(
        self,
        *,
        activity_regularizer=None,
        trainable: bool = True,
        dtype=None,
        autocast: bool = True,
        name: str | None = None,
        **kwargs,
    ):
        unknown = set(kwargs) - _LAYER_KWARGS
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unrecognized keyword argument(s) {sorted(unknown)}; "
                "check the argument names against the layer's documentation."
            )
        object.__setattr__(self, "_tracking_ready", False)
        super().__init__(name=name)
        self._trainable = bool(trainable)
        self.built = False
        self.autocast = autocast
        self.dtype_policy = dtype_policies.get(dtype)
        self.input_spec = None
        self.supports_masking = getattr(self, "supports_masking", False)
        self._trainable_variables: list[Variable] = []
        self._non_trainable_variables: list[Variable] = []
        self._seed_generators: list = []
        self._losses: list = []
        self._explicit_layers: list | None = None
        self._call_signature = inspect.signature(self.call)
        params = self._call_signature.parameters
        self._call_has_training = "training" in params
        self._call_has_mask = "mask" in params
        from shoal import regularizers

        self.activity_regularizer = regularizers.get(activity_regularizer)
        batch_shape = kwargs.get("batch_input_shape")
        if batch_shape is None and kwargs.get("input_shape") is not None:
            batch_shape = (kwargs.get("batch_size"),) + tuple(kwargs["input_shape"])
        if batch_shape is None and kwargs.get("input_dim") is not None:
            batch_shape = (kwargs.get("batch_size"), int(kwargs["input_dim"]))
        self._batch_input_shape = None if batch_shape is None else tuple(batch_shape)
        self._initial_weights = kwargs.get("weights")
        self._build_shapes = None
        object.__setattr__(self, "_tracking_ready", True)

    # -- attribute tracking ------------------------------------------------
    def __setattr__(self, name, value):
        if getattr(self, "_tracking_ready", False):
            if isinstance(value, Variable):
                self._track_variable(value)
            elif isinstance(value, SeedGenerator) and value not in self._seed_generators:
                self._seed_generators.append(value)
        object.__setattr__(self, name, value)

    def _track_variable(self, variable: Variable) -> None:
        bucket = self._trainable_variables if variable.trainable else self._non_trainable_variables
        if not any(v is variable for v in bucket):
            bucket.append(variable)

    @property
    def _layers(self) -> list:
        """Direct sub-layers, in attribute-assignment order (or as set explicitly)."""
        if self._explicit_layers is not None:
            return list(self._explicit_layers)
        found, seen = [], set()

        def visit(value, depth=0):
            if isinstance(value, Layer):
                if id(value) not in seen and value is not self:
                    seen.add(id(value))
                    found.append(value)
            elif depth < 3 and isinstance(value, (list, tuple)):
                for v in value:
                    visit(v, depth + 1)
            elif depth < 3 and isinstance(value, dict):
                for v in value.values():
                    visit(v, depth + 1)

        for key, value in vars(self).items():
            if key == "_explicit_layers":
                continue
            visit(value)
        return found

    @_layers.setter
    def _layers(self, layers) -> None:
        self._explicit_layers = list(layers)

    # -- properties --------------------------------------------------------
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value

    @property
    def _policy(self):
        """The policy this layer follows: `dtype_policy`, or a `DTypePolicyMap`'s entry for
        the path the layer was built under."""
        return dtype_policies.resolve(self.dtype_policy, self.__dict__.get("_path"))

    @property
    def dtype(self) -> str:
        return self._policy.variable_dtype

    @property
    def variable_dtype(self) -> str:
        return self._policy.variable_dtype

    @property
    def compute_dtype(self) -> str:
        return self._policy.compute_dtype

    @property
    def dtype_policy(self):
        return self._dtype_policy

    @dtype_policy.setter
    def dtype_policy(self, value) -> None:
        # A name ("mixed_float16") or config is resolved; a quantized policy set on a built,
        # unquantized layer quantizes it, as in Keras.
        policy = dtype_policies.get(value)
        old = getattr(self, "_dtype_policy", None)
        if (
            policy.quantization_mode is not None
            and self.built
            and (old is None or self._policy.quantization_mode is None)
        ):
            self.quantize(policy.quantization_mode)  # sets the quantized policy itself
            return
        self._set_policy(policy)

    @property
    def quantization_mode(self):
        """The quantization mode of this layer ("int8"), None if not quantized."""
        return self._policy.quantization_mode

    def _set_policy(self, policy) -> None:
        """Make `policy` this layer's: its entry in a `DTypePolicyMap` (as Keras' setter)."""
        path = self.__dict__.get("_path")
        current = self.__dict__.get("_dtype_policy")
        if isinstance(current, DTypePolicyMap) and path and not isinstance(policy, DTypePolicyMap):
            if path in current:
                del current[path]
            current[path] = policy
        else:
            self._dtype_policy = policy

    def _record_path(self) -> None:
        # Keras' `layer.path` (a DTypePolicyMap looks the layer up by it): the name-scope
        # path the layer is first built or called under ("subclass/subclass_dense").
        if self.__dict__.get("_path") is None:
            object.__setattr__(self, "_path", current_path())

    def quantize(self, mode=None, type_check=True, config=None):
        """Quantize the layer's weights (Dense, EinsumDense and Embedding implement "int8"
        and "int4"; see `shoal.layers.quantization`)."""
        from shoal.layers.quantization import not_quantizable_error, resolve_quantize_args

        resolve_quantize_args(self, mode, config)
        raise not_quantizable_error(self)

    @property
    def path(self) -> str:
        """Keras' layer path: the name-scope path the layer was built under
        ("subclass/subclass_dense"); its name until then."""
        return self.__dict__.get("_path") or self.name

    @property
    def weights(self) -> list:
        out, seen = [], set()
        for w in self._own_weights() + [w for layer in self._layers for w in layer.weights]:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    def _seed_states(self) -> list:
        """The states of this layer's and its sub-layers' SeedGenerators: variables (in
        `variables` / `non_trainable_variables`), never weights, as in Keras."""
        own = [g.state for g in getattr(self, "_seed_generators", ())]
        return own + [v for layer in self._layers for v in layer._seed_states()]

    @property
    def variables(self) -> list:
        """Weights and SeedGenerator states, layer by layer in Keras' order: a layer's
        own weights, its generators' states, then each sub-layer's variables."""
        own = self._own_weights() + [g.state for g in getattr(self, "_seed_generators", ())]
        subs = [v for layer in self._layers for v in layer.variables]
        weights = self.weights  # subclasses may list weights the recursion does not reach
        return _dedupe(own + subs + weights)

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        own = [v for v in self._trainable_variables]
        subs = [w for layer in self._layers for w in layer.trainable_weights]
        return _dedupe(own + subs)

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            # All weights, plus sub-layers' non-weight state (e.g. a stateful RNN's states).
            subs = [w for layer in self._layers for w in layer.non_trainable_weights]
            return _dedupe(self.weights + subs)
        own = list(self._non_trainable_variables)
        subs = [w for layer in self._layers for w in layer.non_trainable_weights]
        return _dedupe(own + subs)

    @property
    def non_trainable_variables(self) -> list:
        wanted = self.non_trainable_weights + self._seed_states()
        ids = {id(v) for v in wanted}
        return _dedupe([v for v in self.variables if id(v) in ids] + wanted)

    # -- weights -----------------------------------------------------------
    def add_variable(
        self,
        shape,
        initializer,
        dtype=None,
        trainable: bool = True,
        autocast: bool = True,
        regularizer=None,
        constraint=None,
        name: str | None = None,
    ) -> Variable:
        """`add_weight` with Keras' other argument order (shape and initializer first)."""
        return self.add_weight(
            shape=shape,
            initializer=initializer,
            dtype=dtype,
            trainable=trainable,
            autocast=autocast,
            regularizer=regularizer,
            constraint=constraint,
            name=name,
        )

    def add_weight(
        self,
        shape=None,
        initializer=None,
        dtype=None,
        trainable: bool = True,
        autocast: bool = True,
        regularizer=None,
        constraint=None,
        aggregation: str = "none",
        overwrite_with_gradient: bool = False,
        name: str | None = None,
    ) -> Variable:
        from shoal import constraints, initializers, regularizers

        shape = () if shape is None else tuple(shape)
        for d in shape:
            if d is None or int(d) < 0:
                raise ValueError(
                    f"Layer '{self.name}': add_weight(name={name!r}) needs a fully known, "
                    f"non-negative shape; got {shape}"
                )
        dtype = dtypes.standardize_dtype(dtype or self.variable_dtype)
        if initializer is None:
            initializer = "glorot_uniform" if dtypes.is_float_dtype(dtype) else "zeros"
        init = initializers.get(initializer)
        # Weights may be created while a model is being traced (a sub-layer built lazily
        # inside compute_output_spec): evaluate the initializer eagerly, from the global key.
        with jax.ensure_compile_time_eval(), _no_rng_scope():
            value = init(shape, dtype=dtype)
        variable = Variable(
            value,
            shape=shape,
            dtype=dtype,
            trainable=trainable,
            name=name or naming.uniquify("variable"),  # Keras: variable, variable_1, ...
            autocast=autocast,
        )
        with name_scope(self.name, caller=self):  # inside its own scope already: same
            variable.path = f"{current_path()}/{variable.name}"
        _place_for_distribution(variable)
        variable.regularizer = regularizers.get(regularizer)
        variable.constraint = constraints.get(constraint)
        variable.overwrite_with_gradient = overwrite_with_gradient
        self._track_variable(variable)
        return variable

    def get_weights(self) -> list:
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights) -> None:
        own = self.weights
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(
                f"Layer '{self.name}': set_weights expected a list of {len(own)} arrays "
                f"(shapes {[w.shape for w in own]}), but received {len(weights)} arrays."
            )
        for variable, value in zip(own, weights, strict=True):
            value_shape = tuple(np.shape(value))
            if value_shape != variable.shape:
                raise ValueError(
                    f"Layer '{self.name}': weight '{variable.name}' has shape {variable.shape}, "
                    f"but set_weights received an array of shape {value_shape}."
                )
        for variable, value in zip(own, weights, strict=True):
            variable.assign(value)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"Layer '{self.name}' is not built yet, so its weights do not exist: call it "
                "on data or build it with `build(input_shape)` before count_params()."
            )
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # -- losses ------------------------------------------------------------
    def add_metric(self, *args, **kwargs):
        """Removed in Keras 3 (raises there too): says what to do instead."""
        raise NotImplementedError(
            f"Layer '{self.name}': add_metric() was removed in Keras 3. Pass the metric to "
            "Model.compile(metrics=[...]), or create a metric tracker (e.g. "
            "metrics.Mean()) in __init__ or build and call its update_state()"
        )

    def add_loss(self, loss) -> None:
        scope = current_stateless_scope()
        if scope is not None:
            if scope.collect_losses:
                scope.add_loss(loss)
            return
        if isinstance(loss, jax.core.Tracer):
            # Traced outside a stateless scope: building a graph (output shapes) or a user's
            # own jit of the layer; the value cannot outlive that trace, so keep none (Keras
            # keeps no losses from symbolic calls either).
            return
        self._losses.append(loss)

    def _regularization_losses(self) -> list:
        # Only trainable weights are penalised, as in Keras: freezing a layer (or the kernel
        # LoRA freezes) drops its weights' regularization terms from the loss.
        if not self.trainable:
            return []
        out = []
        for v in self._trainable_variables:
            if v.trainable and getattr(v, "regularizer", None) is not None:
                out.append(v.regularizer(v.value))
        return out

    @property
    def losses(self) -> list:
        out = list(self._losses) + self._regularization_losses()
        for layer in self._layers:
            out.extend(layer.losses)
        return out

    def _clear_losses(self) -> None:
        self._losses = []
        for layer in self._layers:
            layer._clear_losses()

    # -- build -------------------------------------------------------------
    def build(self, input_shape=None) -> None:
        self.built = True

    def _maybe_build(self, args, kwargs) -> None:
        if self.built:
            return
        first = args[0] if args else next(iter(kwargs.values()), None)
        build_params = [
            p
            for p in inspect.signature(self.build).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if len(build_params) > 1:
            # build(query_shape, value_shape, ...) style: match call arguments by position/name.
            names = list(self._call_signature.parameters)
            bound = dict(zip(names, args, strict=False))
            bound.update(kwargs)
            shape_args = {}
            for p in build_params:
                key = p.name[: -len("_shape")] if p.name.endswith("_shape") else p.name
                if key in bound and bound[key] is not None:
                    shape_args[p.name] = _shapes(bound[key])
            self._build_shapes = shape_args
            self.build(**shape_args)
        else:
            shape = unknown_batch(_shapes(first))
            self._build_shapes = shape
            self.build(shape)
        self.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    # -- calling -----------------------------------------------------------
    def call(self, *args, **kwargs):
        raise NotImplementedError(
            f"Layer {type(self).__name__} does not implement call(); subclasses must define it."
        )

    def __call__(self, *args, **kwargs):
        # Sub-layers built while this one runs get paths under its name, as in Keras.
        with self._open_name_scope():
            self._record_path()
            return self._scoped_call(*args, **kwargs)

    def _open_name_scope(self):
        """The layer's scope, under the path it was first called or built in (as Keras):
        weights made later (`enable_lora`, `quantize`) join their siblings' path."""
        if self._parent_path is None:
            self._parent_path = current_path()
        return name_scope(self.name, caller=self)

    def _scoped_call(self, *args, **kwargs):
        if not args and not kwargs:
            raise ValueError(f"Layer '{self.name}' was called without any inputs.")
        args, kwargs = self._convert_inputs(args, kwargs)
        inputs = args[0] if args else next(iter(kwargs.values()))
        if self.input_spec is not None:
            assert_input_compatibility(self.input_spec, inputs, self.name)
        self._maybe_build(args, kwargs)
        if self.input_spec is not None:
            assert_input_compatibility(self.input_spec, inputs, self.name)
        # Mixed precision: float variables read during the call come out in the compute dtype.
        scope = layer_autocast_scope(self)
        if scope is None:
            return self._dispatch_call(args, kwargs)
        with scope:
            return self._dispatch_call(args, kwargs)

    def _dispatch_call(self, args, kwargs):
        if any_symbolic(args, kwargs):
            return self._symbolic_layer_call(args, kwargs)
        return self._eager_call(args, kwargs)

    def _should_autocast(self, x) -> bool:
        return (
            self.autocast
            and jnp.issubdtype(x.dtype, jnp.floating)
            and dtypes.standardize_dtype(x.dtype) != self.compute_dtype
        )

    def _convert_inputs(self, args, kwargs):
        """Arrays in every argument: NumPy arrays and Variables become jax arrays, and floating
        ones are cast to the compute dtype (Keras' `DTypePolicy.convert_input`)."""

        def convert(x):
            if isinstance(x, np.ndarray) and x.dtype.kind in "USO":
                raise TypeError(
                    f"Layer '{self.name}' ({type(self).__name__}) takes numeric inputs; got an "
                    f"array of dtype {x.dtype} (strings or objects). Turn text into numbers "
                    "first, e.g. with StringLookup or TextVectorization."
                )
            if isinstance(x, np.ndarray) or isinstance(x, Variable):
                x = jnp.asarray(x.value if isinstance(x, Variable) else x)
            if isinstance(x, jax.Array) and self._should_autocast(x):
                x = x.astype(self.compute_dtype)
            return x

        return jax.tree_util.tree_map(convert, (args, kwargs), is_leaf=is_keras_tensor)

    def symbolic_call(self, *args, **kwargs):
        return self._symbolic_node(args, kwargs)

    def _symbolic_node(self, args, kwargs, spec_extra=None):
        # The output spec is evaluated on inputs as the eager call sees them (floating inputs
        # in the compute dtype); the graph node keeps the given tensors. `spec_extra` goes to
        # the spec only (a mask the inputs carry: the node finds it again when it runs).
        def as_seen(x):
            if isinstance(x, KerasTensor) and self._should_autocast(x):
                x = copy.copy(x)
                x.dtype = self.compute_dtype
            return x

        seen_args, seen_kwargs = jax.tree_util.tree_map(
            as_seen, (args, kwargs), is_leaf=is_keras_tensor
        )
        outputs = self.compute_output_spec(*seen_args, **seen_kwargs, **(spec_extra or {}))
        Node(self, call_args=args, call_kwargs=kwargs, outputs=outputs)
        return outputs

    def _resolve_training(self, kwargs) -> None:
        if not self._call_has_training:
            kwargs.pop("training", None)
            return
        training = kwargs.get("training")
        if training is None:
            stack = _TRAINING.items
            if stack and stack[-1] is not None:
                training = stack[-1]
        if training is not None:
            kwargs["training"] = bool(training) if isinstance(training, (bool, int)) else training
        else:
            kwargs.pop("training", None)

    def _eager_call(self, args, kwargs):
        kwargs = dict(kwargs)
        self._resolve_training(kwargs)
        mask_in = kwargs.get("mask")
        if mask_in is None and _one_tensor_argument(args, kwargs):
            mask_in = _carried_mask(args[0])
        elif mask_in is None:
            _route_argument_masks(self, args, kwargs)
        if not self._call_has_mask:
            kwargs.pop("mask", None)
        elif mask_in is not None:
            kwargs["mask"] = mask_in
        if current_stateless_scope() is None:
            self._losses = []
        _TRAINING.items.append(kwargs.get("training"))
        try:
            if getattr(self, "_remat_mode", None) is not None:
                outputs = call_with_remat(self, self.call, args, kwargs)
            else:
                outputs = self.call(*args, **kwargs)
        finally:
            _TRAINING.items.pop()
        if self.activity_regularizer is not None:
            for out in jax.tree_util.tree_leaves(outputs):
                loss = self.activity_regularizer(out)
                if out.ndim > 0:  # Keras 3 averages activity losses over the batch
                    loss = loss / jnp.asarray(out.shape[0], loss.dtype)
                self.add_loss(loss)
        _carry_mask(self, args, mask_in, outputs)
        return outputs

    def _symbolic_layer_call(self, args, kwargs):
        kwargs = dict(kwargs)
        if not self._call_has_mask:
            kwargs.pop("mask", None)
        mask_in = kwargs.get("mask")
        if mask_in is None and args:
            mask_in = jax.tree_util.tree_map(
                lambda t: getattr(t, "_keras_mask", None), args[0], is_leaf=is_keras_tensor
            )
            leaves = [m for m in jax.tree_util.tree_leaves(mask_in) if m is not None]
            if not leaves:
                mask_in = None
        carried = (
            self._call_has_mask
            and kwargs.get("mask") is None
            and mask_in is not None
            and _one_tensor_argument(args, kwargs)
        )
        if carried and type(self).compute_output_shape is Layer.compute_output_shape:
            # `call` sees the carried mask while its output is inferred, as when it runs.
            outputs = self._symbolic_node(args, kwargs, spec_extra={"mask": mask_in})
        else:
            outputs = self.symbolic_call(*args, **kwargs)
        out_mask = self.compute_mask(args[0] if args else None, mask_in)
        if out_mask is not None:
            for t, m in zip(
                jax.tree_util.tree_leaves(outputs, is_leaf=is_keras_tensor),
                _broadcast_masks(out_mask, outputs),
                strict=False,
            ):
                if isinstance(t, KerasTensor) and m is not None:
                    t._keras_mask = (
                        m if isinstance(m, KerasTensor) else KerasTensor(t.shape[:-1], dtype="bool")
                    )
        return outputs

    def compute_output_spec(self, *args, **kwargs):
        if type(self).compute_output_shape is not Layer.compute_output_shape:
            inputs = args[0] if args else next(iter(kwargs.values()))
            shapes = self.compute_output_shape(_shapes(inputs))
            return _shapes_to_specs(shapes, self.compute_dtype)
        kwargs = {k: v for k, v in kwargs.items() if k != "training"}
        return eval_output_spec(self.call, *args, **kwargs)

    def compute_output_shape(self, input_shape):
        raise NotImplementedError(
            f"Layer '{self.name}' ({type(self).__name__}) does not implement compute_output_shape."
        )

    def compute_mask(self, inputs, previous_mask=None):
        if not self.supports_masking:
            return None
        return previous_mask

    # -- pure calls --------------------------------------------------------
    def stateless_call(
        self,
        trainable_variables,
        non_trainable_variables,
        *args,
        return_losses: bool = False,
        **kwargs,
    ):
        """Run `call` with the given variable values; return (outputs, non_trainable values).

        Pure: the layer's variables are not touched. Values come in the order of
        `trainable_variables` / `non_trainable_variables`. With `return_losses=True`
        returns (outputs, non_trainable values, losses) where losses holds the
        activity/add_loss losses of this call and the weight-regularization losses.
        """
        trainable = self.trainable_variables
        non_trainable = self.non_trainable_variables
        for kind, given, own in (
            ("trainable_variables", trainable_variables, trainable),
            ("non_trainable_variables", non_trainable_variables, non_trainable),
        ):
            if len(given) != len(own):
                raise ValueError(
                    f"Layer '{self.name}': stateless_call expected {len(own)} "
                    f"{kind}, but received {len(given)}."
                )

        def value(v):  # Keras also takes the Variables themselves
            return v.value if isinstance(v, Variable) else v

        mapping = [(v, value(x)) for v, x in zip(trainable, trainable_variables, strict=True)]
        mapping += [
            (v, value(x)) for v, x in zip(non_trainable, non_trainable_variables, strict=True)
        ]
        with StatelessScope(mapping, collect_losses=return_losses) as scope:
            outputs = self(*args, **kwargs)
            losses = list(scope.losses) + self._all_regularization_losses() if return_losses else []
        new_non_trainable = [scope.get_value(v) for v in non_trainable]
        if return_losses:
            return outputs, new_non_trainable, losses
        return outputs, new_non_trainable

    def _all_regularization_losses(self) -> list:
        out = self._regularization_losses()
        for layer in self._layers:
            out.extend(layer._all_regularization_losses())
        return out

    # -- weights files -----------------------------------------------------
    def save_own_variables(self, store) -> None:
        """Write this layer's own variables (not its sub-layers') into `store` as "0", "1",
        ...; override to save other state, calling super() for the variables."""
        for i, variable in enumerate(self._own_weights()):
            store[str(i)] = variable

    def load_own_variables(self, store) -> None:
        """Read what `save_own_variables` wrote back into this layer's own variables."""
        self._load_variables(store, self._own_weights())

    def _load_variables(self, store, variables) -> None:
        """Assign `store["0"]`, `store["1"]`, ... to `variables` (their count checked first)."""
        keys = [k for k in store.keys() if k.isdigit()]
        if len(keys) != len(variables):
            raise ValueError(
                f"Layer '{self.name}' has {len(variables)} variables, but the file holds "
                f"{len(keys)} for it"
            )
        for i, variable in enumerate(variables):
            variable.assign(store[str(i)])

    def _own_weights(self) -> list:
        return list(self._trainable_variables) + list(self._non_trainable_variables)

    # -- config ------------------------------------------------------------
    def get_config(self) -> dict:
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": _policy_config(self.dtype_policy),
        }
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        if self.activity_regularizer is not None:
            from shoal import regularizers

            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return self._with_auto_config(config, Layer.get_config)

    def _with_auto_config(self, config: dict, base) -> dict:
        """`config` plus the constructor's arguments, for a subclass that does not write
        its own `get_config` (Keras' auto-config); base keys its `__init__` cannot take are
        dropped."""
        auto = getattr(self, "_auto_config", None)
        if type(self).get_config is not base or not auto:
            return config
        params = inspect.signature(type(self).__init__).parameters
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        if not takes_kwargs:
            config = {k: v for k, v in config.items() if k in params}
        return {**config, **auto}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = dtype_policies.get(config["dtype"])
        return cls(**config)

    def get_build_config(self):
        if self._build_shapes is None:
            return None
        if isinstance(self._build_shapes, dict):
            return {"shapes_dict": _jsonable(self._build_shapes)}
        return {"input_shape": _jsonable(self._build_shapes)}

    def build_from_config(self, config) -> None:
        if not config:
            return
        if "input_shape" in config:
            shape = _tuplify(config["input_shape"])
            self._build_shapes = shape
            self.build(shape)
        elif "shapes_dict" in config:
            shapes = {k: _tuplify(v) for k, v in config["shapes_dict"].items()}
            self._build_shapes = shapes
            self.build(**shapes)
        self.built = True

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _place_for_distribution(variable) -> None:
    """Under a distribution (`set_distribution`), a new weight is laid out at once as the
    distribution says for its path (replicated, or sharded by a LayoutMap), as in Keras."""
    from shoal.distribution.distributions import distribution

    active = distribution()
    if active is not None:
        variable._value = jax.device_put(variable._value, active.variable_sharding(variable))


def _scoped_build(build, marks_built):
    """`build` run inside the layer's name scope, so the weights it (and the sub-layers it
    builds) makes get Keras' nested paths: "sequential/dense/kernel",
    "bidirectional/forward_gru/gru_cell/kernel". A user's `build` (`marks_built`) called
    directly (`layer.build(shape)`, `model.build(shape)`) leaves the layer built, as in
    Keras: its first call does not build it again."""
    import functools

    if getattr(build, "_shoal_scoped", False):
        return build

    @functools.wraps(build)
    def wrapped(self, *args, **kwargs):
        by_hand = current_path() == ""  # not a sub-layer built by its parent
        with self._open_name_scope():
            self._record_path()
            result = build(self, *args, **kwargs)
        if by_hand and getattr(self, "_build_shapes", None) is None:
            # Built by hand (`layer.build(shape)`): its build config replays this call when
            # a model holding it is loaded, as Keras records the build arguments.
            if len(args) == 1 and not kwargs:
                self._build_shapes = args[0]
            elif not args:
                self._build_shapes = dict(kwargs)
        if marks_built:
            self.built = True
        return result

    wrapped._shoal_scoped = True
    return wrapped


def _unbuilt_for_user_build(init):
    """A weightless shoal layer is built once constructed, but not when a user's subclass
    overrides `build`: that `build` must still run on the first call (Keras builds at
    init only while `build` is the default). A layer that made weights in its constructor
    (`Embedding(weights=...)`) stays built."""
    import functools

    @functools.wraps(init)
    def wrapped(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if self.built and _user_build(type(self)) and not self.weights:
            self.built = False

    return wrapped


def _user_build(cls) -> bool:
    for klass in cls.__mro__:
        if "build" in klass.__dict__:
            return not klass.__module__.startswith("shoal.")
    return False


def _name_errors(init):
    """Prefix construction errors that do not name the layer class (e.g. from `activations.get`)."""
    import functools

    @functools.wraps(init)
    def wrapped(self, *args, **kwargs):
        try:
            init(self, *args, **kwargs)
        except (ValueError, TypeError) as err:
            message = str(err)
            cls_name = type(self).__name__
            if cls_name in message or getattr(err, "_shoal_named", False):
                raise
            named = type(err)(f"{cls_name}: {message}")
            named._shoal_named = True
            raise named from err

    return wrapped


_PLAIN = (str, int, float, bool, type(None))


def _plain(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return isinstance(value, _PLAIN)


def _auto_config(cls, args, kwargs):
    """The constructor's arguments by name, or None unless all are plain data."""
    if not args and not kwargs:
        return None
    try:
        bound = inspect.signature(cls.__init__).bind_partial(None, *args, **kwargs)
    except (TypeError, ValueError):
        return None
    arguments = dict(list(bound.arguments.items())[1:])
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD and name in arguments:
            arguments.update(arguments.pop(name))
        elif param.kind is inspect.Parameter.VAR_POSITIONAL and name in arguments:
            return None  # *args cannot be passed back by name
    return arguments if _plain(arguments) else None


def _dedupe(variables):
    out, seen = [], set()
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def _policy_config(policy):
    if isinstance(policy, DTypePolicyMap) or policy.quantization_mode is not None:
        return {
            "module": "keras.dtype_policies",
            "class_name": type(policy).__name__,  # QuantizedDTypePolicy, DTypePolicyMap, ...
            "config": policy.get_config(),
            "registered_name": None,
        }
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": policy.name},
        "registered_name": None,
    }


def _is_shape(x) -> bool:
    return isinstance(x, (tuple, list)) and all(d is None or isinstance(d, int) for d in x)


def _shapes_to_specs(shapes, dtype):
    if _is_shape(shapes):
        return KerasTensor(tuple(shapes), dtype=dtype)
    if isinstance(shapes, dict):
        return {k: _shapes_to_specs(v, dtype) for k, v in shapes.items()}
    return type(shapes)(_shapes_to_specs(s, dtype) for s in shapes)


def _one_tensor_argument(args, kwargs) -> bool:
    """Keras' rule for a carried mask: it goes to `mask=` when the first argument is the
    call's only argument holding tensors."""

    def has_tensor(value):
        return any(
            hasattr(leaf, "shape") and hasattr(leaf, "dtype")
            for leaf in jax.tree_util.tree_leaves(value, is_leaf=is_keras_tensor)
        )

    arguments = list(args) + [v for k, v in kwargs.items() if k != "mask"]
    return bool(args) and sum(has_tensor(v) for v in arguments) == 1 and has_tensor(args[0])


def _carried_mask(inputs):
    """The masks `inputs` carry from the layer that made them (None when none does)."""
    masks = [tensor_masks.get_keras_mask(x) for x in jax.tree_util.tree_leaves(inputs)]
    if not any(m is not None for m in masks):
        return None
    return masks[0] if len(masks) == 1 else masks


def _route_argument_masks(layer, args, kwargs) -> None:
    """Keras' rule for a call with several tensor arguments: each `<name>` hands the mask it
    carries to `<name>_mask` when `call` takes one and none was given (MultiHeadAttention's
    `query_mask` / `value_mask` / `key_mask` after a masking Embedding). In place on kwargs."""
    params = layer._call_signature.parameters
    if not any(name.endswith("_mask") for name in params):
        return
    try:
        bound = layer._call_signature.bind_partial(*args, **kwargs).arguments
    except TypeError:
        return
    positional = list(params)[: len(args)]
    for name, value in bound.items():
        target = f"{name}_mask"
        if target in params and bound.get(target) is None and target not in positional:
            mask = _carried_mask(value)
            if mask is not None:
                kwargs[target] = mask


def _carry_mask(layer, args, mask_in, outputs) -> None:
    """Attach `layer`'s output mask to its (array) outputs, for the next layer to find."""
    if not args or (mask_in is None and type(layer).compute_mask is Layer.compute_mask):
        return  # no mask comes in, and the base rule makes none
    try:
        out_mask = layer.compute_mask(args[0], mask_in)
    except (NotImplementedError, TypeError, ValueError):
        return
    if out_mask is None:
        return
    leaves = jax.tree_util.tree_leaves(outputs)
    for out, mask in zip(leaves, _broadcast_masks(out_mask, outputs), strict=False):
        if mask is not None and hasattr(out, "shape"):
            tensor_masks.set_keras_mask(out, mask)


def _broadcast_masks(mask, outputs):
    leaves = jax.tree_util.tree_leaves(outputs, is_leaf=is_keras_tensor)
    if isinstance(mask, (list, tuple)):
        return list(mask) + [None] * (len(leaves) - len(mask))
    return [mask] * len(leaves)


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _tuplify(x):
    if isinstance(x, list) and all(d is None or isinstance(d, int) for d in x):
        return tuple(x)
    if isinstance(x, list):
        return [_tuplify(v) for v in x]
    return x


class _no_rng_scope:
    """Temporarily hide any active RngScope (weights are initialised from the global stream)."""

    def __enter__(self):
        stack = shoal_random.RngScope._stack.items
        self._saved = list(stack)
        stack.clear()

    def __exit__(self, *exc):
        shoal_random.RngScope._stack.items.extend(self._saved)
        return False
