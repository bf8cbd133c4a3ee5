"""`MultiOptimizer`: different optimizers for different variables (Keras 3.15).

An `OptimizerMap` (a mutable mapping from variable-path patterns to optimizers, with a
default) or any callable `variable -> Optimizer` decides, once at `build`, which inner
optimizer updates each variable. `apply` hands each inner optimizer its own gradients;
the inner optimizers keep their own state, step counters and learning rates.

State, in Keras' order (what `variables` lists and saved weights hold): this optimizer's
`iteration` and (unused) `learning_rate`, then each inner optimizer's variables, in the
order of `optimizers`: the mapped ones, the default, then any a callable returned first.

Because everything goes through the inner optimizers' `apply` on Variables,
`stateless_apply` (the base's, under a `StatelessScope`) is pure and jittable as for any
other optimizer, and the trainer needs nothing special.

Example:
    >>> import jax.numpy as jnp
    >>> from shoal.backend.variables import Variable
    >>> from shoal.optimizers import SGD, Adam
    >>> kernel, bias = Variable(jnp.ones(2), name="kernel"), Variable(jnp.ones(2), name="bias")
    >>> opt = MultiOptimizer(OptimizerMap(SGD(learning_rate=0.5), {"b.*": Adam()}))
    >>> _ = opt.apply_gradients([(jnp.ones(2), kernel), (jnp.ones(2), bias)])
    >>> kernel.numpy().tolist(), [type(o).__name__ for o in opt.optimizers]
    ([0.5, 0.5], ['Adam', 'SGD'])
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping

from shoal.backend.path_patterns import match_path
from shoal.optimizers.base import Optimizer
from shoal.optimizers.loss_scale import LossScaleOptimizer


def _check_inner(where, optimizer, exc=ValueError):
    """Keras' restrictions on what a MultiOptimizer may delegate to."""
    if not isinstance(optimizer, Optimizer):
        raise exc(f"{where} must be an Optimizer instance, got {optimizer!r}")
    for cls in (LossScaleOptimizer, MultiOptimizer):
        if isinstance(optimizer, cls):
            raise exc(
                f"{where} must be a plain Optimizer, got a {cls.__name__} (wrap the "
                f"MultiOptimizer instead: {cls.__name__} cannot be used inside one)"
            )


class OptimizerMap(MutableMapping):
    """Variable path (exact, else a `re.fullmatch` pattern) -> `Optimizer`, with a default.

    Args:
        default_optimizer: the optimizer of every variable no key matches.
        optimizer_map: optional dict of initial entries.

    Example:
        >>> from shoal.optimizers import SGD, Adam
        >>> m = OptimizerMap(default_optimizer=SGD(name="sgd"))
        >>> m["encoder/.*"] = Adam(name="adam")
        >>> m["encoder/dense/kernel"].name, m["decoder/dense/kernel"].name
        ('adam', 'sgd')
    """

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(
                "OptimizerMap: argument 'default_optimizer' must be an Optimizer instance, "
                f"got {default_optimizer!r}"
            )
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(
                "OptimizerMap: argument 'optimizer_map' must be a dict of "
                f"{{pattern: Optimizer}} or None, got {type(optimizer_map).__name__}"
            )
        self._default_optimizer = default_optimizer
        self._optimizer_map: dict = {}
        for key, optimizer in (optimizer_map or {}).items():
            self[key] = optimizer

    @property
    def default_optimizer(self) -> Optimizer:
        return self._default_optimizer

    def __getitem__(self, key):
        """The optimizer of the variable path `key`: an exact key first, else the one key
        that `re.fullmatch`-es it (several: ValueError), else the default."""
        return match_path(
            self._optimizer_map,
            key,
            self._default_optimizer,
            lambda key, matches: (
                f"OptimizerMap: variable {key!r} matches several keys {matches}; expected at "
                "most one"
            ),
        )

    def __setitem__(self, key, optimizer):
        if not isinstance(key, str):
            raise ValueError(f"OptimizerMap: a key must be a string, got {key!r}")
        if key in self._optimizer_map:
            raise ValueError(
                f"OptimizerMap: key {key!r} is already mapped to "
                f"{self._optimizer_map[key]!r}; expected a new key"
            )
        try:
            re.compile(key)
        except re.error as err:
            raise ValueError(
                f"OptimizerMap: a key must be a variable path or regular expression, got "
                f"{key!r} ({err})"
            ) from None
        _check_inner(f"OptimizerMap: the optimizer of key {key!r}", optimizer)
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key):
        del self._optimizer_map[key]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable) -> Optimizer:
        return self[variable.path]

    def get_config(self) -> dict:
        from shoal.optimizers import serialize

        return {
            "default_optimizer": serialize(self._default_optimizer),
            "optimizer_map": {key: serialize(opt) for key, opt in self._optimizer_map.items()},
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from shoal.optimizers import deserialize

        def load(value):
            return deserialize(value, custom_objects) if isinstance(value, dict) else value

        entries = config.get("optimizer_map") or {}
        return cls(load(config["default_optimizer"]), {key: load(v) for key, v in entries.items()})


class MultiOptimizer(Optimizer):
    """Delegates each variable to the optimizer `optimizer_map` gives it (Keras 3.15's
    `keras.optimizers.MultiOptimizer`).

    Args:
        optimizer_map: an `OptimizerMap`, or a callable `variable -> Optimizer`.
        loss_scale_factor: overrides the inner optimizers' `loss_scale_factor` (as Keras,
            also when None).
        name: the optimizer's name.

    As in Keras, `learning_rate` cannot be read or set here (each inner optimizer has its
    own: iterate over `optimizers`), `iterations` counts this optimizer's `apply` calls.
    """

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        if not (isinstance(optimizer_map, OptimizerMap) or callable(optimizer_map)):
            raise TypeError(
                "MultiOptimizer: argument 'optimizer_map' must be an OptimizerMap or a "
                f"callable variable -> Optimizer, got {optimizer_map!r}"
            )
        super().__init__(learning_rate=0.0, loss_scale_factor=loss_scale_factor, name=name)
        self._optimizer_map = optimizer_map
        inner: list[Optimizer] = []
        if isinstance(optimizer_map, OptimizerMap):
            for optimizer in [*optimizer_map.values(), optimizer_map.default_optimizer]:
                _check_inner("MultiOptimizer: every optimizer in 'optimizer_map'", optimizer)
                if not any(optimizer is o for o in inner):
                    optimizer.loss_scale_factor = loss_scale_factor
                    inner.append(optimizer)
        self._inner_optimizers = inner
        self._assignment: list[int] = []

    # -- delegated attributes ---------------------------------------------------
    @property
    def optimizers(self) -> list[Optimizer]:
        """The inner optimizers, in the order their variables are listed."""
        return self._inner_optimizers

    @property
    def learning_rate(self):
        raise AttributeError(
            "Learning rate cannot be accessed on a MultiOptimizer. Access the learning rate "
            "on the individual sub-optimizers instead (`optimizer.optimizers`)."
        )

    @learning_rate.setter
    def learning_rate(self, value):
        if self.__dict__.get("_inner_optimizers") is None:  # Optimizer.__init__: Keras' unused
            Optimizer.learning_rate.fset(self, value)
            return
        raise AttributeError(
            "Learning rate cannot be set on a MultiOptimizer. Set the learning rate on the "
            "individual sub-optimizers instead (`optimizer.optimizers`)."
        )

    @property
    def loss_scale_factor(self):
        return self.__dict__.get("_loss_scale_factor")

    @loss_scale_factor.setter
    def loss_scale_factor(self, value):
        self._loss_scale_factor = value
        for optimizer in self.__dict__.get("_inner_optimizers") or ():
            optimizer.loss_scale_factor = value

    @property
    def iterations(self):
        return self._iterations

    @property
    def variables(self) -> list:
        own = [self._iterations, self._lr_variable]
        return own + [v for optimizer in self._inner_optimizers for v in optimizer.variables]

    # -- building ---------------------------------------------------------------
    def _optimizer_index(self, optimizer) -> int:
        for i, known in enumerate(self._inner_optimizers):
            if known is optimizer:
                return i
        optimizer.loss_scale_factor = self.loss_scale_factor
        self._inner_optimizers.append(optimizer)
        return len(self._inner_optimizers) - 1

    def build(self, trainable_variables) -> None:
        if self.built:
            return
        variables = list(trainable_variables)
        assignment = []
        for var in variables:
            optimizer = self._optimizer_map(var)
            _check_inner(
                f"MultiOptimizer: 'optimizer_map' result for variable {var.path!r}", optimizer
            )
            assignment.append(self._optimizer_index(optimizer))
        for i, optimizer in enumerate(self._inner_optimizers):
            owned = [v for v, j in zip(variables, assignment, strict=True) if j == i]
            if owned:
                optimizer.build(owned)
        self._trainable_variables = variables
        self._index = {v: i for i, v in enumerate(variables)}
        self._assignment = assignment
        self.built = True

    # -- applying gradients -------------------------------------------------------
    def _split(self, values, variables, arg):
        """`values` (one per variable) grouped by inner optimizer: [(values, variables)]."""
        groups = [([], []) for _ in self._inner_optimizers]
        for value, var in zip(values, variables, strict=True):
            if var not in self._index:
                raise ValueError(
                    f"MultiOptimizer '{self.name}': argument '{arg}' holds unknown variable "
                    f"{var.path!r}; an optimizer only updates the variables it was built with"
                )
            group = groups[self._assignment[self._index[var]]]
            group[0].append(value)
            group[1].append(var)
        return groups

    def apply(self, grads, trainable_variables=None) -> None:
        """Hand each inner optimizer the gradients of its own variables."""
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    f"MultiOptimizer '{self.name}': call build(trainable_variables) or pass "
                    "`trainable_variables` before applying bare gradients"
                )
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            self.build(trainable_variables)
        if len(grads) != len(trainable_variables):
            self._fail(
                "grads",
                f"a list of {len(trainable_variables)} gradients",
                f"{len(grads)} gradients",
            )
        groups = self._split(grads, trainable_variables, "trainable_variables")
        for optimizer, (sub_grads, sub_vars) in zip(self._inner_optimizers, groups, strict=True):
            if sub_vars:
                optimizer.apply(sub_grads, sub_vars)
        self._iterations.assign(self._iterations.value + 1)

    def finalize_variable_values(self, var_list) -> None:
        var_list = list(var_list)
        groups = self._split(var_list, var_list, "var_list")
        for optimizer, (_, sub_vars) in zip(self._inner_optimizers, groups, strict=True):
            if sub_vars:
                optimizer.finalize_variable_values(sub_vars)

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        raise ValueError(
            f"MultiOptimizer '{self.name}': exclude_from_weight_decay() must be called on the "
            "inner optimizers (`optimizer.optimizers`), which apply the weight decay"
        )

    # -- saving -----------------------------------------------------------------
    def get_config(self) -> dict:
        if isinstance(self._optimizer_map, OptimizerMap):
            # Written as Keras writes it, whether or not shoal.optimizers exports the class.
            optimizer_map = {
                "module": "keras.optimizers",
                "class_name": "OptimizerMap",
                "config": self._optimizer_map.get_config(),
                "registered_name": None,
            }
        else:
            from shoal.saving.serialization import serialize_keras_object

            optimizer_map = serialize_keras_object(self._optimizer_map)
        return {
            "optimizer_map": optimizer_map,
            "loss_scale_factor": self.loss_scale_factor,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        optimizer_map = config.pop("optimizer_map")
        if isinstance(optimizer_map, dict) and optimizer_map.get("class_name") == "OptimizerMap":
            optimizer_map = OptimizerMap.from_config(optimizer_map["config"], custom_objects)
        elif isinstance(optimizer_map, dict):
            from shoal.saving.serialization import deserialize_keras_object

            optimizer_map = deserialize_keras_object(optimizer_map, custom_objects)
        return cls(optimizer_map, **config)
