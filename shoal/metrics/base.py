"""`Metric`: state in non-trainable Variables, with a pure API for compiled steps.

Subclasses write ordinary stateful code (`update_state`, `result`,
`reset_state`) that reads and assigns their variables. The pure API runs that
same code inside a `StatelessScope`, so a jitted train step can carry metric
state as a list of arrays:

    values = metric.stateless_reset_state()
    values = metric.stateless_update_state(values, y_true, y_pred)
    result = metric.stateless_result(values)

Metrics whose variable shapes depend on the data (F1Score, R2Score, AUC with
`multi_label=True`) create their variables in `build(y_true_shape,
y_pred_shape)`, which `update_state` calls on first use; call it (eagerly)
before using the pure API.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal.backend import config, dtype_policy, naming
from shoal.backend.scope import StatelessScope
from shoal.backend.variables import Variable

_INITIALIZERS = {"zeros": jnp.zeros, "ones": jnp.ones}


def _initial_value(initializer, shape, dtype):
    if isinstance(initializer, str):
        fn = _INITIALIZERS.get(initializer)
        if fn is None:
            from shoal import initializers  # optional: only for other named initializers

            return initializers.get(initializer)(shape, dtype=dtype)
        return fn(shape, dtype=dtype)
    if callable(initializer):
        return initializer(shape, dtype=dtype)
    return jnp.broadcast_to(jnp.asarray(initializer, dtype=dtype), shape)


def _nested_items(value):
    """`value` itself, or the items of the lists, tuples and dicts it nests."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _nested_items(item)]
    return [value]


class Metric:
    """Base class of metrics (Keras 3 API).

    Implement `update_state(*args, **kwargs)` (accumulate into variables made
    with `add_variable`) and `result()`. `reset_state()` zeroes every variable
    unless overridden. Code must be jittable: no Python branching on values.
    """

    def __init__(self, dtype=None, name=None):
        self._variables: list[Variable] = []
        self._metrics: list[Metric] = []
        self.name = name or naming.auto_name(type(self).__name__)
        self._dtype_policy = dtype_policy.get(dtype or config.floatx())
        self._dtype = self._dtype_policy.compute_dtype
        self.built = True

    def __setattr__(self, name, value):
        # Track Variables and sub-metrics, also in lists, tuples and dicts, so that
        # `variables` includes them (as Keras does).
        if "_metrics" in self.__dict__:
            for item in _nested_items(value):
                if isinstance(item, Metric):
                    store = self._metrics
                elif isinstance(item, Variable):
                    store = self._variables
                else:
                    continue
                if all(item is not known for known in store):
                    store.append(item)
        super().__setattr__(name, value)

    @property
    def dtype(self) -> str:
        return self._dtype

    # -- variables ---------------------------------------------------------------
    def add_variable(self, shape, initializer, dtype=None, aggregation="sum", name=None):
        if "_variables" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}: call `super().__init__()` before `add_variable`"
            )
        shape = tuple(int(d) for d in shape)
        dtype = dtype or config.floatx()
        # Concrete even if a lazily-built metric is first updated inside a trace.
        with jax.ensure_compile_time_eval():
            variable = Variable(
                _initial_value(initializer, shape, dtype),
                shape=shape,
                dtype=dtype,
                trainable=False,
                name=name,
                aggregation=aggregation,
                synchronization="on_read",
            )
        variable.path = f"{self.name}/{variable.name}"
        self._variables.append(variable)
        return variable

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        return self.add_variable(shape, initializer or "zeros", dtype=dtype, name=name)

    @property
    def variables(self) -> list[Variable]:
        variables = list(self._variables)
        for metric in self._metrics:
            variables.extend(metric.variables)
        return variables

    def build(self, y_true_shape=None, y_pred_shape=None) -> None:
        """Create variables whose shapes depend on the data; a no-op for most metrics."""
        self.built = True

    # -- stateful API ------------------------------------------------------------
    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement `update_state`")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement `result`")

    def reset_state(self) -> None:
        for v in self.variables:
            v.assign(jnp.zeros(v.shape, dtype=v.dtype))

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    # -- pure API (one code path: the stateful methods, run in a StatelessScope) ---
    def _check_values(self, metric_variables, method: str) -> list:
        if not self.built:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: `{method}` needs the metric's variables; "
                "call `build(y_true_shape, y_pred_shape)` (or `update_state` once) first"
            )
        metric_variables = list(metric_variables)
        if len(metric_variables) != len(self.variables):
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: `{method}` argument `metric_variables` "
                f"must hold one array per variable ({len(self.variables)}); "
                f"got {len(metric_variables)}"
            )
        return metric_variables

    def _run_stateless(self, metric_variables, method, *args, **kwargs):
        """Run `method` with variables read from `metric_variables` (None: their own values).

        Returns the method's output and every variable's value afterwards.
        """
        variables = self.variables
        mapping = (
            {} if metric_variables is None else dict(zip(variables, metric_variables, strict=True))
        )
        with StatelessScope(mapping) as scope:
            out = method(*args, **kwargs)
        after = [scope.get_value(v) for v in variables]
        return out, [
            v.value if new is None else new for v, new in zip(variables, after, strict=True)
        ]

    def stateless_update_state(self, metric_variables, *args, **kwargs) -> list:
        values = self._check_values(metric_variables, "stateless_update_state")
        return self._run_stateless(values, self.update_state, *args, **kwargs)[1]

    def stateless_result(self, metric_variables):
        values = self._check_values(metric_variables, "stateless_result")
        return self._run_stateless(values, self.result)[0]

    def stateless_reset_state(self) -> list:
        return self._run_stateless(None, self.reset_state)[1]

    # -- config --------------------------------------------------------------------
    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"
