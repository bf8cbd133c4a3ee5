"""Argument normalisation and shape arithmetic shared by convolution and pooling layers.

Every validator takes the layer so its messages name the class and the layer
(`Conv2D 'conv2d_1': argument 'filters' must be ...`), as docs/internals.md asks.
"""

from __future__ import annotations

import math
import numbers

from jax import lax

from shoal.backend import config


def _where(layer) -> str:
    return f"{type(layer).__name__} '{layer.name}'"


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(layer, arg: str, value) -> int:
    if not _is_int(value) or int(value) <= 0:
        raise ValueError(
            f"{_where(layer)}: argument '{arg}' must be a positive integer, got {value!r}"
        )
    return int(value)


def int_tuple(layer, arg: str, value, n: int, allow_zero: bool = False) -> tuple:
    """An int or a sequence of `n` ints -> a tuple of `n` ints (> 0, or >= 0 with allow_zero)."""
    need = "non-negative" if allow_zero else "positive"
    expected = f"an integer or a tuple of {n} {need} integers"
    if _is_int(value):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            values = None
        if values is None or len(values) != n or not all(_is_int(v) for v in values):
            raise ValueError(f"{_where(layer)}: argument '{arg}' must be {expected}, got {value!r}")
        values = tuple(int(v) for v in values)
    low = 0 if allow_zero else 1
    if any(v < low for v in values):
        raise ValueError(f"{_where(layer)}: argument '{arg}' must be {expected}, got {value!r}")
    return values


def padding_arg(layer, value, allow_causal: bool = False) -> str:
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    if isinstance(value, str) and value.lower() in allowed:
        return value.lower()
    raise ValueError(
        f"{_where(layer)}: argument 'padding' must be one of {', '.join(map(repr, allowed))}, "
        f"got {value!r}"
    )


def data_format_arg(layer, value) -> str:
    if value is None:
        return config.image_data_format()
    if isinstance(value, str) and value.lower() in ("channels_last", "channels_first"):
        return value.lower()
    raise ValueError(
        f"{_where(layer)}: argument 'data_format' must be 'channels_last' or "
        f"'channels_first', got {value!r}"
    )


def no_strides_with_dilation(layer, strides, dilation_rate) -> None:
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(
            f"{_where(layer)}: arguments 'strides' and 'dilation_rate' cannot both be > 1; "
            f"got strides={strides}, dilation_rate={dilation_rate}"
        )


def channel_axis(data_format: str) -> int:
    return -1 if data_format == "channels_last" else 1


def spatial_dims(input_shape, data_format: str) -> tuple:
    shape = tuple(input_shape)
    return shape[1:-1] if data_format == "channels_last" else shape[2:]


def with_spatial(input_shape, spatial, channels, data_format: str) -> tuple:
    """Assemble (batch, *spatial, channels) or (batch, channels, *spatial)."""
    batch = tuple(input_shape)[0]
    if data_format == "channels_last":
        return (batch, *spatial, channels)
    return (batch, channels, *spatial)


def check_rank(layer, input_shape, rank: int) -> tuple:
    shape = tuple(input_shape)
    if len(shape) != rank + 2:
        raise ValueError(
            f"{_where(layer)}: expected an input of rank {rank + 2} "
            f"(batch, {rank} spatial dims, channels), got input shape {shape}"
        )
    return shape


def input_channels(layer, input_shape, rank: int) -> int:
    """The channel count of a conv input; ValueError when the rank is wrong or it is unknown."""
    shape = check_rank(layer, input_shape, rank)
    channels = shape[channel_axis(layer.data_format)]
    if channels is None:
        raise ValueError(
            f"{_where(layer)}: the channel dimension of the input must be known "
            f"(data_format={layer.data_format!r}); got input shape {shape}"
        )
    return int(channels)


def conv_output_length(length, kernel, stride, padding, dilation):
    if length is None:
        return None
    if padding == "valid":
        return (length - ((kernel - 1) * dilation + 1)) // stride + 1
    return -(-length // stride)  # 'same' and 'causal': ceil(length / stride)


def conv_transpose_output_length(length, kernel, stride, padding, output_padding, dilation):
    """Keras' output size of a transposed convolution (TensorFlow's convention)."""
    if length is None:
        return None
    effective = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(effective, stride) - effective if output_padding is None else output_padding
        return (length - 1) * stride + effective + extra
    if output_padding is None:
        return length * stride
    return (length - 1) * stride + effective % 2 + output_padding


def conv_transpose_pads(kernel, stride, padding, output_padding, dilation) -> tuple:
    """(left, right) padding of the stride-dilated input that gives Keras' output size."""
    effective = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(effective, stride) - effective if output_padding is None else output_padding
        return effective - 1, effective - 1 + extra
    if output_padding is None:
        total = stride + effective - 2
    else:
        total = effective + effective % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, effective - 1)
    return left, total - left


def check_output_positive(layer, input_shape, output_spatial) -> None:
    if any(d is not None and d <= 0 for d in output_spatial):
        raise ValueError(
            f"{_where(layer)}: the input is too small for kernel/pool size "
            f"{getattr(layer, 'kernel_size', getattr(layer, 'pool_size', None))}, strides "
            f"{layer.strides} and padding {layer.padding!r}: input shape {tuple(input_shape)} "
            f"would give output spatial shape {tuple(output_spatial)}"
        )


def dimension_numbers(rank: int, data_format: str, transpose: bool = False):
    """lax dimension numbers for Keras layouts: kernels are (*spatial, in, out).

    For a transposed convolution the kernel is (*spatial, out, in), so the roles
    of its last two axes swap.
    """
    n = rank + 2
    spatial = tuple(range(rank))
    if data_format == "channels_last":
        lhs = (0, n - 1) + tuple(range(1, n - 1))
    else:
        lhs = (0, 1) + tuple(range(2, n))
    rhs = (n - 2, n - 1) + spatial if transpose else (n - 1, n - 2) + spatial
    return lax.ConvDimensionNumbers(lhs_spec=lhs, rhs_spec=rhs, out_spec=lhs)


def window_shape(values, data_format: str) -> tuple:
    """Spatial window/stride tuple -> a full-rank one with 1 on batch and channels."""
    values = tuple(values)
    return (1, *values, 1) if data_format == "channels_last" else (1, 1, *values)


def prod(values) -> int:
    return math.prod(values)
