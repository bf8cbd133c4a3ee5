"""`InputSpec`: what a layer accepts, checked before every call."""

from __future__ import annotations

import jax


class InputSpec:
    def __init__(
        self,
        dtype=None,
        shape=None,
        ndim=None,
        max_ndim=None,
        min_ndim=None,
        axes=None,
        allow_last_axis_squeeze=False,
        name=None,
        optional=False,
    ):
        self.dtype = dtype
        self.shape = None if shape is None else tuple(shape)
        self.ndim = len(self.shape) if shape is not None else ndim
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.axes = {int(k): v for k, v in (axes or {}).items()}
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        self.name = name
        self.optional = optional

    def get_config(self):
        return {
            "dtype": self.dtype,
            "shape": self.shape,
            "ndim": self.ndim,
            "max_ndim": self.max_ndim,
            "min_ndim": self.min_ndim,
            "axes": self.axes,
        }


def format_shape(shape) -> str:
    """A shape as error messages print it: `(None, 28, 28, 1)`."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def assert_input_compatibility(input_spec, inputs, layer_name: str) -> None:
    """Raise ValueError naming the layer, the expectation and the given shape."""
    if not input_spec:
        return
    specs = input_spec if isinstance(input_spec, (list, tuple)) else [input_spec]
    flat = [x for x in jax.tree_util.tree_leaves(inputs, is_leaf=lambda v: hasattr(v, "shape"))]
    if len(specs) != len(flat):
        raise ValueError(
            f'Layer "{layer_name}" expects {len(specs)} input(s), but it received '
            f"{len(flat)} input tensors."
        )
    for index, (spec, x) in enumerate(zip(specs, flat, strict=True)):
        if spec is None or x is None:
            continue
        shape = tuple(x.shape)
        ndim = len(shape)
        where = f'Input {index} of layer "{layer_name}" is incompatible with the layer'
        if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
            raise ValueError(
                f"{where}: expected ndim={spec.ndim}, found ndim={ndim}. "
                f"Full shape received: {format_shape(shape)}"
            )
        if spec.max_ndim is not None and ndim > spec.max_ndim:
            raise ValueError(
                f"{where}: expected max_ndim={spec.max_ndim}, found ndim={ndim}. "
                f"Full shape received: {format_shape(shape)}"
            )
        if spec.min_ndim is not None and ndim < spec.min_ndim:
            raise ValueError(
                f"{where}: expected min_ndim={spec.min_ndim}, found ndim={ndim}. "
                f"Full shape received: {format_shape(shape)}"
            )
        for axis, value in spec.axes.items():
            if value is None:
                continue
            if axis >= ndim or axis < -ndim:
                raise ValueError(
                    f"{where}: expected axis {axis} of input shape to exist, "
                    f"but received input with shape {format_shape(shape)}"
                )
            got = shape[axis]
            if got is not None and got not in (
                value if isinstance(value, (list, tuple)) else [value]
            ):
                raise ValueError(
                    f"{where}: expected axis {axis} of input shape to have value {value}, "
                    f"but received input with shape {format_shape(shape)}"
                )
        if spec.shape is not None:
            for want, got in zip(spec.shape, shape, strict=False):
                if want is not None and got is not None and want != got:
                    raise ValueError(
                        f"{where}: expected shape={format_shape(spec.shape)}, "
                        f"found shape={format_shape(shape)}"
                    )
