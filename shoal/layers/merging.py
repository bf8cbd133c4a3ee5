"""Merge layers: combine a list of inputs into one tensor.

Elementwise merges (Add, Subtract, Multiply, Average, Maximum, Minimum) follow Keras'
broadcasting rule: batch sizes must agree, inputs of lower rank get size-1 axes
inserted after the batch axis, then the non-batch axes broadcast as in NumPy.
Concatenate joins along `axis`; Dot takes batched dot products. Shapes are checked
when the layer is built, so a mistake is reported before any computation.

Masks (one per input, shape `input.shape[:-1]`) combine as in Keras: elementwise
merges OR them (only when every input has one), Concatenate joins them, Dot drops them.
Maximum, Minimum and Multiply also ignore masked-out values, as Keras does.
"""

from __future__ import annotations

import math
import numbers

import jax.numpy as jnp
from jax import lax

from shoal.backend import config, dtypes
from shoal.backend.symbolic import KerasTensor
from shoal.layers.base import Layer


def _where(layer) -> str:
    return f"{type(layer).__name__} '{layer.name}'"


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _fmt(shape) -> str:
    return str(tuple(shape))


class Merge(Layer):
    """Base of the merge layers: called on a list of tensors, returns one tensor."""

    min_inputs = 1
    max_inputs = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    # -- shapes ------------------------------------------------------------
    def _shape_list(self, input_shape) -> list:
        """Check that the layer gets a list of shapes of an allowed length; return it."""
        if (
            not isinstance(input_shape, (list, tuple))
            or not input_shape
            or not all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            raise ValueError(
                f"{_where(self)}: a merge layer must be called on a list of tensors, "
                f"got a single input of shape {input_shape}"
            )
        shapes = [tuple(s) for s in input_shape]
        n = len(shapes)
        low, high = self.min_inputs, self.max_inputs
        if n < low or (high is not None and n > high):
            want = f"exactly {low}" if low == high else f"at least {low}"
            raise ValueError(
                f"{_where(self)}: needs {want} inputs, got {n} "
                f"(input shapes {', '.join(map(_fmt, shapes))})"
            )
        return shapes

    def _batch_size(self, shapes):
        sizes = {s[0] for s in shapes if s and s[0] is not None}
        if len(sizes) > 1:
            raise ValueError(
                f"{_where(self)}: inputs must have the same batch size, got input shapes "
                f"{', '.join(map(_fmt, shapes))}"
            )
        return sizes.pop() if sizes else None

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_spec(self, inputs, mask=None, **kwargs):
        inputs = self._input_list(inputs)
        shape = self.compute_output_shape([tuple(x.shape) for x in inputs])
        dtype = self._result_dtype([self._cast_dtype(x.dtype) for x in inputs])
        return KerasTensor(shape, dtype=dtype)

    def _cast_dtype(self, dtype) -> str:
        dtype = dtypes.standardize_dtype(dtype)
        if self.autocast and dtypes.is_float_dtype(dtype):
            return self.compute_dtype
        return dtype

    def _result_dtype(self, input_dtypes) -> str:
        return dtypes.standardize_dtype(jnp.result_type(*input_dtypes))

    # -- calling -----------------------------------------------------------
    def _input_list(self, inputs) -> list:
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"{_where(self)}: a merge layer must be called on a list of tensors, "
                f"got {type(inputs).__name__} of shape {getattr(inputs, 'shape', None)}"
            )
        return list(inputs)

    def _mask_list(self, mask, n):
        if mask is None:
            return None
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask]
        if len(masks) != n:
            raise ValueError(
                f"{_where(self)}: argument 'mask' must be a list with one mask (or None) "
                f"per input ({n}), got {len(masks)}"
            )
        return None if all(m is None for m in masks) else masks

    def call(self, inputs, mask=None):
        inputs = self._input_list(inputs)
        # Batch sizes are checked when the layer is built (as in Keras), not per call: a
        # model built for (None, ...) may add a batch-1 array (a learned latent) to a batch.
        self.compute_output_shape([(None, *x.shape[1:]) for x in inputs])
        return self._merge(inputs, self._mask_list(mask, len(inputs)))

    def _merge(self, inputs, masks):
        raise NotImplementedError

    # -- masks -------------------------------------------------------------
    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        masks = self._mask_list(mask, len(self._input_list(inputs)))
        if masks is None or any(m is None for m in masks):
            return None
        if any(isinstance(m, KerasTensor) for m in masks):
            shape = _broadcast(self, [tuple(m.shape) for m in masks], with_batch=False)
            return KerasTensor(shape, dtype="bool")
        out = masks[0]
        for m in masks[1:]:
            out = jnp.logical_or(out, m)
        return out


def _broadcast(layer, shapes, with_batch=True):
    """Right-aligned broadcast of the non-batch axes; ValueError naming both culprits."""
    start = 1 if with_batch else 0
    ndim = max(len(s) for s in shapes) - start
    out = []
    for pos in range(-ndim, 0):
        seen = [(i, s[pos]) for i, s in enumerate(shapes) if len(s) - start >= -pos]
        if any(d is None for _, d in seen):
            out.append(None)
            continue
        big = [(i, d) for i, d in seen if d != 1]
        for i, d in big[1:]:
            if d != big[0][1]:
                raise ValueError(
                    f"{_where(layer)}: inputs have incompatible shapes "
                    f"{_fmt(shapes[big[0][0]])} and {_fmt(shapes[i])}: their non-batch axes "
                    "must be equal or 1 after aligning them on the right"
                )
        out.append(big[0][1] if big else 1)
    return tuple(out)


class _Elementwise(Merge):
    def compute_output_shape(self, input_shape):
        shapes = self._shape_list(input_shape)
        batch = self._batch_size(shapes)
        return (batch,) + _broadcast(self, shapes)

    def _merge(self, inputs, masks):
        ranks = {x.ndim for x in inputs}
        if len(ranks) > 1:
            # Keras inserts size-1 axes after the batch axis; masks no longer line up then.
            top = max(ranks)
            inputs = [
                jnp.reshape(x, x.shape[:1] + (1,) * (top - x.ndim) + x.shape[1:]) for x in inputs
            ]
            masks = None
        return self._combine(inputs, masks)

    def _combine(self, inputs, masks):
        raise NotImplementedError


def _full_mask(mask, x):
    if mask is None:
        return None
    mask = jnp.asarray(mask, bool)
    if mask.ndim < x.ndim:
        mask = jnp.expand_dims(mask, -1)
    return jnp.broadcast_to(mask, x.shape)


class Add(_Elementwise):
    """Sums a list of inputs elementwise. Example: `Add()([x1, x2])`."""

    def _combine(self, inputs, masks):
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


class Subtract(_Elementwise):
    """`inputs[0] - inputs[1]`; takes exactly two inputs."""

    min_inputs = max_inputs = 2

    def _combine(self, inputs, masks):
        return inputs[0] - inputs[1]


class Average(_Elementwise):
    """The elementwise mean of a list of inputs."""

    def _combine(self, inputs, masks):
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out / len(inputs)

    def _result_dtype(self, input_dtypes) -> str:
        return dtypes.standardize_dtype(jnp.result_type(*input_dtypes, float))


class Multiply(_Elementwise):
    """The elementwise product of a list of inputs.

    Masked-out entries count as 1; if every input has a mask, positions masked in no
    input are set to 0 (Keras semantics).
    """

    def _combine(self, inputs, masks):
        masks = masks or [None] * len(inputs)
        out = out_mask = None
        for x, mask in zip(inputs, masks, strict=True):
            mask = _full_mask(mask, x)
            if mask is not None:
                x = jnp.where(mask, x, jnp.ones((), x.dtype))
                out_mask = mask if out_mask is None else jnp.logical_or(out_mask, mask)
            out = x if out is None else out * x
        if all(m is not None for m in masks):
            out = jnp.where(out_mask, out, jnp.zeros((), out.dtype))
        return out


class _MaskedReduce(_Elementwise):
    """Maximum / Minimum: a masked-out value never wins over a masked-in one (Keras)."""

    def _combine(self, inputs, masks):
        masks = masks or [None] * len(inputs)
        out = out_mask = None
        for x, mask in zip(inputs, masks, strict=True):
            mask = _full_mask(mask, x)
            if out is None:
                out, out_mask = x, mask
                continue
            if mask is not None:
                x = jnp.where(mask, x, out)
            if out_mask is not None:
                out = jnp.where(out_mask, out, x)
            out_mask = (
                jnp.logical_or(out_mask, mask)
                if mask is not None and out_mask is not None
                else None
            )
            out = self._op(out, x)
        return out


class Maximum(_MaskedReduce):
    """The elementwise maximum of a list of inputs."""

    _op = staticmethod(jnp.maximum)


class Minimum(_MaskedReduce):
    """The elementwise minimum of a list of inputs."""

    _op = staticmethod(jnp.minimum)


class Concatenate(Merge):
    """Joins a list of inputs along `axis`; all other axes must match.

    Example:
        >>> Concatenate(axis=1)([np.zeros((2, 3)), np.zeros((2, 4))]).shape
        (2, 7)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not _is_int(axis):
            raise ValueError(f"{_where(self)}: argument 'axis' must be an integer, got {axis!r}")
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        shapes = self._shape_list(input_shape)
        rank = len(shapes[0])
        for s in shapes[1:]:
            if len(s) != rank:
                raise ValueError(
                    f"{_where(self)}: inputs must have the same rank, got shapes "
                    f"{_fmt(shapes[0])} and {_fmt(s)}"
                )
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"{_where(self)}: argument 'axis' must be in [{-rank}, {rank}) for inputs of "
                f"rank {rank}, got {self.axis}"
            )
        axis = self.axis % rank
        out = []
        for a in range(rank):
            dims = [s[a] for s in shapes]
            if a == axis:
                out.append(None if None in dims else sum(dims))
                continue
            known = [(i, d) for i, d in enumerate(dims) if d is not None]
            for i, d in known[1:]:
                if d != known[0][1]:
                    raise ValueError(
                        f"{_where(self)}: inputs must match on every axis except the "
                        f"concatenation axis {self.axis}, got shapes "
                        f"{_fmt(shapes[known[0][0]])} and {_fmt(shapes[i])}"
                    )
            out.append(known[0][1] if known else None)
        return tuple(out)

    def _merge(self, inputs, masks):
        return jnp.concatenate(inputs, axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        inputs = self._input_list(inputs)
        masks = self._mask_list(mask, len(inputs))
        if masks is None:
            return None
        if any(isinstance(t, KerasTensor) for t in list(inputs) + masks):
            shape = self.compute_output_shape([tuple(x.shape) for x in inputs])
            return KerasTensor(shape[:-1], dtype="bool")
        full = [
            jnp.ones(x.shape, bool) if m is None else _full_mask(m, x)
            for x, m in zip(inputs, masks, strict=True)
        ]
        return jnp.any(jnp.concatenate(full, axis=self.axis), axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """Batched dot product of two inputs along `axes` (one axis per input, never 0).

    With `normalize=True` both inputs are L2-normalised along their axis first, giving
    cosine similarities. A result of rank 1 is returned as `(batch, 1)`.

    Example:
        >>> Dot(axes=(1, 2))([np.zeros((2, 3, 5)), np.zeros((2, 4, 3))]).shape
        (2, 5, 4)
    """

    min_inputs = max_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if _is_int(axes):
            pair = (axes, axes)
        elif isinstance(axes, (list, tuple)) and len(axes) == 2 and all(map(_is_int, axes)):
            pair = tuple(axes)
        else:
            pair = None
        if pair is None or 0 in pair:
            raise ValueError(
                f"{_where(self)}: argument 'axes' must be an integer or a pair of integers, "
                f"none of them 0 (the batch axis), got {axes!r}"
            )
        if not isinstance(normalize, bool):
            raise ValueError(
                f"{_where(self)}: argument 'normalize' must be True or False, got {normalize!r}"
            )
        # Kept in the form given (int, list or tuple), as Keras' config does.
        self.axes = int(axes) if _is_int(axes) else type(axes)(int(a) for a in axes)
        self.normalize = normalize

    def _resolve_axes(self, shapes):
        pair = (self.axes, self.axes) if _is_int(self.axes) else tuple(self.axes)
        out = []
        for ax, s in zip(pair, shapes, strict=True):
            if len(s) < 2 or not -len(s) < ax < len(s) or ax % len(s) == 0:
                raise ValueError(
                    f"{_where(self)}: argument 'axes' {self.axes!r} must name a non-batch axis "
                    f"of each input, got input shapes {_fmt(shapes[0])} and {_fmt(shapes[1])}"
                )
            out.append(ax % len(s))
        return out

    def compute_output_shape(self, input_shape):
        shapes = self._shape_list(input_shape)
        batch = self._batch_size(shapes)
        (s1, s2), (a1, a2) = shapes, self._resolve_axes(shapes)
        if s1[a1] is not None and s2[a2] is not None and s1[a1] != s2[a2]:
            raise ValueError(
                f"{_where(self)}: inputs have incompatible shapes {_fmt(s1)} and {_fmt(s2)}: "
                f"axis {a1} of the first ({s1[a1]}) must equal axis {a2} of the second "
                f"({s2[a2]})"
            )
        rest = [d for i, d in enumerate(s1) if i not in (0, a1)]
        rest += [d for i, d in enumerate(s2) if i not in (0, a2)]
        return (batch,) + tuple(rest or [1])

    def _merge(self, inputs, masks):
        x, y = inputs
        ax, ay = self._resolve_axes([x.shape, y.shape])
        if self.normalize:
            x, y = _l2_normalize(x, ax), _l2_normalize(y, ay)
        x = jnp.moveaxis(x, ax, -1)  # (batch, *x_rest, k)
        y = jnp.moveaxis(y, ay, 1)  # (batch, k, *y_rest)
        batch, k = x.shape[0], x.shape[-1]
        x_rest, y_rest = x.shape[1:-1], y.shape[2:]
        out = jnp.matmul(
            jnp.reshape(x, (batch, math.prod(x_rest), k)),
            jnp.reshape(y, (batch, k, math.prod(y_rest))),
        )
        return jnp.reshape(out, (batch,) + (x_rest + y_rest or (1,)))

    def _result_dtype(self, input_dtypes) -> str:
        extra = (float,) if self.normalize else ()
        return dtypes.standardize_dtype(jnp.result_type(*input_dtypes, *extra))

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _l2_normalize(x, axis):
    square_sum = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
    return x * jnp.minimum(lax.rsqrt(square_sum), 1.0 / config.epsilon())


def add(inputs, **kwargs):
    """Functional form of `Add`: `add([x1, x2])`."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of `Subtract`: `subtract([x1, x2])`."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of `Multiply`."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of `Average`."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of `Maximum`."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of `Minimum`."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of `Concatenate`: `concatenate([x1, x2], axis=1)`."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """Functional form of `Dot`: `dot([x1, x2], axes=1)`."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
