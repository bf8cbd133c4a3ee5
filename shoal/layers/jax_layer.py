"""`JaxLayer` (Keras 3): a layer around a pure JAX function and its parameters.

The wrapped model is `call_fn(params, state, rng, inputs, training)` (any subset holding
`inputs`, in any order, matched by parameter *name* as Keras does). Its `params` pytree
becomes trainable weights and its `state` pytree non-trainable weights; each call rebuilds
both pytrees from the current variable values, so the layer works eagerly, inside a
Functional model, and inside shoal's pure train step (where variables are traced values).
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import dtypes
from shoal.backend import random as shoal_random
from shoal.backend.scope import StatelessScope
from shoal.backend.symbolic import eval_output_spec
from shoal.backend.variables import Variable
from shoal.layers.base import Layer
from shoal.random import SeedGenerator

_CALL_FN_ARGS = ("params", "state", "rng", "inputs", "training")
_INIT_FN_ARGS = ("rng", "inputs", "training")


def _is_variable(x) -> bool:
    return isinstance(x, Variable)


def _signature_names(fn, fn_name, allowed) -> list:
    """The parameter names of `fn`, checked against `allowed`; `inputs` is required."""
    if not callable(fn):
        raise ValueError(
            f"argument '{fn_name}' must be a callable, got {fn!r} of type {type(fn).__name__}"
        )
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"argument '{fn_name}' must be a function with an inspectable signature, "
            f"got {fn!r} ({err})"
        ) from err
    names = list(parameters)
    given = f"{fn_name}({', '.join(names)})"
    for name in names:
        if name not in allowed:
            raise ValueError(
                f"argument '{fn_name}' has an unsupported parameter '{name}': its parameters "
                f"must be named among {', '.join(allowed)} (matched by name); got {given}"
            )
    if "inputs" not in names:
        raise ValueError(
            f"argument '{fn_name}' is missing the required parameter 'inputs' (parameters "
            f"are matched by name among {', '.join(allowed)}); got {given}"
        )
    return names


class JaxLayer(Layer):
    """Wraps a JAX model given as a pure function (Keras 3's `keras.layers.JaxLayer`).

    Args:
        call_fn: the model, `call_fn(params, state, rng, inputs, training)`; only `inputs`
            is required, arguments are matched by name. Without `state` it returns the
            outputs; with `state` it returns `(outputs, new_state)`, and the new state is
            written to the non-trainable weights. `rng` is a raw PRNG key (uint32 data, as
            from `jax.random.PRNGKey`) drawn from `seed` in training, `None` in inference.
        init_fn: `init_fn(rng, inputs[, training])` called once at build with inputs of
            ones (unknown dimensions set to 1) and `training=True`; returns `params`, or
            `(params, state)` when `call_fn` takes `state`. Used when `params` and `state`
            are both `None`.
        params: a pytree of initial trainable parameters (arrays, NumPy or Python
            scalars become weights; other leaves are kept as static configuration).
        state: a pytree of initial non-trainable state, likewise.
        seed: integer seed for the `rng` given to `call_fn` in training.
        native_serialization_platforms: accepted and kept in the config for Keras
            compatibility (Keras uses it only on its TensorFlow backend).

    Float leaves become weights of the layer's dtype; weights are named `variable`,
    `variable_1`, ... in `jax.tree_util` flattening order, as in Keras.

    Example:
        >>> def call_fn(params, inputs):
        ...     return inputs @ params["w"] + params["b"]
        >>> def init_fn(rng, inputs):
        ...     return {"w": jax.random.normal(rng, (inputs.shape[-1], 4)), "b": jnp.zeros(4)}
        >>> layer = JaxLayer(call_fn, init_fn)
        >>> layer(np.ones((2, 3), "float32")).shape
        (2, 4)
    """

    def __init__(
        self,
        call_fn,
        init_fn=None,
        params=None,
        state=None,
        seed=None,
        native_serialization_platforms=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.call_fn_arguments = _signature_names(call_fn, "call_fn", _CALL_FN_ARGS)
        self.init_fn_arguments = (
            None if init_fn is None else _signature_names(init_fn, "init_fn", _INIT_FN_ARGS)
        )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"argument 'seed' must be an integer or None, got {seed!r}")
        self.call_fn_has_params = "params" in self.call_fn_arguments
        self.call_fn_has_state = "state" in self.call_fn_arguments
        if (
            init_fn is None
            and params is None
            and state is None
            and (self.call_fn_has_params or self.call_fn_has_state)
        ):
            raise ValueError(
                "arguments 'init_fn', 'params' and 'state' cannot all be None when 'call_fn' "
                f"takes a 'params' or 'state' argument; got call_fn("
                f"{', '.join(self.call_fn_arguments)}) and init_fn=None, params=None, state=None"
            )
        self.call_fn = call_fn
        self.init_fn = init_fn
        self.seed = None if seed is None else int(seed)
        self.seed_generator = SeedGenerator(self.seed)
        self.native_serialization_platforms = native_serialization_platforms
        self._weight_count = 0
        self.params = None
        self.state = None
        self.tracked_params = self._create_variables(params, trainable=True)
        self.tracked_state = self._create_variables(state, trainable=False)

    # -- weights ------------------------------------------------------------------------
    def _new_weight(self, value, trainable):
        value = jnp.asarray(value)
        dtype = dtypes.standardize_dtype(value.dtype)
        if dtypes.is_float_dtype(dtype):
            dtype = self.variable_dtype
        name = "variable" if self._weight_count == 0 else f"variable_{self._weight_count}"
        self._weight_count += 1
        return self.add_weight(
            shape=value.shape,
            initializer=lambda shape, dtype=None: jnp.asarray(value, dtype),
            dtype=dtype,
            trainable=trainable,
            name=name,
        )

    def _create_variables(self, values, trainable) -> list:
        """Replace the array leaves of `values` by weights; keep other leaves as they are."""

        def create(leaf):
            if isinstance(leaf, (np.ndarray, np.generic, jax.Array)) or (
                isinstance(leaf, (bool, int, float))
            ):
                return self._new_weight(leaf, trainable)
            return leaf

        variables = jax.tree_util.tree_map(create, values)
        if trainable:
            self.params = variables
        else:
            self.state = variables
        return [v for v in jax.tree_util.tree_leaves(variables, is_leaf=_is_variable)]

    def build(self, input_shape=None):
        if (
            self.params is None
            and self.state is None
            and (self.call_fn_has_params or self.call_fn_has_state)
        ):
            self._initialize_weights(input_shape)
        self.built = True

    def _initialize_weights(self, input_shape) -> None:
        def ones(shape):
            return jnp.ones([1 if d is None else d for d in shape])

        def is_shape(x):
            return isinstance(x, (tuple, list)) and all(d is None or isinstance(d, int) for d in x)

        # Build may happen while a model is traced: initialise with concrete values.
        with jax.ensure_compile_time_eval():
            inputs = jax.tree_util.tree_map(ones, input_shape, is_leaf=is_shape)
            supplied = {
                "rng": jax.random.key_data(shoal_random.global_key()),
                "inputs": inputs,
                "training": True,
            }
            result = self.init_fn(*(supplied[name] for name in self.init_fn_arguments))
        if self.call_fn_has_state:
            if not (isinstance(result, (tuple, list)) and len(result) == 2):
                raise ValueError(
                    f"JaxLayer '{self.name}': 'init_fn' must return a (params, state) pair "
                    f"because 'call_fn' takes 'state'; got {type(result).__name__}"
                )
            params, state = result
        else:
            params, state = result, None
        self.tracked_params = self._create_variables(params, trainable=True)
        self.tracked_state = self._create_variables(state, trainable=False)

    # -- calling ------------------------------------------------------------------------
    def _call_rng(self, training):
        if not training:
            return None
        return jax.random.key_data(shoal_random.draw_key(self.seed_generator))

    def call(self, inputs, training=False):
        def unwrap(tree):
            return jax.tree_util.tree_map(
                lambda x: x.value if _is_variable(x) else x, tree, is_leaf=_is_variable
            )

        supplied = {
            "params": lambda: unwrap(self.params),
            "state": lambda: unwrap(self.state),
            "rng": lambda: self._call_rng(training),
            "inputs": lambda: inputs,
            "training": lambda: training,
        }
        args = [supplied[name]() for name in self.call_fn_arguments]
        if not self.call_fn_has_state:
            return self.call_fn(*args)
        result = self.call_fn(*args)
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise ValueError(
                f"JaxLayer '{self.name}': 'call_fn' takes 'state', so it must return an "
                f"(outputs, new_state) pair; got {type(result).__name__}"
            )
        outputs, new_state = result
        new_leaves, new_def = jax.tree_util.tree_flatten(new_state)
        old_leaves, old_def = jax.tree_util.tree_flatten(self.state, is_leaf=_is_variable)
        if new_def != old_def or not all(_is_variable(v) for v in old_leaves):
            raise ValueError(
                f"JaxLayer '{self.name}': the state returned by 'call_fn' must have the "
                f"structure of the state at initialization, {old_def}; got {new_def}"
            )
        for variable, value in zip(old_leaves, new_leaves, strict=True):
            variable.assign(value)
        return outputs

    def compute_output_spec(self, inputs, training=None):
        # Abstract tracing must not write tracers into the state variables.
        with StatelessScope():
            return eval_output_spec(self.call, inputs, training=bool(training))

    # -- config -------------------------------------------------------------------------
    def get_config(self):
        from shoal.saving.serialization import serialize_keras_object

        return {
            **super().get_config(),
            "call_fn": serialize_keras_object(self.call_fn),
            "init_fn": serialize_keras_object(self.init_fn),
            "native_serialization_platforms": self.native_serialization_platforms,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from shoal.saving.serialization import deserialize_keras_object

        config = dict(config)
        for key in ("call_fn", "init_fn"):
            config[key] = deserialize_keras_object(config.get(key), custom_objects)
        return super().from_config(config)
