"""Quantization (Keras' `layer.quantize("int8" | "int4" | "float8")`) for Dense and
EinsumDense.

`quantize("int8")` replaces the float kernel with an int8 `kernel` and a float
`kernel_scale` (abs-max over the contracted axes: `kernel ≈ int8 / kernel_scale`), both
non-trainable, and switches the layer to the `"int8_from_<policy>"` dtype policy. A call
then quantizes its inputs too (abs-max per row over the contracted axes, unless the
config's `activation_quantizer` is None), contracts int8 x int8 into int32 and divides by
both scales.

`quantize("int4")` views the kernel as 2-D `(rows, columns)` (the contracted axes, then the
others, by a plain reshape as Keras), quantizes it to [-8, 7] and packs two values per byte
along the columns: `kernel` is int8 `(rows, ceil(columns / 2))`. Per-channel
(`block_size` None or -1): one abs-max `kernel_scale` per column. Sub-channel (the default,
`block_size=128`): groups of `block_size` rows, each with a step-size `kernel_scale` and an
int8 `kernel_zero` per column, and `g_idx` giving each row's group. The policy becomes
`"int4/<block_size>_from_<policy>"`. A call dequantizes the kernel and contracts in float
(Dense per-channel, as Keras: contracts the int values, then divides by the scales), the
inputs quantized only if the config has an `activation_quantizer`.

`quantize("float8")` keeps the float kernel (still trained) and adds, frozen to the
optimizer but trainable for autodiff as in Keras, a float32 scale and an amax history
(`amax_history_length` past abs-maxima) for each of the inputs, the kernel and the
outputs' gradient. A call rounds the inputs and the kernel to float8 e4m3 (`x / scale`,
clipped, rounded, times `scale`), contracts in the compute dtype, and in the backward pass
rounds the outputs' gradient to e5m2. In training, the custom gradient returns each new
scale (from the history's max) and new history (rolled, with this step's abs-max first) as
the "gradient" of those variables, and the optimizer writes them in place of an update
(`overwrite_with_gradient`, see `shoal.optimizers.base`). The policy becomes
`"float8_from_<policy>"` (`QuantizedFloat8DTypePolicy`).

A layer built under a quantized policy (a loaded model) creates those variables directly.
The gradient with respect to the inputs is that of the float contraction with the
dequantized kernel, as Keras' custom gradient; the quantized variables get none, so `fit`
trains the bias (and the LoRA factors) only. With LoRA on, the update is added beside the
quantized contraction; weights files hold the kernel with the update merged in and
quantized again, as in Keras.
"""

from __future__ import annotations

import math
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend.dtype_policy import (
    Int4DTypePolicy,
    QuantizedDTypePolicy,
    QuantizedFloat8DTypePolicy,
    check_quantization_mode,
)
from shoal.quantizers import (
    AbsMaxQuantizer,
    Float8QuantizationConfig,
    Int4QuantizationConfig,
    Int8QuantizationConfig,
    QuantizationConfig,
    abs_max_quantize_grouped_with_zero_point,
    pack_int4,
    serialize,
    unpack_int4,
)
from shoal.quantizers.float8 import (
    E4M3_MAX,
    E5M2_MAX,
    compute_float8_amax_history,
    compute_float8_scale,
    quantize_and_dequantize,
)
from shoal.quantizers.int4 import dequantize_with_sz_map, group_index

_DEFAULT_CONFIGS = {
    "int8": Int8QuantizationConfig,
    "int4": Int4QuantizationConfig,
    "float8": Float8QuantizationConfig,
}
# The float8 variables beside the kernel, in Keras' creation (and file) order.
FLOAT8_VARIABLES = (
    "inputs_scale",
    "inputs_amax_history",
    "kernel_scale",
    "kernel_amax_history",
    "outputs_grad_scale",
    "outputs_grad_amax_history",
)


def resolve_quantize_args(layer, mode, config):
    """`(mode, config)` checked as Keras' `quantize` wrapper does, before any change."""
    owner = f"{type(layer).__name__} '{layer.name}'"
    if isinstance(config, str):
        mode, config = config, None
    if config is not None:
        if not isinstance(config, QuantizationConfig):
            raise ValueError(
                f"{owner}: argument 'config' must be a QuantizationConfig (e.g. "
                f"Int8QuantizationConfig()); got {config!r}"
            )
        mode = mode if mode is not None else config.mode
    if mode is None:
        raise ValueError(
            f"{owner}: quantize needs argument 'mode' (e.g. 'int8') or 'config'; got neither"
        )
    check_quantization_mode(mode, owner=f"{owner}: quantize")
    if config is not None and config.mode != mode:
        raise ValueError(
            f"{owner}: argument 'mode' must match the config's mode {config.mode!r}; got {mode!r}"
        )
    if not layer.built:
        raise ValueError(
            f"{owner}: cannot quantize a layer that isn't yet built; build it (call it on "
            "data or `build(input_shape)`) first"
        )
    if layer.quantization_mode is not None:
        raise ValueError(
            f"{owner}: the layer is already quantized with "
            f"dtype_policy='{layer._policy.name}'; got mode={mode!r}"
        )
    if mode == "int8" and layer.compute_dtype == "float16":
        raise ValueError(
            f"{owner}: quantization mode {mode!r} doesn't work with compute_dtype='float16'; "
            "use a 'float32' or 'mixed_bfloat16' policy before calling quantize()"
        )
    return mode, (config if config is not None else _DEFAULT_CONFIGS[mode]())


def quantize_model(model, mode, config, filters, **kwargs) -> None:
    """`Model.quantize`: check once, then quantize each leaf layer that can be."""
    type_check = kwargs.pop("type_check", True)
    if kwargs:
        raise ValueError(
            f"{type(model).__name__}.quantize: unrecognized keyword argument(s) {sorted(kwargs)}"
        )
    if (
        filters is not None
        and not isinstance(filters, (str, list, tuple))
        and not callable(filters)
    ):
        raise ValueError(
            f"{type(model).__name__}.quantize: argument 'filters' must be a regex string, a "
            f"list of them or a callable; got {filters!r}"
        )
    mode, config = resolve_quantize_args(model, mode, config)
    for layer in _leaf_layers(model):
        if not _matches(layer, filters):
            continue
        try:
            layer.quantize(mode, type_check=type_check, config=config)
        except NotImplementedError as err:
            warnings.warn(str(err), stacklevel=3)


def _leaf_layers(layer, seen=None) -> list:
    seen = set() if seen is None else seen
    out = []
    for sub in layer._layers:
        if id(sub) in seen:
            continue
        seen.add(id(sub))
        out.extend(_leaf_layers(sub, seen) if sub._layers else [sub])
    return out


def _matches(layer, filters) -> bool:
    if filters is None:
        return True
    if callable(filters):
        return bool(filters(layer))
    patterns = [filters] if isinstance(filters, str) else list(filters)
    return any(re.search(p, layer.name) for p in patterns)


def int4_block_size(layer, config):
    """The int4 group size: the config's, else the policy's; None for per-channel."""
    if isinstance(config, Int4QuantizationConfig):
        size = config.block_size
    elif isinstance(layer.dtype_policy, Int4DTypePolicy):
        size = layer.dtype_policy.block_size
    else:
        size = None  # "int4_from_...": per-channel, as Keras before sub-channel int4
    return None if size is None or size == -1 else size


def quantized_policy(mode, block_size, source_name):
    """The policy `quantize(mode)` switches to (Keras' names)."""
    if mode == "int4":
        return Int4DTypePolicy(f"int4/{block_size or -1}", source_name)
    if mode == "float8":
        return QuantizedFloat8DTypePolicy(mode, source_name)
    return QuantizedDTypePolicy(mode, source_name)


def int4_quantize(flat, block_size, quantizer=None):
    """`(values, scale, zero)` of a 2-D kernel quantized to int4 along axis 0 (unpacked,
    in int8): in groups of `block_size` rows, else by `quantizer` (abs-max per column by
    default) with `zero` None."""
    if block_size:
        return abs_max_quantize_grouped_with_zero_point(flat, block_size, to_numpy=True)
    quantizer = quantizer or AbsMaxQuantizer(axis=0, value_range=(-8, 7))
    values, scale = quantizer(flat, to_numpy=True)
    return values, scale.reshape(scale.shape[1:]), None


def add_group_variables(layer, zero_name, zero_shape, length, block_size):
    """A grouped int4 weight's int8 zero points and Keras' `g_idx` (each of the `length`
    positions' group, float32), frozen."""
    zero = layer.add_weight(
        name=zero_name, shape=zero_shape, initializer="zeros", dtype="int8", trainable=False
    )
    g_idx = layer.add_weight(
        name="g_idx", shape=(length,), initializer="zeros", dtype="float32", trainable=False
    )
    g_idx.assign(group_index(length, block_size))
    return zero, g_idx


def float8_qdq_inputs(compute, training):
    """`qdq(x, scale, amax_history)`: `x` rounded to e4m3 with `scale`. Its gradient passes
    the upstream through to `x` and, in training, gives the new scale (from the history's
    max) and the new history (with `max(|x|)`) as the "gradients" of the two."""

    @jax.custom_vjp
    def qdq(x, scale, history):
        return quantize_and_dequantize(x, scale, "float8_e4m3fn", compute)

    def fwd(x, scale, history):
        out = qdq(x, scale, history)
        if training:
            amax = jnp.max(history, axis=0)
            scale, history = (
                compute_float8_scale(amax, scale, jnp.float32(E4M3_MAX)),
                compute_float8_amax_history(x, history),
            )
        # Not training: the values themselves, which overwriting leaves unchanged.
        return out, (jnp.zeros((), x.dtype), scale, history)

    def bwd(residuals, upstream):
        like, scale, history = residuals
        return upstream.astype(like.dtype), scale, history

    qdq.defvjp(fwd, bwd)
    return qdq


def float8_qdq_outputs_grad(compute):
    """`qdq(y, scale, amax_history)`: `y` unchanged; its gradient rounded to e5m2 with
    `scale`, and the new scale and history as the "gradients" of the two."""

    @jax.custom_vjp
    def qdq(y, scale, history):
        return y

    def fwd(y, scale, history):
        return y, (scale, history)

    def bwd(residuals, upstream):
        scale, history = residuals
        new_scale = compute_float8_scale(jnp.max(history, axis=0), scale, jnp.float32(E5M2_MAX))
        rounded = quantize_and_dequantize(upstream, scale, "float8_e5m2", compute)
        return rounded, new_scale, compute_float8_amax_history(upstream, history)

    qdq.defvjp(fwd, bwd)
    return qdq


def not_quantizable_error(layer):
    return NotImplementedError(f"Layer {type(layer).__name__} does not have a `quantize` method "
                               "implemented.")  # fmt: skip


def with_float_gradient(forward, float_forward):
    """`forward(x, *consts)` whose gradient in `x` is `float_forward`'s (and none in the
    quantized `consts`)."""

    @jax.custom_vjp
    def fn(x, *consts):
        return forward(x, *consts)

    def fwd(x, *consts):
        return forward(x, *consts), (x, consts)

    def bwd(residuals, upstream):
        x, consts = residuals
        _, pullback = jax.vjp(lambda x_: float_forward(x_, *consts), x)
        return (pullback(upstream)[0],) + (None,) * len(consts)

    fn.defvjp(fwd, bwd)
    return fn


class QuantizedKernel:
    """Mixin (before `LoRAKernel`): `quantize("int8" | "int4" | "float8")` and the quantized call for
    one kernel.

    The layer provides the layout: `_kernel_reduced_axes()` (the contracted kernel axes),
    `_scale_from_kernel_layout(scale)` / `_scale_to_kernel_layout(scale)` (between the
    quantizer's keepdims scale and the stored int8 `kernel_scale`), `_inputs_reduced_axes()`,
    `_inputs_scale_layout(scale)`, `_contract(x, kernel)` and `_lora_contract(x)`; int4
    views the kernel as `(rows, columns)` from `_kernel_reduced_axes()` alone.
    """

    quantization_config = None
    inputs_quantizer = None
    _int4_block_size = None  # None: per-channel
    _kernel_shape = None  # the float kernel's shape (int4 stores it packed)
    # Per-channel int4: contract the int values and scale the outputs (Keras' Dense), rather
    # than dequantize the kernel first (Keras' EinsumDense, whose scales need not be per output).
    _int4_contracts_values = False

    def quantize(self, mode=None, type_check=True, config=None):
        """Replace the float kernel with its quantized variables (Keras' int8 / int4)."""
        mode, config = resolve_quantize_args(self, mode, config)
        if type_check and type(self) is not self._quantizable_class():
            raise not_quantizable_error(self)
        if mode == "float8":
            if self.lora_enabled:
                raise NotImplementedError(
                    f"{type(self).__name__} '{self.name}': float8 quantization doesn't "
                    "support LoRA (as Keras); got lora_rank="
                    f"{getattr(self, 'lora_rank', None)!r}"
                )
            self.quantization_config = config
            self._build_quantized_kernel(tuple(self._kernel.shape), mode)
            self._set_policy(quantized_policy(mode, None, self._policy.name))
            return
        old = self._kernel
        if mode == "int8":
            values = self._int8_values(old.value, config.weight_quantizer)
        else:
            block_size = int4_block_size(self, config)
            values = self._int4_values(old.value, block_size, config.weight_quantizer)
        self._trainable_variables = [v for v in self._trainable_variables if v is not old]
        self._non_trainable_variables = [v for v in self._non_trainable_variables if v is not old]
        self.quantization_config = config
        self._build_quantized_kernel(tuple(old.shape), mode)
        for variable, value in zip(self._quantized_variables(), values, strict=True):
            variable.assign(value)
        self._set_policy(quantized_policy(mode, self._int4_block_size, self._policy.name))

    def _int8_values(self, kernel, quantizer=None):
        quantizer = quantizer or AbsMaxQuantizer(axis=self._kernel_reduced_axes())
        kernel, scale = quantizer(kernel, to_numpy=True)
        return [kernel, self._scale_from_kernel_layout(scale)]

    def _int4_values(self, kernel, block_size, quantizer=None):
        flat = np.reshape(np.asarray(kernel), self._int4_flat_shape(kernel.shape))
        values, scale, zero = int4_quantize(flat, block_size, quantizer)
        grouped = [] if zero is None else [zero, group_index(flat.shape[0], block_size)]
        return [pack_int4(values, axis=-1)[0], scale] + grouped

    def _int4_flat_shape(self, kernel_shape):
        """(rows, columns): the contracted axes' sizes multiplied, then the others'."""
        reduced = self._kernel_reduced_axes()
        rows = math.prod(n for i, n in enumerate(kernel_shape) if i in reduced)
        return rows, math.prod(kernel_shape) // rows

    def _quantized_variables(self) -> list:
        """The quantized kernel's variables, in Keras' file order (bias aside)."""
        if self.quantization_mode == "float8":
            return [self._kernel] + [getattr(self, name) for name in FLOAT8_VARIABLES]
        extra = [self.kernel_zero, self.g_idx] if self._int4_block_size else []
        return [self._kernel, self.kernel_scale] + extra

    def _own_weights(self):
        # Keras' order: the variables created trainable (bias, LoRA factors), then the
        # quantized ones (created frozen), however the layer came to be quantized.
        own = super()._own_weights()
        if self.quantization_mode in (None, "float8"):  # float8: creation order, as Keras
            return own
        quantized = self._quantized_variables()
        return [v for v in own if all(v is not q for q in quantized)] + quantized

    def _build_quantized_kernel(self, kernel_shape, mode=None) -> None:
        """The quantized variables (a quantized policy's build, or `quantize`); float8's
        beside the float kernel, which the layer builds."""
        mode = mode or self.quantization_mode
        config = self.quantization_config
        if mode == "float8":
            self._build_float8_variables()
            return
        self._kernel_shape = tuple(kernel_shape)
        if mode == "int8":
            self.inputs_quantizer = QuantizationConfig.activation_quantizer_or_default(
                config, AbsMaxQuantizer()
            )
            kernel_shape, scale_shape = kernel_shape, self._kernel_scale_shape(kernel_shape)
        else:
            self.inputs_quantizer = QuantizationConfig.activation_quantizer_or_default(config, None)
            block_size = self._int4_block_size = int4_block_size(self, config)
            rows, columns = self._int4_flat_shape(kernel_shape)
            kernel_shape = (rows, (columns + 1) // 2)
            scale_shape = (math.ceil(rows / block_size), columns) if block_size else (columns,)
        self._kernel = self.add_weight(
            name="kernel", shape=kernel_shape, initializer="zeros", dtype="int8", trainable=False
        )
        self.kernel_scale = self.add_weight(
            name="kernel_scale", shape=scale_shape, initializer="ones", trainable=False
        )
        if mode == "int4" and block_size:
            self.kernel_zero, self.g_idx = add_group_variables(
                self, "kernel_zero", scale_shape, rows, block_size
            )

    def _build_float8_variables(self) -> None:
        # The policy's history length (the default while `quantize` switches policies).
        length = getattr(
            self._policy,
            "amax_history_length",
            QuantizedFloat8DTypePolicy.default_amax_history_length,
        )
        for name in FLOAT8_VARIABLES:
            scale = name.endswith("_scale")
            variable = self.add_weight(
                name=name,
                shape=() if scale else (length,),
                initializer="ones" if scale else "zeros",
                dtype="float32",
                trainable=True,  # differentiated: the custom gradient carries new values
                autocast=False,
                overwrite_with_gradient=True,
            )
            setattr(self, name, variable)

    @property
    def _builds_float_kernel(self) -> bool:
        """Whether `build` creates the float kernel (unquantized, or float8)."""
        return self.quantization_mode in (None, "float8")

    def _quantization_config_entry(self) -> dict:
        """Keras writes `quantization_config` into every config (None when unquantized)."""
        return {"quantization_config": serialize(self.quantization_config)}

    # -- forward -------------------------------------------------------------------------
    def _quantized_call(self, inputs, training=None):
        if self.quantization_mode == "float8":
            return self._float8_call(inputs, training)
        if self.quantization_mode == "int8":
            x = self._int8_contraction(inputs, self._kernel.value)
        elif self._int4_block_size is None and self._int4_contracts_values:
            # Keras' Dense: the int4 values contracted, then divided by the scales (as int8).
            x = self._int8_contraction(inputs, self._int4_unpacked())
        else:
            x = self._int4_contraction(inputs)
        if self.lora_enabled:
            x = x + (self.lora_alpha / self.lora_rank) * self._lora_contract(inputs)
            x = x.astype(self.compute_dtype)
        if self.bias is not None:
            x = x + self.bias.value
        return self.activation(x) if self.activation is not None else x

    def _float8_call(self, inputs, training):
        if self.lora_enabled:
            raise NotImplementedError(
                f"{type(self).__name__} '{self.name}': the float8 call doesn't support LoRA "
                f"(as Keras); got lora_rank={getattr(self, 'lora_rank', None)!r}"
            )
        compute = self.compute_dtype
        qdq = float8_qdq_inputs(compute, bool(training))
        x = qdq(inputs, self.inputs_scale.value, self.inputs_amax_history.value)
        kernel = qdq(self._kernel.value, self.kernel_scale.value, self.kernel_amax_history.value)
        x = float8_qdq_outputs_grad(compute)(
            self._contract(x, kernel),
            self.outputs_grad_scale.value,
            self.outputs_grad_amax_history.value,
        )
        if self.bias is not None:
            bias = self.bias.value
            if compute == "float32":
                # Keras rounds a float32 bias through bfloat16 here (for XLA's bias fusion).
                bias = bias.astype(jnp.bfloat16).astype(bias.dtype)
            x = x + bias
        return self.activation(x) if self.activation is not None else x

    def _int8_contraction(self, inputs, kernel):
        compute = self.compute_dtype
        quantizer = self.inputs_quantizer

        def forward(x, kernel, scale):
            if quantizer is not None:
                x, inputs_scale = quantizer(x, axis=self._inputs_reduced_axes())
                scale = scale * self._inputs_scale_layout(inputs_scale)
            return self._contract(x, kernel).astype(compute) / scale

        def float_forward(x, kernel, scale):
            return self._contract(x, kernel.astype(compute) / self._scale_to_kernel_layout(scale))

        fn = with_float_gradient(forward, float_forward)
        return fn(inputs, kernel, self.kernel_scale.value)

    def _int4_contraction(self, inputs):
        compute = self.compute_dtype
        quantizer = self.inputs_quantizer

        def forward(x, kernel):
            if quantizer is None:
                return self._contract(x, kernel)
            x, inputs_scale = quantizer(x, axis=self._inputs_reduced_axes())
            return self._contract(x, kernel).astype(compute) / self._inputs_scale_layout(
                inputs_scale
            )

        fn = with_float_gradient(forward, self._contract)
        return fn(inputs, self._dequantized_kernel())

    # -- kernel views and weights files ---------------------------------------------------
    def _int4_unpacked(self):
        """The int4 kernel's values (int8, in [-8, 7]) as a `(rows, columns)` matrix."""
        columns = self._int4_flat_shape(self._kernel_shape)[1]
        return unpack_int4(self._kernel.value, columns, axis=-1)

    def _dequantized_kernel(self):
        compute = self.compute_dtype
        if self.quantization_mode == "int8":
            kernel = self._kernel.value.astype(compute)
            return kernel / self._scale_to_kernel_layout(self.kernel_scale.value)
        # The scale in the compute dtype: Keras autocasts float variables inside a call.
        q, scale = self._int4_unpacked(), self.kernel_scale.value.astype(compute)
        if self._int4_block_size:
            zero, g_idx = self.kernel_zero.value, self.g_idx.value
            kernel = dequantize_with_sz_map(q, scale, zero, g_idx, group_axis=0).astype(compute)
        else:
            kernel = q.astype(compute) / scale
        return jnp.reshape(kernel, self._kernel_shape)

    def _lora_kernel_shape(self):
        if self.quantization_mode == "int4":
            return self._kernel_shape
        return super()._lora_kernel_shape()

    @property
    def kernel(self):
        """As Keras: int8 the stored values, int4 the unpacked ones (in the float kernel's
        shape); with LoRA on, plus the update, in the compute dtype."""
        mode = self.quantization_mode
        if mode in (None, "float8") or (mode == "int8" and not self.lora_enabled):
            return super().kernel
        if mode == "int8":
            kernel = self._kernel.value
        else:
            kernel = jnp.reshape(self._int4_unpacked(), self._kernel_shape)
        if not self.lora_enabled:
            return kernel
        return (kernel + self._lora_delta()).astype(self.compute_dtype)

    def _kernel_value(self):
        if self.quantization_mode not in (None, "float8"):
            return self._dequantized_kernel()
        return super()._kernel_value()

    def _quantized_saved(self) -> list:
        """`_quantized_variables()` for a weights file: with LoRA, the update merged in and
        quantized again (with the default quantizer, as Keras)."""
        if not self.lora_enabled or self.quantization_mode == "float8":
            return self._quantized_variables()
        merged = self._dequantized_kernel() + self._lora_delta()
        if self.quantization_mode == "int8":
            return self._int8_values(merged)
        return self._int4_values(merged, self._int4_block_size)

    def _file_order(self, quantized) -> list:
        """Keras' order: kernel, bias, kernel_scale (, kernel_zero, g_idx)."""
        bias = [self.bias] if self.bias is not None else []
        return quantized[:1] + bias + quantized[1:]

    def save_own_variables(self, store):
        if self.quantization_mode is None:
            return super().save_own_variables(store)
        for i, value in enumerate(self._file_order(self._quantized_saved())):
            store[str(i)] = value

    def load_own_variables(self, store):
        if self.quantization_mode is None:
            return super().load_own_variables(store)
        self._load_variables(store, self._file_order(self._quantized_variables()))
        if self.lora_enabled:
            self._reset_lora()
