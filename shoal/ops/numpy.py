"""The `keras.ops.numpy` namespace: NumPy-named ops over `jax.numpy`.

Most ops are one line: a table entry turned into a Keras-signature function by
one of the factories below (`_unary`, `_binary`, `_reduction`, ...). Ops whose
Keras semantics differ from `jax.numpy` (dtype defaults, argument names,
float16 statistics) are written out. Every op accepts Variables, NumPy values
and nested Python lists; Python scalars stay weakly typed, so `add(x, 2.0)`
keeps `x`'s dtype, as in Keras.
"""

from __future__ import annotations

import builtins
import math

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import config, dtypes
from shoal.backend.symbolic import KerasTensor, eval_op_output_spec
from shoal.backend.tensors import convert_to_tensor
from shoal.ops.counting import bincount as bincount  # keras.ops.numpy names defined there
from shoal.ops.counting import histogram as histogram
from shoal.ops.counting import unique as unique
from shoal.ops.dispatch import keras_op, public_names, symbolic_spec

_PY_SCALARS = (bool, int, float, complex)


def _t(x):
    """`x` as an array; Python scalars become weakly typed arrays, as JAX makes them."""
    return jnp.asarray(x) if isinstance(x, _PY_SCALARS) else convert_to_tensor(x)


def _ts(xs):
    return [_t(x) for x in xs]


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _dtype(dtype):
    return None if dtype is None else dtypes.standardize_dtype(dtype)


def _op(name, fn, doc):
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return keras_op(fn)


# -- factories ---------------------------------------------------------------


def _unary(name, jfn):
    def op(x):
        return jfn(_t(x))

    return _op(name, op, f"Element-wise `{name}` of `x` (as `numpy.{name}`).")


def _as_float(x):
    """`x` in a floating dtype: its own, else the float type Keras promotes it to."""
    if jnp.issubdtype(x.dtype, jnp.inexact):
        return x
    return x.astype(dtypes.result_type(x.dtype, float))


def _binary(name, jfn):
    def op(x1, x2):
        return jfn(_t(x1), _t(x2))

    return _op(name, op, f"Element-wise `{name}` of `x1` and `x2`, with broadcasting.")


def _bitwise(name, jfn):
    def op(x, y):
        return jfn(_t(x), _t(y))

    return _op(name, op, f"Element-wise `{name}` of integer tensors `x` and `y`.")


def _reduction(name, jfn):
    def op(x, axis=None, keepdims=False):
        return jfn(_t(x), axis=_axis(axis), keepdims=keepdims)

    return _op(name, op, f"`{name}` of `x` over `axis` (all axes when None).")


def _float_stat(name, jfn):
    """mean/var/std: computed in at least float32, returned in x's float dtype."""

    def op(x, axis=None, keepdims=False):
        x = _t(x)
        compute = jnp.result_type(x, jnp.float32)
        out = jfn(x.astype(compute), axis=_axis(axis), keepdims=keepdims)
        return out.astype(x.dtype) if jnp.issubdtype(x.dtype, jnp.floating) else out

    return _op(name, op, f"`{name}` of `x` over `axis` (all axes when None).")


def _signed_zeros(x):
    """On CPU, float `x` (at least float32) with -0.0 as -tiny, as Keras' JAX backend does
    there: XLA's CPU flush-to-zero makes subnormals equal to -0.0 (jax-ml/jax#24280), which
    would give argmax/argmin other indices than NumPy's."""
    if not jnp.issubdtype(x.dtype, jnp.floating) or x.ndim == 0 or not _on_cpu(x):
        return x
    x = x.astype(dtypes.result_type(x.dtype, "float32"))
    return jnp.where((x == 0) & jnp.signbit(x), -jnp.finfo(x.dtype).tiny, x)


def _on_cpu(x) -> bool:
    if isinstance(x, jax.core.Tracer):
        return jax.default_backend() == "cpu"
    devices = x.devices()  # a sharded array is left alone, as in Keras
    return len(devices) == 1 and next(iter(devices)).platform == "cpu"


def _arg_reduction(name, jfn):
    def op(x, axis=None, keepdims=False):
        return jfn(_t(x), axis=axis, keepdims=keepdims)

    return _op(name, op, f"Indices of the `{name[3:]}` of `x` along `axis` (flattened if None).")


def _along_axis(name, jfn, default_axis):
    def op(x, axis=default_axis):
        x = _t(x)
        return jfn(x, axis=None if x.ndim == 0 else axis)

    return _op(name, op, f"`{name}` of `x` along `axis`.")


def _cumulative(name, jfn):
    def op(x, axis=None, dtype=None):
        return jfn(_t(x), axis=axis, dtype=_dtype(dtype))

    return _op(name, op, f"Cumulative `{name[3:]}` of `x` along `axis` (flattened if None).")


def _creation(name, jfn):
    def op(shape, dtype=None):
        return jfn(shape, dtype=_dtype(dtype) or config.floatx())

    return _op(name, op, f"`{name}` tensor of `shape` (dtype defaults to floatx()).")


def _like(name, jfn):
    def op(x, dtype=None):
        return jfn(_t(x), dtype=_dtype(dtype))

    return _op(name, op, f"`{name}` with the shape (and, by default, dtype) of `x`.")


def _sequence(name, jfn):
    def op(xs):
        return jfn(_ts(xs))

    return _op(name, op, f"`{name}` of the tensors in `xs`.")


def _splitter(name, jfn):
    def op(x, indices_or_sections):
        return list(jfn(_t(x), indices_or_sections))

    return _op(name, op, f"`{name}` of `x` into a list of tensors.")


def _window(name, jfn):
    def op(x):
        return jfn(int(x)).astype(config.floatx())

    return _op(name, op, f"The `{name}` window of length `x`.")


# -- element-wise ------------------------------------------------------------

abs = _unary("abs", jnp.abs)
absolute = _unary("absolute", jnp.abs)
negative = _unary("negative", jnp.negative)
exp = _unary("exp", jnp.exp)
exp2 = _unary("exp2", jnp.exp2)
expm1 = _unary("expm1", jnp.expm1)
log = _unary("log", jnp.log)
log10 = _unary("log10", jnp.log10)
log1p = _unary("log1p", jnp.log1p)
log2 = _unary("log2", jnp.log2)
sqrt = _unary("sqrt", jnp.sqrt)
cbrt = _unary("cbrt", jnp.cbrt)
square = _unary("square", jnp.square)
reciprocal = _unary("reciprocal", jnp.reciprocal)
sin = _unary("sin", jnp.sin)
cos = _unary("cos", jnp.cos)
tan = _unary("tan", jnp.tan)
sinh = _unary("sinh", jnp.sinh)
cosh = _unary("cosh", jnp.cosh)
tanh = _unary("tanh", jnp.tanh)
arcsin = _unary("arcsin", jnp.arcsin)
arccos = _unary("arccos", jnp.arccos)
arctan = _unary("arctan", jnp.arctan)
arcsinh = _unary("arcsinh", jnp.arcsinh)
arccosh = _unary("arccosh", jnp.arccosh)
arctanh = _unary("arctanh", jnp.arctanh)
sinc = _unary("sinc", jnp.sinc)
deg2rad = _unary("deg2rad", jnp.deg2rad)
rad2deg = _unary("rad2deg", jnp.rad2deg)
floor = _unary("floor", lambda x: jnp.floor(_as_float(x)))  # ints give floats, as Keras
ceil = _unary("ceil", lambda x: jnp.ceil(_as_float(x)))
trunc = _unary("trunc", jnp.trunc)
fabs = _unary("fabs", jnp.fabs)
sign = _unary("sign", jnp.sign)
signbit = _unary("signbit", jnp.signbit)
isnan = _unary("isnan", jnp.isnan)
isinf = _unary("isinf", jnp.isinf)
isfinite = _unary("isfinite", jnp.isfinite)
isposinf = _unary("isposinf", jnp.isposinf)
isneginf = _unary("isneginf", jnp.isneginf)
isreal = _unary("isreal", jnp.isreal)
logical_not = _unary("logical_not", jnp.logical_not)
bitwise_not = _unary("bitwise_not", jnp.bitwise_not)
bitwise_invert = _unary("bitwise_invert", jnp.bitwise_not)
real = _unary("real", jnp.real)
imag = _unary("imag", jnp.imag)
conj = _unary("conj", jnp.conj)
conjugate = _unary("conjugate", jnp.conjugate)
angle = _unary("angle", jnp.angle)
i0 = _unary("i0", jnp.i0)
copy = _unary("copy", jnp.array)
ravel = _unary("ravel", jnp.ravel)
fliplr = _unary("fliplr", jnp.fliplr)
flipud = _unary("flipud", jnp.flipud)

add = _binary("add", jnp.add)
subtract = _binary("subtract", jnp.subtract)
multiply = _binary("multiply", jnp.multiply)
divide = _binary("divide", jnp.true_divide)
true_divide = _binary("true_divide", jnp.true_divide)
floor_divide = _binary("floor_divide", jnp.floor_divide)
mod = _binary("mod", jnp.mod)
fmod = _binary("fmod", jnp.fmod)
power = _binary("power", jnp.power)
maximum = _binary("maximum", jnp.maximum)
minimum = _binary("minimum", jnp.minimum)
fmax = _binary("fmax", jnp.fmax)
fmin = _binary("fmin", jnp.fmin)
arctan2 = _binary("arctan2", jnp.arctan2)
hypot = _binary("hypot", jnp.hypot)
logaddexp = _binary("logaddexp", jnp.logaddexp)
logaddexp2 = _binary("logaddexp2", jnp.logaddexp2)
heaviside = _binary("heaviside", jnp.heaviside)
nextafter = _binary("nextafter", jnp.nextafter)
ldexp = _binary("ldexp", jnp.ldexp)
gcd = _binary("gcd", jnp.gcd)
lcm = _binary("lcm", jnp.lcm)
equal = _binary("equal", jnp.equal)
not_equal = _binary("not_equal", jnp.not_equal)
less = _binary("less", jnp.less)
less_equal = _binary("less_equal", jnp.less_equal)
greater = _binary("greater", jnp.greater)
greater_equal = _binary("greater_equal", jnp.greater_equal)
logical_and = _binary("logical_and", jnp.logical_and)
logical_or = _binary("logical_or", jnp.logical_or)
logical_xor = _binary("logical_xor", jnp.logical_xor)
dot = _binary("dot", jnp.dot)
vdot = _binary("vdot", jnp.vdot)
inner = _binary("inner", jnp.inner)
outer = _binary("outer", jnp.outer)
kron = _binary("kron", jnp.kron)

bitwise_and = _bitwise("bitwise_and", jnp.bitwise_and)
bitwise_or = _bitwise("bitwise_or", jnp.bitwise_or)
bitwise_xor = _bitwise("bitwise_xor", jnp.bitwise_xor)
bitwise_left_shift = _bitwise("bitwise_left_shift", jnp.left_shift)
bitwise_right_shift = _bitwise("bitwise_right_shift", jnp.right_shift)
left_shift = _bitwise("left_shift", jnp.left_shift)
right_shift = _bitwise("right_shift", jnp.right_shift)


@keras_op
def divide_no_nan(x1, x2):
    """`x1 / x2`, with 0 wherever `x2` is 0."""
    x1, x2 = _t(x1), _t(x2)
    zero = jnp.equal(x2, 0)
    return jnp.where(zero, 0, jnp.true_divide(x1, jnp.where(zero, 1, x2)))


@keras_op
def clip(x, x_min, x_max):
    """Clip `x` to `[x_min, x_max]` (bool inputs become int32, as in Keras)."""
    x = _t(x)
    if x.dtype == jnp.bool_:
        x = x.astype("int32")
    return jnp.clip(x, _t(x_min), _t(x_max))


@keras_op
def round(x, decimals=0):
    """Round `x` to `decimals` decimal places (half to even)."""
    x = _t(x)
    if decimals < 0 and jnp.issubdtype(x.dtype, jnp.integer):
        factor = 10.0**decimals
        y = jnp.round(x.astype(config.floatx()) * factor) / factor
        return y.astype(x.dtype)
    return jnp.round(x, decimals=decimals)


@keras_op
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """Replace NaN and infinities of `x` by finite numbers."""
    return jnp.nan_to_num(_t(x), nan=nan, posinf=posinf, neginf=neginf)


@keras_op
def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Element-wise `|x1 - x2| <= atol + rtol * |x2|`."""
    return jnp.isclose(_t(x1), _t(x2), rtol=rtol, atol=atol, equal_nan=equal_nan)


@keras_op
def allclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether `isclose` holds everywhere (a scalar bool tensor)."""
    return jnp.allclose(_t(x1), _t(x2), rtol=rtol, atol=atol, equal_nan=equal_nan)


@keras_op
def isin(x1, x2, assume_unique=False, invert=False):
    """Element-wise: is each value of `x1` in `x2`."""
    return jnp.isin(_t(x1), _t(x2), assume_unique=assume_unique, invert=invert)


def _where_spec(condition, x1=None, x2=None):
    if x1 is None and x2 is None:
        return _nonzero_spec(condition)
    return eval_op_output_spec(where.__wrapped__, condition, x1, x2)


def _nonzero_spec(x):
    return tuple(KerasTensor((None,), dtype="int32") for _ in range(builtins.max(len(x.shape), 1)))


@symbolic_spec(_where_spec)
@keras_op
def where(condition, x1=None, x2=None):
    """`x1` where `condition` else `x2`; indices of True values if both are None."""
    if (x1 is None) != (x2 is None):
        raise ValueError(
            "where: arguments 'x1' and 'x2' must be given together or both be None; "
            f"got x1={'None' if x1 is None else 'a value'}, "
            f"x2={'None' if x2 is None else 'a value'}"
        )
    if x1 is None:
        return jnp.nonzero(_t(condition))
    return jnp.where(_t(condition), _t(x1), _t(x2))


@keras_op
def select(condlist, choicelist, default=0):
    """Element-wise, the entry of `choicelist` whose condition first holds."""
    return jnp.select(_ts(condlist), _ts(choicelist), default)


# -- reductions --------------------------------------------------------------

sum = _reduction("sum", jnp.sum)
all = _reduction("all", jnp.all)
any = _reduction("any", jnp.any)
amax = _reduction("amax", jnp.max)
amin = _reduction("amin", jnp.min)
ptp = _reduction("ptp", jnp.ptp)
median = _reduction("median", jnp.median)
nansum = _reduction("nansum", jnp.nansum)
nanprod = _reduction("nanprod", jnp.nanprod)
nanmax = _reduction("nanmax", jnp.nanmax)
nanmin = _reduction("nanmin", jnp.nanmin)
nanmedian = _reduction("nanmedian", jnp.nanmedian)
mean = _float_stat("mean", jnp.mean)
var = _float_stat("var", jnp.var)
std = _float_stat("std", jnp.std)
nanmean = _float_stat("nanmean", jnp.nanmean)
nanvar = _float_stat("nanvar", jnp.nanvar)
nanstd = _float_stat("nanstd", jnp.nanstd)
argmax = _arg_reduction("argmax", lambda x, **kw: jnp.argmax(_signed_zeros(x), **kw))
argmin = _arg_reduction("argmin", lambda x, **kw: jnp.argmin(_signed_zeros(x), **kw))
nanargmax = _arg_reduction("nanargmax", jnp.nanargmax)
nanargmin = _arg_reduction("nanargmin", jnp.nanargmin)
sort = _along_axis("sort", jnp.sort, -1)
argsort = _along_axis("argsort", jnp.argsort, -1)
cumsum = _cumulative("cumsum", jnp.cumsum)
cumprod = _cumulative("cumprod", jnp.cumprod)
nancumsum = _cumulative("nancumsum", jnp.nancumsum)
nancumprod = _cumulative("nancumprod", jnp.nancumprod)


@keras_op
def max(x, axis=None, keepdims=False, initial=None):
    """Maximum of `x` over `axis`; `initial` is the value for empty reductions."""
    return jnp.max(_t(x), axis=_axis(axis), keepdims=keepdims, initial=initial)


@keras_op
def min(x, axis=None, keepdims=False, initial=None):
    """Minimum of `x` over `axis`; `initial` is the value for empty reductions."""
    return jnp.min(_t(x), axis=_axis(axis), keepdims=keepdims, initial=initial)


@keras_op
def prod(x, axis=None, keepdims=False, dtype=None):
    """Product of `x` over `axis`."""
    return jnp.prod(_t(x), axis=_axis(axis), keepdims=keepdims, dtype=_dtype(dtype))


@keras_op
def count_nonzero(x, axis=None):
    """Number of non-zero values of `x` over `axis` (int32)."""
    return jnp.count_nonzero(_t(x), axis=_axis(axis)).astype("int32")


@keras_op
def average(x, axis=None, weights=None):
    """Weighted average of `x` over `axis` (plain mean when `weights` is None)."""
    x = _t(x)
    dtype = jnp.result_type(x, float if weights is None else _t(weights), float)
    w = None if weights is None else _t(weights).astype(dtype)
    return jnp.average(x.astype(dtype), axis=axis, weights=w)


def _quantile_op(name, jfn):
    def op(x, q, axis=None, method="linear", keepdims=False):
        x = _t(x)
        x = x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(config.floatx())
        return jfn(x, _t(q), axis=_axis(axis), method=method, keepdims=keepdims)

    return _op(name, op, f"The `q`-th {name} of `x` over `axis`.")


quantile = _quantile_op("quantile", jnp.quantile)
percentile = _quantile_op("percentile", jnp.percentile)
nanquantile = _quantile_op("nanquantile", jnp.nanquantile)
nanpercentile = _quantile_op("nanpercentile", jnp.nanpercentile)


# -- creation ----------------------------------------------------------------

zeros = _creation("zeros", jnp.zeros)
ones = _creation("ones", jnp.ones)
empty = _creation("empty", jnp.zeros)
zeros_like = _like("zeros_like", jnp.zeros_like)
ones_like = _like("ones_like", jnp.ones_like)
empty_like = _like("empty_like", jnp.zeros_like)
bartlett = _window("bartlett", jnp.bartlett)
blackman = _window("blackman", jnp.blackman)
hamming = _window("hamming", jnp.hamming)
hanning = _window("hanning", jnp.hanning)


@keras_op
def kaiser(x, beta):
    """The Kaiser window of length `x` and shape parameter `beta`."""
    return jnp.kaiser(int(x), beta).astype(config.floatx())


@keras_op
def full(shape, fill_value, dtype=None):
    """Tensor of `shape` filled with `fill_value` (dtype defaults to floatx())."""
    return jnp.full(shape, _t(fill_value), dtype=_dtype(dtype) or config.floatx())


@keras_op
def full_like(x, fill_value, dtype=None):
    """Tensor shaped like `x` filled with `fill_value`."""
    return jnp.full_like(_t(x), _t(fill_value), dtype=_dtype(dtype))


@keras_op
def array(x, dtype=None):
    """A tensor holding `x`."""
    return convert_to_tensor(x, dtype=dtype)


@keras_op
def arange(start, stop=None, step=None, dtype=None):
    """Evenly spaced values in `[start, stop)` (`[0, start)` if `stop` is None).

    The dtype, when not given, is int32 for integer bounds and floatx() otherwise.
    """
    if dtype is None:
        bounds = [b for b in (start, stop, step) if b is not None]
        is_float = builtins.any(
            isinstance(b, float) or jnp.issubdtype(jnp.result_type(b), jnp.floating) for b in bounds
        )
        dtype = config.floatx() if is_float else "int32"
    return jnp.arange(start, stop, step, dtype=_dtype(dtype))


@keras_op
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """`num` evenly spaced values from `start` to `stop`."""
    return jnp.linspace(
        _t(start), _t(stop), num, endpoint=endpoint, retstep=retstep, dtype=_dtype(dtype), axis=axis
    )


@keras_op
def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """`num` values spaced evenly on a log scale, `base**start` to `base**stop`."""
    return jnp.logspace(
        _t(start), _t(stop), num, endpoint=endpoint, base=base, dtype=_dtype(dtype), axis=axis
    )


@keras_op
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """`num` values spaced evenly on a log scale between `start` and `stop`."""
    return jnp.geomspace(
        _t(start), _t(stop), num, endpoint=endpoint, dtype=_dtype(dtype), axis=axis
    )


@keras_op
def eye(N, M=None, k=0, dtype=None):
    """`N x M` matrix with ones on the `k`-th diagonal."""
    return jnp.eye(N, M, k=k, dtype=_dtype(dtype) or config.floatx())


@keras_op
def identity(n, dtype=None):
    """The `n x n` identity matrix."""
    return jnp.identity(n, dtype=_dtype(dtype) or config.floatx())


@keras_op
def tri(N, M=None, k=0, dtype=None):
    """`N x M` matrix with ones at and below the `k`-th diagonal."""
    return jnp.tri(N, M, k=k, dtype=_dtype(dtype) or config.floatx())


@keras_op
def vander(x, N=None, increasing=False):
    """Vandermonde matrix of the 1-D `x`."""
    return jnp.vander(_t(x), N=N, increasing=increasing)


@keras_op
def meshgrid(*x, indexing="xy"):
    """Coordinate grids from 1-D coordinate vectors (a list of tensors)."""
    return list(jnp.meshgrid(*_ts(x), indexing=indexing))


# -- shape and indexing ------------------------------------------------------

hstack = _sequence("hstack", jnp.hstack)
vstack = _sequence("vstack", jnp.vstack)
dstack = _sequence("dstack", jnp.dstack)
hsplit = _splitter("hsplit", jnp.hsplit)
vsplit = _splitter("vsplit", jnp.vsplit)
dsplit = _splitter("dsplit", jnp.dsplit)


def _reshape_spec(x, newshape):
    try:
        return eval_op_output_spec(reshape.__wrapped__, x, newshape)
    except (TypeError, ValueError):
        sizes = tuple(newshape) if isinstance(newshape, (tuple, list)) else (newshape,)
        fixed = builtins.all(isinstance(d, (int, np.integer)) and d >= 0 for d in sizes)
        if None not in x.shape or not fixed:
            raise
        # An unknown size can take whatever value the fixed `newshape` needs (as in Keras).
        return KerasTensor(sizes, dtype=x.dtype)


@symbolic_spec(_reshape_spec)
@keras_op
def reshape(x, newshape):
    """`x` with shape `newshape` (one entry may be -1)."""
    sizes = newshape if isinstance(newshape, (tuple, list)) else (newshape,)
    ints = [int(d) for d in sizes if isinstance(d, (int, np.integer))]
    if builtins.any(d < -1 for d in ints) or ints.count(-1) > 1:
        raise ValueError(
            "reshape: argument 'newshape' must hold non-negative integers and at most one "
            f"unknown dimension (-1); got newshape={tuple(sizes)}"
        )
    return jnp.reshape(_t(x), newshape)


@keras_op
def transpose(x, axes=None):
    """`x` with its axes permuted (reversed when `axes` is None)."""
    return jnp.transpose(_t(x), axes)


@keras_op
def expand_dims(x, axis):
    """`x` with new length-1 axes inserted at `axis` (int or tuple)."""
    return jnp.expand_dims(_t(x), _axis(axis))


@keras_op
def squeeze(x, axis=None):
    """`x` without its length-1 axes (only those in `axis` when given)."""
    return jnp.squeeze(_t(x), _axis(axis))


@keras_op
def concatenate(xs, axis=0):
    """Join the tensors `xs` along an existing `axis`."""
    return jnp.concatenate(_ts(xs), axis=axis)


@keras_op
def append(x1, x2, axis=None):
    """`x2` appended to `x1` along `axis` (both flattened when None)."""
    return jnp.append(_t(x1), _t(x2), axis=axis)


@keras_op
def stack(x, axis=0):
    """Join the tensors `x` along a new `axis`."""
    return jnp.stack(_ts(x), axis=axis)


@keras_op
def split(x, indices_or_sections, axis=0):
    """Split `x` into equal sections or at the given indices (a list)."""
    return list(jnp.split(_t(x), indices_or_sections, axis=axis))


@keras_op
def array_split(x, indices_or_sections, axis=0):
    """Split `x` into possibly unequal sections (a list)."""
    return list(jnp.array_split(_t(x), indices_or_sections, axis=axis))


@keras_op
def tile(x, repeats):
    """`x` repeated `repeats` times along each axis."""
    return jnp.tile(_t(x), repeats)


@keras_op
def repeat(x, repeats, axis=None):
    """Each element of `x` repeated `repeats` times along `axis`."""
    return jnp.repeat(_t(x), repeats, axis=axis)


@keras_op
def broadcast_to(x, shape):
    """`x` broadcast to `shape`."""
    return jnp.broadcast_to(_t(x), tuple(shape))


@keras_op
def moveaxis(x, source, destination):
    """`x` with axes `source` moved to `destination`."""
    return jnp.moveaxis(_t(x), source, destination)


@keras_op
def swapaxes(x, axis1, axis2):
    """`x` with `axis1` and `axis2` exchanged."""
    return jnp.swapaxes(_t(x), axis1, axis2)


@keras_op
def flip(x, axis=None):
    """`x` reversed along `axis` (all axes when None)."""
    return jnp.flip(_t(x), axis=_axis(axis))


@keras_op
def roll(x, shift, axis=None):
    """`x` rolled by `shift` along `axis` (flattened when None)."""
    return jnp.roll(_t(x), shift, axis=_axis(axis))


@keras_op
def rot90(array, k=1, axes=(0, 1)):
    """`array` rotated by 90 degrees `k` times in the plane `axes`."""
    array = _t(array)
    if array.ndim < 2:
        raise ValueError(f"rot90: argument 'array' must have rank >= 2, got shape {array.shape}")
    return jnp.rot90(array, k=k, axes=tuple(axes))


@keras_op
def pad(x, pad_width, mode="constant", constant_values=None):
    """`x` padded by `pad_width`; `constant_values` only with mode 'constant'."""
    kwargs = {}
    if constant_values is not None:
        if mode != "constant":
            raise ValueError(
                "pad: argument 'constant_values' is only allowed with mode='constant'; "
                f"got mode={mode!r}"
            )
        kwargs["constant_values"] = constant_values
    return jnp.pad(_t(x), pad_width, mode=mode, **kwargs)


@keras_op
def take(x, indices, axis=None):
    """Elements of `x` at `indices` along `axis` (of the flattened `x` when None)."""
    return jnp.take(_t(x), _t(indices), axis=axis)


@keras_op
def take_along_axis(x, indices, axis=None):
    """Elements of `x` at `indices`, matched along `axis`."""
    return jnp.take_along_axis(_t(x), _t(indices), axis=axis)


@keras_op
def get_item(x, key):
    """`x[key]`."""
    if isinstance(key, list):
        key = tuple(key)
    return _t(x)[key]


@keras_op
def diag(x, k=0):
    """The `k`-th diagonal of a matrix, or a matrix with vector `x` on it."""
    return jnp.diag(_t(x), k=k)


@keras_op
def diagflat(x, k=0):
    """Matrix with the flattened `x` on the `k`-th diagonal."""
    return jnp.diagflat(_t(x), k=k)


@keras_op
def diagonal(x, offset=0, axis1=0, axis2=1):
    """Diagonal of `x` in the plane (`axis1`, `axis2`)."""
    x = _t(x)
    if x.ndim >= 2 and axis1 % x.ndim == axis2 % x.ndim:
        raise ValueError(
            f"diagonal: arguments 'axis1' and 'axis2' must name two axes; got {axis1} and "
            f"{axis2} for rank {x.ndim}"
        )
    return jnp.diagonal(x, offset=offset, axis1=axis1, axis2=axis2)


@keras_op
def trace(x, offset=0, axis1=0, axis2=1):
    """Sum along the diagonal of `x` in the plane (`axis1`, `axis2`)."""
    return jnp.trace(_t(x), offset=offset, axis1=axis1, axis2=axis2)


@keras_op
def tril(x, k=0):
    """`x` with entries above the `k`-th diagonal zeroed."""
    return jnp.tril(_t(x), k=k)


@keras_op
def triu(x, k=0):
    """`x` with entries below the `k`-th diagonal zeroed."""
    return jnp.triu(_t(x), k=k)


@keras_op
def tensordot(x1, x2, axes=2):
    """Tensor dot product of `x1` and `x2` over `axes`."""
    return jnp.tensordot(_t(x1), _t(x2), axes=axes)


def _int8_accumulator(xs):
    """int32 when every operand is int8 (Keras accumulates int8 products in int32)."""
    return "int32" if xs and builtins.all(x.dtype == jnp.int8 for x in xs) else None


@keras_op
def matmul(x1, x2):
    """Matrix product of `x1` and `x2` (int8 operands give int32, as Keras)."""
    x1, x2 = _t(x1), _t(x2)
    return jnp.matmul(x1, x2, preferred_element_type=_int8_accumulator([x1, x2]))


@keras_op
def einsum(subscripts, *operands, **kwargs):
    """Einstein summation of `operands` as described by `subscripts` (all-int8 operands
    give int32, as Keras)."""
    operands = _ts(operands)
    kwargs.setdefault("preferred_element_type", _int8_accumulator(operands))
    return jnp.einsum(subscripts, *operands, **kwargs)


@keras_op
def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of 3-vectors (or 2-vectors) of `x1` and `x2`."""
    return jnp.cross(_t(x1), _t(x2), axisa=axisa, axisb=axisb, axisc=axisc, axis=axis)


@keras_op
def diff(a, n=1, axis=-1):
    """`n`-th discrete difference of `a` along `axis`."""
    return jnp.diff(_t(a), n=n, axis=axis)


@keras_op
def searchsorted(sorted_sequence, values, side="left"):
    """Indices at which `values` would be inserted into the 1-D `sorted_sequence`."""
    return jnp.searchsorted(_t(sorted_sequence), _t(values), side=side).astype("int32")


@keras_op
def digitize(x, bins):
    """Index of the bin of `bins` each value of `x` falls in."""
    return jnp.digitize(_t(x), _t(bins)).astype("int32")


@keras_op
def argpartition(x, kth, axis=-1):
    """Indices that partition `x` around its `kth` smallest element along `axis`
    (of the flattened `x` when None)."""
    if not isinstance(kth, (int, np.integer)):
        raise ValueError(f"argpartition: argument 'kth' must be an int, got {kth!r}")
    x = _t(x)
    if axis is None:
        x, axis = jnp.ravel(x), 0
    return jnp.argpartition(x, kth, axis=axis).astype("int32")


@keras_op
def correlate(x1, x2, mode="valid"):
    """Cross-correlation of the 1-D `x1` and `x2`."""
    x1, x2 = _t(x1), _t(x2)
    dtype = jnp.result_type(x1, x2, float)
    return jnp.correlate(x1.astype(dtype), x2.astype(dtype), mode=mode)


@keras_op
def corrcoef(x):
    """Pearson correlation coefficients of the rows of `x`."""
    x = _t(x)
    return jnp.corrcoef(x.astype(jnp.result_type(x, float)))


@keras_op
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """Integral of `y` along `axis` by the trapezoidal rule."""
    y = _t(y)
    y = y.astype(jnp.result_type(y, float))
    return jnp.trapezoid(y, x=None if x is None else _t(x), dx=dx, axis=axis)


@keras_op
def unravel_index(indices, shape):
    """Tuple of coordinate arrays of flat `indices` into an array of `shape`."""
    return tuple(jnp.unravel_index(_t(indices), shape))


@keras_op
def slogdet(x):
    """(sign, log|det|) of the square matrices `x`."""
    return tuple(jnp.linalg.slogdet(_t(x)))


@symbolic_spec(_nonzero_spec)
@keras_op
def nonzero(x):
    """Indices of the non-zero values of `x`, one array per axis (eager only: data-dependent)."""
    return tuple(jnp.nonzero(_t(x)))


@keras_op
def view(x, dtype=None):
    """`x`'s bytes reinterpreted as `dtype` (the last axis rescales with the item size)."""
    x = _t(x)
    return x if dtype is None else x.view(_dtype(dtype))


def vectorize(pyfunc, *, excluded=None, signature=None):
    """`pyfunc` vectorized over array arguments (as `numpy.vectorize`)."""
    return keras_op(jnp.vectorize(pyfunc, excluded=excluded or set(), signature=signature))


# -- shape information (values, not ops: never recorded in a graph) ----------


def ndim(x) -> int:
    """Number of axes of `x`."""
    return len(x.shape) if hasattr(x, "shape") else jnp.ndim(x)


def size(x) -> int:
    """Number of elements of `x` (None when a symbolic dimension is unknown)."""
    shape = x.shape if hasattr(x, "shape") else jnp.shape(x)
    return None if None in shape else math.prod(shape)


__all__ = sorted(public_names(globals()) + ["bincount", "histogram", "unique"])
