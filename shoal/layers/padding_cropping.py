"""ZeroPadding1D/2D/3D and Cropping1D/2D/3D: add zeros around, or cut from, spatial axes.

`padding` / `cropping` take the Keras forms: an int (same amount everywhere), one int
per spatial axis (symmetric), or one `(before, after)` pair per spatial axis. The 1D
layers take an int or a single `(before, after)` pair.
"""

from __future__ import annotations

import jax.numpy as jnp

from shoal.layers.conv_utils import data_format_arg, int_tuple
from shoal.layers.input_spec import InputSpec
from shoal.layers.reshaping import ShapeLayer, is_int, layer_label, spatial_axes


def pairs_arg(layer, arg: str, value, rank: int) -> tuple:
    """Normalise a padding/cropping argument to `rank` (before, after) pairs of ints >= 0."""
    if rank == 1:
        return (int_tuple(layer, arg, value, 2, allow_zero=True),)
    expected = (
        f"an integer, a tuple of {rank} integers or a tuple of {rank} (before, after) "
        "integer pairs, all non-negative"
    )
    entries = (value,) * rank if is_int(value) else value
    if not isinstance(entries, (tuple, list)) or len(entries) != rank:
        raise ValueError(
            f"{layer_label(layer)}: argument '{arg}' must be {expected}, got {value!r}"
        )
    pairs = []
    for entry in entries:
        if is_int(entry):
            entry = (entry, entry)
        if (
            not isinstance(entry, (tuple, list))
            or len(entry) != 2
            or not all(is_int(v) and v >= 0 for v in entry)
        ):
            raise ValueError(
                f"{layer_label(layer)}: argument '{arg}' must be {expected}, got {value!r}"
            )
        pairs.append((int(entry[0]), int(entry[1])))
    return tuple(pairs)


class _SpatialEdit(ShapeLayer):
    """Shared body: `rank` spatial axes, each changed by a (before, after) pair."""

    rank = 0
    arg = ""

    def __init__(self, amounts, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_arg(self, data_format)
        self._pairs = pairs_arg(self, self.arg, amounts, self.rank)
        # Keras spells the 1D argument as one pair, the others as a tuple of pairs.
        setattr(self, self.arg, self._pairs[0] if self.rank == 1 else self._pairs)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _axes(self):
        return spatial_axes(self.data_format, self.rank)

    def get_config(self):
        return {
            **super().get_config(),
            self.arg: getattr(self, self.arg),
            "data_format": self.data_format,
        }


class _ZeroPadding(_SpatialEdit):
    arg = "padding"

    def call(self, inputs):
        widths = [(0, 0)] * inputs.ndim
        for axis, pair in zip(self._axes(), self._pairs, strict=True):
            widths[axis] = pair
        return jnp.pad(inputs, widths)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for axis, (before, after) in zip(self._axes(), self._pairs, strict=True):
            if out[axis] is not None:
                out[axis] += before + after
        return tuple(out)


class ZeroPadding1D(_ZeroPadding):
    """Adds zeros at the start and end of the steps axis of a 3D input.

    Example:
        >>> ZeroPadding1D((1, 2))(np.ones((1, 3, 2))).shape
        (1, 6, 2)
    """

    rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Adds rows and columns of zeros around a 4D image batch.

    Example:
        >>> ZeroPadding2D(((1, 0), (2, 2)))(np.ones((1, 3, 3, 1))).shape
        (1, 4, 7, 1)
    """

    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Adds zeros around the three spatial axes of a 5D input."""

    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class _Cropping(_SpatialEdit):
    arg = "cropping"

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def call(self, inputs):
        self.compute_output_shape(inputs.shape)
        index = [slice(None)] * inputs.ndim
        for axis, (before, after) in zip(self._axes(), self._pairs, strict=True):
            index[axis] = slice(before, inputs.shape[axis] - after)
        return inputs[tuple(index)]

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for axis, (before, after) in zip(self._axes(), self._pairs, strict=True):
            if out[axis] is None:
                continue
            out[axis] -= before + after
            if out[axis] <= 0:
                raise ValueError(
                    f"{layer_label(self)}: argument 'cropping' {self.cropping} must leave at least "
                    f"one element on each cropped axis, but crops {before + after} of the "
                    f"{input_shape[axis]} on axis {axis} of input shape {tuple(input_shape)}"
                )
        return tuple(out)


class Cropping1D(_Cropping):
    """Cuts `cropping = (start, end)` steps off the steps axis of a 3D input.

    Example:
        >>> Cropping1D((1, 2))(np.ones((1, 5, 2))).shape
        (1, 2, 2)
    """

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        # Keras' Cropping1D has no data_format: the steps axis is always axis 1.
        super().__init__(cropping, "channels_last", **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["data_format"]
        return config


class Cropping2D(_Cropping):
    """Cuts rows and columns off the edges of a 4D image batch.

    Example:
        >>> Cropping2D(((1, 0), (1, 1)))(np.ones((1, 4, 4, 1))).shape
        (1, 3, 2, 1)
    """

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    """Cuts the edges of the three spatial axes of a 5D input."""

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)
