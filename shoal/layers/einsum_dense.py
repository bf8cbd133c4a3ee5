"""EinsumDense: a dense layer whose contraction is any `einsum` equation (Keras 3 semantics).

`output = activation(einsum(equation, inputs, kernel) + bias)`. The equation has the form
`X,Y->Z`, `...X,Y->...Z` or `X...,Y->Z...` (input, kernel, output). The kernel shape is
read off the equation: an axis also in the output takes its size from `output_shape`, an
axis also in the input takes it from the input. Weights are named and shaped as in Keras
(`kernel`, then `bias`, then `lora_kernel_a` / `lora_kernel_b`), so Keras weights load.
"""

from __future__ import annotations

import copy
import numbers
import re
import string

import jax.numpy as jnp

from shoal import activations, constraints, initializers, quantizers, regularizers
from shoal.layers.base import Layer
from shoal.layers.input_spec import InputSpec
from shoal.layers.lora import LoRAKernel
from shoal.layers.quantization import QuantizedKernel
from shoal.ops import cpu_matmul

_FORMS = (
    (re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"), None),
    (re.compile(r"\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)"), "left"),
    (re.compile(r"([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\."), "right"),
)


def _serialize(module, obj):
    return None if obj is None else module.serialize(obj)


def _positive_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool) and x > 0


class EinsumDense(QuantizedKernel, LoRAKernel, Layer):
    """Dense layer computed by `einsum(equation, inputs, kernel)`.

    Args:
        equation: e.g. `"ab,bc->ac"`, `"abc,cde->abde"`, `"...b,bc->...c"`.
        output_shape: the output shape without the batch axis and the axes under `...`
            (an int for one axis); `None` entries are taken from the input.
        activation: applied last (default none).
        bias_axes: output axes (letters of the output spec) that get a bias, or None.
        lora_rank, lora_alpha: if `lora_rank` is set, the kernel is frozen and
            `kernel + (lora_alpha / lora_rank) * lora_kernel_a @ lora_kernel_b` is used.
        quantization_config: a `shoal.quantizers.Int8QuantizationConfig` or
            `Int4QuantizationConfig` (or its config) for a layer built under a quantized
            policy (`"int8_from_..."`, `"int4/128_from_..."`); `quantize()` sets it.

    Example:
        >>> layer = EinsumDense("abc,cde->abde", output_shape=(None, 3, 5), bias_axes="de")
        >>> layer(np.ones((2, 4, 6), "float32")).shape
        (2, 4, 3, 5)
        >>> [w.shape for w in layer.weights]
        [(6, 3, 5), (3, 5)]
    """

    def __init__(
        self,
        equation,
        output_shape,
        activation=None,
        bias_axes=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.equation = equation
        self._spec = self._parse_equation(equation)
        self.partial_output_shape = self._check_output_shape(output_shape)
        self.bias_axes = self._check_bias_axes(bias_axes)
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self._init_lora(lora_rank, lora_alpha)
        self.quantization_config = quantizers.deserialize(quantization_config)
        self._input_rank = None
        self.bias = None

    # -- argument checks -----------------------------------------------------------------
    def _fail(self, arg, expected, value):
        raise ValueError(
            f"EinsumDense '{self.name}': argument '{arg}' must be {expected}, got {value!r}"
        )

    def _parse_equation(self, equation):
        expected = "an einsum string of the form 'X,Y->Z', '...X,Y->...Z' or 'X...,Y->Z...'"
        if not isinstance(equation, str):
            self._fail("equation", expected, equation)
        found = [(p.fullmatch(equation), kind) for p, kind in _FORMS]
        match, ellipsis = next(((m, kind) for m, kind in found if m), (None, None))
        if match is None:
            self._fail("equation", expected, equation)
        inp, weight, out = match.groups()
        for dim in out:
            if dim not in inp and dim not in weight:
                self._fail(
                    "equation", f"an output axis '{dim}' that appears in an operand", equation
                )
        for dim in weight:
            if dim not in inp and dim not in out:
                self._fail(
                    "equation", f"a kernel axis '{dim}' that appears in input or output", equation
                )
        return inp, weight, out, ellipsis

    def _check_output_shape(self, output_shape):
        out, ellipsis = self._spec[2], self._spec[3]
        # The batch axis is in the output spec unless it hides under a leading "...".
        length = len(out) if ellipsis == "left" else len(out) - 1
        shape = (output_shape,) if _positive_int(output_shape) else output_shape
        ok = isinstance(shape, (tuple, list)) and all(d is None or _positive_int(d) for d in shape)
        if not ok or len(shape) != length:
            self._fail(
                "output_shape",
                f"{length} positive integers or None (one per output axis of "
                f"'{self.equation}' after the batch axis)",
                output_shape,
            )
        return tuple(None if d is None else int(d) for d in shape)

    def _check_bias_axes(self, bias_axes):
        out = self._spec[2]
        if bias_axes is None:
            return None
        if (
            not isinstance(bias_axes, str)
            or not bias_axes
            or any(c not in out for c in bias_axes)
            or len(set(bias_axes)) != len(bias_axes)
        ):
            self._fail(
                "bias_axes", f"None or distinct letters of the output spec '{out}'", bias_axes
            )
        return bias_axes

    # -- shapes ----------------------------------------------------------------------------
    def _analyze(self, input_shape):
        """(kernel_shape, bias_shape, output_shape, input_axes, output_axes) for an input."""
        inp, weight, out, ellipsis = self._spec
        input_shape = tuple(input_shape)
        elided = len(input_shape) - len(inp)
        if elided < (1 if ellipsis == "left" else 0) or (ellipsis is None and elided):
            raise ValueError(
                f"EinsumDense '{self.name}': the input rank does not fit equation "
                f"'{self.equation}'; got input shape {input_shape}"
            )
        full = [input_shape[0]]
        if ellipsis == "left":
            full += list(input_shape[1:elided]) + list(self.partial_output_shape)
            offset = elided
        else:
            full += list(self.partial_output_shape)
            full += list(input_shape[len(input_shape) - elided :]) if elided else []
            offset = 0
        in_pos = {d: offset + i for i, d in enumerate(inp)}
        out_pos = {d: offset + i for i, d in enumerate(out)}
        for d in inp:
            if d in out_pos:
                given = full[out_pos[d]]
                if given is None:
                    full[out_pos[d]] = input_shape[in_pos[d]]
                elif given != input_shape[in_pos[d]]:
                    raise ValueError(
                        f"EinsumDense '{self.name}': argument 'output_shape' must match the "
                        f"input along shared axis '{d}' (expected {input_shape[in_pos[d]]}); "
                        f"got output_shape={self.partial_output_shape} for input shape "
                        f"{input_shape}"
                    )
        kernel_shape, input_axes, output_axes = [], [], []
        for i, d in enumerate(weight):
            if d in out_pos:
                kernel_shape.append(full[out_pos[d]])
                output_axes.append(i)
            else:
                kernel_shape.append(input_shape[in_pos[d]])
                input_axes.append(i)
        bias_shape = None
        if self.bias_axes is not None:
            first = min(out.index(c) for c in self.bias_axes)
            bias_shape = [full[out_pos[c]] if c in self.bias_axes else 1 for c in out[first:]]
            if ellipsis == "right":
                bias_shape += [1] * elided
        return kernel_shape, bias_shape, tuple(full), input_axes, output_axes

    def compute_output_shape(self, input_shape):
        return self._analyze(input_shape)[2]

    # -- weights ---------------------------------------------------------------------------
    def build(self, input_shape):
        kernel_shape, bias_shape, _, input_axes, output_axes = self._analyze(input_shape)
        if any(d is None for d in kernel_shape + (bias_shape or [])):
            raise ValueError(
                f"EinsumDense '{self.name}': every kernel axis of '{self.equation}' needs a "
                f"known size; got kernel shape {tuple(kernel_shape)} from input shape "
                f"{tuple(input_shape)} and output_shape={self.partial_output_shape}"
            )
        init = self.kernel_initializer
        if isinstance(init, initializers.VarianceScaling) and (
            init.input_axes is None or init.output_axes is None
        ):
            # Fans from the contracted and the produced axes, as Keras does for EinsumDense.
            init = copy.copy(init)
            init.input_axes, init.output_axes = input_axes, output_axes
        self._input_rank = len(input_shape)
        if self.quantization_mode is not None:
            self._build_quantized_kernel(tuple(kernel_shape))
        if self._builds_float_kernel:
            self._kernel = self.add_weight(
                name="kernel",
                shape=tuple(kernel_shape),
                initializer=init,
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
            )
        if bias_shape is not None:
            self.bias = self.add_weight(
                name="bias",
                shape=tuple(bias_shape),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.input_spec = InputSpec(ndim=len(input_shape))
        self.built = True
        self._maybe_enable_lora()

    # -- forward ---------------------------------------------------------------------------
    def call(self, inputs, training=None):
        if self.quantization_mode is not None:
            return self._quantized_call(inputs, training)
        x = self._float_contract(inputs, self._kernel_value())
        if self.bias is not None:
            x = x + self.bias.value
        return self.activation(x) if self.activation is not None else x

    def get_config(self):
        config = {
            **super().get_config(),
            "output_shape": self.partial_output_shape,
            "equation": self.equation,
            "activation": activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _serialize(regularizers, self.kernel_regularizer),
            "bias_regularizer": _serialize(regularizers, self.bias_regularizer),
            "activity_regularizer": _serialize(regularizers, self.activity_regularizer),
            "kernel_constraint": _serialize(constraints, self.kernel_constraint),
            "bias_constraint": _serialize(constraints, self.bias_constraint),
            **self._quantization_config_entry(),
        }
        return {**config, **self._lora_config()}

    # -- quantized layout (see shoal.layers.quantization) ---------------------------------------
    # Scales are stored broadcastable against the output: one axis per output label, of the
    # tensor's size where the label is the tensor's, 1 elsewhere (Keras' `kernel_scale`).
    def _quantizable_class(self):
        return EinsumDense

    def _full_specs(self):
        """(input, kernel, output) labels with the axes under "..." named."""
        inp, weight, out, ellipsis = self._spec
        elided = self._input_rank - len(inp)
        spare = "".join(c for c in string.ascii_letters if c not in inp + weight + out)
        spare = spare[:elided]
        if ellipsis == "left":
            return spare + inp, weight, spare + out
        if ellipsis == "right":
            return inp + spare, weight, out + spare
        return inp, weight, out

    def _kernel_reduced_axes(self):
        _, weight, out = self._full_specs()
        return tuple(i for i, c in enumerate(weight) if c not in out)

    def _inputs_reduced_axes(self):
        inp, _, out = self._full_specs()
        return tuple(i for i, c in enumerate(inp) if c not in out)

    def _kernel_scale_shape(self, kernel_shape):
        _, weight, out = self._full_specs()
        return tuple(kernel_shape[weight.index(c)] if c in weight else 1 for c in out)

    def _to_output_layout(self, scale, spec):
        """A keepdims scale over `spec`'s axes -> the output layout."""
        out = self._full_specs()[2]
        kept = [c for c in spec if c in out]
        scale = jnp.reshape(scale, [n for n, c in zip(scale.shape, spec, strict=True) if c in out])
        scale = jnp.transpose(scale, [kept.index(c) for c in out if c in kept])
        sizes = iter(scale.shape)
        return jnp.reshape(scale, [next(sizes) if c in kept else 1 for c in out])

    def _scale_from_kernel_layout(self, scale):
        return self._to_output_layout(scale, self._full_specs()[1])

    def _inputs_scale_layout(self, scale):
        return self._to_output_layout(scale, self._full_specs()[0])

    def _scale_to_kernel_layout(self, scale):
        _, weight, out = self._full_specs()
        order = [c for c in out if c in weight]
        scale = jnp.reshape(
            scale, [n for n, c in zip(scale.shape, out, strict=True) if c in weight]
        )
        scale = jnp.transpose(scale, [order.index(c) for c in weight if c in order])
        sizes = iter(scale.shape)
        return jnp.reshape(scale, [next(sizes) if c in out else 1 for c in weight])

    def _trailing_contraction(self):
        """How many trailing input axes the equation contracts, when it is a plain
        `(*free, *bound) x (*bound, *new) -> (*free, *new)` product (the projections of
        attention layers, `...b,bc->...c`); None for any other layout."""
        inp, weight, out = self._full_specs()
        n = next((i for i, c in enumerate(weight) if c in out), len(weight))
        bound = weight[:n]
        if n == 0 or not inp.endswith(bound) or out != inp[: len(inp) - n] + weight[n:]:
            return None
        return n

    def _float_contract(self, x, kernel):
        n = self._trailing_contraction()
        if n is None:
            return jnp.einsum(self.equation, x, kernel)
        # The same product as the einsum, through the CPU-tuned matmul (shoal.ops.cpu_matmul).
        return cpu_matmul.contract(x, kernel, n)

    def _contract(self, x, kernel):
        if x.dtype == jnp.int8 and kernel.dtype == jnp.int8:
            return jnp.einsum(self.equation, x, kernel, preferred_element_type=jnp.int32)
        return self._float_contract(x, kernel)

    def _lora_contract(self, x):
        x = jnp.einsum(self.equation, x, self.lora_kernel_a.value)
        return jnp.matmul(x, self.lora_kernel_b.value)
