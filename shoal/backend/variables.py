"""`Variable`: a named, mutable holder of one array, with Keras semantics.

Outside a stateless scope a variable holds its value directly; inside one
(see `scope.py`) reads and writes go through the scope, so the same layer
code runs eagerly and inside pure, jitted functions.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import dtypes, naming
from shoal.backend.autocast import get_autocast_scope
from shoal.backend.host_arrays import to_numpy
from shoal.backend.name_scopes import current_path
from shoal.backend.scope import current_stateless_scope
from shoal.backend.symbolic import in_shape_trace

_UIDS = itertools.count()


def _as_array(value, dtype):
    """`value` as a JAX array of `dtype`. A host value (Python number, NumPy array) is
    converted on the host and transferred: converting it on the device would compile one
    small computation per shape and dtype, a noticeable cost when a model is built.
    A host value stays concrete inside a trace too (a layer built while a subclassed model's
    call is traced creates its SeedGenerator's state there)."""
    if isinstance(value, (jax.Array, jax.core.Tracer)) or hasattr(value, "__jax_array__"):
        return jnp.asarray(value, dtype=dtype)
    with jax.ensure_compile_time_eval():
        return jax.device_put(np.asarray(value, dtype=None if dtype is None else jnp.dtype(dtype)))


def _host_dtype(value) -> str:
    """The dtype Keras gives a Python number or nested list: int32, float32 or bool."""
    name = np.asarray(value).dtype.name
    return dtypes.NARROW.get(name, name) if not jax.config.jax_enable_x64 else name


class Variable:
    def __init__(
        self,
        initializer,
        shape=None,
        dtype=None,
        trainable: bool = True,
        name: str | None = None,
        aggregation: str = "mean",
        synchronization: str = "auto",
        autocast: bool = True,
    ):
        if name is not None and not isinstance(name, str):
            raise ValueError(f"Variable `name` must be a string; got {name!r}")
        if name is not None and "/" in name:
            raise ValueError(f"Variable `name` must not contain '/'; got {name!r}")
        self.name = name or naming.uniquify("variable")  # Keras: variable, variable_1, ...
        scope_path = current_path()
        self.path = f"{scope_path}/{self.name}" if scope_path else self.name
        self.trainable = bool(trainable)
        self.aggregation = aggregation
        self.synchronization = synchronization
        self._autocast = bool(autocast)
        self._uid = next(_UIDS)
        self.constraint = None
        self.regularizer = None
        self.overwrite_with_gradient = False  # set by add_weight (float8 scale/history)
        if isinstance(initializer, str):  # a named initializer ("ones"), as Keras
            from shoal import initializers  # above the backend: imported on use

            initializer = initializers.get(initializer)
        if callable(initializer) and not hasattr(initializer, "shape"):
            if shape is None:
                raise ValueError(
                    f"Variable {self.name!r}: `shape` is required when `initializer` is callable"
                )
            self._dtype = dtypes.standardize_dtype(dtype)
            value = initializer(tuple(int(d) for d in shape), dtype=self._dtype)
        else:
            value = initializer
            if dtype is None:
                dtype = getattr(value, "dtype", None) or _host_dtype(value)
            self._dtype = dtypes.standardize_dtype(dtype)
        self._value = _as_array(value, self._dtype)
        if shape is not None and tuple(self._value.shape) != tuple(shape):
            raise ValueError(
                f"Variable {self.name!r}: initial value has shape {tuple(self._value.shape)}, "
                f"expected {tuple(shape)}"
            )

    # -- value access ------------------------------------------------------
    @property
    def value(self):
        """The current value; inside a mixed-precision layer call (an `AutocastScope`), a
        float variable's value cast to the compute dtype (the variable itself keeps its own)."""
        value = self._value
        scope = current_stateless_scope()
        if scope is not None:
            v = scope.get_value(self)
            if v is not None:
                value = v
        return self._maybe_autocast(value)

    def _maybe_autocast(self, value):
        if not self._autocast:
            return value
        autocast_scope = get_autocast_scope()
        return value if autocast_scope is None else autocast_scope.maybe_cast(value)

    @property
    def autocast(self) -> bool:
        """Whether reads inside an `AutocastScope` cast this variable (Keras' `autocast`)."""
        return self._autocast

    def assign(self, value):
        value = _as_array(value, self._dtype)
        if tuple(value.shape) != self.shape:
            raise ValueError(
                f"Variable {self.path!r}: cannot assign a value of shape {tuple(value.shape)} "
                f"to a variable of shape {self.shape}"
            )
        scope = current_stateless_scope()
        if scope is not None:
            scope.assign(self, value)
        elif isinstance(value, jax.core.Tracer) and in_shape_trace():
            # A layer assigning in `call` while a model is traced for its output shapes:
            # the value is abstract and the variable keeps its own (as in Keras).
            pass
        else:
            # A buffer of its own: training donates the variables' buffers, and one shared
            # with another variable (`a.assign(b)`, `set_state_tree(other.get_state_tree())`)
            # would be deleted under it.
            self._value = jnp.copy(value) if isinstance(value, jax.Array) else value
        return value

    def assign_add(self, value):
        return self.assign(self._current() + value)

    def assign_sub(self, value):
        return self.assign(self._current() - value)

    def _current(self):
        """The value in the variable's own dtype (never autocast)."""
        scope = current_stateless_scope()
        if scope is not None:
            v = scope.get_value(self)
            if v is not None:
                return v
        return self._value

    def numpy(self) -> np.ndarray:
        return to_numpy(self.value)

    @property
    def shape(self) -> tuple:
        return tuple(self._value.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> str:
        """The variable's dtype; inside an `AutocastScope`, the dtype reads return (Keras)."""
        autocast_scope = get_autocast_scope()
        if (
            self._autocast
            and autocast_scope is not None
            and autocast_scope.dtype is not None
            and dtypes.is_float_dtype(self._dtype)
        ):
            return autocast_scope.dtype
        return self._dtype

    def __hash__(self):
        return hash(self._uid)

    def __eq__(self, other):
        # Elementwise against values, as Keras; a Variable compared with a Variable (or with
        # None, a string, ...) by identity, so variables stay usable in lists and dict keys.
        if _is_value(other):
            return jnp.equal(self.value, other)
        return self is other

    def __ne__(self, other):
        if _is_value(other):
            return jnp.not_equal(self.value, other)
        return self is not other

    def __round__(self, ndigits=None):
        return jnp.round(self.value, decimals=ndigits or 0)

    def __repr__(self):
        # The value as Keras shows it; none for a traced or deleted (donated) buffer.
        try:
            value = f", value={np.asarray(self._value)}"
        except Exception:
            value = ""
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}{value}>"

    def __array__(self, dtype=None, copy=None):
        return np.asarray(to_numpy(self.value), dtype=dtype)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, idx):
        return self.value[idx]

    def __bool__(self):
        return bool(self.value)

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)


def _binary(op, reverse=False):
    def method(self, other):
        if isinstance(other, Variable):
            other = other.value
        a, b = (other, self.value) if reverse else (self.value, other)
        return op(a, b)

    return method


for _name, _op in {
    "add": jnp.add,
    "sub": jnp.subtract,
    "mul": jnp.multiply,
    "truediv": jnp.true_divide,
    "floordiv": jnp.floor_divide,
    "mod": jnp.mod,
    "pow": jnp.power,
    "matmul": jnp.matmul,
    "and": jnp.logical_and,
    "or": jnp.logical_or,
    "xor": jnp.logical_xor,
}.items():
    setattr(Variable, f"__{_name}__", _binary(_op))
    setattr(Variable, f"__r{_name}__", _binary(_op, reverse=True))
for _name, _op in {
    "lt": jnp.less,
    "le": jnp.less_equal,
    "gt": jnp.greater,
    "ge": jnp.greater_equal,
}.items():
    setattr(Variable, f"__{_name}__", _binary(_op))
Variable.__neg__ = lambda self: -self.value
Variable.__pos__ = lambda self: self.value
Variable.__abs__ = lambda self: jnp.abs(self.value)
Variable.__invert__ = lambda self: ~self.value


def _is_value(x) -> bool:
    """Whether `x` is a number or array (what `==` on a Variable compares elementwise)."""
    if isinstance(x, Variable) or x is None or isinstance(x, str):
        return False
    return isinstance(x, (int, float, complex, np.generic, np.ndarray, jax.Array, list, tuple))


Variable.T = property(lambda self: self.value.T)


def unwrap(x):
    """The array a Variable stands for; any other value unchanged."""
    return x.value if isinstance(x, Variable) else x
